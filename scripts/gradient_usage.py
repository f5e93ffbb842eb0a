#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""What the scripts' API calls cost: spend, calls and tokens from the usage ledger, by day, model
or script, and the conversations chat can continue. Reads never block a running call.

examples:
  gradient_usage.py                              spend by day, with a totals line
  gradient_usage.py --by model --since 7d        the last seven days, by model
  gradient_usage.py --today --by script --json | jq .total.cost_usd
  gradient_usage.py --since 2026-11-01 --until 2026-11-30 --csv > november.csv
  gradient_usage.py --conversations              ids for gradient_chat.py --conversation ID
  gradient_usage.py --balance                    DigitalOcean's prepaid balance beside this month's ledger
  gradient_usage.py --balance --json | jq .blocked       true once serving stops (the balance reached $0)
"""
from __future__ import annotations

import argparse
import re
import sys
import time

from gradient_inference import __version__
from gradient_inference.core import cli
from gradient_inference.core.runner import run

GROUPS = ("day", "model", "script")


def moment(text: str, now: float | None = None) -> str:
    """A --since/--until value as the ledger's UTC time text: a date, a date and time, or 7d / 24h / 30m back."""
    relative = re.fullmatch(r"(\d{1,6})([dhm])", text.strip())
    if relative:
        seconds = int(relative.group(1)) * {"d": 86400, "h": 3600, "m": 60}[relative.group(2)]
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((time.time() if now is None else now) - seconds))
    if re.fullmatch(r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d)?Z?)?", text.strip()):
        return text.strip().replace(" ", "T")
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (2026-11-28), a time, or an age such as 7d or 24h")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    parser.add_argument("--by", choices=GROUPS, default="day", help="group by day (UTC), model or script")
    parser.add_argument("--since", type=moment, metavar="WHEN", help="from a date, a time, or an age (7d, 24h)")
    parser.add_argument("--until", type=moment, metavar="WHEN", help="to a date (the whole day), a time or an age")
    parser.add_argument("--today", action="store_true", help="only today (UTC)")
    parser.add_argument("--conversations", action="store_true", help="list the conversations chat can continue")
    parser.add_argument("--balance", action="store_true",
                        help="DigitalOcean's prepaid balance, month-to-date spend, whether serving is blocked and the "
                             "spend limit, beside the ledger's month-to-date total (needs DIGITALOCEAN_ACCESS_TOKEN)")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--version", action="version", version=f"gradient-inference {__version__}")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from gradient_inference.ledger.run_usage import usage

    return run(lambda: usage(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
