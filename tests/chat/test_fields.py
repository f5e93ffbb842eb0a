"""The request fields DigitalOcean documents for some models: reasoning.max_tokens (Anthropic on chat
completions), reasoning_effort max, prompt_cache_retention (OpenAI's own models); each refused before
anything is sent where it does not apply."""
from __future__ import annotations

import pytest

import gradient_chat
from fakeapi import Reply

ANSWER = {"id": "c1", "object": "chat.completion", "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
RESPONSE = {"id": "r1", "object": "response", "model": "m", "status": "completed", "output": [
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}],
    "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}}
CLAUDE, GPT = "anthropic-claude-4.6-sonnet", "openai-gpt-5.5"


def chat(api, *argv):
    return gradient_chat.main(["--base-url", api.url, "--no-stream", "Q", *argv])


def sent(api, path="/v1/chat/completions"):
    return api.calls("POST", path)[0].json


def test_reasoning_tokens_go_to_anthropic_models_with_the_effort(api, capsys):
    api.json("POST", "/v1/chat/completions", ANSWER)
    assert chat(api, "--model", CLAUDE, "--reasoning-tokens", "4000", "--reasoning-effort", "high",
                "--max-tokens", "8000") == 0
    body = sent(api)
    assert body["reasoning"] == {"effort": "high", "max_tokens": 4000} and "reasoning_effort" not in body
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 8000  # a local server takes max_tokens


def test_reasoning_tokens_alone(api, capsys):
    api.json("POST", "/v1/chat/completions", ANSWER)
    assert chat(api, "--model", CLAUDE, "--reasoning-tokens", "1024") == 0
    assert sent(api)["reasoning"] == {"max_tokens": 1024}


def test_reasoning_effort_max_is_sent(api, capsys):
    api.json("POST", "/v1/chat/completions", ANSWER)
    assert chat(api, "--model", GPT, "--reasoning-effort", "max") == 0
    assert sent(api)["reasoning_effort"] == "max"


@pytest.mark.parametrize("api_flag, path", [([], "/v1/chat/completions"), (["--responses-api"], "/v1/responses")])
def test_cache_retention_goes_to_openai_models_on_both_apis(api, capsys, api_flag, path):
    api.json("POST", path, ANSWER if path.endswith("completions") else RESPONSE)
    assert chat(api, "--model", GPT, "--cache-retention", "24h", *api_flag) == 0
    assert sent(api, path)["prompt_cache_retention"] == "24h"


def test_no_field_is_sent_unasked(api, capsys):
    api.json("POST", "/v1/chat/completions", ANSWER)
    assert chat(api, "--model", CLAUDE) == 0
    assert not {"reasoning", "reasoning_effort", "prompt_cache_retention"} & set(sent(api))


@pytest.mark.parametrize("argv, words", [
    (["--model", GPT, "--reasoning-tokens", "100"], "goes to anthropic-* models on chat completions, not to openai"),
    (["--model", "openai-gpt-oss-120b", "--reasoning-tokens", "100"], "not to openai-gpt-oss-120b"),
    (["--model", "router:fast", "--reasoning-tokens", "100"], "not to router:fast"),
    (["--model", CLAUDE, "--reasoning-tokens", "100", "--messages-api"], "drop --messages-api"),
    (["--model", CLAUDE, "--reasoning-tokens", "100", "--responses-api"], "drop --messages-api or --responses-api"),
    (["--model", CLAUDE, "--reasoning-tokens", "800", "--max-tokens", "800"], "must be less than --max-tokens"),
    (["--model", CLAUDE, "--cache-retention", "24h"], "goes to OpenAI's own models"),
    (["--model", "openai-gpt-oss-120b", "--cache-retention", "in_memory"], "not to openai-gpt-oss-120b"),
    (["--model", GPT, "--cache-retention", "24h", "--messages-api"], "drop --messages-api"),
    (["--cache-retention", "24h"], "not to openai-gpt-oss-120b"),  # the default model is open-weight
])
def test_fields_a_model_or_api_cannot_take_are_usage_errors_before_sending(api, capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        chat(api, *argv)
    assert exit_.value.code == 2 and words in capsys.readouterr().err
    assert api.calls("POST") == []


@pytest.mark.parametrize("argv", [["--reasoning-tokens", "0"], ["--reasoning-effort", "maximum"],
                                  ["--cache-retention", "1h"]])
def test_bad_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        gradient_chat.main(["Q", *argv])
    assert exit_.value.code == 2
