"""The batch pacer: AIMD on the concurrency window, pauses, and stopping."""
from __future__ import annotations

import threading
import time

import pytest

from gradient_inference.batch.pool import Limiter, Stopped


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_window_starts_at_the_ceiling_and_blocks_beyond_it():
    limiter = Limiter(3)
    starts = [limiter.acquire() for _ in range(3)]
    assert limiter.in_flight == 3
    blocked = threading.Thread(target=limiter.acquire, daemon=True)
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive(), "a fourth request started in a window of three"
    limiter.release(starts[0], "ok")
    blocked.join(2)
    assert not blocked.is_alive()


def test_a_throttled_answer_halves_the_window_once_per_episode():
    clock = Clock()
    limiter = Limiter(8, clock)
    starts = [limiter.acquire() for _ in range(8)]
    clock.now += 1
    limiter.release(starts[0], "throttled")
    assert limiter.allowed == 4 and limiter.cuts == 1
    limiter.release(starts[1], "throttled")  # sent before the cut: the same episode
    assert limiter.allowed == 4 and limiter.cuts == 1
    for started in starts[2:]:
        limiter.release(started, "other")
    clock.now += 1
    later = limiter.acquire()
    limiter.release(later, "throttled")  # sent after the cut: the server is still overloaded
    assert limiter.allowed == 2 and limiter.cuts == 2 and limiter.lowest == 2


def test_it_never_goes_below_one_and_grows_back_by_one_per_window_of_successes():
    clock = Clock()
    limiter = Limiter(4, clock)
    for _ in range(5):
        clock.now += 1
        limiter.release(limiter.acquire(), "throttled")
    assert limiter.allowed == 1 and limiter.lowest == 1
    limiter.release(limiter.acquire(), "ok")
    assert limiter.allowed == 2
    for _ in range(2):
        limiter.release(limiter.acquire(), "ok")
    assert limiter.allowed == 2, "additive increase is one request per window of successes, not one per success"
    for _ in range(20):
        limiter.release(limiter.acquire(), "ok")
    assert limiter.allowed == 4, "the window grows past its ceiling or not at all"


def test_a_pause_holds_every_new_request_until_it_ends():
    limiter = Limiter(4)
    limiter.release(limiter.acquire(), "throttled", wait=0.3)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.28


def test_stop_wakes_the_waiters_and_refuses_new_requests():
    limiter = Limiter(1)
    limiter.acquire()
    errors = []

    def wait():
        try:
            limiter.acquire()
        except Stopped:
            errors.append("stopped")

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    time.sleep(0.1)
    limiter.stop()
    waiter.join(2)
    assert errors == ["stopped"]
    with pytest.raises(Stopped):
        limiter.acquire()


def test_idle_reports_when_every_request_has_ended():
    limiter = Limiter(2)
    started = limiter.acquire()
    assert not limiter.idle(0.05)
    threading.Timer(0.1, limiter.release, (started, "ok")).start()
    assert limiter.idle(2)


def test_an_announced_quota_paces_the_starts_without_waiting_for_a_429():
    """x-ratelimit-limit-requests 60 a minute, 2 remaining when the server counted a request that
    started at t=0, one request started since: 1 token now, refilled at 1 a second."""
    from gradient_inference.batch.pool import Limiter

    now = [0.0]
    limiter = Limiter(8, clock=lambda: now[0])
    first = limiter.acquire()
    now[0] = 0.01
    limiter.acquire()  # started after the first: the server had not counted it
    now[0] = 0.05
    limiter.announce(60, 2, first)
    assert limiter.rate == 1.0 and round(limiter.tokens, 3) == round(2 - 1 + 0.05, 3)
    limiter.acquire()  # the token there is
    assert limiter.tokens < 1  # the next must wait for the refill: it would not start now
    now[0] = 2.0
    assert limiter.refill(now[0]) >= 1  # a second later (or more) one more may start
