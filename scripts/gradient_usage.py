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
"""
from __future__ import annotations

import argparse
import re
import sys
import time

import gradient_common as common
import gradient_config as config

GROUPS = {"day": "substr(ts, 1, 10)", "model": "COALESCE(model, '-')", "script": "script"}
COUNTS = ("calls", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd")


def moment(text: str, now: float | None = None) -> str:
    """A --since/--until value as the ledger's UTC time text: a date, a date and time, or 7d / 24h / 30m back."""
    relative = re.fullmatch(r"(\d{1,6})([dhm])", text.strip())
    if relative:
        seconds = int(relative.group(1)) * {"d": 86400, "h": 3600, "m": 60}[relative.group(2)]
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((time.time() if now is None else now) - seconds))
    if re.fullmatch(r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d)?Z?)?", text.strip()):
        return text.strip().replace(" ", "T")
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (2026-11-28), a time, or an age such as 7d or 24h")


def until_bound(text: str | None) -> str | None:
    """--until a date means to the end of that day."""
    return text + "T23:59:59Z" if text and len(text) == 10 else text


def report(since: str | None, until: str | None, by: str) -> dict:
    import gradient_ledger

    where, parameters = [], []
    if since:
        where.append("ts >= ?")
        parameters.append(since)
    if until:
        where.append("ts <= ?")
        parameters.append(until)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    sums = ("COUNT(*) AS calls, SUM(outcome != 'ok') AS errors, SUM(input_tokens) AS input_tokens, "
            "SUM(output_tokens) AS output_tokens, SUM(cached_tokens) AS cached_input_tokens, SUM(cost_usd) AS cost_usd")
    groups = gradient_ledger.rows(f"SELECT {GROUPS[by]} AS key, {sums} FROM calls{clause} GROUP BY key ORDER BY key",
                                  parameters)
    total = gradient_ledger.rows(f"SELECT {sums} FROM calls{clause}", parameters)
    total = total[0] if total else dict.fromkeys(COUNTS, 0)
    for row in groups + [total]:
        row["calls"], row["errors"] = row["calls"] or 0, row["errors"] or 0
        row["cost_usd"] = None if row["cost_usd"] is None else round(row["cost_usd"], 8)
    return {"by": by, "since": since, "until": until, "groups": groups, "total": total}


def conversations() -> dict:
    import gradient_ledger

    found = gradient_ledger.rows(
        "SELECT conversation_id AS id, MIN(ts) AS started, MAX(model) AS model, COUNT(*) AS turns, "
        "SUM(cost_usd) AS cost_usd FROM calls WHERE conversation_id IS NOT NULL AND outcome = 'ok' "
        "GROUP BY conversation_id ORDER BY MAX(id) DESC")
    return {"conversations": found}


def number(value, money: bool = False) -> str:
    if value is None:
        return "-"
    return f"${value:,.6f}".rstrip("0").rstrip(".") if money else f"{value:,}"


def render(document: dict) -> str:
    header = [document["by"].upper(), "CALLS", "ERRORS", "IN TOKENS", "OUT TOKENS", "CACHED", "COST"]
    lines = [header] + [[common.one_line(str(g["key"]), 60)] + [number(g[c], c == "cost_usd") for c in COUNTS]
                        for g in document["groups"]]
    lines.append(["total"] + [number(document["total"][c], c == "cost_usd") for c in COUNTS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(line, widths))).rstrip() for line in lines)


def csv_text(rows: list, columns: list) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def usage(args: argparse.Namespace) -> int:
    import gradient_ledger

    if gradient_ledger.ledger_path() is None:
        common.warn("GRADIENT_NO_LOG is set: no calls are being recorded")
    if args.conversations:
        document = conversations()
        if args.json:
            common.emit_json(document)
        elif args.csv:
            common.out(csv_text(document["conversations"], ["id", "started", "model", "turns", "cost_usd"]), end="")
        else:
            common.out("\n".join(f"{c['id']}  {c['started']}  {c['model'] or '-'}  {c['turns']} turns  "
                                 f"{number(c['cost_usd'], True)}" for c in document["conversations"])
                       or "no conversations yet")
        return common.EXIT_OK
    since = time.strftime("%Y-%m-%d", time.gmtime()) if args.today else args.since
    document = report(since, until_bound(args.until), args.by)
    if args.json:
        common.emit_json(document)
    elif args.csv:
        common.out(csv_text(document["groups"] + [dict(document["total"], key="total")], ["key", *COUNTS]), end="")
    else:
        common.out(render(document))
    return common.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("--by", choices=sorted(GROUPS), default="day", help="group by day (UTC), model or script")
    parser.add_argument("--since", type=moment, metavar="WHEN", help="from a date, a time, or an age (7d, 24h)")
    parser.add_argument("--until", type=moment, metavar="WHEN", help="to a date (the whole day), a time or an age")
    parser.add_argument("--today", action="store_true", help="only today (UTC)")
    parser.add_argument("--conversations", action="store_true", help="list the conversations chat can continue")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--version", action="version", version=f"gradient-inference {common.__version__}")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return common.run(usage, args)


if __name__ == "__main__":
    sys.exit(main())
