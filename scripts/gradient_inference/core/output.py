"""Every line the commands print: secrets masked, lone surrogates replaced, control characters
escaped on a terminal, strict JSON, diagnostics on stderr, progress lines, and errors reported.

Belongs here: writing to stdout and stderr. Does not belong here: what a command prints (its run
module) or the text helpers themselves (core.text).
"""
from __future__ import annotations

import json
import os
import sys

from gradient_inference.core.errors import GradientError
from gradient_inference.core.paths import why
from gradient_inference.core.providers import mask
from gradient_inference.core.text import escape_controls, one_line, pattern, whole_characters


def printable(text: str, stream) -> str:
    """What may be written: secrets masked, lone surrogates replaced, and on a terminal the
    control characters escaped. Every line the scripts print passes through here."""
    text = mask(whole_characters(text))
    return escape_controls(text) if isatty(stream) else text


def isatty(stream) -> bool:
    return bool(getattr(stream, "isatty", None)) and not getattr(stream, "closed", False) and stream.isatty()


def out(text: str = "", stream=None, end: str = "\n", lead: str = "") -> None:
    """Print text (stdout by default). `lead` is the program's own control text, such as the
    carriage return of a progress line; everything else is made printable."""
    stream = stream or sys.stdout
    try:
        stream.write(lead + printable(text, stream) + end)
        if stream is not sys.stdout or end != "\n":
            stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk under stdout: one io error, not a traceback or exit 120
        if stream is sys.stdout:
            silence_stdout()
        raise GradientError("io", f"cannot write to {'standard output' if stream is sys.stdout else 'it'}: {why(exc)}")


def log(message: str) -> None:
    """One diagnostic line on stderr: always a single clean line, whatever the message holds."""
    sys.stderr.write(escape_controls(printable(message, None), keep_lines=False) + "\n")
    sys.stderr.flush()


def cost_words(cost, price_source: str) -> str:
    """A unit-priced call's cost for --usage: the figure and where its price came from, or why there is none."""
    return f"cost ${cost:.6f} ({price_source})" if cost is not None else f"cost unknown ({price_source})"


def warn(message: str) -> None:
    log(f"warning: {message}")


def strict(value):
    """JSON values as strict JSON allows them: NaN and infinities (where x - x is not 0) become null."""
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return None if isinstance(value, float) and value - value != 0 else value


def json_text(document, indent: int | None = 2, stream=None) -> str:
    """Strict JSON, masked; on a terminal the controls that JSON leaves raw become \\u escapes."""
    try:
        text = json.dumps(document, ensure_ascii=False, indent=indent, allow_nan=False)
    except ValueError:
        text = json.dumps(strict(document), ensure_ascii=False, indent=indent)
    text = mask(whole_characters(text))
    return pattern("controls").sub(lambda m: f"\\u{ord(m.group()):04x}", text) if isatty(stream) else text


def emit_json(document, stream=None, indent: int | None = 2) -> None:
    out(json_text(document, indent, stream or sys.stdout), stream)


def report_error(error: GradientError, as_json: bool) -> None:
    """Print the error; any key the server echoed back in its words is masked on the way out."""
    emit_json(error.to_dict(), sys.stderr, indent=None) if as_json else log(error.to_line())


def flush_stdout() -> None:
    """Flush stdout now, so that a full disk is an `io` error rather than a failure at exit."""
    out("", end="")


def silence_stdout() -> None:
    """Point stdout at devnull so that Python's own flush at exit cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class Progress:
    """Waiting shown on stderr: a live elapsed-time line on a terminal, one line per status change otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last = None

    def update(self, status: str, elapsed: float) -> None:
        """`status` comes from the server: it is made printable (and one line) on its way out."""
        status = one_line(status, 60)
        if self.live:
            out(f"{status.lower().replace('_', ' ')}... {elapsed:.0f} s ", self.stream, end="", lead="\r")
        elif status != self.last:
            out(f"status: {status} after {elapsed:.1f} s", self.stream)
        self.last = status

    def close(self) -> None:
        """End a live line (once: closing again prints nothing)."""
        if self.live and self.last is not None:
            out("", self.stream)
        self.last = None
