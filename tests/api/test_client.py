"""gradient_http: the client, its retry policy, timeouts and reading bodies, against the fake server."""
from __future__ import annotations

import time

import pytest

from gradient_inference.api import client as api_client
from gradient_inference.api import retry as api_retry
from gradient_inference.core import errors as core_errors
from conftest import FAKE_KEY, parse_common, settings_from
from fakeapi import Reply


@pytest.mark.parametrize("attempt, low, high", [(0, 0.375, 0.5), (1, 0.75, 1.0), (3, 3.0, 4.0), (9, 6.0, 8.0)])
def test_backoff_is_capped_and_jitter_only_shortens(attempt, low, high):
    assert api_retry.backoff_seconds(attempt, rand=lambda: 0.0) == high
    assert api_retry.backoff_seconds(attempt, rand=lambda: 1.0) == low


# ---------------------------------------------------------------- the client

def client_for(api, *argv):
    return api_client.Client(settings_from(parse_common("--base-url", api.url, *argv)))


def test_client_sends_key_user_agent_and_json(api, keyed):
    api.json("POST", "/v1/echo", {"ok": True})
    data, response = client_for(api).post_json("echo", {"a": "é"})
    assert data == {"ok": True}
    seen = api.calls("POST", "/v1/echo")[0]
    assert seen.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert seen.headers["User-Agent"] == api_client.USER_AGENT
    assert seen.json == {"a": "é"}


def test_client_never_sends_key_to_unauthorized_urls(api, keyed):
    api.add("GET", "/file.png", Reply(body=b"png"))
    client = client_for(api)
    client.send("GET", api.origin + "/file.png", authorized=False).close()
    assert "Authorization" not in api.calls("GET", "/file.png")[0].headers


def test_retry_after_wait_is_announced_over_two_seconds(api, capsys, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    api.add("GET", "/v1/x", Reply(429, headers={"Retry-After": "5"}), Reply(json={"ok": 1}))
    data, _ = client_for(api).get_json("x")
    assert data == {"ok": 1} and slept == [5.0]
    assert "retrying in 5.0 s after HTTP 429 (attempt 2)" in capsys.readouterr().err


def test_retry_after_ms_is_preferred(api, monkeypatch, capsys):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    api.add("GET", "/v1/x", Reply(503, headers={"retry-after-ms": "100", "Retry-After": "9"}),
            Reply(json={}))
    client_for(api).get_json("x")
    assert slept == [0.1]
    assert capsys.readouterr().err == ""  # short waits are not announced


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retried_statuses_use_backoff(api, monkeypatch, status):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    api.add("POST", "/v1/x", Reply(status, json={"error": {"message": "busy"}}), Reply(json={"ok": 1}))
    assert client_for(api).post_json("x", {})[0] == {"ok": 1}
    assert len(api.calls()) == 2 and 0.375 <= slept[0] <= 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(api, status):
    api.add("GET", "/v1/x", Reply(status, json={"error": {"message": "no"}}))
    with pytest.raises(core_errors.GradientError):
        client_for(api).get_json("x")
    assert len(api.calls()) == 1


def test_max_retries_zero_disables_retries(api):
    api.add("GET", "/v1/x", Reply(500))
    with pytest.raises(core_errors.GradientError) as caught:
        client_for(api, "--max-retries", "0").get_json("x")
    assert len(api.calls()) == 1 and caught.value.type == "server"


def test_trickling_body_hits_the_overall_timeout(api):
    api.add("GET", "/v1/x", Reply(json={"data": list(range(100))}, trickle=0.05))
    started = time.monotonic()
    with pytest.raises(core_errors.GradientError) as caught:
        client_for(api, "--timeout", "0.5").get_json("x")
    assert caught.value.type == "timeout"
    assert time.monotonic() - started < 3


def test_connection_closed_mid_body(api):
    api.add("GET", "/v1/x", Reply(json={"data": ["a" * 1000]}, cut_after=10))
    with pytest.raises(core_errors.GradientError) as caught:
        client_for(api).get_json("x")
    assert caught.value.type == "connection"


@pytest.mark.parametrize("body, content_type, expected", [
    (b"not json", "application/json", "non-JSON (200): not json"),
    (b"<html><title>Login</title></html>", "text/html", "HTML page (200): Login"),
    (b'{"a": "\xff\xfe"}', "application/json", "not UTF-8"),
])
def test_bad_success_bodies_are_invalid_response(api, body, content_type, expected):
    api.add("GET", "/v1/x", Reply(body=body, headers={"Content-Type": content_type}))
    with pytest.raises(core_errors.GradientError) as caught:
        client_for(api).get_json("x")
    assert caught.value.type == "invalid_response" and expected in caught.value.message


def test_dns_failure_message(keyed):
    client = api_client.Client(settings_from(parse_common("--base-url", "http://no-such-host.invalid/v1", "--max-retries", "0")))
    with pytest.raises(core_errors.GradientError) as caught:
        client.get_json("models")
    assert caught.value.type == "connection" and "cannot resolve host no-such-host.invalid" in caught.value.message


def test_verbose_logs_requests_with_key_redacted(api, keyed, capsys):
    api.json("GET", "/v1/x", {})
    client_for(api, "--verbose").get_json("x")
    err = capsys.readouterr().err
    assert f"> GET {api.url}/x" in err and "Authorization: Bearer ***" in err and "< 200 OK" in err
    assert FAKE_KEY not in err


def test_error_body_cut_short_still_reports_the_status(api):
    api.add("GET", "/v1/x", Reply(401, body=b'{"error": {"message": "bad key, and more text"}}', cut_after=12))
    with pytest.raises(core_errors.GradientError) as caught:
        client_for(api).get_json("x")
    assert caught.value.type == "auth" and caught.value.status == 401
