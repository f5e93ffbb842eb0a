"""The batch figures of bench/run.py: gradient_batch.py against a fake server that answers after
50 ms and admits requests as a token bucket (20 a second, bursts up to 40, 429 with Retry-After
beyond), announcing its limit and what remains in every answer as DigitalOcean does
(x-ratelimit-limit-requests per minute, x-ratelimit-remaining-requests), beside the same items as a shell loop over gradient_chat.py; and 2,000 items against a
server with no limit. The child runs on the CPUs the bench process does not use, so that the
server in this process and the client do not share one.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakeapi import FakeAPI, Reply  # noqa: E402

RATE, BURST, LATENCY = 20.0, 40.0, 0.05
MEASURE = ("import os, resource, subprocess, sys, time; started = time.monotonic(); "
           "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
           "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(done.returncode, time.monotonic() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss); "
           "sys.stderr.buffer.write(done.stderr[-2000:])")


class TokenBucket:
    """Admits `rate` requests a second with bursts up to `burst`; the rest get 429 and Retry-After
    (whole seconds, as most servers send it, at least 1)."""

    def __init__(self, rate: float = RATE, burst: float = BURST):
        self.rate, self.burst, self.tokens, self.last = rate, burst, burst, time.monotonic()
        self.lock = threading.Lock()
        self.admitted = self.refused = 0

    def remaining(self) -> int:
        with self.lock:
            return int(self.tokens)

    def admit(self) -> float | None:
        """None when admitted, else the seconds until the next token."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.admitted += 1
                return None
            self.refused += 1
            return (1 - self.tokens) / self.rate


def answer(record) -> dict:
    body = json.loads(record.body)
    return {"id": "c", "model": body.get("model", "m"), "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}}


def serve(bucket: TokenBucket | None) -> FakeAPI:
    def reply(record):
        wait = bucket.admit() if bucket else None
        quota = {"x-ratelimit-limit-requests": str(int(RATE * 60)),
                 "x-ratelimit-remaining-requests": str(bucket.remaining())} if bucket else {}
        if wait is not None:
            return Reply(429, json={"error": {"message": "rate limit"}},
                         headers=dict(quota, **{"Retry-After": str(max(1, math.ceil(wait)))}))
        return Reply(json=answer(record), delay=LATENCY, headers=quota)

    api = FakeAPI().start()
    api.add("POST", "/v1/chat/completions", Reply(dynamic=reply))
    return api


def other_cpus():
    """Let a child run on every CPU but the one this process is pinned to."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    mine = os.sched_getaffinity(0)
    rest = set(range(os.cpu_count() or 1)) - mine
    return (lambda: os.sched_setaffinity(0, rest)) if rest else None


def measure(argv, env) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, preexec_fn=other_cpus())
    code, wall, cpu, peak = done.stdout.decode().split()
    return {"code": int(code), "wall": float(wall), "cpu": float(cpu), "peak_kb": int(peak),
            "stderr": done.stderr.decode(errors="replace")}


def items_file(folder: str, count: int) -> str:
    path = os.path.join(folder, f"items-{count}.jsonl")
    with open(path, "w") as handle:
        for index in range(count):
            handle.write(json.dumps({"custom_id": f"item-{index}", "prompt": f"Classify item {index}"}) + "\n")
    return path


def batch_run(api, path: str, folder: str, env: dict, concurrency: int) -> dict:
    output = os.path.join(folder, f"out-{concurrency}-{time.monotonic_ns()}.jsonl")
    result = measure([sys.executable, "-S", str(ROOT / "scripts" / "gradient_batch.py"), path, "--output", output,
                      "--base-url", api.url, "--concurrency", str(concurrency), "--no-log"], env)
    with open(output) as handle:
        lines = [json.loads(line) for line in handle]
    result["ok"] = sum(line["status"] == "ok" for line in lines)
    result["lines"] = len(lines)
    return result


def shell_loop(api, count: int, env: dict) -> dict:
    script = ('for i in $(seq 1 "$COUNT"); do "$PY" -S "$CHAT" --json --no-stdin --no-log --prompt "Classify item $i" '
              '--base-url "$URL" > /dev/null || exit 1; done')
    loop_env = dict(env, COUNT=str(count), PY=sys.executable, CHAT=str(ROOT / "scripts" / "gradient_chat.py"), URL=api.url)
    return measure(["bash", "-c", script], loop_env)


def figures(quick: bool, env: dict, figure) -> list:
    """The batch figures, made with bench/run.py's figure()."""
    count, loop_count, free_count = (100, 20, 400) if quick else (300, 300, 2000)
    floor = (count - BURST) / RATE + LATENCY  # the burst at once, then one request per token
    results = []
    with tempfile.TemporaryDirectory() as folder:
        bucket = TokenBucket()
        api = serve(bucket)
        try:
            run = batch_run(api, items_file(folder, count), folder, env, 4)
            loop = shell_loop(api, loop_count, env)
        finally:
            api.stop()
        if run["ok"] != count or run["code"] != 0:
            raise RuntimeError(f"the rate-limited batch run did {run['ok']} of {count} items: {run['stderr']}")
        loop_seconds = loop["wall"] * count / loop_count
        results.append(figure(f"batch: {count} items at 1,200 requests/min (50 ms answers)", run["wall"], floor, 1.05, "s",
                              note=f"floor {floor:.2f} s = (items - burst) / rate + latency; {bucket.refused} "
                                   f"answers were 429; peak memory {run['peak_kb'] / 1024:.0f} MB; the same items as a "
                                   f"shell loop over gradient_chat.py: {loop_seconds:.1f} s"
                                   + (f" (measured on {loop_count}, scaled)" if loop_count != count else "")))
        api = serve(None)
        try:
            free = batch_run(api, items_file(folder, free_count), folder, env, 16)
        finally:
            api.stop()
        if free["ok"] != free_count:
            raise RuntimeError(f"the unlimited batch run did {free['ok']} of {free_count} items: {free['stderr']}")
        results.append(figure(f"batch: {free_count} items, no limit, concurrency 16", free_count / free["wall"], None,
                              None, "items/s", note=f"CPU {free['cpu'] / free_count * 1000:.2f} ms per item; "
                                                    f"peak memory {free['peak_kb'] / 1024:.0f} MB"))
    return results
