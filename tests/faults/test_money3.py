"""Trust, third round, money: a per-unit row's provider is its vendor, never the heading above it;
fal audio billed per second costs seconds x price; a batch refused by its budget names the answer
limit it assumed and --max-tokens, in the chat command's words."""
from __future__ import annotations

import json
import time

import pytest

import gradient_audio
import gradient_batch
import gradient_pricing
from fakeapi import Reply

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16
TWIN = """# Pricing

**Image and Audio Generation**

| Model | Price |
|---|---|
| FLUX.1 [schnell] | $0.003 per megapixel |
| Mystery Painter 3 | $0.01 per image |
"""


def test_a_per_unit_rows_provider_is_its_vendor_never_the_heading(api, monkeypatch, capsys, tmp_path):
    api.add("GET", "/pricing/", Reply(body="<html><body><h1>Pricing</h1></body></html>",
                                      headers={"Content-Type": "text/html"}))
    api.add("GET", "/pricing/index.html.md", Reply(body=TWIN, headers={"Content-Type": "text/markdown"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    assert gradient_pricing.main(["--json", "--no-cache", "--cache-file", str(tmp_path / "c.json"),
                                  "--max-retries", "0"]) == 0
    rows = {row["model"]: row["provider"] for row in json.loads(capsys.readouterr().out)["models"]}
    assert rows == {"FLUX.1 [schnell]": "fal", "Mystery Painter 3": ""}


def priced_cache(tmp_path, monkeypatch, rows):
    cache = tmp_path / "prices.json"
    cache.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "url": None, "models": rows}))
    cache.chmod(0o600)
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))


@pytest.mark.parametrize("argv, seconds", [([], 10), (["--seconds", "8"], 8)])
def test_fal_audio_billed_per_second_costs_seconds_times_price(api, workdir, monkeypatch, capsys, tmp_path, argv, seconds):
    model = "fal-ai/stable-audio-25/text-to-audio"
    priced_cache(tmp_path, monkeypatch, [{"provider": "fal", "model": "Stable Audio 2.5", "model_id": model,
                                          "price": 0.02, "unit": "per second"}])
    api.json("POST", "/v1/async-invoke", {"request_id": "r1", "status": "QUEUED"})
    api.json("GET", "/v1/async-invoke/r1/status", {"status": "COMPLETED"})
    api.json("GET", "/v1/async-invoke/r1", {"request_id": "r1", "status": "COMPLETED",
                                            "output": {"audio": {"url": api.origin + "/files/a.mp3"}}})
    api.add("GET", "/files/a.mp3", Reply(body=MP3, headers={"Content-Type": "audio/mpeg"}))
    assert gradient_audio.main(["speak", "--base-url", api.url, "--model", model, "--text", "rain", "--output",
                                "a.mp3", "--json", "--poll-interval", "0.05", *argv]) == 0
    assert json.loads(capsys.readouterr().out)["cost_usd"] == pytest.approx(0.02 * seconds)


def test_a_remote_batch_refused_by_its_budget_names_the_limit_it_assumed(api, capsys, tmp_path):
    (tmp_path / "in.jsonl").write_text('"a"\n"b"\n')
    code = gradient_batch.main(["--remote", str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model",
                                "openai-gpt-5-mini", "--max-cost", "0.001"])
    err = capsys.readouterr().err
    assert code == 1 and "(assuming its largest answer, 128,000 tokens, from the vendor's published limit" in err
    assert "--max-tokens lowers it" in err and api.calls("POST") == []


def test_a_local_batch_stopped_by_its_budget_names_the_limit_it_assumed(api, capsys, tmp_path):
    api.json("POST", "/v1/chat/completions", {"id": "c", "model": "openai-gpt-5-mini", "choices": [
        {"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3}})
    (tmp_path / "in.jsonl").write_text('"a"\n"b"\n')
    code = gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model", "openai-gpt-5-mini",
                                "--max-cost", "0.001"])
    err = capsys.readouterr().err
    assert code == 1 and "--max-cost $0.001 would be passed (assuming its largest answer, 128,000 tokens" in err
    assert "--max-tokens lowers it" in err
