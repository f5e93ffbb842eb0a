#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Chat with a model on DigitalOcean's Serverless Inference API: chat completions or the Responses API.

examples:
  gradient_chat.py --prompt "Explain serverless inference in one paragraph."
  gradient_chat.py --model llama3.3-70b-instruct --system "Be terse." --prompt "Haiku on clouds"
  git diff | gradient_chat.py --prompt "Review this diff"        stdin goes before the prompt
  gradient_chat.py --prompt - < question.txt                      the prompt from stdin
  gradient_chat.py --messages history.json --prompt "And then?"   earlier turns from a file
  gradient_chat.py --model openai-gpt-5-mini --image chart.png --prompt "What does this chart show?"
  gradient_chat.py --responses-api --prompt "Explain prompt caching" --usage
  gradient_chat.py --json --prompt "2+2?" | jq -r .content
"""
from __future__ import annotations

import argparse
import sys
import time

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

DEFAULT_MODEL = "openai-gpt-oss-120b"


# ---------------------------------------------------------------- rendering

def envelope(answer, cost, request_id, duration_ms: int) -> dict:
    from gradient_wire import normalize_usage

    return {"model": answer.model, "api": answer.api, "content": answer.content,
            "reasoning": answer.reasoning or None, "finish_reason": answer.finish_reason,
            "usage": answer.usage or normalize_usage(None), "cost_usd": cost, "id": answer.id,
            "request_id": request_id, "duration_ms": duration_ms}


# ---------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("-p", "--prompt", metavar="TEXT",
                        help="the user's message; '-' reads it from stdin. Piped stdin with a prompt "
                             "goes before it, separated by a blank line")
    parser.add_argument("-m", "--model",
                        help=f"model id (env GRADIENT_MODEL; default {DEFAULT_MODEL}); list them with gradient_models.py")
    parser.add_argument("-c", "--continue", dest="continue_", action="store_true",
                        help="continue the latest conversation of the usage ledger (its model and system prompt "
                             "too, unless given again)")
    parser.add_argument("--conversation", metavar="ID", help="continue this conversation of the usage ledger")
    parser.add_argument("-s", "--system", metavar="TEXT", help="system prompt (Responses API: instructions)")
    parser.add_argument("--messages", metavar="FILE",
                        help="earlier turns: a JSON array of {role, content}; '-' reads it from stdin")
    parser.add_argument("--image", action="append", default=[], metavar="PATH|URL",
                        help="attach an image (repeatable): a URL, or a local PNG/JPEG/WebP/GIF up to 20 MB")
    parser.add_argument("--responses-api", action="store_true", help="use /responses instead of /chat/completions")
    parser.add_argument("--cache", action="store_true",
                        help="prompt caching: on anthropic-* chat models marks the system prompt (or first "
                             "user turn) with cache_control; with --responses-api sends store: true, which "
                             "DigitalOcean treats as best-effort. Other models cache automatically")
    parser.add_argument("-t", "--temperature", type=config.number_in_range(0, 2), metavar="F",
                        help="sampling temperature 0-2 (DigitalOcean accepts 0-1); sent only when given")
    parser.add_argument("--top-p", type=config.number_in_range(0, 1), metavar="F",
                        help="nucleus sampling 0-1, sent only when given (use it or --temperature, not both)")
    parser.add_argument("--seed", type=config.int_in_range(-(2 ** 63), 2 ** 63 - 1), metavar="N",
                        help="ask for repeatable sampling (best effort; chat completions only)")
    parser.add_argument("--stop", action="append", default=[], metavar="TEXT",
                        help="stop generating at this text (repeatable, up to 4)")
    parser.add_argument("--reasoning-effort", choices=("none", "minimal", "low", "medium", "high", "xhigh"),
                        help="how hard a reasoning model thinks (Responses API: reasoning.effort)")
    parser.add_argument("--max-tokens", type=config.int_in_range(1), metavar="N",
                        help="answer length limit, sent as max_completion_tokens (the provider's field, and "
                             "max_tokens to a local server; Responses API: max_output_tokens)")
    stream = parser.add_mutually_exclusive_group()
    stream.add_argument("--stream", dest="stream", action="store_true", default=None,
                        help="stream the answer (default when stdout is a terminal and --json is not given)")
    stream.add_argument("--no-stream", dest="stream", action="store_false", help="wait for the whole answer")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--schema", metavar="SCHEMA",
                       help="answer as JSON of this shape: a JSON Schema (inline or a .json file) or fields like "
                            "'title, year int, rating float: 0 to 10'; printed as one JSON line, checked first")
    shape.add_argument("--schema-multi", metavar="SCHEMA", help="like --schema, for a list of such objects")
    parser.add_argument("--schema-mode", choices=("tool", "response_format"),
                        help="how to ask for the shape: one forced tool (default; remote providers) or "
                             "response_format (default for a local server)")
    parser.add_argument("--tool", action="append", default=[], metavar="FILE",
                        help="a JSON file with an OpenAI function definition or a list of them (repeatable)")
    parser.add_argument("--tool-choice", metavar="auto|none|required|NAME",
                        help="whether the model must call a tool, and which")
    server = parser.add_argument_group("DigitalOcean's server-side tools")
    server.add_argument("--web-search", action="store_true", help="let the model search the web ($10 per 1,000)")
    server.add_argument("--web-search-max", type=config.int_in_range(1, 50), metavar="N",
                        help="at most N searches per answer (default 3; implies --web-search)")
    server.add_argument("--mcp", action="append", default=[], metavar="LABEL=URL",
                        help="an MCP server the model may use (repeatable)")
    server.add_argument("--mcp-allow", action="append", default=[], metavar="TOOL",
                        help="only these tools of the MCP servers (repeatable)")
    server.add_argument("--mcp-auth-env", metavar="VAR",
                        help="the MCP servers' authorization, read from this environment variable (never given "
                             "on the command line) and masked in all output")
    parser.add_argument("--no-stdin", action="store_true",
                        help="ignore stdin (skips the short wait on a silent stdin pipe)")
    parser.add_argument("--show-reasoning", action="store_true", help="write the model's reasoning to stderr")
    parser.add_argument("-u", "--usage", action="store_true",
                        help="print token usage (and cost when a price is known) to stderr")
    config.add_budget_args(parser)
    config.add_common_args(parser)
    return parser


def ask(client, args, prompt, history, streaming, schema):
    """Send the request, and with --schema on a server that refuses one form, the next:
    response_format json_schema, then json_object with a schema, then the forced tool."""
    import gradient_schema
    import gradient_tools
    from gradient_chatapi import Answer, parse_chat, parse_responses
    from gradient_chatinput import request_for
    from gradient_http import Client

    api = "responses" if args.responses_api else "chat"
    if schema is None:
        forms = [gradient_tools.tool_extra(args, api)]
    elif (args.schema_mode or ("response_format" if local_server(args, client) else "tool")) == "tool":
        forms = [gradient_schema.tool_request(schema, api)]
    else:
        forms = [gradient_schema.format_request(schema, "json_schema"), gradient_schema.format_request(schema, "json_object")]
        forms += [gradient_schema.tool_request(schema, api)] if not args.schema_mode else []
    server_side = gradient_tools.server_tools(args, api)
    for attempt, extra in enumerate(forms):
        if server_side:
            extra = dict(extra, tools=(extra.get("tools") or []) + server_side)
        path, body = request_for(args, prompt, history, streaming, client.settings.max_tokens_field, extra)
        answer = Answer(args.model, api)
        try:
            if streaming:
                from gradient_stream import stream_to

                return answer, stream_to(client, path, body, answer, args, echo=schema is None)
            last = attempt == len(forms) - 1  # a server that refuses a form answers 500 at once: no retries before the next
            document, response = (client if last else Client(client.settings._replace(max_retries=0))).post_json(path, body)
        except common.GradientError as error:
            if schema is None or attempt == len(forms) - 1 or error.status not in (400, 422, 500):
                raise
            common.warn(f"the server refused this way of asking for JSON ({error.message}); trying the next")
            continue
        (parse_chat if api == "chat" else parse_responses)(document, answer)
        if args.show_reasoning and answer.reasoning:
            common.out(answer.reasoning.rstrip("\n"), sys.stderr)
        return answer, response


def local_server(args, client) -> bool:
    return config.is_loopback_url(client.settings.base_url) and not args.provider


def chat(args: argparse.Namespace) -> int:
    import gradient_tools
    from gradient_chatapi import check_answer
    from gradient_http import Client, request_id

    import gradient_ledger
    from gradient_chatinput import budget_for, continue_from, gather_inputs, warn_without_vision

    conversation_id, earlier, system = continue_from(args)
    args.model, args.system = args.model or config.env_default("GRADIENT_MODEL", DEFAULT_MODEL), system
    prompt, history = gather_inputs(args, sys.stdin)
    history = earlier + history
    if args.image:
        warn_without_vision(args.model)
    import gradient_schema

    schema = None
    if args.schema or args.schema_multi:
        if args.tool:
            raise common.UsageError("--schema asks for one answer; --tool offers actions: use one of them")
        schema = gradient_schema.load_schema(args.schema or args.schema_multi, multi=bool(args.schema_multi))
    if args.max_cost is not None or args.daily_budget is not None:
        budget_for(args, prompt, history)
    client = Client.from_args(args)
    streaming = args.stream if args.stream is not None else (sys.stdout.isatty() and not args.json and not schema)
    started = time.monotonic()
    turns = ([{"role": "system", "content": args.system}] if args.system else []) + history + (
        [{"role": "user", "content": prompt}] if prompt is not None else [])
    with gradient_ledger.Entry(args, "chat", args.model, "responses" if args.responses_api else "chat",
                               client.settings) as entry:
        entry.update(conversation_id=conversation_id, messages=turns)
        answer, response = ask(client, args, prompt, history, streaming, schema)
        entry.update(request_id=request_id(response))
        duration_ms = round((time.monotonic() - started) * 1000)
        data = gradient_schema.answer_data(answer, schema, bool(args.schema_multi)) if schema else None
        if schema is None:
            check_answer(answer)
        import gradient_prices  # only once an answer is in: a cached or bundled price, never a live scrape

        cost, price_source = gradient_prices.cost_for(answer.model, answer.usage)
        cost = gradient_tools.search_cost(cost, answer.raw_usage, bool(args.web_search or args.web_search_max))
        entry.update(usage=answer.usage, cost_usd=cost, price_source=price_source, answer=answer.content)
    calls = gradient_tools.calls_out(answer) if answer.tool_calls and schema is None else None
    if args.json:
        document = dict(envelope(answer, cost, request_id(response), duration_ms), conversation_id=conversation_id)
        document.update({"data": data} if schema else {}, **({"tool_calls": calls} if calls else {}))
        common.emit_json(document)
    elif schema is not None:
        common.out(common.json_text(data, None, sys.stdout))
    else:
        if not streaming and answer.content:
            common.out(answer.content.rstrip("\n"))
        for call in calls or []:
            common.out(f"tool call {call['name']} " + (common.json_text(call["arguments"], None, sys.stdout)
                                                       if call["arguments"] is not None else call["arguments_text"]))
    if args.usage:
        common.log(gradient_prices.usage_line(answer.usage, cost, price_source))
    return common.EXIT_OK


def main(argv=None) -> int:
    parser = build_parser()
    return common.run(chat, parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
