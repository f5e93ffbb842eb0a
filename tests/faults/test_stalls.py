"""Trust, third round: a batch never stalls silently. An idle stdin pipe is said within 2 s;
--max-wait bounds the whole wait, a hanging status poll included; a run whose items meet only 429s
(or the same server error) stops after a bounded streak and leaves the rest for --resume; a run
stopped by SIGTERM counts what is left."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import gradient_batch
from conftest import SCRIPTS
from fakeapi import Reply

CHAT = "/v1/chat/completions"
BATCH_ID = "batch_0123456789abcdef"
FILE_ID = "file-0123456789"
ANSWER = {"id": "c", "model": "m", "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def test_an_idle_stdin_pipe_is_said_within_two_seconds(api):
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_batch.py"), "--base-url", api.url,
                                "--model", "m"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ))
    try:
        ready, _, _ = select.select([process.stderr], [], [], 4)
        assert ready, "nothing said on stderr"
        assert b"waiting for JSONL items on stdin" in os.read(process.stderr.fileno(), 4096)
    finally:
        process.stdin.close()
        process.wait(10)


def test_a_hanging_status_poll_does_not_outlast_max_wait(api, capsys, tmp_path):
    api.json("POST", "/v1/batches/files", {"file_id": FILE_ID, "upload_url": api.origin + "/upload/in.jsonl?sig=1"})
    api.add("PUT", "/upload/in.jsonl", Reply(200, body=b""))
    api.json("POST", "/v1/batches", {"batch_id": BATCH_ID, "status": "validating"})
    api.add("GET", f"/v1/batches/{BATCH_ID}", Reply(json={"batch_id": BATCH_ID, "status": "in_progress"}, delay=20))
    (tmp_path / "in.jsonl").write_text('"a"\n')
    started = time.monotonic()
    code = gradient_batch.main(["--remote", str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model",
                                "openai-gpt-5-mini", "--wait", "--poll-interval", "0.2", "--max-wait", "1.5"])
    assert time.monotonic() - started < 6
    err = capsys.readouterr().err
    assert code == 1 and "(--max-wait)" in err and f"results {BATCH_ID}" in err


def test_only_429s_stop_the_run_after_a_bounded_streak_and_leave_the_rest(api, capsys, tmp_path):
    api.add("POST", CHAT, Reply(429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "0"}))
    (tmp_path / "in.jsonl").write_text("".join(f'"item {i}"\n' for i in range(60)))
    output = tmp_path / "out.jsonl"
    started = time.monotonic()
    code = gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model", "m", "--concurrency",
                                "2", "--max-retries", "1", "--output", str(output), "--json"])
    assert time.monotonic() - started < 30
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 1 and "items in a row failed with HTTP 429" in captured.err and "--resume" in captured.err
    assert summary["failed"] < 20 and summary["left"] == 60 - summary["failed"]
    assert len(api.calls("POST", CHAT)) < 60 * 2
    api.routes[("POST", CHAT)] = [Reply(json=ANSWER)]
    assert gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model", "m",
                                "--output", str(output), "--resume"]) in (0, 1)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len({line["custom_id"] for line in lines if line["status"] == "ok"}) == 60  # every item ran once it could


def test_a_batch_stopped_by_sigterm_counts_what_is_left(api, tmp_path):
    api.add("POST", CHAT, Reply(json=ANSWER, delay=0.3))
    (tmp_path / "in.jsonl").write_text("".join(f'"item {i}"\n' for i in range(40)))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_batch.py"), str(tmp_path / "in.jsonl"),
                                "--base-url", api.url, "--model", "m", "--concurrency", "1", "--output",
                                str(tmp_path / "out.jsonl"), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ))
    deadline = time.monotonic() + 20
    while len(api.calls("POST", CHAT)) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 143, err
    summary = json.loads(out)
    written = len((tmp_path / "out.jsonl").read_text().splitlines())
    assert summary["ok"] + summary["failed"] == written and summary["left"] == 40 - written, summary


def test_a_batch_from_stdin_stopped_by_sigterm_counts_the_lines_the_pipe_still_holds(api, tmp_path):
    api.add("POST", CHAT, Reply(json=ANSWER, delay=0.3))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_batch.py"), "--base-url", api.url, "--model",
                                "m", "--concurrency", "1", "--output", str(tmp_path / "out.jsonl"), "--json"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    process.stdin.write("".join(f'"item {i}"\n' for i in range(40)).encode())
    process.stdin.close()
    process.stdin = None  # closed: communicate() must not flush it
    deadline = time.monotonic() + 20
    while len(api.calls("POST", CHAT)) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    summary = json.loads(out)
    written = len((tmp_path / "out.jsonl").read_text().splitlines())
    assert process.returncode == 143 and summary["left"] == 40 - written, summary
    assert "left_is_lower_bound" not in summary  # the pipe was closed: the count is exact


def test_a_batch_refused_by_its_budget_leaves_no_output_file_and_an_empty_one_is_no_obstacle(api, capsys, tmp_path):
    (tmp_path / "in.jsonl").write_text('"a"\n')
    output = tmp_path / "opus.jsonl"
    code = gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model", "openai-gpt-oss-120b",
                                "--output", str(output), "--daily-budget", "0.000001"])
    assert code == 1 and not output.exists() and api.calls("POST") == []
    capsys.readouterr()
    output.write_text("")  # an empty file from an earlier run: the retry needs no --force
    api.json("POST", CHAT, ANSWER)
    assert gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model", "m",
                                "--output", str(output)]) == 0
    assert json.loads(output.read_text())["status"] == "ok"
