"""Trust, third round: any JSON type from a server. A field of the wrong type in an answer, a stream
event or a stored row is invalid_response or passed over (one line), never a traceback; a billed
answer that cannot be read keeps its usage and cost in the ledger; tool calls without an id or a
name are passed over alike in every API, whole or streamed."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

import gradient_batch
import gradient_chat
import gradient_embed
from fakeapi import Reply, sse_reply

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
CLAUDE = "anthropic-claude-sonnet-4"


def rows():
    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    database.row_factory = sqlite3.Row
    return [dict(row) for row in database.execute("SELECT * FROM calls ORDER BY id")]


def messages_answer(**changes):
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE,
              "content": [{"type": "text", "text": "fine"}], "stop_reason": "end_turn",
              "usage": {"input_tokens": 20, "output_tokens": 10}}
    answer.update(changes)
    return answer


@pytest.mark.parametrize("changes", [{"stop_reason": ["end_turn"]}, {"stop_reason": {"x": 1}}, {"model": ["m"]},
                                     {"model": {"id": "m"}}, {"id": [1]}, {"role": 5}, {"content": "text"},
                                     {"content": [{"type": ["text"], "text": "x"}]}])
def test_a_messages_answer_with_wrong_types_never_tracebacks_and_keeps_its_usage(api, capsys, changes):
    api.json("POST", MESSAGES, messages_answer(**changes))
    code = gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "--model", CLAUDE,
                               "--prompt", "q", "--json"])
    err = capsys.readouterr().err
    assert code in (0, 1) and "Traceback" not in err
    row = rows()[-1]
    assert (row["input_tokens"], row["output_tokens"]) == (20, 10)  # billed: usage kept whatever else broke
    assert row["cost_usd"] == pytest.approx((20 * 3 + 10 * 15) / 1e6)


def events(*payloads):
    chunks = [f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads]
    return Reply(chunks=chunks, headers={"Content-Type": "text/event-stream"})


START = {"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant", "model": CLAUDE,
                                              "content": [], "usage": {"input_tokens": 25, "output_tokens": 1}}}
STOP = [{"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"}]


@pytest.mark.parametrize("index", [[0], {"i": 0}, "0", None, 1.5])
def test_a_messages_stream_with_a_block_index_of_the_wrong_type_never_tracebacks(api, capsys, index):
    api.add("POST", MESSAGES, events(START, {"type": "content_block_start", "index": index,
                                             "content_block": {"type": "text", "text": ""}},
                                     {"type": "content_block_delta", "index": index,
                                      "delta": {"type": "text_delta", "text": "hi"}}, *STOP))
    code = gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "--model", CLAUDE,
                               "--prompt", "q", "--stream", "--json"])
    assert code in (0, 1) and "Traceback" not in capsys.readouterr().err
    assert rows()[-1]["input_tokens"] == 25


@pytest.mark.parametrize("block", [{"type": "tool_use", "name": "weather"}, {"type": "tool_use", "id": "t1"},
                                   {"type": "tool_use", "id": ["t1"], "name": "weather"},
                                   {"type": "tool_use", "id": "t1", "name": None}])
def test_a_streamed_messages_tool_call_without_id_or_name_is_passed_over(api, capsys, block):
    api.add("POST", MESSAGES, events(START, {"type": "content_block_start", "index": 0, "content_block": block},
                                     {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "input_json_delta", "partial_json": "{}"}},
                                     {"type": "content_block_stop", "index": 0}, *STOP))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "--model", CLAUDE,
                               "--prompt", "q", "--stream", "--json"]) in (0, 1)
    captured = capsys.readouterr()
    assert "tool call None" not in captured.out + captured.err and "Traceback" not in captured.err
    stored = rows()[-1]["tool_turn"]
    assert stored is None or "null" not in stored


@pytest.mark.parametrize("index", [[0], {"i": 0}, "zero", None])
def test_a_streamed_chat_tool_call_whose_index_is_not_a_number_never_tracebacks(api, capsys, index):
    api.add("POST", CHAT, sse_reply(
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "id": "c1", "type": "function",
                                                            "function": {"name": "weather", "arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
         "usage": {"prompt_tokens": 9, "completion_tokens": 3}}))
    code = gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--stream", "--json"])
    assert code in (0, 1) and "Traceback" not in capsys.readouterr().err
    assert rows()[-1]["input_tokens"] == 9


@pytest.mark.parametrize("calls", [[1], ["x"], [None], [{"id": 5, "function": {"name": "w", "arguments": "{}"}}],
                                   [{"id": "c", "function": "w"}], {"id": "c"}, "calls"])
def test_a_whole_chat_answer_with_tool_calls_of_the_wrong_shape_never_tracebacks(api, capsys, calls):
    api.json("POST", CHAT, {"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": calls}}], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    code = gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q", "--json"])
    assert code in (0, 1) and "Traceback" not in capsys.readouterr().err
    assert rows()[-1]["input_tokens"] == 4


def test_one_bad_batch_item_is_its_error_line_and_the_run_goes_on(api, capsys, tmp_path):
    good = {"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "ok"}}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2}}
    bad = {"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "content": None, "tool_calls": [1]}}], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}
    api.add("POST", CHAT, Reply(json=good), Reply(json=bad), Reply(json=good))
    (tmp_path / "in.jsonl").write_text('"a"\n"b"\n"c"\n')
    output = tmp_path / "out.jsonl"
    code = gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url, "--concurrency", "1",
                                "--output", str(output)])
    assert "Traceback" not in capsys.readouterr().err
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 3 and [line["status"] for line in lines].count("ok") >= 2 and code in (0, 1)


def test_a_huge_integer_in_an_embedding_is_invalid_response_and_the_call_keeps_its_usage(api, capsys):
    body = '{"data": [{"index": 0, "embedding": [' + "9" * 401 + ', 1.0]}], "model": "e", "usage": {"prompt_tokens": 3}}'
    api.add("POST", "/v1/embeddings", Reply(body=body))
    assert gradient_embed.main(["--base-url", api.url, "--model", "e", "--input", "x"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
    assert rows()[-1]["input_tokens"] == 3


def test_stored_tool_turns_of_any_type_are_a_damaged_conversation_not_a_traceback(api, capsys):
    api.json("POST", CHAT, {"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                                                  "message": {"content": "ok"}}], "usage": {}})
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "q"]) == 0
    capsys.readouterr()
    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    for stored in ('{"tool_calls": [1]}', '{"tool_calls": [null]}', '{"tool_calls": ["x"]}', "5", '"text"', "null",
                   '{"tool_calls": [{"id": 7, "function": {"name": "w", "arguments": "{}"}}], "tools": [3, null]}'):
        database.execute("UPDATE calls SET tool_turn = ?", (stored,))
        database.commit()
        code = gradient_chat.main(["--base-url", api.url, "--no-stdin", "-c", "--tool-result", "c1=x"])
        err = capsys.readouterr().err
        assert code in (1, 2) and "Traceback" not in err, stored


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"enum": ["a", "b"]}}}},
    {"type": "object", "properties": {"pairs": {"type": "array", "items": [{"type": "string", "minLength": 2}]}}},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}])
def test_without_jsonschema_a_rich_schema_says_once_that_only_the_basics_were_checked(monkeypatch, capsys, schema):
    import sys

    from gradient_inference.chat import schema as structured

    monkeypatch.setitem(sys.modules, "jsonschema", None)  # as if it were not installed
    structured.basics_only.cache_clear()
    for _ in range(3):
        structured.check({}, schema, "{}")
    assert capsys.readouterr().err.count("only the basics of --schema were checked") == 1
