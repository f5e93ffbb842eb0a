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

from gradient_inference.core import cli
from gradient_inference.core.defaults import MODEL_CAPABILITIES, MODEL_TYPES
from gradient_inference.core.runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    parser.add_argument("--filter", nargs="+", metavar="QUERY", default=[],
                        help="case-insensitive substring of id or owner; several words must all match")
    parser.add_argument("--type", action="append", choices=MODEL_TYPES, default=[], dest="types",
                        help="only models of this type (repeatable); types come from DigitalOcean's catalog when "
                             "DIGITALOCEAN_ACCESS_TOKEN is set, else from a bundled table: unknown is never guessed")
    parser.add_argument("--capability", action="append", choices=MODEL_CAPABILITIES, default=[], dest="capabilities",
                        help="only models with this capability (repeatable: all must hold), from the same sources "
                             "as --type")
    parser.add_argument("--ids", action="store_true", help="print only the ids, one per line")
    parser.add_argument("--prices", action="store_true",
                        help="add input/output USD per 1M tokens (cached pricing or bundled snapshot)")
    cli.add_common_args(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from gradient_inference.models.run_models import list_models

    return run(lambda: list_models(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
