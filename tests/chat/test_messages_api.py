"""gradient_chat.py --messages-api: Anthropic's Messages API at /v1/messages, whole and streamed,
with tools, --schema, caching, images, the ledger, budgets and -c."""
from __future__ import annotations

import base64
import json
import os
import sqlite3

import pytest

import gradient_chat
from conftest import tiny_png
from fakeapi import Reply

from gradient_inference.chat import messages as chat_messages
from gradient_inference.chat import schema as chat_schema

MESSAGES = "/v1/messages"
MODEL = "anthropic-claude-sonnet-4"  # in the bundled snapshot at $3 in, $15 out per 1M tokens; 64,000 out at most
WEATHER = {"name": "weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def message(*blocks, stop="end_turn", usage=None, model=MODEL):
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": list(blocks),
            "stop_reason": stop,
            "usage": usage or {"input_tokens": 20, "output_tokens": 10}}


def text(value):
    return {"type": "text", "text": value}


def tool_use(call_id, name, arguments):
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def events(*payloads, cut=False):
    """A Messages stream: each event named by its type, as Anthropic sends them."""
    chunks = [f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads]
    return Reply(chunks=chunks[:-1] if cut else chunks, headers={"Content-Type": "text/event-stream"})


def chat(api, *argv):
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "--model", MODEL, *argv])


def ledger_rows():
    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    database.row_factory = sqlite3.Row
    return [dict(row) for row in database.execute("SELECT * FROM calls ORDER BY id")]


# ---------------------------------------------------------------- the request

def test_body_header_and_max_tokens_from_the_vendors_limit(api, capsys):
    api.json("POST", MESSAGES, message(text("Lisbon.")))
    assert chat(api, "--system", "Be brief.", "--prompt", "Capital of Portugal?", "--stop", "END") == 0
    captured = capsys.readouterr()
    assert captured.out == "Lisbon.\n"
    assert "max_tokens: 64,000 (the model's largest answer, from the vendor's published limit as of 2026-12)" in captured.err
    call = api.calls("POST", MESSAGES)[0]
    assert call.headers["anthropic-version"] == chat_messages.ANTHROPIC_VERSION
    assert call.json == {"model": MODEL, "max_tokens": 64000, "system": "Be brief.", "stop_sequences": ["END"],
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital of Portugal?"}]}]}


def test_max_tokens_given_or_the_default_for_an_unknown_model(api, capsys):
    api.json("POST", MESSAGES, message(text("ok")))
    assert chat(api, "--prompt", "q", "--max-tokens", "300") == 0
    assert api.calls()[0].json["max_tokens"] == 300 and "max_tokens:" not in capsys.readouterr().err
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "--model", "some-new-model",
                               "--prompt", "q"]) == 0
    assert api.calls()[1].json["max_tokens"] == 4096
    assert "max_tokens: 4,096 (the Messages API requires it and no answer limit is known" in capsys.readouterr().err


def test_cache_marks_the_system_prompt_else_the_first_user_turn(api, capsys):
    api.json("POST", MESSAGES, message(text("ok")))
    assert chat(api, "--cache", "--system", "Long rules", "--prompt", "q") == 0
    assert api.calls()[0].json["system"] == [{"type": "text", "text": "Long rules", "cache_control": {"type": "ephemeral"}}]
    assert chat(api, "--cache", "--prompt", "Long document") == 0
    assert api.calls()[1].json["messages"][0]["content"] == [
        {"type": "text", "text": "Long document", "cache_control": {"type": "ephemeral"}}]


def test_an_image_file_is_a_base64_block_and_a_url_is_refused(api, capsys, tmp_path):
    picture = tmp_path / "chart.png"
    picture.write_bytes(tiny_png())
    api.json("POST", MESSAGES, message(text("A chart.")))
    assert chat(api, "--image", str(picture), "--prompt", "What is this?") == 0
    block = api.calls()[0].json["messages"][0]["content"][1]
    assert block == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": base64.b64encode(tiny_png()).decode()}}
    assert chat(api, "--cache", "--image", str(picture), "--prompt", "Long question") == 0
    marked = api.calls()[1].json["messages"][0]["content"]  # the one caching rule (chat.bodies) marks the last block
    assert marked[1]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in marked[0]
    with pytest.raises(SystemExit) as stopped:
        chat(api, "--image", "https://example.com/cat.png", "--prompt", "q")
    assert stopped.value.code == 2 and "give a local image file" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--seed", "7"], "--seed cannot go to the Messages API"),
    (["--web-search"], "--web-search cannot go to the Messages API"),
    (["--schema", "a", "--schema-mode", "response_format"], "--schema-mode response_format cannot go"),
    (["--temperature", "1.5"], "from 0 to 1"),
    (["--responses-api"], "not allowed with argument --messages-api"),
])
def test_what_the_messages_api_cannot_take_is_a_usage_error(api, capsys, argv, words):
    with pytest.raises(SystemExit) as stopped:
        chat(api, "--prompt", "q", *argv)
    assert stopped.value.code == 2 and words in capsys.readouterr().err and not api.calls()


# ---------------------------------------------------------------- the answer, whole

def test_the_envelope_usage_with_cache_reads_and_writes_cost_and_ledger(api, capsys):
    usage = {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 1000,
             "cache_creation_input_tokens": 200}
    api.json("POST", MESSAGES, message({"type": "thinking", "thinking": "Hmm.", "signature": "s"}, text("Hi."),
                                       usage=usage))
    assert chat(api, "--prompt", "q", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["api"], document["content"], document["reasoning"], document["finish_reason"]) == (
        "messages", "Hi.", "Hmm.", "stop")
    assert document["usage"] == {"input_tokens": 1300, "output_tokens": 50, "total_tokens": 1350,
                                 "cached_input_tokens": 1000, "cache_write_tokens": 200, "cache_write_1h_tokens": None,
                                 "reasoning_tokens": None}
    assert document["cost_usd"] == round((1300 * 3.0 + 50 * 15.0) / 1e6, 8)  # no cache prices known: input price
    row = ledger_rows()[-1]
    assert (row["api"], row["input_tokens"], row["cached_tokens"], row["cost_usd"]) == (
        "messages", 1300, 1000, document["cost_usd"])


def test_max_tokens_stop_reason_is_length(api, capsys):
    api.json("POST", MESSAGES, message(text("Once upon a"), stop="max_tokens"))
    assert chat(api, "--prompt", "q", "--json") == 0
    assert json.loads(capsys.readouterr().out)["finish_reason"] == "length"


def test_an_answer_without_content_blocks_is_invalid(api, capsys):
    api.json("POST", MESSAGES, {"type": "message", "content": "nope"})
    assert chat(api, "--prompt", "q") == 1
    assert "no content blocks" in capsys.readouterr().err


def test_an_anthropic_error_envelope_is_one_line(api, capsys):
    api.json("POST", MESSAGES, {"type": "error", "error": {"type": "invalid_request_error",
                                                           "message": "max_tokens: too large"}}, status=400)
    assert chat(api, "--prompt", "q") == 1
    err = capsys.readouterr().err
    assert "max_tokens: too large" in err and "Traceback" not in err


# ---------------------------------------------------------------- tools, --schema, the loop

@pytest.fixture
def tool_file(tmp_path):
    path = tmp_path / "weather.json"
    path.write_text(json.dumps(WEATHER))
    return str(path)


@pytest.mark.parametrize("choice, sent", [("weather", {"type": "tool", "name": "weather"}),
                                          ("required", {"type": "any"}), ("auto", {"type": "auto"})])
def test_tools_in_the_messages_shape(api, capsys, tool_file, choice, sent):
    api.json("POST", MESSAGES, message(tool_use("toolu_1", "weather", {"city": "Paris"}), stop="tool_use"))
    assert chat(api, "--tool", tool_file, "--tool-choice", choice, "--prompt", "Weather in Paris?", "--json") == 0
    body = api.calls()[0].json
    assert body["tools"] == [{"name": "weather", "description": "Weather in a city",
                              "input_schema": WEATHER["parameters"]}] and body["tool_choice"] == sent
    document = json.loads(capsys.readouterr().out)
    assert document["tool_calls"] == [{"id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}}]
    assert document["finish_reason"] == "tool_calls"


def test_tool_choice_none_sends_no_tools(api, capsys, tool_file):
    api.json("POST", MESSAGES, message(text("ok")))
    assert chat(api, "--tool", tool_file, "--tool-choice", "none", "--prompt", "q") == 0
    assert "tools" not in api.calls()[0].json and "tool_choice" not in api.calls()[0].json


def test_the_tool_loop_sends_tool_use_and_tool_result_blocks(api, capsys, tool_file):
    api.add("POST", MESSAGES, Reply(json=message(text("Let me look."), tool_use("toolu_1", "weather", {"city": "Paris"}),
                                                 stop="tool_use")),
            Reply(json=message(text("18 C and sunny."))))
    assert chat(api, "--tool", tool_file, "--prompt", "Weather in Paris?") == 0
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "-c",
                               "--tool-result", "toolu_1=18 C, sun"]) == 0
    assert capsys.readouterr().out.endswith("18 C and sunny.\n")
    body = api.calls()[1].json
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C, sun"}]}]
    assert body["tools"][0]["name"] == "weather" and body["model"] == MODEL


def test_schema_is_a_forced_tool_and_its_input_the_data(api, capsys):
    api.json("POST", MESSAGES, message(tool_use("toolu_9", chat_schema.TOOL_NAME, {"title": "Alien", "year": 1979}),
                                       stop="tool_use"))
    assert chat(api, "--schema", "title, year int", "--prompt", "A film?") == 0
    assert json.loads(capsys.readouterr().out) == {"title": "Alien", "year": 1979}
    body = api.calls()[0].json
    assert body["tool_choice"] == {"type": "tool", "name": chat_schema.TOOL_NAME}
    assert body["tools"][0]["input_schema"]["required"] == ["title", "year"]


# ---------------------------------------------------------------- streams

START = {"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant", "model": MODEL,
                                              "content": [], "usage": {"input_tokens": 25, "output_tokens": 1,
                                                                       "cache_read_input_tokens": 5}}}


def stream_of(*middle, stop="end_turn", cut=False):
    return events(START, *middle,
                  {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 7}},
                  {"type": "message_stop"}, cut=cut)


def test_a_stream_prints_text_and_thinking_and_reads_usage(api, capsys):
    api.add("POST", MESSAGES, stream_of(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Think."}},
        {"type": "content_block_stop", "index": 0}, {"type": "ping"},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "lo."}},
        {"type": "content_block_stop", "index": 1}))
    assert chat(api, "--stream", "--show-reasoning", "--prompt", "q", "--usage") == 0
    captured = capsys.readouterr()
    assert captured.out == "Hello.\n" and "Think." in captured.err
    assert api.calls()[0].json["stream"] is True
    row = ledger_rows()[-1]
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["outcome"]) == (30, 7, 5, "ok")


def test_a_streamed_tool_call_is_assembled(api, capsys, tool_file):
    api.add("POST", MESSAGES, stream_of(
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_s", "name": "weather", "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": 'ty": "Oslo"}'}},
        {"type": "content_block_stop", "index": 0}, stop="tool_use"))
    assert chat(api, "--stream", "--tool", tool_file, "--prompt", "q", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["tool_calls"] == [{"id": "toolu_s", "name": "weather", "arguments": {"city": "Oslo"}}]


def test_a_stream_cut_before_message_stop_fails_but_keeps_its_usage(api, capsys):
    api.add("POST", MESSAGES, stream_of(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Partial"}}, cut=True))
    assert chat(api, "--stream", "--prompt", "q") == 1
    assert "no message_stop" in capsys.readouterr().err
    row = ledger_rows()[-1]
    assert row["output_tokens"] == 7 and row["cost_usd"] is not None  # the usage it reported was billed


def test_an_error_event_is_one_line(api, capsys):
    api.add("POST", MESSAGES, events(START, {"type": "error", "error": {"type": "overloaded_error",
                                                                        "message": "Overloaded"}}))
    assert chat(api, "--stream", "--prompt", "q") == 1
    assert "the stream reported an error: Overloaded" in capsys.readouterr().err


# ---------------------------------------------------------------- budgets and conversations

def test_a_budget_counts_the_default_max_tokens(api, capsys):
    assert chat(api, "--prompt", "q", "--max-cost", "0.5") == 1
    err = capsys.readouterr().err
    assert "could cost up to $0.96" in err and not api.calls()  # 64,000 x $15 per 1M


def test_continue_a_messages_conversation(api, capsys):
    api.add("POST", MESSAGES, Reply(json=message(text("Lisbon."))), Reply(json=message(text("About 545,000."))))
    assert chat(api, "--prompt", "Capital of Portugal?") == 0
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages-api", "-c",
                               "--prompt", "Its population?"]) == 0
    assert [m["role"] for m in api.calls()[1].json["messages"]] == ["user", "assistant", "user"]
    assert api.calls()[1].json["messages"][1]["content"] == [{"type": "text", "text": "Lisbon."}]


def test_as_a_subprocess(api, script):
    api.json("POST", MESSAGES, message(text("Lisbon.")))
    done = script("gradient_chat", "--base-url", api.url, "--no-stdin", "--messages-api", "--model", MODEL,
                  "--prompt", "Capital of Portugal?", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["api"] == "messages"


# ---------------------------------------------------------------- hostile answers

def test_hostile_stream_events_are_passed_over(api, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    api.add("POST", MESSAGES, Reply(chunks=[
        f"event: message_start\ndata: {json.dumps(dict(START, message=dict(START['message'], usage={'input_tokens': -5, 'output_tokens': 10 ** 12})))}\n\n".encode(),
        b"event: content_block_delta\ndata: " + deep.encode() + b"\n\n",
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": "x"}\n\n',
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}}\n\n',
        b'event: content_block_start\ndata: {"type": "content_block_start", "index": 1, "content_block": [1]}\n\n',
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "ok \\u001b[31m"}}\n\n',
        b'event: message_delta\ndata: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": "lots"}\n\n',
        b'event: message_stop\ndata: {"type": "message_stop"}\n\n'], headers={"Content-Type": "text/event-stream"}))
    assert chat(api, "--stream", "--prompt", "q", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["content"] == "ok \x1b[31m"  # exact in JSON; escaped only on a terminal
    assert document["usage"]["input_tokens"] is None and document["usage"]["output_tokens"] is None


def test_hostile_content_blocks_are_passed_over(api, capsys):
    api.json("POST", MESSAGES, message("not a block", {"type": "text", "text": ["x"]}, {"type": "tool_use"},
                                       text("fine")))
    assert chat(api, "--prompt", "q", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["content"] == "fine" and "tool_calls" not in document  # a tool_use without id or name


def test_usage_that_is_not_an_object_is_unknown(api, capsys):
    api.json("POST", MESSAGES, {"type": "message", "content": [text("x" * 10)], "usage": [1, 2]})
    assert chat(api, "--prompt", "q", "--json") == 0
    assert json.loads(capsys.readouterr().out)["usage"]["input_tokens"] is None
