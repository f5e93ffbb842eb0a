"""The items of a batch: read one input line at a time from JSONL or plain text and checked, and
the chat request each stands for (its own fields over the flags' defaults).

Belongs here: the input side of gradient_batch; memory stays flat in the number of items. Does
not belong here: result lines (batch.results), sending (batch.local) or the Batch API's file
formats (batch.files).
"""
from __future__ import annotations

import json
import os
import time
from collections import namedtuple

from gradient_inference.chat import schema as structured
from gradient_inference.chat.bodies import chat_body
from gradient_inference.chat.inputs import validate_messages
from gradient_inference.core.errors import UsageError
from gradient_inference.core.inputs import stdin_state
from gradient_inference.core.output import log
from gradient_inference.core.paths import open_regular, why

MAX_LINE_BYTES = 16 << 20
STDIN_NOTICE = 2.0  # seconds of an idle stdin pipe before the run says what it waits for
ITEM_FIELDS = ("custom_id", "prompt", "messages", "system", "model", "max_tokens", "temperature", "schema")
MAX_CUSTOM_ID = 512
# What the flags give items that do not say: --model, --system, --max-tokens, --temperature, --schema.
# model: an id, or a function that gives one (the default, checked against the server's list only
# once an item needs it, so that input refused as a whole sends nothing)
ItemDefaults = namedtuple("ItemDefaults", "model system max_tokens temperature schema")


# ---------------------------------------------------------------- input

def check_item(value, line: int) -> dict:
    """An item from a decoded JSONL line: a string is the prompt; an object is checked field by
    field. ValueError names what is wrong."""
    item = dict.fromkeys(ITEM_FIELDS, None)
    item.update(line=line, custom_id=f"line-{line}")
    if isinstance(value, str):
        value = {"prompt": value}
    if not isinstance(value, dict):
        raise ValueError("an item is a string (the prompt) or an object with a prompt or messages")
    unknown = sorted(set(value) - set(ITEM_FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (fields: {', '.join(ITEM_FIELDS)})")
    for name in ("custom_id", "prompt", "system", "model"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise ValueError(f"{name} must be a string")
    if value.get("custom_id") is not None and not 0 < len(value["custom_id"]) <= MAX_CUSTOM_ID:
        raise ValueError(f"custom_id must be 1 to {MAX_CUSTOM_ID} characters")
    if value.get("prompt") is None and value.get("messages") is None:
        raise ValueError("the item has neither a prompt nor messages")
    if value.get("prompt") is not None and not value["prompt"].strip():
        raise ValueError("the prompt is empty")
    if value.get("messages") is not None:
        try:
            validate_messages(value["messages"])
        except UsageError as error:
            raise ValueError(str(error).replace("the messages file must hold", "messages must be")
                             .replace("messages file, entry", "messages, entry")) from None
    tokens = value.get("max_tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
        raise ValueError("max_tokens must be a whole number of at least 1")
    heat = value.get("temperature")
    if heat is not None and (isinstance(heat, bool) or not isinstance(heat, (int, float)) or not 0 <= heat <= 2):
        raise ValueError("temperature must be a number from 0 to 2")
    if value.get("schema") is not None and not isinstance(value["schema"], (str, dict)):
        raise ValueError("schema must be a JSON Schema object or the short form as a string")
    item.update({name: found for name, found in value.items() if found is not None})
    return item


def problem_item(line: int, problem, custom_id=None) -> dict:
    """An item that becomes its error line; it keeps its own custom_id where one can be read, so
    that --resume tries it again once it is mended."""
    item = dict.fromkeys(ITEM_FIELDS, None)
    own = isinstance(custom_id, str) and 0 < len(custom_id) <= MAX_CUSTOM_ID
    item.update(line=line, custom_id=custom_id if own else f"line-{line}", problem=f"line {line}: {problem}")
    return item


def parse_item(text: str, line: int, plain: bool, template: str | None) -> dict:
    """The item of one input line, or a problem item."""
    value = text
    try:
        if not plain:
            try:
                value = json.loads(text)
            except RecursionError:
                raise ValueError("it is nested too deeply") from None
            except ValueError as error:
                raise ValueError(f"it is not JSON ({error})") from None
        item = check_item(value, line)
    except ValueError as problem:
        return problem_item(line, problem, value.get("custom_id") if isinstance(value, dict) else None)
    if template is not None and item["prompt"] is not None:
        item["prompt"] = template.replace("{line}", item["prompt"])
    return item


def read_items(stream, plain: bool = False, template: str | None = None):
    """Items one input line at a time (blank lines skipped): a line too long, not UTF-8, or
    with a custom_id an earlier line has, becomes an item with a problem, never a stop."""
    seen = {}
    for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""), 1):
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line, a piece at a time
                raw = stream.readline(MAX_LINE_BYTES)
            yield problem_item(number, f"it is longer than {MAX_LINE_BYTES >> 20} MB")
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield problem_item(number, "it is not UTF-8 text")
            continue
        if not text.strip():
            continue
        item = parse_item(text, number, plain, template)
        earlier = seen.setdefault(item["custom_id"], number)
        if earlier != number and "problem" not in item:
            item["problem"] = f"line {number}: custom_id {item['custom_id']!r} is also on line {earlier}"
        yield item


def open_input(path: str | None, stdin):
    """The input as a binary stream: a regular file (never a FIFO or device that could block), or
    stdin for '-' or no path. A usage error when it cannot be read."""
    if path in (None, "-"):
        if stdin is None or stdin.isatty():
            raise UsageError("give an input file, or pipe JSONL on stdin")
        if stdin_state(stdin, STDIN_NOTICE) == "silent":  # never a silent wait on a pipe nobody writes to
            log(f"waiting for JSONL items on stdin (nothing came in {STDIN_NOTICE:g} s; close it or end it with "
                "Ctrl-D, or give an input file)")
        return getattr(stdin, "buffer", stdin)
    try:
        return os.fdopen(open_regular(path), "rb")
    except OSError as exc:
        raise UsageError(f"cannot read the input {path}: {why(exc)}") from None


def count_unread(stream, limit: int = 64 << 20, seconds: float = 1.0) -> tuple:
    """(non-blank lines still unread on a stdin pipe, whether it was read to its end), without ever
    waiting on a producer: what the pipe holds now, within `limit` bytes and `seconds`."""
    try:
        fd = stream.fileno()
        os.set_blocking(fd, False)
    except (OSError, ValueError, AttributeError):
        return 0, False
    count, tail, read, deadline = 0, b"", 0, time.monotonic() + seconds
    try:
        while read < limit and time.monotonic() < deadline:
            try:
                chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
            except BlockingIOError:
                return count, False
            if chunk is None:
                return count, False
            if not chunk:
                return count + bool(tail.strip()), True
            read += len(chunk)
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            count += sum(1 for line in lines if line.strip())
        return count, False
    finally:
        try:
            os.set_blocking(fd, True)
        except OSError:
            pass


def count_items(path: str | None) -> int | None:
    """How many non-blank lines a regular input file has (for progress); None for stdin."""
    if path in (None, "-"):
        return None
    with open_input(path, None) as stream:
        return sum(1 for raw in iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b"") if raw.strip())


# ---------------------------------------------------------------- an item's request


def schema_of(spec, cache: dict) -> dict | None:
    """An item's schema (a JSON Schema object, or text as --schema takes it), loaded once per spec."""
    if spec is None:
        return None
    key = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)
    if key not in cache:
        if isinstance(spec, dict):
            if spec.get("type", "object") != "object":
                raise UsageError('a schema must describe a JSON object ("type": "object")')
            cache[key] = spec
        else:
            cache[key] = structured.load_schema(spec)
    return cache[key]


def request_of(item: dict, item_defaults: ItemDefaults, max_tokens_field: str, schemas: dict) -> tuple:
    """(model, chat body, schema) of an item, its own fields over the flags' defaults, a schema
    asked for in chat.schema's first form for a remote server (the forced tool: an item has no
    second try, and the Batch API takes nothing else). A bad schema is a ValueError (the item's
    error), never a stop."""
    model = item["model"] or (item_defaults.model() if callable(item_defaults.model) else item_defaults.model)
    system = item["system"] if item["system"] is not None else item_defaults.system
    history = list(item["messages"] or [])
    if system and any(m.get("role") == "system" for m in history):
        system = item["system"]  # the item's own system turn wins over --system
    try:
        schema = schema_of(item["schema"] if item["schema"] is not None else item_defaults.schema, schemas)
    except UsageError as error:
        raise ValueError(f"line {item['line']}: {error}") from None
    extra = structured.forms(schema, "chat")[0] if schema else {}
    temperature = item["temperature"] if item["temperature"] is not None else item_defaults.temperature
    max_tokens = item["max_tokens"] or item_defaults.max_tokens
    body = chat_body(model, system, history, item["prompt"], [], temperature=temperature, max_tokens=max_tokens,
                     max_tokens_field=max_tokens_field, **extra)
    return model, body, schema


def text_chars(body: dict) -> int:
    return sum(len(m["content"]) if isinstance(m.get("content"), str) else len(json.dumps(m.get("content")))
               for m in body["messages"])
