"""The HTTP client: one requests.Session with the retry policy (urllib3's Retry, asking api.retry
for its waits), timeouts, bodies read within a deadline and a size cap, transport failures in
words, and answers streamed into output files.

Belongs here: sending requests and reading sockets. Does not belong here: making sense of what
came back (api.status, api.usage, api.sse), or what a command does with it. `requests` (and its
urllib3) is imported only when the first client is made, so commands that never send start fast.
"""
from __future__ import annotations

import json
import time

from gradient_inference import __version__
from gradient_inference.api.retry import ANNOUNCE_WAIT, MAX_RETRY_AFTER, RETRY_STATUSES, backoff_seconds, \
    parse_retry_after, retry_wait
from gradient_inference.api.status import decode_json, http_error
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import log, warn
from gradient_inference.core.text import one_line, whole_characters
from gradient_inference.core.urls import checked_redirect, host_of

USER_AGENT = f"gradient-inference/{__version__}"
CONNECT_TIMEOUT = 10.0
MAX_ERROR_BODY = 1 << 20
MAX_JSON_BYTES = 64 << 20  # a JSON answer (or a page) larger than this once decoded is refused
READ_SIZE = 1 << 16
MAX_REDIRECTS = 5  # of a transfer whose redirects are checked hop by hop
# Transport failures by the names of their classes (requests has loaded these modules already;
# importing ssl, socket and http.client here would cost every command's start-up)
FAILURES = (("ssl.SSLError", None), ("socket.gaierror", "the host name could not be resolved"),
            ("builtins.ConnectionRefusedError", "connection refused"),
            ("http.client.RemoteDisconnected", "the server closed the connection without answering"),
            ("http.client.IncompleteRead", "the body was cut short"),
            ("http.client.HTTPException", "the server's answer is not valid HTTP"))


# ---------------------------------------------------------------- pure helpers

def class_names(exc: BaseException) -> set:
    return {f"{kind.__module__}.{kind.__qualname__}" for kind in type(exc).__mro__}


def failure_words(exc: BaseException) -> str:
    """What went wrong with a connection, in words: the innermost cause found in the chain of
    wrapped exceptions, never a library's repr."""
    chain, stack = [], [exc]
    while stack and len(chain) < 32:
        current = stack.pop()
        if isinstance(current, BaseException) and current not in chain:
            chain.append(current)
            stack += [getattr(current, "reason", None), current.__cause__, current.__context__,
                      *getattr(current, "args", ())]
    for cause in chain:
        names = class_names(cause)
        for name, words in FAILURES:
            if name in names and name == "ssl.SSLError":
                detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
                return "the TLS handshake failed" + (f": {one_line(str(detail), 120)}" if detail else "")
            if name in names:
                return words
    for cause in chain:  # urllib3's NewConnectionError is a timeout by ancestry only
        names = class_names(cause)
        if ({"builtins.TimeoutError", "urllib3.exceptions.TimeoutError"} & names
                and "urllib3.exceptions.NewConnectionError" not in names):
            return "timed out"
    for cause in chain:
        if isinstance(cause, OSError) and cause.strerror:
            return one_line(cause.strerror, 120).lower()
    return "the connection failed"


def retries_text(count: int) -> str:
    return f" after {count} {'retry' if count == 1 else 'retries'}" if count else ""


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


class Client:
    """One requests.Session, the retry policy, timeouts, logging and error mapping."""

    def __init__(self, settings, pool_size: int = 10):
        self.settings, self.pool_size = settings, pool_size
        self.connect_timeout = min(CONNECT_TIMEOUT, settings.timeout)
        self.session = self._session(settings.max_retries)
        self._single = None  # the session without retries, made on first need

    def _session(self, retries: int):
        import requests
        from requests.adapters import HTTPAdapter

        retry = _retry_class()(
            total=retries, connect=retries, read=retries, status=retries, other=0, allowed_methods=None,
            status_forcelist=RETRY_STATUSES, raise_on_status=False, respect_retry_after_header=True,
        )
        retry.verbose = self.settings.verbose
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=self.pool_size)  # one kept-alive connection a thread
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def single(self):
        """The session that tries each request once, for callers that retry on their own terms
        (batch items, uploads that resend a file, a form a server refuses at once)."""
        if self._single is None:
            self._single = self.session if self.settings.max_retries == 0 else self._session(0)
        return self._single

    def url(self, path: str) -> str:
        return self.settings.base_url + "/" + path.lstrip("/")

    def send(self, method: str, url: str, *, json_body=None, authorized: bool = True,
             headers: dict | None = None, what: str | None = None, retry: bool = True,
             checked: bool = False, read_timeout: float | None = None, **kwargs):
        """Send a request and return the streamed response; any failure is a GradientError.
        `what` names the thing fetched ("the pricing page") in the hint of a 404; `retry=False`
        sends it once (the caller retries by api.retry's policy, or not at all). `checked` (a
        presigned transfer): a redirect is followed only by a GET, and only when it keeps the
        scheme and the host class (loopback or not) of the URL first given."""
        if checked:
            return self._send_checked(method, url, headers=headers, retry=retry, **kwargs)
        import requests

        headers = dict(headers or {})
        if authorized and self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        if json_body is not None:
            text = json.dumps(json_body, ensure_ascii=False)
            if not text.isascii() and whole_characters(text) != text:  # a byte of the prompt that was not UTF-8
                warn("the request held text that is not valid Unicode (bytes that are not UTF-8?); it was sent "
                     "as U+FFFD")
                text = whole_characters(text)
            kwargs["data"] = text.encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.settings.verbose:
            log(f"> {method} {url if authorized else url.split('?')[0] + ' (signed query not shown)'}")
            for name, value in headers.items():
                log(f"> {name}: {'Bearer ***' if name == 'Authorization' else value}")
        started = time.monotonic()
        try:
            session = self.session if retry else self.single()
            read = self.settings.timeout if read_timeout is None else min(read_timeout, self.settings.timeout)
            response = session.request(method, url, headers=headers, stream=True,
                                       timeout=(min(self.connect_timeout, read), read), **kwargs)
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

    def _send_checked(self, method: str, url: str, **kwargs):
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self.send(method, current, authorized=False, allow_redirects=False, **kwargs)
            if not response.is_redirect:
                return response
            response.close()
            try:
                current = checked_redirect(url, current, response.headers.get("location") or "", method)
            except ValueError as refused:
                raise GradientError("invalid_response", f"the transfer to {host_of(url)} was redirected to "
                                    f"{host_of(str(refused))}, which was not followed: a presigned transfer keeps "
                                    "to its scheme and host class", hint="report it to the provider") from None
        raise GradientError("invalid_response", f"the transfer was redirected more than {MAX_REDIRECTS} times")

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

        host = host_of(url)
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
            return GradientError("connection", f"cannot resolve host {host.rsplit(':', 1)[0] if ']' not in host else host}",
                                 hint="check the base URL and your DNS")
        if words == "connection refused":
            return GradientError("connection", f"connection refused by {host}{tries}",
                                 hint="is the server running, and is the base URL right?")
        if words.startswith("the TLS handshake failed"):
            return GradientError("connection", f"{words} with {host}")
        return GradientError("connection", f"cannot reach {host}{tries}: {words}",
                             hint="check the network or the base URL")

    def read_json(self, response, read_timeout: float | None = None):
        """The whole body as JSON, within the timeout (or `read_timeout`, if shorter) and
        MAX_JSON_BYTES; else invalid_response."""
        limit = self.settings.timeout if read_timeout is None else min(read_timeout, self.settings.timeout)
        body = read_body(response, time.monotonic() + limit, MAX_JSON_BYTES)
        return decode_json(body, response.status_code, response.headers.get("content-type", ""))

    def get_json(self, path: str, read_timeout: float | None = None) -> tuple:
        """GET and read JSON; a body cut off on the way is retried like a connection error. With
        `read_timeout`, each wait (and the whole body) takes at most that long, and nothing is retried."""
        attempt = 0
        while True:
            response = self.send("GET", self.url(path), read_timeout=read_timeout, retry=read_timeout is None)
            try:
                return self.read_json(response, read_timeout), response
            except GradientError as error:
                wait = retry_wait(attempt, self.settings.max_retries, None, error.type) \
                    if error.type == "connection" else None
                if wait is None:
                    raise
                if self.settings.verbose or wait > ANNOUNCE_WAIT:
                    log(f"retrying in {wait:.1f} s after a cut-off body (attempt {attempt + 2})")
                time.sleep(wait)
                attempt += 1

    def post_json(self, path: str, body, retry: bool = True, headers: dict | None = None) -> tuple:
        response = self.send("POST", self.url(path), json_body=body, retry=retry, headers=headers)
        return self.read_json(response), response

    def save(self, response, output) -> dict:
        """Stream a response body into a core.outfiles.OutputFile (within the timeout) and commit it."""
        with output:
            for chunk in iter_body(response, time.monotonic() + self.settings.timeout):
                output.write(chunk)
            return output.commit()


def request_id_of(response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("request-id")
