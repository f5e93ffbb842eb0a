"""Budget reservations in the ledger: a call's worst case is held in the same transaction that
reads the day's spend, so that any number of processes started together never pass a daily budget
together. A reservation ends when its call's row is written (ledger.store.record, in that row's
transaction), and expires when its process is gone or after RESERVATION_SECONDS.

A remote batch job is held the same way from its submission until its results are recorded:
reports list it as pending with its worst case.

Belongs here: holding and reading reservations. Does not belong here: the budget's decisions and
words (models.budget) or the call rows (ledger.store).
"""
from __future__ import annotations

import os
import time

from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.ledger.store import connect, ledger_path, rows

RESERVATION_SECONDS = 3 * 3600.0  # a backstop: a process that is gone lets go at once
BATCH_SECONDS = 26 * 3600.0  # a remote job's worst case is held for the Batch API's 24 h window, and a margin


def alive(pid: int) -> bool:
    """Whether a process of this machine still runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


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
    database = connect(path)
    try:
        database.execute("BEGIN IMMEDIATE")
        try:
            gone = [(rid,) for rid, pid in database.execute("SELECT id, pid FROM reservations WHERE batch_id IS NULL")
                    if not alive(pid)]  # a remote job's hold outlives the process that submitted it
            database.executemany("DELETE FROM reservations WHERE id = ?", gone)
            database.execute("DELETE FROM reservations WHERE expires < ?", (now,))
            spent, unpriced = database.execute("SELECT TOTAL(cost_usd), SUM(cost_usd IS NULL) FROM calls "
                                               "WHERE ts >= ?", (today,)).fetchone()
            held = database.execute("SELECT TOTAL(amount) FROM reservations WHERE ts >= ?", (today,)).fetchone()[0]
            committed = (spent or 0.0) + (held or 0.0)
            if committed + amount > limit:
                database.execute("ROLLBACK")
                return None, committed, unpriced or 0
            cursor = database.execute("INSERT INTO reservations (ts, pid, amount, expires) VALUES (?, ?, ?, ?)",
                                      (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), os.getpid(), amount,
                                       now + RESERVATION_SECONDS))
            database.execute("COMMIT")
            return cursor.lastrowid, committed, unpriced or 0
        except BaseException:
            if database.in_transaction:
                database.execute("ROLLBACK")
            raise
    finally:
        database.close()


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
