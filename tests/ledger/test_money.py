"""Money you can trust: every billed answer is recorded with its usage and cost whatever happens
after it arrives, free calls are 0 and unpriced ones are counted, never silently left out."""
from __future__ import annotations

import json
import sqlite3

import pytest

import gradient_chat
import gradient_models
import gradient_usage
from conftest import FAKE_KEY
from fakeapi import Reply, sse
from gradient_inference.ledger import run_usage as ledger_run_usage
from gradient_inference.ledger import store as ledger_store

CHAT = "/v1/chat/completions"
PRICED = "openai-gpt-oss-120b"  # in the bundled snapshot: $0.10 in, $0.70 out per 1M tokens
COST = round((1000 * 0.10 + 500 * 0.70) / 1e6, 8)


def calls():
    return ledger_store.rows("SELECT * FROM calls ORDER BY id", ())


def answer(content="ok", model=PRICED, tool_arguments=None):
    message = {"content": content}
    if tool_arguments is not None:
        message["tool_calls"] = [{"id": "t", "type": "function",
                                  "function": {"name": "answer", "arguments": tool_arguments}}]
    return {"id": "c", "model": model, "choices": [{"message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}


def chat(api, *argv) -> int:
    try:
        return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", PRICED, *argv])
    except SystemExit as stop:
        return stop.code


def report(capsys, *argv) -> dict:
    capsys.readouterr()
    assert gradient_usage.main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("reply, argv", [
    (answer(tool_arguments='{"title": 3}'), ["--schema", "title"]),  # the answer misses the schema
    (answer(content="", tool_arguments=None), []),  # an empty answer
    (answer(content="not json"), ["--schema", "title", "--schema-mode", "response_format"]),
])
def test_a_billed_answer_that_then_fails_a_check_keeps_its_usage_and_cost(api, capsys, reply, argv):
    api.json("POST", CHAT, reply)
    assert chat(api, "--prompt", "q", "--no-stream", *argv) == 1
    row = calls()[-1]
    assert row["outcome"] == "invalid_response"
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (1000, 500, COST)
    assert report(capsys)["total"]["cost_usd"] == COST


def test_a_stream_cut_after_its_usage_arrived_is_recorded_with_its_cost(api, capsys):
    chunks = [{"id": "s", "model": PRICED, "choices": [{"index": 0, "delta": {"content": "par"}}]},
              {"id": "s", "choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}]
    api.add("POST", CHAT, Reply(chunks=sse(*chunks, done=False), headers={"Content-Type": "text/event-stream"}))
    assert chat(api, "--prompt", "q", "--stream") == 1
    row = calls()[-1]
    assert row["outcome"] == "invalid_response" and row["cost_usd"] == COST and row["output_tokens"] == 500


def test_a_call_that_failed_before_any_answer_costs_nothing_and_says_so(api, capsys):
    api.json("POST", CHAT, {"error": {"message": "bad"}}, status=400)
    assert chat(api, "--prompt", "q", "--max-retries", "0") == 1
    row = calls()[-1]
    assert row["cost_usd"] == 0 and row["price_source"] == ledger_store.NOT_BILLED
    assert report(capsys)["total"]["unpriced_calls"] == 0


def test_model_listings_are_free_not_unknown(api, capsys):
    api.json("GET", "/v1/models", {"data": [{"id": "m"}]})
    assert gradient_models.main(["--base-url", api.url, "--ids"]) == 0
    assert calls()[-1]["cost_usd"] == 0
    document = report(capsys, "--by", "script")
    assert document["groups"] == [dict(document["groups"][0], key="models", cost_usd=0.0, unpriced_calls=0)]


def test_a_call_is_priced_by_the_model_that_served_it(api, capsys):
    api.json("POST", CHAT, answer(model=PRICED))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", "my-router", "--prompt", "q",
                               "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["model"], document["requested_model"], document["cost_usd"]) == (PRICED, "my-router", COST)
    row = calls()[-1]
    assert (row["model"], row["requested_model"], row["cost_usd"]) == (PRICED, "my-router", COST)


def test_unpriced_calls_are_counted_and_the_total_is_a_lower_bound(api, capsys):
    api.add("POST", CHAT, Reply(json=answer(model=PRICED)), Reply(json=answer(model="no-such-priced-model")))
    assert chat(api, "--prompt", "q") == 0 and chat(api, "--prompt", "q") == 0
    document = report(capsys, "--by", "model")
    assert document["total"] == dict(document["total"], calls=2, cost_usd=COST, unpriced_calls=1)
    unknown = next(g for g in document["groups"] if g["key"] == "no-such-priced-model")
    assert (unknown["cost_usd"], unknown["unpriced_calls"]) == (0.0, 1)
    assert gradient_usage.main(["--by", "model"]) == 0
    shown = capsys.readouterr()
    total = shown.out.splitlines()[-1]
    assert f"≥ ${COST:.6f}".rstrip("0") in total and total.split()[-1] == "1"
    assert "1 call have no price" in shown.err and "DIGITALOCEAN_ACCESS_TOKEN" in shown.err
    assert gradient_usage.main(["--csv", "--by", "model"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(",cost_usd,unpriced_calls,estimated_calls")


def test_a_budget_says_how_many_of_todays_calls_are_unpriced(api, capsys):
    api.json("POST", CHAT, answer(model="no-such-priced-model"))
    assert chat(api, "--prompt", "q") == 0
    assert chat(api, "--prompt", "q", "--max-tokens", "100000", "--daily-budget", "0.001") == 1
    assert "1 of today's calls have no price, so the real spend is higher" in capsys.readouterr().err


def test_spend_bars_by_day_only_on_a_terminal():
    document = {"by": "day", "since": None, "until": None,
                "groups": [dict(key=day, calls=1, errors=0, input_tokens=1, output_tokens=1, cached_input_tokens=None,
                                cost_usd=cost, unpriced_calls=0) for day, cost in
                           (("2026-11-01", 1.0), ("2026-11-02", 0.5), ("2026-11-03", 0.0))],
                "total": dict(calls=3, errors=0, input_tokens=3, output_tokens=3, cached_input_tokens=None,
                              cost_usd=1.5, unpriced_calls=0)}
    plain = ledger_run_usage.render(document)
    assert "█" not in plain
    drawn = ledger_run_usage.render(document, columns=120).splitlines()
    assert drawn[1].endswith("█" * 20) and drawn[2].endswith("█" * 10) and not drawn[3].endswith("█")
    assert max(len(line) for line in drawn) <= 120
    assert "█" not in ledger_run_usage.render(document, columns=60)  # no room: no bars
    assert ledger_run_usage.bars([2.0, 1.0, 0.25], 4) == ["████", "██", "▌"]


def test_a_ledger_of_the_last_version_has_its_model_listings_priced_free(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    database = sqlite3.connect(path)
    for step in ledger_store.MIGRATIONS[:2]:
        for statement in filter(str.strip, step.split(";")):
            database.execute(statement)
    database.execute("PRAGMA user_version = 2")
    database.execute("INSERT INTO calls (ts, script, outcome, cost_usd) VALUES ('2026-11-01T00:00:00Z', 'models', "
                     "'ok', NULL), ('2026-11-01T00:00:00Z', 'chat', 'ok', NULL)")
    database.commit()
    database.close()
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(path))
    found = {row["script"]: row for row in calls()}
    assert found["models"]["cost_usd"] == 0 and found["chat"]["cost_usd"] is None
    assert FAKE_KEY not in path.read_bytes().decode(errors="replace")


def write_cache(tmp_path, monkeypatch, **row):
    import time

    cache = tmp_path / "prices.json"
    cache.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "url": None, "models": [dict({"provider": "OpenAI", "model": "gpt-oss-120b",
                                                               "model_id": PRICED, "input_price": 0.1,
                                                               "output_price": 0.7, "unit": "per 1M tokens"}, **row)]}))
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))


@pytest.mark.parametrize("model, row, words", [
    ("llama3.3-70b-instruct", {"model": "Llama 3.3 Instruct-70B", "model_id": "llama3.3-70b-instruct"},
     "cannot be estimated, so no budget can be kept: no answer limit is known for"),
    ("no-such-priced-model", {}, "cannot be estimated, so no budget can be kept: no token price is known"),
])
def test_a_budget_refusal_names_the_cause_it_cannot_estimate(api, capsys, tmp_path, monkeypatch, model, row, words):
    write_cache(tmp_path, monkeypatch, **row)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", model, "--prompt", "q",
                               "--max-cost", "1"]) == 1
    err = capsys.readouterr().err
    assert words in err and api.calls() == []
    assert ("--max-tokens" in err) == ("limit" in words)


def test_without_max_tokens_the_worst_case_assumes_the_models_largest_answer_and_says_so(api, capsys, tmp_path,
                                                                                          monkeypatch):
    write_cache(tmp_path, monkeypatch, max_output_tokens=131072)
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", PRICED, "--prompt", "q",
                               "--max-cost", "0.01"]) == 1
    err = capsys.readouterr().err
    assert "(assuming its largest answer, 131,072 tokens, from the catalog; --max-tokens lowers it) could cost up to $0.091750" in err
    assert api.calls() == []


@pytest.mark.parametrize("model, limit", [("anthropic-claude-opus-4", "32,000"), ("openai-gpt-5-nano", "128,000")])
def test_without_the_catalog_the_vendors_published_limit_is_assumed(api, capsys, model, limit):
    """The bundled snapshot has no answer limits; the bundled table of vendors' limits gives one."""
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--model", model, "--prompt", "q",
                               "--max-cost", "0.000001"]) == 1
    err = capsys.readouterr().err
    assert f"(assuming its largest answer, {limit} tokens, from the vendor's published limit as of 2026-12; --max-tokens lowers it)" in err
    assert api.calls() == []


def test_every_output_limit_is_for_a_known_chat_model():
    from gradient_inference.models import known

    for model_id, limit in known.OUTPUT_LIMITS.items():
        assert 1_000 <= limit <= 200_000, model_id
        assert known.known_model(model_id)[0] == "chat" or model_id == "anthropic-claude-3.5-haiku", model_id


def test_cached_tokens_without_a_cache_price_make_the_cost_an_upper_bound(api, capsys):
    """The snapshot has no cache prices: 1,817 cached tokens are counted at the full input price, and
    --usage, --json and the report say that the figure is an upper bound, never exact."""
    api.json("POST", "/v1/chat/completions", {
        "id": "c", "model": "openai-gpt-oss-120b", "choices": [{"index": 0, "message": {"content": "ok"},
                                                                 "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2000, "completion_tokens": 10,
                  "prompt_tokens_details": {"cached_tokens": 1817}}})
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--model", "openai-gpt-oss-120b",
                               "--json", "--usage"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["cost_is_estimate"] is True and document["cost_usd"] == pytest.approx((2000 * 0.1 + 10 * 0.7) / 1e6)
    assert "cost at most $" in captured.err and "1,817 cached tokens counted at the input price" in captured.err
    assert gradient_usage.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["estimated_calls"] == 1
    assert gradient_usage.main([]) == 0
    captured = capsys.readouterr()
    assert "~ $" in captured.out and "an upper bound" in captured.err


def test_a_cost_without_cached_tokens_is_exact(api, capsys):
    api.json("POST", "/v1/chat/completions", {
        "id": "c", "model": "openai-gpt-oss-120b", "choices": [{"index": 0, "message": {"content": "ok"},
                                                                 "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2000, "completion_tokens": 10}})
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--json", "--usage"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cost_is_estimate"] is False and "cost at most" not in captured.err
