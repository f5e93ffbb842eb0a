"""gradient_wire: statuses to errors, server messages, Retry-After, server-sent events."""
from __future__ import annotations

import pytest

from gradient_inference.api import retry as api_retry
from gradient_inference.api import sse as api_sse
from gradient_inference.api import status as api_status


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("body, expected", [
    (b'{"error": {"message": "model not found", "type": "x"}}', "model not found"),
    (b'{"error": "plain error"}', "plain error"),
    (b'{"message": "top-level message"}', "top-level message"),
    (b'{"detail": "not allowed"}', "not allowed"),
    (b'{"detail": [{"loc": ["body"], "msg": "bad"}]}', '[{"loc": ["body"], "msg": "bad"}]'),
    (b"just text\nover lines", "just text over lines"),
    (b'"a json string"', "a json string"),
    (b"", ""),
])
def test_server_message_shapes(body, expected):
    assert api_status.server_message(body) == expected


def test_http_error_html_page_uses_its_title():
    page = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000
    error = api_status.http_error(502, "Bad Gateway", {"content-type": "text/html"}, page, 2)
    assert error.message == "server returned an HTML page (502): 502 Bad Gateway"
    assert error.type == "server" and "retried 2 times" in error.hint


@pytest.mark.parametrize("status, type_, hint_part", [
    (400, "bad_request", "check the model id"), (401, "auth", "model access key"),
    (403, "permission", "quota"), (404, "not_found", "gradient_models.py"),
    (408, "timeout", None), (422, "bad_request", "check"), (429, "rate_limit", "rate limited"),
    (500, "server", "server trouble"), (503, "server", "server trouble"),
])
def test_status_mapping(status, type_, hint_part):
    error = api_status.http_error(status, "R", {"x-request-id": "req-1"}, b'{"message": "m"}', 0)
    assert error.type == type_ and error.request_id == "req-1" and error.status == status
    assert (hint_part in error.hint) if hint_part else error.hint is None


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after": "3"}, 3.0),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_parse_retry_after(headers, expected):
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert api_retry.parse_retry_after(headers, now=now) == expected


# ---------------------------------------------------------------- SSE parsing

@pytest.mark.parametrize("pieces", [
    [b"data: one\n\ndata: two\n\n"],
    [b"data: o", b"ne\r", b"\n\r\n", b"data: two\r\n", b"\r\n"],
    [b"data: one\r\rdata: two\r\r"],
    [b"data: one\n", b"\n", b"data: tw", b"o\n\n"],
])
def test_sse_line_endings_and_splits(pieces):
    parser = api_sse.SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
    assert events == [("message", "one"), ("message", "two")]


def test_sse_multiline_data_comments_fields_and_missing_blank_line():
    parser = api_sse.SSEParser()
    text = (b"\xef\xbb\xbf: keep-alive\nevent: response.output_text.delta\ndata: a\ndata:b\nid: 7\n"
            b"retry: 10\ngarbage line\n\ndata: last")
    events = parser.feed(text) + parser.finish()
    assert events == [("response.output_text.delta", "a\nb"), ("message", "last")]


def test_sse_utf8_split_across_reads():
    parser = api_sse.SSEParser()
    encoded = "data: héllo\n\n".encode()
    events = [e for i in range(len(encoded)) for e in parser.feed(encoded[i:i + 1])]
    assert events == [("message", "héllo")]


@pytest.mark.parametrize("value, seconds", [
    ("1000000010", 10.0),          # a Unix time (DigitalOcean)
    ("1000000010000", 10.0),       # a Unix time in milliseconds
    ("3", 3.0),                    # seconds from now (the spec's ratelimit-reset)
    ("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m", 3720.0),  # OpenAI's durations
    ("soon", None), ("", None), ("1e9", None), ("5x", None), ("99999999999999999999", None),
])
def test_reset_seconds(value, seconds):
    from gradient_inference.api.retry import reset_seconds

    found = reset_seconds(value, 1_000_000_000.0)
    assert found == (pytest.approx(seconds) if seconds is not None else None)
    assert reset_seconds("1000000050", 1_000_000_100.0) == 0.0  # a reset already past: no wait


@pytest.mark.parametrize("headers, wait", [
    ({"X-RateLimit-Remaining-Requests": "0", "X-RateLimit-Reset-Requests": "1000000005"}, 5.0),
    ({"x-ratelimit-remaining-tokens-per-minute": "0", "x-ratelimit-reset-tokens-per-minute": "1000000030",
      "x-ratelimit-remaining-requests": "7"}, 30.0),
    ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1000000000"}, 1.0),  # at least 1 s
    ({"x-ratelimit-remaining-requests": "0"}, 1.0),  # no reset named: DigitalOcean's minimum
    ({"ratelimit-remaining": "0", "ratelimit-reset": "12"}, 12.0),
    ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1000000002",
      "x-ratelimit-remaining-tokens-per-day": "0", "x-ratelimit-reset-tokens-per-day": "1000000600"}, 600.0),
    ({"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "1000000060"}, None),
    ({}, None),
])
def test_rate_limit_wait_waits_for_the_latest_reset_of_what_ran_out(headers, wait):
    from gradient_inference.api.retry import rate_limit_wait

    assert rate_limit_wait(headers, now=1_000_000_000.0) == wait
