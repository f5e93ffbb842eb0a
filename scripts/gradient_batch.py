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
cost_usd, error; in completion order (--ordered: input order). Summary on stderr.

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
import time

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

DEFAULT_MODEL = "openai-gpt-oss-120b"
SUBCOMMANDS = ("status", "results", "cancel", "list")
MAX_LISTED_FAILURES = 10


# ---------------------------------------------------------------- rendering

def summary_line(batch_id: str, tally: dict, seconds: float, stop_reason) -> str:
    failed = tally["failed_lines"]
    where = ", ".join(map(str, failed[:MAX_LISTED_FAILURES])) + (
        f" and {len(failed) - MAX_LISTED_FAILURES} more" if len(failed) > MAX_LISTED_FAILURES else "")
    done = tally["ok"] + tally["failed"]
    label = "lines" if all(isinstance(f, int) for f in failed) else "ids" if all(isinstance(f, str) for f in failed) \
        else "lines or ids"  # a remote batch may know only the custom_ids
    parts = [f"{tally['ok']} ok", f"{tally['failed']} failed" + (f" ({label} {where})" if failed else "")]
    if tally.get("left"):
        parts.append(f"{tally['left']} left" + (f" ({stop_reason})" if stop_reason else ""))
    if tally.get("skipped"):
        parts.append(f"{tally['skipped']} already done")
    cost = f"${tally['cost_usd']:.6f}" + (f" (+{tally['unpriced']} unpriced)" if tally.get("unpriced") else "")
    rate = f", {done / seconds:.1f} items/s" if seconds > 0 and done else ""
    return (f"batch {batch_id}: " + ", ".join(parts) + f"; {tally['input_tokens']:,} tokens in, "
            f"{tally['output_tokens']:,} out; {cost}; {seconds:.1f} s{rate}")


def summary_document(batch_id: str, tally: dict, seconds: float, stop_reason, limiter=None) -> dict:
    document = {"batch_id": batch_id, **{k: v for k, v in tally.items()}, "stop_reason": stop_reason,
                "seconds": round(seconds, 3)}
    if limiter is not None:
        document.update(lowest_concurrency=limiter.lowest, concurrency_cuts=limiter.cuts)
    return document


# ---------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("input", nargs="?", metavar="INPUT", help="the JSONL (or --lines text) file; '-' or none: stdin")
    parser.add_argument("-o", "--output", metavar="FILE", help="write result lines to FILE (appended line by line)")
    parser.add_argument("--resume", action="store_true",
                        help="with --output: skip items that already have an ok line there, run the rest")
    parser.add_argument("--force", action="store_true", help="start --output FILE over when it exists")
    parser.add_argument("--ordered", action="store_true", help="write lines in input order (default: as they finish)")
    parser.add_argument("--lines", action="store_true", help="the input is plain text, one prompt per line")
    parser.add_argument("--template", metavar="TEXT", help="the prompt, with {line} standing for each input prompt")
    items = parser.add_argument_group("defaults for items that do not say")
    items.add_argument("-m", "--model", help=f"model id (env GRADIENT_MODEL; default {DEFAULT_MODEL})")
    items.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    items.add_argument("--max-tokens", type=config.int_in_range(1), metavar="N", help="answer length limit")
    items.add_argument("-t", "--temperature", type=config.number_in_range(0, 2), metavar="F", help="temperature 0-2")
    items.add_argument("--schema", metavar="SCHEMA", help="answer as JSON of this shape (as gradient_chat.py takes "
                                                          "it); each line's data holds it, checked")
    pace = parser.add_argument_group("local runs")
    pace.add_argument("-j", "--concurrency", type=config.int_in_range(1, 64), default=4, metavar="N",
                      help="requests at once, at most (default 4); halved on 429/503, grown back slowly")
    remote = parser.add_argument_group("DigitalOcean's Batch API")
    remote.add_argument("--remote", action="store_true", help="submit to the Batch API (text only; OpenAI and "
                                                              "Anthropic models) and print the batch id")
    remote.add_argument("--wait", action="store_true", help="with --remote: wait for the results and write them")
    remote.add_argument("--poll-interval", type=config.positive_float, default=30.0, metavar="SECONDS",
                        help="how often --wait asks (default 30)")
    config.add_budget_args(parser)
    config.add_common_args(parser)
    parser.set_defaults(max_retries=config.env_default("GRADIENT_MAX_RETRIES", 5))
    parser._option_string_actions["--json"].help = ("the summary as one JSON document: on stdout with --output, "
                                                    "else on stderr (result lines are always JSON)")
    return parser


def build_subparser(name: str) -> argparse.ArgumentParser:
    parser = config.command_parser(f"gradient_batch.py {name}: " + {
        "status": "show a Batch API job's state and progress.",
        "results": "download a finished job's results as result lines (the same as a local run's).",
        "cancel": "cancel a Batch API job; what finished stays available.",
        "list": "list your Batch API jobs, newest first."}[name], prog=f"gradient_batch.py {name}")
    if name != "list":
        parser.add_argument("batch_id", metavar="BATCH_ID")
    else:
        parser.add_argument("--limit", type=config.int_in_range(1, 100), default=20, help="how many (default 20)")
    if name == "results":
        parser.add_argument("-o", "--output", metavar="FILE", help="write result lines to FILE")
        parser.add_argument("--force", action="store_true", help="replace --output FILE when it exists")
        parser.add_argument("--input", metavar="FILE", help="the JSONL that was submitted: each line then says "
                                                            "its input line (else only for line-N ids)")
    config.add_common_args(parser)
    return parser


# ---------------------------------------------------------------- running

def finish(args, batch_id: str, tally: dict, started: float, stop_reason=None, limiter=None) -> int:
    seconds = time.monotonic() - started
    if args.json:
        common.emit_json(summary_document(batch_id, tally, seconds, stop_reason, limiter),
                         sys.stdout if args.output else sys.stderr, indent=None)
    else:
        common.log(summary_line(batch_id, tally, seconds, stop_reason))
    return common.EXIT_OK if not tally["failed"] and not tally.get("left") else common.EXIT_FAILURE


def same_file(one: str, other: str) -> bool:
    import os

    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def run_local(args) -> int:
    import uuid

    from gradient_batchio import count_items, open_input, read_items
    from gradient_batchrun import LocalRun
    from gradient_http import Client
    if args.resume and not args.output:
        raise common.UsageError("--resume needs --output FILE: the results of the earlier run")
    if args.output and args.input not in (None, "-") and same_file(args.input, args.output):
        raise common.UsageError("--output names the input file: the results would overwrite the items")
    stream = open_input(args.input, sys.stdin)
    client = Client(config.resolve_settings(args)._replace(max_retries=0), pool_size=args.concurrency)
    from gradient_batchio import Sink

    sink = Sink.open(args.output, args.resume, args.force)
    args.progress = common.isatty(sys.stderr)
    batch_id, started = uuid.uuid4().hex[:12], time.monotonic()
    total = count_items(args.input) if args.progress else None
    run = LocalRun(args, client, sink, batch_id, total, sink.finished)
    try:
        tally = run.run(read_items(stream, args.lines, args.template))
    except BaseException:
        if run.tally["ok"] + run.tally["failed"]:
            finish(args, batch_id, run.tally, started, run.stop_reason, run.limiter)
        raise
    finally:
        sink.close()
    if not any(tally[key] for key in ("ok", "failed", "skipped", "left")):
        common.warn("the input holds no items")
    return finish(args, batch_id, tally, started, run.stop_reason, run.limiter)


def run_remote(args) -> int:
    import gradient_batchapi as api

    client, job, count, provider, lines = api.submit(args)
    batch_id = job["batch_id"]
    if not args.wait:
        if args.json:
            common.emit_json(job)
        else:
            common.out(batch_id)
            common.log(f"submitted {count} requests ({provider}); follow it with: gradient_batch.py status {batch_id}")
        return common.EXIT_OK
    started = time.monotonic()
    api.wait_until_done(client, batch_id, args.poll_interval)
    return finish(args, batch_id, api.download(args, client, batch_id, lines), started)


def run_subcommand(args) -> int:
    import gradient_batchapi as api
    from gradient_http import Client

    client = Client.from_args(args)
    if args.command != "results":
        return api.show(args, client)
    started, batch_id = time.monotonic(), api.check_id(args.batch_id)
    return finish(args, batch_id, api.download(args, client, batch_id), started)


def batch(args) -> int:
    if getattr(args, "command", None):
        return run_subcommand(args)
    args.model = args.model or config.env_default("GRADIENT_MODEL", DEFAULT_MODEL)
    if args.template is not None and "{line}" not in args.template:
        raise common.UsageError("--template must hold {line}, where each input prompt goes")
    if args.schema:
        from gradient_batchio import schema_of

        schema_of(args.schema, {})  # a bad --schema is a usage error before anything is read
    if not args.remote and (args.wait or args.poll_interval != 30.0):
        raise common.UsageError("--wait and --poll-interval are for --remote")
    return run_remote(args) if args.remote else run_local(args)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        parser = build_subparser(argv[0])
        args = parser.parse_args(argv[1:])
        args.command = argv[0]
        args.no_log = getattr(args, "no_log", False)
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
    return common.run(batch, args, parser)


if __name__ == "__main__":
    sys.exit(main())
