"""What the user gives the chat command, up to the request it makes: the prompt (a flag, stdin,
or both), earlier turns from a messages file or the ledger's conversation (checked, tool calls and
tool results included), images with a warning when the model is known not to see them, the budget
check, and the request the flags ask for.

Belongs here: reading and checking chat input, before anything is sent. Does not belong here: the
shapes of bodies and answers (gradient_chatapi), or the command line itself (gradient_chat).
"""
from __future__ import annotations

import json
import re

import gradient_files as files
from gradient_common import GradientError, UsageError, warn

MAX_IMAGE_BYTES = 20 * 1024 * 1024
ROLES = ("system", "developer", "user", "assistant", "tool")


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
        if not (isinstance(call.get("id"), str) and isinstance(function, dict) and isinstance(function.get("name"), str)
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
    return data


def image_url(spec: str) -> str:
    """A URL passes through; a local file becomes a base64 data: URL with its real MIME type."""
    if re.match(r"(?i)(https?|data):", spec):
        return spec
    import base64

    data = files.read_local_file(spec, MAX_IMAGE_BYTES, "image")
    kind = files.sniff_image(data[:16])
    if kind is None:
        raise GradientError("io", f"{spec} is not an image (PNG, JPEG, WebP or GIF)")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def gather_inputs(args, stdin) -> tuple:
    """The prompt and earlier turns from flags, files and stdin."""
    if len(args.stop) > 4 or any(not text for text in args.stop):
        raise UsageError("--stop takes up to 4 texts, none empty")
    import gradient_files as files

    if args.prompt == "-" and args.messages == "-":
        raise UsageError("--prompt - and --messages - cannot both read stdin")
    stdin_used = "-" in (args.prompt, args.messages)
    history = []
    if args.messages:
        raw = files.read_text_input(args.messages, stdin, "messages file")
        try:
            history = validate_messages(json.loads(raw))
        except RecursionError:
            raise UsageError("the messages file is nested too deeply") from None
        except ValueError as exc:
            raise UsageError(f"the messages file is not JSON: {exc}") from None
    prompt = args.prompt
    if prompt == "-":
        prompt = files.read_stdin(stdin)
    elif not stdin_used and not args.no_stdin:
        state = files.stdin_state(stdin, files.STDIN_WAIT)
        piped = files.read_stdin(stdin) if state == "ready" else ""
        if piped.strip():
            prompt = f"{piped.rstrip()}\n\n{prompt}" if prompt else piped
        elif state == "silent" and prompt is not None:
            warn(f"stdin sent nothing within {files.STDIN_WAIT:g} s and was ignored (--no-stdin skips the wait)")
    if prompt is None and not history:
        raise UsageError("give --prompt TEXT, pipe text on stdin, or use --messages FILE")
    if prompt is not None and not prompt.strip():
        raise UsageError("the prompt is empty")
    return prompt, history


# ---------------------------------------------------------------- images

def warn_without_vision(model: str) -> None:
    """--image sent to a model known to take text only: say so before paying for an invented
    description, and name models that see images (from cached prices, never a fetch)."""
    import gradient_catalog
    import gradient_prices

    prices = gradient_prices.offline_prices()
    rows = prices.models if prices else []
    if gradient_catalog.lacks_vision(model, rows):
        warn(f"{model} is known to take text only: it will not see the image; models that do: "
                    + ", ".join(gradient_catalog.vision_models(rows)[:6]))


# ---------------------------------------------------------------- conversations

def continue_from(args) -> tuple:
    """(conversation id, earlier turns, system prompt) for -c / --conversation: the turns come
    from the usage ledger, the model and system prompt carry over unless given again. Without
    either flag, a new conversation id."""
    import uuid

    if not (args.continue_ or args.conversation):
        return uuid.uuid4().hex, [], args.system
    import gradient_ledger

    calls = gradient_ledger.conversation(args.conversation)
    last = calls[-1]
    turns = json.loads(last["messages"]) + [{"role": "assistant", "content": last["answer"] or ""}]
    earlier_system = next((t["content"] for t in turns if t.get("role") == "system"), None)
    args.model = args.model or last["model"]
    return last["conversation_id"], [t for t in turns if t.get("role") != "system"], args.system or earlier_system


# ---------------------------------------------------------------- budgets

def budget_for(args, prompt, history) -> None:
    """--max-cost and the daily budget: the worst case of this call, before anything is sent."""
    import gradient_ledger
    import gradient_prices

    chars = len(prompt or "") + len(args.system or "") + sum(len(json.dumps(m.get("content"))) for m in history)
    limit = args.max_tokens
    if limit is None:
        prices = gradient_prices.offline_prices()
        row = gradient_prices.match_price(args.model, prices.models) if prices else None
        limit = row.get("max_output_tokens") if row else None
    gradient_ledger.check_budget(args, gradient_prices.worst_case(args.model, chars, limit), f"this call to {args.model}")


# ---------------------------------------------------------------- the request the flags ask for

def request_for(args, prompt, history: list, streaming: bool, max_tokens_field: str,
                extra: dict | None = None) -> tuple:
    """(API path, request body) for the chosen API."""
    from gradient_chatapi import chat_body, responses_body

    images = [image_url(spec) for spec in args.image]
    options = dict(temperature=args.temperature, max_tokens=args.max_tokens, stream=streaming, cache=args.cache,
                   top_p=args.top_p, stop=(args.stop[0] if len(args.stop) == 1 else args.stop) or None, **(extra or {}))
    if args.responses_api:
        if args.seed is not None:
            raise UsageError("--seed is not part of the Responses API; drop --responses-api to use it")
        if any(m["role"] == "tool" or "tool_calls" in m for m in history):
            raise UsageError("tool turns in --messages go to chat completions; drop --responses-api")
        effort = {"effort": args.reasoning_effort} if args.reasoning_effort else None
        return "responses", responses_body(args.model, args.system, history, prompt, images, reasoning=effort,
                                           **options)
    return "chat/completions", chat_body(args.model, args.system, history, prompt, images,
                                         max_tokens_field=max_tokens_field, reasoning_effort=args.reasoning_effort,
                                         seed=args.seed, **options)
