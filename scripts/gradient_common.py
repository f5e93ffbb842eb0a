"""What two or more gradient-inference scripts need: key and base URL, the HTTP
client with retries, errors and exit codes, JSON output.

Nothing here imports requests at module level, so `--help` and cached paths
start fast; the HTTP client imports it when the first request is made.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import select
import stat
import sys
import time
from typing import Any, Callable, NamedTuple
from urllib.parse import urlsplit

__version__ = "0.2.0"

USER_AGENT = f"gradient-inference/{__version__}"
CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
MAX_RETRY_AFTER = 120.0  # a server asking for a longer pause is not retried
ANNOUNCE_WAIT = 2.0  # waits longer than this are announced on stderr
RETRY_STATUSES = frozenset([408, 409, 429, *range(500, 600)])
MAX_ERROR_BODY = 1 << 20
READ_SIZE = 1 << 16
STDIN_WAIT = 1.0  # how long an open stdin pipe may stay silent before it is ignored
JOB_DONE_STATES = ("COMPLETED", "FAILED")

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130  # 2, usage errors, is argparse's own

ERROR_TYPES = (
    "config", "auth", "permission", "not_found", "bad_request", "rate_limit",
    "server", "timeout", "connection", "invalid_response", "parse", "io",
)


class Provider(NamedTuple):
    base_url: str
    key_vars: tuple
    key_file_var: str | None
    key_file: str | None
    max_tokens_field: str
    key_help: str


DO_KEY_HELP = (
    "create a model access key in the DigitalOcean control panel: "
    "Inference (Gradient AI) > Model access keys > Create"
)
PROVIDERS = {
    "digitalocean": Provider(
        "https://inference.do-ai.run/v1",
        ("GRADIENT_API_KEY", "GRADIENT_MODEL_ACCESS_KEY", "DIGITALOCEAN_INFERENCE_KEY", "MODEL_ACCESS_KEY"),
        "GRADIENT_API_KEY_FILE", "~/.config/gradient/api_key",
        "max_completion_tokens", DO_KEY_HELP,
    ),
    "vultr": Provider(
        "https://api.vultrinference.com/v1", ("VULTR_API_KEY",),
        None, "~/.config/vultr/api_key",
        "max_tokens", "use your Vultr API key (my.vultr.com > Account > API)",
    ),
    "gitee": Provider(
        "https://ai.gitee.com/v1", ("GITEE_AI_API_KEY",), None, None,
        "max_tokens", "create an API token on ai.gitee.com > API keys",
    ),
    "opendatasky": Provider(
        "http://server.opendatasky.com/v1/api/open-ai/ds", ("OPENDATASKY_API_KEY",), None, None,
        "max_tokens", "use the API key from your opendatasky console",
    ),
}
DEFAULT_PROVIDER = "digitalocean"


class GradientError(Exception):
    """A failure reported to the user as one line (or one JSON object) and exit 1."""

    def __init__(self, type_: str, message: str, *, status: int | None = None,
                 request_id: str | None = None, hint: str | None = None):
        if type_ not in ERROR_TYPES:  # the documented set is a contract with --json users
            raise ValueError(f"undocumented error type {type_!r}")
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status
        self.request_id = request_id
        self.hint = hint

    def to_dict(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, "status": self.status,
                          "request_id": self.request_id, "hint": self.hint}}

    def to_line(self) -> str:
        line = f"error: {self.message}"
        if self.request_id:
            line += f" (request id {self.request_id})"
        if self.hint:
            line += f"; hint: {self.hint}"
        return line


class UsageError(Exception):
    """Bad input found after argument parsing; main() hands it to parser.error (exit 2)."""


# ---------------------------------------------------------------- pure helpers

def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace and drop control characters so server text fits one line."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise ValueError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL; try https://inference.do-ai.run/v1")
    return url.strip().rstrip("/")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def int_in_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (to `high`)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bounds}")
        return value
    return convert


def base_url_arg(text: str) -> str:
    try:
        return check_base_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def sniff_image(head: bytes) -> str | None:
    """The image format from its first bytes (png, jpeg, webp, gif), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((name for magic, name in IMAGE_SIGNATURES if head.startswith(magic)), None)


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


def usage_line(usage: dict, cost, price_source) -> str:
    """`tokens: N in, M out (K cached), cost $X (source)` for --usage on stderr."""
    def number(value):
        return "?" if value is None else str(value)

    line = f"tokens: {number(usage.get('input_tokens'))} in, {number(usage.get('output_tokens'))} out"
    if usage.get("cached_input_tokens"):
        line += f" ({usage['cached_input_tokens']} cached)"
    if cost is not None:
        line += f", cost ${cost:.6f}" + (f" ({price_source})" if price_source else "")
    elif price_source:
        line += f", cost unknown ({price_source})"
    return line


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
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


def backoff_seconds(retries_taken: int, rand: Callable[[], float] | None = None) -> float:
    """OpenAI SDK policy: min(0.5 * 2^n, 8) s, shortened by up to 25% jitter."""
    if rand is None:
        import random

        rand = random.random
    return min(0.5 * 2 ** retries_taken, 8.0) * (1 - 0.25 * rand())


def http_error(status: int, reason: str, headers: Any, body: bytes, retries: int,
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


# ---------------------------------------------------------------- configuration

def env_default(name: str, fallback: Any) -> Any:
    value = os.environ.get(name, "").strip()
    return value if value else fallback


def add_common_args(parser: argparse.ArgumentParser, default_timeout: float = DEFAULT_TIMEOUT,
                    needs_key: bool = True) -> None:
    """The flags every script shares. Defaults come from the environment; argparse checks them."""
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (errors as JSON on stderr)")
    parser.add_argument("--version", action="version", version=f"gradient-inference {__version__}")
    group = parser.add_argument_group("connection")
    if needs_key:
        group.add_argument("--provider", choices=sorted(PROVIDERS),
                           help="preset base URL, key variable and max-tokens field "
                                f"(default: {DEFAULT_PROVIDER})")
        group.add_argument("--base-url", type=base_url_arg,
                           help="API base URL (env GRADIENT_BASE_URL; default "
                                f"{PROVIDERS[DEFAULT_PROVIDER].base_url}); a loopback URL needs no key")
    group.add_argument("--timeout", type=positive_float,
                       default=env_default("GRADIENT_TIMEOUT", default_timeout),
                       help="read timeout in seconds (env GRADIENT_TIMEOUT; default %(default)s)")
    group.add_argument("--max-retries", type=int_in_range(0),
                       default=env_default("GRADIENT_MAX_RETRIES", DEFAULT_MAX_RETRIES),
                       help="retries on 408/409/429/5xx, connection errors and timeouts "
                            "(env GRADIENT_MAX_RETRIES; 0 disables; default %(default)s)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="log each request, its status, time and retries on stderr (key redacted)")


def read_key_file(path: str) -> str | None:
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8") as handle:
            key = handle.read().strip()
            mode = os.fstat(handle.fileno()).st_mode
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"cannot read key file {path}: {getattr(exc, 'strerror', None) or exc}")
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warn(f"key file {path} is readable by group or others; run: chmod 600 {path}")
    return key or None


def resolve_api_key(provider: Provider, environ: Any = None) -> str | None:
    """First non-empty key variable of the provider, then its key file. Never prompts."""
    environ = os.environ if environ is None else environ
    for name in provider.key_vars:
        value = environ.get(name, "").strip()
        if value:
            return value
    path = environ.get(provider.key_file_var, "").strip() if provider.key_file_var else ""
    path = path or provider.key_file
    return read_key_file(path) if path else None


class Settings(NamedTuple):
    base_url: str
    api_key: str | None
    provider_name: str
    provider: Provider
    timeout: float
    max_retries: int
    verbose: bool
    max_tokens_field: str = "max_completion_tokens"


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Base URL, key and provider from flags, then environment, then the provider preset."""
    provider_name = getattr(args, "provider", None) or DEFAULT_PROVIDER
    provider = PROVIDERS[provider_name]
    base_url = getattr(args, "base_url", None)
    if not base_url and not getattr(args, "provider", None) and os.environ.get("GRADIENT_BASE_URL", "").strip():
        try:
            base_url = check_base_url(os.environ["GRADIENT_BASE_URL"])
        except ValueError as exc:
            raise GradientError("config", f"GRADIENT_BASE_URL: {exc}") from None
    user_url = bool(base_url)
    base_url = base_url or provider.base_url
    if user_url and not urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        warn(f"base URL {base_url} does not end in /v1; requests go to {base_url}/...")
    api_key = resolve_api_key(provider)
    if api_key is None and not is_loopback_url(base_url):
        raise GradientError("config", f"no API key: set {provider.key_vars[0]}", hint=provider.key_help)
    if api_key and urlsplit(base_url).scheme == "http" and not is_loopback_url(base_url):
        warn(f"the API key is sent over plain http to {urlsplit(base_url).hostname}")
    # local servers (llama.cpp, vLLM, Ollama) honour max_tokens; llama-cpp-python ignores the newer field
    local = is_loopback_url(base_url) and not getattr(args, "provider", None)
    return Settings(base_url, api_key, provider_name, provider, args.timeout, args.max_retries, args.verbose,
                    "max_tokens" if local else provider.max_tokens_field)


# ---------------------------------------------------------------- HTTP

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
                print(f"retrying in {wait:.1f} s after {why} (attempt {attempt})", file=sys.stderr)
            time.sleep(wait)

    return SdkRetry


def log(message: str) -> None:
    print(message, file=sys.stderr)


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

    def __init__(self, settings: Settings):
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
    def from_args(cls, args: argparse.Namespace) -> "Client":
        return cls(resolve_settings(args))

    def url(self, path: str) -> str:
        return self.settings.base_url + "/" + path.lstrip("/")

    def send(self, method: str, url: str, *, json_body: Any = None, authorized: bool = True,
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

    def read_json(self, response) -> Any:
        """The whole body as JSON, within the timeout; anything else is invalid_response."""
        deadline = time.monotonic() + self.settings.timeout
        body = b"".join(iter_body(response, deadline))
        return decode_json(body, response.status_code, response.headers.get("content-type", ""))

    def get_json(self, path: str) -> tuple:
        response = self.send("GET", self.url(path))
        return self.read_json(response), response

    def post_json(self, path: str, body: Any) -> tuple:
        response = self.send("POST", self.url(path), json_body=body)
        return self.read_json(response), response


def decode_json(body: bytes, status: int = 200, content_type: str = "") -> Any:
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


def request_id(response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("request-id")


def read_local_file(path: str, max_bytes: int, what: str) -> bytes:
    """A local file to send, refused (before any request) when missing or too large."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise GradientError("io", f"{what} {path} is over the {max_bytes / 1048576:.0f} MB limit "
                                      f"({size:,} bytes)")
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise GradientError("io", f"cannot read {what} {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- stdin

def decode_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        warn(f"{what} is not valid UTF-8; undecodable bytes were replaced")
        return data.decode("utf-8", "replace")


def stdin_state(stream, wait: float) -> str:
    """'ready' when stdin is a file, or a pipe that sends something (or closes) within `wait`;
    'silent' for an open pipe that nobody writes to (it must not hang the command);
    'none' for a terminal or no stdin at all."""
    if stream is None or stream.isatty():
        return "none"
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return "none"
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode):
        return "ready"
    try:
        ready, _, _ = select.select([fd], [], [], wait)
    except (OSError, ValueError):  # Windows cannot poll pipes: read them, as any CLI would
        return "ready"
    return "ready" if ready else "silent"


def read_stdin(stream) -> str:
    return decode_text(stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode(), "stdin")


# ---------------------------------------------------------------- output files (images, audio)

def planned_paths(output: str | None, n: int, extension: str, stamp: str, prefix: str,
                  known_suffixes) -> list:
    """Where the files go: --output (a file name, or an existing folder), else ./<prefix>-<stamp>;
    with n > 1, -1, -2... before the extension."""
    if output and not os.path.isdir(output):
        base, suffix = os.path.splitext(output)
        if suffix.lower() not in known_suffixes:
            base, suffix = output, ""
    else:
        base, suffix = os.path.join(output or ".", f"{prefix}-{stamp}"), ""
    suffix = suffix or extension
    if n == 1:
        return [base + suffix]
    return [f"{base}-{index}{suffix}" for index in range(1, n + 1)]


def with_extension(path: str, extension: str, known_suffixes) -> str:
    """The path with the extension of the file's real format (.jpeg stays for JPEG)."""
    base, suffix = os.path.splitext(path)
    if suffix.lower() == extension or {suffix.lower(), extension} == {".jpeg", ".jpg"}:
        return path
    return (base if suffix.lower() in known_suffixes else path) + extension


def check_targets(paths: list, force: bool) -> None:
    """Before any request: the folder exists and is writable, and nothing would be overwritten."""
    import tempfile

    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise GradientError("io", f"the folder {folder} does not exist")
        try:  # a real probe: os.access says yes to root even where nothing can be created
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            raise GradientError("io", f"the folder {folder} is not writable ({exc.strerror or exc})") from None
        if os.path.isdir(path):
            raise GradientError("io", f"{path} is a folder")
        if os.path.exists(path) and not force:
            raise GradientError("io", f"{path} exists; use --force to overwrite it")


class OutputFile:
    """A temporary file beside the target, kept only when it holds a whole file of the expected
    kind: committed by renaming (or linking, which refuses to overwrite), removed on any failure
    or Ctrl-C. `sniff` names the format from the first bytes; `extensions` maps it to a suffix."""

    def __init__(self, target: str, force: bool, sniff: Callable, extensions: dict, max_bytes: int,
                 what: str = "file"):
        self.target, self.force, self.sniff, self.extensions = target, force, sniff, extensions
        self.max_bytes, self.what = max_bytes, what
        self.size, self.kind, self._head = 0, None, b""
        import tempfile

        folder = os.path.dirname(os.path.abspath(target))
        try:
            fd, self.temporary = tempfile.mkstemp(prefix=".gradient-", suffix=".part", dir=folder)
        except OSError as exc:
            raise GradientError("io", f"cannot write in {folder}: {exc.strerror or exc}") from None
        self.handle = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        if len(self._head) < 16:
            self._head += bytes(data[:16])
        self.size += len(data)
        if self.size > self.max_bytes:
            raise GradientError("invalid_response", f"the {self.what} is larger than {self.max_bytes >> 20} MB")
        try:
            self.handle.write(data)
        except OSError as exc:
            raise GradientError("io", f"cannot write {self.target}: {exc.strerror or exc}") from None

    def commit(self) -> dict:
        try:
            self.handle.close()
        except OSError as exc:
            raise GradientError("io", f"cannot write {self.target}: {exc.strerror or exc}") from None
        self.kind = self.sniff(self._head)
        if self.kind is None:
            raise GradientError("invalid_response", f"the server sent something that is not {self.what} "
                                f"({', '.join(sorted(set(self.extensions)))} expected)")
        final = with_extension(self.target, self.extensions[self.kind], set(self.extensions.values()) | {".jpeg"})
        try:
            if self.force:
                os.replace(self.temporary, final)
            else:
                os.link(self.temporary, final)
                os.unlink(self.temporary)
        except FileExistsError:
            raise GradientError("io", f"{final} exists; use --force to overwrite it") from None
        except OSError as exc:
            raise GradientError("io", f"cannot save {final}: {exc.strerror or exc}") from None
        self.temporary = None
        return {"path": final, "bytes": self.size, "format": self.kind}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.handle.close()
        if self.temporary:
            try:
                os.unlink(self.temporary)
            except OSError:
                pass


def save_response(client, response, output: OutputFile) -> dict:
    """Stream a response body into an OutputFile (within the timeout) and commit it."""
    with output:
        for chunk in iter_body(response, time.monotonic() + client.settings.timeout):
            output.write(chunk)
        return output.commit()


# ---------------------------------------------------------------- fal jobs (POST /async-invoke)

class Progress:
    """Waiting shown on stderr: a live elapsed-time line on a terminal, one line per status change otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last = None

    def update(self, status: str, elapsed: float) -> None:
        if self.live:
            self.stream.write(f"\r{status.lower().replace('_', ' ')}... {elapsed:.0f} s ")
            self.stream.flush()
        elif status != self.last:
            self.stream.write(f"status: {status} after {elapsed:.1f} s\n")
            self.stream.flush()
        self.last = status

    def close(self) -> None:
        if self.live and self.last is not None:
            self.stream.write("\n")


def failure_reason(document) -> str | None:
    if not isinstance(document, dict):
        return None
    for key in ("error", "reason", "message", "detail"):
        value = document.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("detail")
        if value:
            return one_line(str(value))
    return None


def submit_job(client, model_id: str, payload: dict) -> str:
    submitted, _ = client.post_json("async-invoke", {"model_id": model_id, "input": payload})
    request_id = submitted.get("request_id") if isinstance(submitted, dict) else None
    if not request_id:
        raise GradientError("invalid_response", "async-invoke answered without a request_id")
    print(f"submitted {model_id} job {request_id}", file=sys.stderr)
    return request_id


def wait_for_job(client, request_id: str, interval: float, progress: Progress | None = None) -> dict:
    """Poll /async-invoke/{id}/status until COMPLETED or FAILED (at most --timeout), then fetch
    the result. FAILED and the time limit are errors that name the request id."""
    progress = progress or Progress()
    timeout = client.settings.timeout
    started = time.monotonic()
    try:
        while True:
            status_doc, _ = client.get_json(f"async-invoke/{request_id}/status")
            status = str(status_doc.get("status", "UNKNOWN")).upper() if isinstance(status_doc, dict) else "UNKNOWN"
            elapsed = time.monotonic() - started
            progress.update(status, elapsed)
            if status in JOB_DONE_STATES:
                break
            if elapsed + interval > timeout:
                raise GradientError("timeout", f"the job {request_id} is still {status} after {elapsed:.0f} s",
                                    request_id=request_id, hint=f"keep waiting with --request-id {request_id}")
            time.sleep(interval)
    finally:
        progress.close()
    result, _ = client.get_json(f"async-invoke/{request_id}")
    if status == "FAILED" or (isinstance(result, dict) and str(result.get("status", "")).upper() == "FAILED"):
        reason = failure_reason(status_doc) or failure_reason(result) or "no reason given"
        raise GradientError("server", f"the job {request_id} failed: {reason}", request_id=request_id)
    return result


# ---------------------------------------------------------------- output and exit

def emit_json(document: Any) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def known_secrets() -> list:
    """Every key the scripts could have sent: all providers' variables and key files."""
    found = [os.environ.get(name, "").strip() for provider in PROVIDERS.values() for name in provider.key_vars]
    for provider in PROVIDERS.values():
        path = os.environ.get(provider.key_file_var, "") if provider.key_file_var else ""
        path = os.path.expanduser(path.strip() or provider.key_file or "")
        try:
            with open(path, encoding="utf-8") as handle:
                found.append(handle.read().strip())
        except (OSError, UnicodeDecodeError):
            pass
    return [secret for secret in found if len(secret) >= 8]


def report_error(error: GradientError, as_json: bool) -> None:
    """Print the error; any key the server echoed back in its words is masked here, in one place."""
    for secret in known_secrets():
        error.message = redact(error.message, secret)
        error.hint = error.hint and redact(error.hint, secret)
        error.request_id = error.request_id and redact(error.request_id, secret)
    if as_json:
        print(json.dumps(error.to_dict(), ensure_ascii=False), file=sys.stderr)
    else:
        print(error.to_line(), file=sys.stderr)


def run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace,
        parser: argparse.ArgumentParser | None = None) -> int:
    """Run a script's body: errors become one line and exit 1, usage errors found late go to
    parser.error (exit 2), Ctrl-C exits 130, a closed stdout (`| head`) exits quietly."""
    try:
        return command(args)
    except UsageError as error:
        if parser is None:
            raise
        parser.error(str(error))
    except GradientError as error:
        report_error(error, getattr(args, "json", False))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
