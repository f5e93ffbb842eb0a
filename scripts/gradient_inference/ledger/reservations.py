"""Budget reservations in the ledger: a call's worst case is held in the same transaction that
reads the day's spend, so that any number of processes started together never pass a daily budget
together. A reservation ends when its call's row is written (ledger.store.record, in that row's
transaction). Its owner is its process's lock file (flock, held for the process's life and let go
by the kernel however it ends), so that neither pid reuse nor a pid namespace can keep a dead hold
or drop a live one. When the owner is gone, a hold whose call was never sent ends; one whose call
was sent (ledger.store.mark_sent) may have been billed, so it is kept, counted and shown as
possibly billed, until the UTC day it was made in ends. RESERVATION_SECONDS is a backstop for a
live process that hangs.

A remote batch job is held the same way from its submission until its results are recorded:
reports list it as pending with its worst case.

Belongs here: holding and reading reservations. Does not belong here: the budget's decisions and
words (models.budget) or the call rows (ledger.store).
"""
from __future__ import annotations

import fcntl
import functools
import os
import re
import time

from gradient_inference.core.clock import parse_time
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.core.paths import remove_quietly
from gradient_inference.ledger.store import connect, ledger_path, rows

RESERVATION_SECONDS = 3 * 3600.0  # a backstop: a process that is gone lets go at once
BATCH_SECONDS = 26 * 3600.0  # a remote job's worst case is held for the Batch API's 24 h window, and a margin
OWNERS = ".gradient-holds"  # the folder beside the ledger with a lock file for each process that holds
SWEEP = 64  # lock files of ended processes removed at most per hold
PROBE = "INSERT INTO calls (ts, script, outcome) VALUES ('probe', 'probe', 'probe')"


def alive(pid: int) -> bool:
    """Whether a process of this machine still runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def owners_folder(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), OWNERS)


@functools.lru_cache(maxsize=None)
def owner_token(folder: str) -> str:
    """This process's token: its lock file in `folder`, locked for the process's life (the
    descriptor is never closed; the kernel lets go when the process ends, however it ends). The
    file is locked before it takes its name, so that no sweep ever sees it unlocked."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    token = f"{os.getpid()}-{os.urandom(8).hex()}"
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    temporary = os.path.join(folder, f".{token}.new")
    fd = os.open(temporary, flags, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(temporary, os.path.join(folder, f"{token}.lock"))
    return token


def owner_alive(folder: str, token: str) -> bool:
    """Whether the process that owns `token` still runs: its lock file is still locked. A file that
    is gone, or whose lock can be taken, belongs to an ended process (and is removed)."""
    if not re.fullmatch(r"[0-9]+-[0-9a-f]{16}", token or ""):
        return False
    path = os.path.join(folder, f"{token}.lock")
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: a hold is never dropped on a guess
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        remove_quietly(path)
        return False
    finally:
        os.close(fd)


def sweep(folder: str) -> None:
    """Remove the lock files of ended processes (at most SWEEP a time), so the folder stays small."""
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".lock")][:SWEEP]
    except OSError:
        return
    for name in names:
        owner_alive(folder, name[:-len(".lock")])


def day_end(stamp: str) -> float:
    """The end of the UTC day a hold was made in."""
    return (parse_time(stamp[:10] + "T00:00:00Z") or time.time()) + 86400


def settle_orphans(database, folder: str, now: float) -> None:
    """Holds whose process is gone: ended when their call was never sent, else kept as possibly
    billed until their day ends. Rows from before owners were recorded fall back to the pid."""
    found = database.execute("SELECT id, ts, pid, owner, sent FROM reservations "
                             "WHERE batch_id IS NULL AND possibly_billed = 0").fetchall()
    for rid, stamp, pid, owner, sent in found:
        if owner_alive(folder, owner) if owner else alive(pid):
            continue
        if sent:
            database.execute("UPDATE reservations SET possibly_billed = 1, expires = ? WHERE id = ?",
                             (day_end(stamp), rid))
        else:
            database.execute("DELETE FROM reservations WHERE id = ?", (rid,))


def hold(amount: float, limit: float, now: float | None = None) -> tuple:
    """(reservation id or None, what today's calls and live reservations add up to, how many of
    today's calls are unpriced): the amount is held only when it fits under `limit`, decided in
    one immediate transaction with every other process's holds. OSError, ValueError or
    sqlite3.Error when the ledger cannot be read or written; the caller refuses the call then."""
    path = ledger_path()
    if path is None:
        raise ValueError("GRADIENT_NO_LOG is set, so no spend is recorded to hold a daily budget against")
    now = time.time() if now is None else now
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    folder = owners_folder(path)
    database = connect(path)
    try:
        owner = owner_token(folder)
        sweep(folder)
        database.execute("BEGIN IMMEDIATE")
        try:
            settle_orphans(database, folder, now)
            database.execute("DELETE FROM reservations WHERE expires < ?", (now,))
            database.execute("SAVEPOINT probe")  # every part of the ledger must take a row, or no call goes out
            database.execute(PROBE)
            database.execute("ROLLBACK TO probe")
            database.execute("RELEASE probe")
            spent, unpriced = database.execute("SELECT TOTAL(cost_usd), SUM(cost_usd IS NULL) FROM calls "
                                               "WHERE ts >= ?", (today,)).fetchone()
            held = database.execute("SELECT TOTAL(amount) FROM reservations WHERE ts >= ?", (today,)).fetchone()[0]
            committed = (spent or 0.0) + (held or 0.0)
            if committed + amount > limit:
                database.execute("COMMIT")  # the orphans settled above stay settled; nothing is held
                return None, committed, unpriced or 0
            cursor = database.execute("INSERT INTO reservations (ts, pid, amount, expires, owner) VALUES (?, ?, ?, ?, ?)",
                                      (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), os.getpid(), amount,
                                       now + RESERVATION_SECONDS, owner))
            database.execute("COMMIT")
            return cursor.lastrowid, committed, unpriced or 0
        except BaseException:
            if database.in_transaction:
                database.execute("ROLLBACK")
            raise
    finally:
        database.close()


def possibly_billed(path: str | None = None) -> list:
    """Holds that outlived their process after their call was sent: when, and the worst case kept."""
    return rows("SELECT ts AS held_at, amount AS worst_case_usd FROM reservations WHERE possibly_billed = 1 "
                "ORDER BY id", (), path)


def keep_for_batch(hold_id: int | None, batch_id: str, worst: float | None, requests: int,
                   now: float | None = None) -> None:
    """A submitted remote job recorded as pending: its budget hold (if any) becomes the job's, kept
    until its results are recorded, else a new pending row; a ledger that cannot be written is a
    warning (the job is submitted already)."""
    import sqlite3

    path = ledger_path()
    if path is None:
        return
    now = time.time() if now is None else now
    try:
        database = connect(path)
        try:
            with database:
                database.execute("BEGIN IMMEDIATE")
                if hold_id is not None:
                    database.execute("UPDATE reservations SET batch_id = ?, requests = ?, expires = ? WHERE id = ?",
                                     (batch_id, requests, now + BATCH_SECONDS, hold_id))
                else:
                    database.execute("INSERT INTO reservations (ts, pid, amount, expires, batch_id, requests, priced) "
                                     "VALUES (?, 0, ?, ?, ?, ?, ?)",
                                     (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), worst or 0.0,
                                      now + BATCH_SECONDS, batch_id, requests, int(worst is not None)))
        finally:
            database.close()
    except (sqlite3.Error, OSError, ValueError) as exc:
        warn(f"the usage ledger could not record batch {batch_id} as pending ({exc}); its spend shows once its "
             "results are fetched")


def pending(path: str | None = None) -> list:
    """Remote jobs submitted whose results are not recorded yet: batch_id, submitted, worst case."""
    return [dict(row, worst_case_usd=row["worst_case_usd"] if row.pop("priced") else None) for row in rows(
        "SELECT batch_id, ts AS submitted, requests, amount AS worst_case_usd, priced FROM reservations "
        "WHERE batch_id IS NOT NULL ORDER BY id", (), path)]


def pending_holds(batch_id: str) -> list:
    """The ids of the reservations that hold a remote job's worst case (none once its results are in)."""
    try:
        return [row["id"] for row in rows("SELECT id FROM reservations WHERE batch_id = ?", (batch_id,))]
    except GradientError:  # a ledger that cannot be read says nothing about the job
        return []
