"""The models command's work: the server's model list, checked and filtered, each model's type
and capabilities and (with --prices) its price, as a table, ids or JSON.

Belongs here: turning the models command's flags into its output. Does not belong here: the
catalog and types (models.catalog), prices (models.prices) or the flags (scripts/gradient_models.py).
"""
from __future__ import annotations

import time

from gradient_inference.api.client import Client, request_id_of
from gradient_inference.core.cli import words
from gradient_inference.core.errors import EXIT_OK, GradientError
from gradient_inference.core.output import emit_json, log, out, warn
from gradient_inference.core.settings import resolve_settings
from gradient_inference.core.text import one_line
from gradient_inference.ledger.store import Entry
from gradient_inference.api.control import control_token
from gradient_inference.models.catalog import catalog_rows
from gradient_inference.models.known import KNOWN_AS_OF, describe_model
from gradient_inference.models.prices import describe_source, match_price, offline_prices
from gradient_inference.models.routers import fetch_routers, is_router
from gradient_inference.models.served import parse_models, remember

COLUMNS = ("ID", "TYPE", "OWNED BY", "CREATED")
# here too so that --help need not import the catalog (test_catalog keeps the two equal)
PRICE_COLUMNS = ("IN $/1M", "OUT $/1M")


def matches(model: dict, words: list) -> bool:
    haystack = f"{model['id']} {model['owned_by'] or ''}".lower()
    return all(word.lower() in haystack for word in words)


def format_date(created) -> str:
    """A `created` time as a date; '-' for none, or for one no calendar holds (a server may send 1e20)."""
    try:
        return time.strftime("%Y-%m-%d", time.gmtime(created)) if created is not None else "-"
    except (OverflowError, OSError, ValueError):
        return "-"


def format_price(value) -> str:
    return "-" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def render_table(models: list, with_prices: bool = False) -> str:
    routes = any(model.get("candidates") for model in models)  # a router's candidates, when they were read
    header = COLUMNS + (("ROUTES TO",) if routes else ()) + (PRICE_COLUMNS if with_prices else ())
    rows = [header]
    for model in models:
        row = (one_line(model["id"], 200), one_line(model.get("type") or "unknown", 20),
               one_line(model["owned_by"] or "-", 60), format_date(model["created"]))
        if routes:
            row += (", ".join(one_line(c, 80) for c in model.get("candidates") or []) or "-",)
        if with_prices:
            pricing = model.get("pricing") or {}
            row += (format_price(pricing.get("input_price")), format_price(pricing.get("output_price")))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)


def attach_prices(models: list) -> str:
    """Each model's pricing row (or None) from the cache or bundled snapshot, never a live
    scrape; returns where the prices came from."""
    prices = offline_prices()
    for model in models:
        model["pricing"] = match_price(model["id"], prices.models) if prices else None
    return f"prices: {describe_source(prices)}" if prices else "prices: none cached"


def attach_types(models: list, timeout: float, max_retries: int, verbose: bool, types=()) -> str:
    """Each model's type and capabilities: from DigitalOcean's catalog when an API token is set
    (asked only for `types` when --type gives them), else the bundled table of known ids and the
    rules for fal ids, else unknown. Returns the source."""
    rows = catalog_rows(timeout, max_retries, verbose, types)
    for model in models:
        model.update(describe_model(model["id"], rows))
    return "catalog" if rows is not None else "bundled table"


def attach_candidates(models: list, timeout: float, max_retries: int, verbose: bool) -> None:
    """Each listed router's candidate models, read from the control plane when a DigitalOcean API
    token is set and a router is listed (None where they are not known)."""
    listed = [model for model in models if is_router(model["id"])]
    if not listed:
        return
    found = None
    if control_token() is not None:
        try:
            found = {router["id"]: router["candidates"] for router in fetch_routers(timeout, max_retries, verbose)}
        except GradientError as error:
            warn(f"the routers' candidate models could not be read ({error.message})")
    for model in listed:
        model["candidates"] = found.get(model["id"]) if found is not None else None


def unknown_note(unknown: list) -> str:
    """What an answer built from the bundled table leaves out, in words."""
    listed = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
    return (f"types and capabilities came from the bundled table of {KNOWN_AS_OF}, which does not know "
            f"{len(unknown)} of the listed ids ({listed}), so they may be missing here; "
            "set DIGITALOCEAN_ACCESS_TOKEN for the catalog's types")


def list_models(args) -> int:
    client = Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                     max_retries=args.max_retries, verbose=args.verbose))
    with Entry("models", None, "models", client.settings, skip=args.no_log) as entry:
        document, response = client.get_json("models")
        entry.update(request_id=request_id_of(response), cost_usd=0.0, price_source="free: a model listing")
    served = parse_models(document)
    remember(client.settings.base_url, served)  # the list that defaults are checked against
    wanted = words(args.filter)  # --filter "meta 70b" means --filter meta 70b
    models = [model for model in served if matches(model, wanted)]
    types_source = attach_types(models, args.timeout, args.max_retries, args.verbose, args.types)
    listed = models
    models = [model for model in models if (not args.types or model["type"] in args.types)
              and all(c in model["capabilities"] for c in args.capabilities)]
    prices_source = attach_prices(models) if args.prices else None
    attach_candidates(models, args.timeout, args.max_retries, args.verbose)
    filtered = bool(args.types or args.capabilities)
    unknown = [model["id"] for model in listed if model["type"] == "unknown"] \
        if filtered and types_source == "bundled table" else []
    if not models:
        log(f"no model matches {' '.join(wanted + args.types + args.capabilities)!r}"
            if wanted or filtered else "the server lists no models")
    if unknown:
        log(unknown_note(unknown))
    if args.json:
        document = {"models": models, "count": len(models), "types_source": types_source}
        if filtered and types_source == "bundled table":
            document.update(unknown_ids=unknown, unknown_count=len(unknown), bundled_table_date=KNOWN_AS_OF)
        if prices_source:
            document["prices_source"] = prices_source
        emit_json(document)
    elif args.ids:
        out("".join(model["id"] + "\n" for model in models), end="")
    elif models:
        out(render_table(models, args.prices))
        if prices_source:
            log(prices_source)
    return EXIT_OK
