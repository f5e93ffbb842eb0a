"""The benchmark's --quick mode runs once so the benchmark itself cannot rot (no timing asserts)."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_bench_quick_produces_every_figure():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json"],
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    # 1 says a target was missed, 3 that the machine was too busy to judge: neither is for a test to decide
    assert done.returncode in (0, 1, 3), done.stderr.decode()[-2000:]
    report = json.loads(done.stdout)
    figures = [r["figure"] for r in report["results"]]
    assert len(figures) == 22
    assert sum(f.endswith("--help") for f in figures) == 9
    for name in ("fresh cache", "gradient_models.py --json", "gradient_chat.py --json", "streaming delay",
                 "pricing page", "peak memory", "without a newline", "deltas into one answer",
                 "requests/min", "no limit", "ranked against a query", "to a terminal", "usage report by day"):
        assert any(name in f for f in figures), name
    for result in report["results"]:
        assert isinstance(result["value"], float) and result["pass"] in (True, False, None)
        if "cpu" in result:  # timed figures: CPU time of interleaved runs, with their spread
            assert 0 < result["cpu"]["min"] <= result["cpu"]["median"] <= result["cpu"]["max"]
            assert result["baseline_cpu"]["min"] > 0 and result["wall"]["median"] > 0
    assert report["machine"]["cores"] >= 1
    assert sum("cpu" in r for r in report["results"]) == 12
    assert "imports: none of requests, bs4" in next(r["note"] for r in report["results"] if "fresh cache" in r["figure"])
    # the README table renders from the same figures (it once failed on the batch figures' missing baseline name)
    sys.path.insert(0, str(ROOT / "bench"))
    import run as bench

    table = bench.markdown(report["results"], report["machine"])
    assert table.count("\n| ") == 1 + len(figures) and "requests/min" in table
