"""Budget reservations in the ledger: a call's worst case is held in the same transaction that
reads the day's spend, so that any number of processes started together never pass a daily budget
together. A reservation ends when its call's row is written (ledger.store.record, in that row's
transaction), and expires when its process is gone or after RESERVATION_SECONDS.

Belongs here: holding and reading reservations. Does not belong here: the budget's decisions and
words (models.budget) or the call rows (ledger.store).
"""
from __future__ import annotations

import os
import time

from gradient_inference.ledger.store import connect, ledger_path

RESERVATION_SECONDS = 3 * 3600.0  # a backstop: a process that is gone lets go at once


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
            gone = [(rid,) for rid, pid in database.execute("SELECT id, pid FROM reservations") if not alive(pid)]
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
