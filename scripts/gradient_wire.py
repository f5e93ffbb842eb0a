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
SSE_LINE_END = re.compile(r"\r\n|\r|\n")


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


def normalize_usage(usage) -> dict:
    """The same usage keys for every API; anything that is not a whole number becomes null."""
    if not isinstance(usage, dict):
        return {"input_tokens": None, "output_tokens": None, "total_tokens": None, "cached_input_tokens": None}
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = count(details.get("cached_tokens")) if isinstance(details, dict) else None
    if cached is None:
        cached = count(usage.get("cache_read_input_tokens"))
    input_tokens = count(usage.get("prompt_tokens", usage.get("input_tokens")))
    output_tokens = count(usage.get("completion_tokens", usage.get("output_tokens")))
    total = count(usage.get("total_tokens"))
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total,
            "cached_input_tokens": cached}


def parse_retry_after(headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, else Retry-After (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    import email.utils  # rare: only for Retry-After as an HTTP date

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return when.timestamp() - (time.time() if now is None else now)


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
        message = f"HTTP {status} {reason}".rstrip() + (f": {said}" if said else "")
    if status == 429:
        wait = parse_retry_after(headers)
        if wait is not None and wait > MAX_RETRY_AFTER:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + wait))
            hint = f"rate limited: the server asks to wait {wait:.0f} s, try again after {until}"
    return GradientError(error_type_for_status(status), message, status=status,
                         request_id=request_id, hint=hint)


def decode_json(body: bytes, status: int = 200, content_type: str = "") :
    if looks_like_html(body, content_type):
        title = html_title(body.decode("utf-8", "replace")) or "no title"
        raise GradientError("invalid_response", f"server returned an HTML page ({status}): {title}",
                            hint="the base URL may point at a web page, not the API")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise GradientError("invalid_response", f"server returned a body that is not UTF-8 ({status})") from None
    except ValueError:
        snippet = one_line(body.decode("utf-8", "replace"), 80) or "empty body"
        raise GradientError("invalid_response", f"server returned non-JSON ({status}): {snippet}") from None



# ---------------------------------------------------------------- server-sent events

class SSEParser:
    """Server-sent events as the WHATWG spec reads them: CR, LF or CRLF line ends, lines
    split across reads, several data lines per event, comments. Yields (event, data)."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
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
        self._buffer += text
        events = []
        start = 0
        for match in SSE_LINE_END.finditer(self._buffer):
            if match.group() == "\r" and match.end() == len(self._buffer):
                self._skip_lf = True  # the LF of this CRLF may come with the next read
            event = self._line(self._buffer[start:match.start()])
            if event:
                events.append(event)
            start = match.end()
        self._buffer = self._buffer[start:]
        return events

    def finish(self) -> list:
        """At the end of the stream, an event missing its closing blank line is still delivered."""
        events = self.feed(b"")
        line, self._buffer = self._buffer + self._decoder.decode(b"", final=True), ""
        for event in (self._line(line) if line else None, self._line("")):
            if event:
                events.append(event)
        return events

    def _line(self, line: str):
        if not line:
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
        elif name == "event":
            self._event = value
        return None
