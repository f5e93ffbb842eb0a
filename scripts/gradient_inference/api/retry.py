"""The one retry policy: which failures are tried again, how long to wait first (the server's
Retry-After or rate-limit reset, else the OpenAI SDK's backoff), and the waits no one should
take. Single calls (through urllib3's Retry in api.client), bodies cut short, batch items and
uploads all ask here.

Belongs here: retry and pause decisions, as pure functions over statuses, headers and attempt
numbers (a clock and a random source can be given, for tests). Does not belong here: sending
(api.client) or the pacing of many calls at once (batch.pool).
"""
from __future__ import annotations

import re
import time

from gradient_inference.core.clock import http_date

RETRY_STATUSES = frozenset([408, 409, 429, *range(500, 600)])
MAX_RETRY_AFTER = 120.0  # a server asking for a longer pause is not retried
MAX_WAIT = 366 * 86400.0  # any wait a server names beyond a year is nonsense, not a wait
RESET_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}  # OpenAI's rate-limit reset durations: 6m0s, 20ms
ANNOUNCE_WAIT = 2.0  # waits longer than this are announced on stderr


def uniform() -> float:
    """A number in [0, 1) for jitter."""
    import random  # here, not at the top: only a wait needs it, and start-up does without

    return random.random()


def backoff_seconds(retries_taken: int, rand=None) -> float:
    """OpenAI SDK policy: min(0.5 * 2^n, 8) s, shortened by up to 25% jitter."""
    rand = uniform if rand is None else rand
    return min(0.5 * 2 ** retries_taken, 8.0) * (1 - 0.25 * rand())


def jittered(wait: float | None) -> float | None:
    """A rate-limit reset wait plus 250-500 ms, as DigitalOcean advises, so that clients spread out."""
    return None if wait is None else wait + 0.25 + 0.25 * uniform()


def retry_wait(attempt: int, max_retries: int, status: int | None, error_type: str | None = None,
               headers=None) -> float | None:
    """Seconds to wait before trying a failed call again, or None when it is not tried again:
    retried are 408, 409, 429 and 5xx answers, and (with no status) connections that failed or
    timed out, up to max_retries times; a server asking for a wait over MAX_RETRY_AFTER is not."""
    retryable = status in RETRY_STATUSES if status is not None else error_type in ("connection", "timeout")
    if not retryable or attempt >= max_retries:
        return None
    asked = parse_retry_after(headers or {})
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    return backoff_seconds(attempt)


def parse_retry_after(headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, else Retry-After (seconds or HTTP date)."""
    millis = (headers.get("retry-after-ms") or "").strip()
    if re.fullmatch(r"\d{1,15}(\.\d+)?", millis):  # no exponents, no inf or nan
        return sane_wait(float(millis) / 1000)
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if re.fullmatch(r"\d{1,15}(\.\d+)?", value):
        return sane_wait(float(value))
    when = http_date(value)
    return None if when is None else sane_wait(when - (time.time() if now is None else now))


def reset_seconds(value: str, now: float) -> float | None:
    """A rate-limit reset as seconds from now: a Unix time (DigitalOcean), seconds from now
    (the spec's `ratelimit-reset`), or a duration such as `6m0s` or `20ms` (OpenAI)."""
    value = (value or "").strip()
    if re.fullmatch(r"\d{1,15}(\.\d+)?", value):
        number = float(value)
        number = number / 1000 if number > 1e12 else number  # a Unix time in milliseconds
        return sane_wait(max(number - now, 0.0) if number > 1e9 else number)
    parts = re.findall(r"(\d{1,9}(?:\.\d+)?)(ms|s|m|h)", value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sane_wait(sum(float(n) * RESET_UNITS[u] for n, u in parts))
    return None


def rate_limit_wait(headers, now: float | None = None) -> float | None:
    """How long to wait before the next request when a rate-limit header says nothing remains
    (x-ratelimit-remaining-requests, -tokens..., or the spec's ratelimit-remaining): until the
    matching reset, at least 1 s as DigitalOcean advises; None while something remains."""
    now = time.time() if now is None else now
    longest, lowered = None, {name.lower(): value for name, value in headers.items()}
    for name, value in lowered.items():
        if name.startswith("x-ratelimit-remaining") or name == "ratelimit-remaining":
            if (value or "").strip() not in ("0", "0.0"):
                continue
            reset = reset_seconds(lowered.get(name.replace("remaining", "reset"), ""), now)
            wait = max(reset if reset is not None else 1.0, 1.0)
            longest = wait if longest is None else max(longest, wait)
    return longest


def announced_rate(headers) -> tuple | None:
    """(requests a minute, requests remaining) as a server announces them in every answer
    (x-ratelimit-limit-requests and x-ratelimit-remaining-requests, DigitalOcean's per-minute
    quota), or None when it does not."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        limit = float(lowered["x-ratelimit-limit-requests"])
        remaining = float(lowered["x-ratelimit-remaining-requests"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (0 < limit < 1e9 and 0 <= remaining < 1e9):
        return None
    return limit, remaining


def sane_wait(seconds: float) -> float | None:
    """A wait a server asked for, or None when it is no wait at all (negative, NaN, over a year)."""
    return seconds if 0 <= seconds <= MAX_WAIT else None
