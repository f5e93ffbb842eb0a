"""The Inference Router: the pick recorded and priced in chat (three APIs) and batch, routers listed
with their candidates, a router's call budgeted at its most expensive candidate."""
from __future__ import annotations

import json

import pytest

import gradient_batch
import gradient_chat
import gradient_models
import gradient_usage
import fakecatalog
from gradient_inference.ledger import store as ledger_store
from gradient_inference.models import routers
from conftest import seed_model_list
from fakeapi import Reply, sse_reply

ROUTER = "router:fast"
PICK = "openai-gpt-oss-120b"  # $0.10 in, $0.70 out per 1M tokens in the bundled snapshot
DEAR = "anthropic-claude-haiku-4.5"  # $1 in, $5 out
ROUTERS = {"model_routers": [
    {"uuid": "r-1", "name": "fast", "description": "cheap first", "fallback_models": [PICK],
     "policies": [{"task_slug": "summarization", "models": [{"uuid": "m-2", "name": DEAR}, PICK],
                   "selection_policy": {"prefer": "cheapest"}}]},
    {"uuid": "r-2", "name": "empty", "fallback_models": [], "policies": []},
], "meta": {"page": 1, "pages": 1, "total": 2}}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
PICK_COST = (1000 * 0.1 + 100 * 0.7) / 1e6


def completion(model=PICK, **extra):
    return dict({"id": "c1", "object": "chat.completion", "model": model, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}], "usage": USAGE},
        **extra)


def ledger():
    return ledger_store.rows("SELECT model, requested_model, cost_usd, price_source FROM calls WHERE script != 'models'")


def chat(api, *argv):
    return gradient_chat.main(["--base-url", api.url, "--model", ROUTER, "--prompt", "hello", *argv])


@pytest.fixture
def token(api, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", fakecatalog.TOKEN)
    monkeypatch.setenv("DIGITALOCEAN_API_URL", api.origin)
    api.json("GET", "/v2/gen-ai/models/routers", ROUTERS)
    return api


# ---------------------------------------------------------------- the pick


def test_picked_model_reads_the_answer_then_the_header():
    assert routers.picked_model(ROUTER, PICK, {}) == PICK
    assert routers.picked_model(ROUTER, ROUTER, {routers.PICK_HEADER: DEAR}) == DEAR
    assert routers.picked_model(ROUTER, None, {routers.PICK_HEADER: "bad id\x1b[2J"}) is None
    assert routers.picked_model(PICK, DEAR, {routers.PICK_HEADER: DEAR}) is None  # not a router call


def test_chat_records_and_prices_the_model_the_router_picked(api, capsys):
    api.json("POST", "/v1/chat/completions", completion())
    assert chat(api, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == PICK and document["requested_model"] == ROUTER
    assert document["cost_usd"] == pytest.approx(PICK_COST)
    assert api.calls("POST")[0].json["model"] == ROUTER
    assert ledger() == [{"model": PICK, "requested_model": ROUTER, "cost_usd": pytest.approx(PICK_COST),
                         "price_source": ledger()[0]["price_source"]}]


def test_the_header_names_the_pick_when_the_answer_names_the_router(api, capsys):
    api.add("POST", "/v1/chat/completions", Reply(json=completion(model=ROUTER),
                                                  headers={"x-model-router-selected-route": DEAR}))
    assert chat(api, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == DEAR and document["cost_usd"] == pytest.approx((1000 * 1 + 100 * 5) / 1e6)


def test_a_call_whose_pick_is_unknown_is_unpriced_and_says_why(api, capsys):
    api.json("POST", "/v1/chat/completions", completion(model=ROUTER))
    assert chat(api, "--json", "--usage") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cost_usd"] is None
    assert "the router did not say which model it picked" in captured.err
    assert ledger()[0]["cost_usd"] is None


def test_a_streamed_router_call_takes_the_pick_from_the_header(api, capsys):
    api.add("POST", "/v1/chat/completions", sse_reply(
        {"id": "c1", "model": ROUTER, "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"id": "c1", "model": ROUTER, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE},
        headers={"x-model-router-selected-route": PICK}))
    assert chat(api, "--stream") == 0
    assert capsys.readouterr().out.startswith("Hi")
    assert ledger()[0]["model"] == PICK and ledger()[0]["cost_usd"] == pytest.approx(PICK_COST)


def test_the_messages_api_records_the_pick(api, capsys):
    api.json("POST", "/v1/messages", {"id": "m1", "type": "message", "role": "assistant", "model": DEAR,
                                      "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
                                      "usage": {"input_tokens": 1000, "output_tokens": 100}})
    assert chat(api, "--messages-api", "--max-tokens", "200", "--json") == 0
    assert json.loads(capsys.readouterr().out)["model"] == DEAR
    assert ledger()[0]["requested_model"] == ROUTER and ledger()[0]["model"] == DEAR


def test_the_responses_api_records_the_pick(api, capsys):
    api.add("POST", "/v1/responses", Reply(json={
        "id": "r1", "object": "response", "model": ROUTER, "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]}],
        "usage": {"input_tokens": 1000, "output_tokens": 100, "total_tokens": 1100}},
        headers={"x-model-router-selected-route": PICK}))
    assert chat(api, "--responses-api", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == PICK and document["cost_usd"] == pytest.approx(PICK_COST)


def test_reports_by_model_name_the_router(api, capsys):
    api.json("POST", "/v1/chat/completions", completion())
    assert chat(api) == 0
    capsys.readouterr()
    assert gradient_usage.main(["--by", "model", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert [g["key"] for g in groups] == [f"{PICK} via {ROUTER}"]


# ---------------------------------------------------------------- budgets


def test_a_budget_prices_a_router_call_at_its_most_expensive_candidate(token, capsys):
    token.json("POST", "/v1/chat/completions", completion())
    assert chat(token, "--max-tokens", "1000", "--max-cost", "0.004") == 1  # haiku: 1000 out at $5/1M = $0.005
    err = capsys.readouterr().err
    assert "at its most expensive candidate, anthropic-claude-haiku-4.5" in err
    assert token.calls("POST") == []
    assert chat(token, "--max-tokens", "1000", "--max-cost", "0.01") == 0
    assert len(token.calls("POST", "/v1/chat/completions")) == 1
    routers_call = token.calls("GET", "/v2/gen-ai/models/routers")[0]
    assert routers_call.headers["Authorization"] == f"Bearer {fakecatalog.TOKEN}"
    assert "per_page=100" in routers_call.query


def test_without_a_token_a_router_call_is_unpriced_under_a_budget(api, capsys):
    api.json("POST", "/v1/chat/completions", completion())
    assert chat(api, "--max-cost", "1") == 1
    err = capsys.readouterr().err
    assert "candidate models are not known" in err and "DIGITALOCEAN_ACCESS_TOKEN" in err
    assert api.calls("POST") == []
    assert chat(api, "--max-cost", "1", "--allow-unpriced") == 0


def test_a_router_with_no_candidates_is_unpriced(token, capsys):
    assert gradient_chat.main(["--base-url", token.url, "--model", "router:empty", "--prompt", "x",
                               "--max-cost", "1"]) == 1
    err = capsys.readouterr().err
    assert "router:empty names no candidate models" in err and token.calls("POST") == []


def test_batch_items_to_a_router_are_budgeted_recorded_and_priced(token, tmp_path, capsys):
    token.json("POST", "/v1/chat/completions", completion())
    items = tmp_path / "in.jsonl"
    items.write_text("".join(json.dumps({"custom_id": f"i{n}", "prompt": "hi"}) + "\n" for n in range(3)))
    assert gradient_batch.main([str(items), "--base-url", token.url, "--model", ROUTER, "--output",
                                str(tmp_path / "out.jsonl"), "--max-tokens", "100", "--max-cost", "1"]) == 0
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" and r["cost_usd"] == pytest.approx(PICK_COST) for r in results)
    assert {(r["model"], r["requested_model"]) for r in ledger()} == {(PICK, ROUTER)}
    assert len(token.calls("GET", "/v2/gen-ai/models/routers")) == 1  # read once a run


# ---------------------------------------------------------------- listing


def test_models_lists_routers_with_their_candidates(token, capsys):
    token.json("GET", "/v1/models", {"object": "list", "data": [
        {"id": PICK, "object": "model", "owned_by": "openai"}, {"id": ROUTER, "object": "model", "owned_by": "digitalocean"}]})
    fakecatalog.install(token)
    assert gradient_models.main(["--base-url", token.url, "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert models[ROUTER]["type"] == "router" and models[ROUTER]["candidates"] == [PICK, DEAR]
    assert "candidates" not in models[PICK]
    assert gradient_models.main(["--base-url", token.url]) == 0
    table = capsys.readouterr().out
    assert "ROUTES TO" in table and f"{PICK}, {DEAR}" in table


def test_models_without_a_token_lists_routers_by_type(api, capsys):
    api.json("GET", "/v1/models", {"object": "list", "data": [{"id": ROUTER, "object": "model"}]})
    assert gradient_models.main(["--base-url", api.url, "--type", "router", "--ids"]) == 0
    assert capsys.readouterr().out == f"{ROUTER}\n"
    assert api.calls("GET", "/v2/gen-ai/models/routers") == []


def test_hostile_router_documents_are_read_safely():
    found = routers.parse_routers({"model_routers": [
        {"name": "ok", "fallback_models": ["a", 5, None, {"name": "b"}, "bad id", "router:loop"],
         "policies": "nope"},
        {"name": 7}, "junk", {"name": "x\x1b[2J", "policies": [{"models": ["c"]}, None]}]})
    assert found[0]["candidates"] == ["a", "b"]
    assert found[1]["id"] == "router:x [2J"  # a control character folded away, never kept
    assert found[1]["candidates"] == ["c"]
    assert routers.parse_routers([1, 2]) == [] and routers.parse_routers({"model_routers": {}}) == []


def test_pricing_estimate_of_a_router_ranks_its_candidates(token, capsys):
    import gradient_pricing

    assert gradient_pricing.main(["--model", ROUTER, "--estimate", "1000", "100", "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["router"] == ROUTER
    assert [r["model_id"] for r in document["models"]] == [PICK, DEAR]  # cheapest first
    assert f"a call to {ROUTER} costs what the model it picks costs: from ${PICK_COST:.6f} to $0.001500" in captured.err


def test_pricing_of_a_router_without_a_token_says_how_to_get_its_candidates(api, capsys):
    import gradient_pricing

    assert gradient_pricing.main(["--model", ROUTER, "--estimate", "1000", "100"]) == 1
    assert "DIGITALOCEAN_ACCESS_TOKEN" in capsys.readouterr().err


def test_pricing_of_an_unknown_router_with_a_token_points_at_the_listing(token, capsys):
    import gradient_pricing

    assert gradient_pricing.main(["--model", "router:nope", "--estimate", "1000", "100"]) == 1
    err = capsys.readouterr().err
    assert "router:nope is not among the account's routers" in err and "--type router" in err
    assert "set DIGITALOCEAN_ACCESS_TOKEN" not in err
