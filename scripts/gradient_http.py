"""The HTTP client: one requests.Session, the retry policy (urllib3's Retry with the OpenAI SDK's
waits), timeouts, and reading bodies within a deadline.

Belongs here: sending requests and reading sockets. Does not belong here: making sense of what
came back (gradient_wire), or what a command does with it. `requests` is imported only when the
first client is made, so commands that never send start fast.
"""
from __future__ import annotations

import json
import time

from gradient_common import GradientError, __version__, log, one_line
from gradient_config import resolve_settings
from gradient_wire import MAX_RETRY_AFTER, decode_json, http_error, parse_retry_after

USER_AGENT = f"gradient-inference/{__version__}"
CONNECT_TIMEOUT = 10.0
ANNOUNCE_WAIT = 2.0  # waits longer than this are announced on stderr
RETRY_STATUSES = frozenset([408, 409, 429, *range(500, 600)])
MAX_ERROR_BODY = 1 << 20
MAX_JSON_BYTES = 64 << 20  # a JSON answer (or a page) larger than this once decoded is refused
READ_SIZE = 1 << 16


# ---------------------------------------------------------------- pure helpers

def backoff_seconds(retries_taken: int, rand=None) -> float:
    """OpenAI SDK policy: min(0.5 * 2^n, 8) s, shortened by up to 25% jitter."""
    if rand is None:
        import random

        rand = random.random
    return min(0.5 * 2 ** retries_taken, 8.0) * (1 - 0.25 * rand())


# ---------------------------------------------------------------- the client

def _retry_class():
    """urllib3's Retry with the OpenAI SDK's policy: waits, Retry-After cap, announcements."""
    from urllib3 import exceptions
    from urllib3.exceptions import MaxRetryError
    from urllib3.util.retry import Retry

    unresolved = getattr(exceptions, "NameResolutionError", ())  # urllib3 2; 1.26 has no such class

    class SdkRetry(Retry):
        verbose = False

        def new(self, **kw):
            fresh = super().new(**kw)
            fresh.verbose = self.verbose
            return fresh

        def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                      _stacktrace=None):
            if unresolved and isinstance(error, unresolved):  # a name that does not resolve will not in a second
                raise MaxRetryError(_pool, url, error)
            if response is not None:
                wait = parse_retry_after(response.headers)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    if self.verbose:
                        log(f"not retrying: server asks to wait {wait:.0f} s (> {MAX_RETRY_AFTER:.0f} s)")
                    raise MaxRetryError(_pool, url, None)
            return super().increment(method, url, response, error, _pool, _stacktrace)

        def sleep(self, response=None):
            wait = parse_retry_after(response.headers) if response is not None else None
            if wait is None or not 0 < wait <= MAX_RETRY_AFTER:
                wait = backoff_seconds(max(len(self.history) - 1, 0))
            cause = self.history[-1] if self.history else None
            why = (f"HTTP {cause.status}" if cause and cause.status
                   else type(cause.error).__name__ if cause and cause.error else "error")
            attempt = len(self.history) + 1
            if wait > ANNOUNCE_WAIT or self.verbose:
                log(f"retrying in {wait:.1f} s after {why} (attempt {attempt})")
            time.sleep(wait)

    return SdkRetry



def iter_body(response, deadline: float | None = None):
    """Yield the body as it arrives (read1: no waiting for a full buffer), decoded,
    raising GradientError on a dropped connection, a bad encoding or a passed deadline."""
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

    raw = response.raw
    read = getattr(raw, "read1", None)
    chunks = iter(lambda: read(READ_SIZE, decode_content=True), b"") if read else raw.stream(
        READ_SIZE, decode_content=True)
    try:
        for chunk in chunks:
            if chunk:
                yield chunk
            if deadline is not None and time.monotonic() > deadline:
                raise GradientError("timeout", "the response took longer than the timeout to arrive",
                                    hint="raise --timeout, or try again")
    except ReadTimeoutError:
        raise GradientError("timeout", "the server stopped sending in the middle of the response",
                            hint="raise --timeout, or try again") from None
    except DecodeError:
        raise GradientError("invalid_response", "the response body could not be decoded (its "
                            "Content-Encoding does not match what was sent)") from None
    except (ProtocolError, OSError) as exc:
        raise GradientError("connection", f"the connection closed in the middle of the response ({failure_words(exc)})",
                            hint="try again") from None


def read_body(response, deadline: float | None, limit: int, what: str = "the answer") -> bytearray:
    """The whole body (not copied again), refused once it passes `limit` bytes decoded: a small
    gzip body that inflates to gigabytes stops at the limit instead of filling the memory."""
    body = bytearray()
    for chunk in iter_body(response, deadline):
        body += chunk
        if len(body) > limit:
            response.close()
            raise GradientError("invalid_response", f"{what} is larger than {limit >> 20} MB once decoded")
    return body


def failure_words(exc: BaseException) -> str:
    """What went wrong with a connection, in words: the innermost cause found in the chain of
    wrapped exceptions, never a library's repr."""
    import http.client
    import socket
    import ssl

    from urllib3.exceptions import NewConnectionError, TimeoutError as Urllib3Timeout

    chain, stack = [], [exc]
    while stack and len(chain) < 32:
        current = stack.pop()
        if isinstance(current, BaseException) and current not in chain:
            chain.append(current)
            stack += [getattr(current, "reason", None), current.__cause__, current.__context__,
                      *getattr(current, "args", ())]
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
            return "the TLS handshake failed" + (f": {one_line(str(detail), 120)}" if detail else "")
        if isinstance(cause, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, http.client.RemoteDisconnected):
            return "the server closed the connection without answering"
        if isinstance(cause, http.client.IncompleteRead):
            return "the body was cut short"
        if isinstance(cause, http.client.HTTPException):
            return "the server's answer is not valid HTTP"
    for cause in chain:  # urllib3's NewConnectionError is a timeout by ancestry only
        if isinstance(cause, (TimeoutError, Urllib3Timeout)) and not isinstance(cause, NewConnectionError):
            return "timed out"
    for cause in chain:
        if isinstance(cause, OSError) and cause.strerror:
            return one_line(cause.strerror, 120).lower()
    return "the connection failed"


def retries_text(count: int) -> str:
    return f" after {count} {'retry' if count == 1 else 'retries'}" if count else ""


class Client:
    """One requests.Session, the retry policy, timeouts, logging and error mapping."""

    def __init__(self, settings, pool_size: int = 10):
        import requests
        from requests.adapters import HTTPAdapter

        self.settings = settings
        self.connect_timeout = min(CONNECT_TIMEOUT, settings.timeout)
        retry = _retry_class()(
            total=settings.max_retries, connect=settings.max_retries, read=settings.max_retries,
            status=settings.max_retries, other=0, allowed_methods=None,
            status_forcelist=RETRY_STATUSES, raise_on_status=False, respect_retry_after_header=True,
        )
        retry.verbose = settings.verbose
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=pool_size)  # one kept-alive connection a thread
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @classmethod
    def from_args(cls, args) -> "Client":
        return cls(resolve_settings(args))

    def url(self, path: str) -> str:
        return self.settings.base_url + "/" + path.lstrip("/")

    def send(self, method: str, url: str, *, json_body=None, authorized: bool = True,
             headers: dict | None = None, what: str | None = None, **kwargs):
        """Send a request and return the streamed response; any failure is a GradientError.
        `what` names the thing fetched ("the pricing page") in the hint of a 404."""
        import requests

        headers = dict(headers or {})
        if authorized and self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.settings.verbose:
            log(f"> {method} {url if authorized else url.split('?')[0] + ' (signed query not shown)'}")
            for name, value in headers.items():
                log(f"> {name}: {'Bearer ***' if name == 'Authorization' else value}")
        started = time.monotonic()
        try:
            response = self.session.request(method, url, headers=headers, stream=True,
                                            timeout=(self.connect_timeout, self.settings.timeout), **kwargs)
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(exc, url) from None
        except (ValueError, UnicodeError):  # a URL from a server that no request can be made of
            raise GradientError("invalid_response", f"cannot fetch {one_line(url, 200)}: it is not a valid URL") from None
        retries = len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
        if self.settings.verbose:
            log(f"< {response.status_code} {response.reason} "
                f"({(time.monotonic() - started) * 1000:.0f} ms, {retries} retries)")
        if response.status_code >= 400:
            body = self._error_body(response)
            error = http_error(response.status_code, response.reason or "", response.headers, body,
                               retries, self.settings.provider.key_help)
            error.headers = response.headers  # Retry-After and rate-limit headers, for callers that pace themselves
            if what and response.status_code == 404:
                error.hint = f"{what} is not at {one_line(url, 200)}"
            raise error
        return response

    def _error_body(self, response) -> bytes:
        """Up to 1 MB of an error answer; a body cut short still leaves the status to report."""
        received = bytearray()
        try:
            for chunk in iter_body(response, time.monotonic() + self.settings.timeout):
                received += chunk
                if len(received) >= MAX_ERROR_BODY:
                    break
        except GradientError:
            pass
        finally:
            response.close()
        return bytes(received[:MAX_ERROR_BODY])

    def _transport_error(self, exc: Exception, url: str) -> GradientError:
        import requests
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            host = parts.hostname + (f":{parts.port}" if parts.port else "")  # never user:password@
        except (TypeError, ValueError):
            host = "the server"
        words = failure_words(exc)
        tries = retries_text(self.settings.max_retries)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return GradientError("timeout", f"could not connect to {host} within {self.connect_timeout:g} s{tries}",
                                 hint="check the network or the base URL")
        if isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in words:
            return GradientError("timeout", f"no answer from {host} within {self.settings.timeout:g} s{tries}",
                                 hint="raise --timeout, or try again later")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return GradientError("invalid_response", f"cannot fetch {one_line(url, 200)}: it is not a valid URL")
        if words == "the host name could not be resolved":
            return GradientError("connection", f"cannot resolve host {parts.hostname}",
                                 hint="check the base URL and your DNS")
        if words == "connection refused":
            return GradientError("connection", f"connection refused by {host}{tries}",
                                 hint="is the server running, and is the base URL right?")
        if words.startswith("the TLS handshake failed"):
            return GradientError("connection", f"{words} with {host}")
        return GradientError("connection", f"cannot reach {host}{tries}: {words}",
                             hint="check the network or the base URL")

    def read_json(self, response):
        """The whole body as JSON, within the timeout and MAX_JSON_BYTES; else invalid_response."""
        body = read_body(response, time.monotonic() + self.settings.timeout, MAX_JSON_BYTES)
        return decode_json(body, response.status_code, response.headers.get("content-type", ""))

    def get_json(self, path: str) -> tuple:
        """GET and read JSON; a body cut off on the way is retried like a connection error."""
        for attempt in range(self.settings.max_retries + 1):
            response = self.send("GET", self.url(path))
            try:
                return self.read_json(response), response
            except GradientError as error:
                if error.type != "connection" or attempt == self.settings.max_retries:
                    raise
                wait = backoff_seconds(attempt)
                if self.settings.verbose or wait > ANNOUNCE_WAIT:
                    log(f"retrying in {wait:.1f} s after a cut-off body (attempt {attempt + 2})")
                time.sleep(wait)
        raise AssertionError("unreachable")

    def post_json(self, path: str, body) -> tuple:
        response = self.send("POST", self.url(path), json_body=body)
        return self.read_json(response), response


def request_id(response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("request-id")


