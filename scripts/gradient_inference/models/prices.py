"""The price library: price rows, the pricing cache and the bundled snapshot, freshness, matching
API model ids to rows, and what a call cost.

Belongs here: everything that reads prices without fetching them, for every command. Does not
belong here: fetching (models.catalog, models.price_page), the worst case of a call (models.budget)
or any command's output. The snapshot is package data beside this module, found one way.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import namedtuple

from gradient_inference.core import defaults
from gradient_inference.core.clock import parse_time
from gradient_inference.core.defaults import ESTIMATE_MARK
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.core.paths import read_regular_file, why, write_json_atomic
from gradient_inference.core.text import one_line

SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pricing_snapshot.json")
SCHEMA_VERSION = 2  # 2 added model_id, cache-write, reasoning and batch prices, source; 1 is still read
MAX_CACHE_BYTES = 16 << 20
TOKEN_UNIT = "per 1M tokens"
ROW_KEYS = ("provider", "model", "model_id", "input_price", "output_price", "cached_input_price",
            "cache_write_5m_price", "cache_write_1h_price", "reasoning_price", "batch_input_price",
            "batch_output_price", "price", "unit", "source", "as_of", "retired")
PRICE_KEYS = tuple(k for k in ROW_KEYS if k.endswith("price"))
SNAPSHOT_OLD_DAYS = 90  # past this, the bundled snapshot's words warn that models have come and gone
INFO_KEYS = ("type", "capabilities", "context_window", "max_output_tokens", "variants", "price_note")  # catalog rows
VENDOR_PREFIXES = {"openai", "anthropic", "alibaba", "meta", "deepseek", "mistral", "mistralai",
                   "google", "xai", "cohere", "qwen", "microsoft", "nvidia", "amazon"}
NOISE_TOKENS = {"instruct", "chat", "it", "latest", "preview", "hf"}

PriceSet = namedtuple("PriceSet", "source fetched_at url models")  # source: live, cache, stale_cache, snapshot


def make_row(provider: str, model: str, prices: dict) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(prices, provider=provider, model=model)
    return row


# ---------------------------------------------------------------- cache and snapshot


def validate_document(document) -> list:
    """The model rows of a cache or snapshot document; ValueError when it is not one."""
    if not isinstance(document, dict) or document.get("schema_version") not in (1, SCHEMA_VERSION):
        raise ValueError("wrong schema version")
    if parse_time(document.get("fetched_at")) is None:
        raise ValueError("no valid fetched_at")
    models = document.get("models")
    if not isinstance(models, list) or not all(
            isinstance(m, dict) and isinstance(m.get("model"), str) for m in models):
        raise ValueError("no valid models list")
    return [make_row(m.get("provider") or "", m["model"], {k: m[k] for k in ROW_KEYS[2:] + INFO_KEYS if k in m})
            for m in models]


def read_cache(path: str, quiet: bool = False) -> PriceSet | None:
    """The cache, only when it is a regular file of ours (not a planted symlink) and valid."""
    def distrust(reason, always=False):  # a planted file is worth a word even where quiet is asked
        if always or not quiet:
            warn(f"ignoring pricing cache {path}: {reason}")
        return None

    try:  # never blocks: a FIFO, a folder or a device planted there is refused before any read
        data = read_regular_file(path, MAX_CACHE_BYTES, follow_links=False, own=True)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return distrust("it is a symlink" if os.path.islink(path) else why(exc), always=True)
    try:
        document = json.loads(data)
        models = validate_document(document)
    except (ValueError, RecursionError) as exc:
        return distrust(f"corrupt ({one_line(str(exc), 100)})")
    return PriceSet("cache", document["fetched_at"], document.get("url"), models)


def write_cache(path: str, prices: PriceSet) -> bool:
    """Atomic (core.paths.write_json_atomic). Failure only warns."""
    document = {"schema_version": SCHEMA_VERSION, "fetched_at": prices.fetched_at, "url": prices.url,
                "models": prices.models}
    try:
        write_json_atomic(path, document)
        return True
    except OSError as exc:
        warn(f"could not write the pricing cache {path}: {exc.strerror or exc}")
        return False


def check_row_count(rows: list, cached, source: str) -> None:
    """A source that gives under half the prices the cache holds has changed its layout, cut its
    answer short or lost access, rather than dropped models: it must not replace the cache or
    report removals (a parse error; the caller keeps the cache and says so)."""
    if cached is not None and len(rows) * 2 < len(cached.models):
        raise GradientError("parse", f"{source} gave {len(rows)} prices where the cache holds {len(cached.models)}: "
                            "its layout or access may have changed",
                            hint="the cache was kept; run with --verbose to see what was read")


def read_snapshot() -> PriceSet | None:
    try:
        with open(SNAPSHOT, encoding="utf-8") as handle:
            document = json.load(handle)
        return PriceSet("snapshot", document["fetched_at"], document.get("url"), validate_document(document))
    except (OSError, ValueError, KeyError):
        return None


def age_seconds(prices: PriceSet, now: float | None = None) -> float:
    return (time.time() if now is None else now) - (parse_time(prices.fetched_at) or 0)


def is_fresh(prices: PriceSet, max_age_hours: float = defaults.PRICES_MAX_AGE_HOURS) -> bool:
    """Younger than max_age_hours (an hour of clock skew into the future is tolerated)."""
    return -3600 < age_seconds(prices) < max_age_hours * 3600


def describe_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(seconds, 0) / 60:.0f} min old"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h old"
    if seconds < 60 * 86400:
        return f"{seconds / 86400:.0f} days old"
    return f"{seconds / (30.44 * 86400):.0f} months old"


def snapshot_is_old(prices: PriceSet, now: float | None = None) -> bool:
    return prices.source == "snapshot" and age_seconds(prices, now) > SNAPSHOT_OLD_DAYS * 86400


def describe_source(prices: PriceSet, now: float | None = None) -> str:
    age = age_seconds(prices, now)
    if prices.source in ("live", "catalog"):
        return {"live": "live page", "catalog": "catalog"}[prices.source]
    if prices.source == "cache":
        return f"cache, {describe_age(age)}"
    if prices.source == "stale_cache":
        return f"STALE cache, {describe_age(age)}"
    words = f"bundled snapshot of {prices.fetched_at[:10]}, {describe_age(age)}"
    if snapshot_is_old(prices, now):
        words += ("; models have been retired and added since, and prices may have moved "
                  "(DIGITALOCEAN_ACCESS_TOKEN gives the live catalog)")
    return words


def cache_path(given: str | None = None) -> str:
    """--cache-file, else GRADIENT_PRICING_CACHE, else the default."""
    return given or defaults.env_default("GRADIENT_PRICING_CACHE", defaults.PRICING_CACHE)


def offline_prices(quiet: bool = True) -> PriceSet | None:
    """Cached prices of any age, else the bundled snapshot: for other scripts, never a live scrape."""
    cached = read_cache(cache_path(), quiet=quiet)
    if cached is not None:
        return cached if is_fresh(cached) else cached._replace(source="stale_cache")
    return read_snapshot()


# ---------------------------------------------------------------- matching and costs


def name_tokens(text: str) -> list:
    """Lowercase words and numbers: 'Llama 3.3 Instruct-70B' -> ['3.3', '70', 'b', 'instruct', 'llama']."""
    words = re.findall(r"[a-z]+|\d+(?:\.\d+)*", text.lower())
    return [w for w in words if w not in NOISE_TOKENS and not re.fullmatch(r"\d{4,}", w)]


def match_price(api_id: str, rows: list) -> dict | None:
    """The pricing row of an API model id, or None. Precision first: the id and the display
    name must have the same words and numbers once the vendor prefix is set aside; several
    matches with different prices give None."""
    if not api_id:
        return None
    exact = [row for row in rows if row.get("model_id") == api_id or (row.get("unit") != TOKEN_UNIT and row["model"] == api_id)]
    if exact:  # the catalog's id, or a per-unit row named by its id (fal-ai/flux/schnell)
        return exact[0]
    wanted = name_tokens(api_id.split("/")[-1])
    found = []
    for row in rows:
        if row.get("unit") != TOKEN_UNIT:
            continue
        vendor = set(name_tokens(row.get("provider") or "")) | VENDOR_PREFIXES
        ours = sorted(t for t in wanted if t not in vendor)
        theirs = sorted(t for t in name_tokens(row["model"]) if t not in vendor)
        if ours and ours == theirs:
            found.append(row)
    prices = {(r["input_price"], r["output_price"]) for r in found}
    return found[0] if len(prices) == 1 else None


def query_matches(query: str, row: dict) -> bool:
    """--model: a substring of model or provider (ignoring case and punctuation), or an API id."""
    squeeze = lambda text: re.sub(r"[^a-z0-9.]", "", text.lower())  # noqa: E731
    wanted = squeeze(query)
    haystacks = (squeeze(row["model"]), squeeze(row.get("provider") or ""),
                 squeeze((row.get("provider") or "") + row["model"]))
    return any(wanted in hay for hay in haystacks) or match_price(query, [row]) is not None


def cost_usd(row: dict, usage: dict, exact: bool = False) -> float | None:
    """USD for a call's tokens: cached reads at the cache-read price and tokens newly written to
    the cache at the write price (1 h or 5 min), where the row has them; the rest at the input price.
    Rounded to 8 places, or `exact` for a total that is summed first and rounded once."""
    input_tokens, output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    if row is None or None in (input_tokens, output_tokens):
        return None
    if any(row.get(meter) is None and tokens
           for meter, tokens in (("input_price", input_tokens), ("output_price", output_tokens))):
        return None  # tokens on a meter with no price: unknown, never free
    if row.get("input_price") is None and row.get("output_price") is None:
        return None
    total = output_tokens * (row["output_price"] or 0.0)
    plain = input_tokens
    for tokens, price in ((usage.get("cached_input_tokens"), row.get("cached_input_price")),
                          (usage.get("cache_write_1h_tokens"), row.get("cache_write_1h_price")),
                          (usage.get("cache_write_tokens"), row.get("cache_write_5m_price"))):
        if tokens and price is not None and tokens <= plain:
            total += tokens * price
            plain -= tokens
    value = (total + plain * (row["input_price"] or 0.0)) / 1_000_000
    return value if exact else round(value, 8)


def unpriced_cache_tokens(row: dict | None, usage: dict) -> int:
    """Cached or cache-write tokens that the row has no price for (cost_usd counts them at the input price)."""
    if row is None:
        return 0
    return sum(tokens for tokens, price in ((usage.get("cached_input_tokens"), "cached_input_price"),
                                            (usage.get("cache_write_1h_tokens"), "cache_write_1h_price"),
                                            (usage.get("cache_write_tokens"), "cache_write_5m_price"))
               if isinstance(tokens, int) and tokens > 0 and row.get(price) is None)


def is_estimate(price_source: str | None) -> bool:
    """Whether a cost was marked as an upper bound by cost_for."""
    return ESTIMATE_MARK in (price_source or "")


def batch_row(row: dict | None) -> dict | None:
    """The row at its batch prices (the catalog's batch-mode variant), or None where no batch price
    is known. Batch prices have no cache meters."""
    if row is None or row.get("batch_input_price") is None or row.get("batch_output_price") is None:
        return None
    return dict(row, input_price=row["batch_input_price"], output_price=row["batch_output_price"],
                cached_input_price=None, cache_write_5m_price=None, cache_write_1h_price=None)


def unit_cost(row: dict | None, quantity: float) -> float | None:
    """USD for `quantity` units of a per-unit price (images, megapixels, seconds, 1K characters)."""
    if row is None or row.get("price") is None or row.get("unit") == TOKEN_UNIT:
        return None
    return round(row["price"] * quantity, 8)


def offline_row(model_id: str) -> dict | None:
    """A model's price row from the cached or bundled prices (never a live scrape), or None."""
    prices = offline_prices()
    return match_price(model_id, prices.models) if prices else None


def cost_for(model_id: str, usage: dict) -> tuple:
    """(USD, where the price came from) for a call's usage; (None, why) when unknown."""
    prices = offline_prices()
    if prices is None:
        return None, "no prices cached"
    row = match_price(model_id, prices.models)
    if row is None:
        return None, f"no price known for {model_id}"
    cost, source = cost_usd(row, usage), f"prices: {describe_source(prices)}"
    uncovered = unpriced_cache_tokens(row, usage)
    if cost is not None and uncovered:
        source += (f"; {ESTIMATE_MARK}: {uncovered:,} cached tokens counted at the input price, as no cache price "
                   "is known (DIGITALOCEAN_ACCESS_TOKEN gives the catalog's)")
    return cost, source


def unit_cost_for(model_id: str, quantities: dict) -> tuple:
    """(USD, where the price came from) of a per-unit call: `quantities` maps a unit ("per image",
    "per megapixel", "per second", "per 1K characters") to how many were used; (None, why) when
    the model has no per-unit price or the call used none of its unit."""
    prices = offline_prices()
    row = match_price(model_id, prices.models) if prices else None
    if row is None or row.get("unit") == TOKEN_UNIT:
        return None, f"no per-unit price known for {model_id}"
    quantity = quantities.get(row.get("unit"))
    if quantity is None:
        return None, f"{model_id} is priced {row.get('unit')}, which this call does not measure"
    return unit_cost(row, quantity), f"prices: {describe_source(prices)}"


# ---------------------------------------------------------------- changes


def price_key(row: dict) -> tuple:
    return (row.get("provider") or "", row["model"], row.get("unit") or "")


def diff_prices(before: list, after: list) -> list:
    """Added, removed and changed rows, every kind of price compared."""
    old = {price_key(r): r for r in before}
    new = {price_key(r): r for r in after}
    compared = PRICE_KEYS
    changes = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        if was is None:
            changes.append({"change": "added", "provider": key[0], "model": key[1], "before": None, "after": now})
        elif now is None:
            changes.append({"change": "removed", "provider": key[0], "model": key[1], "before": was, "after": None})
        elif any(was.get(k) != now.get(k) for k in compared):
            changes.append({"change": "changed", "provider": key[0], "model": key[1], "before": was, "after": now})
    return changes


def usage_line(usage: dict, cost, price_source) -> str:
    """`tokens: N in, M out (K cached), cost $X (source)` for --usage on stderr."""
    def number(value):
        return "?" if value is None else str(value)

    line = f"tokens: {number(usage.get('input_tokens'))} in, {number(usage.get('output_tokens'))} out"
    if usage.get("cached_input_tokens"):
        line += f" ({usage['cached_input_tokens']} cached)"
    if cost is not None:
        line += (", cost at most" if is_estimate(price_source) else ", cost") + f" ${cost:.6f}" + \
            (f" ({price_source})" if price_source else "")
    elif price_source:
        line += f", cost unknown ({price_source})"
    return line
