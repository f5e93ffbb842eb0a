"""gradient_common: errors, exit codes, secrets, terminal-safe output and run()."""
from __future__ import annotations

import argparse
import json

import pytest

import gradient_common as common
from gradient_wire import http_error
from conftest import FAKE_KEY


# ---------------------------------------------------------------- output

@pytest.mark.parametrize("as_json", [False, True])
def test_report_error_masks_an_echoed_key_from_env_or_key_file(keyed, isolated_env, capsys, as_json):
    key_file = isolated_env / ".config" / "vultr" / "api_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("vultr-secret-123456\n")
    body = json.dumps({"error": {"message": f"invalid key {FAKE_KEY} or vultr-secret-123456"}}).encode()
    common.report_error(http_error(401, "Unauthorized", {}, body, 0), as_json)
    err = capsys.readouterr().err
    assert FAKE_KEY not in err and "vultr-secret-123456" not in err and err.count("***") == 2


def test_one_line_strips_control_characters():
    assert common.one_line("a\x1b[31mred\x07\n  b") == "a [31mred b"
    assert len(common.one_line("x" * 1000, 50)) == 50


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
