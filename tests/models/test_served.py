"""Defaults that follow the server: the model list (cached a day, one file), a default the server no
longer lists (a stand-in said on stderr, or a refusal naming the ids it lists), the 404 hint with
current ids, and the answer limits a server's list announces."""
from __future__ import annotations

import base64
import json
import os
import time

import pytest

import gradient_chat
import gradient_image
from conftest import parse_common, settings_from, tiny_png
from fakeapi import Reply
from gradient_inference.api.client import Client
from gradient_inference.models import served

CHAT = "/v1/chat/completions"
GENERATIONS = "/v1/images/generations"
ANSWER = {"id": "c1", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"},
                                                 "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


@pytest.fixture(autouse=True)
def unknown_server(api):
    """No list of this server is cached: the commands must ask."""
    os.unlink(os.environ["GRADIENT_MODELS_CACHE"])


def listing(*ids, **extra) -> dict:
    return {"object": "list", "data": [dict({"id": i, "object": "model", "owned_by": "digitalocean"}, **extra)
                                       for i in ids]}


def test_a_listed_default_is_sent_without_a_word(api, capsys):
    api.json("GET", "/v1/models", listing("openai-gpt-oss-120b", "llama3.3-70b-instruct"))
    api.json("POST", CHAT, ANSWER)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "2+2?"]) == 0
    assert api.calls("POST", CHAT)[0].json["model"] == "openai-gpt-oss-120b"
    assert capsys.readouterr().err == ""


def test_a_default_no_longer_listed_gives_way_to_the_next_preferred_and_says_so(api, workdir, capsys):
    """The image default moved on; the server lists only Stable Diffusion 3.5 Large."""
    api.json("GET", "/v1/models", listing("stable-diffusion-3.5-large", "llama3.3-70b-instruct"))
    api.json("POST", GENERATIONS, {"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}]})
    assert gradient_image.main(["--base-url", api.url, "--prompt", "a fox", "--output", "f.png", "--json"]) == 0
    captured = capsys.readouterr()
    assert api.calls("POST", GENERATIONS)[0].json["model"] == "stable-diffusion-3.5-large"
    assert "the default image model openai-gpt-image-2 is not served any more; using stable-diffusion-3.5-large" \
        in captured.err and "GRADIENT_IMAGE_MODEL" in captured.err
    document = json.loads(captured.out)
    assert document["model"] == "stable-diffusion-3.5-large"
    assert document["cost_usd"] == pytest.approx(0.065)  # the snapshot's published per-image price


def test_a_default_with_no_stand_in_is_refused_naming_the_ids_of_its_type(api, workdir, capsys):
    api.json("GET", "/v1/models", listing("mystery-image-9", "llama3.3-70b-instruct", "fal-ai/recraft/v3/image"))
    assert gradient_image.main(["--base-url", api.url, "--prompt", "a fox", "--output", "f.png"]) == 1
    err = capsys.readouterr().err
    assert "the default image model openai-gpt-image-2 is not served any more" in err
    assert "fal-ai/recraft/v3/image" in err and "llama3.3-70b-instruct" not in err
    assert api.calls("POST") == [] and os.listdir(workdir) == []


def test_a_pinned_model_is_sent_as_it_is_without_asking_for_the_list(api, monkeypatch, capsys):
    monkeypatch.setenv("GRADIENT_MODEL", "my-own-model")
    api.json("POST", CHAT, ANSWER)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]) == 0
    assert [c.path for c in api.requests] == [CHAT] and api.requests[0].json["model"] == "my-own-model"


def test_the_list_is_asked_once_a_day_and_shared_by_the_commands(api, capsys):
    api.json("GET", "/v1/models", listing("openai-gpt-oss-120b"))
    api.json("POST", CHAT, ANSWER)
    for _ in range(3):
        assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]) == 0
    assert len(api.calls("GET", "/v1/models")) == 1 and len(api.calls("POST", CHAT)) == 3
    path = os.environ["GRADIENT_MODELS_CACHE"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    document = json.loads(open(path).read())
    document["servers"][api.url]["fetched_at"] = "2020-01-01T00:00:00Z"  # a day later
    with open(path, "w") as handle:
        json.dump(document, handle)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]) == 0
    assert len(api.calls("GET", "/v1/models")) == 2


def test_a_list_that_cannot_be_read_sends_the_default_with_a_warning(api, capsys):
    api.add("GET", "/v1/models", Reply(503, body="<html><title>down</title></html>", headers={"Content-Type": "text/html"}))
    api.json("POST", CHAT, ANSWER)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--max-retries", "0"]) == 0
    err = capsys.readouterr().err
    assert "could not check that the default chat model openai-gpt-oss-120b is still served" in err
    assert api.calls("POST", CHAT)[0].json["model"] == "openai-gpt-oss-120b"


def test_a_planted_fifo_as_the_cache_never_blocks(api, monkeypatch, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("GRADIENT_MODELS_CACHE", str(fifo))
    api.json("GET", "/v1/models", listing("openai-gpt-oss-120b"))
    api.json("POST", CHAT, ANSWER)
    started = time.monotonic()
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]) == 0
    assert time.monotonic() - started < 5 and "ignoring the model list cache" in capsys.readouterr().err


def test_a_404_for_an_unlisted_model_names_the_current_ids_of_its_type(api, capsys):
    api.json("GET", "/v1/models", listing("anthropic-claude-4.6-sonnet", "openai-gpt-5.5", "gte-large-en-v1.5"))
    api.add("POST", CHAT, Reply(404, json={"error": {"message": "model not found"}}))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q",
                               "--model", "anthropic-claude-sonnet-4"]) == 1
    err = capsys.readouterr().err
    assert "anthropic-claude-sonnet-4 is not served here; current chat models: anthropic-claude-4.6-sonnet, " \
           "openai-gpt-5.5" in err and "gte-large" not in err


def test_a_404_for_a_listed_model_keeps_the_path_hint(api, capsys):
    api.json("GET", "/v1/models", listing("openai-gpt-5.5"))
    api.add("POST", CHAT, Reply(404, json={"error": {"message": "no such path"}}))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", "openai-gpt-5.5"]) == 1
    assert "unknown model or endpoint" in capsys.readouterr().err


def test_the_answer_limit_the_servers_list_announces_wins_over_the_table(api, capsys):
    """A budget without --max-tokens assumes the limit /v1/models announces, not the vendors' 128K."""
    api.json("GET", "/v1/models", listing("openai-gpt-5", max_output_tokens=1000, context_length="400000"))
    api.json("POST", CHAT, ANSWER)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", "openai-gpt-5",
                               "--max-cost", "0.000001"]) == 1  # pinned: the list is not asked for yet
    assert "128,000 tokens, from the vendor's published limit as of 2026-12" in capsys.readouterr().err
    served.fetch_list(Client(settings_from(parse_common("--base-url", api.url))))
    assert served.cached_entry("openai-gpt-5") == {"id": "openai-gpt-5", "owned_by": "digitalocean", "created": None,
                                                   "max_output_tokens": 1000, "context_length": 400000}
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", "openai-gpt-5",
                               "--max-cost", "0.000001"]) == 1
    assert "(assuming its largest answer, 1,000 tokens, from the server's model list; --max-tokens lowers it)" in capsys.readouterr().err


@pytest.mark.parametrize("model, limit", [("anthropic-claude-opus-4.8", "128,000"), ("openai-gpt-5.5", "128,000"),
                                          ("anthropic-claude-haiku-4.5", "64,000"),
                                          ("anthropic-claude-4.6-sonnet", "128,000")])
def test_budgets_on_current_models_assume_the_vendors_limit_when_the_catalog_has_none(api, capsys, model, limit):
    """A catalog row with prices and no answer limit: the bundled family table gives one."""
    cache = os.environ["GRADIENT_PRICING_CACHE"]
    with open(cache, "w") as handle:
        json.dump({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "url": None,
                   "models": [{"provider": "x", "model": model, "model_id": model, "input_price": 1.0,
                               "output_price": 5.0, "unit": "per 1M tokens", "source": "catalog"}]}, handle)
    os.chmod(cache, 0o600)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", model,
                               "--max-cost", "0.000001"]) == 1
    err = capsys.readouterr().err
    assert f"(assuming its largest answer, {limit} tokens, from the vendor's published limit" in err
    assert "cannot be estimated" not in err and api.calls("POST") == []


def test_messages_api_sends_the_lower_figure_where_sources_disagree():
    from gradient_inference.models import budget

    assert budget.messages_max_tokens("anthropic-claude-4.6-sonnet") == 64_000  # 64K or 128K: the one that works
    assert budget.chat_worst_case("anthropic-claude-4.6-sonnet", 3, None)[1] is not None  # no price offline: said


def test_subprocess_image_without_model_uses_the_stand_in(api, workdir, script):
    api.json("GET", "/v1/models", listing("stable-diffusion-3.5-large"))
    api.json("POST", GENERATIONS, {"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}]})
    done = script("gradient_image", "--base-url", api.url, "--prompt", "a fox", "--output", str(workdir / "f.png"))
    assert done.returncode == 0, done.stderr
    assert b"using stable-diffusion-3.5-large" in done.stderr and done.stdout.decode().strip().endswith("f.png")


def test_a_context_length_bounds_a_budget_where_no_answer_limit_is_known(api, capsys):
    """llama3.3's limit belongs to its server: with only a context length announced, a budget assumes
    it (no answer outgrows its context) instead of refusing the call as unpriceable."""
    api.json("GET", "/v1/models", listing("llama3.3-70b-instruct", context_length=8192))
    served.fetch_list(Client(settings_from(parse_common("--base-url", api.url))))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model",
                               "llama3.3-70b-instruct", "--max-cost", "0.000001"]) == 1
    err = capsys.readouterr().err
    assert "8,192 tokens, from the context length in the server's model list" in err and api.calls("POST") == []
