"""A local batch run: many chat calls at once from worker threads that share one kept-alive
connection pool, paced by the server (AIMD on 429/503, Retry-After, rate-limit resets), each item
retried on its own by the one retry policy, priced, recorded in the ledger with the batch id, and
kept within the budget; results flow to the output as they finish, and a stop (Ctrl-C, SIGTERM,
a budget) writes everything that finished.

Belongs here: running items against the API and the run's tallies. Does not belong here: the line
formats and files (batch.items, batch.results), the pacing rule (batch.pool), the budget's
decisions (models.budget), or the command's flags (batch.run_batch).
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque, namedtuple

from gradient_inference.api.client import request_id_of
from gradient_inference.api.retry import announced_rate, ANNOUNCE_WAIT, jittered, parse_retry_after, rate_limit_wait, retry_wait
from gradient_inference.batch.items import request_of, text_chars
from gradient_inference.batch.pool import Limiter, Stopped
from gradient_inference.batch.results import Reorder, answer_of, checked, count, new_tally, result_line
from gradient_inference.core.errors import GradientError, Terminated
from gradient_inference.core.output import log, out
from gradient_inference.core.runner import HeldSignals
from gradient_inference.core.text import one_line
from gradient_inference.ledger.store import Entry, record
from gradient_inference.models.budget import Reservations, assumed_words, is_set, item_worst_case, worst_for
from gradient_inference.models.prices import cost_usd, describe_source, match_price, offline_prices
from gradient_inference.models.routers import KnownCandidates, picked_model

MAX_PAUSE = 900.0  # a server asking for a longer pause (a daily quota) ends the run: resume later
FATAL_STATUSES = (401, 403)  # no item can succeed: the key is wrong or lacks the right
BREAKER_TYPES = ("rate_limit", "server", "timeout", "connection")  # failures that say the server, not the item
BREAKER_MIN = 8  # items in a row that failed alike (at least; twice --concurrency) stop the run
PROGRESS_EVERY = 0.2
# How a run goes: concurrency (at most), ordered output, retries per item, --no-log, a live
# progress line, the budget (models.budget.Budget) and the items' defaults (batch.items.ItemDefaults).
RunOptions = namedtuple("RunOptions", "concurrency ordered max_retries no_log progress budget defaults")


# ---------------------------------------------------------------- the run

class LocalRun:
    """`LocalRun(options, client, sink, batch_id).run(items)` -> the tallies of the run."""

    def __init__(self, options: RunOptions, client, sink, batch_id: str, total: int | None = None,
                 finished=frozenset()):
        self.options, self.client, self.sink, self.batch_id = options, client, sink, batch_id
        self.limiter = Limiter(options.concurrency)
        self.work = queue.Queue(maxsize=options.concurrency)
        self.results = queue.Queue()
        self.stopping = threading.Event()
        self.reorder = Reorder(self.emit, options.ordered)
        self.finished, self.total = finished, total
        self.prices = offline_prices()
        self.price_rows, self.schemas, self.lock = {}, {}, threading.Lock()
        self.candidates = KnownCandidates(client.settings, is_set(options.budget))  # routers', read once a run
        self.rows_kept, self.kept_at = deque(), time.monotonic()  # ledger rows, written many at a time
        self.announced_until = 0.0  # the end of the last pause said on stderr
        self.tally = new_tally()
        self.budget, self.stop_reason, self.fatal = Reservations(options.budget), None, None
        self.streak = (None, 0)  # the failure the last items met in a row, and how many
        self.taken = 0  # items read from the input, for what a stop leaves
        self.signals = HeldSignals()
        self.started, self.shown, self.live = time.monotonic(), 0.0, options.progress

    # -------------------------------------------------------------- prices and budgets

    def row(self, model: str):
        if model not in self.price_rows:
            self.price_rows[model] = match_price(model, self.prices.models) if self.prices else None
        return self.price_rows[model]

    def estimate(self, model: str, body: dict) -> tuple:
        """(the item's worst case or None, the answer limit it assumed in words, why it is unknown)."""
        estimate, limit, why = worst_for(model, lambda name: item_worst_case(
            name, self.row(name), text_chars(body), body.get(self.client.settings.max_tokens_field)), self.candidates)
        return estimate, assumed_words({limit} if limit else set()), why

    # -------------------------------------------------------------- one item, in a worker

    def send(self, body: dict):
        """POST the item, paced by the limiter and retried by the one policy (api.retry) within
        --max-retries, after the pause the server asked for when it named one; (document, response)."""
        attempt = 0
        while True:
            started = self.limiter.acquire()
            outcome, pause = "other", None
            try:
                response = self.client.send("POST", self.client.url("chat/completions"), json_body=body, retry=False)
                document = self.client.read_json(response)
                outcome, pause = "ok", self.quota(response.headers, started)
                return document, response
            except GradientError as error:
                headers = error.headers or {}
                announced = announced_rate(headers)
                if announced is not None:
                    self.limiter.announce(*announced, started)
                throttled = error.status in (429, 503)
                outcome = "throttled" if throttled else "other"
                asked = parse_retry_after(headers)
                asked = asked if asked is not None else jittered(rate_limit_wait(headers))
                backoff = retry_wait(attempt, self.options.max_retries, error.status, error.type)
                pause = self.paced(asked)
                if asked is not None and pause is None:  # nothing waits that long: the run ends
                    raise
                if backoff is None or self.stopping.is_set():
                    if error.status in FATAL_STATUSES:
                        self.halt(error)
                    raise
                wait = pause if pause is not None else backoff
                pause = wait if throttled else None  # throttled: every worker waits; else this item alone
            finally:
                self.limiter.release(started, outcome, pause)
            attempt += 1
            with self.lock:
                self.tally["retries"] += 1
                self.tally["throttled"] += throttled
            if not throttled and self.stopping.wait(wait):
                raise Stopped()

    def quota(self, headers, started: float) -> float | None:
        """After an answer: the rate the server announces keeps the pace (no pause needed when it
        says none remain: the limiter waits for the next token); else a pause until its reset."""
        announced = announced_rate(headers)
        if announced is not None:
            self.limiter.announce(*announced, started)
            return None
        return self.paced(jittered(rate_limit_wait(headers)))

    def paced(self, pause: float | None) -> float | None:
        """A pause the server asked for (Retry-After, or a rate limit that resets later, after a
        429 or on a 200): announced on stderr when over ANNOUNCE_WAIT, once for each window; one
        over MAX_PAUSE ends the run instead (None), whatever answer carried it."""
        if pause is None:
            return None
        if pause > MAX_PAUSE:
            self.halt(GradientError("rate_limit", f"the server asks to wait {pause / 60:.0f} min before the next "
                                    "request", hint="run it again later with --resume"))
            return None
        with self.lock:
            until = time.monotonic() + pause
            if pause > ANNOUNCE_WAIT and until > self.announced_until + 1.0:
                self.announced_until = until
                log(f"pausing {pause:.0f} s: the server's rate limit asks for it")
        return pause

    def halt(self, error: GradientError) -> None:
        """No item can succeed now (a wrong key, a quota spent for hours): nothing more starts."""
        self.fatal = self.fatal or error
        self.stopping.set()
        self.limiter.stop()

    def serve(self, item: dict, model: str, body: dict, schema, hold=None) -> dict:
        """The item's result line; any failure of its own becomes its error line, which keeps the
        usage and cost of an answer that was billed before a check failed."""
        answer = cost = None
        try:
            with Entry("batch", model, "chat", self.client.settings, self.options.no_log, self.rows_kept.append,
                       reservation=hold) as entry:
                entry.update(batch_id=self.batch_id, messages=body["messages"], requested_model=model)
                try:
                    document, response = self.send(body)
                except Stopped:
                    entry.skip = True  # never sent, or only refused: no call to record
                    raise
                entry.update(request_id=request_id_of(response))
                answer = answer_of(document, model)
                answer.model = picked_model(model, answer.model, response.headers) or answer.model
                row = self.row(answer.model)  # the model that answered, as chat prices it
                cost = cost_usd(row, answer.usage) if row else None
                entry.update(usage=answer.usage, model=answer.model, cost_usd=cost,
                             price_source=f"prices: {describe_source(self.prices)}" if row else None)
                content, data = checked(answer, schema)
                entry.update(answer=content)
            return result_line(item, "ok", content, data, answer.usage, cost, finish_reason=answer.finish_reason)
        except GradientError as error:
            self.count_streak(error)
            return result_line(item, "error", usage=answer.usage if answer else None, cost=cost, error=error,
                               finish_reason=answer.finish_reason if answer else None)
        finally:
            if answer is not None:
                self.count_streak(None)

    def count_streak(self, error: GradientError | None) -> None:
        """A circuit breaker: when item after item meets the same server failure (only 429s, or the
        same 5xx) through all its retries, the run stops and leaves the rest for --resume."""
        kind = (error.type, error.status) if error is not None and error.type in BREAKER_TYPES else None
        with self.lock:
            last, count = self.streak
            self.streak = (kind, count + 1 if kind is not None and kind == last else 1 if kind else 0)
            limit = max(BREAKER_MIN, 2 * self.options.concurrency)
            if kind is not None and self.streak[1] >= limit and not self.stop_reason:
                what = f"HTTP {error.status}" if error.status else error.type.replace("_", " ")
                self.stop_reason = f"{self.streak[1]} items in a row failed with {what} after their retries"
                log(f"stopping: {self.stop_reason}; the items not run are left for --resume")
                self.stopping.set()
                self.limiter.stop()

    def worker(self) -> None:
        while True:
            job = self.work.get()
            if job is None:
                return
            sequence, item, request, estimate, hold = job
            try:
                document = self.serve(item, *request, hold) if not self.stopping.is_set() else None
            except Stopped:
                document = None
            except Exception as error:  # a bug must cost its item, never hang the run
                document = result_line(item, "error", error=f"internal error: {one_line(repr(error), 200)}")
            if document is None and hold is not None:
                record([], release=hold)  # never sent: its budget reservation ends now
            self.results.put((sequence, document, estimate))

    # -------------------------------------------------------------- the main thread

    def emit(self, document: dict) -> None:
        self.sink.write(document)
        count(self.tally, document)

    def drain(self, timeout: float = 0.0) -> None:
        self.signals.check()
        try:
            sequence, document, estimate = self.results.get(timeout=timeout) if timeout else self.results.get_nowait()
            while True:
                self.tally["left"] += document is None  # stopped before it ran: a later --resume runs it
                self.budget.release(estimate)  # its reservation ends as its cost is counted, not before
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
            record(kept, release=[row["reservation"] for row in kept if row.get("reservation") is not None])

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

    def schedule(self, sequence: int, item: dict, request: tuple, estimate, hold) -> None:
        while True:
            try:
                self.work.put((sequence, item, request, estimate, hold), timeout=0.05)
                return
            except queue.Full:
                self.drain()

    def run(self, items) -> dict:
        """Run every item; signals are held (core.runner.HeldSignals) so that a stop never lands
        inside a lock the workers share, and raised between steps, or at once while reading input."""
        with self.signals:
            return self.run_held(iter(items))

    def next_item(self, items):
        with self.signals.interruptible():
            return next(items, None)

    def run_held(self, items) -> dict:
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.options.concurrency)]
        for thread in threads:
            thread.start()
        sequence = 0
        try:
            while (item := self.next_item(items)) is not None:
                self.taken += 1
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
                    request = request_of(item, self.options.defaults, self.client.settings.max_tokens_field, self.schemas)
                except ValueError as problem:
                    self.reorder.add(sequence, result_line(item, "error", error=str(problem)))
                    sequence += 1
                    continue
                estimate, assumed, why = self.estimate(request[0], request[1])
                refusal = self.budget.refusal(estimate, request[0], why)
                if refusal is not None:
                    self.reorder.add(sequence, result_line(item, "error", error=refusal))
                    sequence += 1
                    continue
                self.stop_reason = self.stop_reason or self.budget.stop_reason(self.tally["cost_usd"], estimate, assumed)
                if not self.stop_reason:
                    hold, self.stop_reason = self.budget.reserve(estimate, f"a call to {request[0]}")
                if self.stop_reason:
                    self.tally["left"] += 1
                    continue
                while self.options.ordered and sequence - self.reorder.next >= 8 * self.options.concurrency:
                    self.drain(0.05)  # input order: never hold more than a few windows of lines
                self.schedule(sequence, item, request, estimate, hold)
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
