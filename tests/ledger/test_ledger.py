"""The usage ledger: a row for every call of every script, parallel writers, budgets that refuse
before sending, conversations continued, reports, and a ledger that is broken or read-only."""
from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import gradient_audio
import gradient_chat
import gradient_embed
import gradient_image
from gradient_inference.ledger import store as ledger_store
import gradient_models
import gradient_usage
from conftest import SCRIPTS, tiny_png
from fakeapi import Reply

CHAT = "/v1/chat/completions"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16


def calls(path=None):
    return ledger_store.rows("SELECT * FROM calls ORDER BY id", (), path)


def chat_answer(content="ok", prompt_tokens=10, completion_tokens=5):
    return {"id": "c1", "model": "openai-gpt-oss-120b", "choices": [{"message": {"content": content},
                                                                     "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}


# ---------------------------------------------------------------- rows for every script

@pytest.fixture
def every_script(api, tmp_path):
    audio = tmp_path / "a.mp3"
    audio.write_bytes(MP3)
    out = tmp_path / "out"
    out.mkdir()
    return [
        ("models", gradient_models.main, [], ("GET", "/v1/models"), Reply(json={"data": [{"id": "m"}]})),
        ("chat", gradient_chat.main, ["--prompt", "hi", "--no-stdin", "--model", "openai-gpt-oss-120b"],
         ("POST", CHAT), Reply(json=chat_answer())),
        ("image", gradient_image.main, ["--prompt", "x", "--output", str(out / "i.png"), "--force",
                                        "--model", "openai-gpt-image-2"],
         ("POST", "/v1/images/generations"), Reply(json={"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}]})),
        ("embed", gradient_embed.main, ["--model", "e", "--input", "x"], ("POST", "/v1/embeddings"),
         Reply(json={"data": [{"index": 0, "embedding": [1.0]}], "usage": {"prompt_tokens": 2}})),
        ("speak", lambda a: gradient_audio.main(["speak", *a]), ["--model", "s", "--text", "x", "--output",
                                                                 str(out / "s.mp3"), "--force"],
         ("POST", "/v1/audio/speech"), Reply(body=MP3)),
        ("transcribe", lambda a: gradient_audio.main(["transcribe", *a]), ["--model", "w", "--file", str(audio)],
         ("POST", "/v1/audio/transcriptions"), Reply(body="hello", headers={"Content-Type": "text/plain"})),
    ]


def test_every_script_records_its_success_and_its_failure(api, every_script, capsys):
    for script, main, argv, route, good in every_script:
        api.routes[route] = [good]
        assert main(["--base-url", api.url, *argv]) == 0, script
        api.routes[route] = [Reply(500, json={"error": {"message": "down"}})]
        assert main(["--base-url", api.url, "--max-retries", "0", *argv]) == 1, script
    found = [(row["script"], row["outcome"]) for row in calls()]
    assert found == [(name, outcome) for name, *_ in every_script for outcome in ("ok", "server")]
    chat = next(row for row in calls() if row["script"] == "chat" and row["outcome"] == "ok")
    assert (chat["input_tokens"], chat["output_tokens"], chat["host"], chat["api"]) == (10, 5, "127.0.0.1", "chat")
    assert chat["cost_usd"] == pytest.approx((10 * 0.1 + 5 * 0.7) / 1e6) and "snapshot" in chat["price_source"]
    assert json.loads(chat["messages"]) == [{"role": "user", "content": "hi"}] and chat["answer"] == "ok"
    assert oct(os.stat(os.environ["GRADIENT_USAGE_DB"]).st_mode & 0o777) == "0o600"


def test_no_log_and_no_content(api, monkeypatch):
    api.json("POST", CHAT, chat_answer())
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "hi", "--no-log"]) == 0
    assert calls() == []
    monkeypatch.setenv("GRADIENT_LOG_CONTENT", "0")
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "secret plans"]) == 0
    row = calls()[0]
    assert row["messages"] is None and row["answer"] is None and row["input_tokens"] == 10
    monkeypatch.setenv("GRADIENT_NO_LOG", "1")
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "hi"]) == 0
    assert len(calls(os.environ["GRADIENT_USAGE_DB"])) == 1  # GRADIENT_NO_LOG: nothing more written


# ---------------------------------------------------------------- many writers at once

def test_eight_processes_and_a_loop_lose_no_row(api):
    api.json("POST", CHAT, chat_answer())
    processes = [subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url,
                                   "--no-stdin", "--prompt", f"p{i}"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=dict(os.environ)) for i in range(8)]
    threads = [threading.Thread(target=lambda i=i: ledger_store.record({"script": "loop", "outcome": "ok", "model": str(i)}))
               for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        assert process.wait(timeout=120) == 0 and b"warning" not in process.stderr.read()
    scripts = [row["script"] for row in calls()]
    assert scripts.count("chat") == 8 and scripts.count("loop") == 40


# ---------------------------------------------------------------- a broken ledger costs a warning

def test_a_corrupt_ledger_is_a_warning_not_a_failed_call(api, tmp_path, monkeypatch, capsys):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(broken))
    api.json("POST", CHAT, chat_answer("fine"))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "fine\n" and "the usage ledger" in captured.err and "went through" in captured.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only folder")
def test_a_read_only_ledger_folder_is_a_warning(api, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(folder / "usage.db"))
    api.json("POST", CHAT, chat_answer("fine"))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "hi"]) == 0
    assert "the usage ledger" in capsys.readouterr().err


def test_a_ledger_on_a_full_or_unwritable_path_is_a_warning(api, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADIENT_USAGE_DB", "/dev/full/usage.db")  # not a folder: nothing can be made there
    api.json("POST", CHAT, chat_answer("fine"))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "fine\n" and "the usage ledger /dev/full/usage.db could not be written" in captured.err


def test_a_ledger_made_by_the_previous_version_migrates_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(ledger_store.MIGRATIONS[0])
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO calls (ts, script, outcome, cost_usd) VALUES ('2026-11-01T10:00:00Z', 'chat', 'ok', 0.5)")
    old.commit()
    old.close()
    assert ledger_store.record({"script": "batch", "outcome": "ok", "batch_id": "b-1"}, str(path))
    rows = calls(str(path))
    assert [(r["script"], r["cost_usd"], r["batch_id"]) for r in rows] == [("chat", 0.5, None), ("batch", None, "b-1")]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(ledger_store.MIGRATIONS)


# ---------------------------------------------------------------- budgets

def test_max_cost_refuses_before_sending(api, capsys):
    api.json("POST", CHAT, chat_answer())
    code = gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", "openai-gpt-oss-120b", "--prompt",
                               "x" * 3000, "--max-tokens", "1000", "--max-cost", "0.0001", "--json"])
    error = json.loads(capsys.readouterr().err)["error"]
    assert code == 1 and error["type"] == "budget" and "over --max-cost" in error["message"] and api.calls() == []
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", "openai-gpt-oss-120b",
                               "--prompt", "hi", "--max-tokens", "100", "--max-cost", "0.01"]) == 0


def test_the_daily_budget_counts_every_process(api, monkeypatch, capsys):
    for _ in range(3):
        ledger_store.record({"script": "chat", "outcome": "ok", "cost_usd": 0.4})
    api.json("POST", CHAT, chat_answer())
    done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin",
                           "--model", "openai-gpt-oss-120b", "--prompt", "hi", "--max-tokens", "100000"],
                          capture_output=True, timeout=60, env=dict(os.environ, GRADIENT_DAILY_BUDGET_USD="1.25"))
    err = done.stderr.decode()
    assert done.returncode == 1 and "would pass the daily budget" in err and "spent today (UTC) $1.2" in err
    assert api.calls() == []
    done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin",
                           "--model", "openai-gpt-oss-120b", "--prompt", "hi", "--max-tokens", "100"],
                          capture_output=True, timeout=60, env=dict(os.environ, GRADIENT_DAILY_BUDGET_USD="1.25"))
    assert done.returncode == 0 and len(api.calls()) == 1


def test_unknown_prices_under_a_budget_are_refused_unless_allowed(api, capsys):
    api.json("POST", CHAT, chat_answer())
    argv = ["--base-url", api.url, "--no-stdin", "--model", "brand-new-model", "--prompt", "hi", "--max-cost", "1"]
    assert gradient_chat.main(argv) == 1 and "cannot be estimated" in capsys.readouterr().err and api.calls() == []
    assert gradient_chat.main(argv + ["--allow-unpriced"]) == 0 and len(api.calls()) == 1


def test_an_image_budget_uses_the_per_image_price(api, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "prices.json"
    cache.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "url": None, "models": [{"provider": "fal", "model": "fal-ai/flux/schnell",
                                                          "price": 0.003, "unit": "per image"}]}))
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))
    assert gradient_image.main(["--base-url", api.url, "--model", "fal-ai/flux/schnell", "--prompt", "x",
                                "--n", "4", "--max-cost", "0.01", "--output", str(tmp_path / "a.png")]) == 1
    assert "4 images from fal-ai/flux/schnell could cost up to $0.012" in capsys.readouterr().err
    assert api.calls() == []


# ---------------------------------------------------------------- conversations

def test_a_conversation_continues_over_three_turns(api, capsys):
    api.add("POST", CHAT, Reply(json=chat_answer("Paris.")), Reply(json=chat_answer("About 2.1 million.")),
            Reply(json=chat_answer("The Seine.")))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", "m-1", "--system", "Be brief.",
                               "--prompt", "Capital of France?", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["conversation_id"]
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "-c", "--prompt", "Population?"]) == 0
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--conversation", first, "--prompt", "River?",
                               "--json"]) == 0
    third = api.calls()[2].json
    assert third["model"] == "m-1"
    assert [m["content"] for m in third["messages"]] == ["Be brief.", "Capital of France?", "Paris.", "Population?",
                                                         "About 2.1 million.", "River?"]
    assert {row["conversation_id"] for row in calls()} == {first}


def test_continuing_needs_a_logged_conversation(api, capsys, monkeypatch):
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "-c", "--prompt", "hi"]) == 1
    assert "no conversation in the usage ledger" in capsys.readouterr().err and api.calls() == []
    monkeypatch.setenv("GRADIENT_LOG_CONTENT", "0")
    api.json("POST", CHAT, chat_answer())
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "hi"]) == 0
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "-c", "--prompt", "more"]) == 1
    assert "logged without its content" in capsys.readouterr().err


# ---------------------------------------------------------------- reports

@pytest.fixture
def history():
    rows = [("2026-11-01T09:00:00Z", "chat", "a", "ok", 10, 5, 0.25), ("2026-11-01T10:00:00Z", "embed", "e", "ok", 7,
                                                                         0, 0.01),
            ("2026-11-02T09:00:00Z", "chat", "a", "server", None, None, None),
            ("2026-11-03T09:00:00Z", "chat", "b", "ok", 100, 50, 1.5)]
    for ts, script, model, outcome, tokens_in, tokens_out, cost in rows:
        ledger_store.record({"ts": ts, "script": script, "model": model, "outcome": outcome, "input_tokens": tokens_in,
                       "output_tokens": tokens_out, "cost_usd": cost})


def report(capsys, *argv):
    assert gradient_usage.main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_reports_group_by_day_model_and_script(history, capsys):
    by_day = report(capsys)
    assert [(g["key"], g["calls"], g["errors"], g["cost_usd"]) for g in by_day["groups"]] == [
        ("2026-11-01", 2, 0, 0.26), ("2026-11-02", 1, 1, 0.0), ("2026-11-03", 1, 0, 1.5)]
    assert [g["unpriced_calls"] for g in by_day["groups"]] == [0, 1, 0] and by_day["total"]["unpriced_calls"] == 1
    assert (by_day["total"]["calls"], by_day["total"]["input_tokens"], by_day["total"]["cost_usd"]) == (4, 117, 1.76)
    assert [g["key"] for g in report(capsys, "--by", "model")["groups"]] == ["a", "b", "e"]
    assert {g["key"]: g["calls"] for g in report(capsys, "--by", "script")["groups"]} == {"chat": 3, "embed": 1}


def test_reports_over_a_date_range_and_as_csv(history, capsys):
    ranged = report(capsys, "--since", "2026-11-02", "--until", "2026-11-02")
    assert [g["key"] for g in ranged["groups"]] == ["2026-11-02"] and ranged["total"]["calls"] == 1
    assert report(capsys, "--today")["total"]["calls"] == 0
    assert gradient_usage.main(["--csv", "--by", "model"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "key,calls,errors,input_tokens,output_tokens,cached_input_tokens,cost_usd,unpriced_calls,estimated_calls"
    assert lines[-1].startswith("total,4,1,117,55")


def test_relative_times_and_bad_ones():
    now = 1_800_000_000
    assert gradient_usage.moment("24h", now) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400))
    with pytest.raises(argparse.ArgumentTypeError):
        gradient_usage.moment("last tuesday")


def test_the_table_and_an_empty_ledger(history, capsys):
    assert gradient_usage.main([]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["DAY", "CALLS", "ERRORS"] and table[-1].split()[:2] == ["total", "4"]


def test_reports_as_a_subprocess_while_a_writer_holds_the_ledger(api, history):
    writer = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"], timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # a call in the middle of writing its row
    writer.execute("INSERT INTO calls (ts, script, outcome) VALUES ('2026-11-04T00:00:00Z', 'chat', 'ok')")
    try:
        done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_usage.py"), "--json"], capture_output=True,
                              timeout=30, env=dict(os.environ))
    finally:
        writer.rollback()
        writer.close()
    assert done.returncode == 0 and json.loads(done.stdout)["total"]["calls"] == 4


def test_a_fifo_named_as_the_ledger_is_a_warning_not_a_hang(api, tmp_path):
    fifo = tmp_path / "ledger-fifo"
    os.mkfifo(fifo)
    api.json("POST", CHAT, chat_answer("fine"))
    done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin",
                           "--prompt", "hi"], capture_output=True, timeout=30,
                          env=dict(os.environ, GRADIENT_USAGE_DB=str(fifo)))
    assert done.returncode == 0 and done.stdout == b"fine\n"
    assert b"could not be written" in done.stderr and b"Traceback" not in done.stderr


def test_the_database_file_is_never_opened_behind_sqlites_back(tmp_path, monkeypatch):
    """Closing any descriptor of the file drops every POSIX lock the process holds on it, those of
    other threads' SQLite connections too: a process then deleted a WAL that held other processes'
    rows (1 to 8 of 8 survived). Only SQLite may open the ledger once it exists."""
    path = str(tmp_path / "u.db")
    assert ledger_store.record({"script": "first", "outcome": "ok"}, path)
    opened = []
    real_open = os.open

    def watching_open(name, *args, **kwargs):
        opened.append(os.fspath(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching_open)
    assert ledger_store.record({"script": "second", "outcome": "ok"}, path)
    assert path not in opened and [r["script"] for r in calls(path)] == ["first", "second"]


def test_conversations_show_their_first_words_and_take_a_unique_prefix(api, capsys):
    api.add("POST", CHAT, *[Reply(json=chat_answer(text)) for text in ("Paris.", "Lyon.", "Seine.")])
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", "m", "--prompt",
                               "Capital of France?\n(answer briefly)", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["conversation_id"]
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", "m", "--prompt",
                               "\x1b[31mSecond city?", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)["conversation_id"]
    assert gradient_usage.main(["--conversations", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["conversations"]
    assert [(c["id"], c["first_message"], c["turns"]) for c in listed] == [
        (second, "[31mSecond city?", 1), (first, "Capital of France? (answer briefly)", 1)]  # one line, no controls
    assert all(c["last_activity"] for c in listed)
    prefix = next(first[:n] for n in range(1, 33) if not second.startswith(first[:n]))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--conversation", prefix, "--prompt",
                               "River?"]) == 0
    err = capsys.readouterr().err
    assert f"continuing conversation {first}" in err and '"Capital of France? (answer briefly)"' in err


def test_an_ambiguous_conversation_prefix_names_the_candidates():
    from gradient_inference.core.errors import GradientError
    from gradient_inference.ledger.reports import unique_conversation

    for conversation_id in ("abc1", "abc2", "xyz9"):
        ledger_store.record({"script": "chat", "outcome": "ok", "conversation_id": conversation_id, "messages": "[]"})
    with pytest.raises(GradientError, match="names 2 conversations: abc1, abc2"):
        unique_conversation("abc")
    assert (unique_conversation("abc1"), unique_conversation("xy"), unique_conversation("none")) == (
        "abc1", "xyz9", "none")
