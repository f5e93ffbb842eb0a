#!/usr/bin/env python3
"""Measure the suite against its limits, each figure as a ratio to a baseline taken in the same run.

examples:
  python3 bench/run.py              the full run: a table, targets, pass/fail
  python3 bench/run.py --json       the same as one JSON document
  python3 bench/run.py --quick      fewer runs and smaller inputs (the test suite runs this)
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
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

PY = sys.executable
SCRIPT_NAMES = ("gradient_models", "gradient_chat", "gradient_image", "gradient_pricing", "gradient_embed",
                "gradient_audio")
MODELS = {"object": "list", "data": [{"id": f"model-{i}", "object": "model", "created": 1752255238,
                                      "owned_by": "digitalocean"} for i in range(40)]}
CHAT = {"id": "c", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                                              "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


def clean_env(**extra) -> dict:
    """The environment a user has: no keys or suite settings, and bytecode caching and
    buffered stdout as Python's defaults (some CI machines turn both off)."""
    unset = ("GRADIENT_", "MODEL_ACCESS", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    env.update(extra)
    return env


def run_once(argv, env) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed: {done.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def wall_times(argv, baseline_argv, env=None, runs=5) -> tuple:
    """Median wall times (s) of a whole process and of its baseline, their runs interleaved so
    that a change in the machine's load falls on both alike."""
    env = env or clean_env()
    pairs = [(run_once(argv, env), run_once(baseline_argv, env)) for _ in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def figure(name, value, baseline, target, unit, ratio=None, note=""):
    ratio = ratio if ratio is not None else (value / baseline if baseline else None)
    measured = ratio if ratio is not None else value
    return {"figure": name, "value": round(value, 4), "baseline": None if baseline is None else round(baseline, 4),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "unit": unit,
            "pass": measured <= target, "note": note}


# ---------------------------------------------------------------- figures

def help_figures(runs: int) -> list:
    results = []
    for name in SCRIPT_NAMES:
        value, baseline = wall_times([PY, str(SCRIPTS / f"{name}.py"), "--help"], [PY, "-c", "pass"], runs=runs)
        results.append(figure(f"{name}.py --help", value, baseline, 2.5, "s"))
    return results


def cached_pricing_figure(runs: int, folder: str) -> dict:
    cache = os.path.join(folder, "cache.json")
    env = clean_env(GRADIENT_PRICING_CACHE=cache, GRADIENT_PRICING_URL="http://127.0.0.1:9/")
    snapshot = json.loads((SCRIPTS / "pricing_snapshot.json").read_text())
    snapshot["fetched_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    Path(cache).write_text(json.dumps(snapshot))
    value, baseline = wall_times([PY, str(SCRIPTS / "gradient_pricing.py"), "--json"], [PY, "-c", "pass"], env,
                                 runs)
    imported = subprocess.run([PY, "-X", "importtime", str(SCRIPTS / "gradient_pricing.py"), "--json"], env=env,
                              capture_output=True).stderr.decode()
    heavy = sorted({m for m in ("requests", "bs4", "urllib3") if f" {m}\n" in imported or f"| {m}\n" in imported})
    return figure("gradient_pricing.py --json (fresh cache)", value, baseline, 3.0, "s",
                  note="imports: " + (", ".join(heavy) if heavy else "no requests/bs4/urllib3"))


def api_figures(runs: int) -> list:
    api = FakeAPI().start()
    try:
        api.json("GET", "/v1/models", MODELS)
        api.json("POST", "/v1/chat/completions", CHAT)
        bare_get = f"import requests; requests.get({api.url + '/models'!r}, timeout=10).json()"
        bare_post = (f"import requests; requests.post({api.url + '/chat/completions'!r}, timeout=10, json="
                     "{'model': 'm', 'messages': [{'role': 'user', 'content': 'Hi'}]}).json()")
        models = wall_times([PY, str(SCRIPTS / "gradient_models.py"), "--json", "--base-url", api.url],
                            [PY, "-c", bare_get], runs=runs)
        chat = wall_times([PY, str(SCRIPTS / "gradient_chat.py"), "--json", "--no-stdin", "--prompt", "Hi",
                           "--base-url", api.url], [PY, "-c", bare_post], runs=runs)
        return [figure("gradient_models.py --json (local server)", *models, 1.3, "s",
                       note="baseline: bare requests.get"),
                figure("gradient_chat.py --json (local server)", *chat, 1.3, "s",
                       note="baseline: bare requests.post")]
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
        process = subprocess.Popen([PY, str(SCRIPTS / "gradient_chat.py"), "--stream", "--no-stdin", "--prompt",
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

    import gradient_pricepage

    page = pricing_page(size)
    gradient_pricepage.parse_html("<table></table>")  # bs4's import is timed below, not here
    with_bs4, bare = wall_times([PY, "-c", "import bs4"], [PY, "-c", "pass"], runs=runs)
    import_ms = (with_bs4 - bare) * 1000
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        rows = gradient_pricepage.parse_html(page)
        timings.append((time.perf_counter() - started) * 1000)
    if len(rows) < 18:
        raise RuntimeError(f"the page gave {len(rows)} rows")
    return figure(f"parse a {len(page) / 1e6:.1f} MB pricing page", statistics.median(timings), None, 150.0,
                  "ms", note=f"parser: html.parser via bs4 {bs4.__version__}, {len(rows)} rows; "
                       f"importing bs4 adds {import_ms:.0f} ms once per live fetch")


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


def memory_figure(image_mb: int, folder: str) -> dict:
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(image_mb * 1024 * 1024 - 8)
    body = json.dumps({"data": [{"b64_json": base64.b64encode(image).decode()}]}).encode()
    api = FakeAPI().start()
    api.add("POST", "/v1/images/generations", Reply(body=body))
    try:
        baseline = peak_rss_kb([PY, "-c", "import requests"], clean_env())
        output = os.path.join(folder, "bench.png")
        peak = peak_rss_kb([PY, str(SCRIPTS / "gradient_image.py"), "--prompt", "x", "--output", output,
                            "--force", "--base-url", api.url], clean_env())
        if os.path.getsize(output) != len(image):
            raise RuntimeError("the saved image has the wrong size")
    finally:
        api.stop()
    extra_mb = (peak - baseline) / 1024
    return figure(f"peak memory saving a {image_mb} MB base64 image", extra_mb, image_mb, 3.0, "MB",
                  note=f"peak {peak / 1024:.0f} MB, interpreter with requests {baseline / 1024:.0f} MB")


# ---------------------------------------------------------------- report

def render(results: list, machine: dict) -> str:
    header = ("figure", "value", "baseline", "ratio", "target", "result")
    rows = [header]
    for r in results:
        unit = r["unit"]
        value = f"{r['value'] * 1000:.1f} ms" if unit == "s" else f"{r['value']:.1f} {unit}"
        baseline = "-" if r["baseline"] is None else (
            f"{r['baseline'] * 1000:.1f} ms" if unit == "s" else f"{r['baseline']:.0f} {unit}")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        target = f"<= {r['target']}x" if r["ratio"] is not None else f"<= {r['target']:g} {unit}"
        rows.append((r["figure"], value, baseline, ratio, target, "pass" if r["pass"] else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"machine: {machine['cores']} cores, Python {machine['python']}, {machine['platform']}"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += [f"  {r['figure']}: {r['note']}" for r in results if r["note"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 runs each and smaller inputs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--runs", type=int, help="runs per timed figure (default 9, quick 2)")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 9)
    machine = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    with tempfile.TemporaryDirectory() as folder:
        results = help_figures(runs)
        results.append(cached_pricing_figure(runs, folder))
        results += api_figures(runs)
        results.append(streaming_figure(10 if args.quick else 50))
        results.append(parse_figure(200_000 if args.quick else 1_000_000, runs))
        results.append(memory_figure(2 if args.quick else 20, folder))
    if args.json:
        json.dump({"machine": machine, "quick": args.quick, "results": results}, sys.stdout, indent=2)
        print()
    else:
        print(render(results, machine))
    return 0 if all(r["pass"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
