"""gradient_batch.py, local mode: order, templates, per-item errors, resume after a kill, pacing
on 429 and rate-limit headers, budgets, signals, the ledger and the summary."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import gradient_batch
from conftest import FAKE_KEY, SCRIPTS, read_all
from fakeapi import Reply

from gradient_inference.batch import items as batch_items
from gradient_inference.batch import results as batch_results
from gradient_inference.ledger import store as ledger_store
from gradient_inference.models import budget as models_budget

MODEL = "openai-gpt-oss-120b"  # priced in the bundled snapshot


def chat_answer(content: str, model: str = MODEL, completion_tokens: int = 5) -> dict:
    return {"id": "c", "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                                    "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": completion_tokens, "total_tokens": 10 + completion_tokens}}


def echo(api, delay=0.0, slow=None, fail=None, completion_tokens=5, headers=None):
    """Answer each chat request with 'echo: <last message>'; prompts containing `slow` wait
    0.5 s, those containing `fail` get a 400."""
    def reply(record):
        body = json.loads(record.body)
        text = body["messages"][-1]["content"]
        if fail and fail in text:
            return Reply(400, json={"error": {"message": f"cannot do {text}"}})
        wait = 0.5 if slow and slow in text else delay
        return Reply(json=chat_answer("echo: " + text, body["model"], completion_tokens), delay=wait,
                     headers=headers(record) if callable(headers) else headers or {})
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))


def jsonl(path, *items) -> str:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return str(path)


def lines_of(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run(api, capsys, *argv) -> tuple:
    code = gradient_batch.main([*argv, "--base-url", api.url])
    captured = capsys.readouterr()
    return code, lines_of(captured.out) if "--output" not in argv else captured.out, captured.err


# ---------------------------------------------------------------- input, output, order

def test_every_item_gets_one_line_with_every_field(api, capsys, tmp_path):
    echo(api)
    source = jsonl(tmp_path / "in.jsonl", "Hello", {"custom_id": "b", "prompt": "World", "system": "Be brief."},
                   {"custom_id": "c", "messages": [{"role": "user", "content": "From messages"}]})
    code, lines, err = run(api, capsys, source)
    assert code == 0
    assert {line["custom_id"]: line["content"] for line in lines} == {
        "line-1": "echo: Hello", "b": "echo: World", "c": "echo: From messages"}
    assert all(list(line) == ["custom_id", "line", "status", "content", "data", "usage", "cost_usd", "finish_reason",
                              "error"] for line in lines)
    assert all(line["finish_reason"] == "stop" for line in lines)
    assert all(line["status"] == "ok" and line["usage"]["input_tokens"] == 10 and line["cost_usd"] > 0 for line in lines)
    sent = {r.json["messages"][-1]["content"]: r.json for r in api.calls("POST", "/v1/chat/completions")}
    assert sent["World"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["Hello"]["model"] == MODEL
    assert "3 ok, 0 failed" in err and "items/s" in err


def test_completion_order_by_default_input_order_with_ordered(api, capsys, tmp_path):
    echo(api, slow="first")
    source = jsonl(tmp_path / "in.jsonl", "first", "second", "third")
    _, lines, _ = run(api, capsys, source)
    assert lines[-1]["custom_id"] == "line-1", "the slow first item was not written last"
    _, lines, _ = run(api, capsys, source, "--ordered")
    assert [line["custom_id"] for line in lines] == ["line-1", "line-2", "line-3"]


def test_lines_with_a_template_and_defaults_from_flags(api, capsys, tmp_path):
    echo(api)
    source = tmp_path / "reviews.txt"
    source.write_text("great\n\nawful\n")
    code, lines, _ = run(api, capsys, str(source), "--lines", "--template", "Sentiment of: {line}", "--model", "m2",
                         "--max-tokens", "7", "--temperature", "0.2", "--ordered")
    assert code == 0 and [(l["line"], l["content"]) for l in lines] == [
        (1, "echo: Sentiment of: great"), (3, "echo: Sentiment of: awful")]
    body = api.calls("POST", "/v1/chat/completions")[0].json
    assert body["model"] == "m2" and body["max_tokens"] == 7 and body["temperature"] == 0.2


def test_a_template_without_its_placeholder_is_a_usage_error(api, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        gradient_batch.main([jsonl(tmp_path / "in.jsonl", "x"), "--template", "no place", "--base-url", api.url])
    assert stop.value.code == 2 and "{line}" in capsys.readouterr().err and not api.requests


def test_one_bad_item_never_stops_the_run(api, capsys, tmp_path):
    echo(api, fail="refuse")
    source = tmp_path / "in.jsonl"
    source.write_text('"fine"\nnot json\n"please refuse this"\n{"prompt": "also fine", "temperature": 9}\n"last"\n')
    code, lines, err = run(api, capsys, str(source), "--ordered", "--max-retries", "0")
    assert code == 1
    assert [line["status"] for line in lines] == ["ok", "error", "error", "error", "ok"]
    assert lines[2]["error"]["status"] == 400 and "cannot do" in lines[2]["error"]["message"]
    assert "not JSON" in lines[1]["error"]["message"] and "temperature" in lines[3]["error"]["message"]
    assert "2 ok, 3 failed (lines 2, 3, 4)" in err
    assert len(api.calls("POST", "/v1/chat/completions")) == 3, "an invalid item was sent"


def test_a_schema_gives_checked_data(api, capsys, tmp_path):
    def reply(record):
        tool = record.json["tool_choice"]["function"]["name"]
        return Reply(json={"choices": [{"message": {"content": None, "tool_calls": [{"id": "t", "type": "function",
                     "function": {"name": tool, "arguments": '{"label": "positive", "score": 0.9}'}}]},
                                        "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))
    source = jsonl(tmp_path / "in.jsonl", "great", {"prompt": "x", "schema": "name, age int"})
    code, lines, _ = run(api, capsys, source, "--schema", "label, score float", "--ordered")
    assert lines[0]["status"] == "ok" and lines[0]["data"] == {"label": "positive", "score": 0.9}
    assert lines[1]["status"] == "error" and "lacks the field 'name'" in lines[1]["error"]["message"]
    assert code == 1
    # the item that missed its schema was billed: its line and its ledger row keep usage and cost
    assert lines[1]["usage"]["output_tokens"] == 3 and lines[1]["cost_usd"] == round((5 * 0.10 + 3 * 0.70) / 1e6, 8)
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute(
        "SELECT outcome, output_tokens FROM calls ORDER BY id").fetchall()
    assert sorted(rows) == [("invalid_response", 3), ("ok", 3)]


def test_an_answer_cut_at_its_limit_is_ok_and_counted_as_cut(api, capsys, tmp_path):
    api.add("POST", "/v1/chat/completions", Reply(json={
        "model": "openai-gpt-oss-120b", "choices": [{"message": {"content": "half an ans"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}))
    code, lines, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b"), "--max-tokens", "500")
    assert code == 0 and [line["finish_reason"] for line in lines] == ["length", "length"]
    assert "2 of the ok cut at their token limit" in err
    assert all(line["cost_usd"] == round((1000 * 0.10 + 500 * 0.70) / 1e6, 8) for line in lines)


def test_a_bad_default_schema_is_a_usage_error_before_anything_is_sent(api, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        gradient_batch.main([jsonl(tmp_path / "in.jsonl", "x"), "--schema", "{not json", "--base-url", api.url])
    assert stop.value.code == 2 and not api.requests


def test_secrets_in_answers_are_masked_in_result_lines(api, capsys, tmp_path, keyed):
    api.json("POST", "/v1/chat/completions", chat_answer(f"your key is {keyed}"))
    _, lines, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", "x"))
    assert lines[0]["content"] == "your key is ***" and keyed not in err


def test_json_summary_goes_to_stdout_when_results_go_to_a_file(api, capsys, tmp_path):
    echo(api)
    output = tmp_path / "out.jsonl"
    code, out, _ = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b"), "--output", str(output), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["ok"] == 2 and summary["failed"] == 0 and summary["left"] == 0
    assert len(lines_of(output.read_text())) == 2


def test_every_item_is_in_the_ledger_with_the_batch_id(api, capsys, tmp_path):
    echo(api)
    output = tmp_path / "out.jsonl"
    _, out, _ = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b", "c"), "--output", str(output), "--json")
    batch_id = json.loads(out)["batch_id"]
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute(
        "SELECT script, batch_id, outcome, cost_usd FROM calls").fetchall()
    assert len(rows) == 3 and {r[:3] for r in rows} == {("batch", batch_id, "ok")} and all(r[3] > 0 for r in rows)


def test_a_wrong_key_stops_the_run_instead_of_failing_every_item(api, capsys, tmp_path):
    api.add("POST", "/v1/chat/completions", Reply(401, json={"error": {"message": "bad key"}}))
    source = jsonl(tmp_path / "in.jsonl", *[f"item {i}" for i in range(40)])
    code, _, err = run(api, capsys, source, "--concurrency", "2")
    assert code == 1 and "error:" in err and len(api.calls("POST", "/v1/chat/completions")) < 10


# ---------------------------------------------------------------- pacing

def test_a_429_storm_halves_the_concurrency_and_every_item_still_finishes(api, capsys, tmp_path):
    count = {"n": 0}
    lock = threading.Lock()

    def reply(record):
        with lock:
            count["n"] += 1
            storm = count["n"] <= 12
        if storm:
            return Reply(429, json={"error": {"message": "slow down"}}, headers={"retry-after-ms": "30"})
        return Reply(json=chat_answer("ok"), delay=0.02)
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))
    output = tmp_path / "out.jsonl"
    code, out, _ = run(api, capsys, jsonl(tmp_path / "in.jsonl", *[f"item {i}" for i in range(30)]),
                       "--concurrency", "8", "--max-retries", "10", "--output", str(output), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["ok"] == 30 and summary["failed"] == 0
    assert summary["concurrency_cuts"] >= 1 and summary["lowest_concurrency"] <= 4 and summary["throttled"] >= 1
    assert {line["status"] for line in lines_of(output.read_text())} == {"ok"}


def test_rate_limit_headers_hold_the_next_request_until_the_reset(api, capsys, tmp_path):
    arrivals = []

    def reply(record):
        arrivals.append(time.time())
        if len(arrivals) == 1:
            return Reply(json=chat_answer("first"), headers={"x-ratelimit-remaining-requests": "0",
                                                            "x-ratelimit-reset-requests": str(int(time.time()) + 1)})
        return Reply(json=chat_answer("more"), headers={"x-ratelimit-remaining-requests": "50"})
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))
    code, lines, _ = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b", "c"), "--concurrency", "1")
    assert code == 0 and len(lines) == 3
    assert arrivals[1] - arrivals[0] >= 1.0, "the request after 'nothing remains' did not wait for the reset"
    assert arrivals[2] - arrivals[1] < 0.9, "a pause was kept although requests remained"


def test_retry_after_from_a_429_is_honoured(api, capsys, tmp_path):
    arrivals = []

    def reply(record):
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return Reply(429, json={"error": {"message": "wait"}}, headers={"Retry-After": "1"})
        return Reply(json=chat_answer("ok"))
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))
    code, _, _ = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a"))
    assert code == 0 and arrivals[1] - arrivals[0] >= 0.95


def test_a_server_asking_for_a_very_long_wait_ends_the_run_for_a_later_resume(api, capsys, tmp_path):
    api.add("POST", "/v1/chat/completions", Reply(429, json={"error": {"message": "daily quota"}},
                                                  headers={"Retry-After": "7200"}))
    code, _, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", *"abcdefgh"), "--concurrency", "1")
    assert code == 1 and "120 min" in err and "--resume" in err
    assert len(api.calls("POST", "/v1/chat/completions")) <= 2


def test_a_200_whose_rate_limit_resets_hours_away_ends_the_run_instead_of_a_silent_wait(api, capsys, tmp_path):
    api.add("POST", "/v1/chat/completions", Reply(json=chat_answer("first"), headers={
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": str(int(time.time()) + 7200)}))
    started = time.monotonic()
    code, lines, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", *"abcdefgh"), "--concurrency", "1")
    assert time.monotonic() - started < 10 and code == 1
    assert "120 min" in err and "--resume" in err and len(lines) == 1 and lines[0]["status"] == "ok"


def test_a_wait_over_two_seconds_is_announced(api, capsys, tmp_path):
    arrivals = []

    def reply(record):
        arrivals.append(time.time())
        headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": str(int(time.time()) + 3)} \
            if len(arrivals) == 1 else {}
        return Reply(json=chat_answer("x"), headers=headers)
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))
    code, _, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b"), "--concurrency", "1")
    assert code == 0 and err.count("pausing") == 1 and "rate limit" in err


# ---------------------------------------------------------------- budgets

@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_max_cost_stops_scheduling_and_says_how_many_were_left(api, capsys, tmp_path, concurrency):

    echo(api, completion_tokens=200)
    prompts = [f"item number {i:03d}" for i in range(20)]
    worst = models_budget.worst_case(MODEL, len(prompts[0]), 200)
    output = tmp_path / "out.jsonl"
    code, out, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", *prompts), "--max-tokens", "200",
                         "--max-cost", f"{worst * 3.5:.10f}", "--concurrency", concurrency, "--output", str(output), "--json")
    summary = json.loads(out)
    assert code == 1 and summary["left"] > 0 and summary["ok"] + summary["left"] == 20
    assert summary["cost_usd"] <= worst * 3.5 and "max-cost" in summary["stop_reason"]
    assert len(api.calls("POST", "/v1/chat/completions")) == summary["ok"]


def test_an_unpriced_model_under_a_budget_is_an_item_error_unless_allowed(api, capsys, tmp_path):
    echo(api)
    source = jsonl(tmp_path / "in.jsonl", {"prompt": "x", "model": "no-such-model-anywhere"}, "priced")
    code, lines, _ = run(api, capsys, source, "--max-cost", "1", "--max-tokens", "10", "--ordered")
    assert code == 1 and lines[0]["error"]["type"] == "budget" and lines[1]["status"] == "ok"
    code, lines, _ = run(api, capsys, source, "--max-cost", "1", "--max-tokens", "10", "--allow-unpriced")
    assert code == 0


def test_the_daily_budget_counts_what_the_ledger_holds(api, capsys, tmp_path):

    echo(api)
    ledger_store.record({"script": "chat", "outcome": "ok", "cost_usd": 5.0})
    code, lines, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b"), "--daily-budget", "5.0000001",
                           "--max-tokens", "100")
    assert code == 1 and lines == [] and "2 left" in err and "daily budget" in err
    assert not api.calls("POST", "/v1/chat/completions")


# ---------------------------------------------------------------- resume and signals

def start(argv, env=None):
    full = dict(os.environ, PYTHONIOENCODING="utf-8", **(env or {}))
    return subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_batch.py"), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=full)


def wait_for_lines(path, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never had {count} lines")


def settled_count(api, path: str, quiet: float = 0.3, limit: float = 5.0) -> int:
    """How many requests the fake server recorded at `path`, once no more has come for `quiet` s."""
    deadline, count, since = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(api.calls("POST", path))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.02)
    return count


def test_resume_after_a_sigkill_loses_nothing_and_doubles_nothing(api, tmp_path):
    echo(api, delay=0.05)
    source = jsonl(tmp_path / "in.jsonl", *[f"item {i}" for i in range(60)])
    output = tmp_path / "out.jsonl"
    process = start([source, "--output", str(output), "--concurrency", "4", "--base-url", api.url])
    wait_for_lines(output, 10)
    process.kill()
    process.wait(10)
    first = lines_of(output.read_text())
    sent_before = settled_count(api, "/v1/chat/completions")  # the killed run's last requests may still be arriving
    assert 10 <= len(first) < 60
    done = start([source, "--output", str(output), "--resume", "--base-url", api.url])
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    final = [line for line in lines_of(output.read_text()) if line["status"] == "ok"]
    ids = [line["custom_id"] for line in final]
    assert sorted(ids) == sorted(f"line-{i}" for i in range(1, 61)) and len(ids) == len(set(ids)) == 60
    assert len(api.calls("POST", "/v1/chat/completions")) - sent_before == 60 - len(first), \
        "items already done were sent again"
    assert f"{len(first)} already done" in err.decode()
    # and it ends with the whole job's totals, read from the output file, saying what this run did
    whole = next(line for line in err.decode().splitlines() if line.startswith("the whole job in"))
    assert f"60 ok ({60 - len(first)} by this run)" in whole and "600 tokens in" in whole.replace(",", ""), whole


def test_resume_never_removes_a_whole_line_after_one_too_long_to_read(api, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_items, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(batch_results, "MAX_LINE_BYTES", 200)
    echo(api)
    output = tmp_path / "out.jsonl"
    long_ok = json.dumps({"custom_id": "line-1", "status": "ok", "content": "x" * 500})
    output.write_text(long_ok + "\n" + json.dumps({"custom_id": "line-2", "status": "ok"}) + "\n")
    code, _, err = run(api, capsys, jsonl(tmp_path / "in.jsonl", "a", "b", "c"), "--output", str(output), "--resume")
    kept = output.read_text().splitlines()
    assert kept[0] == long_ok and json.loads(kept[1])["custom_id"] == "line-2", "earlier lines were removed"
    assert "1 already done" in err and code == 0  # line-2 skipped; line-1, unreadable, ran again


def test_resume_needs_an_output_file(api, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        gradient_batch.main([jsonl(tmp_path / "in.jsonl", "x"), "--resume", "--base-url", api.url])
    assert stop.value.code == 2


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_within_a_second_and_keep_what_finished(api, tmp_path, signum, code):
    echo(api, delay=0.3)
    source = jsonl(tmp_path / "in.jsonl", *[f"item {i}" for i in range(100)])
    output = tmp_path / "out.jsonl"
    process = start([source, "--output", str(output), "--concurrency", "2", "--base-url", api.url])
    wait_for_lines(output, 2)
    process.send_signal(signum)
    stopped = time.monotonic()
    _, err = process.communicate(timeout=10)
    assert process.returncode == code
    assert time.monotonic() - stopped < 2.5, "the run took more than a second or so to stop"
    lines = lines_of(output.read_text())  # every line whole JSON
    assert 2 <= len(lines) < 100 and all(line["status"] == "ok" for line in lines)
    assert b"--resume continues" in err and b"Traceback" not in err
    # the stop summary counts exactly the items not done, the ones not yet read from the input too
    summary = next(line for line in err.decode().splitlines() if line.startswith("batch "))
    assert f"{100 - len(lines)} left" in summary, summary


def test_ctrl_c_while_waiting_for_more_input_stops_at_once(api, tmp_path):
    """Signals are held while the run holds its locks, but never while it waits on stdin."""
    echo(api)
    output = tmp_path / "out.jsonl"
    full = dict(os.environ, PYTHONIOENCODING="utf-8")
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_batch.py"), "-", "--output", str(output),
                                "--base-url", api.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=full)
    process.stdin.write(b'"first"\n')
    process.stdin.flush()  # and nothing more: the run waits for the next line
    deadline = time.monotonic() + 20
    while not api.calls("POST") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # its answer is in; the main thread is blocked reading stdin
    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    try:
        code = process.wait(timeout=10)  # stdin stays open: an end of input must not be what stops it
    finally:
        process.kill()
        _, err = process.communicate()
    assert code == 130 and time.monotonic() - stopped < 2.5
    assert lines_of(output.read_text())[0]["status"] == "ok" and b"Traceback" not in err


def test_as_a_subprocess_stdin_is_read_and_the_key_never_shows(api, tmp_path):
    echo(api)
    done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_batch.py"), "-", "--base-url", api.url],
                          input=b'"a"\n"b"\n', capture_output=True, env=dict(os.environ, GRADIENT_API_KEY=FAKE_KEY),
                          timeout=60)
    assert done.returncode == 0 and len(lines_of(done.stdout.decode())) == 2
    assert FAKE_KEY.encode() not in done.stdout + done.stderr
    assert api.calls()[0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_a_fifo_as_input_is_refused_without_blocking(api, tmp_path, script):
    os.mkfifo(tmp_path / "fifo")
    done = script("gradient_batch", str(tmp_path / "fifo"), "--base-url", api.url, timeout=20)
    assert done.returncode == 2 and b"FIFO" in done.stderr


def test_progress_is_one_updating_line_on_a_terminal_and_absent_otherwise(api, tmp_path):
    import pty

    echo(api, delay=0.05)
    source = jsonl(tmp_path / "in.jsonl", *[f"item {i}" for i in range(30)])
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_batch.py"), source, "--base-url", api.url,
                                "--concurrency", "2"], stdout=subprocess.DEVNULL, stderr=follower,
                               stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    os.close(follower)
    seen = read_all(leader)
    process.wait(30)
    assert process.returncode == 0
    assert b"\r" in seen and b"/30 done" in seen and b"ETA" in seen and b"/s, $" in seen
    quiet = run_plain(api, source)
    assert quiet.returncode == 0 and quiet.stderr.decode().count("\n") == 1 and "\r" not in quiet.stderr.decode()


def run_plain(api, source):
    return subprocess.run([sys.executable, str(SCRIPTS / "gradient_batch.py"), source, "--base-url", api.url],
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60)


def test_the_output_may_not_be_the_input(api, capsys, tmp_path):
    source = jsonl(tmp_path / "in.jsonl", "a")
    with pytest.raises(SystemExit) as stop:
        gradient_batch.main([source, "--output", source, "--force", "--base-url", api.url])
    assert stop.value.code == 2 and "input file" in capsys.readouterr().err
    assert (tmp_path / "in.jsonl").read_text() == '"a"\n' and not api.requests


def test_an_output_that_is_the_file_stdin_reads_is_refused(api, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('"a"\n"b"\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for output in (source, link):
        with open(source, "rb") as stdin:
            done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_batch.py"), "-", "--output", str(output),
                                   "--force", "--base-url", api.url], stdin=stdin, capture_output=True, timeout=60)
        assert done.returncode == 2 and b"the file stdin reads" in done.stderr
        assert source.read_text() == '"a"\n"b"\n' and api.calls() == []
