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
    from urllib3.exceptions import MaxRetryError
    from urllib3.util.retry import Retry

    class SdkRetry(Retry):
        verbose = False

        def new(self, **kw):
            fresh = super().new(**kw)
            fresh.verbose = self.verbose
            return fresh

        def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                      _stacktrace=None):
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
    except DecodeError as exc:
        raise GradientError("invalid_response", f"the response body could not be decoded: {exc}") from None
    except (ProtocolError, OSError) as exc:
        raise GradientError("connection", "the connection closed in the middle of the response "
                            f"({one_line(str(exc), 120)})", hint="try again") from None


class Client:
    """One requests.Session, the retry policy, timeouts, logging and error mapping."""

    def __init__(self, settings):
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
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @classmethod
    def from_args(cls, args) -> "Client":
        return cls(resolve_settings(args))

    def url(self, path: str) -> str:
        return self.settings.base_url + "/" + path.lstrip("/")

    def send(self, method: str, url: str, *, json_body=None, authorized: bool = True,
             headers: dict | None = None, **kwargs):
        """Send a request and return the streamed response; any failure is a GradientError."""
        import requests

        headers = dict(headers or {})
        if authorized and self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.settings.verbose:
            log(f"> {method} {url}")
            for name, value in headers.items():
                log(f"> {name}: {'Bearer ***' if name == 'Authorization' else value}")
        started = time.monotonic()
        try:
            response = self.session.request(method, url, headers=headers, stream=True,
                                            timeout=(self.connect_timeout, self.settings.timeout), **kwargs)
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(exc, url) from None
        retries = len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
        if self.settings.verbose:
            log(f"< {response.status_code} {response.reason} "
                f"({(time.monotonic() - started) * 1000:.0f} ms, {retries} retries)")
        if response.status_code >= 400:
            body = self._error_body(response)
            raise http_error(response.status_code, response.reason or "", response.headers, body,
                             retries, self.settings.provider.key_help)
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

        host = urlsplit(url).netloc
        text = str(exc)
        tries = f" after {self.settings.max_retries} retries" if self.settings.max_retries else ""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return GradientError("timeout", f"could not connect to {host} within {self.connect_timeout:g} s{tries}",
                                 hint="check the network or the base URL")
        if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in text:
            return GradientError("timeout", f"no answer from {host} within {self.settings.timeout:g} s{tries}",
                                 hint="raise --timeout, or try again later")
        if "NameResolution" in text or "getaddrinfo" in text or "Name or service not known" in text:
            return GradientError("connection", f"cannot resolve host {urlsplit(url).hostname}",
                                 hint="check the base URL and your DNS")
        if "Connection refused" in text or "ConnectionRefused" in text:
            return GradientError("connection", f"connection refused by {host}{tries}",
                                 hint="is the server running, and is the base URL right?")
        if isinstance(exc, requests.exceptions.SSLError):
            return GradientError("connection", f"TLS error talking to {host}: {one_line(text, 160)}")
        return GradientError("connection", f"cannot reach {host}{tries}: {one_line(text, 160)}",
                             hint="check the network or the base URL")

    def read_json(self, response) :
        """The whole body as JSON, within the timeout; anything else is invalid_response."""
        deadline = time.monotonic() + self.settings.timeout
        body = b"".join(iter_body(response, deadline))
        return decode_json(body, response.status_code, response.headers.get("content-type", ""))

    def get_json(self, path: str) -> tuple:
        response = self.send("GET", self.url(path))
        return self.read_json(response), response

    def post_json(self, path: str, body) -> tuple:
        response = self.send("POST", self.url(path), json_body=body)
        return self.read_json(response), response


def request_id(response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("request-id")


