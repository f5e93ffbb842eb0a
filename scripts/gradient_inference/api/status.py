"""What a server's answer status means: HTTP statuses to the documented error types and a hint
the user can act on, the server's own words from an error body (JSON, HTML or text), and JSON
bodies decoded without ever letting NaN, deep nesting or a web page through as data.

Belongs here: pure functions over a status, headers and a body. Does not belong here: sending
or reading sockets (api.client), or when to retry (api.retry).
"""
from __future__ import annotations

import json
import re
import time

from gradient_inference.api.retry import MAX_RETRY_AFTER, parse_retry_after
from gradient_inference.core.errors import GradientError
from gradient_inference.core.jsondata import TooDeep, TooLarge, loads
from gradient_inference.core.providers import DO_KEY_HELP
from gradient_inference.core.text import one_line


# Words of a refusal that is about the account's money rather than the key (a 403 may be either)
BLOCKED_WORDS = r"prepa(id|y)|balance|insufficient (funds|credit)|payment required|billing|blocked|suspended"


def error_type_for_status(status: int) -> str:
    if status == 401:
        return "auth"
    if status in (402, 403):
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
        data = loads(text)
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
    if status == 402 or (status == 403 and re.search(BLOCKED_WORDS, message, re.I)):
        message = "the account is blocked from serving: " + message
        hint = ("DigitalOcean stops serving when the prepaid balance reaches $0: gradient_usage.py --balance shows "
                "it; add funds in the control panel")
    if status == 429:
        wait = parse_retry_after(headers)
        if wait is not None and wait > MAX_RETRY_AFTER:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + wait))
            hint = f"rate limited: the server asks to wait {wait:.0f} s, try again after {until}"
    return GradientError(error_type_for_status(status), message, status=status,
                         request_id=request_id, hint=hint)


def decode_json(body: bytes, status: int = 200, content_type: str = ""):
    """An answer's JSON, read by core.jsondata (bounded, depth capped, NaN as null); every way it
    can fail is invalid_response in words."""
    if looks_like_html(body, content_type):
        title = html_title(body.decode("utf-8", "replace")) or "no title"
        raise GradientError("invalid_response", f"server returned an HTML page ({status}): {title}",
                            hint="the base URL may point at a web page, not the API")
    try:
        return loads(body)
    except TooDeep:
        raise GradientError("invalid_response", f"server returned JSON nested too deeply to read ({status})") from None
    except TooLarge as exc:
        raise GradientError("invalid_response", f"server returned JSON that cannot be read ({status}): {exc}") from None
    except UnicodeDecodeError:
        raise GradientError("invalid_response", f"server returned a body that is not UTF-8 ({status})") from None
    except ValueError:
        snippet = one_line(body.decode("utf-8", "replace"), 80) or "empty body"
        raise GradientError("invalid_response", f"server returned non-JSON ({status}): {snippet}") from None
