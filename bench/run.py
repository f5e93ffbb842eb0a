#!/usr/bin/env python3
"""Measure the suite against its limits, each figure as a ratio to a baseline taken in the same run.

Run it on a quiet machine: when the baseline's own runs spread too far it says "machine busy",
judges nothing it cannot trust, and exits 3.

examples:
  python3 bench/run.py              the full run: a table, targets, pass/fail (exit 1 on a miss)
  python3 bench/run.py --json       the same as one JSON document
  python3 bench/run.py --markdown   README's Performance table
  python3 bench/run.py --quick      fewer runs and smaller inputs (the test suite runs this)
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(ROOT / "tests"))

from fakeapi import FakeAPI, Reply, sse  # noqa: E402

import batch_figures  # noqa: E402  (beside this file)

PY = sys.executable
# -S: this machine's site hooks (.pth files) run at every start and are no part of ours; here one
# imports certifi (50 ms), which would add the same constant to both sides and squeeze every ratio.
INTERPRETER = (PY, "-S")
FLOOR = "import argparse, json, re, os, sys"  # the standard-library floor every command stands on
HELP_TARGET = 1.45  # every command's --help, in instructions of the floor's
PRICES_TARGET = 1.5  # gradient_pricing.py --json from a fresh cache
SIMILARITY_TARGET_MS = 2000.0  # 2,000 x 1,024 ranked against a query, CPU time
BUSY_SPREAD = 0.15  # how far the baseline's fastest runs may differ between the halves of a figure
SLOW_MODULES = ("requests", "bs4", "urllib3", "typing", "datetime", "urllib.parse", "shutil", "textwrap")
SCRIPT_NAMES = ("gradient_models", "gradient_chat", "gradient_image", "gradient_pricing", "gradient_embed", "gradient_usage",
                "gradient_audio", "gradient_batch", "gradient_video")
MODELS = {"object": "list", "data": [{"id": f"model-{i}" if i else "openai-gpt-oss-120b", "object": "model",
                                      "created": 1752255238, "owned_by": "digitalocean"} for i in range(40)]}
# The model lists the commands check their defaults against, kept a day like a user's (not /tmp's shared default)
MODELS_CACHE = os.path.join(tempfile.gettempdir(), f"gradient-bench-models-{os.getuid()}.json")
CHAT = {"id": "c", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                                              "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


def clean_env(**extra) -> dict:
    """The environment a user has: no keys or suite settings, and bytecode caching and
    buffered stdout as Python's defaults (some CI machines turn both off). Site-packages come
    through PYTHONPATH, because every process here starts with -S (see INTERPRETER)."""
    unset = ("GRADIENT_", "MODEL_ACCESS", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    env["PYTHONPATH"] = os.pathsep.join(site.getsitepackages())
    env["GRADIENT_MODELS_CACHE"] = MODELS_CACHE
    env.update(extra)
    return env


def child_usage(argv, env) -> tuple:
    """(CPU seconds, user + system, and wall seconds) of one run of a command."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    error = process.stderr.read()
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{argv} failed: {error.decode(errors='replace')[-500:]}")
    return usage.ru_utime + usage.ru_stime, wall


def spread(values) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def paired_runs(argv, baseline_argv, env=None, runs=5) -> dict:
    """CPU and wall times of a command and of its baseline, their runs interleaved so that a
    change in the machine's load falls on both alike."""
    env = env or clean_env()
    child_usage(argv, env), child_usage(baseline_argv, env)  # warm the page cache and bytecode
    pairs = [(child_usage(argv, env), child_usage(baseline_argv, env)) for _ in range(runs)]
    half = max(len(pairs) // 2, 1)
    return {"cpu": spread([p[0][0] for p in pairs]), "wall": spread([p[0][1] for p in pairs]),
            "baseline_cpu": spread([p[1][0] for p in pairs]), "baseline_wall": spread([p[1][1] for p in pairs]),
            "baseline_halves": (min(p[1][0] for p in pairs[:half]), min(p[1][0] for p in pairs[half:] or pairs))}


def machine_busy(timings: dict) -> bool:
    """Interference only ever slows a run, so the fastest run is the figure to trust, but only
    while it is stable: when the two halves of the baseline's runs disagree on their fastest by
    more than BUSY_SPREAD, something else is taking the CPU and no ratio is judged."""
    first, second = timings["baseline_halves"]
    return max(first, second) > (1 + BUSY_SPREAD) * min(first, second)


def instructions(argv, env) -> int | None:
    """Instructions executed by a command under callgrind: the same count run after run,
    whatever else the machine does. None where valgrind is missing."""
    if not shutil.which("valgrind"):
        return None
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], env=env,
                          capture_output=True, stdin=subprocess.DEVNULL)
    found = re.search(rb"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found and done.returncode == 0 else None


def timed_figure(name, timings, target, baseline_name, note="", counts=None) -> dict:
    """A figure judged on the ratio of instructions executed where valgrind counts them (the same
    count run after run), else on the ratio of the fastest CPU times (user + system), which a busy
    machine can still move. Medians, slowest runs and wall times are shown beside it."""
    cpu_ratio = timings["cpu"]["min"] / timings["baseline_cpu"]["min"]
    result = {"figure": name, "value": round(timings["cpu"]["min"], 5),
              "baseline": round(timings["baseline_cpu"]["min"], 5), "ratio": round(cpu_ratio, 3),
              "target": target, "unit": "s", "baseline_name": baseline_name,
              "cpu": {k: round(v, 5) for k, v in timings["cpu"].items()},
              "wall": {k: round(v, 5) for k, v in timings["wall"].items()},
              "baseline_cpu": {k: round(v, 5) for k, v in timings["baseline_cpu"].items()},
              "median_ratio": round(timings["cpu"]["median"] / timings["baseline_cpu"]["median"], 3),
              "wall_ratio": round(timings["wall"]["median"] / timings["baseline_wall"]["median"], 3),
              "busy": machine_busy(timings), "judged_on": "cpu", "note": note}
    if counts and None not in counts:
        result["instructions"], result["baseline_instructions"] = counts
        result["instructions_ratio"] = round(counts[0] / counts[1], 3)
        result["judged_on"] = "instructions"
        result["pass"] = result["instructions_ratio"] <= target
    else:
        result["pass"] = None if result["busy"] else cpu_ratio <= target
    if result["busy"]:
        result["note"] = (note + "; " if note else "") + "machine busy: the baseline's fastest runs in the two " \
            f"halves differ by over {BUSY_SPREAD:.0%}" + ("" if result["judged_on"] == "instructions"
                                                            else ", so this figure is not judged")
    return result


def figure(name, value, baseline, target, unit, note=""):
    """A figure judged on its value (milliseconds, megabytes) or on value / baseline when one is given."""
    ratio = value / baseline if baseline else None
    measured = ratio if ratio is not None else value
    return {"figure": name, "value": round(value, 4), "baseline": None if baseline is None else round(baseline, 4),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "unit": unit,
            "pass": True if target is None else measured <= target, "note": note}  # no target: reported only


# ---------------------------------------------------------------- figures

def startup_figures(runs: int, folder: str, count: bool) -> list:
    """Every command's --help, and the pricing command from a fresh cache, against the floor."""
    cache = os.path.join(folder, "cache.json")
    env = clean_env(GRADIENT_PRICING_CACHE=cache, GRADIENT_PRICING_URL="http://127.0.0.1:9/")
    snapshot = json.loads((SCRIPTS / "gradient_inference" / "models" / "pricing_snapshot.json").read_text())
    snapshot["fetched_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    Path(cache).write_text(json.dumps(snapshot))
    floor = [*INTERPRETER, "-c", FLOOR]
    floor_count = instructions(floor, env) if count else None
    commands = [(f"{name}.py --help", [*INTERPRETER, str(SCRIPTS / f"{name}.py"), "--help"], "", HELP_TARGET)
                for name in SCRIPT_NAMES]
    imported = subprocess.run([*INTERPRETER, "-X", "importtime", str(SCRIPTS / "gradient_pricing.py"), "--json"],
                              env=env, capture_output=True).stderr.decode()
    heavy = sorted(m for m in SLOW_MODULES if re.search(rf"\|\s+{re.escape(m)}$", imported, re.M))
    commands.append(("gradient_pricing.py --json (fresh cache)",
                     [*INTERPRETER, str(SCRIPTS / "gradient_pricing.py"), "--json"],
                     "imports: " + (", ".join(heavy) if heavy else "none of " + ", ".join(SLOW_MODULES)), PRICES_TARGET))
    results = []
    for name, argv, note, target in commands:
        counts = (instructions(argv, env), floor_count) if count else None
        results.append(timed_figure(name, paired_runs(argv, floor, env, runs), target, "floor", note, counts))
    return results


def api_figures(runs: int, count: bool) -> list:
    api = FakeAPI().start()
    try:
        api.json("GET", "/v1/models", MODELS)
        api.json("POST", "/v1/chat/completions", CHAT)
        bare_get = f"import requests; requests.get({api.url + '/models'!r}, timeout=10).json()"
        bare_post = (f"import requests; requests.post({api.url + '/chat/completions'!r}, timeout=10, json="
                     "{'model': 'm', 'messages': [{'role': 'user', 'content': 'Hi'}]}).json()")
        figures = []
        for name, argv, baseline, baseline_name in (
                ("gradient_models.py --json (local server)",
                 [*INTERPRETER, str(SCRIPTS / "gradient_models.py"), "--json", "--base-url", api.url],
                 [*INTERPRETER, "-c", bare_get], "bare requests.get"),
                ("gradient_chat.py --json (local server)",
                 [*INTERPRETER, str(SCRIPTS / "gradient_chat.py"), "--json", "--no-stdin", "--prompt", "Hi",
                  "--base-url", api.url], [*INTERPRETER, "-c", bare_post], "bare requests.post")):
            child_usage(argv, clean_env())  # once first: the model list cached, as after the day's first call
            counts = (instructions(argv, clean_env()), instructions(baseline, clean_env())) if count else None
            figures.append(timed_figure(name, paired_runs(argv, baseline, runs=runs), 1.3, baseline_name,
                                        counts=counts))
        return figures
    finally:
        api.stop()


def streaming_figure(chunks: int) -> dict:
    """Delay from the server flushing a chunk to the text showing on the script's stdout."""
    sent = {}
    api = FakeAPI().start()
    events = [{"id": "s", "choices": [{"index": 0, "delta": {"content": f"<{i}>"}, "finish_reason": None}]}
              for i in range(chunks)]
    api.add("POST", "/v1/chat/completions", Reply(chunks=sse(*events), chunk_delay=0.02,
                                                  on_chunk=lambda i: sent.setdefault(i, time.perf_counter()),
                                                  headers={"Content-Type": "text/event-stream"}))
    try:
        process = subprocess.Popen([*INTERPRETER, str(SCRIPTS / "gradient_chat.py"), "--stream", "--no-stdin", "--prompt",
                                    "Hi", "--base-url", api.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, env=clean_env())
        seen, text = {}, ""
        while True:
            piece = os.read(process.stdout.fileno(), 65536)
            if not piece:
                break
            now = time.perf_counter()
            text += piece.decode()
            for i in range(len(seen), chunks):
                if f"<{i}>" not in text:
                    break
                seen[i] = now
        process.wait(timeout=60)
    finally:
        api.stop()
    delays = sorted((seen[i] - sent[i]) * 1000 for i in seen if i in sent)
    if len(delays) < chunks:
        raise RuntimeError(f"only {len(delays)} of {chunks} chunks arrived")
    p95 = delays[min(len(delays) - 1, int(round(0.95 * len(delays))) - 1)]
    return figure(f"streaming delay p95 ({chunks} chunks, 20 ms apart)", p95, None, 5.0, "ms",
                  note=f"median {statistics.median(delays):.2f} ms, max {delays[-1]:.2f} ms")


def terminal_stream_figure(deltas: int) -> dict:
    """CPU of gradient_chat.py printing a stream of `deltas` small deltas to a terminal (a
    pseudo-terminal): every delta masked and escaped, as a person watching the answer gets it."""
    import pty

    events = [{"id": "s", "choices": [{"index": 0, "delta": {"content": f"w{i % 10} "}, "finish_reason": None}]}
              for i in range(deltas)]
    body = b"".join(sse(*events))
    api = FakeAPI().start()
    api.add("POST", "/v1/chat/completions", Reply(body=body, headers={"Content-Type": "text/event-stream"}))
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen([*INTERPRETER, str(SCRIPTS / "gradient_chat.py"), "--stream", "--no-stdin",
                                    "--prompt", "Hi", "--model", "m", "--base-url", api.url], stdout=follower,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=clean_env())
        os.close(follower)
        received = 0
        while True:
            try:
                piece = os.read(leader, 1 << 16)
            except OSError:
                break
            if not piece:
                break
            received += len(piece)
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        os.close(leader)
        api.stop()
    if os.waitstatus_to_exitcode(status) != 0 or received < deltas * 3:
        raise RuntimeError("the terminal stream did not come through")
    return figure(f"chat stream to a terminal: {deltas:,} deltas", (usage.ru_utime + usage.ru_stime) * 1000, None,
                  2000.0, "ms", note="CPU time of the command, start-up included; every delta masked and escaped")


def pricing_page(size: int) -> str:
    """A pricing page of about `size` bytes: the real layout inside a large docs shell."""
    page = (ROOT / "tests" / "fixtures" / "pricing_2026_tabs.html").read_text()
    head, _, rest = page.partition("<main>")
    nav = "".join(f'<li class="nav-item"><a href="/products/p{i}/">Product {i}</a>'
                  f'<ul><li><a href="/products/p{i}/how-to/">How-to</a></li></ul></li>' for i in range(40))
    script = "<script>" + "var docsConfig = {" + ",".join(f'"k{i}": {i}' for i in range(400)) + "};</script>"
    article = "".join(f"<h3>Section {i}</h3><p>" + "Serverless inference lets you run models. " * 12 + "</p>"
                      "<pre><code>curl -s https://inference.do-ai.run/v1/models</code></pre>" for i in range(40))
    filler = f'<nav class="sidebar"><ul>{nav}</ul></nav>{script}'
    body = head + filler + "<main>" + article + rest
    while len(body) < size:
        body = body.replace("</footer>", f"<div class='related'>{article}</div></footer>", 1)
    return body


def parse_figure(size: int, runs: int) -> dict:
    import bs4

    from gradient_inference.models import price_page

    page = pricing_page(size)
    price_page.parse_html("<table></table>")  # bs4's import is timed below, not here
    bs4_import = paired_runs([*INTERPRETER, "-c", "import bs4"], [*INTERPRETER, "-c", "pass"], runs=runs)
    import_ms = (bs4_import["cpu"]["median"] - bs4_import["baseline_cpu"]["median"]) * 1000
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        rows = price_page.parse_html(page)
        timings.append((time.perf_counter() - started) * 1000)
    if len(rows) < 18:
        raise RuntimeError(f"the page gave {len(rows)} rows")
    return figure(f"parse a {len(page) / 1e6:.1f} MB pricing page", statistics.median(timings), None, 150.0,
                  "ms", note=f"parser: html.parser via bs4 {bs4.__version__}, {len(rows)} rows; "
                       f"importing bs4 adds {import_ms:.0f} ms once per live fetch")


def fastest_ms(work, repeats: int) -> float:
    """The fastest of `repeats` runs of work() in milliseconds of this process's CPU time."""
    timings = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        timings.append((time.process_time() - started) * 1000)
    return min(timings)


def stream_parsing_figures(megabytes: int, deltas: int, repeats: int) -> list:
    """The SSE parser on one long line without a newline (read 4 KB at a time), and a stream of
    many small deltas gathered into one answer: both must stay linear in the stream's size."""
    from gradient_inference.api import sse
    from gradient_inference.chat import answers

    def long_line():
        parser = sse.SSEParser()
        piece = b"x" * 4096
        parser.feed(b"data: ")
        for _ in range(megabytes * 256):
            parser.feed(piece)
        events = parser.feed(b"\n\n")
        if len(events) != 1 or len(events[0][1]) != megabytes << 20:
            raise RuntimeError("the long SSE line did not come through whole")

    chunks = [{"choices": [{"delta": {"content": f"token{i % 10} "}}]} for i in range(deltas)]

    def many_deltas():
        answer = answers.Answer("m", "chat")
        for chunk in chunks:
            answers.apply_chat_chunk(answer, chunk)
        if len(answer.content) != deltas * 7:
            raise RuntimeError("the deltas did not add up")

    return [figure(f"SSE: one {megabytes} MB line without a newline, 4 KB reads", fastest_ms(long_line, repeats),
                   None, 1000.0, "ms", note=f"fastest of {repeats}, CPU time"),
            figure(f"chat stream: {deltas:,} deltas into one answer", fastest_ms(many_deltas, repeats), None,
                   1000.0, "ms", note=f"fastest of {repeats}, CPU time")]


def similarity_figure(count: int, dimensions: int, repeats: int) -> dict:
    """gradient_embed.py --query's ranking on top of the API calls: `count` vectors of
    `dimensions`, as an answer's JSON gives them, ranked against a query in pure Python. Reading
    the answer is part of the call (every embed pays it); its time is in the note."""
    import random

    from gradient_inference.core.jsondata import loads
    from gradient_inference.media import similarity

    rng = random.Random(11)
    answer = json.dumps({"data": [{"index": i, "embedding": [rng.uniform(-1, 1) for _ in range(dimensions)]}
                                  for i in range(count + 1)]})
    vectors = [item["embedding"] for item in loads(answer)["data"]]

    def ranked():
        if len(similarity.rank(vectors[-1], vectors[:-1], 10)) != 10:
            raise RuntimeError("the ranking lost rows")

    parse_ms = fastest_ms(lambda: loads(answer), 1)
    return figure(f"similarity: {count:,} inputs of {dimensions:,} dimensions ranked against a query",
                  fastest_ms(ranked, repeats), None, SIMILARITY_TARGET_MS, "ms",
                  note=f"fastest of {repeats}, CPU time; reading the {len(answer) / 1e6:.0f} MB answer "
                       f"(part of the API call) took {parse_ms:.0f} ms more")


PEAK_RSS = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_kb(argv, env) -> int:
    """Peak RSS of a command started by a small helper: a child forked straight from this
    process (which holds the test image) would count our pages as its own."""
    done = subprocess.run([PY, "-c", PEAK_RSS, *argv], env=env, capture_output=True, stdin=subprocess.DEVNULL)
    code, peak = done.stdout.decode().split()
    if code != "0":
        raise RuntimeError(f"{argv} failed: {done.stderr.decode()[-500:]}")
    return int(peak)


def report_figure(count: int, folder: str, repeats: int) -> dict:
    """`gradient_usage.py --by day --since 365d` on a generated ledger of `count` calls over a year,
    against the same aggregates as one raw SQLite GROUP BY from the same Python: the CPU of the
    report (its SQL, the totals made from the groups, the rounding) over the query alone."""
    import random
    import sqlite3

    from gradient_inference.ledger import reports, store

    path = os.path.join(folder, "year.db")
    rng = random.Random(5)
    start = time.time() - 365 * 86400
    models = ["openai-gpt-oss-120b", "llama3.3-70b-instruct", "anthropic-claude-haiku-4.5", "openai-gpt-5.4-mini"]
    rows = [(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 365 * 86400 / count)), "chat",
             rng.choice(models), "ok" if rng.random() > 0.02 else "server", rng.randint(10, 4000), rng.randint(1, 800),
             rng.choice((None, 0, 128)), rng.choice((None, round(rng.random() / 1000, 8))), "prices: catalog")
            for i in range(count)]
    database = store.connect(path)
    with database:
        database.executemany("INSERT INTO calls (ts, script, model, outcome, input_tokens, output_tokens, cached_tokens, "
                             "cost_usd, price_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    database.close()
    since = time.strftime("%Y-%m-%d", time.gmtime(start))
    old = os.environ.get("GRADIENT_USAGE_DB")
    os.environ["GRADIENT_USAGE_DB"] = path
    try:
        def report():
            reports.report(since, None, "day")

        def raw():
            connection = sqlite3.connect(path)
            connection.execute(
                "SELECT substr(ts, 1, 10) AS key, COUNT(*), SUM(outcome != 'ok'), SUM(input_tokens), SUM(output_tokens), "
                "SUM(cached_tokens), TOTAL(cost_usd), SUM(cost_usd IS NULL), "
                "SUM(instr(COALESCE(price_source, ''), 'an upper bound') > 0) FROM calls WHERE ts >= ? "
                "GROUP BY key ORDER BY key", (since,)).fetchall()
            connection.close()

        report(), raw()  # warm the page cache
        report_ms, raw_ms = fastest_ms(report, repeats), fastest_ms(raw, repeats)
    finally:
        if old is None:
            os.environ.pop("GRADIENT_USAGE_DB", None)
        else:
            os.environ["GRADIENT_USAGE_DB"] = old
    return figure(f"usage report by day over a year ({count:,} calls)", report_ms, raw_ms, 1.2, "ms",
                  note=f"CPU of the report {report_ms:.0f} ms against the raw GROUP BY {raw_ms:.0f} ms; fastest of "
                       f"{repeats}")


def memory_figure(image_mb: int, folder: str) -> dict:
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(image_mb * 1024 * 1024 - 8)
    body = json.dumps({"data": [{"b64_json": base64.b64encode(image).decode()}]}).encode()
    api = FakeAPI().start()
    api.add("POST", "/v1/images/generations", Reply(body=body))
    try:
        baseline = peak_rss_kb([*INTERPRETER, "-c", "import requests"], clean_env())
        output = os.path.join(folder, "bench.png")
        peak = peak_rss_kb([*INTERPRETER, str(SCRIPTS / "gradient_image.py"), "--prompt", "x", "--output", output,
                            "--force", "--base-url", api.url], clean_env())
        if os.path.getsize(output) != len(image):
            raise RuntimeError("the saved image has the wrong size")
    finally:
        api.stop()
    extra_mb = (peak - baseline) / 1024
    return figure(f"peak memory saving a {image_mb} MB base64 image", extra_mb, image_mb, 3.0, "MB",
                  note=f"peak {peak / 1024:.0f} MB, interpreter with requests {baseline / 1024:.0f} MB")


# ---------------------------------------------------------------- report

def milliseconds(seconds) -> str:
    return f"{seconds * 1000:.1f} ms"


def render(results: list, machine: dict) -> str:
    header = ("figure", "value", "baseline", "CPU ratio", "instructions", "target", "result")
    rows = [header]
    for r in results:
        unit = r["unit"]
        value = milliseconds(r["value"]) if unit == "s" else f"{r['value']:.1f} {unit}"
        baseline = "-" if r["baseline"] is None else (
            milliseconds(r["baseline"]) if unit == "s" else f"{r['baseline']:.0f} {unit}")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        counted = f"{r['instructions_ratio']:.3f}x" if "instructions_ratio" in r else "-"
        target = "-" if r["target"] is None else f"<= {r['target']}x" if r["ratio"] is not None else \
            f"<= {r['target']:g} {unit}"
        verdict = "busy" if r["pass"] is None else "pass" if r["pass"] else "FAIL"
        rows.append((r["figure"], value, baseline, ratio, counted, target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"machine: {machine['cores']} cores, Python {machine['python']}, {machine['platform']}; "
             f"children pinned to CPU {machine['cpu']}; `python3 -S -c pass` {milliseconds(machine['pass_cpu'])} CPU",
             "value: the fastest CPU time (user + system) of runs interleaved with the baseline's; judged on the "
             "instructions ratio where valgrind counts it, else on the CPU ratio"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for r in results:
        details = []
        if "cpu" in r:
            details.append("CPU min/median/max " + "/".join(milliseconds(r["cpu"][k]) for k in ("min", "median", "max"))
                           + ", baseline " + "/".join(milliseconds(r["baseline_cpu"][k])
                                                       for k in ("min", "median", "max"))
                           + f"; median ratio {r['median_ratio']:.2f}x, wall ratio {r['wall_ratio']:.2f}x")
        if r["note"]:
            details.append(r["note"])
        if details:
            lines.append(f"  {r['figure']}: " + "; ".join(details))
    return "\n".join(lines)


def markdown(results: list, machine: dict) -> str:
    """README's Performance table, as the run measured it."""
    lines = [f"`python3 bench/run.py --markdown`, {machine['cores']} cores, Python {machine['python']}, "
             f"{machine['platform'].split('-with-')[0]}; `python3 -S -c pass` takes "
             f"{milliseconds(machine['pass_cpu'])} of CPU here.", "",
             "| figure | value | baseline | CPU ratio | instructions ratio | target | result |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        unit = r["unit"]
        value = milliseconds(r["value"]) + " CPU" if unit == "s" else f"{r['value']:.1f} {unit}"
        if r["baseline"] is None:
            baseline = "-"
        elif unit == "s":
            baseline = f"{r.get('baseline_name', 'baseline')} {milliseconds(r['baseline'])}"
        else:
            baseline = f"{r['baseline']:.0f} {unit}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        counted = f"{r['instructions_ratio']:.3f}x" if "instructions_ratio" in r else "-"
        target = "-" if r["target"] is None else f"≤ {r['target']}x" if r["ratio"] is not None else \
            f"≤ {r['target']:g} {unit}"
        verdict = "busy" if r["pass"] is None else "pass" if r["pass"] else "FAIL"
        lines.append(f"| {r['figure']} | {value} | {baseline} | {ratio} | {counted} | {target} | {verdict} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 runs each, smaller inputs, no instruction counts")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print README's Performance table")
    parser.add_argument("--runs", type=int, help="runs per timed figure (default 21, quick 2)")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 21)
    cpu = pin_to_one_cpu()
    pass_cpu = statistics.median(child_usage([*INTERPRETER, "-c", "pass"], clean_env())[0] for _ in range(5))
    machine = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "cpu": cpu, "pass_cpu": pass_cpu}
    with tempfile.TemporaryDirectory() as folder:
        results = startup_figures(runs, folder, count=not args.quick)
        results += api_figures(runs, count=not args.quick)
        results.append(streaming_figure(10 if args.quick else 50))
        results.append(terminal_stream_figure(10_000 if args.quick else 100_000))
        results.append(parse_figure(200_000 if args.quick else 1_000_000, runs))
        results += stream_parsing_figures(1 if args.quick else 8, 10_000 if args.quick else 100_000,
                                          1 if args.quick else 5)
        results.append(similarity_figure(200 if args.quick else 2000, 1024, 1 if args.quick else 5))
        results.append(memory_figure(2 if args.quick else 20, folder))
        results.append(report_figure(50_000 if args.quick else 1_000_000, folder, 1 if args.quick else 5))
    results += batch_figures.figures(args.quick, clean_env(GRADIENT_NO_LOG="1"), figure)
    if args.json:
        json.dump({"machine": machine, "quick": args.quick, "results": results}, sys.stdout, indent=2)
        print()
    elif args.markdown:
        print(markdown(results, machine))
    else:
        print(render(results, machine))
    if any(r["pass"] is None for r in results):
        print("the machine was busy: some figures were not judged; wait until it is quiet and run again",
              file=sys.stderr)
        return 3
    return 0 if all(r["pass"] for r in results) else 1


def pin_to_one_cpu():
    """Run this process and every child on one CPU (the last): moving between CPUs is the
    largest noise in short runs on a small machine. None where the platform cannot pin."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    chosen = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {chosen})
    return chosen


if __name__ == "__main__":
    sys.exit(main())
