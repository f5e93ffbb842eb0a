"""The batch command's work: a local run (paced, resumable, on a budget), or DigitalOcean's Batch
API (--remote: the input checked and uploaded, the job created and followed, its results written
as result lines), and the status, results, cancel and list subcommands; a summary at the end.

Belongs here: turning the batch command's flags into a run and its summary. Does not belong
here: the flags (scripts/gradient_batch.py), the run itself (batch.local) or the API (batch.remote).
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import tempfile
import time
import uuid

from gradient_inference.api.client import Client
from gradient_inference.batch.files import build_input
from gradient_inference.batch.items import ItemDefaults, count_items, count_unread, open_input, read_items, schema_of
from gradient_inference.batch.local import LocalRun, RunOptions
from gradient_inference.batch.remote import check_id, counts, create, describe, job_of, status_matches, upload, wait
from gradient_inference.batch.remote import results as remote_results
from gradient_inference.batch.results import Sink
from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_FAILURE, EXIT_OK, GradientError, Terminated, UsageError
from gradient_inference.core.output import Progress, emit_json, isatty, log, out, warn
from gradient_inference.core.settings import resolve_settings
from gradient_inference.core.paths import write_lines_atomic
from gradient_inference.core.text import one_line
from gradient_inference.ledger.reservations import keep_for_batch, pending_holds
from gradient_inference.models import budget, served
from gradient_inference.models.prices import offline_prices

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
        parts.append(("at least " if tally.get("left_is_lower_bound") else "") + f"{tally['left']} left"
                     + (f" ({stop_reason})" if stop_reason else ""))
    if tally.get("cut"):
        parts.append(f"{tally['cut']} of the ok cut at their token limit (finish_reason length)")
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


def job_totals(earlier: dict, tally: dict, finished: int) -> dict:
    """The whole job an output file holds, over every run that wrote to it: items ok, tokens and
    cost of every line (every answer written was billed)."""
    return {"ok": finished + tally["ok"], "input_tokens": earlier["input_tokens"] + tally["input_tokens"],
            "output_tokens": earlier["output_tokens"] + tally["output_tokens"],
            "cost_usd": round(earlier["cost_usd"] + tally["cost_usd"], 8),
            "unpriced": earlier["unpriced"] + tally["unpriced"], "this_run_ok": tally["ok"]}


def finish(args, batch_id: str, tally: dict, started: float, stop_reason=None, limiter=None, job=None) -> int:
    """The summary (and with --resume the whole job's totals); the exit code."""
    seconds = time.monotonic() - started
    if args.json:
        emit_json(dict(summary_document(batch_id, tally, seconds, stop_reason, limiter), **({"job": job} if job else {})),
                  sys.stdout if args.output else sys.stderr, indent=None)
    else:
        log(summary_line(batch_id, tally, seconds, stop_reason))
        if job:
            log(f"the whole job in {args.output}: {job['ok']} ok ({job['this_run_ok']} by this run); "
                f"{job['input_tokens']:,} tokens in, {job['output_tokens']:,} out; ${job['cost_usd']:.6f}"
                + (f" (+{job['unpriced']} unpriced)" if job["unpriced"] else ""))
    return EXIT_OK if not tally["failed"] and not tally.get("left") else EXIT_FAILURE


def reads_stdin(path: str) -> bool:
    """Whether the file at `path` is the one stdin reads from (`gradient_batch.py - -o x < x`)."""
    try:
        here, there = os.fstat(sys.stdin.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


# ---------------------------------------------------------------- local runs


def settings_of(args, max_retries: int | None = None):
    return resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                            max_retries=args.max_retries if max_retries is None else max_retries, verbose=args.verbose)


def budget_of(args) -> budget.Budget:
    return budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced)


def item_defaults(args, client) -> ItemDefaults:
    """What an item leaves out. A model the user chose is used as it is; the default is checked
    against the server's list once, when the first item needs it (a refusal then ends the run as a
    config error would)."""
    model, pinned = defaults.model_choice("chat", args.model)
    if pinned:
        return ItemDefaults(model, args.system, args.max_tokens, args.temperature, args.schema)
    return ItemDefaults(functools.lru_cache(maxsize=1)(lambda: served.choose_default(client, "chat", model, False)),
                        args.system, args.max_tokens, args.temperature, args.schema)


def run_local(args) -> int:
    if args.resume and not args.output:
        raise UsageError("--resume needs --output FILE: the results of the earlier run")
    if args.output and (same_file(args.input, args.output) if args.input not in (None, "-")
                        else reads_stdin(args.output)):
        raise UsageError("--output names the input file (by name, a link, or the file stdin reads): the results "
                         "would overwrite the items")
    stream = open_input(args.input, sys.stdin)
    # each item is retried by the run (paced, per item), so the session's own retries are off
    client = Client(settings_of(args, max_retries=0), pool_size=args.concurrency)
    sink = Sink.open(args.output, args.resume, args.force)
    progress = isatty(sys.stderr)
    options = RunOptions(args.concurrency, args.ordered, args.max_retries, args.no_log, progress, budget_of(args),
                         item_defaults(args, client))
    batch_id, started = uuid.uuid4().hex[:12], time.monotonic()
    total = count_items(args.input) if progress else None
    run = LocalRun(options, client, sink, batch_id, total, sink.finished)
    try:
        tally = run.run(read_items(stream, args.lines, args.template))
    except BaseException:
        if run.tally["ok"] + run.tally["failed"]:
            run.tally["left"], exact = items_left(args.input, run.tally, stream, run.taken)
            if not exact:
                run.tally["left_is_lower_bound"] = True
            finish(args, batch_id, run.tally, started, run.stop_reason, run.limiter, whole_job(sink, run.tally))
        raise
    finally:
        sink.close()
    if not any(tally[key] for key in ("ok", "failed", "skipped", "left")):
        warn("the input holds no items")
    return finish(args, batch_id, tally, started, run.stop_reason, run.limiter, whole_job(sink, tally))


def items_left(path: str | None, tally: dict, stream, taken: int) -> tuple:
    """At a stop, (every item not done, whether that count is exact): from the input file's count
    when it is a file (the items not yet read included); from stdin, those the run had taken up and
    the items it had read but not finished and the lines the pipe still holds (a lower bound when the producer had not closed it)."""
    done = tally["ok"] + tally["failed"] + tally["skipped"]
    if path not in (None, "-"):
        return max(count_items(path) - done, tally["left"]), True
    unread, complete = count_unread(stream)
    return max(taken - done, tally["left"]) + unread, complete


def whole_job(sink, tally: dict) -> dict | None:
    """With --resume over earlier runs' lines, the whole job's totals; else None."""
    earlier = sink.earlier
    if earlier is None or not (earlier["ok"] + earlier["failed"]):
        return None
    return job_totals(earlier, tally, len(sink.finished))


# ---------------------------------------------------------------- remote runs

def submit(args) -> tuple:
    """--remote: the input checked and built whole, the budget kept, the file uploaded and the job
    created, and recorded at once as pending with its worst case (which budgets count until its
    results are in). (client, job, requests, provider, custom_id -> (input line, schema)); nothing
    is uploaded when anything is wrong."""
    if args.resume:
        raise UsageError("--resume is for local runs; a remote job runs to its end on the server")
    if args.wait and args.output and os.path.lexists(args.output) and not args.force:
        raise UsageError(f"{args.output} exists: --force replaces it with the results")
    prices = offline_prices()
    stream = open_input(args.input, sys.stdin)
    client = Client(settings_of(args))
    with tempfile.NamedTemporaryFile(prefix="gradient-batch-", suffix=".jsonl") as target:  # 0600, removed at any exit
        provider, count, worst, lines, schemas, assumed, why = build_input(read_items(stream, args.lines, args.template),
                                                             item_defaults(args, client), prices.models if prices else [],
                                                             target)
        target.flush()
        hold_id = budget.check(budget_of(args), worst, f"this batch of {count} requests{assumed}", why)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.splitext(os.path.basename(args.input or "stdin"))[0])[:100]
        name = name or "batch"
        file_id = upload(client, target.name, f"{name}.jsonl", os.path.getsize(target.name))
    job = create(client, file_id, provider, str(uuid.uuid4()), {"source": "gradient-inference", "input": name})
    if not args.no_log:
        keep_for_batch(hold_id, job["batch_id"], worst, count)
    return client, job, count, provider, (lines, schemas)


def wait_until_done(client, batch_id: str, interval: float, max_wait: float) -> dict:
    """--wait: poll with progress until the job ends (at most --max-wait); an error unless it completed."""
    try:
        job = wait(client, batch_id, interval, Progress(), max_wait)
    except (KeyboardInterrupt, Terminated):
        log(f"batch {batch_id} goes on on the server; its results later: gradient_batch.py results {batch_id}")
        raise
    if job.get("status") != "completed":
        raise GradientError("server", describe(job), hint=f"its partial results, if any: gradient_batch.py results {batch_id}")
    return job


def download(args, client, batch_id: str, sent: tuple | None = None, job: dict | None = None) -> dict:
    """The job's results as result lines on stdout or --output, with their input lines and schemas
    (from the input just sent, or from `results --input FILE`); the tallies. Items a cancelled or
    expired job never ran are counted as left, and with --input and --output written to
    OUTPUT.left.jsonl, an input a local run takes."""
    if job is None:
        try:  # how many requests the job had: a failure here costs only the count of those that did not run
            job = job_of(client.get_json(f"batches/{batch_id}")[0])
        except GradientError:
            job = {}
    lines = schemas = items = None
    if sent is not None:
        lines, schemas = sent
    elif getattr(args, "input", None):
        lines, schemas, cache, items = {}, {}, {}, []
        for item in read_items(open_input(args.input, sys.stdin)):
            lines[item["custom_id"]] = item["line"]
            items.append(item)
            try:
                schemas[item["custom_id"]] = schema_of(item.get("schema"), cache)
            except UsageError:
                schemas[item["custom_id"]] = None
    sink, seen = Sink.open(args.output, False, args.force, whole=True), set()
    try:
        tally = dict(remote_results(client, batch_id, sink, client.settings, args.no_log, lines, schemas, seen), left=0)
        sink.commit()
    finally:
        sink.close()
    total = counts(job)[2] or (len(lines) if lines is not None else 0)
    tally["left"] = max(total - len(seen), 0)
    if tally["left"]:
        tally["job_status"] = str(job.get("status"))
        left_file = write_left(args.output, items, seen) if items is not None and args.output else None
        tally["left_file"] = left_file
        log(f"{tally['left']} item(s) of batch {batch_id} did not run (the job is {one_line(tally['job_status'], 30)}): "
            + (f"run them locally with: gradient_batch.py {left_file} --model MODEL --output OUT" if left_file else
               "give `results --input FILE --output OUT` to get a file of them for a local run"))
    return tally


def write_left(output: str, items: list, seen: set) -> str | None:
    """The input items no result answered, as JSONL beside the output (OUTPUT.left.jsonl)."""
    path = output + ".left.jsonl"
    keep = ("custom_id", "prompt", "messages", "system", "model", "max_tokens", "temperature", "schema")
    try:
        write_lines_atomic(path, (json.dumps({k: item[k] for k in keep if item.get(k) is not None}, ensure_ascii=False)
                           for item in items if item["custom_id"] not in seen))
    except OSError as exc:
        warn(f"could not write {path}: {exc.strerror or exc}")
        return None
    return path


def show(args, client) -> int:
    """status, cancel and list: the jobs, one line each, or the server's document with --json."""
    if args.command == "list":
        document, _ = client.get_json(f"batches?limit={args.limit}")
        jobs = [job_of(job) for job in (document.get("data") if isinstance(document, dict) else None) or []
                if isinstance(job, dict)]
        jobs = [dict(job, id=job["batch_id"]) for job in jobs  # one id field, as every batch output has it
                if status_matches(job.get("status"), args.status)]
        if args.json:
            emit_json(dict(document if isinstance(document, dict) else {}, data=jobs))
        for job in [] if args.json else jobs:
            out(f"{describe(job)}; created {one_line(str(job.get('created_at')), 40)}")
        return EXIT_OK
    batch_id = check_id(args.batch_id)
    if args.command == "cancel":
        try:  # once: a job still validating answers 409, and asking again a second later changes nothing
            job = job_of(client.post_json(f"batches/{batch_id}/cancel", {}, retry=False)[0])
        except GradientError as error:
            if error.status == 409:
                error.hint = "a job that is still validating cannot be cancelled yet: try again once it is in progress"
            raise
    else:
        job = job_of(client.get_json(f"batches/{batch_id}")[0])
    emit_json(job) if args.json else out(describe(job))
    if job.get("status") in ("completed", "failed", "expired", "cancelled") and pending_holds(batch_id):
        log(f"its results are not in the usage ledger yet: fetch them with gradient_batch.py results {batch_id}")
    return EXIT_OK


def run_remote(args) -> int:
    client, job, count, provider, sent = submit(args)
    batch_id = job["batch_id"]
    if not args.wait:
        if args.json:
            emit_json(job)
        else:
            out(batch_id)
            log(f"submitted {count} requests ({provider}); follow it with: gradient_batch.py status {batch_id}")
        return EXIT_OK
    started = time.monotonic()
    job = wait_until_done(client, batch_id, args.poll_interval, args.max_wait)
    return finish(args, batch_id, download(args, client, batch_id, sent, job), started)


def run_subcommand(args) -> int:
    client = Client(settings_of(args))
    if args.command != "results":
        return show(args, client)
    started, batch_id = time.monotonic(), check_id(args.batch_id)
    return finish(args, batch_id, download(args, client, batch_id), started)


def batch(args) -> int:
    if getattr(args, "command", None):
        return run_subcommand(args)
    if args.template is not None and "{line}" not in args.template:
        raise UsageError("--template must hold {line}, where each input prompt goes")
    if args.schema:
        schema_of(args.schema, {})  # a bad --schema is a usage error before anything is read
    if not args.remote and (args.wait or args.poll_interval != defaults.BATCH_POLL_INTERVAL
                            or args.max_wait != defaults.BATCH_MAX_WAIT):
        raise UsageError("--wait, --poll-interval and --max-wait are for --remote")
    return run_remote(args) if args.remote else run_local(args)
