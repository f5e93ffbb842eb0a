"""Long-running jobs: fal models behind POST /async-invoke, submitted, polled until they finish
(progress on stderr) and fetched.

Belongs here: submitting, polling and fetching jobs. Does not belong here: what a job's result
means (media.run_image and media.run_audio read it) or the progress line (core.output).
"""
from __future__ import annotations

import time

from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import Progress, log
from gradient_inference.core.text import one_line

# Both vocabularies: DigitalOcean's (QUEUED, IN_PROGRESS, COMPLETED, FAILED) and fal's own (IN_QUEUE,
# IN_PROGRESS, COMPLETED, ERROR), in any case; any other word means the job is not finished.
DONE_WORDS = frozenset({"COMPLETED", "COMPLETE", "SUCCEEDED", "SUCCESS", "OK", "DONE"})
FAILED_WORDS = frozenset({"FAILED", "FAILURE", "ERROR", "CANCELLED", "CANCELED"})
NO_SINGLE_PATH = (404, 405, 501)  # GET async-invoke/{id} is not offered before the job ends: poll /status


def failure_reason(document) -> str | None:
    if not isinstance(document, dict):
        return None
    for key in ("error", "reason", "message", "detail"):
        value = document.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("detail")
        if value:
            return one_line(str(value))
    return None


def status_of(document) -> str:
    """The job's status word, upper case: its `status`, else COMPLETED for a result that has an
    output (the older result shape has no status), else UNKNOWN."""
    if not isinstance(document, dict):
        return "UNKNOWN"
    word = document.get("status")
    if isinstance(word, str) and word.strip():
        return word.strip().upper()
    return "COMPLETED" if document.get("output") is not None else "UNKNOWN"


def state_of(word: str) -> str:
    return "done" if word in DONE_WORDS else "failed" if word in FAILED_WORDS else "waiting"


def submit_job(client, model_id: str, payload: dict) -> str:
    submitted, _ = client.post_json("async-invoke", {"model_id": model_id, "input": payload})
    request_id = submitted.get("request_id") if isinstance(submitted, dict) else None
    if not request_id:
        raise GradientError("invalid_response", "async-invoke answered without a request_id")
    log(f"submitted {model_id} job {request_id}")
    return request_id


def poll(client, request_id: str, single: bool) -> tuple:
    """(document, whether the single path answered): GET async-invoke/{id} (the status object with
    the output once finished, as DigitalOcean's SDK reads it) while the server offers it, else the
    older GET async-invoke/{id}/status."""
    if single:
        try:
            return client.get_json(f"async-invoke/{request_id}")[0], True
        except GradientError as error:
            if error.status not in NO_SINGLE_PATH:
                raise
            if client.settings.verbose:
                log(f"async-invoke/{request_id} is not there while the job runs ({error.status}); polling its /status")
    return client.get_json(f"async-invoke/{request_id}/status")[0], False


def wait_for_job(client, request_id: str, interval: float, progress: Progress | None = None) -> dict:
    """Poll the job until it is finished (at most --timeout), then return its result. A failed job
    and the time limit are errors that name the request id."""
    progress = progress or Progress()
    timeout = client.settings.timeout
    started = time.monotonic()
    single = True
    try:
        while True:
            document, single = poll(client, request_id, single)
            status = status_of(document)
            elapsed = time.monotonic() - started
            progress.update(status, elapsed)
            if state_of(status) != "waiting":
                break
            if elapsed + interval > timeout:
                raise GradientError("timeout", f"the job {request_id} is still {status} after {elapsed:.0f} s",
                                    request_id=request_id, hint=f"keep waiting with --request-id {request_id}")
            time.sleep(interval)
    finally:
        progress.close()
    result = document if single else client.get_json(f"async-invoke/{request_id}")[0]
    if state_of(status) == "failed" or state_of(status_of(result)) == "failed":
        reason = failure_reason(document) or failure_reason(result) or "no reason given"
        raise GradientError("server", f"the job {request_id} failed: {reason}", request_id=request_id)
    return result
