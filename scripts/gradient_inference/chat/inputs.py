"""What the user gives the chat command, up to the request it makes: the prompt (a flag, stdin,
or both), earlier turns from a messages file or the ledger's conversation (checked, tool calls and
tool results included), images with a warning when the model is known not to see them, and the
request the flags ask for.

Belongs here: reading and checking chat input, before anything is sent. Does not belong here: the
shapes of bodies (chat.bodies), the budget (models.budget) or the flags (scripts/gradient_chat.py).
"""
from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections import namedtuple

from gradient_inference.chat.bodies import chat_body, responses_body
from gradient_inference.chat.messages import messages_body
from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.jsondata import loads
from gradient_inference.core.inputs import STDIN_WAIT, read_local_file, read_stdin, stdin_has_data, read_text_input, sniff_image, \
    stdin_state
from gradient_inference.core.clock import parse_time
from gradient_inference.core.output import log, warn
from gradient_inference.ledger.reports import conversation, first_words
from gradient_inference.models.known import lacks_vision, own_vendor, vision_models
from gradient_inference.models.prices import describe_age, offline_prices

MAX_IMAGE_BYTES = 20 * 1024 * 1024
ROLES = ("system", "developer", "user", "assistant", "tool")
# What the flags ask of a request, built by the chat command's run module from its flags.
ChatRequest = namedtuple("ChatRequest", "model system image responses_api messages_api cache temperature top_p seed stop "
                                        "reasoning_effort reasoning_tokens cache_retention max_tokens tool tool_choice "
                                        "web_search web_search_max mcp mcp_allow mcp_auth_env")


def check_tool_turn(message: dict, where: str) -> None:
    """An assistant turn's tool_calls, or a tool turn's result: the shapes an agent's loop sends back."""
    if message["role"] == "tool":
        if not isinstance(message.get("tool_call_id"), str) or not isinstance(message.get("content"), str):
            raise UsageError(f"{where}: a tool turn needs a tool_call_id and a string content")
        return
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        raise UsageError(f"{where}: tool_calls must be a non-empty list")
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not (isinstance(function, dict) and isinstance(call.get("id"), str) and isinstance(function.get("name"), str)
                and isinstance(function.get("arguments"), str)):
            raise UsageError(f"{where}: each tool call needs an id and a function with a name and "
                             "arguments as a JSON string")


def validate_messages(data) -> list:
    """Check a messages file: a JSON array of {role, content}, with tool calls and tool results
    where an agent runs its own loop; errors name the bad index."""
    if not isinstance(data, list):
        raise UsageError("the messages file must hold a JSON array of {role, content} objects")
    for index, message in enumerate(data):
        where = f"messages file, entry {index}"
        if not isinstance(message, dict):
            raise UsageError(f"{where}: not an object")
        if message.get("role") not in ROLES:
            raise UsageError(f"{where}: role must be one of {', '.join(ROLES)}, not {message.get('role')!r}")
        if message["role"] == "tool" or "tool_calls" in message:
            check_tool_turn(message, where)
            continue
        content = message.get("content")
        if not (isinstance(content, str) or (isinstance(content, list) and content)):
            raise UsageError(f"{where}: content must be a string or a non-empty list of parts")
        if isinstance(content, list) and not all(isinstance(part, dict) and isinstance(part.get("type"), str)
                                                 for part in content):
            raise UsageError(f'{where}: each content part must be an object with a type, such as '
                             '{"type": "text", "text": "..."}')
    return data


def image_url(spec: str) -> str:
    """A URL passes through; a local file becomes a base64 data: URL with its real MIME type."""
    if re.match(r"(?i)(https?|data):", spec):
        return spec
    data = read_local_file(spec, MAX_IMAGE_BYTES, "image")
    kind = sniff_image(data[:16])
    if kind is None:
        raise GradientError("io", f"{spec} is not an image (PNG, JPEG, WebP or GIF)")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def check_stop(stop: list) -> None:
    if len(stop) > 4 or any(not text for text in stop):
        raise UsageError("--stop takes up to 4 texts, none empty")


def gather_inputs(prompt: str | None, messages: str | None, no_stdin: bool, stdin, answering: bool = False) -> tuple:
    """The prompt and earlier turns from --prompt, --messages and stdin; with `answering` (tool
    results follow the turns) the prompt may be left out."""
    if prompt == "-" and messages == "-":
        raise UsageError("--prompt - and --messages - cannot both read stdin")
    stdin_used = "-" in (prompt, messages)
    history = []
    if messages:
        raw = read_text_input(messages, stdin, "messages file")
        try:
            history = validate_messages(loads(raw))
        except ValueError as exc:
            raise UsageError(f"the messages file is not JSON: {exc}") from None
    if prompt == "-":
        prompt = read_stdin(stdin)
    elif not stdin_used and not no_stdin:
        state = stdin_state(stdin, STDIN_WAIT)
        piped = read_stdin(stdin) if state == "ready" else ""
        if piped.strip():
            prompt = f"{piped.rstrip()}\n\n{prompt}" if prompt else piped
        elif state == "silent" and prompt is not None:
            warn(f"stdin sent nothing within {STDIN_WAIT:g} s and was ignored (--no-stdin skips the wait)")
    elif no_stdin and not stdin_used and stdin_has_data(stdin):
        warn("stdin holds data, which --no-stdin ignores: only the prompt is sent")
    if prompt is None and not history and not answering:
        raise UsageError("give --prompt TEXT, pipe text on stdin, or use --messages FILE")
    if prompt is not None and not prompt.strip():
        raise UsageError("the prompt is empty")
    return prompt, history


def text_chars(prompt: str | None, system: str | None, history: list) -> int:
    """How much text a chat call sends, for its worst case."""
    return len(prompt or "") + len(system or "") + sum(len(json.dumps(m.get("content"))) for m in history)


# ---------------------------------------------------------------- images

def warn_without_vision(model: str) -> None:
    """--image sent to a model known to take text only: say so before paying for an invented
    description, and name models that see images (from cached prices, never a fetch)."""
    prices = offline_prices()
    rows = prices.models if prices else []
    if lacks_vision(model, rows):
        warn(f"{model} is known to take text only: it will not see the image; models that do: "
             + ", ".join(vision_models(rows)[:6]))


# ---------------------------------------------------------------- conversations

def continue_from(latest: bool, conversation_id: str | None, model: str | None, system: str | None) -> tuple:
    """(conversation id, earlier turns, model, system prompt, tools offered last) for -c (`latest`)
    or --conversation: the turns come from the usage ledger (an answer's tool calls included), the
    model and system prompt carry over unless given again. Without either, a new conversation id."""
    if not (latest or conversation_id):
        return uuid.uuid4().hex, [], model, system, []
    calls = conversation(conversation_id)
    last = calls[-1]
    age = time.time() - (parse_time(last["ts"]) or time.time())
    log(f"continuing conversation {last['conversation_id']} (\"{first_words(calls[0]['messages'], 40) or '-'}\", "
        f"{len(calls)} turn{'s' if len(calls) != 1 else ''}, last active {describe_age(age).replace(' old', '')} ago)")
    try:
        stored = loads(last["tool_turn"]) if last.get("tool_turn") else {}
        reply = {"role": "assistant", "content": last["answer"] or ""}
        if not isinstance(stored, dict):
            raise ValueError("its tool calls are not an object")
        if stored.get("tool_calls"):
            reply = {"role": "assistant", "content": last["answer"] or None, "tool_calls": stored["tool_calls"]}
            check_tool_turn(reply, "its last answer")
        turns = validate_messages(loads(last["messages"])) + [reply]
        tools = stored.get("tools") if isinstance(stored.get("tools"), list) else []
    except (ValueError, UsageError) as problem:
        raise GradientError("config", f"the conversation {last['conversation_id']} in the usage ledger is damaged: "
                            f"its turns are not what was written ({problem})",
                            hint="start a new one without -c, or continue another with --conversation ID") from None
    earlier_system = next((t["content"] for t in turns if t.get("role") == "system"), None)
    return (last["conversation_id"], [t for t in turns if t.get("role") != "system"],
            model or last["requested_model"] or last["model"], system or earlier_system, tools)


# ---------------------------------------------------------------- the request the flags ask for

def api_of(request: ChatRequest) -> str:
    return "messages" if request.messages_api else "responses" if request.responses_api else "chat"


def check_messages_api(request: ChatRequest, schema_mode: str | None) -> None:
    """What the Messages API cannot take, refused before anything is sent."""
    problems = [flag for flag, given in (("--seed", request.seed is not None),
                                         ("--web-search", request.web_search or request.web_search_max),
                                         ("--mcp", request.mcp), ("--schema-mode response_format",
                                                                  schema_mode == "response_format"))
                if given]
    if problems:
        raise UsageError(f"{', '.join(problems)} cannot go to the Messages API; drop --messages-api to use "
                         + ("it" if len(problems) == 1 else "them"))
    if request.temperature is not None and request.temperature > 1:
        raise UsageError("the Messages API takes --temperature from 0 to 1")


def check_fields(request: ChatRequest) -> None:
    """The fields only some models and APIs take, refused before anything is sent where they do not
    apply: reasoning.max_tokens goes to Anthropic's models on chat completions, and
    prompt_cache_retention to OpenAI's own models (do-platform-2026-12.md, request fields)."""
    api = api_of(request)
    if request.reasoning_tokens is not None:
        if api != "chat" or own_vendor(request.model) != "anthropic":
            raise UsageError("--reasoning-tokens (reasoning.max_tokens) goes to anthropic-* models on chat completions"
                             + ("; drop --messages-api or --responses-api" if api != "chat" else
                                f", not to {request.model}"))
        if request.max_tokens is not None and request.reasoning_tokens >= request.max_tokens:
            raise UsageError(f"--reasoning-tokens ({request.reasoning_tokens:,}) must be less than --max-tokens "
                             f"({request.max_tokens:,}): the reasoning is part of the answer")
    if request.cache_retention is not None and (api == "messages" or own_vendor(request.model) != "openai"):
        raise UsageError("--cache-retention (prompt_cache_retention) goes to OpenAI's own models (openai-gpt-5...) on "
                         "chat completions or the Responses API" + (f", not to {request.model}"
                                                                   if api != "messages" else "; drop --messages-api"))


def reasoning_fields(request: ChatRequest) -> dict:
    """reasoning: {effort, max_tokens} when --reasoning-tokens is given, else reasoning_effort alone."""
    if request.reasoning_tokens is None:
        return {"reasoning_effort": request.reasoning_effort}
    return {"reasoning": dict({"effort": request.reasoning_effort} if request.reasoning_effort else {},
                              max_tokens=request.reasoning_tokens)}


def request_for(request: ChatRequest, prompt, history: list, streaming: bool, max_tokens_field: str,
                extra: dict | None = None) -> tuple:
    """(API path, request body) for the chosen API."""
    images = [image_url(spec) for spec in request.image]
    stop = request.stop
    options = dict(temperature=request.temperature, max_tokens=request.max_tokens, stream=streaming,
                   cache=request.cache, top_p=request.top_p, stop=(stop[0] if len(stop) == 1 else stop) or None,
                   **(extra or {}))
    if request.messages_api:
        return "messages", messages_body(request.model, request.system, history, prompt, images,
                                         max_tokens=request.max_tokens, temperature=request.temperature,
                                         stream=streaming, cache=request.cache, top_p=request.top_p, stop=stop or None,
                                         tools=(extra or {}).get("tools"), tool_choice=(extra or {}).get("tool_choice"),
                                         reasoning_effort=request.reasoning_effort)
    if request.responses_api:
        if request.seed is not None:
            raise UsageError("--seed is not part of the Responses API; drop --responses-api to use it")
        if any(m["role"] == "tool" or "tool_calls" in m for m in history):
            raise UsageError("tool turns in --messages go to chat completions; drop --responses-api")
        effort = {"effort": request.reasoning_effort} if request.reasoning_effort else None
        return "responses", responses_body(request.model, request.system, history, prompt, images, reasoning=effort,
                                           prompt_cache_retention=request.cache_retention, **options)
    return "chat/completions", chat_body(request.model, request.system, history, prompt, images,
                                         max_tokens_field=max_tokens_field, seed=request.seed,
                                         prompt_cache_retention=request.cache_retention, **reasoning_fields(request),
                                         **options)
