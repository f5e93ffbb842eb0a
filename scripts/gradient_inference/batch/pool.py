"""Pacing many calls at once: a concurrency window that halves when the server says it is
overloaded (429, 503) and grows back by one request per window of successes (AIMD, as TCP does),
pauses the server asks for (Retry-After, a rate-limit reset), a pace kept under the rate a server
announces in its answers (a token bucket refilled at its per-minute limit, set to what it says
remains), and a stop that wakes every waiter.

Belongs here: deciding when the next request may start, thread-safe and without I/O (a clock
can be given, for tests). Does not belong here: sending requests (api.client), reading headers
or the retry policy (api.retry), or what a batch does with answers (batch.local).
"""
from __future__ import annotations

import bisect
import threading
import time


class Stopped(Exception):
    """acquire() after stop(): nothing more may start."""


class Limiter:
    """`started = limiter.acquire()` before a request, `limiter.release(started, outcome, wait)`
    after it, where outcome is "ok", "throttled" (429 or 503) or "other"."""

    def __init__(self, ceiling: int, clock=time.monotonic):
        self.ceiling, self.clock = ceiling, clock
        self.window = float(ceiling)
        self.in_flight = 0
        self.paused_until = 0.0
        self.last_cut = float("-inf")
        self.cuts, self.lowest = 0, ceiling
        self.stopped = False
        self._changed = threading.Condition()
        self.rate = None  # requests a second the server announced, once it has
        self.tokens = self.capacity = 0.0
        self.tokens_at = 0.0
        self.starts = []  # when recent requests started, in order (appended under the lock)

    @property
    def allowed(self) -> int:
        return max(1, int(self.window))

    def acquire(self) -> float:
        """Wait until a request may start (a free place in the window, no pause); its start time."""
        with self._changed:
            while True:
                if self.stopped:
                    raise Stopped()
                now = self.clock()
                if now < self.paused_until:
                    self._changed.wait(min(self.paused_until - now, 1.0))
                elif self.in_flight >= self.allowed:
                    self._changed.wait(1.0)
                elif self.rate is not None and self.refill(now) < 1:
                    self._changed.wait(min((1 - self.tokens) / self.rate, 1.0))
                else:
                    self.in_flight += 1
                    if self.rate is not None:
                        self.tokens -= 1
                    self.starts.append(now)
                    if len(self.starts) > 8192:  # keep the recent half: answers come for recent requests
                        del self.starts[:4096]
                    return now

    def refill(self, now: float) -> float:
        """The announced rate's tokens, refilled since they were last counted (under the lock)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.tokens_at) * self.rate)
        self.tokens_at = now
        return self.tokens

    def announce(self, per_minute: float, remaining: float, started: float) -> None:
        """What an answer to a request started at `started` says of the server's quota: from now
        requests start at most at that rate, and no more than remained when the server counted it
        (as it arrived), less those started since, plus what the rate refilled since."""
        with self._changed:
            now = self.clock()
            later = len(self.starts) - bisect.bisect_right(self.starts, started)  # started since: in order
            self.rate = per_minute / 60.0
            self.capacity = max(self.capacity, remaining, 1.0)
            estimate = remaining - later + (now - started) * self.rate  # the server counted it as it arrived
            # servers say what remains as a whole number (the floor): once counting, the client's own
            # count stands unless the server shows it is more than a token too high
            self.tokens = estimate if self.tokens_at == 0.0 else min(self.refill(now), estimate + 1)
            self.tokens_at = now
            self._changed.notify_all()

    def release(self, started: float, outcome: str, wait: float | None = None) -> None:
        """A request ended. A throttled one halves the window once per episode: requests that
        started before the last cut were sent at the old rate and say nothing new."""
        with self._changed:
            self.in_flight -= 1
            now = self.clock()
            if outcome == "throttled" and started >= self.last_cut:
                self.window = max(1.0, self.window / 2)
                self.last_cut, self.cuts = now, self.cuts + 1
                self.lowest = min(self.lowest, self.allowed)
            elif outcome == "ok":
                self.window = min(float(self.ceiling), self.window + 1 / self.window)
            if wait:
                self.paused_until = max(self.paused_until, now + wait)
            self._changed.notify_all()

    def pause(self, seconds: float) -> None:
        with self._changed:
            self.paused_until = max(self.paused_until, self.clock() + seconds)
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self.stopped = True
            self._changed.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait up to `timeout` for every request in flight to end; True when none is left."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.in_flight and time.monotonic() < deadline:
                self._changed.wait(max(deadline - time.monotonic(), 0.01))
            return not self.in_flight
