"""gradient_common: key, base URL, providers, retry policy, error mapping, exit codes."""
from __future__ import annotations

import argparse
import json
import time

import pytest

import gradient_common as common
from conftest import FAKE_KEY
from fakeapi import Reply


def parse(*argv, **kwargs):
    parser = argparse.ArgumentParser()
    common.add_common_args(parser, **kwargs)
    return parser.parse_args(list(argv))


# ---------------------------------------------------------------- key

@pytest.mark.parametrize("winner, present", [
    ("GRADIENT_API_KEY", ["GRADIENT_API_KEY", "GRADIENT_MODEL_ACCESS_KEY", "MODEL_ACCESS_KEY"]),
    ("GRADIENT_MODEL_ACCESS_KEY", ["GRADIENT_MODEL_ACCESS_KEY", "DIGITALOCEAN_INFERENCE_KEY"]),
    ("DIGITALOCEAN_INFERENCE_KEY", ["DIGITALOCEAN_INFERENCE_KEY", "MODEL_ACCESS_KEY"]),
    ("MODEL_ACCESS_KEY", ["MODEL_ACCESS_KEY"]),
])
def test_key_order_first_non_empty_variable_wins(winner, present):
    environ = {name: f"key-of-{name}" for name in present}
    environ["GRADIENT_API_KEY"] = environ.get("GRADIENT_API_KEY", "  ")  # blank does not count
    assert common.resolve_api_key(common.PROVIDERS["digitalocean"], environ) == f"key-of-{winner}"


def test_key_file_is_read_stripped_after_variables(isolated_env, capsys):
    path = isolated_env / ".config" / "gradient" / "api_key"
    path.parent.mkdir(parents=True)
    path.write_text("  sk-do-from-file\n")
    path.chmod(0o600)
    provider = common.PROVIDERS["digitalocean"]
    assert common.resolve_api_key(provider, {"HOME": str(isolated_env)}) == "sk-do-from-file"
    assert common.resolve_api_key(provider, {"MODEL_ACCESS_KEY": "env-wins"}) == "env-wins"
    assert capsys.readouterr().err == ""


def test_key_file_variable_and_loose_permissions_warning(tmp_path, capsys):
    path = tmp_path / "key"
    path.write_text("sk-do-custom\n")
    path.chmod(0o644)
    key = common.resolve_api_key(common.PROVIDERS["digitalocean"], {"GRADIENT_API_KEY_FILE": str(path)})
    assert key == "sk-do-custom"
    err = capsys.readouterr().err
    assert "readable by group or others" in err and "chmod 600" in err
    assert "sk-do-custom" not in err


def test_vultr_key_file(isolated_env):
    path = isolated_env / ".config" / "vultr" / "api_key"
    path.parent.mkdir(parents=True)
    path.write_text("vultr-key")
    path.chmod(0o600)
    assert common.resolve_api_key(common.PROVIDERS["vultr"]) == "vultr-key"


def test_missing_key_is_a_config_error_naming_the_variable():
    with pytest.raises(common.GradientError) as caught:
        common.resolve_settings(parse())
    assert caught.value.type == "config"
    assert "GRADIENT_API_KEY" in caught.value.message
    assert "Model access keys" in caught.value.hint


def test_loopback_base_url_needs_no_key():
    settings = common.resolve_settings(parse("--base-url", "http://127.0.0.1:8080/v1"))
    assert settings.api_key is None and settings.base_url == "http://127.0.0.1:8080/v1"


@pytest.mark.parametrize("provider, base_url, key_var, field", [
    ("digitalocean", "https://inference.do-ai.run/v1", "GRADIENT_API_KEY", "max_completion_tokens"),
    ("vultr", "https://api.vultrinference.com/v1", "VULTR_API_KEY", "max_tokens"),
    ("gitee", "https://ai.gitee.com/v1", "GITEE_AI_API_KEY", "max_tokens"),
    ("opendatasky", "http://server.opendatasky.com/v1/api/open-ai/ds", "OPENDATASKY_API_KEY", "max_tokens"),
])
def test_provider_presets(monkeypatch, capsys, provider, base_url, key_var, field):
    monkeypatch.setenv(key_var, "k")
    settings = common.resolve_settings(parse("--provider", provider))
    assert (settings.base_url, settings.api_key, settings.provider.max_tokens_field) == (base_url, "k", field)
    # opendatasky is plain http: the user is told the key travels unencrypted
    assert ("plain http" in capsys.readouterr().err) == base_url.startswith("http:")


def test_base_url_flag_beats_env_and_provider_preset(monkeypatch):
    monkeypatch.setenv("GRADIENT_BASE_URL", "http://127.0.0.1:1/v1")
    assert common.resolve_settings(parse()).base_url == "http://127.0.0.1:1/v1"
    assert common.resolve_settings(parse("--base-url", "http://localhost:2/v1/")).base_url == "http://localhost:2/v1"


def test_bad_base_url_env_is_a_config_error(monkeypatch):
    monkeypatch.setenv("GRADIENT_BASE_URL", "inference.do-ai.run/v1")
    with pytest.raises(common.GradientError, match="not an http"):
        common.resolve_settings(parse())


def test_base_url_without_scheme_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        parse("--base-url", "localhost:8080/v1")
    assert caught.value.code == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_base_url_path_without_v1_warns(capsys):
    common.resolve_settings(parse("--base-url", "http://127.0.0.1:8080"))
    assert "does not end in /v1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--timeout", "0"], ["--timeout", "nan"], ["--timeout", "abc"],
                                  ["--max-retries", "-1"], ["--provider", "nope"]])
def test_bad_common_flags_exit_2(argv):
    with pytest.raises(SystemExit) as caught:
        parse(*argv)
    assert caught.value.code == 2


def test_env_defaults_for_timeout_and_retries(monkeypatch):
    monkeypatch.setenv("GRADIENT_TIMEOUT", "7.5")
    monkeypatch.setenv("GRADIENT_MAX_RETRIES", "0")
    args = parse()
    assert (args.timeout, args.max_retries) == (7.5, 0)
    assert parse("--timeout", "3").timeout == 3.0


def test_image_scripts_default_timeout_is_their_own():
    assert parse(default_timeout=300).timeout == 300


# ---------------------------------------------------------------- pure helpers

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
    assert common.server_message(body) == expected


def test_http_error_html_page_uses_its_title():
    page = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000
    error = common.http_error(502, "Bad Gateway", {"content-type": "text/html"}, page, 2)
    assert error.message == "server returned an HTML page (502): 502 Bad Gateway"
    assert error.type == "server" and "retried 2 times" in error.hint


@pytest.mark.parametrize("status, type_, hint_part", [
    (400, "bad_request", "check the model id"), (401, "auth", "model access key"),
    (403, "permission", "quota"), (404, "not_found", "gradient_models.py"),
    (408, "timeout", None), (422, "bad_request", "check"), (429, "rate_limit", "rate limited"),
    (500, "server", "server trouble"), (503, "server", "server trouble"),
])
def test_status_mapping(status, type_, hint_part):
    error = common.http_error(status, "R", {"x-request-id": "req-1"}, b'{"message": "m"}', 0)
    assert error.type == type_ and error.request_id == "req-1" and error.status == status
    assert (hint_part in error.hint) if hint_part else error.hint is None


@pytest.mark.parametrize("as_json", [False, True])
def test_report_error_masks_an_echoed_key_from_env_or_key_file(keyed, isolated_env, capsys, as_json):
    key_file = isolated_env / ".config" / "vultr" / "api_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("vultr-secret-123456\n")
    body = json.dumps({"error": {"message": f"invalid key {FAKE_KEY} or vultr-secret-123456"}}).encode()
    common.report_error(common.http_error(401, "Unauthorized", {}, body, 0), as_json)
    err = capsys.readouterr().err
    assert FAKE_KEY not in err and "vultr-secret-123456" not in err and err.count("***") == 2


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
    assert common.parse_retry_after(headers, now=now) == expected


@pytest.mark.parametrize("attempt, low, high", [(0, 0.375, 0.5), (1, 0.75, 1.0), (3, 3.0, 4.0), (9, 6.0, 8.0)])
def test_backoff_is_capped_and_jitter_only_shortens(attempt, low, high):
    assert common.backoff_seconds(attempt, rand=lambda: 0.0) == high
    assert common.backoff_seconds(attempt, rand=lambda: 1.0) == low


def test_one_line_strips_control_characters():
    assert common.one_line("a\x1b[31mred\x07\n  b") == "a [31mred b"
    assert len(common.one_line("x" * 1000, 50)) == 50


# ---------------------------------------------------------------- HTTP client

def client_for(api, *argv):
    return common.Client.from_args(parse("--base-url", api.url, *argv))


def test_client_sends_key_user_agent_and_json(api, keyed):
    api.json("POST", "/v1/echo", {"ok": True})
    data, response = client_for(api).post_json("echo", {"a": "é"})
    assert data == {"ok": True}
    seen = api.calls("POST", "/v1/echo")[0]
    assert seen.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert seen.headers["User-Agent"] == common.USER_AGENT
    assert seen.json == {"a": "é"}


def test_client_never_sends_key_to_unauthorized_urls(api, keyed):
    api.add("GET", "/file.png", Reply(body=b"png"))
    client = client_for(api)
    client.send("GET", api.origin + "/file.png", authorized=False).close()
    assert "Authorization" not in api.calls("GET", "/file.png")[0].headers


def test_retry_after_wait_is_announced_over_two_seconds(api, capsys, monkeypatch):
    slept = []
    monkeypatch.setattr(common.time, "sleep", slept.append)
    api.add("GET", "/v1/x", Reply(429, headers={"Retry-After": "5"}), Reply(json={"ok": 1}))
    data, _ = client_for(api).get_json("x")
    assert data == {"ok": 1} and slept == [5.0]
    assert "retrying in 5.0 s after HTTP 429 (attempt 2)" in capsys.readouterr().err


def test_retry_after_ms_is_preferred(api, monkeypatch, capsys):
    slept = []
    monkeypatch.setattr(common.time, "sleep", slept.append)
    api.add("GET", "/v1/x", Reply(503, headers={"retry-after-ms": "100", "Retry-After": "9"}),
            Reply(json={}))
    client_for(api).get_json("x")
    assert slept == [0.1]
    assert capsys.readouterr().err == ""  # short waits are not announced


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retried_statuses_use_backoff(api, monkeypatch, status):
    slept = []
    monkeypatch.setattr(common.time, "sleep", slept.append)
    api.add("POST", "/v1/x", Reply(status, json={"error": {"message": "busy"}}), Reply(json={"ok": 1}))
    assert client_for(api).post_json("x", {})[0] == {"ok": 1}
    assert len(api.calls()) == 2 and 0.375 <= slept[0] <= 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(api, status):
    api.add("GET", "/v1/x", Reply(status, json={"error": {"message": "no"}}))
    with pytest.raises(common.GradientError):
        client_for(api).get_json("x")
    assert len(api.calls()) == 1


def test_max_retries_zero_disables_retries(api):
    api.add("GET", "/v1/x", Reply(500))
    with pytest.raises(common.GradientError) as caught:
        client_for(api, "--max-retries", "0").get_json("x")
    assert len(api.calls()) == 1 and caught.value.type == "server"


def test_trickling_body_hits_the_overall_timeout(api):
    api.add("GET", "/v1/x", Reply(json={"data": list(range(100))}, trickle=0.05))
    started = time.monotonic()
    with pytest.raises(common.GradientError) as caught:
        client_for(api, "--timeout", "0.5").get_json("x")
    assert caught.value.type == "timeout"
    assert time.monotonic() - started < 3


def test_connection_closed_mid_body(api):
    api.add("GET", "/v1/x", Reply(json={"data": ["a" * 1000]}, cut_after=10))
    with pytest.raises(common.GradientError) as caught:
        client_for(api).get_json("x")
    assert caught.value.type == "connection"


@pytest.mark.parametrize("body, content_type, expected", [
    (b"not json", "application/json", "non-JSON (200): not json"),
    (b"<html><title>Login</title></html>", "text/html", "HTML page (200): Login"),
    (b'{"a": "\xff\xfe"}', "application/json", "not UTF-8"),
])
def test_bad_success_bodies_are_invalid_response(api, body, content_type, expected):
    api.add("GET", "/v1/x", Reply(body=body, headers={"Content-Type": content_type}))
    with pytest.raises(common.GradientError) as caught:
        client_for(api).get_json("x")
    assert caught.value.type == "invalid_response" and expected in caught.value.message


def test_dns_failure_message(keyed):
    client = common.Client.from_args(parse("--base-url", "http://no-such-host.invalid/v1", "--max-retries", "0"))
    with pytest.raises(common.GradientError) as caught:
        client.get_json("models")
    assert caught.value.type == "connection" and "cannot resolve host no-such-host.invalid" in caught.value.message


def test_verbose_logs_requests_with_key_redacted(api, keyed, capsys):
    api.json("GET", "/v1/x", {})
    client_for(api, "--verbose").get_json("x")
    err = capsys.readouterr().err
    assert f"> GET {api.url}/x" in err and "Authorization: Bearer ***" in err and "< 200 OK" in err
    assert FAKE_KEY not in err


# ---------------------------------------------------------------- run()

def test_run_maps_errors_interrupts_and_broken_pipes(capsys):
    def fail(args):
        raise common.GradientError("auth", "HTTP 401", status=401, request_id="r1", hint="h")

    assert common.run(fail, argparse.Namespace(json=False)) == 1
    assert capsys.readouterr().err == "error: HTTP 401 (request id r1); hint: h\n"
    assert common.run(fail, argparse.Namespace(json=True)) == 1
    document = json.loads(capsys.readouterr().err)
    assert document == {"error": {"type": "auth", "message": "HTTP 401", "status": 401,
                                  "request_id": "r1", "hint": "h"}}

    def interrupted(args):
        raise KeyboardInterrupt

    assert common.run(interrupted, argparse.Namespace()) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_error_types_are_the_documented_set():
    with pytest.raises(ValueError):
        common.GradientError("oops", "not a documented type")
    for type_ in ("config", "auth", "permission", "not_found", "bad_request", "rate_limit", "server", "timeout",
                  "connection", "invalid_response", "parse", "io"):
        assert common.GradientError(type_, "m").to_dict()["error"]["type"] == type_


def test_error_body_cut_short_still_reports_the_status(api):
    api.add("GET", "/v1/x", Reply(401, body=b'{"error": {"message": "bad key, and more text"}}', cut_after=12))
    with pytest.raises(common.GradientError) as caught:
        client_for(api).get_json("x")
    assert caught.value.type == "auth" and caught.value.status == 401
