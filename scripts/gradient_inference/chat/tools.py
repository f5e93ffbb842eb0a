"""Tools a model may use: function tools the caller runs (definitions from files, tool_choice,
the calls an answer makes, shown with their arguments parsed) and DigitalOcean's server-side
tools (web search, MCP servers), with what they add to the cost.

Belongs here: tool definitions and tool calls. Does not belong here: sending requests or reading
answers (chat.answers), the forced tool of --schema (chat.schema).
"""
from __future__ import annotations

import os
import sys

from gradient_inference.core.errors import UsageError
from gradient_inference.core.inputs import read_text_input
from gradient_inference.core.jsondata import loads
from gradient_inference.core.output import warn
from gradient_inference.core.providers import also_mask

WEB_SEARCH_USD_PER_1000 = 10.0  # DigitalOcean's price for web searches (reference, June 2026)


def as_api(function: dict, api: str) -> dict:
    """A function definition as the chosen API takes it."""
    return {"type": "function", "function": function} if api == "chat" else dict(function, type="function")


def functions_of(tools: list) -> list:
    """Function definitions from tools in either API's form (as a conversation stores them)."""
    return [{k: v for k, v in t.get("function", t).items() if k != "type"} for t in tools
            if isinstance(t, dict) and isinstance(t.get("function", t), dict)
            and isinstance(t.get("function", t).get("name"), str)]


def load_tools(paths: list, api: str) -> list:
    """--tool files: each one OpenAI function definition or a list of them, as the API takes them."""
    tools = []
    for path in paths:
        try:
            found = loads(read_text_input(path, sys.stdin, "tool file"))
        except ValueError as exc:
            raise UsageError(f"the tool file {path} is not JSON: {exc}") from None
        for item in found if isinstance(found, list) else [found]:
            function = item.get("function", item) if isinstance(item, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise UsageError(f"the tool file {path} holds something that is not a function definition")
            tools.append(as_api(function, api))
    return tools


def tool_extra(paths: list, choice: str | None, api: str, earlier: list | None = None) -> dict:
    """tools and tool_choice for --tool files and --tool-choice; without --tool, the tools the
    conversation offered before (`earlier`), so that a tool loop keeps its tools."""
    tools = load_tools(paths, api) if paths else [as_api(f, api) for f in functions_of(earlier or [])]
    names = [t.get("function", t)["name"] for t in tools]
    if choice and not tools:
        raise UsageError("--tool-choice needs --tool")
    if choice and choice not in ("auto", "none", "required"):
        if choice not in names:
            raise UsageError(f"--tool-choice {choice!r} names no tool given: {', '.join(names)}")
        choice = {"type": "function", "function": {"name": choice}}
    return {"tools": tools or None, "tool_choice": choice}


def calls_out(answer) -> list:
    """Tool calls with their arguments parsed; arguments that are not JSON are said to be so."""
    found = []
    for call in answer.tool_calls:
        try:
            arguments, problem = loads(call["arguments"] or "{}"), None
        except ValueError:
            arguments, problem = None, "the model's arguments are not valid JSON"
        found.append(dict({"id": call["id"], "name": call["name"], "arguments": arguments},
                          **({"error": problem, "arguments_text": call["arguments"]} if problem else {})))
    return found


def assistant_turn(answer) -> dict:
    """The exact message to append to a conversation for this answer: its text, and its tool calls
    in chat completions' form (arguments as the JSON string the model sent)."""
    turn = {"role": "assistant", "content": answer.content or None}
    if answer.tool_calls:
        turn["tool_calls"] = [{"id": call["id"], "type": "function",
                               "function": {"name": call["name"], "arguments": call["arguments"] or "{}"}}
                              for call in answer.tool_calls]
    elif turn["content"] is None:
        turn["content"] = ""
    return turn


def tool_results(specs: list, stdin) -> list:
    """--tool-result CALL_ID=TEXT (or CALL_ID=@FILE) as (call id, text) pairs, in the order given."""
    results = []
    for spec in specs:
        call_id, equals, text = spec.partition("=")
        if not equals or not call_id.strip():
            raise UsageError(f"--tool-result {spec[:40]!r}: give CALL_ID=TEXT or CALL_ID=@FILE")
        if text.startswith("@"):
            text = read_text_input(text[1:], stdin, "tool result file")
        results.append((call_id.strip(), text))
    return results


def unanswered_calls(history: list) -> list:
    """The ids of the tool calls of the conversation's last turn when nothing answers them yet
    (the API refuses a new turn after them, after a round trip)."""
    last = history[-1] if history else {}
    return [c.get("id") for c in last.get("tool_calls") or []] if last.get("role") == "assistant" else []


def answer_calls(history: list, results: list) -> list:
    """The tool turns that answer the calls of the conversation's last turn: every call answered
    once, no result for a call it did not make (the API refuses either, after a round trip)."""
    calls = unanswered_calls(history)
    if not calls:
        raise UsageError("--tool-result answers tool calls, but the conversation's last answer made none: "
                         "continue one whose answer called a tool (-c, --conversation ID or --messages)")
    given = [call_id for call_id, _ in results]
    unknown = [c for c in given if c not in calls]
    repeated = sorted({c for c in given if given.count(c) > 1})
    missing = [c for c in calls if c not in given]
    if unknown or repeated or missing:
        problems = ([f"no call {', '.join(unknown)}"] if unknown else []) + \
                   ([f"{', '.join(repeated)} given twice"] if repeated else []) + \
                   ([f"no result for {', '.join(missing)}"] if missing else [])
        raise UsageError(f"--tool-result: {'; '.join(problems)} (the last answer called {', '.join(calls)})")
    return [{"role": "tool", "tool_call_id": call_id, "content": text} for call_id, text in results]


# ---------------------------------------------------------------- DigitalOcean's server-side tools


def server_tools(request) -> list:
    """--web-search and --mcp as DigitalOcean's tools (from a chat.inputs.ChatRequest). An MCP
    server's authorization comes only from the variable --mcp-auth-env names (never the command
    line, where shell history and `ps` would keep it), and is masked in all output like a key."""
    tools = []
    if request.web_search or request.web_search_max:
        tools.append({"type": "web_search", "max_uses": request.web_search_max or 3})
    authorization = None
    if request.mcp_auth_env:
        authorization = os.environ.get(request.mcp_auth_env, "").strip()
        if not authorization:
            raise UsageError(f"--mcp-auth-env {request.mcp_auth_env}: that variable is empty or unset")
        also_mask(request.mcp_auth_env)
    for spec in request.mcp:
        label, _, url = spec.partition("=")
        if not label or not url.startswith(("https://", "http://")):
            raise UsageError(f"--mcp {spec!r}: give LABEL=URL, such as docs=https://mcp.example.com/sse")
        tool = {"type": "mcp", "server_label": label, "server_url": url}
        if request.mcp_allow:
            tool["allowed_tools"] = list(request.mcp_allow)
        if authorization:
            tool["authorization"] = authorization
        tools.append(tool)
    if (request.mcp_allow or request.mcp_auth_env) and not request.mcp:
        raise UsageError("--mcp-allow and --mcp-auth-env go with --mcp LABEL=URL")
    return tools


def web_searches(usage) -> int | None:
    """How many web searches an answer says it ran (Anthropic's and OpenAI's names), or None."""
    if not isinstance(usage, dict):
        return None
    for holder in (usage.get("server_tool_use"), usage):
        count = holder.get("web_search_requests") if isinstance(holder, dict) else None
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return count
    return None


def search_cost(cost, raw_usage, searched: bool):
    """The call's cost with its web searches added; with searches of unknown number, the cost
    of the tokens only and a word on stderr."""
    if not searched:
        return cost
    count = web_searches(raw_usage)
    if count is None:
        warn("the answer does not say how many web searches ran: cost_usd leaves them out "
             f"(${WEB_SEARCH_USD_PER_1000:g} per 1,000)")
        return cost
    return None if cost is None else round(cost + count * WEB_SEARCH_USD_PER_1000 / 1000, 8)
