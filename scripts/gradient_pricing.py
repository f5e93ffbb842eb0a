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
  gradient_pricing.py --estimate 20000 1000 --batch   the same through the Batch API, and what it saves
  gradient_pricing.py --json | jq '.models[] | select(.input_price < 0.5)'
  gradient_pricing.py --changes                       for cron: prints only when prices changed
  gradient_pricing.py --strict --json > /dev/null     exit 1 unless live or fresh prices were had
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    parser.add_argument("--model", metavar="QUERY",
                        help="case-insensitive match on model or provider; API ids work (openai-gpt-oss-120b)")
    parser.add_argument("--no-cache", action="store_true", help="skip the fresh cache and fetch the page")
    parser.add_argument("--estimate", nargs=2, type=cli.int_in_range(0), metavar=("INPUT_TOKENS", "OUTPUT_TOKENS"),
                        help="add estimated_cost_usd to each token-priced row, cheapest first")
    parser.add_argument("--batch", action="store_true",
                        help="with --estimate: rank at batch prices where known (the catalog's), beside the "
                             "interactive cost and the share saved; stderr names the models with none")
    parser.add_argument("--capability", action="append", choices=defaults.MODEL_CAPABILITIES, default=[],
                        dest="capabilities", help="only models with this capability (repeatable: all must hold), "
                                                  "from the catalog or the bundled table")
    parser.add_argument("--changes", action="store_true",
                        help="fetch, compare with the cache and print only added, removed and changed prices")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when neither live nor fresh cached prices could be had (monitoring)")
    parser.add_argument("--url", default=defaults.env_default("GRADIENT_PRICING_URL", None),
                        help="fetch this pricing page instead of the known docs URLs (env GRADIENT_PRICING_URL)")
    parser.add_argument("--cache-file", metavar="PATH",
                        help=f"cache path (env GRADIENT_PRICING_CACHE; default {defaults.PRICING_CACHE})")
    parser.add_argument("--max-age", type=cli.positive_float, default=defaults.PRICES_MAX_AGE_HOURS, metavar="HOURS",
                        help="how long the cache stays fresh (default %(default)g h)")
    parser.add_argument("--available", action="store_true",
                        help="only models that /v1/models lists for your model access key (needs the key)")
    cli.add_common_args(parser, default_timeout=defaults.PRICING_TIMEOUT)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from gradient_inference.models.run_pricing import pricing

    return run(lambda: pricing(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
