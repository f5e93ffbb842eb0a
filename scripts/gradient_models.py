#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""List the models of DigitalOcean's Serverless Inference API (or any OpenAI-compatible server).

examples:
  gradient_models.py                       aligned table: ID, OWNED BY, CREATED
  gradient_models.py --filter llama 70b    every word must match the id or owner
  gradient_models.py --ids | head -3       one id per line, for shell loops
  gradient_models.py --json | jq -r '.models[].id'
  gradient_models.py --prices              add USD per 1M tokens from the pricing cache
  gradient_models.py --base-url http://127.0.0.1:8080/v1   a local llama.cpp / vLLM server
"""
from __future__ import annotations

import argparse
import sys
import time

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

COLUMNS = ("ID", "TYPE", "OWNED BY", "CREATED")
TYPES = ("chat", "embedding", "image", "speech", "transcription", "audio", "video", "unknown")  # gradient_catalog's,
# here too so that --help need not import the catalog (test_catalog keeps the two equal)
PRICE_COLUMNS = ("IN $/1M", "OUT $/1M")


def parse_models(document) -> list:
    """The `data` list of an OpenAI model list, checked and normalised, sorted by id."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise common.GradientError("invalid_response", "the model list has no `data` array")
    models = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise common.GradientError("invalid_response", "a model in the list has no string `id`")
        created = entry.get("created")
        models.append({
            "id": entry["id"],
            "owned_by": entry.get("owned_by") if isinstance(entry.get("owned_by"), str) else None,
            "created": created if isinstance(created, int) and not isinstance(created, bool) else None,
        })
    return sorted(models, key=lambda model: model["id"])


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
    header = COLUMNS + (PRICE_COLUMNS if with_prices else ())
    rows = [header]
    for model in models:
        row = (common.one_line(model["id"], 200), common.one_line(model.get("type") or "unknown", 20),
               common.one_line(model["owned_by"] or "-", 60), format_date(model["created"]))
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
    import gradient_prices

    prices = gradient_prices.offline_prices()
    for model in models:
        model["pricing"] = gradient_prices.match_price(model["id"], prices.models) if prices else None
    return f"prices: {gradient_prices.describe_source(prices)}" if prices else "prices: none cached"


def attach_types(models: list, args: argparse.Namespace) -> str:
    """Each model's type and capabilities: from DigitalOcean's catalog when an API token is set,
    else the bundled table of known ids and the rules for fal ids, else unknown. Returns the source."""
    import gradient_catalog

    rows = gradient_catalog.catalog_rows(args.timeout, args.max_retries, args.verbose)
    for model in models:
        model.update(gradient_catalog.describe_model(model["id"], rows))
    return "catalog" if rows else "bundled table"


def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("--filter", nargs="+", metavar="QUERY", default=[],
                        help="case-insensitive substring of id or owner; several words must all match")
    parser.add_argument("--type", action="append", choices=TYPES, default=[], dest="types",
                        help="only models of this type (repeatable); types come from DigitalOcean's catalog when "
                             "DIGITALOCEAN_ACCESS_TOKEN is set, else from a bundled table: unknown is never guessed")
    parser.add_argument("--ids", action="store_true", help="print only the ids, one per line")
    parser.add_argument("--prices", action="store_true",
                        help="add input/output USD per 1M tokens (cached pricing or bundled snapshot)")
    config.add_common_args(parser)
    return parser


def list_models(args: argparse.Namespace) -> int:
    import gradient_http as http
    import gradient_ledger

    client = http.Client.from_args(args)
    with gradient_ledger.Entry(args, "models", None, "models", client.settings) as entry:
        document, response = client.get_json("models")
        entry.update(request_id=http.request_id(response))
    words = config.words(args.filter)  # --filter "meta 70b" means --filter meta 70b
    models = [model for model in parse_models(document) if matches(model, words)]
    types_source = attach_types(models, args)
    models = [model for model in models if not args.types or model["type"] in args.types]
    prices_source = attach_prices(models) if args.prices else None
    if not models:
        common.log(f"no model matches {' '.join(words + args.types)!r}" if words or args.types
                   else "the server lists no models")
    if args.json:
        document = {"models": models, "count": len(models), "types_source": types_source}
        if prices_source:
            document["prices_source"] = prices_source
        common.emit_json(document)
    elif args.ids:
        common.out("".join(model["id"] + "\n" for model in models), end="")
    elif models:
        common.out(render_table(models, args.prices))
        if prices_source:
            common.log(prices_source)
    return common.EXIT_OK


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return common.run(list_models, args)


if __name__ == "__main__":
    sys.exit(main())
