"""Opening local files safely: a path is read only when it is a regular file, opened without
blocking (a FIFO, device, socket or folder is refused before anything is read), with a size cap.

Belongs here: the low-level checks every reader of a local path uses. Does not belong here:
reading the user's inputs (core.inputs) or writing files (core.outfiles).
"""
from __future__ import annotations

import json
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


def new_temporary(folder: str, prefix: str, suffix: str) -> tuple:
    """(descriptor, path) of a new file in `folder` that no one else has (0600, created
    exclusively, never through a link). OSError on failure."""
    import tempfile  # here, not at the top: it brings shutil and random, which start-up does without

    return tempfile.mkstemp(suffix, prefix, folder)


def write_atomic(path: str, write) -> None:
    """A text file at `path`, whole or not at all: `write(handle)` fills a temporary file in the
    same folder, flushed to disk, then os.replace; no temporary file is left at any exit. OSError
    on failure."""
    temporary = None
    try:
        fd, temporary = new_temporary(os.path.dirname(os.path.abspath(path)), ".gradient-", ".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        temporary = None
    finally:  # also on Ctrl-C and SIGTERM: no stray temporary file, the old one untouched
        remove_quietly(temporary)


def write_json_atomic(path: str, document, indent: int | None = 1) -> None:
    """`document` as JSON at `path`, whole or not at all (write_atomic)."""
    write_atomic(path, lambda handle: json.dump(document, handle, indent=indent))


def write_lines_atomic(path: str, lines) -> None:
    """Lines of text at `path`, whole or not at all (write_atomic)."""
    write_atomic(path, lambda handle: handle.writelines(line + "\n" for line in lines))


def remove_quietly(path: str | None) -> None:
    """Remove a file that may already be gone (a temporary file at any exit)."""
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass
