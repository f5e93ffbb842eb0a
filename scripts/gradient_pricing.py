#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""DigitalOcean Serverless Inference prices, by API model id, kept in a 24-hour cache.

Order: fresh cache; DigitalOcean's model catalog when DIGITALOCEAN_ACCESS_TOKEN (or
DIGITALOCEAN_TOKEN) is set, else or when it fails the docs page; stale cache; bundled snapshot.
No model access key is needed (--available uses one).

examples:
  gradient_pricing.py --model gpt-oss                 both gpt-oss rows; API ids work too
  gradient_pricing.py --estimate 20000 1000           what 20k in + 1k out tokens cost, cheapest first
  gradient_pricing.py --json | jq '.models[] | select(.input_price < 0.5)'
  gradient_pricing.py --changes                       for cron: prints only when prices changed
  gradient_pricing.py --strict --json > /dev/null     exit 1 unless live or fresh prices were had
"""
from __future__ import annotations

import argparse
import sys
import time

import gradient_common as common
import gradient_config as config
from gradient_prices import (DEFAULT_CACHE, MAX_AGE_HOURS, TOKEN_UNIT, PriceSet, age_seconds, cache_path,
                             cost_usd, describe_source, diff_prices, is_fresh, iso_utc, match_price, query_matches,
                             read_cache, read_snapshot, write_cache)

FETCH_TIMEOUT = 15.0

# ---------------------------------------------------------------- rendering

def money(value, places: int = 4) -> str:
    """$0.10, $0.198, $1,000.00: at least cents, at most `places` decimals."""
    if value is None:
        return "-"
    whole, fraction = f"{value:,.{places}f}".split(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def price_text(row: dict) -> str:
    if row.get("unit") == TOKEN_UNIT:
        return f"{money(row['input_price'])} in, {money(row['output_price'])} out"
    return f"{money(row.get('price'))} {row.get('unit') or ''}".strip()


def render_changes(changes: list) -> str:
    signs = {"added": "+", "removed": "-", "changed": "~"}
    lines = []
    for change in changes:
        name = f"{change['provider']} {change['model']}".strip()
        if change["change"] == "changed":
            lines.append(f"~ {name}: {price_text(change['before'])} -> {price_text(change['after'])}")
        else:
            lines.append(f"{signs[change['change']]} {name}: {price_text(change['before'] or change['after'])}")
    return "\n".join(lines)


def aligned(table: list) -> str:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def render_table(rows: list, with_estimate: bool) -> str:
    """Token prices in one table; prices per image, second or character in their own below it,
    so that neither widens nor ranks among the other. A price that varies by hour is marked *."""
    def names(row):
        return [common.one_line(row.get("provider") or "-", 40), common.one_line(row["model"], 80),
                common.one_line(row.get("model_id") or "-", 80)]

    def mark(row):
        return " *" if row.get("price_note") else ""

    tokens = [["PROVIDER", "MODEL", "API ID", "INPUT $/1M", "OUTPUT $/1M"] + (["EST. COST"] if with_estimate else [])]
    units = [["PROVIDER", "MODEL", "API ID", "PRICE"]]
    for row in rows:
        if row.get("unit") == TOKEN_UNIT:
            estimate = row.get("estimated_cost_usd")
            tokens.append(names(row) + [money(row["input_price"]), money(row["output_price"]) + mark(row)]
                          + ([money(estimate, 6) if estimate is not None else ""] if with_estimate else []))
        else:
            units.append(names(row) + [f"{money(row.get('price'))} {common.one_line(row.get('unit') or '', 40)}"
                                       + mark(row)])
    parts = [aligned(table) for table in (tokens, units) if len(table) > 1]
    if any(row.get("price_note") for row in rows):
        parts.append("* varies by hour of day (UTC); the current price is shown")
    return "\n\n".join(parts)


# ---------------------------------------------------------------- command

def check_row_count(rows: list, cached) -> None:
    """A page that gives under half the prices the cache holds is a layout change (or a page cut
    short) rather than a price list: it must not replace the cache or report removals."""
    if cached is not None and len(rows) * 2 < len(cached.models):
        raise common.GradientError("parse", f"the pricing page gave {len(rows)} prices where the cache holds "
                                   f"{len(cached.models)}: its layout may have changed",
                                   hint="the cache was kept; run with --verbose to see what was read")


def fetch_fresh(args: argparse.Namespace, cached) -> PriceSet:
    """The catalog when a DigitalOcean API token is set (prices by API id), else or when it fails
    the docs page; a page giving under half the cached prices is a layout problem."""
    from gradient_catalog import attach_known_ids, catalog_token, fetch_catalog

    if catalog_token() is not None:
        try:
            rows = fetch_catalog(args.timeout, args.max_retries, args.verbose)
            return PriceSet("catalog", iso_utc(time.time()), None, rows)
        except common.GradientError as error:
            common.warn(f"the model catalog is unavailable ({error.message}); trying the docs page")
    from gradient_pricepage import PRICING_URLS, fetch_live  # bs4 and the parser only when fetching

    rows, url = fetch_live([args.url] if args.url else list(PRICING_URLS), args.timeout, args.max_retries,
                           args.verbose)
    check_row_count(rows, cached)
    rows = [dict(row, source="page") for row in rows]
    return PriceSet("live", iso_utc(time.time()), url, attach_known_ids(rows))  # display names get API ids


def load_prices(args: argparse.Namespace, path: str) -> tuple:
    """(PriceSet, the cache as it was before, why live/fresh data was not had or None)."""
    cached = read_cache(path)
    fresh = cached is not None and is_fresh(cached, args.max_age)
    if fresh and not args.no_cache and not args.changes:
        return cached, cached, None
    try:
        live = fetch_fresh(args, cached)
    except common.GradientError as error:
        problem = error
    else:
        write_cache(path, live)
        return live, cached, None
    if args.changes:  # no fallback to compare: the error alone, without a warning that contradicts it
        raise problem
    if cached is not None:
        fallback = cached._replace(source="cache" if fresh else "stale_cache")
        common.warn(f"live prices unavailable ({problem.message}); using the {describe_source(fallback)}")
        return fallback, cached, problem
    snapshot = read_snapshot()
    if snapshot is None:
        raise problem
    common.warn(f"live prices unavailable ({problem.message}); using the {describe_source(snapshot)}")
    return snapshot, cached, problem


def available_rows(args: argparse.Namespace, rows: list) -> list:
    """--available: only the rows of models that /v1/models lists for this model access key."""
    from gradient_http import Client

    document, _ = Client.from_args(args).get_json("models")
    ids = [m.get("id") for m in document.get("data", []) if isinstance(m, dict)] if isinstance(document, dict) else []
    keep = {id(row) for row in (match_price(model_id, rows) for model_id in ids if isinstance(model_id, str)) if row}
    return [row for row in rows if id(row) in keep]


def pricing(args: argparse.Namespace) -> int:
    path = cache_path(args)
    prices, before, problem = load_prices(args, path)
    if args.changes:
        if problem is not None:
            raise problem
        if before is None:  # a first run has nothing to compare with: it sets the point of comparison
            common.emit_json({"changes": [], "seeded": len(prices.models)}) if args.json else \
                common.out(f"seeded {len(prices.models)} prices")
            return common.EXIT_OK
        changes = diff_prices(before.models, prices.models)
        if args.json:
            common.emit_json({"changes": changes})
        elif changes:
            common.out(render_changes(changes))
        return common.EXIT_OK
    rows = [r for r in prices.models if not args.model or query_matches(args.model, r)]
    rows = [dict(r) for r in (available_rows(args, rows) if args.available else rows)]
    if args.estimate:
        tokens = {"input_tokens": args.estimate[0], "output_tokens": args.estimate[1]}
        for row in rows:
            row["estimated_cost_usd"] = cost_usd(row, tokens) if row.get("unit") == TOKEN_UNIT else None
        rows.sort(key=lambda r: (r["estimated_cost_usd"] is None, r["estimated_cost_usd"] or 0))
    if not rows:
        common.log(f"no price matches {args.model!r}" if args.model else "no prices to show")
    if args.json:
        common.emit_json({"source": prices.source, "fetched_at": prices.fetched_at,
                          "age_seconds": 0 if prices.source in ("live", "catalog")
                          else max(round(age_seconds(prices)), 0),
                          "url": prices.url, "count": len(rows), "models": rows})
    elif rows:
        common.log(f"prices: {describe_source(prices)}" + (f" ({prices.url})" if prices.url else ""))
        common.out(render_table(rows, bool(args.estimate)))
    if args.strict and problem is not None and prices.source != "cache":
        raise common.GradientError(problem.type, f"--strict: no live or fresh prices ({problem.message})",
                                   hint=problem.hint)
    return common.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("--model", metavar="QUERY",
                        help="case-insensitive match on model or provider; API ids work (openai-gpt-oss-120b)")
    parser.add_argument("--no-cache", action="store_true", help="skip the fresh cache and fetch the page")
    parser.add_argument("--estimate", nargs=2, type=config.int_in_range(0), metavar=("INPUT_TOKENS", "OUTPUT_TOKENS"),
                        help="add estimated_cost_usd to each token-priced row, cheapest first")
    parser.add_argument("--changes", action="store_true",
                        help="fetch, compare with the cache and print only added, removed and changed prices")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when neither live nor fresh cached prices could be had (monitoring)")
    parser.add_argument("--url", default=config.env_default("GRADIENT_PRICING_URL", None),
                        help="fetch this pricing page instead of the known docs URLs (env GRADIENT_PRICING_URL)")
    parser.add_argument("--cache-file", metavar="PATH",
                        help=f"cache path (env GRADIENT_PRICING_CACHE; default {DEFAULT_CACHE})")
    parser.add_argument("--max-age", type=config.positive_float, default=MAX_AGE_HOURS, metavar="HOURS",
                        help="how long the cache stays fresh (default %(default)g h)")
    parser.add_argument("--available", action="store_true",
                        help="only models that /v1/models lists for your model access key (needs the key)")
    config.add_common_args(parser, default_timeout=FETCH_TIMEOUT)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return common.run(pricing, args)


if __name__ == "__main__":
    sys.exit(main())
