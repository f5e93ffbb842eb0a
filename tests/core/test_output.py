"""gradient_common: errors, exit codes, secrets, terminal-safe output and run()."""
from __future__ import annotations

import argparse
import json

import pytest

from gradient_inference.core import errors as core_errors
from gradient_inference.core import output as core_output
from gradient_inference.core import runner as core_runner
from gradient_inference.core import text as core_text
from gradient_inference.api.status import http_error
from conftest import FAKE_KEY


# ---------------------------------------------------------------- output

@pytest.mark.parametrize("as_json", [False, True])
def test_report_error_masks_an_echoed_key_from_env_or_key_file(keyed, isolated_env, capsys, as_json):
    key_file = isolated_env / ".config" / "vultr" / "api_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("vultr-secret-123456\n")
    body = json.dumps({"error": {"message": f"invalid key {FAKE_KEY} or vultr-secret-123456"}}).encode()
    core_output.report_error(http_error(401, "Unauthorized", {}, body, 0), as_json)
    err = capsys.readouterr().err
    assert FAKE_KEY not in err and "vultr-secret-123456" not in err and err.count("***") == 2


def test_one_line_strips_control_characters():
    assert core_text.one_line("a\x1b[31mred\x07\n  b") == "a [31mred b"
    assert len(core_text.one_line("x" * 1000, 50)) == 50


# ---------------------------------------------------------------- run()

def test_run_maps_errors_interrupts_and_broken_pipes(capsys):
    def fail():
        raise core_errors.GradientError("auth", "HTTP 401", status=401, request_id="r1", hint="h")

    assert core_runner.run(fail, False) == 1
    assert capsys.readouterr().err == "error: HTTP 401 (request id r1); hint: h\n"
    assert core_runner.run(fail, True) == 1
    document = json.loads(capsys.readouterr().err)
    assert document == {"error": {"type": "auth", "message": "HTTP 401", "status": 401,
                                  "request_id": "r1", "hint": "h"}}

    def interrupted():
        raise KeyboardInterrupt

    assert core_runner.run(interrupted) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_error_types_are_the_documented_set():
    with pytest.raises(ValueError):
        core_errors.GradientError("oops", "not a documented type")
    for type_ in ("config", "auth", "permission", "not_found", "bad_request", "rate_limit", "server", "timeout",
                  "connection", "invalid_response", "parse", "io"):
        assert core_errors.GradientError(type_, "m").to_dict()["error"]["type"] == type_
