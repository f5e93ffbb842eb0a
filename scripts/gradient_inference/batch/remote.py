"""DigitalOcean's Batch API (/v1/batches): the upload to a presigned URL (without the key), the job
created with an idempotency key, polled, cancelled and listed, and its result files read into the
same result lines a local run gives, recorded in the ledger once.

Belongs here: calling the Batch API. Does not belong here: the formats of its files
(batch.files), the local run (batch.local), or the command's flow (batch.run_batch).
"""
from __future__ import annotations

import json
import re
import tempfile
import time

from gradient_inference.api.client import iter_body
from gradient_inference.api.retry import retry_wait
from gradient_inference.batch.files import ENDPOINT, batch_cost, parse_result, result_lines
from gradient_inference.chat import schema as structured
from gradient_inference.batch.results import answer_of, checked, count, new_tally, result_line
from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.output import log, warn
from gradient_inference.core.urls import presigned_url
from gradient_inference.core.text import one_line
from gradient_inference.ledger.reservations import pending_holds
from gradient_inference.ledger.store import call_row, record, rows
from gradient_inference.models.prices import match_price, offline_prices

TERMINAL = ("completed", "failed", "expired", "cancelled")
RUNNING = "running"  # list --status running: every job not yet finished (validating, in_progress, finalizing, cancelling...)


def status_matches(status, wanted: str | None) -> bool:
    """Whether a job's status is the one asked for; `running` is any that is not yet terminal."""
    if wanted is None:
        return True
    if wanted == RUNNING:
        return str(status) not in TERMINAL
    return str(status) == wanted
BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


# ---------------------------------------------------------------- the API


def check_id(batch_id: str) -> str:
    if not BATCH_ID.fullmatch(batch_id or ""):
        raise UsageError(f"{one_line(batch_id, 60)!r} is not a batch id")
    return batch_id


def upload(client, path: str, file_name: str, size: int) -> str:
    """The file intent, then the PUT of the file to its presigned URL, without Authorization:
    the URL carries its own signature. Retried (from the file's start) like any call. The file id."""
    document, _ = client.post_json("batches/files", {"file_name": file_name})
    if not isinstance(document, dict) or not isinstance(document.get("file_id"), str):
        raise GradientError("invalid_response", "the file intent has no file_id")
    url = presigned_url(document.get("upload_url"), "upload URL")
    attempt = 0
    while True:  # each try sends the file again from its start, so the session's own retries are off
        with open(path, "rb") as stream:
            try:
                client.send("PUT", url, authorized=False, data=stream, headers={"Content-Length": str(size)},
                            retry=False, checked=True).close()
                return document["file_id"]
            except GradientError as error:
                wait = retry_wait(attempt, client.settings.max_retries, error.status, error.type, error.headers)
                if wait is None:
                    raise GradientError(error.type, f"the upload failed: {error.message}", status=error.status,
                                        hint="the upload URL lasts about 15 minutes; run the command again") from None
        time.sleep(wait)
        attempt += 1


def create(client, file_id: str, provider: str, request_id: str, metadata: dict) -> dict:
    """POST /batches. A retried create carries the same request_id, so it never makes two jobs."""
    body = {"file_id": file_id, "provider": provider, "completion_window": "24h", "request_id": request_id,
            "metadata": metadata}
    if provider == "openai":
        body["endpoint"] = ENDPOINT
    return job_of(client.post_json("batches", body)[0])


def job_of(document) -> dict:
    if not isinstance(document, dict) or not isinstance(document.get("batch_id") or document.get("id"), str):
        raise GradientError("invalid_response", "the answer is not a batch job")
    document.setdefault("batch_id", document.get("id"))
    return document


def counts(job: dict) -> tuple:
    found = job.get("request_counts") if isinstance(job.get("request_counts"), dict) else {}
    return tuple(value if isinstance(value, int) and not isinstance(value, bool) else 0
                 for value in (found.get("completed"), found.get("failed"), found.get("total")))


def describe(job: dict) -> str:
    done, failed, total = counts(job)
    status = one_line(str(job.get("status")), 30)
    errors = [one_line(str(e.get("message")), 200) for e in job.get("errors") or [] if isinstance(e, dict)]
    return (f"batch {job['batch_id']}: {status}, {done}/{total} done, {failed} failed"
            + (f"; {errors[0]}" if errors else ""))


def wait(client, batch_id: str, interval: float, progress, max_wait: float) -> dict:
    """Poll until the job reaches a terminal state, showing its progress; a timeout error once
    `max_wait` seconds have passed, polls included: each poll waits at most the time left, and one
    that fails for the server's sake is tried again at the next interval while time is left (the
    job goes on on the server either way)."""
    started = time.monotonic()
    status = "submitted"
    try:
        while True:
            left = max_wait - (time.monotonic() - started)
            try:
                job = job_of(client.get_json(f"batches/{batch_id}", read_timeout=max(left, 0.1))[0])
            except GradientError as error:
                if error.type not in ("timeout", "connection", "server", "rate_limit", "invalid_response"):
                    raise
                job = None
                if left > interval:
                    log(f"a status poll failed ({error.message}); trying again")
            if job is not None:
                done, failed, total = counts(job)
                status = one_line(str(job.get("status")), 30)
                progress.update(f"{status} {done + failed}/{total}", time.monotonic() - started)
                if job.get("status") in TERMINAL:
                    return job
            elapsed = time.monotonic() - started
            if elapsed + interval > max_wait:
                raise GradientError("timeout", f"batch {batch_id} is still {status} after {elapsed:.0f} s (--max-wait)",
                                    hint=f"it goes on on the server; its results later: gradient_batch.py results "
                                         f"{batch_id}")
            time.sleep(interval)
    finally:
        progress.close()


# ---------------------------------------------------------------- results


def result_links(client, batch_id: str) -> dict:
    """The presigned URLs of a finished job's result and error files; not_found while not ready."""
    not_ready = GradientError("not_found", f"the results of batch {batch_id} are not ready yet",
                              hint=f"check with: gradient_batch.py status {batch_id}")
    try:
        links, _ = client.get_json(f"batches/{batch_id}/results")
    except GradientError as error:
        raise (not_ready if error.status == 412 else error) from None
    if not isinstance(links, dict) or not links.get("result_available"):
        raise not_ready
    return links


def read_result(raw, lines: dict | None, prices, schemas: dict | None = None) -> tuple | None:
    """(result line, ledger row, its cost unrounded or None) of one line of a result file, read as
    a local run reads its answers: with the item's schema (custom_id -> schema, where known) its
    forced tool call gives `data`, checked; None when the line cannot be read."""
    try:
        if raw is None:
            raise GradientError("invalid_response", "a result line is too long")
        item, status, document, error = parse_result(raw)
    except GradientError:
        return None
    item["line"] = lines.get(item["custom_id"]) if lines is not None else item["line"]
    usage = cost = exact = source = content = data = model = finish = None
    if status == "ok":
        try:
            answer = answer_of(document, document.get("model") or "")
            usage, model, finish = answer.usage, answer.model, answer.finish_reason
            row = match_price(model, prices.models) if prices and model else None
            cost, source = batch_cost(row, usage)
            exact = batch_cost(row, usage, exact=True)[0]
            schema = (schemas or {}).get(item["custom_id"])
            if schema is None and schemas is None and answer.tool_calls and not answer.content and \
                    answer.tool_calls[0]["name"] == structured.TOOL_NAME:
                content = answer.tool_calls[0]["arguments"]  # a schema's answer, its schema unknown here: read,
                data = structured.parse_answer(content)  # not checked (results --input FILE checks it)
            else:
                content, data = checked(answer, schema)
        except GradientError as problem:
            status, error = "error", problem
    return result_line(item, status, content, data, usage, cost, error, finish), call_row(
        "batch", model, "batch", usage=usage, outcome="ok" if status == "ok" else error.type, cost_usd=cost,
        price_source=source, answer=content), exact


def results(client, batch_id: str, sink, settings, no_log: bool, lines: dict | None = None,
            schemas: dict | None = None, seen: set | None = None) -> dict:
    """Download the result and error files and write one result line per request (its input line
    from `lines`, custom_id -> line, where given). The ledger gets a row per request once the
    whole download is in, in one transaction, and only once per batch. The tallies."""
    links = result_links(client, batch_id)
    recorded = no_log or bool(rows("SELECT id FROM calls WHERE batch_id = ? AND api = 'batch' LIMIT 1",
                                   (batch_id,)))
    prices, tally, exact_total = offline_prices(), dict(new_tally(), unexpected=0), 0.0
    seen = set() if seen is None else seen  # the custom_ids the result files answered (the caller's, if given)
    with tempfile.TemporaryFile() as spool:  # the rows, kept on disk (not in memory) until the end
        for key in ("output_file_url", "error_file_url"):
            if not links.get(key):
                continue
            response = client.send("GET", presigned_url(links[key], "result file URL"), authorized=False, checked=True)
            for raw in result_lines(iter_body(response, time.monotonic() + client.settings.timeout * 10)):
                found = read_result(raw, lines, prices, schemas)
                if found is None:  # a line no request can be matched to: counted, never the end of the download
                    tally["unreadable"] += 1
                    continue
                custom_id = found[0]["custom_id"]
                if custom_id in seen or (lines is not None and custom_id not in lines):
                    tally["unexpected"] += 1  # an id said twice, or never sent: no second line, no second row
                    continue
                seen.add(custom_id)
                sink.write(found[0])
                count(tally, found[0])
                exact_total += found[2] or 0.0
                if not recorded:
                    row = dict(found[1], batch_id=batch_id, provider=settings.provider_name)
                    spool.write(json.dumps(row).encode() + b"\n")
        tally["cost_usd"] = round(exact_total, 8)  # summed unrounded, rounded once (each line shows its own, rounded)
        spool.seek(0)
        if not recorded:  # the job's pending hold ends in the same transaction as its rows come in
            record((json.loads(line) for line in spool), release=pending_holds(batch_id))
    if tally["unreadable"]:
        warn(f"{tally['unreadable']} line(s) of the result files could not be read (not JSON, or no custom_id)")
        tally["failed"] += tally["unreadable"]
    if tally["unexpected"]:
        warn(f"{tally['unexpected']} line(s) of the result files repeat a custom_id or name one that was not sent; "
             "they were skipped (each request is counted and recorded once)")
    if recorded and not no_log:
        warn(f"batch {batch_id} is already in the usage ledger; this download was not recorded again")
    return tally
