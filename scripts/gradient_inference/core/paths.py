"""Opening local files safely: a path is read only when it is a regular file, opened without
blocking (a FIFO, device, socket or folder is refused before anything is read), with a size cap.

Belongs here: the low-level checks every reader of a local path uses. Does not belong here:
reading the user's inputs (core.inputs) or writing files (core.outfiles).
"""
from __future__ import annotations

import os
import stat

FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
              (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def file_kind(mode: int) -> str | None:
    """What a path is when it is not a regular file ('a FIFO (named pipe)', 'a folder'...)."""
    return None if stat.S_ISREG(mode) else next((name for test, name in FILE_KINDS if test(mode)), "not a file")


def open_regular(path: str, follow_links: bool = True, own: bool = False) -> int:
    """A descriptor of a regular file, opened without blocking: a FIFO, device, socket or folder
    is refused before anything is read, and with `own` a file of another user. OSError on failure."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0)))
    info = os.fstat(fd)
    kind = file_kind(info.st_mode)
    if kind or (own and hasattr(os, "getuid") and info.st_uid != os.getuid()):
        os.close(fd)
        raise OSError(f"it is {kind}, not a regular file" if kind else "it is owned by another user")
    return fd


def read_regular_file(path: str, max_bytes: int, follow_links: bool = True, own: bool = False) -> bytes:
    """A small local file (see open_regular), refused over max_bytes. OSError on failure."""
    with os.fdopen(open_regular(path, follow_links, own), "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"it is over the {size_text(max_bytes)} limit")
    return data


def size_text(size: int) -> str:
    return f"{size / (1 << 20):g} MB" if size >= 1 << 20 else f"{size / 1024:g} KB"


def why(exc: OSError) -> str:
    return exc.strerror or str(exc)  # the OS's words, or the sentence read_regular_file gave


def new_temporary(folder: str, prefix: str, suffix: str, mode: int = 0o600) -> tuple:
    """(descriptor, path) of a new file in `folder` that no one else has: created exclusively
    under a random name, never through a link, as tempfile.mkstemp does, without importing
    tempfile (and with it shutil and random) into the price path's start-up. OSError on failure."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def remove_quietly(path: str | None) -> None:
    """Remove a file that may already be gone (a temporary file at any exit)."""
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass
