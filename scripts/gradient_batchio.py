"""The lines of a batch: items read one at a time from JSONL or plain text and checked, the chat
request each stands for (its own fields over the flags' defaults), result
lines written whole (one write each) to stdout or to an append-only file, the custom_ids an
earlier run finished (for --resume), and input order kept when it is asked for.

Belongs here: the line formats of gradient_batch and the files they live in; memory stays flat in
the number of items. Does not belong here: sending (gradient_batchrun) or DigitalOcean's Batch
API (gradient_batchapi).
"""
from __future__ import annotations

import json
import os
import sys

from gradient_chatapi import chat_body
from gradient_chatinput import validate_messages
from gradient_common import GradientError, UsageError, file_kind, json_text, open_regular, warn, why

MAX_LINE_BYTES = 16 << 20
ITEM_FIELDS = ("custom_id", "prompt", "messages", "system", "model", "max_tokens", "temperature", "schema")
RESULT_FIELDS = ("custom_id", "line", "status", "content", "data", "usage", "cost_usd", "error")
MAX_CUSTOM_ID = 512


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
        return getattr(stdin, "buffer", stdin)
    try:
        return os.fdopen(open_regular(path), "rb")
    except OSError as exc:
        raise UsageError(f"cannot read the input {path}: {why(exc)}") from None


def count_items(path: str | None) -> int | None:
    """How many non-blank lines a regular input file has (for progress); None for stdin."""
    if path in (None, "-"):
        return None
    with open_input(path, None) as stream:
        return sum(1 for raw in iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b"") if raw.strip())


# ---------------------------------------------------------------- an item's request

def schema_of(spec, cache: dict) -> dict | None:
    """An item's schema (a JSON Schema object, or text as --schema takes it), loaded once per spec."""
    import gradient_schema

    if spec is None:
        return None
    key = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)
    if key not in cache:
        if isinstance(spec, dict):
            if spec.get("type", "object") != "object":
                raise UsageError('a schema must describe a JSON object ("type": "object")')
            cache[key] = spec
        else:
            cache[key] = gradient_schema.load_schema(spec)
    return cache[key]


def request_of(item: dict, defaults, max_tokens_field: str, schemas: dict) -> tuple:
    """(model, chat body, schema) of an item, its own fields over the flags' defaults. A bad
    schema is a ValueError (the item's error), never a stop."""
    import gradient_schema

    model = item["model"] or defaults.model
    system = item["system"] if item["system"] is not None else defaults.system
    history = list(item["messages"] or [])
    if system and any(m.get("role") == "system" for m in history):
        system = item["system"]  # the item's own system turn wins over --system
    try:
        schema = schema_of(item["schema"] if item["schema"] is not None else defaults.schema, schemas)
    except UsageError as error:
        raise ValueError(f"line {item['line']}: {error}") from None
    extra = gradient_schema.tool_request(schema, "chat") if schema else {}
    temperature = item["temperature"] if item["temperature"] is not None else defaults.temperature
    max_tokens = item["max_tokens"] or defaults.max_tokens
    body = chat_body(model, system, history, item["prompt"], [], temperature=temperature, max_tokens=max_tokens,
                     max_tokens_field=max_tokens_field, **extra)
    return model, body, schema


def text_chars(body: dict) -> int:
    return sum(len(m["content"]) if isinstance(m.get("content"), str) else len(json.dumps(m.get("content")))
               for m in body["messages"])


# ---------------------------------------------------------------- output

def result_line(item: dict, status: str, content=None, data=None, usage=None, cost=None, error=None) -> dict:
    if isinstance(error, GradientError):
        error = {key: value for key, value in error.to_dict()["error"].items() if key != "hint" or value}
    elif isinstance(error, str):
        error = {"type": "bad_request", "message": error, "status": None, "request_id": None}
    return {"custom_id": item["custom_id"], "line": item["line"], "status": status, "content": content,
            "data": data, "usage": usage, "cost_usd": cost, "error": error}


class Sink:
    """Result lines, each one write() of a whole line: on stdout, or appended to a file that a
    killed run leaves holding only whole lines (a cut last line is removed on --resume)."""

    def __init__(self, fd: int, stream=None, path: str | None = None):
        self.fd, self.stream, self.path = fd, stream, path
        self.finished, self.temporary = set(), None

    @classmethod
    def open(cls, path: str | None, resume: bool, force: bool, whole: bool = False) -> "Sink":
        """stdout without a path; with `whole`, a file that appears complete or not at all (commit())."""
        if not path:
            return cls.to_stdout()
        if not whole:
            return cls.to_file(path, resume, force)
        if os.path.lexists(path) and not force:
            raise UsageError(f"{path} exists: --force replaces it")
        from gradient_files import temporary_beside

        sink = cls(None, None, path)
        sink.fd, sink.temporary = temporary_beside(path)
        sink.force = force
        return sink

    def commit(self) -> None:
        """A `whole` file put in place, its lines all written: renamed over the old one with
        --force, else linked, which never replaces a file made meanwhile."""
        if self.temporary:
            try:
                if self.force:
                    os.replace(self.temporary, self.path)
                else:
                    os.link(self.temporary, self.path)
                    os.unlink(self.temporary)
            except OSError as exc:
                raise GradientError("io", f"cannot save {self.path}: {why(exc)}") from None
            self.temporary = None

    @classmethod
    def to_stdout(cls) -> "Sink":
        sys.stdout.flush()
        try:
            return cls(sys.stdout.fileno(), sys.stdout)
        except (OSError, ValueError, AttributeError):  # a stdout without a descriptor (captured, in tests)
            return cls(None, sys.stdout)

    @classmethod
    def to_file(cls, path: str, resume: bool, force: bool) -> "Sink":
        if os.path.lexists(path) and not (resume or force):
            raise UsageError(f"{path} exists: --resume continues that run, --force starts it over")
        if os.path.islink(path):
            raise GradientError("io", f"cannot write the output {path}: it is a symbolic link; name the file itself")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o666)  # the user's umask applies
            kind = file_kind(os.fstat(fd).st_mode)
            if kind:
                os.close(fd)
                raise OSError(f"it is {kind}, not a regular file")
        except OSError as exc:
            raise GradientError("io", f"cannot write the output {path}: {why(exc)}") from None
        sink = cls(fd, None, path)
        if resume:
            sink.finished = sink.read_finished()
        elif force:
            os.ftruncate(fd, 0)
        return sink

    def read_finished(self) -> set:
        """custom_ids with an ok line in the file; a last line cut short by a kill is cut away."""
        finished, whole, broken = set(), 0, 0
        with os.fdopen(open_regular(self.path, follow_links=False), "rb") as stream:
            for raw in iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""):
                if not raw.endswith(b"\n"):
                    break
                whole += len(raw)
                try:
                    found = json.loads(raw)
                    if found.get("status") == "ok" and isinstance(found.get("custom_id"), str):
                        finished.add(found["custom_id"])
                except (ValueError, RecursionError, AttributeError):
                    broken += 1
            end = stream.seek(0, os.SEEK_END)
        if end > whole:
            os.ftruncate(self.fd, whole)
            warn(f"the last line of {self.path} was cut short (a run was killed while writing it); it was removed")
        if broken:
            warn(f"{broken} line(s) of {self.path} are not result lines and were ignored")
        return finished

    def write(self, document: dict) -> None:
        text = json_text(document, None, self.stream) + "\n"
        if self.fd is None:
            self.stream.write(text)
            return
        data = text.encode("utf-8")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except BrokenPipeError:
            raise
        except OSError as exc:
            where = "standard output" if self.path is None else self.path
            raise GradientError("io", f"cannot write to {where}: {why(exc)}") from None

    def close(self) -> None:
        """The file closed; a `whole` file that was not committed is removed."""
        if self.path is not None:
            os.close(self.fd)
        if self.temporary:
            try:
                os.unlink(self.temporary)
            except OSError:
                pass


class Reorder:
    """With --ordered, lines leave in input order: each waits until every earlier one is out."""

    def __init__(self, write, ordered: bool):
        self.write, self.ordered = write, ordered
        self.held, self.next = {}, 0

    def add(self, sequence: int, document: dict | None) -> None:
        """document None: that item will not be written (stopped before it ran)."""
        if not self.ordered:
            if document is not None:
                self.write(document)
            return
        self.held[sequence] = document
        while self.next in self.held:
            found = self.held.pop(self.next)
            self.next += 1
            if found is not None:
                self.write(found)

    def flush(self) -> None:
        """At a stop: what finished is written, in order, past any gap."""
        for sequence in sorted(self.held):
            if self.held[sequence] is not None:
                self.write(self.held[sequence])
        self.held.clear()
