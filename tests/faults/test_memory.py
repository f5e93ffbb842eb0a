"""Trust, third round: linear and bounded. A hostile answer or file never takes the process past
256 MB (what one JSON document may unpack to is capped before it is decoded), a 2,000 x 1,024
embeddings answer still works, and secret masking is gathered once (or on change), not per delta."""
from __future__ import annotations

import gzip
import json
import os
import random
import resource
import subprocess
import sys

import pytest

import gradient_chat
from conftest import SCRIPTS
from fakeapi import Reply, sse_reply
from gradient_inference.core import providers

LIMIT_KB = 256 * 1024


def peak_kb(argv, env=None, stdin=subprocess.DEVNULL) -> tuple:
    """(exit code, stderr, peak resident KB) of a command run as its own process."""
    process = subprocess.Popen([sys.executable, *argv], stdin=stdin, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=dict(os.environ, **(env or {})))
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), err.decode(errors="replace"), usage.ru_maxrss


def test_a_small_gzip_answer_that_unpacks_to_millions_of_objects_is_refused_within_the_bound(api):
    bomb = gzip.compress(b'{"data": [' + b"{}," * 7_000_000 + b"{}]}", 9)
    assert len(bomb) < 100_000
    api.add("POST", "/v1/chat/completions", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    code, err, peak = peak_kb([str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin", "--prompt", "q",
                               "--model", "m"])
    assert code == 1 and "cannot be read" in err and "Traceback" not in err
    assert peak < LIMIT_KB, f"{peak // 1024} MB"


def test_a_10_mb_tool_file_of_objects_is_refused_within_the_bound(api, tmp_path):
    tool = tmp_path / "tool.json"
    tool.write_bytes(b"[" + b"{}," * 3_400_000 + b"{}]")
    code, err, peak = peak_kb([str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url, "--no-stdin", "--prompt", "q",
                               "--model", "m", "--tool", str(tool)])
    assert code in (1, 2) and "Traceback" not in err and "unpack" in err
    assert peak < LIMIT_KB, f"{peak // 1024} MB"
    assert api.calls("POST") == []


def test_a_2000_by_1024_embeddings_answer_still_works_within_the_bound(api, tmp_path):
    rng = random.Random(7)
    answer = json.dumps({"data": [{"index": i, "embedding": [rng.uniform(-1, 1) for _ in range(1024)]}
                                  for i in range(2000)], "model": "e", "usage": {"prompt_tokens": 4000}})
    assert len(answer) > 40_000_000
    api.add("POST", "/v1/embeddings", Reply(body=answer))
    inputs = tmp_path / "in.txt"
    inputs.write_text("".join(f"text {i}\n" for i in range(1999)))  # and the query: 2,000 vectors
    code, err, peak = peak_kb([str(SCRIPTS / "gradient_embed.py"), "--base-url", api.url, "--model", "e",
                               "--input-file", str(inputs), "--batch-size", "2000", "--query", "x", "--top", "3"])
    assert code == 0, err
    assert peak < LIMIT_KB, f"{peak // 1024} MB"


def test_masking_is_gathered_once_or_on_change_not_per_delta(api, capsys, monkeypatch):
    monkeypatch.setenv("GRADIENT_API_KEY", "sk-do-a-key-for-this-test-000000")
    chunks = [{"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]} for i in range(5000)]
    api.add("POST", "/v1/chat/completions", sse_reply(*chunks, {"choices": [{"index": 0, "delta": {},
                                                                             "finish_reason": "stop"}]}))
    before = providers.gathered.cache_info().misses
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", "m", "--stream"]) == 0
    assert providers.gathered.cache_info().misses - before < 50  # per delta would be 5,000 or more
    assert capsys.readouterr().out.count("w4999 ") == 1
    monkeypatch.setenv("GRADIENT_API_KEY", "sk-do-a-new-key-set-just-now-111111")  # a change is seen at once
    assert providers.mask("x sk-do-a-new-key-set-just-now-111111 y") == "x *** y"
