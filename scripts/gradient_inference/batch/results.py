"""The results of a batch: one result line per item (the same for local and remote runs) written
whole, one write each, to stdout or to an append-only file; the custom_ids an earlier run
finished (for --resume); input order kept when asked; an item's answer read; and the tallies.

Belongs here: the output side of gradient_batch. Does not belong here: reading items
(batch.items) or sending (batch.local, batch.remote).
"""
from __future__ import annotations

import json
import os
import stat
import sys

from gradient_inference.batch.items import MAX_LINE_BYTES
from gradient_inference.chat import schema as structured
from gradient_inference.chat.answers import Answer, parse_chat
from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.outfiles import put_in_place, temporary_beside
from gradient_inference.core.output import json_text, warn
from gradient_inference.core.paths import file_kind, open_regular, remove_quietly, why

RESULT_FIELDS = ("custom_id", "line", "status", "content", "data", "usage", "cost_usd", "finish_reason", "error")


def result_line(item: dict, status: str, content=None, data=None, usage=None, cost=None, error=None,
                finish_reason=None) -> dict:
    """One item's result line. An item whose answer was billed carries its usage and cost, ok or not."""
    if isinstance(error, GradientError):
        error = {key: value for key, value in error.to_dict()["error"].items() if key != "hint" or value}
    elif isinstance(error, str):
        error = {"type": "bad_request", "message": error, "status": None, "request_id": None}
    return {"custom_id": item["custom_id"], "line": item["line"], "status": status, "content": content,
            "data": data, "usage": usage, "cost_usd": cost, "finish_reason": finish_reason, "error": error}


def answer_of(document, model: str) -> Answer:
    """A batch item's chat answer, read (GradientError when it is no chat answer at all)."""
    return parse_chat(document, Answer(model, "chat"))


def checked(answer: Answer, schema) -> tuple:
    """(content, data) of an answer; GradientError when it is empty or misses the schema, as chat
    reports it. An item asks for text or (with a schema) the forced tool: a tool call alone, with no
    schema to read it by, is no answer to it."""
    if schema is not None:
        data = structured.answer_data(answer, schema, False)
        return (answer.tool_calls[0]["arguments"] if answer.tool_calls else answer.content), data
    if not answer.content:
        cut = answer.finish_reason == "length"
        raise GradientError("invalid_response", "the model returned no text" + (
            ": max tokens cut it off" if cut else ""), hint="raise --max-tokens" if cut else None)
    return answer.content, None


def new_tally() -> dict:
    return {"ok": 0, "failed": 0, "skipped": 0, "left": 0, "cut": 0, "input_tokens": 0, "output_tokens": 0,
            "cost_usd": 0.0, "unpriced": 0, "failed_lines": [], "retries": 0, "throttled": 0, "unreadable": 0}


def count(tally: dict, document: dict) -> None:
    """A written result line in the run's tallies; failures by input line (or custom_id when the line
    is unknown); an ok answer cut at its token limit is counted as cut too; a billed item without a
    price as unpriced."""
    if document.get("status") == "ok":
        tally["ok"] += 1
        tally["cut"] += document.get("finish_reason") == "length"
    else:
        tally["failed"] += 1
        tally["failed_lines"].append(document.get("line") if document.get("line") is not None
                                     else document.get("custom_id"))
    usage = document.get("usage") if isinstance(document.get("usage"), dict) else {}
    tally["input_tokens"] += usage.get("input_tokens") if isinstance(usage.get("input_tokens"), int) else 0
    tally["output_tokens"] += usage.get("output_tokens") if isinstance(usage.get("output_tokens"), int) else 0
    if isinstance(document.get("cost_usd"), (int, float)):
        tally["cost_usd"] += document["cost_usd"]
    elif document.get("status") == "ok" or document.get("usage"):
        tally["unpriced"] += 1


# ---------------------------------------------------------------- output


def empty_file(path: str) -> bool:
    """A regular file of no bytes (never a link, which the sink refuses anyway)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == 0


class Sink:
    """Result lines, each one write() of a whole line: on stdout, or appended to a file that a
    killed run leaves holding only whole lines (a cut last line is removed on --resume)."""

    def __init__(self, fd: int, stream=None, path: str | None = None):
        self.fd, self.stream, self.path = fd, stream, path
        self.finished, self.temporary, self.earlier = set(), None, None

    @classmethod
    def open(cls, path: str | None, resume: bool, force: bool, whole: bool = False) -> "Sink":
        """stdout without a path; with `whole`, a file that appears complete or not at all (commit())."""
        if not path:
            return cls.to_stdout()
        if not whole:
            return cls.to_file(path, resume, force)
        if os.path.lexists(path) and not force:
            raise UsageError(f"{path} exists: --force replaces it")
        sink = cls(None, None, path)
        sink.fd, sink.temporary = temporary_beside(path)
        sink.force = force
        return sink

    def commit(self) -> None:
        """A `whole` file put in place, its lines all written: renamed over the old one with
        --force, else linked, which never replaces a file made meanwhile."""
        if self.temporary:
            try:
                put_in_place(self.temporary, self.path, self.force)
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
        """Lines appended to `path`. An empty file there is as good as none (a run that sent
        nothing leaves none behind, see close()), so a retry needs no --force."""
        empty = empty_file(path)
        if os.path.lexists(path) and not (resume or force or empty):
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
        sink.remove_if_empty = empty or not os.path.getsize(path)  # ours to remove if nothing is written
        if resume:
            sink.finished = sink.read_finished()
        elif force:
            os.ftruncate(fd, 0)
        return sink

    def read_finished(self) -> set:
        """custom_ids with an ok line in the file, and the earlier runs' tallies (self.earlier):
        only a last line cut short by a kill (no newline at the end of the file) is cut away; a
        line too long to read is passed over, never removed with what follows it."""
        finished, whole, broken, self.earlier = set(), 0, 0, new_tally()
        with os.fdopen(open_regular(self.path, follow_links=False), "rb") as stream:
            for raw in iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""):
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # the rest of an over-long line, a piece at a time
                        whole += len(raw)
                        raw = stream.readline(MAX_LINE_BYTES)
                    whole += len(raw)
                    broken += 1
                    continue
                if not raw.endswith(b"\n"):
                    break
                whole += len(raw)
                try:
                    found = json.loads(raw)
                    if found.get("status") == "ok" and isinstance(found.get("custom_id"), str):
                        finished.add(found["custom_id"])
                    count(self.earlier, found)
                except (ValueError, RecursionError, AttributeError):
                    broken += 1
            end = stream.seek(0, os.SEEK_END)
        if end > whole:
            os.ftruncate(self.fd, whole)
            warn(f"the last line of {self.path} was cut short (a run was killed while writing it); it was removed")
        if broken:
            warn(f"{broken} line(s) of {self.path} are not result lines (or too long to read) and were passed over")
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
        """The file closed; a `whole` file that was not committed is removed, and so is an output
        file the run found empty or made and wrote nothing to (a run that sent nothing)."""
        if self.path is not None:
            nothing = getattr(self, "remove_if_empty", False) and self.fd is not None and not os.fstat(self.fd).st_size
            os.close(self.fd)
            if nothing:
                remove_quietly(self.path)
        remove_quietly(self.temporary)


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
