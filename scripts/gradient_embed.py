#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Embed texts with an OpenAI-style /embeddings endpoint (DigitalOcean, Gitee AI, local servers).

Output is JSON Lines, one {"index", "text", "embedding"} per input, in input order.

examples:
  gradient_models.py --type embedding --ids                 find an embedding model id first
  gradient_embed.py --model MODEL --input "first text" --input "second text"
  cut -f2 notes.tsv | gradient_embed.py --model MODEL > vectors.jsonl      one text per line
  gradient_embed.py --model MODEL --input-file docs.txt --batch-size 32 --usage
  gradient_embed.py --model MODEL --input "hello" --json | jq '.dimensions'
"""
from __future__ import annotations

import argparse
import sys

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

DEFAULT_BATCH_SIZE = 64


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


def embeddings_of(document, expected: int) -> list:
    """The vectors of one answer in input order (by their `index`), checked."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise common.GradientError("invalid_response", f"expected {expected} embeddings, the answer has "
                                   f"{len(data) if isinstance(data, list) else 'none'}")
    ordered = [None] * expected
    for position, item in enumerate(data):
        index = item.get("index", position) if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise common.GradientError("invalid_response", "the embeddings have missing or repeated indexes")
        if not isinstance(vector, list) or not vector:
            raise common.GradientError("invalid_response", f"embedding {index} is not a list of numbers")
        ordered[index] = vector
    return ordered


def add_usage(total: dict, usage) -> dict:
    import gradient_wire as wire

    found = wire.normalize_usage(usage)
    for key in ("input_tokens", "total_tokens"):
        if found[key] is not None:
            total[key] = (total[key] or 0) + found[key]
    return total


# ---------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("-m", "--model", default=config.env_default("GRADIENT_EMBED_MODEL", None),
                        help="embedding model id (env GRADIENT_EMBED_MODEL); required")
    parser.add_argument("-i", "--input", action="append", default=[], metavar="TEXT",
                        help="a text to embed (repeatable); without it, one text per line of stdin")
    parser.add_argument("--input-file", metavar="PATH",
                        help="one text per line (empty lines are skipped), at most 64 MB; '-' reads stdin")
    parser.add_argument("--dimensions", type=config.int_in_range(1), metavar="N",
                        help="ask for vectors of N dimensions (models that support it)")
    parser.add_argument("--batch-size", type=config.int_in_range(1), default=DEFAULT_BATCH_SIZE, metavar="N",
                        help="texts per request (default %(default)s)")
    parser.add_argument("-u", "--usage", action="store_true", help="print token usage and cost to stderr")
    config.add_budget_args(parser)
    config.add_common_args(parser)
    return parser


def read_inputs(args: argparse.Namespace) -> list:
    import gradient_files as files

    if not args.model:
        raise common.UsageError("give --model (or set GRADIENT_EMBED_MODEL); list model ids with "
                                "gradient_models.py --type embedding")
    texts = list(args.input)
    if args.input_file:
        texts += input_lines(files.read_text_input(args.input_file, sys.stdin, "input file"))
    elif not texts and files.stdin_state(sys.stdin, files.STDIN_WAIT) == "ready":
        texts = input_lines(files.read_stdin(sys.stdin))
    if not texts:
        raise common.UsageError("nothing to embed: give --input TEXT, --input-file PATH or lines on stdin")
    return texts


def embed(args: argparse.Namespace) -> int:
    import gradient_http as http

    texts = read_inputs(args)
    import gradient_ledger
    import gradient_prices

    gradient_ledger.check_budget(args, gradient_prices.worst_case(args.model, sum(map(len, texts)), 0),
                                 f"embedding {len(texts)} texts")
    client = http.Client.from_args(args)
    vectors, model = [], args.model
    usage = {"input_tokens": None, "output_tokens": 0, "total_tokens": None, "cached_input_tokens": None}
    with gradient_ledger.Entry(args, "embed", args.model, "embeddings", client.settings) as entry:
        for start, batch in batches(texts, args.batch_size):
            document, _ = client.post_json("embeddings", embeddings_body(args.model, batch, args.dimensions))
            vectors += embeddings_of(document, len(batch))
            model = document.get("model") or model
            add_usage(usage, document.get("usage"))
            if args.verbose:
                common.log(f"embedded {start + len(batch)} of {len(texts)}")
        cost, source = gradient_prices.cost_for(model, usage)
        entry.update(usage=usage, model=model, cost_usd=cost, price_source=source)
    rows = [{"index": i, "text": text, "embedding": vector} for i, (text, vector) in enumerate(zip(texts, vectors))]
    if args.json:
        common.emit_json({"model": model, "dimensions": len(vectors[0]), "count": len(rows), "data": rows,
                          "usage": usage})
    else:
        for row in rows:
            common.emit_json(row, indent=None)
    if args.usage:
        common.log(gradient_prices.usage_line(usage, cost, source))
    return common.EXIT_OK


def main(argv=None) -> int:
    parser = build_parser()
    return common.run(embed, parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
