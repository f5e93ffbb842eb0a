"""The embed command's work: texts from flags, a file or stdin, embedded in batches through an
OpenAI-style /embeddings endpoint, within the budget, written as JSON Lines in input order.

Belongs here: turning the embed command's flags into vectors. Does not belong here: the flags
(scripts/gradient_embed.py) or usage and prices (api.usage, models.prices).
"""
from __future__ import annotations

import math
import shutil
import sys
import time

from gradient_inference.api.client import Client
from gradient_inference.api.usage import normalize_usage
from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_OK, GradientError, UsageError
from gradient_inference.core.inputs import STDIN_WAIT, read_stdin, read_text_input, stdin_state
from gradient_inference.core.output import Progress, emit_json, isatty, log, out
from gradient_inference.core.settings import resolve_settings
from gradient_inference.ledger.store import Entry
from gradient_inference.media import similarity
from gradient_inference.models import budget, served
from gradient_inference.models.prices import cost_for, usage_line


# ---------------------------------------------------------------- pure helpers

def input_lines(text: str) -> list:
    """One text per line; empty lines are skipped."""
    return [line for line in text.splitlines() if line.strip()]


def batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def embeddings_body(model: str, texts: list, dimensions: int | None) -> dict:
    """POST /embeddings: always a list of inputs, dimensions only when asked for."""
    body = {"model": model, "input": texts}
    if dimensions:
        body["dimensions"] = dimensions
    return body


def finite_numbers(vector: list) -> bool:
    """Every element a finite number (math.fsum, in C: a string or a list in it raises TypeError)."""
    try:
        return math.isfinite(math.fsum(vector)) and all(math.isfinite(x) for x in (min(vector), max(vector)))
    except (TypeError, ValueError, OverflowError):
        return False


def embeddings_of(document, expected: int) -> list:
    """The vectors of one answer in input order (by their `index`), checked."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise GradientError("invalid_response", f"expected {expected} embeddings, the answer has "
                            f"{len(data) if isinstance(data, list) else 'none'}")
    ordered = [None] * expected
    for position, item in enumerate(data):
        index = item.get("index", position) if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise GradientError("invalid_response", "the embeddings have missing or repeated indexes")
        if not isinstance(vector, list) or not vector or not finite_numbers(vector):
            raise GradientError("invalid_response", f"embedding {index} is not a list of finite numbers")
        ordered[index] = vector
    return ordered


PAIRS_PROGRESS_FROM = 300  # inputs: --pairs over fewer ends in well under a second


def add_usage(total: dict, usage) -> dict:
    found = normalize_usage(usage)
    for key in ("input_tokens", "total_tokens"):
        if found[key] is not None:
            total[key] = (total[key] or 0) + found[key]
    return total


# ---------------------------------------------------------------- the command


def read_inputs(args) -> list:
    texts = list(args.input)
    if args.input_file:
        texts += input_lines(read_text_input(args.input_file, sys.stdin, "input file"))
    elif not texts and stdin_state(sys.stdin, STDIN_WAIT) == "ready":
        texts = input_lines(read_stdin(sys.stdin))
    if not texts:
        raise UsageError("nothing to embed: give --input TEXT, --input-file PATH or lines on stdin")
    if args.top is not None and args.query is None and not args.pairs:
        raise UsageError("--top ranks results: give it with --query TEXT or --pairs")
    if args.query is not None and not args.query.strip():
        raise UsageError("--query is empty: give the text to rank the inputs against")
    if args.pairs:
        similarity.check_pair_count(len(texts))
    return texts


def pairs_progress(count: int):
    """For --pairs over many inputs on a terminal: (on_row for similarity.closest_pairs, its
    Progress to close), the share of pairs compared shown as it grows; (None, None) otherwise."""
    if count < PAIRS_PROGRESS_FROM or not isatty(sys.stderr):
        return None, None
    progress, started, shown = Progress(sys.stderr), time.monotonic(), [-1]

    def on_row(done: int, total: int) -> None:
        share = done * (2 * total - done - 1) * 100 // max(total * (total - 1), 1)  # pairs compared so far
        if share != shown[0]:
            shown[0] = share
            progress.update(f"comparing pairs {share}%", time.monotonic() - started)
    return on_row, progress


def similarity_rows(texts: list, vectors: list, query: str | None, pairs: bool, top: int | None) -> list:
    """Ranked rows for --query (the query's vector is the last one) or --pairs."""
    if query is not None:
        return similarity.ranked_rows(texts, similarity.rank(vectors[-1], vectors[:-1], top))
    on_row, progress = pairs_progress(len(vectors))
    try:
        found = similarity.closest_pairs(vectors, top or similarity.PAIRS_TOP, on_row)
    finally:
        if progress is not None:
            progress.close()
    return similarity.pair_rows(texts, found)


def print_rows(rows: list) -> None:
    """JSON Lines in a pipe; a table on a terminal, as wide as it is."""
    if isatty(sys.stdout) and rows and "embedding" not in rows[0]:
        out(similarity.render(rows, shutil.get_terminal_size().columns))
        return
    for row in rows:
        emit_json(row, indent=None)


def embed(args) -> int:
    texts = read_inputs(args)
    sent = texts + [args.query] if args.query is not None else texts

    client = Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                     max_retries=args.max_retries, verbose=args.verbose))
    args.model = served.choose_default(client, "embedding", *defaults.model_choice("embedding", args.model))
    reservation = budget.check(budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced),
                               budget.worst_case(args.model, sum(map(len, sent)), 0),
                               f"embedding {len(sent)} texts")
    vectors, model = [], args.model
    usage = {"input_tokens": None, "output_tokens": 0, "total_tokens": None, "cached_input_tokens": None}
    with Entry("embed", args.model, "embeddings", client.settings, skip=args.no_log, reservation=reservation) as entry, \
            served.unknown_model_hint(client, "embedding", args.model):
        for start, batch in batches(sent, args.batch_size):
            document, _ = client.post_json("embeddings", embeddings_body(args.model, batch, args.dimensions))
            if isinstance(document, dict):  # billed: its usage counts whatever else is wrong with the answer
                add_usage(usage, document.get("usage"))
                model = document["model"] if isinstance(document.get("model"), str) and document["model"] else model
                entry.update(usage=usage, model=model)
            vectors += embeddings_of(document, len(batch))
            if args.verbose:
                log(f"embedded {start + len(batch)} of {len(sent)}")
        cost, source = cost_for(model, usage)
        entry.update(usage=usage, model=model, requested_model=args.model, cost_usd=cost, price_source=source)
    ranking = args.query is not None or args.pairs
    if ranking:
        rows = similarity_rows(texts, vectors, args.query, args.pairs, args.top)
    else:
        rows = [{"index": i, "text": text, "embedding": vector} for i, (text, vector) in enumerate(zip(texts, vectors))]
    if args.json:
        document = {"model": model, "requested_model": args.model, "dimensions": len(vectors[0]), "count": len(texts)}
        if args.query is not None:
            document["query"] = args.query
        document["pairs" if args.pairs else "results" if ranking else "data"] = rows
        emit_json({**document, "usage": usage})
    else:
        print_rows(rows)
    if args.usage:
        log(usage_line(usage, cost, source))
    return EXIT_OK
