"""gradient_catalog against the fake catalog: prices by API id, types and capabilities, and the
commands that use them (pricing, models, chat's vision warning, per-unit costs)."""
from __future__ import annotations

import json
import os
from urllib.parse import parse_qs
import threading
import time
from pathlib import Path

import pytest

import fakecatalog
from gradient_inference.core import clock as core_clock
from gradient_inference.models import catalog as models_catalog
from gradient_inference.models import known as models_known
from gradient_inference.core.defaults import MODEL_TYPES
from gradient_inference.models import prices as models_prices
import gradient_chat
import gradient_image
import gradient_models
import gradient_pricing
from conftest import DO_SPEC, FAKE_KEY, tiny_png
from fakeapi import Reply

SPEC = DO_SPEC
NOON, MIDNIGHT = 1_780_000_000 - 1_780_000_000 % 86400 + 13 * 3600, 1_780_000_000 - 1_780_000_000 % 86400 + 3600


@pytest.fixture
def served(api, monkeypatch):
    fakecatalog.install(api, monkeypatch)
    return api


def rows_by_id(rows):
    return {row["model_id"]: row for row in rows}


# ---------------------------------------------------------------- the fake keeps to the spec

def test_the_fake_catalog_validates_against_digitaloceans_schemas():
    import jsonschema
    import yaml

    spec = yaml.safe_load(SPEC.read_text())

    def check(schema_name, document):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
        jsonschema.validate(document, schema)

    for page in (1, 2):
        check("apiListModelCatalogOutput", fakecatalog.list_page(page))
    for entry in fakecatalog.ENTRIES:
        check("apiGetModelCatalogCardOutput", fakecatalog.card(entry["id"]))
    with pytest.raises(jsonschema.ValidationError):  # the check has teeth
        check("apiListModelCatalogOutput", {"data": [{"model_id": 42}]})


# ---------------------------------------------------------------- reading the catalog

def test_every_page_and_every_card_is_read_with_the_token(served):
    rows = models_catalog.fetch_catalog(10, 0, False, now=NOON)
    assert sorted(rows_by_id(rows)) == sorted(e["model_id"] for e in fakecatalog.ENTRIES)
    pages = [c.query for c in served.calls("GET", fakecatalog.LIST)]
    assert pages == ["page=1&per_page=100", "page=2&per_page=100"]
    cards = [c for c in served.calls() if c.path.startswith(fakecatalog.LIST + "/")]
    assert len(cards) == len(fakecatalog.ENTRIES)
    assert all(c.headers["Authorization"] == f"Bearer {fakecatalog.TOKEN}" for c in served.calls())


def test_prices_of_every_kind_with_zero_as_null(served):
    rows = rows_by_id(models_catalog.fetch_catalog(10, 0, False, now=NOON))
    gpt = rows["openai-gpt-oss-120b"]
    assert (gpt["input_price"], gpt["output_price"], gpt["cached_input_price"]) == (0.1, 0.7, None)
    assert (gpt["batch_input_price"], gpt["batch_output_price"], gpt["source"]) == (0.05, 0.35, "catalog")
    claude = rows["anthropic-claude-sonnet-4"]
    assert (claude["cached_input_price"], claude["cache_write_5m_price"], claude["cache_write_1h_price"]) == (0.3, 3.75, 6.0)
    assert [v["label"] for v in claude["variants"]] == ["Fast Mode"] and claude["variants"][0]["input_price"] == 6.0
    flux = rows["fal-ai/flux/schnell"]
    assert (flux["price"], flux["unit"], flux["input_price"], flux["output_price"]) == (0.003, "per image", None, None)
    tts = rows["fal-ai/elevenlabs/tts/multilingual-v2"]
    assert (tts["price"], tts["unit"]) == (0.1, "per 1K characters")
    # a 0 is no such meter: shown as "-", never $0.00; the meter that is there still prices the call
    embedding = rows["gte-large-en-v1.5"]
    assert (embedding["input_price"], embedding["output_price"]) == (0.09, None)
    assert models_prices.cost_usd(embedding, {"input_tokens": 1_000_000, "output_tokens": 0}) == 0.09
    assert models_prices.cost_usd(embedding, {"input_tokens": 10, "output_tokens": 5}) is None  # unknown, not free


def test_a_bring_your_own_key_variant_is_labelled_and_never_prices_a_call(served):
    gpt = rows_by_id(models_catalog.fetch_catalog(10, 0, False, now=NOON))["openai-gpt-oss-120b"]
    assert (gpt["input_price"], gpt["output_price"]) == (0.1, 0.7)
    byok = next(v for v in gpt["variants"] if v["tier"] == "byok")
    assert "never used for a model access key" in byok["label"] and byok["input_price"] is None


@pytest.mark.parametrize("now, expected", [(NOON, 0.8), (MIDNIGHT, 0.5)])
def test_a_price_that_varies_by_hour_shows_the_current_one_and_says_so(served, now, expected):
    llama = rows_by_id(models_catalog.fetch_catalog(10, 0, False, now=now))["llama3.3-70b-instruct"]
    assert llama["input_price"] == expected and "varies by hour" in llama["price_note"]


def test_cards_are_read_a_bounded_number_at_a_time(api, monkeypatch):
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def slow_card(seen):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply(json=fakecatalog.card(seen.path.rsplit("/", 1)[1]))

    fakecatalog.install(api, monkeypatch, card_reply=Reply(dynamic=slow_card))
    assert len(models_catalog.fetch_catalog(10, 0, False)) == len(fakecatalog.ENTRIES)
    assert 1 < state["most"] <= models_catalog.CARD_WORKERS


def test_a_card_that_fails_leaves_the_list_prices_and_a_warning(api, monkeypatch, capsys):
    fakecatalog.install(api, monkeypatch, card_reply=Reply(500, json={"message": "card service down"}))
    rows = rows_by_id(models_catalog.fetch_catalog(10, 0, False))
    assert rows["openai-gpt-oss-120b"]["input_price"] == 0.1 and rows["openai-gpt-oss-120b"]["batch_input_price"] is None
    assert "6 of 6 catalog cards could not be read" in capsys.readouterr().err


# ---------------------------------------------------------------- types and capabilities

def test_the_models_command_offers_exactly_the_catalogs_types():
    assert gradient_models.build_parser()._option_string_actions["--type"].choices == MODEL_TYPES
    assert {models_known.catalog_type(t) for t in ("text-to-text", "text-to-image", "embedding", "text-to-speech",
                                              "speech-to-text", "text-to-audio", "image-to-video", "odd")} <= set(MODEL_TYPES)


@pytest.mark.parametrize("model_id, kind, capabilities", [
    ("openai-gpt-5", "chat", ["vision", "tools", "reasoning", "batch"]),
    ("openai-gpt-oss-120b", "chat", ["tools", "reasoning"]),
    ("fal-ai/flux/schnell", "image", []),
    ("fal-ai/some-new/tts/v3", "speech", []),
    ("fal-ai/stable-audio-99/text-to-audio", "audio", []),
    ("fal-ai/hunyuan-video", "video", []),
    ("somebody-new-model-7b", "unknown", []),
])
def test_types_from_the_bundled_table_rules_or_unknown(model_id, kind, capabilities):
    assert models_known.describe_model(model_id, None) == {"type": kind, "capabilities": capabilities}


def test_models_get_types_from_the_catalog_when_a_token_is_set(served, keyed, capsys):
    served.json("GET", "/v1/models", {"data": [{"id": "anthropic-claude-sonnet-4"}, {"id": "gte-large-en-v1.5"},
                                               {"id": "brand-new-model"}]})
    assert gradient_models.main(["--base-url", served.url, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    models = {m["id"]: m for m in document["models"]}
    assert document["types_source"] == "catalog"
    assert models["anthropic-claude-sonnet-4"]["capabilities"] == ["vision", "tools", "prompt_caching"]
    assert (models["anthropic-claude-sonnet-4"]["name"], models["anthropic-claude-sonnet-4"]["context_window"]) == (
        "Claude Sonnet 4", 131072)
    assert models["gte-large-en-v1.5"]["type"] == "embedding" and models["brand-new-model"]["type"] == "unknown"


def catalog_requests(api) -> list:
    return [call for call in api.calls("GET") if call.path.startswith(fakecatalog.LIST)]


def test_type_embedding_with_a_token_asks_the_catalog_filtered_in_at_most_3_requests(served, keyed, capsys):
    served.json("GET", "/v1/models", {"data": [{"id": e["model_id"]} for e in fakecatalog.ENTRIES]})
    before = len(served.calls())
    assert gradient_models.main(["--base-url", served.url, "--type", "embedding", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in document["models"]] == ["gte-large-en-v1.5"] and document["types_source"] == "catalog"
    assert len(served.calls()) - before <= 3
    (listing,) = catalog_requests(served)  # one page, no cards
    assert parse_qs(listing.query) == {"page": ["1"], "per_page": ["100"], "model_type": ["embedding"]}


def test_type_filters_map_to_the_catalogs_words_and_a_type_without_one_asks_for_all(served, keyed, capsys):
    served.json("GET", "/v1/models", {"data": [{"id": e["model_id"]} for e in fakecatalog.ENTRIES]})
    assert gradient_models.main(["--base-url", served.url, "--type", "chat", "--type", "speech", "--ids"]) == 0
    assert sorted(capsys.readouterr().out.split()) == ["anthropic-claude-sonnet-4", "fal-ai/elevenlabs/tts/multilingual-v2",
                                                       "llama3.3-70b-instruct", "openai-gpt-oss-120b"]
    assert sorted(parse_qs(catalog_requests(served)[0].query)["model_type"]) == ["audio", "chat", "coding", "reasoning"]
    served.requests.clear()
    assert gradient_models.main(["--base-url", served.url, "--type", "video", "--ids"]) == 0
    assert all("model_type" not in call.query for call in catalog_requests(served))
    assert not any(call.path.startswith(fakecatalog.LIST + "/") for call in served.calls())  # never a card


def test_types_come_from_a_fresh_catalog_cache_without_asking(served, keyed, capsys):
    import gradient_pricing

    assert gradient_pricing.main(["--json"]) == 0  # fills the cache from the catalog, with its cards
    capsys.readouterr()
    served.json("GET", "/v1/models", {"data": [{"id": "gte-large-en-v1.5"}]})
    served.requests.clear()
    assert gradient_models.main(["--base-url", served.url, "--type", "embedding", "--ids"]) == 0
    assert capsys.readouterr().out == "gte-large-en-v1.5\n"
    assert catalog_requests(served) == []


def test_types_do_not_overwrite_the_price_cache(served, keyed, capsys):
    served.json("GET", "/v1/models", {"data": [{"id": "gte-large-en-v1.5"}]})
    assert gradient_models.main(["--base-url", served.url, "--type", "embedding", "--ids"]) == 0
    assert not os.path.exists(os.environ["GRADIENT_PRICING_CACHE"])


def test_type_filters_repeatably_and_the_table_shows_it(api, keyed, capsys):
    api.json("GET", "/v1/models", {"data": [{"id": i} for i in ("openai-gpt-5", "fal-ai/flux/schnell",
                                                                "fal-ai/elevenlabs/tts/multilingual-v2", "x-unknown")]})
    assert gradient_models.main(["--base-url", api.url, "--ids", "--type", "image", "--type", "speech"]) == 0
    assert capsys.readouterr().out.split() == ["fal-ai/elevenlabs/tts/multilingual-v2", "fal-ai/flux/schnell"]
    assert gradient_models.main(["--base-url", api.url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["ID", "TYPE"] and table[1].split()[:2] == ["fal-ai/elevenlabs/tts/multilingual-v2",
                                                                             "speech"]


def test_an_image_for_a_text_only_model_warns_and_names_vision_models(api, capsys, tmp_path):
    image = tmp_path / "chart.png"
    image.write_bytes(tiny_png())
    api.json("POST", "/v1/chat/completions", {"choices": [{"message": {"content": "a chart"}, "finish_reason": "stop"}]})
    for model, warned in (("openai-gpt-oss-120b", True), ("openai-gpt-5-mini", False), ("unknown-model", False)):
        assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", model, "--image", str(image),
                                   "--prompt", "what is this?"]) == 0
        err = capsys.readouterr().err
        assert ("is known to take text only" in err) is warned
        assert ("anthropic-claude-sonnet-4" in err) is warned


# ---------------------------------------------------------------- prices from the catalog

def run_pricing(capsys, *argv):
    code = gradient_pricing.main(["--json", *argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else None), captured.err


def test_pricing_reads_the_catalog_first_and_keys_rows_by_api_id(served, tmp_path, capsys):
    code, document, err = run_pricing(capsys, "--cache-file", str(tmp_path / "c.json"))
    assert code == 0 and document["source"] == "catalog" and fakecatalog.TOKEN not in err
    row = next(r for r in document["models"] if r["model_id"] == "openai-gpt-oss-120b")
    for field in ("provider", "model", "model_id", "input_price", "output_price", "cached_input_price", "price", "unit",
                  "cache_write_5m_price", "cache_write_1h_price", "reasoning_price", "batch_input_price",
                  "batch_output_price", "source"):
        assert field in row
    cached = json.loads((tmp_path / "c.json").read_text())
    assert cached["schema_version"] == 2 and len(cached["models"]) == len(fakecatalog.ENTRIES)


def test_catalog_then_page_then_stale_cache_then_snapshot(api, monkeypatch, tmp_path, capsys):
    fakecatalog.install(api, monkeypatch)
    api.routes[("GET", fakecatalog.LIST)] = [Reply(500, json={"message": "down"})]
    page = (Path(__file__).parents[1] / "fixtures" / "pricing_2026_tabs.html").read_text()
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    cache = tmp_path / "c.json"
    code, document, err = run_pricing(capsys, "--cache-file", str(cache), "--max-retries", "0")
    assert (code, document["source"]) == (0, "live") and "the model catalog is unavailable" in err
    api.routes[("GET", "/pricing/")] = [Reply(503, json={})]
    document_ = json.loads(cache.read_text())
    document_["fetched_at"] = core_clock.iso_utc(time.time() - 3 * 86400)
    cache.write_text(json.dumps(document_))
    code, document, err = run_pricing(capsys, "--cache-file", str(cache), "--max-retries", "0")
    assert (code, document["source"]) == (0, "stale_cache")
    cache.unlink()
    code, document, err = run_pricing(capsys, "--cache-file", str(cache), "--max-retries", "0")
    assert (code, document["source"]) == (0, "snapshot") and "bundled snapshot" in err


def test_available_keeps_only_what_the_key_can_call(served, keyed, tmp_path, capsys):
    served.json("GET", "/v1/models", {"data": [{"id": "openai-gpt-oss-120b"}, {"id": "fal-ai/flux/schnell"}]})
    code, document, _ = run_pricing(capsys, "--cache-file", str(tmp_path / "c.json"), "--available",
                                    "--base-url", served.url)
    assert code == 0 and sorted(r["model_id"] for r in document["models"]) == ["fal-ai/flux/schnell",
                                                                               "openai-gpt-oss-120b"]
    assert served.calls("GET", "/v1/models")[0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_the_table_shows_api_ids_and_per_unit_rows_apart(served, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOON)
    assert gradient_pricing.main(["--cache-file", str(tmp_path / "c.json"), "--estimate", "1000", "100"]) == 0
    tokens, units, note = capsys.readouterr().out.split("\n\n")
    assert "openai-gpt-oss-120b" in tokens and "fal-ai/flux/schnell" not in tokens
    assert "$0.003 per image" in units and "per 1K characters" in units
    assert "$0.80 *" in tokens and note.startswith("* varies by hour of day")


def test_a_first_changes_run_seeds_and_a_second_compares_every_kind(served, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "c.json"
    assert gradient_pricing.main(["--cache-file", str(cache), "--changes"]) == 0
    assert capsys.readouterr().out == f"seeded {len(fakecatalog.ENTRIES)} prices\n"
    assert gradient_pricing.main(["--cache-file", str(cache), "--changes"]) == 0
    assert capsys.readouterr().out == ""
    monkeypatch.setitem(fakecatalog.CARDS, "u-1", [fakecatalog.variant("Standard", "STANDARD", "INTERACTIVE",
                                                                       fakecatalog.GPT_OSS),
                                                   fakecatalog.variant("Batch", "STANDARD", "BATCH", fakecatalog.pricing(
                                                       input_price_per_million=0.04, output_price_per_million=0.35))])
    served.routes.clear()
    fakecatalog.install(served)
    assert gradient_pricing.main(["--cache-file", str(cache), "--changes", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["change"], c["model"], c["after"]["batch_input_price"]) for c in changes] == [
        ("changed", "gpt-oss-120b", 0.04)]


# ---------------------------------------------------------------- costs

def test_cached_reads_and_cache_writes_use_their_prices(served, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(tmp_path / "c.json"))
    assert gradient_pricing.main(["--json"]) == 0
    usage = {"input_tokens": 1_000_000, "output_tokens": 0, "cached_input_tokens": 200_000,
             "cache_write_tokens": 300_000, "cache_write_1h_tokens": 100_000}
    cost, source = models_prices.cost_for("anthropic-claude-sonnet-4", usage)
    assert cost == pytest.approx(0.2 * 0.3 + 0.3 * 3.75 + 0.1 * 6 + 0.4 * 3) and source.startswith("prices: cache")


def test_an_image_call_reports_its_per_image_cost(served, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(tmp_path / "c.json"))
    assert gradient_pricing.main(["--json"]) == 0
    capsys.readouterr()
    served.json("POST", "/v1/async-invoke", {"request_id": "r1"})
    served.json("GET", "/v1/async-invoke/r1/status", {"status": "COMPLETED"})
    served.json("GET", "/v1/async-invoke/r1", {"output": {"images": [{"url": served.origin + f"/{i}.png"}
                                                                     for i in range(2)]}})
    for i in range(2):
        served.add("GET", f"/{i}.png", Reply(body=tiny_png()))
    monkeypatch.setenv("GRADIENT_API_KEY", FAKE_KEY)
    assert gradient_image.main(["--base-url", served.url, "--model", "fal-ai/flux/schnell", "--prompt", "x", "--n", "2",
                                "--output", str(tmp_path / "a.png"), "--json", "--usage", "--poll-interval", "0.01"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cost_usd"] == pytest.approx(0.006) and "2 images, cost $0.006000" in captured.err


# ---------------------------------------------------------------- a catalog that lies

def test_paging_stops_at_a_repeated_page_whatever_meta_says(api, monkeypatch):
    fakecatalog.install(api, monkeypatch)
    api.routes[("GET", fakecatalog.LIST)] = [Reply(json={"data": fakecatalog.ENTRIES[:2], "meta": {"pages": 10 ** 9}})]
    rows = models_catalog.fetch_catalog(10, 0, False, now=NOON)
    assert len(rows) == 2 and len(api.calls("GET", fakecatalog.LIST)) == 2  # the second page repeated the first


def test_paging_stops_at_the_number_the_first_page_announced(api, monkeypatch):
    fakecatalog.install(api, monkeypatch)
    api.routes[("GET", fakecatalog.LIST)] = [Reply(dynamic=lambda seen: Reply(json={
        "data": [dict(fakecatalog.ENTRIES[0], id=f"u-{seen.query}", model_id=f"m-{seen.query}")],
        "meta": {"pages": 10 ** 9, "total": 3}}))]
    assert len(models_catalog.fetch_catalog(10, 0, False, now=NOON)) == 3
    assert len(api.calls("GET", fakecatalog.LIST)) == 3


@pytest.mark.parametrize("price", [1e308, float("inf"), -1, 10_001, True, "0.5"])
def test_a_price_that_is_no_sane_price_is_null(price):
    assert models_catalog.price_or_null(price) is None
    assert models_catalog.price_or_null(0.5) == 0.5 and models_catalog.price_or_null(10_000) == 10_000.0


def test_a_catalog_giving_under_half_the_cached_prices_keeps_the_cache(served, capsys, tmp_path):
    cache = tmp_path / "c.json"
    rows = [dict(models_prices.make_row("P", f"Model {i}", {"input_price": 1.0, "output_price": 2.0,
                                                            "unit": models_prices.TOKEN_UNIT}), model_id=f"m-{i}")
            for i in range(30)]
    models_prices.write_cache(str(cache), models_prices.PriceSet("catalog", core_clock.iso_utc(time.time() - 86400 * 2),
                                                                 None, rows))
    assert gradient_pricing.main(["--changes", "--json", "--cache-file", str(cache), "--max-retries", "0"]) == 1
    err = capsys.readouterr().err
    assert "DigitalOcean's model catalog gave 6 prices where the cache holds 30" in err
    assert len(json.loads(cache.read_text())["models"]) == 30


def test_card_fetches_share_one_deadline(api, monkeypatch):
    entries = [dict(fakecatalog.ENTRIES[0], id=f"u-hang-{i}", model_id=f"m-{i}") for i in range(24)]
    monkeypatch.setattr(fakecatalog, "ENTRIES", entries)
    monkeypatch.setattr(fakecatalog, "PAGE_SIZE", 100)
    fakecatalog.install(api, monkeypatch, card_reply=Reply(json={"data": {}}, delay=5))
    started = time.monotonic()
    rows = models_catalog.fetch_catalog(1, 0, False, now=NOON)
    assert time.monotonic() - started < 4, "each hanging card took its own timeout"
    assert len(rows) == 24 and all(row["input_price"] == 0.1 for row in rows)  # list prices kept


def test_every_bundled_id_has_a_type_and_the_documented_non_chat_ids_are_bundled():
    from gradient_inference.models.known import KNOWN_MODELS, known_model

    assert all(known_model(model_id)[0] != "unknown" for model_id in KNOWN_MODELS)
    documented = {"openai-gpt-image-1": "image", "fal-ai/flux/schnell": "image", "fal-ai/fast-sdxl": "image",
                  "fal-ai/stable-audio-25/text-to-audio": "audio", "fal-ai/elevenlabs/tts/multilingual-v2": "speech",
                  "qwen3-embedding-0.6b": "embedding"}  # the reference's list and the spec's examples
    assert {model_id: KNOWN_MODELS[model_id][0] for model_id in documented} == documented
