"""Local files: inputs read from disk or stdin, and output files written safely (a temporary file
beside the target, committed whole or not at all), with format sniffing.

Belongs here: every path the user names and every byte read from or written to local files.
Does not belong here: the cache of prices (gradient_prices) or what a command does with a file.
"""
from __future__ import annotations

import os
import stat
import time

from gradient_common import GradientError, warn
from gradient_http import iter_body

STDIN_WAIT = 1.0  # how long an open stdin pipe may stay silent before it is ignored


# ---------------------------------------------------------------- inputs

def read_local_file(path: str, max_bytes: int, what: str) -> bytes:
    """A local file to send, refused (before any request) when missing or too large."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise GradientError("io", f"{what} {path} is over the {max_bytes / 1048576:.0f} MB limit "
                                      f"({size:,} bytes)")
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise GradientError("io", f"cannot read {what} {path}: {exc.strerror or exc}") from None


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
    return decode_text(stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode(), "stdin")


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


def check_targets(paths: list, force: bool) -> None:
    """Before any request: the folder exists and is writable, and nothing would be overwritten."""
    import tempfile

    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise GradientError("io", f"the folder {folder} does not exist")
        try:  # a real probe: os.access says yes to root even where nothing can be created
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            raise GradientError("io", f"the folder {folder} is not writable ({exc.strerror or exc})") from None
        if os.path.isdir(path):
            raise GradientError("io", f"{path} is a folder")
        if os.path.exists(path) and not force:
            raise GradientError("io", f"{path} exists; use --force to overwrite it")


class OutputFile:
    """A temporary file beside the target, kept only when it holds a whole file of the expected
    kind: committed by renaming (or linking, which refuses to overwrite), removed on any failure
    or Ctrl-C. `sniff` names the format from the first bytes; `extensions` maps it to a suffix."""

    def __init__(self, target: str, force: bool, sniff, extensions: dict, max_bytes: int,
                 what: str = "file"):
        self.target, self.force, self.sniff, self.extensions = target, force, sniff, extensions
        self.max_bytes, self.what = max_bytes, what
        self.size, self.kind, self._head = 0, None, b""
        import tempfile

        folder = os.path.dirname(os.path.abspath(target))
        try:
            fd, self.temporary = tempfile.mkstemp(prefix=".gradient-", suffix=".part", dir=folder)
        except OSError as exc:
            raise GradientError("io", f"cannot write in {folder}: {exc.strerror or exc}") from None
        self.handle = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        if len(self._head) < 16:
            self._head += bytes(data[:16])
        self.size += len(data)
        if self.size > self.max_bytes:
            raise GradientError("invalid_response", f"the {self.what} is larger than {self.max_bytes >> 20} MB")
        try:
            self.handle.write(data)
        except OSError as exc:
            raise GradientError("io", f"cannot write {self.target}: {exc.strerror or exc}") from None

    def commit(self) -> dict:
        try:
            self.handle.close()
        except OSError as exc:
            raise GradientError("io", f"cannot write {self.target}: {exc.strerror or exc}") from None
        self.kind = self.sniff(self._head)
        if self.kind is None:
            raise GradientError("invalid_response", f"the server sent something that is not {self.what} "
                                f"({', '.join(sorted(set(self.extensions)))} expected)")
        final = with_extension(self.target, self.extensions[self.kind], set(self.extensions.values()) | {".jpeg"})
        try:
            if self.force:
                os.replace(self.temporary, final)
            else:
                os.link(self.temporary, final)
                os.unlink(self.temporary)
        except FileExistsError:
            raise GradientError("io", f"{final} exists; use --force to overwrite it") from None
        except OSError as exc:
            raise GradientError("io", f"cannot save {final}: {exc.strerror or exc}") from None
        self.temporary = None
        return {"path": final, "bytes": self.size, "format": self.kind}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
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
