"""End-to-end against a real OpenAI-compatible server. Opt-in: set GRADIENT_E2E_BASE_URL
(e.g. http://127.0.0.1:8080/v1) and, if it needs one, GRADIENT_E2E_API_KEY; GRADIENT_E2E_MODEL
picks the model (default: the first one the server lists). README explains a fully offline run."""
from __future__ import annotations

import json
import os

import pytest

from conftest import run_script

BASE_URL = os.environ.get("GRADIENT_E2E_BASE_URL", "")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="set GRADIENT_E2E_BASE_URL to run against a real server")


@pytest.fixture(scope="module")
def server_env():
    env = {"GRADIENT_TIMEOUT": "300"}
    if os.environ.get("GRADIENT_E2E_API_KEY"):
        env["GRADIENT_API_KEY"] = os.environ["GRADIENT_E2E_API_KEY"]
    return env


@pytest.fixture(scope="module")
def model(server_env):
    chosen = os.environ.get("GRADIENT_E2E_MODEL")
    if chosen:
        return chosen
    done = run_script("gradient_models", "--base-url", BASE_URL, "--ids", env=server_env)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().split()[0]


def test_models_list(server_env):
    done = run_script("gradient_models", "--base-url", BASE_URL, "--json", env=server_env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["count"] >= 1 and all(m["id"] for m in document["models"])


def test_chat_non_streaming_envelope_with_real_usage(server_env, model):
    done = run_script("gradient_chat", "--base-url", BASE_URL, "--model", model, "--prompt",
                      "Say hello in three words.", "--max-tokens", "24", "--json", env=server_env, timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["api"] == "chat" and document["content"].strip()
    usage = document["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert document["duration_ms"] > 0


def test_chat_streaming(server_env, model):
    done = run_script("gradient_chat", "--base-url", BASE_URL, "--model", model, "--prompt", "Count to five.",
                      "--max-tokens", "24", "--stream", "--usage", env=server_env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip()
    assert b"tokens:" in done.stderr


def test_chat_streaming_json_envelope(server_env, model):
    done = run_script("gradient_chat", "--base-url", BASE_URL, "--model", model, "--prompt", "Name a colour.",
                      "--max-tokens", "16", "--stream", "--json", env=server_env, timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["content"].strip() and document["finish_reason"] in ("stop", "length")


def test_schema_returns_an_object_that_passes_the_check(server_env, model):
    """--schema against a real local server: response_format (json_schema, else json_object with
    a schema, as llama-cpp-python's server takes it) makes even a small model answer in shape."""
    done = run_script("gradient_chat", "--base-url", BASE_URL, "--model", model, "--no-stdin", "--prompt",
                      "Give a colour and how many letters its name has.", "--schema", "colour, letters int",
                      "--max-tokens", "64", "--json", env=server_env, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert isinstance(data["colour"], str) and isinstance(data["letters"], int) and not isinstance(data["letters"], bool)


def test_batch_of_three_prompts(server_env, model):
    items = "".join(json.dumps(p) + "\n" for p in ("Say hi.", "Name a colour.", "Name a fruit."))
    done = run_script("gradient_batch", "-", "--base-url", BASE_URL, "--model", model, "--max-tokens", "16",
                      "--concurrency", "2", "--ordered", input=items, env=server_env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [line["custom_id"] for line in lines] == ["line-1", "line-2", "line-3"]
    assert all(line["status"] == "ok" and line["usage"]["output_tokens"] > 0 for line in lines)
    assert b"3 ok, 0 failed" in done.stderr
