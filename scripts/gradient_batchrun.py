"""A local batch run: many chat calls at once from worker threads that share one kept-alive
connection pool, paced by the server (AIMD on 429/503, Retry-After, rate-limit resets), each item
retried on its own, priced, recorded in the ledger with the batch id, and kept within a budget;
results flow to the output as they finish, and a stop (Ctrl-C, SIGTERM, a budget) writes
everything that finished.

Belongs here: running items against the API, the budget of a run and its tallies. Does not
belong here: the line formats and files (gradient_batchio), the pacing rule (gradient_pool), or
the command line (gradient_batch).
"""
from __future__ import annotations

import queue
import random
import sys
import threading
import time
from collections import deque

import gradient_ledger as ledger
from gradient_batchio import Reorder, request_of, result_line, text_chars
from gradient_chatapi import Answer, parse_chat
from gradient_common import GradientError, Terminated, log, one_line, out
from gradient_http import RETRY_STATUSES, backoff_seconds, request_id
from gradient_pool import Limiter, Stopped
from gradient_wire import parse_retry_after, rate_limit_wait

MAX_PAUSE = 900.0  # a server asking for a longer pause (a daily quota) ends the run: resume later
FATAL_STATUSES = (401, 403)  # no item can succeed: the key is wrong or lacks the right
PROGRESS_EVERY = 0.2


# ---------------------------------------------------------------- pure helpers

def jittered(wait: float | None) -> float | None:
    """A rate-limit reset wait plus 250-500 ms, as DigitalOcean advises, so that clients spread out."""
    return None if wait is None else wait + 0.25 + 0.25 * random.random()


def answer_of(document, model: str, schema) -> tuple:
    """(content, data, Answer) of a chat answer; GradientError when it is empty or misses the schema."""
    import gradient_schema

    answer = parse_chat(document, Answer(model, "chat"))
    if schema is not None:
        data = gradient_schema.answer_data(answer, schema, False)
        return (answer.tool_calls[0]["arguments"] if answer.tool_calls else answer.content), data, answer
    if not answer.content and not answer.tool_calls:
        cut = answer.finish_reason == "length"
        raise GradientError("invalid_response", "the model returned no text" + (
            ": max tokens cut it off" if cut else ""), hint="raise --max-tokens" if cut else None)
    return answer.content, None, answer


def new_tally() -> dict:
    return {"ok": 0, "failed": 0, "skipped": 0, "left": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
            "unpriced": 0, "failed_lines": [], "retries": 0, "throttled": 0, "unreadable": 0}


def count(tally: dict, document: dict) -> None:
    """A written result line in the run's tallies; failures by input line (or custom_id when the line is unknown)."""
    if document["status"] == "ok":
        tally["ok"] += 1
    else:
        tally["failed"] += 1
        tally["failed_lines"].append(document["line"] if document["line"] is not None else document["custom_id"])
    usage = document.get("usage") or {}
    tally["input_tokens"] += usage.get("input_tokens") or 0
    tally["output_tokens"] += usage.get("output_tokens") or 0
    if document["cost_usd"] is not None:
        tally["cost_usd"] += document["cost_usd"]
    elif document["status"] == "ok":
        tally["unpriced"] += 1


# ---------------------------------------------------------------- the run

class LocalRun:
    """`LocalRun(args, client, sink, batch_id).run(items)` -> the tallies of the run."""

    def __init__(self, args, client, sink, batch_id: str, total: int | None = None, finished=frozenset()):
        import gradient_prices

        self.args, self.client, self.sink, self.batch_id = args, client, sink, batch_id
        self.limiter = Limiter(args.concurrency)
        self.work = queue.Queue(maxsize=args.concurrency)
        self.results = queue.Queue()
        self.stopping = threading.Event()
        self.reorder = Reorder(self.emit, args.ordered)
        self.finished, self.total = finished, total
        self.prices = gradient_prices.offline_prices()
        self.price_rows, self.schemas, self.lock = {}, {}, threading.Lock()
        self.rows_kept, self.kept_at = deque(), time.monotonic()  # ledger rows, written many at a time
        self.tally = new_tally()
        self.reserved, self.spent_before, self.stop_reason, self.fatal = 0.0, None, None, None
        self.started, self.shown, self.live = time.monotonic(), 0.0, getattr(args, "progress", False)

    # -------------------------------------------------------------- prices and budgets

    def row(self, model: str):
        import gradient_prices

        if model not in self.price_rows:
            self.price_rows[model] = gradient_prices.match_price(model, self.prices.models) if self.prices else None
        return self.price_rows[model]

    def estimate(self, model: str, body: dict) -> float | None:
        import gradient_prices

        row = self.row(model)
        limit = body.get(self.client.settings.max_tokens_field) or (row or {}).get("max_output_tokens")
        return gradient_prices.worst_case_at(row, text_chars(body), limit)

    def over_budget(self, estimate) -> str | None:
        """Why no more items may start under --max-cost or the daily budget, or None."""
        args = self.args
        if estimate is None or (args.max_cost is None and args.daily_budget is None):
            return None
        committed = self.tally["cost_usd"] + self.reserved + estimate
        if args.max_cost is not None and committed > args.max_cost:
            return f"--max-cost ${args.max_cost:g} would be passed"
        if args.daily_budget is not None:
            if self.spent_before is None:
                self.spent_before = ledger.spent_today()
            if self.spent_before + committed > args.daily_budget:
                return f"the daily budget ${args.daily_budget:g} would be passed"
        return None

    # -------------------------------------------------------------- one item, in a worker

    def send(self, body: dict):
        """POST the item, paced by the limiter and retried within --max-retries; (document, response)."""
        attempt = 0
        while True:
            started = self.limiter.acquire()
            outcome, pause = "other", None
            try:
                response = self.client.send("POST", self.client.url("chat/completions"), json_body=body)
                document = self.client.read_json(response)
                outcome, pause = "ok", jittered(rate_limit_wait(response.headers))
                return document, response
            except GradientError as error:
                headers = error.headers or {}
                throttled = error.status in (429, 503)
                outcome = "throttled" if throttled else "other"
                pause = parse_retry_after(headers)
                pause = pause if pause is not None else jittered(rate_limit_wait(headers))
                retryable = error.status in RETRY_STATUSES or (error.status is None and error.type in (
                    "connection", "timeout"))
                if pause is not None and pause > MAX_PAUSE:
                    self.halt(GradientError("rate_limit", f"the server asks to wait {pause / 60:.0f} min before the "
                                            "next request", hint="run it again later with --resume"))
                    pause = None  # nothing waits that long: the run ends
                    raise
                if not retryable or attempt >= self.args.max_retries or self.stopping.is_set():
                    if error.status in FATAL_STATUSES:
                        self.halt(error)
                    raise
                wait = pause if pause is not None else backoff_seconds(attempt)
                pause = wait if throttled else None  # throttled: every worker waits; else this item alone
            finally:
                self.limiter.release(started, outcome, pause)
            attempt += 1
            with self.lock:
                self.tally["retries"] += 1
                self.tally["throttled"] += throttled
            if not throttled and self.stopping.wait(wait):
                raise Stopped()

    def halt(self, error: GradientError) -> None:
        """No item can succeed now (a wrong key, a quota spent for hours): nothing more starts."""
        self.fatal = self.fatal or error
        self.stopping.set()
        self.limiter.stop()

    def serve(self, item: dict, model: str, body: dict, schema) -> dict:
        """The item's result line; any failure of its own becomes its error line."""
        args = self.args
        try:
            with ledger.Entry(args, "batch", model, "chat", self.client.settings, self.rows_kept.append) as entry:
                entry.update(batch_id=self.batch_id, messages=body["messages"])
                try:
                    document, response = self.send(body)
                except Stopped:
                    entry.skip = True  # never sent, or only refused: no call to record
                    raise
                entry.update(request_id=request_id(response))
                content, data, answer = answer_of(document, model, schema)
                import gradient_prices

                row = self.row(answer.model)  # the model that answered, as chat prices it
                cost = gradient_prices.cost_usd(row, answer.usage) if row else None
                entry.update(usage=answer.usage, cost_usd=cost, answer=content,
                             price_source=f"prices: {gradient_prices.describe_source(self.prices)}" if row else None)
            return result_line(item, "ok", content, data, answer.usage, cost)
        except GradientError as error:
            return result_line(item, "error", error=error)

    def worker(self) -> None:
        while True:
            job = self.work.get()
            if job is None:
                return
            sequence, item, request, estimate = job
            try:
                document = self.serve(item, *request) if not self.stopping.is_set() else None
            except Stopped:
                document = None
            except Exception as error:  # a bug must cost its item, never hang the run
                document = result_line(item, "error", error=f"internal error: {one_line(repr(error), 200)}")
            self.results.put((sequence, document, estimate))

    # -------------------------------------------------------------- the main thread

    def emit(self, document: dict) -> None:
        self.sink.write(document)
        count(self.tally, document)

    def drain(self, timeout: float = 0.0) -> None:
        try:
            sequence, document, estimate = self.results.get(timeout=timeout) if timeout else self.results.get_nowait()
            while True:
                self.tally["left"] += document is None  # stopped before it ran: a later --resume runs it
                self.reserved -= estimate or 0.0  # its reservation ends as its cost is counted, not before
                self.reorder.add(sequence, document)
                sequence, document, estimate = self.results.get_nowait()
        except queue.Empty:
            pass
        self.progress()
        if len(self.rows_kept) >= 200 or (self.rows_kept and time.monotonic() - self.kept_at > 1.0):
            self.record()

    def record(self) -> None:
        """The ledger rows of finished items, in one transaction (at most a second behind)."""
        kept, self.kept_at = [], time.monotonic()
        while self.rows_kept:  # workers append while this pops: a deque does both safely
            kept.append(self.rows_kept.popleft())
        if kept:
            ledger.record(kept)

    def progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if not self.live or (now - self.shown < PROGRESS_EVERY and not final):
            return
        self.shown = now
        done = self.tally["ok"] + self.tally["failed"]
        rate = done / max(now - self.started, 1e-6)
        total = f"/{self.total - self.tally['skipped']}" if self.total is not None else ""
        eta = f", ETA {max(self.total - self.tally['skipped'] - done, 0) / rate:.0f} s" if total and rate else ""
        out(f"{done}{total} done, {self.tally['failed']} failed, {rate:.1f}/s, ${self.tally['cost_usd']:.4f}{eta} ",
            sys.stderr, end="\n" if final else "", lead="\r\x1b[K")

    def schedule(self, sequence: int, item: dict, request: tuple, estimate) -> None:
        while True:
            try:
                self.work.put((sequence, item, request, estimate), timeout=0.05)
                return
            except queue.Full:
                self.drain()

    def run(self, items) -> dict:
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.concurrency)]
        for thread in threads:
            thread.start()
        sequence = 0
        try:
            for item in items:
                if item["custom_id"] in self.finished:
                    self.tally["skipped"] += 1
                    continue
                if self.stop_reason or self.fatal:
                    self.tally["left"] += 1
                    continue
                if "problem" in item:
                    self.reorder.add(sequence, result_line(item, "error", error=item["problem"]))
                    sequence += 1
                    continue
                try:
                    request = request_of(item, self.args, self.client.settings.max_tokens_field, self.schemas)
                except ValueError as problem:
                    self.reorder.add(sequence, result_line(item, "error", error=str(problem)))
                    sequence += 1
                    continue
                estimate = self.estimate(request[0], request[1])
                if estimate is None and not self.args.allow_unpriced and (
                        self.args.max_cost is not None or self.args.daily_budget is not None):
                    self.reorder.add(sequence, result_line(item, "error", error=GradientError(
                        "budget", f"the cost of a call to {request[0]} cannot be estimated, so no budget can be kept",
                        hint="give --max-tokens, or send it anyway with --allow-unpriced")))
                    sequence += 1
                    continue
                self.stop_reason = self.over_budget(estimate)
                if self.stop_reason:
                    self.tally["left"] += 1
                    continue
                self.reserved += estimate or 0.0
                while self.args.ordered and sequence - self.reorder.next >= 8 * self.args.concurrency:
                    self.drain(0.05)  # input order: never hold more than a few windows of lines
                self.schedule(sequence, item, request, estimate)
                sequence += 1
                self.drain()
            for _ in threads:
                self.work.put(None)
            while any(thread.is_alive() for thread in threads):
                self.drain(0.05)
            self.drain()
        except (KeyboardInterrupt, Terminated):
            self.stop(threads)
            raise
        finally:
            self.reorder.flush()
            self.record()
            self.progress(final=True)
        if self.fatal:
            raise self.fatal
        return self.tally

    def stop(self, threads) -> None:
        """Nothing new starts; what is running gets a second to finish; what finished is written."""
        self.stopping.set()
        self.limiter.stop()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(t.is_alive() for t in threads) and not self.limiter.idle(0.05):
            self.drain()
        self.drain()
        log(f"stopped: {self.tally['ok'] + self.tally['failed']} items written; " + (
            "--resume continues the run" if self.sink.path else "with --output FILE, --resume would continue it"))
