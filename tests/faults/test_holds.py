"""Trust, third round: holds keep what may have been billed. A hold's owner is its process's lock
file, so pid reuse and pid namespaces neither keep a dead hold nor drop a live one; a call killed
after sending keeps its worst case counted until the day ends (shown as possibly billed); under a
budget a ledger any part of which cannot be written refuses."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import gradient_chat
import gradient_usage
from conftest import SCRIPTS
from fakeapi import Reply
from gradient_inference.ledger import reservations, store

CHAT = "/v1/chat/completions"
MODEL = "openai-gpt-oss-120b"  # $0.10 in, $0.70 out per 1M tokens in the snapshot
ANSWER = {"id": "c", "model": MODEL, "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
WORST = round((1 * 0.1 + 100_000 * 0.7) / 1e6, 8)  # a one-character prompt, --max-tokens 100000: $0.07


@pytest.fixture(autouse=True)
def answering(api):
    api.json("POST", CHAT, ANSWER)


def ledger() -> sqlite3.Connection:
    return sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])


def budget_call(api, budget: str) -> int:
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", MODEL,
                               "--max-tokens", "100000", "--daily-budget", budget])


def test_a_call_killed_after_sending_keeps_its_worst_case_until_the_day_ends(api, capsys):
    api.routes[("POST", CHAT)] = [Reply(json=ANSWER, delay=30)]
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin",
                                "--prompt", "q", "--model", MODEL, "--max-tokens", "100000", "--daily-budget", "0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 20
    while not api.calls("POST", CHAT) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.calls("POST", CHAT), process.stderr.read()
    process.send_signal(signal.SIGKILL)  # no handler runs: the row is never written
    process.wait()
    api.routes[("POST", CHAT)] = [Reply(json=ANSWER)]
    assert budget_call(api, "0.1") == 1  # 0.07 possibly billed + 0.07 would pass 0.1
    assert "would pass the daily budget" in capsys.readouterr().err
    kept = ledger().execute("SELECT possibly_billed, sent, expires FROM reservations").fetchall()
    assert [(k[0], k[1]) for k in kept] == [(1, 1)] and kept[0][2] > time.time() + 60
    assert gradient_usage.main(["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["possibly_billed"][0]["worst_case_usd"] == pytest.approx(WORST)
    assert gradient_usage.main([]) == 0
    assert "1 call(s) may have been billed" in capsys.readouterr().err
    assert budget_call(api, "0.2") == 0  # room for both: the next call goes through


def test_a_dead_owners_hold_that_was_never_sent_ends(api):
    assert budget_call(api, "1") == 0  # makes the ledger
    with ledger() as database:
        database.execute("INSERT INTO reservations (ts, pid, amount, expires, owner, sent) VALUES (?, 1, 0.5, ?, ?, 0)",
                         (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.time() + 3600,
                          "1-00000000deadbeef"))  # pid 1 always looks alive: a container's holder
    assert budget_call(api, "0.6") == 0  # the dead holder's 0.5 was never sent: it ends at once
    assert ledger().execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


def test_a_live_owner_keeps_its_hold_whatever_its_pid(api, tmp_path, capsys):
    """A holder whose pid means nothing here (another pid namespace, or a reused pid) but whose lock
    is held: its hold stands."""
    assert budget_call(api, "1") == 0
    folder = reservations.owners_folder(os.environ["GRADIENT_USAGE_DB"])
    token = "99999999-0123456789abcdef"
    fd = os.open(os.path.join(folder, f"{token}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # taken through another descriptor: a live process elsewhere
    try:
        with ledger() as database:
            database.execute("INSERT INTO reservations (ts, pid, amount, expires, owner) VALUES (?, 99999999, 0.5, ?, ?)",
                             (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.time() + 3600, token))
        assert budget_call(api, "0.55") == 1 and "would pass the daily budget" in capsys.readouterr().err
    finally:
        os.close(fd)
    assert budget_call(api, "0.55") == 0  # its process ended before sending: the hold is gone


def test_a_calls_table_that_refuses_rows_refuses_a_budgeted_call(api, capsys):
    assert budget_call(api, "1") == 0
    with ledger() as database:
        database.execute("CREATE TRIGGER full BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    sent = len(api.calls("POST", CHAT))
    assert budget_call(api, "1") == 1
    err = capsys.readouterr().err
    assert "the daily budget cannot be kept" in err and len(api.calls("POST", CHAT)) == sent
    assert ledger().execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


def test_a_row_that_could_not_be_written_keeps_its_hold_as_possibly_billed(api, capsys, monkeypatch):
    """The call went out, then its row failed: the hold must not vanish with the process."""
    real = store.record

    def failing(row, path=None, release=None):
        if isinstance(row, dict) and row.get("script") == "chat":
            return False  # as a full disk would: nothing written, the reservation left as it was
        return real(row, path, release)

    monkeypatch.setattr(store, "record", failing)
    assert budget_call(api, "1") == 0
    monkeypatch.setattr(store, "record", real)
    with ledger() as database:  # the process is this test's: make its owner look gone
        database.execute("UPDATE reservations SET owner = '1-00000000deadbeef'")
    assert budget_call(api, "1") == 0
    assert ledger().execute("SELECT possibly_billed FROM reservations").fetchall() == [(1,)]
