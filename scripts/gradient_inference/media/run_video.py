"""The video command's work: a job submitted to POST /videos (or, where that path is missing, the
older /video/generations), polled with progress on stderr until it finishes, and its MP4 saved to
a file that appears whole or not at all; `status ID` and `fetch ID` for a job another run started.
A job is priced per video, within the budget, with one ledger row written by the run that submits it.

Belongs here: turning the video command's flags into an MP4 on disk. Does not belong here: the
flags (scripts/gradient_video.py), output files (core.outfiles) or presigned URLs (core.urls).
"""
from __future__ import annotations

import os
import re
import sys
import time

from gradient_inference.api.client import Client, request_id_of
from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_OK, GradientError, Terminated, UsageError
from gradient_inference.core.outfiles import OutputFile, check_targets, planned_paths, say_renamed
from gradient_inference.core.output import Progress, cost_words, emit_json, log, out
from gradient_inference.core.inputs import read_stdin
from gradient_inference.core.settings import resolve_settings
from gradient_inference.core.text import one_line
from gradient_inference.core.urls import presigned_url
from gradient_inference.ledger.store import Entry
from gradient_inference.media.jobs import failure_reason
from gradient_inference.models import budget, served
from gradient_inference.models.prices import offline_row, unit_cost_for

PATHS = ("videos", "video/generations")  # the SDK's path (Nov 2026), then the June 2026 blog's
DONE = frozenset({"completed", "succeeded", "success", "done"})
FAILED = frozenset({"failed", "error", "cancelled", "canceled", "expired"})
# any other word (queued, processing, in_progress, one not seen yet) means the job is not finished
MAX_VIDEO_BYTES = 500 * 1024 * 1024
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+~-]{0,199}")  # a path segment, never a path
GONE = (404, 410)  # the API's answers for a finished video it no longer keeps
NOT_BILLED_FAILED = "not billed: the job failed"


# ---------------------------------------------------------------- pure helpers


def sniff_video(head: bytes) -> str | None:
    """MP4 (an ISO base media file: its first box is `ftyp`), or None."""
    return "mp4" if head[4:8] == b"ftyp" else None


def video_body(model: str, prompt: str, size: str | None, fps: int | None) -> dict:
    """POST /videos: optional fields only when given (video_create_request)."""
    body = {"model": model, "prompt": prompt}
    if size:
        body["size"] = size
    if fps:
        body["fps"] = fps
    return body


def state_of(job) -> str:
    """done, failed or waiting, from the job's status word (any case; unknown words are waiting)."""
    word = job.get("status") if isinstance(job, dict) else None
    word = word.lower() if isinstance(word, str) else ""
    return "done" if word in DONE else "failed" if word in FAILED else "waiting"


def status_word(job) -> str:
    word = job.get("status") if isinstance(job, dict) else None
    return one_line(word, 40) if isinstance(word, str) and word else "unknown"


def checked_id(value, given_by_user: bool) -> str:
    """A job id that can stand in a URL path; a user's bad id is a usage error, a server's an invalid answer."""
    if isinstance(value, str) and JOB_ID.fullmatch(value):
        return value
    if given_by_user:
        raise UsageError(f"{one_line(str(value), 60)!r} is not a video job id (like video_abc123)")
    raise GradientError("invalid_response", "the video job has no usable id")


def output_url(job):
    output = job.get("output") if isinstance(job, dict) else None
    url = output.get("url") if isinstance(output, dict) else None
    return url if isinstance(url, str) and url else None


def finished_at(job):
    """The job's completion time (epoch seconds) when the server says it, else None."""
    for key in ("completed_at", "finished_at"):
        value = job.get(key) if isinstance(job, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
            return float(value)
    return None


def job_summary(job, job_id: str, path: str) -> dict:
    """The --json fields of a job, from whatever the server sent (each typed, else None)."""
    def text(key):
        value = job.get(key) if isinstance(job, dict) else None
        return value if isinstance(value, str) else None

    done_at = finished_at(job)
    return {"id": job_id, "model": text("model"), "status": status_word(job), "state": state_of(job),
            "error": failure_reason(job) if state_of(job) == "failed" else None, "url": output_url(job),
            "created_at": job.get("created_at") if isinstance(job, dict) and isinstance(job.get("created_at"), int)
            and not isinstance(job.get("created_at"), bool) else None,
            "completed_at": done_at,
            "expires_at": done_at + defaults.VIDEO_KEPT_HOURS * 3600 if done_at else None, "path": path}


def size_note(model: str, size: str | None) -> str:
    """Where the known price is for 720p (DigitalOcean's) and another size was asked for, the words that say so."""
    row = offline_row(model)
    priced_at_720p = row is not None and "720p" in str(row.get("model") or "")
    return "; the 720p price, as none is published for other sizes" \
        if priced_at_720p and size not in (None, "1280x720", "720x1280") else ""


def expired_words(job_id: str, job, now: float) -> str:
    done_at = finished_at(job)
    age = f" (it finished {(now - done_at) / 3600:.1f} h ago)" if done_at and now > done_at else ""
    return (f"the video of job {job_id} is no longer there{age}: DigitalOcean keeps a finished video "
            f"{defaults.VIDEO_KEPT_HOURS:g} hours")


def fetch_hint(job_id: str) -> str:
    return f"it keeps running on the server; save it later with: gradient_video.py fetch {job_id} -o FILE"


# ---------------------------------------------------------------- requests


def submit(client, body: dict) -> tuple:
    """(job, path family, request id): POST /videos, else, when that path is missing (404), the
    older /video/generations once."""
    for index, path in enumerate(PATHS):
        try:
            job, response = client.post_json(path, body)
            return job, path, request_id_of(response)
        except GradientError as error:
            if error.status != 404 or index == len(PATHS) - 1:
                raise
            log(f"{client.url(path)} answered 404; trying the older path {client.url(PATHS[index + 1])}")
    raise AssertionError("unreachable")


def read_job(client, job_id: str, family: str | None = None) -> tuple:
    """(job, path family) of a job: from its known family, else /videos, else /video/generations."""
    families = (family,) if family else PATHS
    for index, path in enumerate(families):
        try:
            job, _ = client.get_json(f"{path}/{job_id}")
            if not isinstance(job, dict):
                raise GradientError("invalid_response", f"the answer about job {job_id} is not a video job")
            return job, path
        except GradientError as error:
            if error.status != 404 or index == len(families) - 1:
                if error.status == 404:
                    error.hint = f"no video job {job_id} here (a job id looks like video_...; is the base URL right?)"
                raise
    raise AssertionError("unreachable")


def wait(client, job_id: str, family: str, job: dict, interval: float, max_wait: float) -> tuple:
    """Poll the job until it is done or failed: (job, seconds waited). Ctrl-C, SIGTERM and the end
    of --max-wait say the id and how to fetch the video later."""
    progress = Progress()
    started = time.monotonic()
    try:
        while state_of(job) == "waiting":
            elapsed = time.monotonic() - started
            progress.update(status_word(job), elapsed)
            if elapsed + interval > max_wait:
                raise GradientError("timeout", f"the video job {job_id} is still {status_word(job)} after "
                                    f"{elapsed:.0f} s (--max-wait)", hint=fetch_hint(job_id))
            time.sleep(interval)
            job, _ = read_job(client, job_id, family)
        progress.update(status_word(job), time.monotonic() - started)
    except (KeyboardInterrupt, Terminated):
        progress.close()
        log(f"stopped waiting for the video job {job_id}: {fetch_hint(job_id)}")
        raise
    finally:
        progress.close()
    return job, time.monotonic() - started


def save_video(client, job_id: str, family: str, job: dict, output) -> dict:
    """The MP4, from GET {family}/{id}/content, else (when that is missing) from the job's
    output.url, a presigned URL that never gets the key. A file past its keeping time says so."""
    url = output_url(job)
    gone = GONE  # the API's words for a file no longer kept; a presigned URL past its time also answers 403
    try:
        try:
            response = client.send("GET", client.url(f"{family}/{job_id}/content"))
        except GradientError as error:
            if error.status not in GONE or url is None:
                raise
            gone = GONE + (403,)
            response = client.send("GET", presigned_url(url, "video URL"), authorized=False, checked=True)
        return client.save(response, output)
    except GradientError as error:
        if error.status in gone:
            raise GradientError("not_found", expired_words(job_id, job, time.time()), status=error.status,
                                hint="submit the prompt again") from None
        raise


def output_file(args):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = planned_paths(args.output, 1, ".mp4", stamp, "gradient-video", {".mp4"})[0]
    unique = not args.output or os.path.isdir(args.output)
    check_targets([target], args.force, unique)
    return OutputFile(target, args.force, sniff_video, {"mp4": ".mp4"}, MAX_VIDEO_BYTES, "an MP4 video",
                      unique=unique)


def client_for(args) -> Client:
    return Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                   max_retries=args.max_retries, verbose=args.verbose))


def failed(job_id: str, job) -> GradientError:
    return GradientError("server", f"the video job {job_id} failed: {failure_reason(job) or 'no reason given'}",
                         request_id=job_id)


# ---------------------------------------------------------------- the actions


def read_prompt(args) -> str:
    prompt = read_stdin(sys.stdin) if args.prompt == "-" else args.prompt
    if not prompt or not prompt.strip():
        raise UsageError("give the prompt: gradient_video.py \"TEXT\" (or --prompt TEXT, or --prompt - for stdin)")
    return prompt.strip()


def show(summary: dict, as_json: bool, saved: dict | None, extra: dict) -> None:
    if as_json:
        emit_json(dict({k: v for k, v in summary.items() if k != "path"}, file=saved, **extra))
    elif saved:
        out(saved["path"])


def generate(args) -> int:
    prompt = read_prompt(args)
    output = output_file(args)
    client = client_for(args)
    args.model = served.choose_default(client, "video", *defaults.model_choice("video", args.model))
    cost, price_source = unit_cost_for(args.model, {"per video": 1})
    price_source += size_note(args.model, args.size) if cost is not None else ""
    reservation = budget.check(budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced), cost,
                               f"a video from {args.model}")
    with Entry("video", args.model, "videos", client.settings, args.no_log, reservation=reservation) as entry:
        with served.unknown_model_hint(client, "video", args.model):  # the submit's 404, not a later one's
            job, family, request_id = submit(client, video_body(args.model, prompt, args.size, args.fps))
        job_id = checked_id(job.get("id") if isinstance(job, dict) else None, given_by_user=False)
        # billed once the job runs: recorded now, so a run stopped while waiting still counts it
        entry.update(request_id=request_id or job_id, cost_usd=cost, price_source=price_source)
        log(f"submitted video job {job_id} ({args.model})")
        job, waited = wait(client, job_id, family, job, args.poll_interval, args.max_wait)
        if state_of(job) == "failed":
            entry.update(cost_usd=0.0, price_source=NOT_BILLED_FAILED)
            raise failed(job_id, job)
        saved = save_video(client, job_id, family, job, output)
    show(job_summary(job, job_id, saved["path"]), args.json, saved,
         {"model": args.model, "seconds_waited": round(waited, 1), "cost_usd": cost, "request_id": request_id})
    say_renamed(args.output, [saved["path"]])
    if args.usage:
        log(cost_words(cost, price_source))
    return EXIT_OK


def status(args) -> int:
    job_id = checked_id(args.job_id, given_by_user=True)
    job, _ = read_job(client_for(args), job_id)
    summary = job_summary(job, job_id, "")
    if args.json:
        emit_json({k: v for k, v in summary.items() if k != "path"})
        return EXIT_OK
    line = f"{job_id}: {summary['status']}" + (f" ({summary['model']})" if summary["model"] else "")
    if summary["error"]:
        line += f": {summary['error']}"
    elif summary["state"] == "done":
        line += f"; save it with: gradient_video.py fetch {job_id} -o FILE"
    out(line)
    return EXIT_OK


def fetch(args) -> int:
    job_id = checked_id(args.job_id, given_by_user=True)
    output = output_file(args)
    client = client_for(args)
    job, family = read_job(client, job_id)
    job, waited = wait(client, job_id, family, job, args.poll_interval, args.max_wait)
    if state_of(job) == "failed":
        if status_word(job).lower() == "expired":
            raise GradientError("not_found", expired_words(job_id, job, time.time()), hint="submit the prompt again")
        raise failed(job_id, job)
    saved = save_video(client, job_id, family, job, output)
    show(job_summary(job, job_id, saved["path"]), args.json, saved,
         {"seconds_waited": round(waited, 1), "cost_usd": None,
          "cost_note": "billed to the run that submitted the job"})
    say_renamed(args.output, [saved["path"]])
    return EXIT_OK
