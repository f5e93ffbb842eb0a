"""The pricing command's work: prices from the fresh cache, DigitalOcean's catalog, the docs page,
a stale cache or the bundled snapshot, in that order; shown as tables or JSON, ranked by an
estimate, compared with the cache (--changes), or limited to what a key can use (--available).

Belongs here: turning the pricing command's flags into its output. Does not belong here: the
price library (models.prices), fetching (models.catalog, models.price_page) or the flags.
"""
from __future__ import annotations

import time

from gradient_inference.api.client import Client
from gradient_inference.core.clock import iso_utc
from gradient_inference.core.errors import EXIT_OK, GradientError, UsageError
from gradient_inference.core.output import emit_json, log, out, warn
from gradient_inference.core.settings import resolve_settings
from gradient_inference.core.text import one_line
from gradient_inference.api.control import control_token
from gradient_inference.models.catalog import fetch_catalog
from gradient_inference.models.known import attach_known_ids, batch_provider, describe_model
from gradient_inference.models.price_page import PRICING_URLS, fetch_live
from gradient_inference.models.routers import candidates_of, is_router
from gradient_inference.models.prices import (TOKEN_UNIT, PriceSet, age_seconds, batch_row, cache_path, check_row_count,
                                              cost_usd, describe_source, diff_prices, is_fresh, match_price,
                                              query_matches, read_cache, read_snapshot, write_cache)


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


def estimate_rows(rows: list, input_tokens: int, output_tokens: int, at_batch: bool) -> list:
    """Each token-priced row with `estimated_cost_usd`, cheapest first. With `at_batch`, the cost at
    batch prices (null where none is known, ranked after those with one), beside the
    interactive cost and the share the batch saves."""
    tokens = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    for row in rows:
        token_priced = row.get("unit") == TOKEN_UNIT
        interactive = cost_usd(row, tokens) if token_priced else None
        if not at_batch:
            row["estimated_cost_usd"] = interactive
            continue
        batch = batch_row(row) if token_priced and batch_provider(row.get("model_id") or row["model"], row) else None
        row["estimated_cost_usd"] = cost_usd(batch, tokens) if batch else None
        row["interactive_cost_usd"] = interactive
        row["batch_saving"] = (round(1 - row["estimated_cost_usd"] / interactive, 4)
                               if batch and interactive and row["estimated_cost_usd"] is not None else None)
    rows.sort(key=lambda r: (bool(r.get("retired")), r["estimated_cost_usd"] is None,
                             r.get("interactive_cost_usd") is None,
                             r["estimated_cost_usd"] or r.get("interactive_cost_usd") or 0))
    return rows


def render_table(rows: list, with_estimate: bool, at_batch: bool = False) -> str:
    """Token prices in one table; prices per image, second or character in their own below it,
    so that neither widens nor ranks among the other. A price that varies by hour is marked *."""
    def names(row):
        retired = f" (retired {one_line(str(row['retired']), 10)})" if row.get("retired") else ""
        return [one_line(row.get("provider") or "-", 40), one_line(row["model"], 80) + retired,
                one_line(row.get("model_id") or "-", 80)]

    def mark(row):
        return " *" if row.get("price_note") else ""

    estimate_heads = (["BATCH EST.", "INTERACTIVE", "SAVES"] if at_batch else ["EST. COST"]) if with_estimate else []
    tokens = [["PROVIDER", "MODEL", "API ID", "INPUT $/1M", "OUTPUT $/1M"] + estimate_heads]
    units = [["PROVIDER", "MODEL", "API ID", "PRICE"]]
    for row in rows:
        if row.get("unit") == TOKEN_UNIT:
            estimates = [money(row.get("estimated_cost_usd"), 6)]
            if at_batch:
                saving = row.get("batch_saving")
                estimates += [money(row.get("interactive_cost_usd"), 6), "-" if saving is None else f"{saving:.0%}"]
            tokens.append(names(row) + [money(row["input_price"]), money(row["output_price"]) + mark(row)]
                          + (estimates if with_estimate else []))
        else:
            units.append(names(row) + [f"{money(row.get('price'))} {one_line(row.get('unit') or '', 40)}"
                                       + mark(row)])
    parts = [aligned(table) for table in (tokens, units) if len(table) > 1]
    if any(row.get("price_note") for row in rows):
        parts.append("* varies by hour of day (UTC); the current price is shown")
    return "\n\n".join(parts)


# ---------------------------------------------------------------- fetching


def fetch_fresh(url: str | None, timeout: float, max_retries: int, verbose: bool, cached) -> PriceSet:
    """The catalog when a DigitalOcean API token is set (prices by API id), else or when it fails
    the docs page (`url`, else the known ones); a page giving under half the cached prices is a
    layout problem."""
    if control_token() is not None:
        try:
            rows = fetch_catalog(timeout, max_retries, verbose)
            check_row_count(rows, cached, "DigitalOcean's model catalog")
            return PriceSet("catalog", iso_utc(time.time()), None, rows)
        except GradientError as error:
            warn(f"the model catalog is unavailable ({error.message}); trying the docs page")
    rows, url = fetch_live([url] if url else list(PRICING_URLS), timeout, max_retries, verbose)
    check_row_count(rows, cached, "the pricing page")
    rows = [dict(row, source="page") for row in rows]
    return PriceSet("live", iso_utc(time.time()), url, attach_known_ids(rows))  # display names get API ids


def load_prices(args, path: str) -> tuple:
    """(PriceSet, the cache as it was before, why live/fresh data was not had or None)."""
    cached = read_cache(path)
    fresh = cached is not None and is_fresh(cached, args.max_age)
    if fresh and not args.no_cache and not args.changes:
        return cached, cached, None
    try:
        live = fetch_fresh(args.url, args.timeout, args.max_retries, args.verbose, cached)
    except GradientError as error:
        problem = error
    else:
        write_cache(path, live)
        return live, cached, None
    if args.changes:  # no fallback to compare: the error alone, without a warning that contradicts it
        raise problem
    if cached is not None:
        fallback = cached._replace(source="cache" if fresh else "stale_cache")
        warn(f"live prices unavailable ({problem.message}); using the {describe_source(fallback)}")
        return fallback, cached, problem
    snapshot = read_snapshot()
    if snapshot is None:
        raise problem
    warn(f"live prices unavailable ({problem.message}); using the {describe_source(snapshot)}")
    return snapshot, cached, problem


def capabilities_of(row: dict) -> list:
    """A price row's capabilities: the catalog's, else the bundled table's for its API id."""
    if row.get("capabilities") is not None:
        return row["capabilities"]
    return describe_model(row["model_id"], None)["capabilities"] if row.get("model_id") else []


def available_rows(settings, rows: list) -> list:
    """--available: only the rows of models that /v1/models lists for this model access key."""
    document, _ = Client(settings).get_json("models")
    ids = [m.get("id") for m in document.get("data", []) if isinstance(m, dict)] if isinstance(document, dict) else []
    keep = {id(row) for row in (match_price(model_id, rows) for model_id in ids if isinstance(model_id, str)) if row}
    return [row for row in rows if id(row) in keep]


def router_rows(args, rows: list) -> list:
    """--model router:NAME: the price rows of the router's candidate models (a call costs what the
    model it picks costs), read with a DigitalOcean API token; an error without one, or when the
    routers cannot be read or do not name this one's candidates (stderr has said which)."""
    candidates = candidates_of(args.model, args.timeout, args.max_retries, args.verbose)
    if candidates is None:
        raise GradientError("config", f"the candidate models of {args.model} are not known",
                            hint="set DIGITALOCEAN_ACCESS_TOKEN to read the account's routers" if control_token() is None
                            else "gradient_models.py --type router lists the account's routers and their candidates")
    found = [match_price(model_id, rows) for model_id in candidates]
    unknown = [model_id for model_id, row in zip(candidates, found) if row is None]
    if unknown:
        log(f"no price is known for {len(unknown)} of {args.model}'s candidates: {one_line(', '.join(unknown), 300)}")
    return [row for row in found if row is not None]


def router_range(model_id: str, rows: list) -> str:
    """What one call to a router costs, from its cheapest to its dearest candidate."""
    costs = sorted(r["estimated_cost_usd"] for r in rows if r.get("estimated_cost_usd") is not None)
    if not costs:
        return f"no cost of a call to {model_id} can be estimated"
    return (f"a call to {model_id} costs what the model it picks costs: from ${costs[0]:.6f} to ${costs[-1]:.6f} "
            f"among {len(costs)} priced candidate(s)")


def pricing(args) -> int:
    path = cache_path(args.cache_file)
    prices, before, problem = load_prices(args, path)
    if args.changes:
        if problem is not None:
            raise problem
        if before is None:  # a first run has nothing to compare with: it sets the point of comparison
            emit_json({"changes": [], "seeded": len(prices.models)}) if args.json else \
                out(f"seeded {len(prices.models)} prices")
            return EXIT_OK
        changes = diff_prices(before.models, prices.models)
        if args.json:
            emit_json({"changes": changes})
        elif changes:
            out(render_changes(changes))
        return EXIT_OK
    router = router_rows(args, prices.models) if is_router(args.model) else None
    rows = [r for r in (router if router is not None else prices.models)
            if (router is not None or not args.model or query_matches(args.model, r))
            and all(c in capabilities_of(r) for c in args.capabilities)]
    if args.available:
        rows = available_rows(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                               max_retries=args.max_retries, verbose=args.verbose), rows)
    rows = [dict(r) for r in rows]
    if args.batch and not args.estimate:
        raise UsageError("--batch ranks an estimate at batch prices: give it with --estimate INPUT_TOKENS OUTPUT_TOKENS")
    if args.estimate:
        estimate_rows(rows, *args.estimate, at_batch=args.batch)
        retired = [r.get("model_id") or r["model"] for r in rows if r.get("retired")]
        if retired:
            log(f"{len(retired)} retired model(s) ranked last: {one_line(', '.join(retired), 300)}")
        missing = [r.get("model_id") or r["model"] for r in rows if args.batch and r.get("unit") == TOKEN_UNIT
                   and r["estimated_cost_usd"] is None]
        if missing:
            log(f"no batch price known for {len(missing)} model(s): {one_line(', '.join(missing), 400)}; they are ranked "
                "after the rest at interactive prices (the Batch API takes OpenAI's and Anthropic's own models, as "
                "gradient_models.py --capability batch lists them; DIGITALOCEAN_ACCESS_TOKEN gives the catalog's "
                "batch prices)")
    if router is not None and args.estimate:
        log(router_range(args.model, rows))
    if not rows:
        log(f"no price matches {args.model!r}" if args.model else "no prices to show")
    if args.json:
        document = {"source": prices.source, "fetched_at": prices.fetched_at,
                    "age_seconds": 0 if prices.source in ("live", "catalog") else max(round(age_seconds(prices)), 0),
                    "url": prices.url, "count": len(rows), "models": rows}
        if prices.source == "snapshot":
            document["source_words"] = describe_source(prices)
        if router is not None:
            document["router"] = args.model
        emit_json(document)
    elif rows:
        log(f"prices: {describe_source(prices)}" + (f" ({prices.url})" if prices.url else ""))
        out(render_table(rows, bool(args.estimate), args.batch))
    if args.strict and problem is not None and prices.source != "cache":
        raise GradientError(problem.type, f"--strict: no live or fresh prices ({problem.message})",
                            hint=problem.hint)
    return EXIT_OK
