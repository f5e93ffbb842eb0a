"""What servers send, read without doing any I/O: HTTP statuses to errors and hints, the server's
own words from an error body, JSON bodies, Retry-After, token usage, and server-sent events.

Belongs here: pure functions over bytes, headers and documents that came from a server. Does not
belong here: sending requests or reading sockets (gradient_http).
"""
from __future__ import annotations

import codecs
import json
import re
import time

from gradient_common import DO_KEY_HELP, GradientError, one_line

MAX_RETRY_AFTER = 120.0  # a server asking for a longer pause is not retried
MAX_WAIT = 366 * 86400.0  # any wait a server names beyond a year is nonsense, not a wait
MAX_EVENT_CHARS = 16 << 20  # one server-sent event larger than this is refused
SSE_LINE_END = re.compile(r"\r\n|\r|\n")
RESET_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}  # OpenAI's rate-limit reset durations: 6m0s, 20ms


# ---------------------------------------------------------------- errors

def error_type_for_status(status: int) -> str:
    if status == 401:
        return "auth"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server"
    return "bad_request"


def hint_for_status(status: int, retries: int, key_help: str = DO_KEY_HELP) -> str | None:
    retried = f"; retried {retries} time{'s' if retries != 1 else ''}" if retries else ""
    if status == 401:
        return f"the key is wrong or is not a model access key ({key_help})"
    if status == 403:
        return "the key lacks permission for this model, or the account's quota is used up"
    if status == 404:
        return "unknown model or endpoint: list the model ids with gradient_models.py"
    if status == 429:
        return "rate limited: wait a moment, or send fewer requests at once" + retried
    if status >= 500:
        return "server trouble on the provider's side, try again later" + retried
    if status in (400, 422):
        return "the server refused the request: check the model id and the options"
    return None


def html_title(text: str) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    return one_line(match.group(1), 120) if match and match.group(1).strip() else None


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    head = body[:512].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def server_message(body: bytes, content_type: str = "") -> str:
    """The server's own words from an error body: JSON error shapes, HTML title or plain text."""
    if looks_like_html(body, content_type):
        return ""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            found = error.get("message") or error.get("code") or error.get("type")
            if found:
                return one_line(str(found))
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return one_line(value)
            if isinstance(value, (list, dict)) and value:
                return one_line(json.dumps(value, ensure_ascii=False))
    if isinstance(data, str):
        return one_line(data)
    return one_line(text)


def count(value):
    """A token count, or None for anything that is not a whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "cache_write_tokens",
              "cache_write_1h_tokens", "reasoning_tokens")


def normalize_usage(usage) -> dict:
    """The same usage keys for every API; anything that is not a whole number becomes null.
    Prompt-cache writes (Anthropic's and DigitalOcean's names) are split by lifetime: 1 h, and
    the rest (5 min, the default)."""
    if not isinstance(usage, dict):
        return dict.fromkeys(USAGE_KEYS)
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = count(details.get("cached_tokens")) if isinstance(details, dict) else None
    if cached is None:
        cached = count(usage.get("cache_read_input_tokens"))
    input_tokens = count(usage.get("prompt_tokens", usage.get("input_tokens")))
    output_tokens = count(usage.get("completion_tokens", usage.get("output_tokens")))
    total = count(usage.get("total_tokens"))
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    written = count(usage.get("cache_creation_input_tokens", usage.get("cache_created_input_tokens")))
    by_lifetime = usage.get("cache_creation") if isinstance(usage.get("cache_creation"), dict) else {}
    hour = count(by_lifetime.get("ephemeral_1h_input_tokens"))
    minutes = count(by_lifetime.get("ephemeral_5m_input_tokens"))
    if minutes is None and written is not None:
        minutes = max(written - (hour or 0), 0)
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    reasoning = count(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else None
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total,
            "cached_input_tokens": cached, "cache_write_tokens": minutes, "cache_write_1h_tokens": hour,
            "reasoning_tokens": reasoning}


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
    import email.utils  # rare: only for Retry-After as an HTTP date

    try:
        when = email.utils.parsedate_to_datetime(value)
        return sane_wait(when.timestamp() - (time.time() if now is None else now))
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


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


def sane_wait(seconds: float) -> float | None:
    """A wait a server asked for, or None when it is no wait at all (negative, NaN, over a year)."""
    return seconds if 0 <= seconds <= MAX_WAIT else None


def http_error(status: int, reason: str, headers, body: bytes, retries: int,
               key_help: str = DO_KEY_HELP) -> GradientError:
    """Build the error for an HTTP status >= 400 from what the server sent."""
    content_type = headers.get("content-type", "")
    request_id = headers.get("x-request-id") or headers.get("request-id")
    hint = hint_for_status(status, retries, key_help)
    if looks_like_html(body, content_type):
        title = html_title(body.decode("utf-8", "replace")) or reason or "no title"
        message = f"server returned an HTML page ({status}): {title}"
    else:
        said = server_message(body, content_type)
        reason = one_line(reason, 60)
        if said.lower().rstrip(".") == reason.lower():  # "HTTP 401 Unauthorized: Unauthorized" says it twice
            said = ""
        message = f"HTTP {status} {reason}".rstrip() + (f": {said}" if said else "")
    if status == 429:
        wait = parse_retry_after(headers)
        if wait is not None and wait > MAX_RETRY_AFTER:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + wait))
            hint = f"rate limited: the server asks to wait {wait:.0f} s, try again after {until}"
    return GradientError(error_type_for_status(status), message, status=status,
                         request_id=request_id, hint=hint)


def decode_json(body: bytes, status: int = 200, content_type: str = ""):
    if looks_like_html(body, content_type):
        title = html_title(body.decode("utf-8", "replace")) or "no title"
        raise GradientError("invalid_response", f"server returned an HTML page ({status}): {title}",
                            hint="the base URL may point at a web page, not the API")
    try:
        return json.loads(body, parse_constant=lambda name: None)  # NaN and Infinity are no JSON: null
    except RecursionError:
        raise GradientError("invalid_response", f"server returned JSON nested too deeply to read ({status})") from None
    except UnicodeDecodeError:
        raise GradientError("invalid_response", f"server returned a body that is not UTF-8 ({status})") from None
    except ValueError:
        snippet = one_line(body.decode("utf-8", "replace"), 80) or "empty body"
        raise GradientError("invalid_response", f"server returned non-JSON ({status}): {snippet}") from None



# ---------------------------------------------------------------- server-sent events

class SSEParser:
    """Server-sent events as the WHATWG spec reads them: CR, LF or CRLF line ends, lines
    split across reads, several data lines per event, comments. Yields (event, data).
    Linear in the stream: each read is scanned once, an unfinished line waits as pieces, and
    an event larger than MAX_EVENT_CHARS is refused."""

    def __init__(self, line_end=SSE_LINE_END):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._line_end = line_end
        self._pieces, self._pending = [], 0  # the line begun but not ended, and its length
        self._size = 0  # the data of the event so far
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data = []

    def feed(self, chunk: bytes) -> list:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text[1:] if text.startswith("\ufeff") else text
        if self._skip_lf and text:
            text = text[1:] if text.startswith("\n") else text
            self._skip_lf = False
        events = []
        start = 0
        for match in self._line_end.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                self._skip_lf = True  # the LF of this CRLF may come with the next read
            self._pieces.append(text[start:match.start()])
            line, self._pieces, self._pending = "".join(self._pieces), [], 0
            event = self._line(line)
            if event:
                events.append(event)
            start = match.end()
        if start < len(text):
            self._pieces.append(text[start:])
            self._pending += len(text) - start
            self._check()
        return events

    def finish(self) -> list:
        """At the end of the stream, an event missing its closing blank line is still delivered."""
        events = self.feed(b"")
        line = "".join(self._pieces) + self._decoder.decode(b"", final=True)
        self._pieces, self._pending = [], 0
        for event in (self._line(line) if line else None, self._line("")):
            if event:
                events.append(event)
        return events

    def _check(self) -> None:
        if self._size + self._pending > MAX_EVENT_CHARS:
            raise GradientError("invalid_response", f"a stream event is larger than {MAX_EVENT_CHARS >> 20} MB")

    def _line(self, line: str):
        if not line:
            self._size = 0
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
            self._size += len(value)
            self._check()
        elif name == "event":
            self._event = value
        return None
