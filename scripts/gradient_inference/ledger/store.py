"""The usage ledger's store: one SQLite row for every API call any command makes (what it cost,
where the price came from, tokens, time, and for chat the conversation), its schema and
migrations, and the one constructor of a row.

Belongs here: the database file, writing rows and reading them. Does not belong here: prices
(models.prices), budgets (models.budget) or reports (ledger.reports). A ledger that cannot be
opened or written costs a warning, never the call.
"""
from __future__ import annotations

import functools
import json
import os
import time

from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.core.paths import file_kind, new_temporary, remove_quietly, why
from gradient_inference.core.providers import mask
from gradient_inference.core.urls import target
from gradient_inference.core.text import whole_characters

BUSY_TIMEOUT = 10.0
# Each step takes the schema from its index to the next version; PRAGMA user_version holds it.
MIGRATIONS = (
    """CREATE TABLE calls (
        id INTEGER PRIMARY KEY, ts TEXT NOT NULL, script TEXT NOT NULL, provider TEXT, host TEXT,
        model TEXT, api TEXT, outcome TEXT NOT NULL, input_tokens INTEGER, output_tokens INTEGER,
        cached_tokens INTEGER, reasoning_tokens INTEGER, cost_usd REAL, price_source TEXT,
        request_id TEXT, duration_ms INTEGER, conversation_id TEXT, messages TEXT, answer TEXT)""",
    """ALTER TABLE calls ADD COLUMN batch_id TEXT;
       CREATE INDEX calls_ts ON calls (ts);
       CREATE INDEX calls_conversation ON calls (conversation_id, id)""",
    """ALTER TABLE calls ADD COLUMN requested_model TEXT;
       UPDATE calls SET cost_usd = 0, price_source = 'free: a model listing' WHERE script = 'models'
           AND cost_usd IS NULL""",
    """CREATE TABLE reservations (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, pid INTEGER NOT NULL,
        amount REAL NOT NULL, expires REAL NOT NULL)""",
    """ALTER TABLE reservations ADD COLUMN batch_id TEXT;
       ALTER TABLE reservations ADD COLUMN requests INTEGER;
       ALTER TABLE reservations ADD COLUMN priced INTEGER NOT NULL DEFAULT 1""",
    # an answer's tool calls and the tools offered, so that -c --tool-result can answer them
    """ALTER TABLE calls ADD COLUMN tool_turn TEXT""",
    # a hold's owner (its process's lock file, see ledger.reservations), whether its call was sent,
    # and whether it outlived its process after sending (kept, counted, until the day ends)
    """ALTER TABLE reservations ADD COLUMN owner TEXT;
       ALTER TABLE reservations ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE reservations ADD COLUMN possibly_billed INTEGER NOT NULL DEFAULT 0""",
)
NOT_BILLED = "not billed: it failed before an answer"
COLUMNS = ("ts", "script", "provider", "host", "model", "api", "outcome", "input_tokens", "output_tokens",
           "cached_tokens", "reasoning_tokens", "cost_usd", "price_source", "request_id", "duration_ms",
           "conversation_id", "messages", "answer", "batch_id", "requested_model", "tool_turn")


def ledger_path(environ=None) -> str | None:
    """GRADIENT_USAGE_DB, else $XDG_DATA_HOME (or ~/.local/share)/gradient-inference/usage.db;
    None when GRADIENT_NO_LOG is set."""
    environ = os.environ if environ is None else environ
    if environ.get("GRADIENT_NO_LOG", "").strip() not in ("", "0"):
        return None
    if environ.get("GRADIENT_USAGE_DB", "").strip():
        return os.path.expanduser(environ["GRADIENT_USAGE_DB"].strip())
    data = environ.get("XDG_DATA_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "gradient-inference", "usage.db")


def content_logged(environ=None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get("GRADIENT_LOG_CONTENT", "1").strip() != "0"


def connect(path: str, create: bool = True):
    """An open, migrated ledger: WAL so that readers never block writers, a busy timeout so that
    parallel processes wait instead of failing. A new ledger is made whole in a temporary file
    (0600, its schema, WAL) and linked into place, so that no process ever writes into a half-made
    one. A path that is not a regular file (a FIFO, a device, a link) is refused without blocking."""
    import sqlite3

    if create and not os.path.lexists(path):
        make(path)
    # stat, never open and close: closing any descriptor of the file would drop the POSIX locks of
    # every SQLite connection this process holds on it (other threads'), and with them rows
    info = os.lstat(path)
    kind = "a link" if os.path.islink(path) else file_kind(info.st_mode)
    if kind:
        raise OSError(f"it is {kind}, not a regular file")
    warn_if_shared(path, info)
    database = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    database.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
    migrate(database)
    return database


def make(path: str) -> None:
    import sqlite3

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, temporary = new_temporary(folder, ".usage-", ".db")  # 0600
    os.close(fd)
    try:
        database = sqlite3.connect(temporary, isolation_level=None)
        try:
            database.execute("PRAGMA journal_mode = WAL")
            migrate(database)
        finally:
            database.close()
        try:
            os.link(temporary, path)  # never replaces a ledger another process made meanwhile
        except FileExistsError:
            pass
    finally:
        for leftover in (temporary, temporary + "-wal", temporary + "-shm"):
            remove_quietly(leftover)


def warn_if_shared(path: str, info) -> None:
    """A ledger another user owns, or others may write, could be read or changed by them."""
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        shared_once(path, "owned by another user" if info.st_uid != os.getuid() else "writable by group or others")


@functools.lru_cache(maxsize=None)
def shared_once(path: str, how: str) -> None:
    """The warning of warn_if_shared, said once a process for each ledger (every call opens it)."""
    warn(f"the usage ledger {path} is {how}: it holds prompts and spend; run: chmod 600 {path}, "
         "or use your own GRADIENT_USAGE_DB")


def migrate(database) -> None:
    """Bring the schema forward, one version at a time, each step in its own transaction; a ledger
    of a newer version is refused (ValueError), never written in a shape it does not have."""
    version = database.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise ValueError(f"it is of schema version {version}, newer than this version reads ({len(MIGRATIONS)}): "
                         "update gradient-inference, or move it aside")
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        database.execute("BEGIN IMMEDIATE")
        try:
            if database.execute("PRAGMA user_version").fetchone()[0] == number - 1:  # unless another process did
                for statement in filter(str.strip, step.split(";")):
                    database.execute(statement)
                database.execute(f"PRAGMA user_version = {number}")
            database.execute("COMMIT")
        except Exception:
            database.execute("ROLLBACK")
            raise


def record(row, path: str | None = None, release=None) -> bool:
    """Add one row (a dict), or many in one transaction (any iterable of them, read as it is
    written), ending the budget reservation `release` (an id, or a list of them) in the same
    transaction; any failure (a
    read-only folder, a corrupt file, a full disk) is a warning."""
    import sqlite3

    path = ledger_path() if path is None else path
    if path is None:
        return False
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    values = [row_values(row, stamp)] if isinstance(row, dict) else (row_values(one, stamp) for one in row)
    try:
        database = connect(path)
        try:
            with database:  # a transaction: all the rows or none
                database.execute("BEGIN")
                database.executemany(f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                                     values)
                released = release if isinstance(release, list) else [] if release is None else [release]
                database.executemany("DELETE FROM reservations WHERE id = ?", [(one,) for one in released])
        finally:
            database.close()
        return True
    except (sqlite3.Error, OSError, ValueError) as exc:  # the ledger never costs the call
        warn(f"the usage ledger {path} could not be written ({why(exc) if isinstance(exc, OSError) else exc}); "
             "the call itself went through")
        return False


def mark_sent(reservation: int, path: str | None = None) -> None:
    """A budget hold whose call is about to be sent: if its process dies from here on, the call may
    have been billed, and the hold is kept until the day ends (ledger.reservations). A ledger that
    cannot be written now leaves the hold as it is, which the budget counts all the same."""
    import sqlite3

    path = ledger_path() if path is None else path
    if path is None:
        return
    try:
        database = connect(path)
        try:
            database.execute("UPDATE reservations SET sent = 1 WHERE id = ?", (reservation,))
        finally:
            database.close()
    except (sqlite3.Error, OSError, ValueError):
        pass


def row_values(row: dict, stamp: str) -> list:
    """A row's values as stored: every text masked as printed output is (keys of all providers, key
    files, the DigitalOcean token, an MCP authorization), lone surrogates replaced."""
    values = dict.fromkeys(COLUMNS)
    values.update({k: v for k, v in row.items() if k in COLUMNS})
    values["ts"] = values["ts"] or stamp
    if not content_logged():
        values["messages"] = values["answer"] = values["tool_turn"] = None
    return [mask(whole_characters(values[c])) if isinstance(values[c], str) else values[c] for c in COLUMNS]


def call_row(script: str, model: str | None, api: str, settings=None, usage: dict | None = None, **fields) -> dict:
    """One call's row: the one constructor for single calls, local batch items and remote batch
    results. `usage` is api.usage's normalized usage; messages may be given as a list."""
    row = {"script": script, "model": model, "api": api, "provider": getattr(settings, "provider_name", None),
           "host": target(settings.base_url).host if settings and settings.base_url else None}
    return dict(row, **row_fields(usage, **fields))


def row_fields(usage: dict | None = None, **fields) -> dict:
    """Columns from a call's normalized usage (api.usage) and other fields; messages as JSON text."""
    found = {}
    if usage:
        found.update(input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens"),
                     cached_tokens=usage.get("cached_input_tokens"), reasoning_tokens=usage.get("reasoning_tokens"))
    for name in ("messages", "tool_turn"):
        if isinstance(fields.get(name), (list, dict)):
            fields[name] = json.dumps(fields[name], ensure_ascii=False)
    return dict(found, **fields)


class Entry:
    """One call's row, filled while the call runs and written when it ends, whatever the outcome:
    `with Entry("chat", model, "chat", settings, skip=no_log) as entry: ... entry.update(usage=...)`.
    A call that ends in an error before any usage or cost was set was not answered, so it cost
    nothing and says so; one that was answered keeps its usage and cost (None only when unpriced)."""

    def __init__(self, script: str, model: str | None, api: str, settings=None, skip: bool = False, keep=None,
                 reservation: int | None = None):
        """keep: where the finished row goes instead of straight to the ledger (a batch writes
        its rows many at a time); reservation: the budget reservation the row replaces."""
        self.skip, self.keep, self.answered, self.reservation = skip, keep, False, reservation
        self.started = time.monotonic()
        self.row = call_row(script, model, api, settings)

    def update(self, usage: dict | None = None, **fields) -> None:
        self.row.update(row_fields(usage, **fields))
        self.answered = self.answered or bool(usage) or "cost_usd" in fields

    def __enter__(self):
        if self.reservation is not None:  # from here the call may be sent: its hold outlives a killed process
            mark_sent(self.reservation)
        return self

    def __exit__(self, kind, error, trace):
        if self.skip:
            if self.reservation is not None:
                record([], release=self.reservation)
            return False
        outcome = "ok" if kind is None else error.type if isinstance(error, GradientError) else \
            "interrupted" if kind is not None and not issubclass(kind, Exception) else "error"
        self.row.update(outcome=outcome, duration_ms=round((time.monotonic() - self.started) * 1000))
        if outcome != "ok" and not self.answered:
            self.row.update(cost_usd=0.0, price_source=NOT_BILLED)
        if self.keep is not None:  # the keeper writes the row later, and ends its reservation then
            self.keep(dict(self.row, reservation=self.reservation))
        else:
            record(self.row, release=self.reservation)
        return False


# ---------------------------------------------------------------- reading it back


def rows(query: str, parameters=(), path: str | None = None) -> list:
    """Rows of a read-only query, as dicts; [] when there is no ledger yet."""
    import sqlite3

    path = ledger_path() if path is None else path
    if path is None or not os.path.lexists(path):
        return []
    try:
        database = connect(path, create=False)
        try:
            cursor = database.execute(query, parameters)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, values)) for values in cursor.fetchall()]
        finally:
            database.close()
    except (sqlite3.Error, OSError, ValueError) as exc:
        reason = why(exc) if isinstance(exc, OSError) else "it is not a usage ledger (damaged, or not SQLite)" \
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) else str(exc)
        raise GradientError("io", f"the usage ledger {path} cannot be read: {reason}",
                            hint="move it aside (a new one is made on the next call), or point GRADIENT_USAGE_DB "
                                 "at another file") from None
