"""What the ledger keeps must hold up: no secret at rest, no impossible usage turned into money."""
from __future__ import annotations

import os

import pytest

import gradient_chat
from conftest import FAKE_KEY
from gradient_inference.api.usage import normalize_usage
from gradient_inference.ledger import store as ledger_store

CHAT = "/v1/chat/completions"
PRICED = "openai-gpt-oss-120b"


def chat(api, *argv) -> int:
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", PRICED, *argv])


def test_no_secret_is_stored_in_the_ledger(api, keyed, monkeypatch, tmp_path):
    token = "dop_v1_" + "f" * 40
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", token)
    api.json("POST", CHAT, {"choices": [{"message": {"content": f"your key is {FAKE_KEY}"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
             headers={"x-request-id": f"req-{token}"})
    assert chat(api, "--prompt", f"remember {FAKE_KEY} and {token}", "--system", f"sys {FAKE_KEY}") == 0
    stored = open(os.environ["GRADIENT_USAGE_DB"], "rb").read() + b"".join(
        open(os.environ["GRADIENT_USAGE_DB"] + suffix, "rb").read() for suffix in ("-wal",)
        if os.path.exists(os.environ["GRADIENT_USAGE_DB"] + suffix))
    assert FAKE_KEY.encode() not in stored and token.encode() not in stored
    row = ledger_store.rows("SELECT * FROM calls", ())[-1]
    assert "***" in row["messages"] and "***" in row["answer"] and row["request_id"] == "req-***"


@pytest.mark.parametrize("tokens", [-10 ** 9, -1, 10 ** 400, 2 ** 63, 10 ** 9 + 1, 1.5, True])
def test_impossible_usage_is_unknown_never_a_credit_or_a_crash(tokens):
    usage = normalize_usage({"prompt_tokens": tokens, "completion_tokens": 5})
    assert usage["input_tokens"] is None and usage["output_tokens"] == 5 and usage["total_tokens"] is None


def test_a_server_reporting_negative_usage_records_no_cost(api, capsys):
    api.json("POST", CHAT, {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": -10 ** 9, "completion_tokens": -10 ** 9}})
    assert chat(api, "--prompt", "q") == 0
    row = ledger_store.rows("SELECT * FROM calls", ())[-1]
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (None, None, None)
