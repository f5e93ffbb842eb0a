"""Local files: inputs read from disk or stdin, and output files written safely (a temporary file
beside the target, committed whole or not at all), with format sniffing.

Belongs here: every path the user names and every byte read from or written to local files.
Does not belong here: the cache of prices (gradient_prices) or what a command does with a file.
"""
from __future__ import annotations

import os
import stat
import time

from gradient_common import GradientError, UsageError, read_regular_file, warn, why
from gradient_http import iter_body

STDIN_WAIT = 1.0  # how long an open stdin pipe may stay silent before it is ignored
MAX_TEXT_BYTES = 64 << 20  # stdin, --messages and --input-file: larger input is refused
UNIQUE_TRIES = 100  # default names: name-2 ... name-100 before giving up


# ---------------------------------------------------------------- inputs

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
    import select

    try:
        ready, _, _ = select.select([fd], [], [], wait)
    except (OSError, ValueError):  # Windows cannot poll pipes: read them, as any CLI would
        return "ready"
    return "ready" if ready else "silent"


def read_stdin(stream) -> str:
    """All of stdin, up to MAX_TEXT_BYTES (a usage error beyond that)."""
    if hasattr(stream, "buffer"):
        data = stream.buffer.read(MAX_TEXT_BYTES + 1)
    else:
        data = stream.read(MAX_TEXT_BYTES + 1).encode()
    if len(data) > MAX_TEXT_BYTES:
        raise UsageError(f"stdin is over the {MAX_TEXT_BYTES >> 20} MB limit")
    return decode_text(data, "stdin")


# ---------------------------------------------------------------- formats

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


# ---------------------------------------------------------------- output files (images, audio)

def planned_paths(output: str | None, n: int, extension: str, stamp: str, prefix: str,
                  known_suffixes) -> list:
    """Where the files go: --output (a file name, or an existing folder), else ./<prefix>-<stamp>;
    with n > 1, -1, -2... before the extension."""
    if output and not os.path.isdir(output):
        base, suffix = os.path.splitext(output)
        if suffix.lower() not in known_suffixes:
            base, suffix = output, ""
    else:
        base, suffix = os.path.join(output or ".", f"{prefix}-{stamp}"), ""
    suffix = suffix or extension
    if n == 1:
        return [base + suffix]
    return [f"{base}-{index}{suffix}" for index in range(1, n + 1)]


def with_extension(path: str, extension: str, known_suffixes) -> str:
    """The path with the extension of the file's real format (.jpeg stays for JPEG)."""
    base, suffix = os.path.splitext(path)
    if suffix.lower() == extension or {suffix.lower(), extension} == {".jpeg", ".jpg"}:
        return path
    return (base if suffix.lower() in known_suffixes else path) + extension


def check_targets(paths: list, force: bool, unique: bool = False) -> None:
    """Before any request: the folder exists and is writable, and nothing would be overwritten
    (default names, `unique`, step aside from an existing file instead)."""
    import tempfile

    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise GradientError("io", f"the folder {folder} does not exist")
        try:  # a real probe: os.access says yes to root even where nothing can be created
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            raise GradientError("io", f"the folder {folder} is not writable ({why(exc)})") from None
        if os.path.isdir(path):
            raise GradientError("io", f"{path} is a folder")
        if os.path.exists(path) and not (force or unique):
            raise GradientError("io", f"{path} exists; use --force to overwrite it")


def numbered(path: str, number: int) -> str:
    base, suffix = os.path.splitext(path)
    return f"{base}-{number}{suffix}"


def temporary_beside(target: str) -> tuple:
    """(descriptor, path) of a new temporary file in the target's folder, to be renamed into place
    once whole; it has the permissions the user's umask gives, not mkstemp's 0600."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, path = tempfile.mkstemp(prefix=".gradient-", suffix=".part", dir=folder)
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        return fd, path
    except OSError as exc:
        raise GradientError("io", f"cannot write in {folder}: {why(exc)}") from None


class OutputFile:
    """A temporary file beside the target, made when the first byte arrives and kept only when it
    holds a whole file of the expected kind: committed by renaming (or linking, which refuses to
    overwrite; a default name, `unique`, takes the next free -2, -3...), removed on any failure,
    Ctrl-C or SIGTERM. `sniff` names the format from the first bytes; `extensions` maps it to a
    suffix. The file gets the permissions the user's umask gives, not mkstemp's 0600."""

    def __init__(self, target: str, force: bool, sniff, extensions: dict, max_bytes: int,
                 what: str = "file", unique: bool = False):
        self.target, self.force, self.sniff, self.extensions = target, force, sniff, extensions
        self.max_bytes, self.what, self.unique = max_bytes, what, unique
        self.size, self.kind, self._head = 0, None, b""
        self.temporary = self.handle = None

    def _open(self) -> None:
        fd, self.temporary = temporary_beside(self.target)
        self.handle = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        if self.handle is None:
            self._open()
        if len(self._head) < 16:
            self._head += bytes(data[:16])
        self.size += len(data)
        if self.size > self.max_bytes:
            raise GradientError("invalid_response", f"the {self.what} is larger than {self.max_bytes >> 20} MB")
        try:
            self.handle.write(data)
        except OSError as exc:
            raise GradientError("io", f"cannot write {self.target}: {why(exc)}") from None

    def commit(self) -> dict:
        try:
            if self.handle is not None:
                self.handle.close()
        except OSError as exc:
            raise GradientError("io", f"cannot write {self.target}: {why(exc)}") from None
        self.kind = self.sniff(self._head)
        if self.kind is None:
            raise GradientError("invalid_response", f"the server sent something that is not {self.what} "
                                f"({', '.join(sorted(set(self.extensions)))} expected)")
        final = with_extension(self.target, self.extensions[self.kind], set(self.extensions.values()) | {".jpeg"})
        for attempt in range(1, UNIQUE_TRIES + 1):
            candidate = final if attempt == 1 else numbered(final, attempt)
            try:
                if self.force:
                    os.replace(self.temporary, candidate)
                else:
                    os.link(self.temporary, candidate)
                    os.unlink(self.temporary)
                break
            except FileExistsError:
                if not self.unique or attempt == UNIQUE_TRIES:
                    raise GradientError("io", f"{candidate} exists; use --force to overwrite it") from None
            except OSError as exc:
                raise GradientError("io", f"cannot save {candidate}: {why(exc)}") from None
        self.temporary = None
        return {"path": candidate, "bytes": self.size, "format": self.kind}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.handle is not None:
            self.handle.close()
        if self.temporary:
            try:
                os.unlink(self.temporary)
            except OSError:
                pass


def save_response(client, response, output: OutputFile) -> dict:
    """Stream a response body into an OutputFile (within the timeout) and commit it."""
    with output:
        for chunk in iter_body(response, time.monotonic() + client.settings.timeout):
            output.write(chunk)
        return output.commit()
