"""gradient_prices: the price library that every command reads (rows, cache, snapshot, matching, cost)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gradient_inference.core import clock as core_clock
from gradient_inference.models import catalog as models_catalog
from gradient_inference.models import known as models_known
from gradient_inference.models import prices as models_prices


def row(model, input_price, output_price, provider="OpenAI"):
    return models_prices.make_row(provider, model, {"input_price": input_price, "output_price": output_price,
                                             "unit": models_prices.TOKEN_UNIT})


def write_cache(path, models, age_hours=1.0):
    document = {"schema_version": 1, "fetched_at": core_clock.iso_utc(time.time() - age_hours * 3600),
                "url": "https://cached.example/", "models": models}
    path.write_text(json.dumps(document))


# ---------------------------------------------------------------- time

@pytest.mark.parametrize("text, expected", [
    ("1970-01-01T00:00:00Z", 0.0), ("2026-02-16T09:00:00Z", 1771232400.0),
    ("2026-02-16T11:00:00+02:00", 1771232400.0), ("2026-02-16 09:00:00", 1771232400.0),
    ("2024-02-29T00:00:00.5Z", 1709164800.5), ("2026-13-01T00:00:00Z", None), ("yesterday", None), (None, None),
])
def test_parse_time_without_datetime(text, expected):
    assert core_clock.parse_time(text) == expected


def test_iso_utc_round_trips():
    assert core_clock.parse_time(core_clock.iso_utc(1771232400)) == 1771232400


# ---------------------------------------------------------------- id matching

MATCHES = [
    ("openai-gpt-oss-120b", "gpt-oss-120b"), ("openai-gpt-oss-20b", "gpt-oss-20b"),
    ("llama3.3-70b-instruct", "Llama 3.3 Instruct-70B"),
    ("deepseek-r1-distill-llama-70b", "DeepSeek R1 Distill Llama 70B"),
    ("alibaba-qwen3-32b", "Qwen3-32B"), ("anthropic-claude-3.7-sonnet", "Claude 3.7 Sonnet"),
    ("openai-gpt-5", "GPT-5"), ("openai-gpt-5-mini", "GPT-5 mini"), ("openai-gpt-5-nano", "GPT-5 nano"),
    ("anthropic-claude-sonnet-4", "Claude Sonnet 4"), ("anthropic-claude-opus-4", "Claude Opus 4"),
    ("mistral-nemo-instruct-2407", "NeMo"), ("anthropic-claude-3.5-haiku", "Claude 3.5 Haiku"),
]
NO_MATCH = ["openai-gpt-4o", "llama3-8b-instruct", "anthropic-claude-opus-4-7", "fal-ai/flux/schnell",
            "openai-gpt-image-1", "", "gpt"]


@pytest.fixture(scope="module")
def snapshot_rows():
    return models_prices.read_snapshot().models


@pytest.mark.parametrize("api_id, display", MATCHES)
def test_api_ids_map_to_their_price_row(snapshot_rows, api_id, display):
    assert models_prices.match_price(api_id, snapshot_rows)["model"] == display


@pytest.mark.parametrize("api_id", NO_MATCH)
def test_no_price_is_better_than_a_wrong_price(snapshot_rows, api_id):
    assert models_prices.match_price(api_id, snapshot_rows) is None


def test_gpt_5_never_maps_to_its_siblings(snapshot_rows):
    found = models_prices.match_price("openai-gpt-5", snapshot_rows)
    assert found["model"] == "GPT-5" and found["input_price"] == 1.25
    for sibling in ("GPT-5 nano", "GPT-5.2", "GPT-5 mini"):
        only_sibling = [r for r in snapshot_rows if r["model"] == sibling]
        assert models_prices.match_price("openai-gpt-5", only_sibling) is None


def test_ambiguous_matches_with_different_prices_give_none():
    rows = [row("gpt-oss-120b", 0.1, 0.7), row("GPT OSS 120B", 0.2, 0.9, provider="Other")]
    assert models_prices.match_price("openai-gpt-oss-120b", rows) is None


def test_snapshot_is_valid_and_complete():
    snapshot = models_prices.read_snapshot()
    assert snapshot.source == "snapshot" and snapshot.fetched_at == "2026-02-16T09:00:00Z"
    page = [m for m in snapshot.models if m["source"] == "page"]
    assert len(page) == 24 and all(m["unit"] == models_prices.TOKEN_UNIT and m["as_of"] == "2026-02-16" for m in page)
    assert all(m["as_of"] and m["source"] in ("page", "blog") for m in snapshot.models)  # each figure's date and source


def test_the_snapshot_has_digitaloceans_published_per_unit_prices():
    """do-platform-2026-12.md: the blog's rates as of 2026-05-29, with their units and vendors."""
    rows = {m["model_id"]: m for m in models_prices.read_snapshot().models if m["source"] == "blog"}
    assert {k: (v["price"], v["unit"], v["as_of"]) for k, v in rows.items()} == {
        "stable-diffusion-3.5-large": (0.065, "per image", "2026-05-29"),
        "wan2-2-t2v-a14b": (0.31, "per video", "2026-05-29"),
        "qwen3-tts-voicedesign": (0.02, "per 1K tokens", "2026-05-29"),
        "web-search": (10.0, "per 1K requests", "2026-05-29")}
    assert rows["stable-diffusion-3.5-large"]["provider"] == "Stability AI" and rows["wan2-2-t2v-a14b"]["provider"] == "Alibaba"
    assert models_prices.unit_cost_for("stable-diffusion-3.5-large", {"per image": 3})[0] == pytest.approx(0.195)


def test_retired_models_are_marked_in_the_snapshot():
    retired = {m["model"]: m["retired"] for m in models_prices.read_snapshot().models if m["retired"]}
    assert retired == {"Claude Sonnet 4.5": "2026-11-30", "Claude Sonnet 4": "2026-06-15",
                       "Claude 3.7 Sonnet": "2026-02-19", "Claude Opus 4.1": "2026-08-05", "Claude Opus 4": "2026-06-15"}


@pytest.mark.parametrize("days, words", [(0.5, "12 h old"), (10, "10 days old"), (59, "59 days old"),
                                         (294, "10 months old"), (400, "13 months old")])
def test_the_snapshot_says_its_age_and_warns_past_90_days(days, words):
    snapshot = models_prices.read_snapshot()
    now = models_prices.parse_time(snapshot.fetched_at) + days * 86400
    said = models_prices.describe_source(snapshot, now)
    assert said.startswith(f"bundled snapshot of 2026-02-16, {words}")
    assert ("models have been retired and added since" in said) == (days > 90)


FACTS = Path(__file__).parents[3] / "shared" / "reference" / "pricing_facts_2026-02.json"


@pytest.mark.skipif(not FACTS.exists(), reason=f"no fact sheet at {FACTS}")
def test_snapshot_matches_the_fact_sheet():
    facts = json.loads(FACTS.read_text())
    assert [(m["provider"], m["model"], m["input_price"], m["output_price"]) for m in models_prices.read_snapshot().models
            if m["source"] == "page"] == [
        (m["provider"], m["model"], m["input_price"], m["output_price"]) for m in facts["models"]]


# ---------------------------------------------------------------- cost in other scripts

def test_cost_for_uses_cache_then_snapshot(tmp_path, monkeypatch):
    cache = tmp_path / "cache.json"
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000, "cached_input_tokens": None}
    cost, source = models_prices.cost_for("openai-gpt-oss-120b", usage)
    assert cost == 0.8 and source.startswith("prices: bundled snapshot of 2026-02-16, ")
    write_cache(cache, [row("gpt-oss-120b", 1.0, 2.0)], age_hours=2)
    assert models_prices.cost_for("openai-gpt-oss-120b", usage) == (3.0, "prices: cache, 2 h old")
    assert models_prices.cost_for("unknown-model", usage) == (None, "no price known for unknown-model")


def test_cached_input_tokens_use_the_cached_price():
    priced = models_prices.make_row("OpenAI", "GPT-5", {"input_price": 1.25, "output_price": 10.0,
                                                  "cached_input_price": 0.125, "unit": models_prices.TOKEN_UNIT})
    usage = {"input_tokens": 1_000_000, "output_tokens": 0, "cached_input_tokens": 600_000}
    assert models_prices.cost_usd(priced, usage) == pytest.approx(0.4 * 1.25 + 0.6 * 0.125)


def test_the_snapshots_api_ids_are_the_name_matchers():
    """The bundled snapshot carries model_id (so no matching runs at start-up); it must be what the
    careful matcher gives for the known DigitalOcean ids, no more and no less."""

    rows = [r for r in models_prices.read_snapshot().models if r["source"] == "page"]  # the blog's rows carry their ids
    stored = {r["model"]: r["model_id"] for r in rows}
    fresh = {r["model"]: r["model_id"] for r in models_known.attach_known_ids([dict(r, model_id=None) for r in rows])}
    assert stored == fresh and stored["gpt-oss-120b"] == "openai-gpt-oss-120b"
