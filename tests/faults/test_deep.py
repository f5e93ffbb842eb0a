"""Hostile shapes that used to end in a traceback: JSON nested beyond reason (from the user, a
server or the ledger), a schema that refers to itself, text that is not Unicode, huge numbers.
Each is one line and an exit code now."""
from __future__ import annotations

import json
import sqlite3

import pytest

import gradient_batch
import gradient_chat
import gradient_pricing
from fakeapi import Reply, sse
from gradient_inference.core.jsondata import loads, too_deep

CHAT = "/v1/chat/completions"
DEEP = '{"type": "object", "properties": ' + '{"a": ' * 5000 + "{}" + "}" * 5000 + "}"
ANSWER = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}


def chat(api, *argv) -> int:
    try:
        return gradient_chat.main(["--base-url", api.url, "--no-stdin", *argv])
    except SystemExit as stop:
        return stop.code


def test_loads_refuses_depth_with_words_not_a_recursion_error():
    assert loads("[[1]]") == [[1]] and loads("NaN") is None
    for text in ("[" * 100000 + "]" * 100000, "[" * 101 + "]" * 101):
        with pytest.raises(ValueError, match="nested more than 100 levels"):
            loads(text)
    assert too_deep([[[]]], 2) and not too_deep([[]], 2)


@pytest.mark.parametrize("how", ["inline", "file"])
def test_a_deep_schema_is_a_usage_error(api, capsys, tmp_path, how):
    spec = DEEP if how == "inline" else str(tmp_path / "s.json")
    (tmp_path / "s.json").write_text(DEEP)
    assert chat(api, "--prompt", "q", "--schema", spec) == 2
    assert "nested more than 100 levels" in capsys.readouterr().err and api.calls() == []
    with pytest.raises(SystemExit) as stop:
        gradient_batch.main([str(tmp_path / "s.json"), "--schema", spec, "--base-url", api.url])
    assert stop.value.code == 2


def test_a_deep_tool_file_is_a_usage_error(api, capsys, tmp_path):
    (tmp_path / "t.json").write_text('{"name": "t", "parameters": ' + '{"a": ' * 5000 + "{}" + "}" * 5000 + "}")
    assert chat(api, "--prompt", "q", "--tool", str(tmp_path / "t.json")) == 2
    assert "nested more than 100 levels" in capsys.readouterr().err


def test_deep_tool_call_arguments_are_shown_as_sent_and_said_to_be_invalid(api, capsys, tmp_path):
    (tmp_path / "t.json").write_text('{"name": "t", "parameters": {"type": "object"}}')
    api.json("POST", CHAT, {"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "t", "arguments": "[" * 100000 + "]" * 100000}}]},
        "finish_reason": "tool_calls"}]})
    assert chat(api, "--prompt", "q", "--tool", str(tmp_path / "t.json"), "--no-stream") == 0
    captured = capsys.readouterr()
    assert "arguments of tool call t are not valid JSON" in captured.err and captured.out.startswith("tool call t [[[")


def test_a_streamed_event_nested_beyond_reason_is_passed_over(api, capsys):
    api.add("POST", CHAT, Reply(chunks=[b"data: " + b"[" * 100000 + b"]" * 100000 + b"\n\n"] + sse(
        {"choices": [{"delta": {"content": "fine"}, "finish_reason": "stop"}]}),
        headers={"Content-Type": "text/event-stream"}))
    assert chat(api, "--prompt", "q", "--stream") == 0
    assert capsys.readouterr().out == "fine\n"


def test_a_schema_that_refers_to_itself_is_an_error_not_a_hang_or_a_traceback(api, capsys, tmp_path):
    pytest.importorskip("jsonschema")
    (tmp_path / "s.json").write_text('{"type": "object", "properties": {"a": {"$ref": "#/properties/a"}}, '
                                     '"required": ["a"], "minProperties": 1}')
    api.json("POST", CHAT, {"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "answer", "arguments": '{"a": 1}'}}]},
        "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    assert chat(api, "--prompt", "q", "--schema", str(tmp_path / "s.json")) == 1
    assert "refers to itself without end" in capsys.readouterr().err


def test_a_prompt_byte_that_is_not_utf8_is_sent_as_a_replacement_with_a_word(api, capsys):
    api.json("POST", CHAT, ANSWER)
    assert chat(api, "--prompt", b"caf\xe9".decode("utf-8", "surrogateescape")) == 0
    assert "not valid Unicode" in capsys.readouterr().err
    assert api.calls()[0].json["messages"][-1]["content"] == "caf\ufffd"


def test_a_400_digit_number_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        gradient_pricing.main(["--estimate", "9" * 400, "1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "up to 10^15" in err and len(err.splitlines()[-1]) < 150


@pytest.mark.parametrize("stored", ["not json", "{}", "[1, 2]", "[" * 5000 + "]" * 5000,
                                    '[{"role": "user", "content": null}]'])
def test_a_conversation_whose_stored_turns_are_damaged_is_one_line(api, capsys, stored):
    import os

    api.json("POST", CHAT, ANSWER)
    assert chat(api, "--prompt", "q") == 0
    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    database.execute("UPDATE calls SET messages = ?", (stored,))
    database.commit()
    database.close()
    capsys.readouterr()
    assert chat(api, "-c", "--prompt", "again") == 1
    err = capsys.readouterr().err
    assert "in the usage ledger is damaged" in err and "Traceback" not in err and len(api.calls()) == 1


def test_content_parts_that_are_not_objects_are_a_usage_error(api, capsys, tmp_path):
    (tmp_path / "m.json").write_text(json.dumps([{"role": "user", "content": ["a", "b"]}]))
    assert chat(api, "--messages", str(tmp_path / "m.json"), "--cache", "--model", "anthropic-claude-sonnet-4") == 2
    assert "each content part must be an object with a type" in capsys.readouterr().err and api.calls() == []


def test_without_jsonschema_the_basics_note_is_said_once(monkeypatch, capsys):
    import sys

    from gradient_inference.chat import schema as structured

    monkeypatch.setitem(sys.modules, "jsonschema", None)
    structured.basics_only.cache_clear()
    rich = {"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}}
    for _ in range(3):
        structured.check({"a": "x"}, rich, '{"a": "x"}')
    assert capsys.readouterr().err.count("only the basics of --schema were checked") == 1


def test_a_streamed_tool_call_with_an_index_that_is_no_number_is_kept(api, capsys, tmp_path):
    (tmp_path / "t.json").write_text('{"name": "t", "parameters": {"type": "object"}}')
    api.add("POST", CHAT, Reply(chunks=sse({"choices": [{"delta": {"tool_calls": [
        {"index": "x", "id": "a", "function": {"name": "t", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}),
        headers={"Content-Type": "text/event-stream"}))
    assert chat(api, "--prompt", "q", "--stream", "--tool", str(tmp_path / "t.json")) == 0
    assert "tool call t {}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["-c", "--prompt", "q"], ["--prompt", "q", "--daily-budget", "1", "--max-tokens", "5"]])
def test_a_ledger_that_is_not_sqlite_is_one_line_for_chat_too(api, capsys, tmp_path, monkeypatch, argv):
    path = tmp_path / "usage.db"
    path.write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(path))
    assert chat(api, "--model", "openai-gpt-oss-120b", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and api.calls() == []


def test_a_batch_whose_server_reports_impossible_usage_keeps_every_ledger_row(api, capsys, tmp_path):
    import os

    api.json("POST", CHAT, {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 2 ** 63, "completion_tokens": 10 ** 400}})
    (tmp_path / "in.jsonl").write_text("".join(f'"item {i}"\n' for i in range(6)))
    assert gradient_batch.main([str(tmp_path / "in.jsonl"), "--base-url", api.url]) == 0
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute(
        "SELECT input_tokens, output_tokens, cost_usd FROM calls").fetchall()
    assert rows == [(None, None, None)] * 6
