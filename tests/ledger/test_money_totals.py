"""Every command against fakes, case after case: after each, gradient_usage.py --json equals the sum
of the calls' billed usage at the listed prices, and the calls without a price are counted."""
from __future__ import annotations

import base64
import json
import time

import pytest

import gradient_audio
import gradient_batch
import gradient_chat
import gradient_embed
import gradient_image
import gradient_models
import gradient_usage
from conftest import tiny_png
from fakeapi import Reply, sse

CHAT = "/v1/chat/completions"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16
PRICES = [  # the listed prices the totals are checked against
    {"model": "gpt-oss-120b", "model_id": "openai-gpt-oss-120b", "input_price": 0.1, "output_price": 0.7},
    {"model": "GTE Large", "model_id": "gte-large-en-v1.5", "input_price": 0.09, "output_price": None},
    {"model": "GPT Image 1", "model_id": "openai-gpt-image-1", "price": 0.04, "unit": "per image"},
    {"model": "TTS", "model_id": "tts-1", "price": 0.015, "unit": "per 1K characters"},
    {"model": "Whisper", "model_id": "whisper-1", "price": 0.0001, "unit": "per second"},
]


def chat_answer(content="ok", model="openai-gpt-oss-120b", prompt=1000, completion=500, tool=None):
    message = {"content": content}
    if tool is not None:
        message["tool_calls"] = [{"id": "t", "type": "function", "function": {"name": "answer", "arguments": tool}}]
    return {"model": model, "choices": [{"message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def tokens(prompt, completion):
    return (prompt * 0.1 + completion * 0.7) / 1e6


@pytest.fixture
def priced(tmp_path, monkeypatch):
    cache = tmp_path / "prices.json"
    rows = [dict({"provider": "P", "unit": "per 1M tokens"}, **row) for row in PRICES]
    cache.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "url": None, "models": rows}))
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))


def case_chat(api, tmp_path):
    api.json("POST", CHAT, chat_answer())
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]), tokens(1000, 500), 0


def case_schema_fails(api, tmp_path):
    api.json("POST", CHAT, chat_answer(content=None, tool='{"x": 1}', prompt=200, completion=100))
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--schema", "title",
                               "--no-stream"]), tokens(200, 100), 0


def case_cut_stream(api, tmp_path):
    api.add("POST", CHAT, Reply(chunks=sse({"model": "openai-gpt-oss-120b", "choices": [{"delta": {"content": "a"}}]},
                                           {"choices": [], "usage": {"prompt_tokens": 300, "completion_tokens": 30}},
                                           done=False), headers={"Content-Type": "text/event-stream"}))
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--stream"]), tokens(300, 30), 0


def case_refused(api, tmp_path):
    api.json("POST", CHAT, {"error": {"message": "no"}}, status=400)
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--max-retries", "0"]), 0.0, 0


def case_unpriced(api, tmp_path):
    api.json("POST", CHAT, chat_answer(model="a-model-with-no-price"))
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]), 0.0, 1


def case_models(api, tmp_path):
    api.json("GET", "/v1/models", {"data": [{"id": "m"}]})
    return gradient_models.main(["--base-url", api.url, "--ids"]), 0.0, 0


def case_embed(api, tmp_path):
    api.json("POST", "/v1/embeddings", {"data": [{"index": 0, "embedding": [0.1]}], "model": "gte-large-en-v1.5",
                                        "usage": {"prompt_tokens": 2000, "total_tokens": 2000}})
    return gradient_embed.main(["--base-url", api.url, "--model", "gte-large-en-v1.5", "--input", "x"]), \
        2000 * 0.09 / 1e6, 0


def case_image(api, tmp_path):
    api.json("POST", "/v1/images/generations", {"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}] * 2})
    return gradient_image.main(["--base-url", api.url, "--prompt", "x", "--n", "2", "--model", "openai-gpt-image-1",
                                "--output", str(tmp_path / "i.png")]), 2 * 0.04, 0


def case_speech(api, tmp_path):
    api.add("POST", "/v1/audio/speech", Reply(body=MP3))
    return gradient_audio.main(["speak", "--base-url", api.url, "--model", "tts-1", "--text", "x" * 2000,
                                "--output", str(tmp_path / "s.mp3")]), 2 * 0.015, 0


def case_transcription(api, tmp_path):
    (tmp_path / "a.mp3").write_bytes(MP3)
    api.json("POST", "/v1/audio/transcriptions", {"text": "hello", "duration": 60})
    return gradient_audio.main(["transcribe", "--base-url", api.url, "--model", "whisper-1", "--file",
                                str(tmp_path / "a.mp3"), "--json"]), 60 * 0.0001, 0


def case_batch(api, tmp_path):
    api.add("POST", CHAT, Reply(json=chat_answer(content=None, tool='{"title": "a"}', prompt=100, completion=10)),
            Reply(json=chat_answer(content=None, tool='{"nothing": 1}', prompt=100, completion=10)))
    (tmp_path / "in.jsonl").write_text('"a"\n"b"\n')
    return gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--schema", "title",
                                "--concurrency", "1", "--model", "openai-gpt-oss-120b"]), 2 * tokens(100, 10), 0


CASES = [case_chat, case_schema_fails, case_cut_stream, case_refused, case_unpriced, case_models, case_embed,
         case_image, case_speech, case_transcription, case_batch]


def test_after_every_case_the_totals_are_the_billed_usage_at_the_listed_prices(api, priced, tmp_path, capsys):
    expected, unpriced = 0.0, 0
    for case in CASES:
        api.routes.clear()
        _, cost, missing = case(api, tmp_path)
        expected, unpriced = expected + cost, unpriced + missing
        capsys.readouterr()
        assert gradient_usage.main(["--json"]) == 0
        total = json.loads(capsys.readouterr().out)["total"]
        assert total["cost_usd"] == pytest.approx(expected, abs=1e-8), case.__name__
        assert total["unpriced_calls"] == unpriced, case.__name__
