"""DigitalOcean's model catalog (GET /v2/gen-ai/models/catalog and its cards), read into price rows
with each model's type and capabilities when a DigitalOcean API token is set (else models.known
says what it can).

Belongs here: reading the catalog into price rows keyed by API model id (every kind of price,
batch prices, pricing variants, prices that vary by hour), and model types and capabilities.
Does not belong here: the rows once read (models.prices), offline knowledge of ids (models.known)
or any command's output.
"""
from __future__ import annotations

import re
import time

from gradient_inference.api.control import control_client, control_token
from gradient_inference.core.clock import parse_time
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.core.text import one_line
from gradient_inference.models.known import catalog_capabilities, catalog_type
from gradient_inference.models.prices import TOKEN_UNIT, cache_path, is_fresh, make_row, read_cache

CATALOG_PATH = "v2/gen-ai/models/catalog"
PAGE_LIMIT, MAX_PAGES, CARD_WORKERS = 100, 100, 4  # PAGE_LIMIT is sent as per_page (limit is deprecated)
# The catalog's model_type filter values (OR semantics) for each of our types, as pydo 0.44.0 lists
# them (do-platform-2026-12.md, "Model catalog list"); a type without one (video, router, unknown)
# is asked of the whole list.
CATALOG_MODEL_TYPES = {"chat": ("chat", "reasoning", "coding"), "embedding": ("embedding",), "image": ("image",),
                       "reranking": ("reranking",), "speech": ("audio",), "transcription": ("audio",),
                       "audio": ("audio",)}
MAX_MODELS = 2000  # a catalog announcing more is not believed past this
MAX_PRICE = 10_000.0  # USD per unit: a larger price is a server's nonsense, not a price
CARDS_DEADLINE = 60.0  # at most, for all the cards together (else --timeout); those not begun keep their list prices
TOKEN_FIELDS = {  # the catalog's per-million fields -> ours
    "input_price_per_million": "input_price", "output_price_per_million": "output_price",
    "cache_read_input_price_per_million": "cached_input_price",
    "cache_write_5m_input_price_per_million": "cache_write_5m_price",
    "cache_write_1h_input_price_per_million": "cache_write_1h_price",
    "reasoning_price_per_million": "reasoning_price",
}
UNIT_FIELDS = {"price_per_image": "per image", "price_per_megapixel": "per megapixel",
               "price_per_second": "per second", "price_per_thousand_characters": "per 1K characters",
               "price_per_audio": "per audio", "price_per_video": "per video"}


# ---------------------------------------------------------------- prices


def price_or_null(value):
    """The catalog sends 0 for a meter a model does not have (an embedding's output, a token price
    of a per-image model): that is no such meter, null, never a price of $0. A price that is not a
    finite number from 0 to MAX_PRICE is null too."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value - value != 0:
        return None  # value - value is 0 for every finite number, NaN for NaN and the infinities
    return float(value) if 0 < value <= MAX_PRICE else None


def prices_of(pricing) -> dict:
    """Our price fields from an apiModelPricing object: per-million token prices, else a unit price."""
    pricing = pricing if isinstance(pricing, dict) else {}
    prices = {ours: price_or_null(pricing.get(theirs)) for theirs, ours in TOKEN_FIELDS.items()}
    unit = next(((field, unit) for field, unit in UNIT_FIELDS.items() if price_or_null(pricing.get(field))), None)
    if unit and not (prices["input_price"] or prices["output_price"]):
        prices.update(input_price=None, output_price=None, price=price_or_null(pricing[unit[0]]), unit=unit[1])
    else:
        prices["unit"] = TOKEN_UNIT
    return prices


def hour_of_day(text) -> float | None:
    moment = parse_time(text)
    return None if moment is None else (moment % 86400) / 3600


def current_interval(scaled, now: float | None = None):
    """The interval of a price schedule that holds the current hour of the day (UTC), if any."""
    hour = ((time.time() if now is None else now) % 86400) / 3600
    for interval in scaled.get("intervals") or [] if isinstance(scaled, dict) else []:
        start, end = (hour_of_day(interval.get(k)) if isinstance(interval, dict) else None
                      for k in ("start_time", "end_time"))
        if start is None or end is None:
            continue
        if (start <= hour < end) if start < end else (hour >= start or hour < end):
            return interval
    return None


def variant_of(variant: dict, now: float | None) -> dict:
    prices = prices_of(variant.get("prices"))
    interval = current_interval(variant.get("scaled_pricing"), now)
    if interval is not None:
        prices.update(prices_of(interval.get("prices")), scaled=True)
    tier = str(variant.get("tier") or "").replace("MODEL_PRICING_TIER_", "").lower() or "unspecified"
    mode = str(variant.get("mode") or "").replace("MODEL_BILLING_MODE_", "").lower() or "unspecified"
    label = one_line(str(variant.get("label") or tier), 60)
    own_key = "byok" in tier or "byok" in label.lower() or "bring your own" in label.lower()
    return dict(prices, label=label + (" (your own provider key; never used for a model access key's calls)"
                                       if own_key else ""), tier="byok" if own_key else tier, mode=mode)


def catalog_row(entry: dict, card: dict | None = None, now: float | None = None) -> dict | None:
    """One price row for a catalog entry (and its card): standard interactive prices for costs,
    batch prices as their own fields, the other variants kept, the current price when it varies."""
    model_id = entry.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        return None
    card = card or {}
    variants = card.get("pricing_detail", {}).get("variants") if isinstance(card.get("pricing_detail"), dict) else None
    variants = [variant_of(v, now) for v in variants or [] if isinstance(v, dict)]
    standard = next((v for v in variants if v["tier"] in ("standard", "unspecified")
                     and v["mode"] in ("interactive", "unspecified")), None)
    batch = next((v for v in variants if v["mode"] == "batch" and v["tier"] in ("standard", "unspecified")), None)
    prices = {k: v for k, v in (standard or prices_of(entry.get("pricing"))).items()
              if k not in ("label", "tier", "mode")}
    scaled = prices.pop("scaled", False) or (bool(entry.get("scaled_pricing_enabled")) and standard is None)
    prices.update(batch_input_price=batch and batch.get("input_price"), batch_output_price=batch and batch.get("output_price"))
    row = make_row(one_line(str(entry.get("creator") or ""), 40), one_line(str(entry.get("name") or model_id), 80),
                   dict(prices, model_id=model_id, source="catalog"))
    row.update(type=catalog_type(entry.get("type")), capabilities=catalog_capabilities(entry.get("capabilities")),
               context_window=whole(entry.get("context_window")), max_output_tokens=whole(entry.get("max_output_tokens")),
               variants=[v for v in variants if v is not standard] or None,
               price_note="varies by hour of day; the current price is shown" if scaled else None)
    return row


def whole(value) -> int | None:
    """The catalog's int64 fields come as strings ("128000")."""
    try:
        return int(value) if value not in (None, "") and int(value) >= 0 else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- fetching


def in_threads(work, items: list, workers: int) -> list:
    """work(item) for every item, `workers` at a time, results in the items' order; work must
    not raise (it returns its error)."""
    from concurrent.futures import ThreadPoolExecutor  # here: the cached-price path never fetches cards

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(work, items))


def quoted(text: str) -> str:
    """Text as one URL path segment: every byte but letters, digits and -._~ percent-encoded."""
    return re.sub(r"[^A-Za-z0-9_.~-]", lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def entry_key(entry: dict) -> str:
    return str(entry.get("id") or entry.get("model_id"))


def model_type_filter(types) -> list:
    """The catalog's model_type values that cover our `types`, or [] (ask for every model) when
    there are none or one has no catalog word."""
    if not types or any(kind not in CATALOG_MODEL_TYPES for kind in types):
        return []
    return sorted({word for kind in types for word in CATALOG_MODEL_TYPES[kind]})


def list_query(page: int, model_types=()) -> str:
    """The query of one catalog page: per_page, and model_type repeated (form, explode) for a filter."""
    from urllib.parse import urlencode  # here: the cached-price path never lists the catalog

    return urlencode([("page", page), ("per_page", PAGE_LIMIT)] + [("model_type", word) for word in model_types])


def list_entries(client, model_types=()) -> list:
    """The catalog's entries, page by page (the filter asked of the server), believed up to MAX_MODELS."""
    entries, page, pages, announced, seen = [], 1, 1, None, set()
    while page <= min(pages, MAX_PAGES) and len(entries) < min(announced or MAX_MODELS, MAX_MODELS):
        document, _ = client.get_json(f"{CATALOG_PATH}?{list_query(page, model_types)}")
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise GradientError("invalid_response", "the model catalog has no data list")
        fresh = [entry for entry in data if isinstance(entry, dict) and entry_key(entry) not in seen]
        if not fresh:
            break  # a page that repeats what was read (or is empty): paging is over, whatever meta says
        seen.update(entry_key(entry) for entry in fresh)
        entries += fresh
        meta = document.get("meta") if isinstance(document.get("meta"), dict) else {}
        pages = whole(meta.get("pages")) or page
        announced = announced or whole(meta.get("total"))
        page += 1
    return entries[:min(announced or MAX_MODELS, MAX_MODELS)]


def fetch_catalog(timeout: float, max_retries: int, verbose: bool, now: float | None = None) -> list:
    """Every page of the catalog, then each model's card (CARD_WORKERS at a time), as price rows:
    the prices every command reads from the cache need the cards' variants (batch prices, prices
    by the hour). A card that cannot be had leaves that model with its list prices and a warning."""
    client = control_client(timeout, max_retries, verbose)
    entries = list_entries(client)
    if not entries:
        raise GradientError("invalid_response", "the model catalog is empty")

    deadline = time.monotonic() + min(CARDS_DEADLINE, max(timeout, 1.0))  # one deadline for all the cards

    def card(entry):
        ident = entry.get("id") or entry.get("model_id")
        if time.monotonic() > deadline:
            return GradientError("timeout", f"the cards took longer than {CARDS_DEADLINE:g} s together")
        try:
            document, _ = client.get_json(f"{CATALOG_PATH}/{quoted(str(ident))}")
            return document.get("data") if isinstance(document, dict) and isinstance(document.get("data"), dict) else None
        except GradientError as error:
            return error

    cards = in_threads(card, entries, CARD_WORKERS)
    failed = [c for c in cards if isinstance(c, GradientError)]
    if failed:
        warn(f"{len(failed)} of {len(cards)} catalog cards could not be read ({failed[0].message}); "
             "those models keep their list prices")
    rows = [catalog_row(e, c if isinstance(c, dict) else None, now) for e, c in zip(entries, cards)]
    return [row for row in rows if row is not None]


def catalog_rows(timeout: float, max_retries: int, verbose: bool, types=()) -> list | None:
    """Catalog rows for model types and capabilities when a DigitalOcean API token is set: from
    the pricing cache when it is fresh and came from the catalog, else the catalog's list asked
    with its model_type filter for `types` (no cards: types need none; and not cached, since the
    price cache needs the cards). None without a token, or with a warning when the catalog cannot
    be had."""
    if control_token() is None:
        return None
    cached = read_cache(cache_path(), quiet=True)
    if cached is not None and is_fresh(cached) and any(r.get("source") == "catalog" for r in cached.models):
        return cached.models
    try:
        entries = list_entries(control_client(timeout, max_retries, verbose), model_type_filter(types))
    except GradientError as error:
        warn(f"the model catalog is unavailable ({error.message}); types come from "
             + ("the cached catalog" if cached is not None and error.type == "parse" else "the bundled table"))
        return cached.models if cached is not None and error.type == "parse" else None
    rows = [catalog_row(entry) for entry in entries]
    return [row for row in rows if row is not None]
