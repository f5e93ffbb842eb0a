"""The user's inputs: local files to send and text inputs (a file, or `-` for stdin), each
refused before any request when it is missing, too large or not a regular file; stdin that
nobody writes to never hangs a command; image formats told from their first bytes.

Belongs here: every byte read from the user's files or stdin. Does not belong here: the pricing
cache (models.prices) or writing files (core.outfiles).
"""
from __future__ import annotations

import os
import select
import stat

from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.output import warn
from gradient_inference.core.paths import read_regular_file, why

STDIN_WAIT = 1.0  # how long an open stdin pipe may stay silent before it is ignored
MAX_TEXT_BYTES = 64 << 20  # stdin, --messages and --input-file: larger input is refused


def read_local_file(path: str, max_bytes: int, what: str) -> bytes:
    """A local file to send, refused before any request when it is missing, too large, or not a
    regular file (a FIFO, a device, a socket or a folder is never opened in a way that blocks)."""
    try:
        return read_regular_file(path, max_bytes)
    except OSError as exc:
        raise GradientError("io", f"cannot read {what} {path}: {why(exc)}") from None


def read_text_input(path: str, stdin, what: str) -> str:
    """A text input named by the user: `-` is stdin, anything else a regular file, each at most
    MAX_TEXT_BYTES. Problems are usage errors (exit 2), found before any request."""
    if path == "-":
        return read_stdin(stdin)
    try:
        return decode_text(read_regular_file(path, MAX_TEXT_BYTES), f"{what} {path}")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {why(exc)}") from None


def decode_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        warn(f"{what} is not valid UTF-8; undecodable bytes were replaced")
        return data.decode("utf-8", "replace")


def stdin_state(stream, wait: float) -> str:
    """'ready' when stdin is a file, or a pipe that sends something (or closes) within `wait`;
    'silent' for an open pipe that nobody writes to (it must not hang the command);
    'none' for a terminal or no stdin at all."""
    if stream is None or stream.isatty():
        return "none"
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return "none"
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode):
        return "ready"
    try:
        ready, _, _ = select.select([fd], [], [], wait)
    except (OSError, ValueError):  # Windows cannot poll pipes: read them, as any CLI would
        return "ready"
    return "ready" if ready else "silent"


def stdin_has_data(stream) -> bool:
    """Whether stdin holds something right now, for a warning that it is ignored: a regular file
    with bytes, or a pipe with a byte ready (one byte is read: stdin is not used anyway). Never waits."""
    if stream is None or stream.isatty():
        return False
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            return info.st_size > 0
        if not stat.S_ISFIFO(info.st_mode) and not stat.S_ISSOCK(info.st_mode):
            return False  # /dev/null and other devices
        ready, _, _ = select.select([fd], [], [], 0)
        return bool(ready) and bool(os.read(fd, 1))
    except (OSError, ValueError):
        return False


def read_stdin(stream) -> str:
    """All of stdin, up to MAX_TEXT_BYTES (a usage error beyond that)."""
    if hasattr(stream, "buffer"):
        data = stream.buffer.read(MAX_TEXT_BYTES + 1)
    else:
        data = stream.read(MAX_TEXT_BYTES + 1).encode()
    if len(data) > MAX_TEXT_BYTES:
        raise UsageError(f"stdin is over the {MAX_TEXT_BYTES >> 20} MB limit")
    return decode_text(data, "stdin")


IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def sniff_image(head: bytes) -> str | None:
    """The image format from its first bytes (png, jpeg, webp, gif), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((name for magic, name in IMAGE_SIGNATURES if head.startswith(magic)), None)
