"""A fake DigitalOcean model catalog (GET /v2/gen-ai/models/catalog and /catalog/{id}) served by
the fake API, in the field names of DigitalOcean's OpenAPI description: two pages, a chat model
with a batch price, one with prompt-cache prices and a fast-mode variant, one whose price varies
by hour of day, a fal image model priced per image, a speech model priced per 1K characters and
an embedding model. test_catalog checks these documents against the spec's schemas."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

from fakeapi import Reply

LIST = "/v2/gen-ai/models/catalog"
TOKEN = "dop_v1_FAKE-catalog-token-0123456789abcdef"
ZERO = {"input_price_per_million": 0, "output_price_per_million": 0, "cache_read_input_price_per_million": 0,
        "cache_write_5m_input_price_per_million": 0, "cache_write_1h_input_price_per_million": 0,
        "reasoning_price_per_million": 0, "price_per_image": 0, "price_per_megapixel": 0, "price_per_second": 0,
        "price_per_thousand_characters": 0, "price_per_audio": 0, "price_per_video": 0}


def pricing(**prices) -> dict:
    return dict(ZERO, **prices)


def entry(uuid, model_id, name, creator, type_, capabilities, prices, **extra) -> dict:
    return dict({"id": uuid, "model_id": model_id, "name": name, "creator": creator, "type": type_,
                 "capabilities": capabilities, "context_window": "131072", "max_output_tokens": "32768",
                 "provider": "MODEL_PROVIDER_DIGITALOCEAN", "scaled_pricing_enabled": False,
                 "created_at": "2026-01-01T00:00:00Z", "pricing": prices}, **extra)


def variant(label, tier, mode, prices, **extra) -> dict:
    return dict({"label": label, "tier": f"MODEL_PRICING_TIER_{tier}", "mode": f"MODEL_BILLING_MODE_{mode}",
                 "currency": "USD", "prices": prices}, **extra)


GPT_OSS = pricing(input_price_per_million=0.1, output_price_per_million=0.7)
CLAUDE = pricing(input_price_per_million=3, output_price_per_million=15, cache_read_input_price_per_million=0.3,
                 cache_write_5m_input_price_per_million=3.75, cache_write_1h_input_price_per_million=6)
LLAMA_DAY, LLAMA_NIGHT = (pricing(input_price_per_million=0.8, output_price_per_million=0.8),
                          pricing(input_price_per_million=0.5, output_price_per_million=0.5))
ENTRIES = [
    entry("u-1", "openai-gpt-oss-120b", "gpt-oss-120b", "OpenAI", "text-to-text", ["tool_calling", "reasoning"], GPT_OSS),
    entry("u-2", "anthropic-claude-sonnet-4", "Claude Sonnet 4", "Anthropic", "text-to-text",
          ["vision", "tool_calling", "prompt_caching"], CLAUDE),
    entry("u-3", "llama3.3-70b-instruct", "Llama 3.3 Instruct-70B", "Meta", "text-to-text", ["tool_calling"],
          LLAMA_DAY, scaled_pricing_enabled=True),
    entry("u-4", "fal-ai/flux/schnell", "FLUX.1 schnell", "Black Forest Labs", "text-to-image", [],
          pricing(price_per_image=0.003)),
    entry("u-5", "fal-ai/elevenlabs/tts/multilingual-v2", "ElevenLabs Multilingual v2", "ElevenLabs",
          "text-to-speech", [], pricing(price_per_thousand_characters=0.1)),
    entry("u-6", "gte-large-en-v1.5", "GTE Large", "Alibaba", "embedding", [],
          pricing(input_price_per_million=0.09, output_price_per_million=0)),
]
CARDS = {
    "u-1": [variant("Bring Your Own Key", "UNSPECIFIED", "INTERACTIVE",
                    pricing(input_price_per_million=0, output_price_per_million=0)),
            variant("Standard", "STANDARD", "INTERACTIVE", GPT_OSS),
            variant("Batch", "STANDARD", "BATCH", pricing(input_price_per_million=0.05, output_price_per_million=0.35))],
    "u-2": [variant("Standard", "STANDARD", "INTERACTIVE", CLAUDE),
            variant("Fast Mode", "FAST_MODE", "INTERACTIVE", pricing(input_price_per_million=6, output_price_per_million=30))],
    "u-3": [variant("Standard", "STANDARD", "INTERACTIVE", LLAMA_DAY, scaled_pricing={
        "min_prices": LLAMA_NIGHT, "max_prices": LLAMA_DAY,
        "intervals": [{"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T12:00:00Z", "prices": LLAMA_NIGHT},
                      {"start_time": "2026-01-01T12:00:00Z", "end_time": "2026-01-02T00:00:00Z", "prices": LLAMA_DAY}]})],
}
PAGE_SIZE = 4  # what the fake serves a page when per_page (or limit) asks for more
# The catalog's model_type word of each entry's type, for the model_type filter (OR semantics)
MODEL_TYPES = {"text-to-text": "chat", "text-to-image": "image", "text-to-speech": "audio", "embedding": "embedding"}


def list_page(page: int, model_types=(), per_page: int = PAGE_SIZE) -> dict:
    found = [e for e in ENTRIES if not model_types or MODEL_TYPES[e["type"]] in model_types]
    size = min(per_page, PAGE_SIZE)
    pages = max(-(-len(found) // size), 1)
    return {"data": found[(page - 1) * size: page * size], "meta": {"page": page, "pages": pages, "total": len(found)},
            "available_model_types": sorted(set(MODEL_TYPES.values()))}


def card(uuid: str) -> dict:
    found = next(e for e in ENTRIES if e["id"] == uuid)
    data = {k: v for k, v in found.items() if k not in ("created_at", "scaled_pricing_enabled")}
    data.update(description=f"{found['name']}, as served by DigitalOcean", modalities={"input": ["text"], "output": ["text"]},
                pricing_detail={"variants": CARDS.get(uuid, [variant("Standard", "STANDARD", "INTERACTIVE", found["pricing"])])})
    return {"data": data}


def install(api, monkeypatch=None, card_reply=None) -> None:
    """Serve the catalog from the fake API; with monkeypatch, point the scripts at it with a token."""
    def listing(seen):
        query = parse_qs(seen.query)
        per_page = int((query.get("per_page") or query.get("limit") or [PAGE_SIZE])[0])
        return Reply(json=list_page(int(query.get("page", ["1"])[0]), query.get("model_type", []), per_page))

    api.add("GET", LIST, Reply(dynamic=listing))
    for uuid in (e["id"] for e in ENTRIES):
        api.add("GET", f"{LIST}/{uuid}", card_reply or Reply(body=json.dumps(card(uuid))))
    if monkeypatch is not None:
        monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("DIGITALOCEAN_API_URL", api.origin)
