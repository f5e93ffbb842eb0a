"""What the ledger keeps must hold up: no secret at rest, no impossible usage turned into money."""
from __future__ import annotations

import os

import pytest

import gradient_chat
from conftest import FAKE_KEY
from gradient_inference.api.usage import normalize_usage
from gradient_inference.ledger import store as ledger_store

CHAT = "/v1/chat/completions"
PRICED = "openai-gpt-oss-120b"


def chat(api, *argv) -> int:
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", PRICED, *argv])


def test_no_secret_is_stored_in_the_ledger(api, keyed, monkeypatch, tmp_path):
    token = "dop_v1_" + "f" * 40
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", token)
    monkeypatch.setenv("MCP_TOKEN", "mcp-secret-" + "e" * 30)
    api.json("POST", CHAT, {"choices": [{"message": {"content": f"your key is {FAKE_KEY}"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
             headers={"x-request-id": f"req-{token}"})
    assert chat(api, "--prompt", f"remember {FAKE_KEY} and {token} and mcp-secret-{'e' * 30}", "--system",
                f"sys {FAKE_KEY}", "--mcp", "docs=https://mcp.example.com/sse", "--mcp-auth-env", "MCP_TOKEN") == 0
    stored = open(os.environ["GRADIENT_USAGE_DB"], "rb").read() + b"".join(
        open(os.environ["GRADIENT_USAGE_DB"] + suffix, "rb").read() for suffix in ("-wal",)
        if os.path.exists(os.environ["GRADIENT_USAGE_DB"] + suffix))
    assert FAKE_KEY.encode() not in stored and token.encode() not in stored and b"mcp-secret-" not in stored
    row = ledger_store.rows("SELECT * FROM calls", ())[-1]
    assert "***" in row["messages"] and "***" in row["answer"] and row["request_id"] == "req-***"


@pytest.mark.parametrize("tokens", [-10 ** 9, -1, 10 ** 400, 2 ** 63, 10 ** 9 + 1, 1.5, True])
def test_impossible_usage_is_unknown_never_a_credit_or_a_crash(tokens):
    usage = normalize_usage({"prompt_tokens": tokens, "completion_tokens": 5})
    assert usage["input_tokens"] is None and usage["output_tokens"] == 5 and usage["total_tokens"] is None


def test_a_server_reporting_negative_usage_records_no_cost(api, capsys):
    api.json("POST", CHAT, {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": -10 ** 9, "completion_tokens": -10 ** 9}})
    assert chat(api, "--prompt", "q") == 0
    row = ledger_store.rows("SELECT * FROM calls", ())[-1]
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (None, None, None)


# ---------------------------------------------------------------- budgets across processes

def budgeted_chat(api, budget="0.10", max_tokens="100000", extra_env=None):
    import subprocess
    import sys

    from conftest import SCRIPTS

    return subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin",
                             "--model", PRICED, "--prompt", "hi", "--max-tokens", max_tokens],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, GRADIENT_DAILY_BUDGET_USD=budget, **(extra_env or {})))


def test_eight_processes_started_together_never_pass_the_daily_budget(api):
    from fakeapi import Reply

    # each call could cost $0.07 at worst (100,000 answer tokens at $0.70 per 1M): one fits under $0.10
    api.add("POST", CHAT, Reply(json={"model": PRICED, "choices": [{"message": {"content": "ok"},
                                                                    "finish_reason": "stop"}],
                                      "usage": {"prompt_tokens": 10, "completion_tokens": 100000}}, delay=0.5))
    processes = [budgeted_chat(api) for _ in range(8)]
    results = [(process.wait(60), process.stderr.read().decode()) for process in processes]
    sent = len(api.calls("POST", CHAT))
    assert sent == 1, f"{sent} calls went out under a budget that holds one"
    assert sum(code == 0 for code, _ in results) == 1
    assert all("daily budget" in err for code, err in results if code != 0)
    spent = ledger_store.rows("SELECT TOTAL(cost_usd) AS spent FROM calls", ())[0]["spent"]
    assert spent <= 0.10 and not ledger_store.rows("SELECT * FROM reservations", ())


def test_a_reservation_of_a_process_that_is_gone_expires(api):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ledger_store.record([])  # makes the ledger
    import sqlite3

    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    database.execute("INSERT INTO reservations (ts, pid, amount, expires) VALUES (?, ?, 5.0, 9e18)",
                     (ledger_store.time.strftime("%Y-%m-%dT%H:%M:%SZ", ledger_store.time.gmtime()),
                      int(dead.stdout)))
    database.commit()
    database.close()
    api.json("POST", CHAT, {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})
    process = budgeted_chat(api, budget="1", max_tokens="100")
    assert process.wait(60) == 0, process.stderr.read()


@pytest.mark.parametrize("broken", ["folder", "not sqlite"])
def test_under_a_budget_a_broken_ledger_refuses_the_call_and_without_one_warns(api, tmp_path, broken, capsys,
                                                                               monkeypatch):
    path = tmp_path / "usage.db"
    path.mkdir() if broken == "folder" else path.write_bytes(b"this is not a database" * 100)
    api.json("POST", CHAT, {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})
    process = budgeted_chat(api, budget="1", max_tokens="100", extra_env={"GRADIENT_USAGE_DB": str(path)})
    code, err = process.wait(60), process.stderr.read().decode()
    assert code == 1 and "error: the daily budget cannot be kept" in err and "Traceback" not in err
    assert api.calls() == []
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(path))  # without a budget: a warning, and the call goes out
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", PRICED, "--prompt", "q"]) == 0
    assert "could not be written" in capsys.readouterr().err and len(api.calls()) == 1


def test_a_batch_counts_the_calls_other_processes_have_under_way(api, tmp_path, capsys):
    import sqlite3

    import gradient_batch

    ledger_store.record([])
    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    database.execute("INSERT INTO reservations (ts, pid, amount, expires) VALUES (?, ?, 0.05, 9e18)",
                     (ledger_store.time.strftime("%Y-%m-%dT%H:%M:%SZ", ledger_store.time.gmtime()), os.getpid()))
    database.commit()
    database.close()
    api.json("POST", CHAT, {"model": PRICED, "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 10}})
    source = tmp_path / "in.jsonl"
    source.write_text('"a"\n"b"\n"c"\n')
    # each item could cost $0.035 at worst: one fits beside the other process's $0.05 under $0.10
    code = gradient_batch.main([str(source), "--base-url", api.url, "--max-tokens", "50000", "--daily-budget", "0.10"])
    err = capsys.readouterr().err
    assert code == 1 and len(api.calls("POST", CHAT)) == 1 and "2 left" in err and "daily budget" in err
    held = ledger_store.rows("SELECT pid FROM reservations", ())
    assert held == [{"pid": os.getpid()}], "the run's own reservations were not all released"


# ---------------------------------------------------------------- smaller promises

def test_csv_cells_never_run_in_a_spreadsheet():
    import csv
    import io

    from gradient_inference.ledger.run_usage import csv_text

    keys = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain"]
    text = csv_text([{"key": key, "calls": 1} for key in keys] + [{"key": "total", "calls": -1}], ["key", "calls"])
    cells = [row["key"] for row in csv.DictReader(io.StringIO(text, newline=""))]
    assert cells == ["'" + key.replace("\r", "\n") for key in keys[:-1]] + ["plain", "total"]
    assert text.splitlines()[-1] == "total,-1"  # numbers stay numbers


def test_an_empty_conversation_id_is_a_usage_error(api, capsys):
    with pytest.raises(SystemExit) as stop:
        chat(api, "--conversation", "", "--prompt", "q")
    assert stop.value.code == 2 and "--conversation needs an id" in capsys.readouterr().err and api.calls() == []


def test_the_digitalocean_token_goes_only_over_https_or_to_this_machine(monkeypatch):
    from gradient_inference.core.errors import GradientError
    from gradient_inference.api.control import control_client

    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", "dop_v1_" + "a" * 40)
    monkeypatch.setenv("DIGITALOCEAN_API_URL", "http://api.example.com")
    with pytest.raises(GradientError, match="DIGITALOCEAN_API_URL is plain http") as caught:
        control_client(5, 0, False)
    assert caught.value.type == "config"
    monkeypatch.setenv("DIGITALOCEAN_API_URL", "http://127.0.0.1:9")
    assert control_client(5, 0, False).settings.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("state, words", [("not sqlite", "not a usage ledger"), ("newer", "schema version 99, newer"),
                                          ("folder", "it is a folder")])
def test_a_damaged_or_newer_ledger_is_one_line_saying_what_to_do(tmp_path, monkeypatch, capsys, state, words):
    import sqlite3

    import gradient_usage

    path = tmp_path / "usage.db"
    if state == "not sqlite":
        path.write_bytes(b"garbage" * 1000)
    elif state == "folder":
        path.mkdir()
    else:
        database = sqlite3.connect(path)
        database.execute("PRAGMA user_version = 99")
        database.close()
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(path))
    for argv in ([], ["--conversations"], ["--json"]):
        assert gradient_usage.main(argv) == 1
        err = capsys.readouterr().err
        assert words in err and "move it aside" in err and "Traceback" not in err


def test_a_ledger_others_can_write_is_warned_of_once(api, capsys):
    ledger_store.record([])
    os.chmod(os.environ["GRADIENT_USAGE_DB"], 0o666)
    ledger_store.shared_once.cache_clear()
    api.json("POST", CHAT, {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})
    assert chat(api, "--prompt", "q") == 0
    assert capsys.readouterr().err.count("writable by group or others") == 1


def test_a_python_without_the_dependencies_gets_one_line_naming_them(tmp_path):
    import subprocess
    import sys

    from conftest import SCRIPTS

    code = ("import os, runpy, sys; sys.modules['requests'] = None; sys.argv = sys.argv[1:]; "
            "sys.path.insert(0, os.path.dirname(sys.argv[0])); runpy.run_path(sys.argv[0], run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, str(SCRIPTS / "gradient_models.py"), "--base-url",
                           "http://127.0.0.1:9/v1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "the Python package requests is not installed" in done.stderr
    assert "uv run" in done.stderr and "Traceback" not in done.stderr
