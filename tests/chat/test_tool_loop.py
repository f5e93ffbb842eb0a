"""The tool loop without hand-built turns: a conversation keeps an answer's tool calls, and
gradient_chat.py -c --tool-result answers them with the same tools offered; --json's assistant_turn."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

import gradient_chat
from fakeapi import Reply

CHAT = "/v1/chat/completions"
WEATHER = {"name": "weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def calls_answer(*calls, content=None):
    return {"id": "c1", "model": "m", "choices": [{"message": {"role": "assistant", "content": content, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": json.dumps({"city": city})}}
        for call_id, city in calls]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def text_answer(content):
    return {"id": "c2", "model": "m", "choices": [{"message": {"role": "assistant", "content": content},
                                                   "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38}}


@pytest.fixture
def tool_file(tmp_path):
    path = tmp_path / "weather.json"
    path.write_text(json.dumps(WEATHER))
    return str(path)


def chat(api, *argv):
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", *argv])


def first_call(api, capsys, tool_file, *calls):
    api.add("POST", CHAT, Reply(json=calls_answer(*calls)), Reply(json=text_answer("18 C in Paris, 9 C in Oslo.")))
    assert chat(api, "--tool", tool_file, "--prompt", "Weather in Paris and Oslo?", "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_the_assistant_turn_is_the_exact_message_to_append(api, capsys, tool_file):
    document = first_call(api, capsys, tool_file, ("call_1", "Paris"))
    assert document["assistant_turn"] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]}


def test_continue_with_tool_results_sends_the_turns_and_the_same_tools(api, capsys, tool_file, tmp_path):
    first = first_call(api, capsys, tool_file, ("call_1", "Paris"), ("call_2", "Oslo"))
    result = tmp_path / "oslo.txt"
    result.write_text("9 C, rain")
    assert chat(api, "-c", "--tool-result", "call_1=18 C, sun", "--tool-result", f"call_2=@{result}", "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert second["content"] == "18 C in Paris, 9 C in Oslo." and second["conversation_id"] == first["conversation_id"]
    sent = api.calls("POST", CHAT)[1].json
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        first["assistant_turn"],
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sun"},
        {"role": "tool", "tool_call_id": "call_2", "content": "9 C, rain"}]
    assert sent["tools"] == [{"type": "function", "function": WEATHER}]  # offered again without --tool
    assert second["assistant_turn"] == {"role": "assistant", "content": "18 C in Paris, 9 C in Oslo."}


def test_a_prompt_may_follow_the_tool_results(api, capsys, tool_file):
    first_call(api, capsys, tool_file, ("call_1", "Paris"))
    assert chat(api, "-c", "--tool-result", "call_1=18 C", "--prompt", "In Fahrenheit?") == 0
    sent = api.calls("POST", CHAT)[1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"] and sent[-1]["content"] == "In Fahrenheit?"


@pytest.mark.parametrize("results, words", [
    (["call_1=18 C"], "no result for call_2"),
    (["call_1=a", "call_2=b", "call_3=c"], "no call call_3"),
    (["call_1=a", "call_1=b", "call_2=c"], "call_1 given twice"),
    (["justtext"], "give CALL_ID=TEXT"),
])
def test_tool_results_that_do_not_answer_the_calls_are_usage_errors(api, capsys, tool_file, results, words):
    first_call(api, capsys, tool_file, ("call_1", "Paris"), ("call_2", "Oslo"))
    with pytest.raises(SystemExit) as stopped:
        chat(api, "-c", *[flag for result in results for flag in ("--tool-result", result)])
    assert stopped.value.code == 2 and words in capsys.readouterr().err
    assert len(api.calls("POST", CHAT)) == 1  # nothing sent, nothing paid


def test_continuing_past_unanswered_tool_calls_says_to_answer_them(api, capsys, tool_file):
    first_call(api, capsys, tool_file, ("call_1", "Paris"), ("call_2", "Oslo"))
    with pytest.raises(SystemExit) as stopped:
        chat(api, "-c", "--prompt", "never mind")
    assert stopped.value.code == 2 and "called tools (call_1, call_2)" in capsys.readouterr().err
    assert len(api.calls("POST", CHAT)) == 1


def test_tool_results_need_a_conversation_whose_answer_called(api, capsys):
    api.json("POST", CHAT, text_answer("Hello."))
    assert chat(api, "--prompt", "hi") == 0
    with pytest.raises(SystemExit) as stopped:
        chat(api, "-c", "--tool-result", "call_1=x")
    assert stopped.value.code == 2 and "made none" in capsys.readouterr().err


def test_the_ledger_keeps_the_tool_calls_masked(api, capsys, tool_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIENT_API_KEY", "sk-do-" + "k" * 40)
    secret_call = calls_answer(("call_1", "sk-do-" + "k" * 40))
    api.json("POST", CHAT, secret_call)
    assert chat(api, "--tool", tool_file, "--prompt", "q") == 0
    stored = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute(
        "SELECT tool_turn FROM calls ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "k" * 40 not in stored and json.loads(stored)["tools"] == [WEATHER]


def test_a_damaged_stored_tool_turn_is_one_sentence(api, capsys, tool_file):
    first_call(api, capsys, tool_file, ("call_1", "Paris"))
    database = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"])
    database.execute("UPDATE calls SET tool_turn = '[1, 2]'")
    database.commit()
    assert chat(api, "-c", "--tool-result", "call_1=x") == 1
    assert "is damaged" in capsys.readouterr().err


def test_the_loop_as_subprocesses(api, script, tool_file):
    api.add("POST", CHAT, Reply(json=calls_answer(("call_1", "Paris"))), Reply(json=text_answer("Sunny.")))
    first = script("gradient_chat", "--base-url", api.url, "--no-stdin", "--tool", tool_file, "--prompt", "Paris?")
    assert first.returncode == 0 and b'tool call weather {"city": "Paris"}' in first.stdout
    second = script("gradient_chat", "--base-url", api.url, "--no-stdin", "-c", "--tool-result", "call_1=sun")
    assert second.returncode == 0, second.stderr
    assert second.stdout == b"Sunny.\n" and b"continuing conversation" in second.stderr
