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

JOB_DONE_STATES = ("COMPLETED", "FAILED")


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


def submit_job(client, model_id: str, payload: dict) -> str:
    submitted, _ = client.post_json("async-invoke", {"model_id": model_id, "input": payload})
    request_id = submitted.get("request_id") if isinstance(submitted, dict) else None
    if not request_id:
        raise GradientError("invalid_response", "async-invoke answered without a request_id")
    log(f"submitted {model_id} job {request_id}")
    return request_id


def wait_for_job(client, request_id: str, interval: float, progress: Progress | None = None) -> dict:
    """Poll /async-invoke/{id}/status until COMPLETED or FAILED (at most --timeout), then fetch
    the result. FAILED and the time limit are errors that name the request id."""
    progress = progress or Progress()
    timeout = client.settings.timeout
    started = time.monotonic()
    try:
        while True:
            status_doc, _ = client.get_json(f"async-invoke/{request_id}/status")
            status = str(status_doc.get("status", "UNKNOWN")).upper() if isinstance(status_doc, dict) else "UNKNOWN"
            elapsed = time.monotonic() - started
            progress.update(status, elapsed)
            if status in JOB_DONE_STATES:
                break
            if elapsed + interval > timeout:
                raise GradientError("timeout", f"the job {request_id} is still {status} after {elapsed:.0f} s",
                                    request_id=request_id, hint=f"keep waiting with --request-id {request_id}")
            time.sleep(interval)
    finally:
        progress.close()
    result, _ = client.get_json(f"async-invoke/{request_id}")
    if status == "FAILED" or (isinstance(result, dict) and str(result.get("status", "")).upper() == "FAILED"):
        reason = failure_reason(status_doc) or failure_reason(result) or "no reason given"
        raise GradientError("server", f"the job {request_id} failed: {reason}", request_id=request_id)
    return result
