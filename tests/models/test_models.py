"""gradient_models.py in process and as a subprocess, against the fake API."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import gradient_models
from conftest import FAKE_KEY, SCRIPTS
from fakeapi import Reply

MODELS = {"object": "list", "data": [
    {"id": "openai-gpt-oss-120b", "object": "model", "created": 1752255238, "owned_by": "digitalocean"},
    {"id": "alibaba-qwen3-32b", "object": "model", "created": 1752255238, "owned_by": "digitalocean"},
    {"id": "llama3.3-70b-instruct", "object": "model", "created": 1700000000, "owned_by": "meta"},
    {"id": "llama3-8b-instruct", "object": "model", "owned_by": "meta"},
]}


@pytest.fixture
def models_api(api, keyed):
    api.json("GET", "/v1/models", MODELS, headers={"x-request-id": "req-models"})
    return api


def run_models(api, *argv):
    return gradient_models.main(["--base-url", api.url, *argv])


def test_table_is_sorted_aligned_with_dates(models_api, capsys):
    assert run_models(models_api) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "OWNED", "BY", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == [
        "alibaba-qwen3-32b", "llama3-8b-instruct", "llama3.3-70b-instruct", "openai-gpt-oss-120b"]
    assert lines[1].split()[1:4] == ["chat", "digitalocean", "2025-07-11"]
    assert lines[2].split()[3] == "-"
    owner_column = lines[0].index("OWNED BY")
    assert all(line[owner_column - 2:owner_column] == "  " for line in lines[1:])
    assert "\x1b" not in "".join(lines)
    assert models_api.calls("GET", "/v1/models")[0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


@pytest.mark.parametrize("words, expected", [
    (["LLAMA"], ["llama3-8b-instruct", "llama3.3-70b-instruct"]),
    (["llama", "70b"], ["llama3.3-70b-instruct"]),
    (["meta"], ["llama3-8b-instruct", "llama3.3-70b-instruct"]),
    (["digitalocean", "qwen"], ["alibaba-qwen3-32b"]),
])
def test_filter_all_words_on_id_and_owner(models_api, capsys, words, expected):
    assert run_models(models_api, "--ids", "--filter", *words) == 0
    assert capsys.readouterr().out.split() == expected


def test_filter_without_match_prints_nothing_and_exits_0(models_api, capsys):
    assert run_models(models_api, "--filter", "nothing-like-this") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no model matches" in captured.err


def test_json_output(models_api, capsys):
    assert run_models(models_api, "--json", "--filter", "qwen") == 0
    assert json.loads(capsys.readouterr().out) == {
        "models": [{"id": "alibaba-qwen3-32b", "owned_by": "digitalocean", "created": 1752255238, "type": "chat",
                    "capabilities": ["tools", "reasoning"]}], "count": 1, "types_source": "bundled table"}


def test_wrong_shape_is_invalid_response(api, capsys):
    api.json("GET", "/v1/models", {"object": "list"})
    assert run_models(api, "--json") == 1
    assert json.loads(capsys.readouterr().err)["error"]["type"] == "invalid_response"


@pytest.mark.parametrize("status, body, type_, words", [
    (401, {"error": {"message": "invalid token"}}, "auth", ["HTTP 401", "invalid token", "model access key"]),
    (403, {"message": "quota exceeded"}, "permission", ["HTTP 403", "quota exceeded"]),
    (404, {"detail": "no such route"}, "not_found", ["HTTP 404", "no such route", "gradient_models.py"]),
])
def test_json_errors_with_hints(api, keyed, capsys, status, body, type_, words):
    api.json("GET", "/v1/models", body, status=status, headers={"x-request-id": "req-9"})
    assert run_models(api, "--json") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)["error"]
    assert (error["type"], error["status"], error["request_id"]) == (type_, status, "req-9")
    text = error["message"] + " " + error["hint"]
    assert all(word in text for word in words)


def test_html_502_page_is_summarised(api, capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "<p>nginx</p>" * 500 + "</body></html>"
    api.add("GET", "/v1/models", Reply(502, body=page, headers={"Content-Type": "text/html"}))
    assert run_models(api) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: server returned an HTML page (502): 502 Bad Gateway")
    assert "<p>" not in err and err.count("\n") == 1


def test_429_retry_after_1_then_success(api, capsys):
    api.add("GET", "/v1/models", Reply(429, headers={"Retry-After": "1"}), Reply(json=MODELS))
    assert run_models(api, "--ids") == 0
    assert len(api.calls("GET", "/v1/models")) == 2
    assert "openai-gpt-oss-120b" in capsys.readouterr().out


def test_429_retry_after_an_hour_is_not_retried(api, capsys):
    api.add("GET", "/v1/models", Reply(429, headers={"Retry-After": "3600"},
                                       json={"error": {"message": "slow down"}}))
    assert run_models(api) == 1
    assert len(api.calls()) == 1
    err = capsys.readouterr().err
    assert "HTTP 429" in err and "wait 3600 s" in err and "try again after" in err


def test_500_three_times_then_gives_up(api, capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    api.add("GET", "/v1/models", Reply(500, json={"error": {"message": "boom"}}))
    assert run_models(api) == 1
    assert len(api.calls()) == 3
    assert "retried 2 times" in capsys.readouterr().err


def test_connection_refused(capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert gradient_models.main(["--base-url", "http://127.0.0.1:9/v1"]) == 1
    assert "connection refused by 127.0.0.1:9" in capsys.readouterr().err


def test_timeout(api, capsys):
    api.add("GET", "/v1/models", Reply(json=MODELS, delay=2))
    assert run_models(api, "--timeout", "0.3", "--max-retries", "0") == 1
    assert "error: no answer from" in capsys.readouterr().err


def test_missing_key_exits_1_before_any_request(capsys):
    assert gradient_models.main([]) == 1
    err = capsys.readouterr().err
    assert "GRADIENT_API_KEY" in err and "Model access keys" in err


def test_verbose_never_shows_the_key(models_api, capsys):
    assert run_models(models_api, "--verbose") == 0
    captured = capsys.readouterr()
    assert "Bearer ***" in captured.err and FAKE_KEY not in captured.err + captured.out


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        gradient_models.main(["--no-such-flag"])
    assert caught.value.code == 2


# ---------------------------------------------------------------- as processes

def test_subprocess_table_and_json(models_api, script):
    done = script("gradient_models", "--base-url", models_api.url)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode().splitlines()[1].startswith("alibaba-qwen3-32b")
    done = script("gradient_models", "--base-url", models_api.url, "--json")
    assert json.loads(done.stdout)["count"] == 4


def test_subprocess_error_and_exit_codes(api, script):
    api.json("GET", "/v1/models", {"error": {"message": "bad key"}}, status=401)
    done = script("gradient_models", "--base-url", api.url, env={"GRADIENT_API_KEY": FAKE_KEY, })
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().startswith("error: HTTP 401 Unauthorized: bad key")
    assert FAKE_KEY.encode() not in done.stderr
    assert script("gradient_models", "--frobnicate").returncode == 2
    done = script("gradient_models")
    assert done.returncode == 1 and b"GRADIENT_API_KEY" in done.stderr


def test_subprocess_runs_from_any_directory(models_api, tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_models.py"), "--ids",
                           "--base-url", models_api.url], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 4


def test_subprocess_help_has_examples(script):
    done = script("gradient_models", "--help")
    assert done.returncode == 0 and b"examples:" in done.stdout and b"--filter" in done.stdout


def test_broken_pipe_has_no_traceback(api):
    many = {"data": [{"id": f"model-{i:05d}", "owned_by": "x"} for i in range(20000)]}
    api.json("GET", "/v1/models", many)
    command = (f"{sys.executable} {SCRIPTS / 'gradient_models.py'} --ids --base-url {api.url} | head -n 1")
    done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60)
    assert done.stdout == b"model-00000\n"
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr


def test_prices_column_and_json_pricing_object(models_api, capsys):
    assert run_models(models_api, "--prices") == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("prices: bundled snapshot of 2026-02-16, ") and captured.err.count("\n") == 1
    lines = captured.out.splitlines()
    assert "IN $/1M" in lines[0] and "OUT $/1M" in lines[0]
    by_id = {line.split()[0]: line.split() for line in lines[1:]}
    assert by_id["openai-gpt-oss-120b"][-2:] == ["0.1", "0.7"]
    assert by_id["alibaba-qwen3-32b"][-2:] == ["0.25", "0.55"]
    assert by_id["llama3-8b-instruct"][-2:] == ["-", "-"]  # no sure match: no price
    assert run_models(models_api, "--prices", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["prices_source"].startswith("prices: bundled snapshot of 2026-02-16, ")
    models = {m["id"]: m for m in document["models"]}
    assert models["llama3.3-70b-instruct"]["pricing"]["model"] == "Llama 3.3 Instruct-70B"
    assert models["llama3.3-70b-instruct"]["pricing"]["input_price"] == 0.65
    assert models["llama3-8b-instruct"]["pricing"] is None


@pytest.mark.parametrize("name", ["gradient_models", "gradient_chat", "gradient_image", "gradient_pricing",
                                  "gradient_embed", "gradient_audio"])
def test_version(script, name):
    done = script(name, "--version")
    assert done.returncode == 0 and done.stdout.decode().startswith("gradient-inference 0.")


def test_capability_filters_and_the_note_when_the_bundled_table_finds_nothing(api, capsys):
    import json as _json

    api.json("GET", "/v1/models", {"data": [{"id": "openai-gpt-5-mini"}, {"id": "llama3.3-70b-instruct"},
                                            {"id": "mystery-embedder"}]})
    assert gradient_models.main(["--base-url", api.url, "--capability", "vision", "--capability", "tools",
                                 "--json"]) == 0
    assert [m["id"] for m in _json.loads(capsys.readouterr().out)["models"]] == ["openai-gpt-5-mini"]
    assert gradient_models.main(["--base-url", api.url, "--type", "embedding", "--ids"]) == 0
    err = capsys.readouterr().err
    assert "does not know 1 of the listed ids (mystery-embedder)" in err and "DIGITALOCEAN_ACCESS_TOKEN" in err


def test_the_unknown_ids_are_said_also_when_some_match_and_carried_in_json(api, capsys):
    """A vision listing that found some models still says which listed ids the table did not know."""
    import json as _json

    api.json("GET", "/v1/models", {"data": [{"id": "anthropic-claude-4.6-sonnet"}, {"id": "openai-gpt-5.5"},
                                            {"id": "mystery-vlm-2027"}, {"id": "gte-large-en-v1.5"}]})
    assert gradient_models.main(["--base-url", api.url, "--capability", "vision", "--json"]) == 0
    captured = capsys.readouterr()
    document = _json.loads(captured.out)
    assert [m["id"] for m in document["models"]] == ["anthropic-claude-4.6-sonnet", "openai-gpt-5.5"]
    assert document["unknown_ids"] == ["mystery-vlm-2027"] and document["unknown_count"] == 1
    assert document["bundled_table_date"] == "2026-12-07"
    assert "does not know 1 of the listed ids (mystery-vlm-2027)" in captured.err
    assert gradient_models.main(["--base-url", api.url, "--type", "embedding", "--ids"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "gte-large-en-v1.5\n" and "mystery-vlm-2027" in captured.err
    assert gradient_models.main(["--base-url", api.url, "--json"]) == 0  # no filter: nothing to say
    captured = capsys.readouterr()
    assert "unknown_ids" not in _json.loads(captured.out) and "does not know" not in captured.err


@pytest.mark.parametrize("model_id, kind", [
    ("anthropic-claude-4.6-sonnet", "chat"), ("anthropic-claude-opus-4.8", "chat"), ("anthropic-claude-haiku-4.5", "chat"),
    ("openai-gpt-5.5", "chat"), ("openai-gpt-5.4-mini", "chat"), ("openai-gpt-image-2", "image"),
    ("stable-diffusion-3.5-large", "image"), ("wan2-2-t2v-a14b", "video"), ("qwen3-tts-voicedesign", "speech"),
    ("gte-large-en-v1.5", "embedding"), ("all-mini-lm-l6-v2", "embedding"), ("multi-qa-mpnet-base-dot-v1", "embedding"),
    ("router:cheap-and-fast", "router")])
def test_the_current_ids_are_typed(api, capsys, model_id, kind):
    import json as _json

    api.json("GET", "/v1/models", {"data": [{"id": model_id}]})
    assert gradient_models.main(["--base-url", api.url, "--type", kind, "--json"]) == 0
    captured = capsys.readouterr()
    assert [m["id"] for m in _json.loads(captured.out)["models"]] == [model_id]
    assert "does not know" not in captured.err


def test_one_answer_on_what_the_batch_api_takes(api, capsys):
    """--capability batch, --remote and --estimate --batch ask models.known.batch_provider: offline,
    OpenAI's and Anthropic's own models, not the open-weight gpt-oss or Llama; the catalog's word wins."""
    from gradient_inference.models.known import batch_provider

    listed = ["anthropic-claude-haiku-4.5", "llama3.3-70b-instruct", "openai-gpt-5-mini", "openai-gpt-oss-20b",
              "openai-gpt-image-2"]
    api.json("GET", "/v1/models", {"data": [{"id": i} for i in listed]})
    assert gradient_models.main(["--base-url", api.url, "--capability", "batch", "--ids"]) == 0
    taken = capsys.readouterr().out.split()
    assert taken == ["anthropic-claude-haiku-4.5", "openai-gpt-5-mini"]
    assert [m for m in listed if batch_provider(m)] == taken
    catalog_llama = {"model_id": "llama3.3-70b-instruct", "source": "catalog", "batch_input_price": 0.3,
                     "batch_output_price": 0.3, "capabilities": []}
    assert batch_provider("llama3.3-70b-instruct", catalog_llama) == "openai"  # the catalog says it is taken
    assert batch_provider("openai-gpt-5-mini", {"source": "catalog", "capabilities": []}) is None  # or not
