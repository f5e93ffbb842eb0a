"""Output files: where they go (a name, a folder, or a default name that steps aside), checked
before any request, and written to a temporary file beside the target that is put in place
whole or not at all (errors, Ctrl-C and SIGTERM leave nothing behind).

Belongs here: every file a command writes for the user. Does not belong here: what goes into
them, or the pricing cache and the ledger (models.prices, ledger.store).
"""
from __future__ import annotations

import os

from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import log
from gradient_inference.core.paths import new_temporary, remove_quietly, why

UNIQUE_TRIES = 100  # default names: name-2 ... name-100 before giving up


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
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise GradientError("io", f"the folder {folder} does not exist")
        try:  # a real probe: os.access says yes to root even where nothing can be created
            fd, probe = new_temporary(folder, ".gradient-", ".probe")
            os.close(fd)
            remove_quietly(probe)
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
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, path = new_temporary(folder, ".gradient-", ".part")
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        return fd, path
    except OSError as exc:
        raise GradientError("io", f"cannot write in {folder}: {why(exc)}") from None


def put_in_place(temporary: str, target: str, replace: bool) -> None:
    """A whole temporary file moved to its target: renamed over it when `replace`, else linked,
    which never replaces a file made meanwhile (FileExistsError) and then unlinked."""
    if replace:
        os.replace(temporary, target)
    else:
        os.link(temporary, target)
        os.unlink(temporary)


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
                put_in_place(self.temporary, candidate, self.force)
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
        remove_quietly(self.temporary)


def renamed_note(asked: str | None, written: list) -> str | None:
    """When the files written are not named as --output asked (another suffix for the real format,
    numbering for several files), the words that say which names were written; else None."""
    if not asked or os.path.isdir(asked) or written == [asked]:
        return None
    return f"wrote {', '.join(written)} (not {asked}: " + (
        "several files are numbered" if len(written) > 1 else "its suffix follows the real format") + ")"


def say_renamed(asked: str | None, written: list) -> None:
    """renamed_note() on stderr, when there is one."""
    note = renamed_note(asked, written)
    if note:
        log(note)
