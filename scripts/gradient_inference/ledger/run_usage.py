"""The usage command's work: a spend report or the list of conversations, as a table, CSV or
JSON.

Belongs here: turning the usage command's flags into a report and printing it. Does not belong
here: the queries (ledger.reports) or the flags (scripts/gradient_usage.py).
"""
from __future__ import annotations

import csv
import io
import os
import sys
import time

from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_OK, UsageError
from gradient_inference.core.output import emit_json, isatty, log, out, warn
from gradient_inference.core.text import one_line
from gradient_inference.ledger.balance import fetch_balance
from gradient_inference.ledger.reports import COUNTS, conversations, report, until_bound
from gradient_inference.ledger.reservations import pending, possibly_billed
from gradient_inference.ledger.store import ledger_path


def number(value, money: bool = False) -> str:
    if value is None:
        return "-"
    return f"${value:,.6f}".rstrip("0").rstrip(".") if money else f"{value:,}"


def cells(row: dict) -> list:
    """A report row's cells: its cost is marked as a lower bound (≥) when some calls are unpriced, and
    as an estimate (~) when some calls' cached tokens were priced as input."""
    found = [number(row.get(c), c == "cost_usd") for c in COUNTS]
    if row["unpriced_calls"]:
        found[COUNTS.index("cost_usd")] = "≥ " + found[COUNTS.index("cost_usd")]
    elif row.get("estimated_calls"):
        found[COUNTS.index("cost_usd")] = "~ " + found[COUNTS.index("cost_usd")]
    return found


def bars(values: list, width: int) -> list:
    """Unicode bars, eighths of a cell, scaled so that the largest value fills `width` cells."""
    top = max(values, default=0) or 1
    found = []
    for value in values:
        eighths = round(value / top * width * 8)
        found.append("█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8])
    return found


def render(document: dict, columns: int | None = None) -> str:
    """The report as a table; with `columns` (a terminal's width) and --by day, a bar of each
    day's spend beside it."""
    header = [document["by"].upper(), "CALLS", "ERRORS", "IN TOKENS", "OUT TOKENS", "CACHED", "COST", "UNPRICED"]
    lines = [header] + [[one_line(str(g["key"]), 60)] + cells(g) for g in document["groups"]]
    lines.append(["total"] + cells(document["total"]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                       enumerate(zip(line, widths))).rstrip() for line in lines]
    room = (columns or 0) - sum(widths) - 2 * len(widths) - 2
    if document["by"] == "day" and room >= 5 and document["groups"]:
        spend = bars([g["cost_usd"] for g in document["groups"]], min(room, 40))
        table = [line.ljust(sum(widths) + 2 * len(widths)) + bar if bar else line
                 for line, bar in zip(table, [""] + spend + [""])]
    return "\n".join(line.rstrip() for line in table)


def inert(value):
    """A CSV cell a spreadsheet will not run: text that begins with =, +, -, @, tab or CR is
    prefixed with ' (a model id or a conversation's words can begin with anything); a CR inside it
    becomes a newline, which the writer quotes (it leaves a lone CR bare, and readers split on it)."""
    if not isinstance(value, str):
        return value
    value = ("'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def csv_text(rows: list, columns: list) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: inert(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def money(value) -> str:
    """Dollars in cents when that is exact, else to the millionth; a minus before the sign."""
    if value is None:
        return "unknown"
    sign, value = ("-" if value < 0 else ""), abs(value)
    return sign + (f"${value:,.2f}" if round(value, 2) == round(value, 6) else number(value, True))


def render_balance(found: dict) -> str:
    """The balance as aligned lines: DigitalOcean's figures, then the ledger's and the difference."""
    serving = {True: "blocked (the prepaid balance is used up: add funds in the control panel)", False: "open",
               None: "unknown"}[found["blocked"]]
    auto = ("off" if found["auto_prepay"] is False else "unknown" if found["auto_prepay"] is None else
            f"{money(found['prepay_amount_usd'])} when under {money(found['prepay_threshold_usd'])}")
    unpriced = found["ledger_unpriced_calls"]
    lines = [("prepaid balance", money(found["balance_usd"])),
             ("month-to-date balance", money(found["month_to_date_balance_usd"]) + " (DigitalOcean's, with this "
              "month's usage)"),
             ("month-to-date spend", money(found["month_to_date_spend_usd"]) + (
                 " (the balance less the month-to-date balance)" if found["month_to_date_spend_usd"] is not None else
                 " (DigitalOcean's figures do not give it)")),
             ("serving", serving), ("spend limit", money(found["spend_limit_usd"])), ("auto top-up", auto),
             ("ledger, this month", f"{'≥ ' if unpriced else ''}{money(found['ledger_month_to_date_usd'])} "
              f"({found['ledger_calls']:,} calls recorded here since {found['ledger_since']}"
              + (f"; {unpriced} unpriced" if unpriced else "") + ")"),
             ("difference", money(found["difference_usd"]) + (
                 " (spend the ledger does not know: other machines, other tools, --no-log, unpriced calls)"
                 if found["difference_usd"] is not None else ""))]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in lines)


def balance(args) -> int:
    mixed = [flag for flag, given in (("--conversations", args.conversations), ("--csv", args.csv),
                                      ("--since", args.since), ("--until", args.until), ("--today", args.today),
                                      ("--by", args.by != "day")) if given]
    if mixed:
        raise UsageError(f"--balance shows this month beside DigitalOcean's figures: drop {', '.join(mixed)}")
    found = fetch_balance(defaults.PRICING_TIMEOUT, defaults.MAX_RETRIES, False)
    if args.json:
        emit_json(found)
    else:
        out(render_balance(found))
    if found["blocked"]:
        warn("DigitalOcean is not serving inference for this account: its prepaid balance is used up")
    return EXIT_OK


def usage(args) -> int:
    if getattr(args, "balance", False):
        return balance(args)
    if ledger_path() is None:
        warn("GRADIENT_NO_LOG is set: no calls are being recorded")
    if args.conversations:
        document = conversations()
        if args.json:
            emit_json(document)
        elif args.csv:
            out(csv_text(document["conversations"], ["id", "started", "last_activity", "model", "turns", "cost_usd",
                                                      "first_message"]), end="")
        else:
            out("\n".join(f"{c['id']}  {c['last_activity']}  {c['model'] or '-'}  {c['turns']} turns  "
                          f"{number(c['cost_usd'], True)}  {c['first_message'] or '-'}"
                          for c in document["conversations"]) or "no conversations yet")
        return EXIT_OK
    since = time.strftime("%Y-%m-%d", time.gmtime()) if args.today else args.since
    document = dict(report(since, until_bound(args.until), args.by), pending=pending(),
                    possibly_billed=possibly_billed())
    if args.json:
        emit_json(document)
    elif args.csv:
        out(csv_text(document["groups"] + [dict(document["total"], key="total")], ["key", *COUNTS]), end="")
    else:
        out(render(document, terminal_columns() if isatty(sys.stdout) else None))
        for job in document["pending"]:
            worst = f"${job['worst_case_usd']:.6f}" if job["worst_case_usd"] is not None else "unknown"
            out(f"pending: batch {job['batch_id']} ({job['requests']} requests, submitted {job['submitted']}), "
                f"worst case {worst}, not in the totals above")
    if document["pending"] and not args.json:
        log("fetch a pending batch's results (and its spend) with: gradient_batch.py results BATCH_ID")
    if document["possibly_billed"]:
        worst = sum(hold["worst_case_usd"] for hold in document["possibly_billed"])
        log(f"{len(document['possibly_billed'])} call(s) may have been billed (their process ended after sending, "
            f"before its row was written): up to ${worst:.6f}, not in the totals above, counted against today's "
            "daily budget until the day ends (UTC)")
    unpriced = document["total"]["unpriced_calls"]
    if unpriced:
        log(f"{unpriced} call{'s' if unpriced != 1 else ''} have no price, so the costs shown are lower bounds; "
            "price them with DigitalOcean's catalog (set DIGITALOCEAN_ACCESS_TOKEN) or refresh the prices with "
            "gradient_pricing.py --no-cache")
    estimated = document["total"].get("estimated_calls")
    if estimated:
        log(f"{estimated} call{'s' if estimated != 1 else ''} read cached tokens that no known price covers: their "
            "cost counts those tokens at the full input price, an upper bound (marked ~)")
    return EXIT_OK


def terminal_columns() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 80
