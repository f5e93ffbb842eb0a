#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Run many prompts: locally, many at once as fast as the rate limit allows, resumable and on a
budget; or on DigitalOcean's Batch API (--remote), cheaper, within 24 hours.

Input: JSONL, one item per line: a string (the prompt) or an object with custom_id, prompt or
messages, and optional system, model, max_tokens, temperature, schema. With --lines, plain text.
Output: one JSON line per item: custom_id, line, status (ok|error), content, data, usage,
cost_usd, finish_reason, error; in completion order (--ordered: input order). Summary on stderr.

examples:
  gradient_batch.py prompts.jsonl > results.jsonl
  gradient_batch.py --lines reviews.txt --template "Classify the sentiment of: {line}" --schema "label, score float"
  gradient_batch.py prompts.jsonl --output results.jsonl --resume --max-cost 2.50
  jq -c 'select(.status == "error")' results.jsonl                   the items that failed
  gradient_batch.py --remote prompts.jsonl --model openai-gpt-5-mini    prints the batch id
  gradient_batch.py status BATCH_ID | results BATCH_ID -o out.jsonl | cancel BATCH_ID | list
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run

SUBCOMMANDS = ("status", "results", "cancel", "list")
SUBCOMMAND_HELP = {
    "status": "show a Batch API job's state and progress.\n\nexamples:\n"
              "  gradient_batch.py status BATCH_ID --json | jq .status",
    "results": "download a finished job's results as result lines (the same as a local run's).\n\nexamples:\n"
               "  gradient_batch.py results BATCH_ID --input prompts.jsonl -o out.jsonl",
    "cancel": "cancel a Batch API job; what finished stays available.\n\nexamples:\n"
              "  gradient_batch.py cancel BATCH_ID",
    "list": "list your Batch API jobs, newest first.\n\nexamples:\n  gradient_batch.py list --status running           "
            "every job not yet finished (validating, in progress, finalizing, cancelling)\n"
            "  gradient_batch.py list --json | jq -r '.data[].batch_id'"}


# ---------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    parser.add_argument("input", nargs="?", metavar="INPUT", help="the JSONL (or --lines text) file; '-' or none: stdin")
    parser.add_argument("-o", "--output", metavar="FILE", help="write result lines to FILE (appended line by line)")
    parser.add_argument("--resume", action="store_true",
                        help="with --output: skip items that already have an ok line there, run the rest")
    parser.add_argument("--force", action="store_true", help="start --output FILE over when it exists")
    parser.add_argument("--ordered", action="store_true", help="write lines in input order (default: as they finish)")
    parser.add_argument("--lines", action="store_true", help="the input is plain text, one prompt per line")
    parser.add_argument("--template", metavar="TEXT", help="the prompt, with {line} standing for each input prompt")
    items = parser.add_argument_group("defaults for items that do not say")
    items.add_argument("-m", "--model", help=f"model id (env GRADIENT_MODEL; default {defaults.CHAT_MODEL})")
    items.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    items.add_argument("--max-tokens", type=cli.int_in_range(1), metavar="N", help="answer length limit")
    items.add_argument("-t", "--temperature", type=cli.number_in_range(0, 2), metavar="F", help="temperature 0-2")
    items.add_argument("--schema", metavar="SCHEMA", help="answer as JSON of this shape (as gradient_chat.py takes "
                                                          "it); each line's data holds it, checked")
    pace = parser.add_argument_group("local runs")
    pace.add_argument("-j", "--concurrency", type=cli.int_in_range(1, 64), default=defaults.BATCH_CONCURRENCY, metavar="N",
                      help="requests at once, at most (default 4); halved on 429/503, grown back slowly")
    remote = parser.add_argument_group("DigitalOcean's Batch API")
    remote.add_argument("--remote", action="store_true", help="submit to the Batch API (text only; OpenAI and "
                                                              "Anthropic models) and print the batch id")
    remote.add_argument("--wait", action="store_true", help="with --remote: wait for the results and write them")
    remote.add_argument("--poll-interval", type=cli.positive_float, default=defaults.BATCH_POLL_INTERVAL,
                        metavar="SECONDS", help="how often --wait asks (default 30)")
    remote.add_argument("--max-wait", type=cli.positive_float, default=defaults.BATCH_MAX_WAIT, metavar="SECONDS",
                        help="give up waiting after this long; the job goes on (default 86400, the Batch API's 24 h)")
    cli.add_common_args(parser, budget=True)
    parser.set_defaults(max_retries=defaults.env_default("GRADIENT_MAX_RETRIES", defaults.BATCH_MAX_RETRIES))
    parser._option_string_actions["--json"].help = ("the summary as one JSON document: on stdout with --output, "
                                                    "else on stderr (result lines are always JSON)")
    return parser


def build_subparser(name: str) -> argparse.ArgumentParser:
    parser = cli.command_parser(f"gradient_batch.py {name}: " + SUBCOMMAND_HELP[name],
                                prog=f"gradient_batch.py {name}")
    if name != "list":
        parser.add_argument("batch_id", metavar="BATCH_ID")
    else:
        parser.add_argument("--limit", type=cli.int_in_range(1, 100), default=20, help="how many (default 20)")
        parser.add_argument("--status", metavar="STATE", help="only jobs in this state (validating, in_progress, "
                                                              "completed, failed, expired, cancelled...); running: "
                                                              "every job not yet finished")
    if name == "results":
        parser.add_argument("-o", "--output", metavar="FILE", help="write result lines to FILE")
        parser.add_argument("--force", action="store_true", help="replace --output FILE when it exists")
        parser.add_argument("--input", metavar="FILE", help="the JSONL that was submitted: each line then says "
                                                            "its input line (else only for line-N ids)")
    cli.add_common_args(parser)
    return parser


def main(argv=None) -> int:
    parser, args, command = cli.parse_command(argv, SUBCOMMANDS, build_subparser, build_parser)
    if command:
        args.command, args.no_log = command, getattr(args, "no_log", False)
    from gradient_inference.batch.run_batch import batch

    return run(lambda: batch(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
