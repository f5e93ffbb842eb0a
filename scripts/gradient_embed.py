#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Embed texts with an OpenAI-style /embeddings endpoint (DigitalOcean, Gitee AI, local servers).

Output is JSON Lines, one {"index", "text", "embedding"} per input, in input order. With --query,
the inputs ranked by cosine similarity to the query instead, {"index", "text", "score"} best first;
with --pairs, the most alike pairs of inputs, {"a", "b", "text_a", "text_b", "score"}. On a
terminal both are a table.

examples:
  gradient_embed.py "first text" "second text"              texts as arguments (or --input), the default model
  gradient_models.py --type embedding --ids                 the embedding model ids, for --model
  cut -f2 notes.tsv | gradient_embed.py --model MODEL > vectors.jsonl      one text per line
  gradient_embed.py --model MODEL --input-file docs.txt --batch-size 32 --usage
  gradient_embed.py --model MODEL --input "hello" --json | jq '.dimensions'
  gradient_embed.py --model MODEL --input-file faq.txt --query "how do I reset my password" --top 3
  gradient_embed.py --model MODEL -i "a cat sat" -i "a dog ran" -i "the cat sat down" --pairs --top 1
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    parser.add_argument("-m", "--model", help=f"embedding model id (env GRADIENT_EMBED_MODEL; default "
                                              f"{defaults.EMBED_MODEL}, or the next current one when the server "
                                              "no longer lists it)")
    cli.add_text_argument(parser, "input", "--input", "texts to embed", many=True)
    parser.add_argument("-i", "--input", action="append", default=[], metavar="TEXT",
                        help="a text to embed (repeatable); without it, one text per line of stdin")
    parser.add_argument("--input-file", metavar="PATH",
                        help="one text per line (empty lines are skipped), at most 64 MB; '-' reads stdin")
    parser.add_argument("--dimensions", type=cli.int_in_range(1), metavar="N",
                        help="ask for vectors of N dimensions (models that support it)")
    parser.add_argument("--batch-size", type=cli.int_in_range(1), default=defaults.EMBED_BATCH_SIZE, metavar="N",
                        help="texts per request (default %(default)s)")
    rank = parser.add_mutually_exclusive_group()
    rank.add_argument("-q", "--query", metavar="TEXT",
                      help="rank the inputs by cosine similarity to TEXT (embedded with them), best first")
    rank.add_argument("--pairs", action="store_true",
                      help="list the most alike pairs of inputs (every pair is compared; at most 2,000 inputs)")
    parser.add_argument("--top", type=cli.int_in_range(1), metavar="K",
                        help="keep the best K (--query: default all; --pairs: default 10)")
    parser.add_argument("-u", "--usage", action="store_true", help="print token usage and cost to stderr")
    cli.add_common_args(parser, budget=True)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = cli.parse_args(parser, argv)
    from gradient_inference.media.run_embed import embed

    return run(lambda: embed(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
