"""gradient_pricing.py: parsing, cache and fallbacks, matching API ids, output modes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradient_inference.core import clock as core_clock
from gradient_inference.models import prices as models_prices
from gradient_inference.models import run_pricing as models_run_pricing
import gradient_pricing as pricing
from conftest import SCRIPTS
from fakeapi import Reply

FIXTURES = Path(__file__).parents[1] / "fixtures"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def compact(rows):
    return {(r["provider"], r["model"]): {k: v for k, v in r.items() if v is not None and k not in ("provider", "model")}
            for r in rows}


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "pricing_cache.json"


@pytest.fixture
def page(api, monkeypatch):
    """Serve a pricing page at /pricing/ and point the script at it."""
    def serve(body: str, path="/pricing/", content_type=HTML, status=200):
        api.add("GET", path, Reply(status, body=body, headers=content_type))
        monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + path)
    return serve


def write_cache(path, models, age_hours=1.0, **extra):
    fetched = core_clock.iso_utc(time.time() - age_hours * 3600)
    document = {"schema_version": 1, "fetched_at": fetched, "url": "https://cached.example/", "models": models}
    document.update(extra)
    path.write_text(json.dumps(document))


def row(model, input_price, output_price, provider="OpenAI"):
    return models_prices.make_row(provider, model, {"input_price": input_price, "output_price": output_price,
                                              "unit": models_prices.TOKEN_UNIT})


def run_json(capsys, *argv):
    code = pricing.main(["--json", *argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else None), captured.err


# ---------------------------------------------------------------- fetching, cache and fallbacks

def test_live_fetch_writes_the_cache(page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    code, document, err = run_json(capsys, "--cache-file", str(cache), "--model", "gpt-oss")
    assert code == 0 and err == ""
    assert document["source"] == "live" and document["count"] == 2 and document["age_seconds"] == 0
    assert [m["model"] for m in document["models"]] == ["gpt-oss-120b", "gpt-oss-20b"]
    assert set(document["models"][0]) >= {"provider", "model", "input_price", "output_price", "unit"}
    saved = json.loads(cache.read_text())
    assert saved["schema_version"] == 2 and saved["url"].endswith("/pricing/") and len(saved["models"]) == 18
    assert saved["fetched_at"].endswith("Z")


def test_fresh_cache_is_used_without_a_request(api, page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    write_cache(cache, [row("gpt-oss-120b", 0.1, 0.7)], age_hours=3)
    code, document, _ = run_json(capsys, "--cache-file", str(cache))
    assert code == 0 and document["source"] == "cache" and api.requests == []
    assert pricing.main(["--cache-file", str(cache)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("prices: cache, 3 h old") and captured.out.startswith("PROVIDER")


def test_expired_cache_and_no_cache_fetch_live(api, page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    write_cache(cache, [row("gpt-oss-120b", 0.1, 0.7)], age_hours=25)
    assert run_json(capsys, "--cache-file", str(cache))[1]["source"] == "live"
    assert run_json(capsys, "--cache-file", str(cache), "--no-cache")[1]["source"] == "live"
    assert len(api.requests) == 2
    write_cache(cache, [row("gpt-oss-120b", 0.1, 0.7)], age_hours=2)
    assert run_json(capsys, "--cache-file", str(cache), "--max-age", "1")[1]["source"] == "live"


def test_env_names_the_cache_file(page, tmp_path, monkeypatch, capsys):
    page(fixture("pricing_2026_tabs.html"))
    moved = tmp_path / "elsewhere.json"
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(moved))
    assert run_json(capsys)[0] == 0 and moved.exists()


def test_markdown_twin_is_tried_when_the_html_has_no_table(api, page, cache, capsys):
    page(fixture("pricing_no_tables.html"))
    api.add("GET", "/pricing/index.html.md", Reply(body=fixture("pricing_twin.md"),
                                                   headers={"Content-Type": "text/markdown"}))
    code, document, _ = run_json(capsys, "--cache-file", str(cache))
    assert code == 0 and document["source"] == "live" and document["count"] == 4
    assert [r.path for r in api.requests] == ["/pricing/", "/pricing/index.html.md"]


def test_redirects_are_followed_and_the_twin_is_relative_to_the_final_url(api, monkeypatch, cache, capsys):
    api.add("GET", "/old/pricing/", Reply(301, headers={"Location": "/new/pricing/"}))
    api.add("GET", "/new/pricing/", Reply(body=fixture("pricing_no_tables.html"), headers=HTML))
    api.add("GET", "/new/pricing/index.html.md", Reply(body=fixture("pricing_twin.md")))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/old/pricing/")
    code, document, _ = run_json(capsys, "--cache-file", str(cache))
    assert code == 0 and document["url"] == api.origin + "/new/pricing/"


def test_layout_change_is_a_parse_error_never_cached(api, page, cache, capsys):
    page(fixture("pricing_no_tables.html"))
    api.add("GET", "/pricing/index.html.md", Reply(404, body="not found", headers={"Content-Type": "text/plain"}))
    code, document, err = run_json(capsys, "--cache-file", str(cache))
    assert code == 0 and document["source"] == "snapshot"
    assert "the pricing page layout changed" in err and "bundled snapshot of 2026-02-16" in err
    assert not cache.exists()


def test_stale_cache_fallback_with_its_age(page, cache, capsys):
    page("oops", status=500, content_type={"Content-Type": "text/plain"})
    write_cache(cache, [row("gpt-oss-120b", 0.1, 0.7)], age_hours=96)
    code = pricing.main(["--cache-file", str(cache), "--max-retries", "0"])
    captured = capsys.readouterr()
    assert code == 0 and "\nprices: STALE cache, 4 days old" in captured.err and "gpt-oss-120b" in captured.out
    assert "live prices unavailable (HTTP 500" in captured.err and "STALE cache, 4 days old" in captured.err


def test_snapshot_fallback_offline(cache, capsys):
    code, document, err = run_json(capsys, "--cache-file", str(cache), "--max-retries", "0", "--model", "gpt-oss")
    assert code == 0 and document["source"] == "snapshot" and document["fetched_at"] == "2026-02-16T09:00:00Z"
    assert [(m["model"], m["input_price"], m["output_price"]) for m in document["models"]] == [
        ("gpt-oss-120b", 0.1, 0.7), ("gpt-oss-20b", 0.05, 0.45)]
    assert "connection refused" in err and "bundled snapshot of 2026-02-16" in err


def test_nothing_at_all_exits_1(cache, monkeypatch, capsys):
    monkeypatch.setattr(models_prices, "SNAPSHOT", "/nonexistent/snapshot.json")
    assert pricing.main(["--cache-file", str(cache), "--max-retries", "0"]) == 1
    assert capsys.readouterr().err.startswith("error: connection refused")


@pytest.mark.parametrize("source_age, strict_code", [(None, 1), (96, 1), (1, 0)])
def test_strict(page, cache, capsys, source_age, strict_code):
    page("down", status=503, content_type={"Content-Type": "text/plain"})
    if source_age is not None:
        write_cache(cache, [row("gpt-oss-120b", 0.1, 0.7)], age_hours=source_age)
    code = pricing.main(["--cache-file", str(cache), "--strict", "--max-retries", "0"])
    err = capsys.readouterr().err
    assert code == strict_code
    assert ("--strict: no live or fresh prices" in err) == (strict_code == 1)


@pytest.mark.parametrize("content, why", [
    ("{not json", "corrupt"),
    (json.dumps({"schema_version": 99, "fetched_at": "2026-01-01T00:00:00Z", "models": []}), "schema"),
    (json.dumps({"schema_version": 1, "fetched_at": "yesterday", "models": []}), "fetched_at"),
    (json.dumps({"schema_version": 1, "fetched_at": "2026-01-01T00:00:00Z", "models": [1]}), "models"),
    ("", "corrupt"),
])
def test_corrupt_or_wrong_schema_cache_is_ignored_with_a_warning(page, cache, capsys, content, why):
    page(fixture("pricing_2026_tabs.html"))
    cache.write_text(content)
    code, document, err = run_json(capsys, "--cache-file", str(cache))
    assert code == 0 and document["source"] == "live"
    assert "ignoring pricing cache" in err and why in err
    assert json.loads(cache.read_text())["schema_version"] == 2  # replaced by the good one


def test_symlinked_cache_is_not_trusted(page, cache, tmp_path, capsys):
    page(fixture("pricing_2026_tabs.html"))
    planted = tmp_path / "planted.json"
    write_cache(planted, [row("gpt-oss-120b", 99.0, 99.0)], age_hours=1)
    cache.symlink_to(planted)
    code, document, err = run_json(capsys, "--cache-file", str(cache))
    assert document["source"] == "live" and "symlink" in err
    assert json.loads(planted.read_text())["models"][0]["input_price"] == 99.0  # the target is untouched
    assert not cache.is_symlink()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_foreign_owned_cache_is_not_trusted(page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    write_cache(cache, [row("gpt-oss-120b", 99.0, 99.0)], age_hours=1)
    os.chown(cache, 65534, 65534)
    code, document, err = run_json(capsys, "--cache-file", str(cache))
    assert document["source"] == "live" and "owned by another user" in err


def test_unwritable_cache_folder_still_shows_prices(page, tmp_path, capsys):
    page(fixture("pricing_2026_tabs.html"))
    code, document, err = run_json(capsys, "--cache-file", str(tmp_path / "missing" / "cache.json"))
    assert code == 0 and document["source"] == "live" and "could not write the pricing cache" in err


def test_atomic_write_under_8_concurrent_processes(page, cache):
    page(fixture("pricing_2026_tabs.html"))
    processes = [subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_pricing.py"), "--no-cache", "--json",
                                   "--cache-file", str(cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL) for _ in range(8)]
    seen = []
    while any(p.poll() is None for p in processes):
        if cache.exists():
            seen.append(cache.read_text())  # a reader during the writes never sees half a file
        time.sleep(0.005)
    results = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), results
    assert all(json.loads(out)["source"] == "live" for out, _ in results)
    for text in seen + [cache.read_text()]:
        assert len(json.loads(text)["models"]) == 18
    assert [p.name for p in cache.parent.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- output modes

def test_table_output(page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    assert pricing.main(["--cache-file", str(cache), "--model", "openai-gpt-oss-120b"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("prices: live page (http://127.0.0.1")  # the source is a diagnostic: stderr
    lines = captured.out.splitlines()
    assert lines[0].split() == ["PROVIDER", "MODEL", "API", "ID", "INPUT", "$/1M", "OUTPUT", "$/1M"]
    assert lines[1].split() == ["OpenAI", "gpt-oss-120b", "openai-gpt-oss-120b", "$0.10", "$0.70"]  # id by matching
    assert len(lines) == 2


def test_per_unit_rows_show_their_unit(page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    assert pricing.main(["--cache-file", str(cache), "--model", "image"]) == 0
    assert "$0.04 per image" in capsys.readouterr().out


@pytest.mark.parametrize("query, expected", [
    ("gpt-oss", {"gpt-oss-120b", "gpt-oss-20b"}), ("GPT-OSS-120B", {"gpt-oss-120b"}),
    ("openai-gpt-oss-120b", {"gpt-oss-120b"}), ("llama3.3-70b-instruct", {"Llama 3.3 Instruct-70B"}),
    ("deepseek", {"DeepSeek R1 Distill Llama 70B"}), ("anthropic", {"Claude Sonnet 4.5", "Claude 3.7 Sonnet",
                                                                    "Claude Opus 4"}),
])
def test_model_query(page, cache, capsys, query, expected):
    page(fixture("pricing_2026_tabs.html"))
    document = run_json(capsys, "--cache-file", str(cache), "--model", query)[1]
    assert {m["model"] for m in document["models"]} == expected


def test_model_query_without_match(cache, capsys):
    code, document, err = run_json(capsys, "--cache-file", str(cache), "--model", "zzz", "--max-retries", "0")
    assert code == 0 and document["count"] == 0 and "no price matches 'zzz'" in err


def test_estimate_cheapest_first(page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    document = run_json(capsys, "--cache-file", str(cache), "--estimate", "1000000", "100000")[1]
    current = [m for m in document["models"] if not m["retired"]]
    retired = [m for m in document["models"] if m["retired"]]
    assert retired and document["models"] == current + retired  # retired models are ranked after every current one
    assert {m["model"] for m in retired} == {"Claude 3.7 Sonnet", "Claude Opus 4", "Claude Sonnet 4.5", "GPT Image 1"}
    costs = [m["estimated_cost_usd"] for m in current]
    token_costs = [c for c in costs if c is not None]
    assert token_costs == sorted(token_costs) and costs.index(None) == len(token_costs)
    first = document["models"][0]
    assert (first["model"], first["estimated_cost_usd"]) == ("GPT-5 nano", 0.09)  # 0.05 + 0.1 * 0.40
    assert pricing.main(["--cache-file", str(cache), "--estimate", "1000000", "100000", "--model", "gpt-oss"]) == 0
    assert "EST. COST" in capsys.readouterr().out
    assert pricing.main(["--cache-file", str(cache), "--estimate", "1000000", "100000", "--model", "claude"]) == 0
    captured = capsys.readouterr()
    assert "Claude Opus 4 (retired 2026-06-15)" in captured.out and "retired model(s) ranked last" in captured.err


def test_changes(page, cache, capsys):
    page(fixture("pricing_2026_tabs.html"))
    assert pricing.main(["--cache-file", str(cache)]) == 0
    capsys.readouterr()
    assert pricing.main(["--cache-file", str(cache), "--changes"]) == 0
    assert capsys.readouterr().out == ""  # nothing changed: cron mails nothing
    models = json.loads(cache.read_text())["models"]
    for entry in models:
        if entry["model"] == "gpt-oss-120b":
            entry["output_price"] = 0.5
    models = [m for m in models if m["model"] != "GPT-5.2"] + [row("Old Model", 1.0, 1.0)]
    write_cache(cache, models, age_hours=1)
    assert pricing.main(["--cache-file", str(cache), "--changes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "~ OpenAI gpt-oss-120b: $0.10 in, $0.50 out -> $0.10 in, $0.70 out" in out
    assert "+ OpenAI GPT-5.2: $1.75 in, $14.00 out" in out
    assert "- OpenAI Old Model: $1.00 in, $1.00 out" in out
    assert len(out) == 3
    assert run_json(capsys, "--cache-file", str(cache), "--changes")[1] == {"changes": []}


def test_changes_when_the_page_cannot_be_fetched_exits_1(cache, capsys):
    write_cache(cache, [row("gpt-oss-120b", 0.1, 0.7)])
    assert pricing.main(["--cache-file", str(cache), "--changes", "--max-retries", "0"]) == 1
    assert "connection refused" in capsys.readouterr().err


def test_unknown_output_price_gives_no_cost():
    half = models_prices.make_row("X", "Half", {"input_price": 1.0, "output_price": None, "unit": models_prices.TOKEN_UNIT})
    assert models_prices.cost_usd(half, {"input_tokens": 10, "output_tokens": 10}) is None
    assert "-" in models_run_pricing.render_table([half], False).splitlines()[1].split()


def test_the_cron_recipe_runs_in_an_empty_environment(api, tmp_path):
    """README's crontab line as cron runs it: no environment at all, an absolute interpreter, a
    cache file of its own; the first run seeds, an unchanged page prints nothing."""
    api.add("GET", "/pricing/", Reply(body=fixture("pricing_2026_tabs.html"), headers=HTML))
    argv = [sys.executable, str(SCRIPTS / "gradient_pricing.py"), "--changes", "--cache-file",
            str(tmp_path / "prices-cron.json"), "--url", api.origin + "/pricing/"]
    first = subprocess.run(argv, env={}, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (first.returncode, first.stdout, first.stderr) == (0, b"seeded 18 prices\n", b"")
    second = subprocess.run(argv, env={}, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (second.returncode, second.stdout, second.stderr) == (0, b"", b"")


def test_a_page_that_ends_before_its_closing_tags_is_cut_never_live(api, capsys, monkeypatch, tmp_path):
    page = (FIXTURES / "pricing_2026_tabs.html").read_text()
    cut = page[:page.rindex("</table>") + len("</table>")]  # the tables whole, the end of the page missing
    assert "</html>" not in cut.lower() and "</body>" not in cut.lower()
    api.add("GET", "/pricing/", Reply(body=cut, headers={"Content-Type": "text/html"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    code = pricing.main(["--json", "--cache-file", str(tmp_path / "c.json"), "--max-retries", "0"])
    captured = capsys.readouterr()
    assert code == 0 and json.loads(captured.out)["source"] == "snapshot"
    assert "cut short" in captured.err and not (tmp_path / "c.json").exists()


def test_the_pages_per_unit_rows_get_api_ids_and_vendors_and_price_calls(api, capsys, monkeypatch, tmp_path):
    import base64

    import gradient_image
    from conftest import tiny_png

    page = (FIXTURES / "pricing_2026_tabs.html").read_text()
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    cache = tmp_path / "c.json"
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))
    code, document, _ = run_json(capsys, "--max-retries", "0")
    assert code == 0 and document["source"] == "live"
    per_unit = {row["model_id"]: (row["provider"], row["price"], row["unit"]) for row in document["models"]
                if row["unit"] != models_prices.TOKEN_UNIT and row["model_id"]}
    assert per_unit == {"fal-ai/flux/schnell": ("fal", 0.003, "per megapixel"),
                        "openai-gpt-image-1": ("OpenAI", 0.04, "per image"),
                        "fal-ai/stable-audio-25/text-to-audio": ("fal", 0.2, "per second"),
                        "fal-ai/elevenlabs/tts/multilingual-v2": ("fal", 0.1, "per 1K characters")}
    api.json("POST", "/v1/images/generations", {"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}]})
    assert gradient_image.main(["--base-url", api.url, "--prompt", "x", "--output", str(tmp_path / "i.png"),
                                "--model", "openai-gpt-image-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cost_usd"] == 0.04


def test_estimate_filters_by_capability(capsys):
    code, document, _ = run_json(capsys, "--estimate", "1000", "100", "--capability", "vision")
    ids = {row["model_id"] for row in document["models"]}
    assert code == 0 and ids and ids <= {"openai-gpt-5", "openai-gpt-5-mini", "openai-gpt-5-nano",
                                         "anthropic-claude-3.7-sonnet", "anthropic-claude-sonnet-4",
                                         "anthropic-claude-opus-4", "anthropic-claude-haiku-4.5"}


def batch_cache(path):
    """A cache as the catalog leaves it: two models with batch prices, one without, one per-unit."""
    def row(model_id, price_in, price_out, batch_in=None, batch_out=None, unit="per 1M tokens"):
        return {"provider": model_id.split("-")[0], "model": model_id, "model_id": model_id, "input_price": price_in,
                "output_price": price_out, "batch_input_price": batch_in, "batch_output_price": batch_out,
                "price": None if unit == "per 1M tokens" else 0.003, "unit": unit, "source": "catalog"}
    path.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "url": None, "models": [
                                    row("openai-gpt-5", 1.25, 10.0, 0.625, 5.0),
                                    row("anthropic-claude-sonnet-4", 3.0, 15.0, 1.5, 7.5),
                                    row("llama3.3-70b-instruct", 0.65, 0.65),
                                    row("fal-ai/flux/schnell", None, None, unit="per image")]}))


def test_estimate_at_batch_prices_ranks_and_names_the_models_without(cache, capsys):
    batch_cache(cache)
    code, document, err = run_json(capsys, "--cache-file", str(cache), "--estimate", "1000000", "100000", "--batch")
    rows = {r["model_id"]: r for r in document["models"]}
    assert code == 0
    assert [r["model_id"] for r in document["models"]][:3] == ["openai-gpt-5", "anthropic-claude-sonnet-4",
                                                               "llama3.3-70b-instruct"]
    gpt = rows["openai-gpt-5"]
    assert (gpt["estimated_cost_usd"], gpt["interactive_cost_usd"], gpt["batch_saving"]) == (1.125, 2.25, 0.5)
    llama = rows["llama3.3-70b-instruct"]
    assert llama["estimated_cost_usd"] is None and llama["interactive_cost_usd"] == 0.715
    assert "no batch price known for 1 model(s): llama3.3-70b-instruct" in err
    assert rows["fal-ai/flux/schnell"]["estimated_cost_usd"] is None  # per-unit rows never rank among tokens
    assert pricing.main(["--cache-file", str(cache), "--estimate", "1000000", "100000", "--batch"]) == 0
    table = capsys.readouterr().out
    assert "BATCH EST." in table and "50%" in table and "$1.125" in table


def test_batch_without_estimate_is_a_usage_error(cache, capsys):
    batch_cache(cache)
    with pytest.raises(SystemExit) as stopped:
        pricing.main(["--cache-file", str(cache), "--batch"])
    assert stopped.value.code == 2 and "--estimate" in capsys.readouterr().err
