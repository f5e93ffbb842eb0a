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
import json
import re
import sys
import time

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

DEFAULT_MODEL = "openai-gpt-oss-120b"
MAX_IMAGE_BYTES = 20 * 1024 * 1024
ROLES = ("system", "developer", "user", "assistant", "tool")


# ---------------------------------------------------------------- input helpers

def check_tool_turn(message: dict, where: str) -> None:
    """An assistant turn's tool_calls, or a tool turn's result: the shapes an agent's loop sends back."""
    if message["role"] == "tool":
        if not isinstance(message.get("tool_call_id"), str) or not isinstance(message.get("content"), str):
            raise common.UsageError(f"{where}: a tool turn needs a tool_call_id and a string content")
        return
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        raise common.UsageError(f"{where}: tool_calls must be a non-empty list")
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not (isinstance(call.get("id"), str) and isinstance(function, dict) and isinstance(function.get("name"), str)
                and isinstance(function.get("arguments"), str)):
            raise common.UsageError(f"{where}: each tool call needs an id and a function with a name and "
                                    "arguments as a JSON string")


def validate_messages(data) -> list:
    """Check a messages file: a JSON array of {role, content}, with tool calls and tool results
    where an agent runs its own loop; errors name the bad index."""
    if not isinstance(data, list):
        raise common.UsageError("the messages file must hold a JSON array of {role, content} objects")
    for index, message in enumerate(data):
        where = f"messages file, entry {index}"
        if not isinstance(message, dict):
            raise common.UsageError(f"{where}: not an object")
        if message.get("role") not in ROLES:
            raise common.UsageError(f"{where}: role must be one of {', '.join(ROLES)}, not {message.get('role')!r}")
        if message["role"] == "tool" or "tool_calls" in message:
            check_tool_turn(message, where)
            continue
        content = message.get("content")
        if not (isinstance(content, str) or (isinstance(content, list) and content)):
            raise common.UsageError(f"{where}: content must be a string or a non-empty list of parts")
    return data


def image_url(spec: str) -> str:
    """A URL passes through; a local file becomes a base64 data: URL with its real MIME type."""
    if re.match(r"(?i)(https?|data):", spec):
        return spec
    import base64

    import gradient_files as files

    data = files.read_local_file(spec, MAX_IMAGE_BYTES, "image")
    kind = files.sniff_image(data[:16])
    if kind is None:
        raise common.GradientError("io", f"{spec} is not an image (PNG, JPEG, WebP or GIF)")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


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
    parser.add_argument("-m", "--model", default=config.env_default("GRADIENT_MODEL", DEFAULT_MODEL),
                        help="model id (env GRADIENT_MODEL; default %(default)s); list them with gradient_models.py")
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
    config.add_common_args(parser)
    return parser


def gather_inputs(args: argparse.Namespace, stdin) -> tuple:
    """The prompt and earlier turns from flags, files and stdin."""
    if len(args.stop) > 4 or any(not text for text in args.stop):
        raise common.UsageError("--stop takes up to 4 texts, none empty")
    import gradient_files as files

    if args.prompt == "-" and args.messages == "-":
        raise common.UsageError("--prompt - and --messages - cannot both read stdin")
    stdin_used = "-" in (args.prompt, args.messages)
    history = []
    if args.messages:
        raw = files.read_text_input(args.messages, stdin, "messages file")
        try:
            history = validate_messages(json.loads(raw))
        except RecursionError:
            raise common.UsageError("the messages file is nested too deeply") from None
        except ValueError as exc:
            raise common.UsageError(f"the messages file is not JSON: {exc}") from None
    prompt = args.prompt
    if prompt == "-":
        prompt = files.read_stdin(stdin)
    elif not stdin_used and not args.no_stdin:
        state = files.stdin_state(stdin, files.STDIN_WAIT)
        piped = files.read_stdin(stdin) if state == "ready" else ""
        if piped.strip():
            prompt = f"{piped.rstrip()}\n\n{prompt}" if prompt else piped
        elif state == "silent" and prompt is not None:
            common.warn(f"stdin sent nothing within {files.STDIN_WAIT:g} s and was ignored (--no-stdin skips the wait)")
    if prompt is None and not history:
        raise common.UsageError("give --prompt TEXT, pipe text on stdin, or use --messages FILE")
    if prompt is not None and not prompt.strip():
        raise common.UsageError("the prompt is empty")
    return prompt, history


def request_for(args: argparse.Namespace, prompt, history: list, streaming: bool, max_tokens_field: str,
                extra: dict | None = None) -> tuple:
    """(API path, request body) for the chosen API."""
    from gradient_chatapi import chat_body, responses_body

    images = [image_url(spec) for spec in args.image]
    options = dict(temperature=args.temperature, max_tokens=args.max_tokens, stream=streaming, cache=args.cache,
                   top_p=args.top_p, stop=(args.stop[0] if len(args.stop) == 1 else args.stop) or None, **(extra or {}))
    if args.responses_api:
        if args.seed is not None:
            raise common.UsageError("--seed is not part of the Responses API; drop --responses-api to use it")
        if any(m["role"] == "tool" or "tool_calls" in m for m in history):
            raise common.UsageError("tool turns in --messages go to chat completions; drop --responses-api")
        effort = {"effort": args.reasoning_effort} if args.reasoning_effort else None
        return "responses", responses_body(args.model, args.system, history, prompt, images, reasoning=effort,
                                           **options)
    return "chat/completions", chat_body(args.model, args.system, history, prompt, images,
                                         max_tokens_field=max_tokens_field, reasoning_effort=args.reasoning_effort,
                                         seed=args.seed, **options)


class StreamPrinter:
    """Streamed text written as it arrives, made printable on the way: the few characters that
    could begin a key split across chunks wait for the next chunk. A final newline only when needed."""

    def __init__(self, stream, enabled: bool):
        self.stream, self.enabled, self.last, self.pending = stream, enabled, "\n", ""

    def write(self, text: str) -> None:
        if not (self.enabled and text):
            return
        text = common.mask(self.pending + text)
        cut = common.secret_start(text)
        text, self.pending = text[:cut], text[cut:]
        if text:
            common.out(text, self.stream, end="")
            self.last = text[-1]

    def end(self) -> None:
        if self.pending:
            common.out(self.pending, self.stream, end="")
            self.last, self.pending = self.pending[-1], ""
        if self.last != "\n":
            common.out("", self.stream)
            self.last = "\n"


def stream_to(client, path: str, body: dict, answer, args: argparse.Namespace, echo: bool = True):
    """Send with streaming on the wire; text goes to stdout as it arrives (unless --json), the
    reasoning to stderr, ended by a newline before the answer starts."""
    from gradient_chatapi import stream_answer
    from gradient_http import request_id

    response = client.send("POST", client.url(path), json_body=body, headers={"Accept": "text/event-stream"})
    text = StreamPrinter(sys.stdout, echo and not args.json)
    thoughts = StreamPrinter(sys.stderr, args.show_reasoning)

    def on_text(delta: str) -> None:
        thoughts.end()
        text.write(delta)

    try:
        stream_answer(response, answer, on_text, thoughts.write, args.verbose)
    except common.GradientError as error:
        error.request_id = error.request_id or request_id(response)
        raise
    finally:  # also after an error: what was printed stays, on whole lines
        thoughts.end()
        text.end()
    return response


def warn_without_vision(model: str) -> None:
    """--image sent to a model known to take text only: say so before paying for an invented
    description, and name models that see images (from cached prices, never a fetch)."""
    import gradient_catalog
    import gradient_prices

    prices = gradient_prices.offline_prices()
    rows = prices.models if prices else []
    if gradient_catalog.lacks_vision(model, rows):
        common.warn(f"{model} is known to take text only: it will not see the image; models that do: "
                    + ", ".join(gradient_catalog.vision_models(rows)[:6]))


def ask(client, args, prompt, history, streaming, schema):
    """Send the request, and with --schema on a server that refuses one form, the next:
    response_format json_schema, then json_object with a schema, then the forced tool."""
    import gradient_schema
    import gradient_tools
    from gradient_chatapi import Answer, parse_chat, parse_responses

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
                return answer, stream_to(client, path, body, answer, args, echo=schema is None)
            document, response = client.post_json(path, body)
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


def structured(answer, schema, multi: bool):
    """The answer's JSON (the forced tool's arguments, or the text), checked against the schema."""
    import gradient_schema

    raw = answer.tool_calls[0]["arguments"] if answer.tool_calls else answer.content
    data = gradient_schema.check(gradient_schema.parse_answer(raw), schema, raw)
    return data["items"] if multi else data


def chat(args: argparse.Namespace) -> int:
    import gradient_tools
    from gradient_chatapi import check_answer
    from gradient_http import Client, request_id

    prompt, history = gather_inputs(args, sys.stdin)
    if args.image:
        warn_without_vision(args.model)
    schema = None
    if args.schema or args.schema_multi:
        import gradient_schema

        if args.tool:
            raise common.UsageError("--schema asks for one answer; --tool offers actions: use one of them")
        schema = gradient_schema.load_schema(args.schema or args.schema_multi, multi=bool(args.schema_multi))
    client = Client.from_args(args)
    streaming = args.stream if args.stream is not None else (sys.stdout.isatty() and not args.json and not schema)
    started = time.monotonic()
    answer, response = ask(client, args, prompt, history, streaming, schema)
    duration_ms = round((time.monotonic() - started) * 1000)
    data = structured(answer, schema, bool(args.schema_multi)) if schema else None
    if schema is None:
        check_answer(answer)
    import gradient_prices  # only once an answer is in: a cached or bundled price, never a live scrape

    cost, price_source = gradient_prices.cost_for(answer.model, answer.usage)
    cost = gradient_tools.search_cost(cost, answer.raw_usage, bool(args.web_search or args.web_search_max))
    calls = gradient_tools.calls_out(answer) if answer.tool_calls and schema is None else None
    if args.json:
        document = envelope(answer, cost, request_id(response), duration_ms)
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
