"""The usage command's work: a spend report or the list of conversations, as a table, CSV or
JSON.

Belongs here: turning the usage command's flags into a report and printing it. Does not belong
here: the queries (ledger.reports) or the flags (scripts/gradient_usage.py).
"""
from __future__ import annotations

import csv
import io
import time

from gradient_inference.core.errors import EXIT_OK
from gradient_inference.core.output import emit_json, out, warn
from gradient_inference.core.text import one_line
from gradient_inference.ledger.reports import COUNTS, conversations, report, until_bound
from gradient_inference.ledger.store import ledger_path


def number(value, money: bool = False) -> str:
    if value is None:
        return "-"
    return f"${value:,.6f}".rstrip("0").rstrip(".") if money else f"{value:,}"


def render(document: dict) -> str:
    header = [document["by"].upper(), "CALLS", "ERRORS", "IN TOKENS", "OUT TOKENS", "CACHED", "COST"]
    lines = [header] + [[one_line(str(g["key"]), 60)] + [number(g[c], c == "cost_usd") for c in COUNTS]
                        for g in document["groups"]]
    lines.append(["total"] + [number(document["total"][c], c == "cost_usd") for c in COUNTS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(line, widths))).rstrip() for line in lines)


def csv_text(rows: list, columns: list) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def usage(args) -> int:
    if ledger_path() is None:
        warn("GRADIENT_NO_LOG is set: no calls are being recorded")
    if args.conversations:
        document = conversations()
        if args.json:
            emit_json(document)
        elif args.csv:
            out(csv_text(document["conversations"], ["id", "started", "model", "turns", "cost_usd"]), end="")
        else:
            out("\n".join(f"{c['id']}  {c['started']}  {c['model'] or '-'}  {c['turns']} turns  "
                          f"{number(c['cost_usd'], True)}" for c in document["conversations"])
                or "no conversations yet")
        return EXIT_OK
    since = time.strftime("%Y-%m-%d", time.gmtime()) if args.today else args.since
    document = report(since, until_bound(args.until), args.by)
    if args.json:
        emit_json(document)
    elif args.csv:
        out(csv_text(document["groups"] + [dict(document["total"], key="total")], ["key", *COUNTS]), end="")
    else:
        out(render(document))
    return EXIT_OK
