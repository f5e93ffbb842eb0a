"""Errors and exit codes: the one error type a command reports (one line, or one JSON object),
usage errors found after parsing, and the signal that ends a command like Ctrl-C.

Belongs here: the documented error types and what an error looks like. Does not belong here:
printing it (core.output) or mapping HTTP statuses to it (api.status).
"""
from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # 2 is argparse's own
ERROR_TYPES = ("config", "auth", "permission", "not_found", "bad_request", "rate_limit", "server", "timeout",
               "connection", "invalid_response", "parse", "io", "budget")


class GradientError(Exception):
    """A failure reported to the user as one line (or one JSON object) and exit 1."""

    def __init__(self, type_: str, message: str, *, status: int | None = None,
                 request_id: str | None = None, hint: str | None = None, raw: str | None = None):
        if type_ not in ERROR_TYPES:  # the documented set is a contract with --json users
            raise ValueError(f"undocumented error type {type_!r}")
        super().__init__(message)
        self.type, self.message, self.status, self.request_id = type_, message, status, request_id
        self.hint, self.raw, self.headers = hint, raw, None  # raw: the server's words whole; headers: its answer's

    def to_dict(self) -> dict:
        error = {"type": self.type, "message": self.message, "status": self.status, "request_id": self.request_id,
                 "hint": self.hint}
        return {"error": dict(error, raw=self.raw) if self.raw is not None else error}

    def to_line(self) -> str:
        return (f"error: {self.message}" + (f" (request id {self.request_id})" if self.request_id else "")
                + (f"; hint: {self.hint}" if self.hint else ""))


class UsageError(Exception):
    """Bad input found after argument parsing; main() hands it to parser.error (exit 2)."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP (args[0]), raised where the program is so every `finally` and `with` cleans up."""
