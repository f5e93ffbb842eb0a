"""Structured output (--schema) and tool calls (--tool) against the fake server, and the schema
module on its own: the short form, loading, checking."""
from __future__ import annotations

import json

import pytest

import gradient_chat
from gradient_inference.chat import schema as chat_schema
from gradient_inference.chat import tools as chat_tools
from gradient_inference.core import errors as core_errors
from fakeapi import Reply, sse_reply

CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"
MOVIE = "title, year int, rating float: 0 to 10"


def run(api, *argv):
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", "--prompt", "Q", *argv])


def tool_answer(arguments: str, name="answer", content=None):
    return {"id": "c1", "model": "m", "choices": [{"message": {"content": content, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]},
        "finish_reason": "tool_calls"}]}


def text_answer(content: str):
    return {"id": "c1", "model": "m", "choices": [{"message": {"content": content}, "finish_reason": "stop"}]}


# ---------------------------------------------------------------- the schema module

def test_the_short_form():
    assert chat_schema.parse_short(MOVIE) == {"type": "object", "required": ["title", "year", "rating"], "properties": {
        "title": {"type": "string"}, "year": {"type": "integer"},
        "rating": {"type": "number", "description": "0 to 10"}}}
    assert chat_schema.parse_short("a\nb bool")["properties"]["b"] == {"type": "boolean"}


@pytest.mark.parametrize("text", ["", "title date", "1abc", " , \n"])
def test_short_forms_that_are_not(text):
    with pytest.raises(core_errors.UsageError):
        chat_schema.parse_short(text)


def test_a_description_may_hold_colons_and_empty_fields_are_skipped():
    assert chat_schema.parse_short("a: b: c, ,")["properties"] == {"a": {"type": "string", "description": "b: c"}}


def test_a_schema_from_inline_json_or_a_file(tmp_path):
    inline = '{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}'
    assert chat_schema.load_schema(inline)["required"] == ["n"]
    path = tmp_path / "s.json"
    path.write_text(inline)
    assert chat_schema.load_schema(str(path)) == json.loads(inline)
    assert chat_schema.load_schema(MOVIE, multi=True)["properties"]["items"]["items"]["required"] == ["title", "year", "rating"]
    with pytest.raises(core_errors.UsageError):
        chat_schema.load_schema('{"type": "array"}')


@pytest.mark.parametrize("value, found", [
    ({"title": "Up", "year": 2009, "rating": 8.3}, []),
    ({"title": "Up", "year": "2009", "rating": 8}, ["field 'year' is not integer"]),
    ({"title": "Up", "rating": 8.3}, ["the answer lacks the field 'year'"]),
    ({"title": "Up", "year": True, "rating": 8.3}, ["field 'year' is not integer"]),
    (["Up"], ["the answer is not object"]),
])
def test_the_basics_are_checked(value, found):
    assert chat_schema.problems(value, chat_schema.parse_short(MOVIE)) == found


def test_rich_schemas_are_checked_fully_with_jsonschema():
    rich = {"type": "object", "properties": {"size": {"type": "string", "enum": ["S", "M"]}}, "required": ["size"]}
    with pytest.raises(core_errors.GradientError) as caught:
        chat_schema.check({"size": "XL"}, rich, '{"size": "XL"}')
    assert "is not one of" in caught.value.message and caught.value.raw == '{"size": "XL"}'


# ---------------------------------------------------------------- --schema through the fake server

def test_schema_as_a_forced_tool_prints_one_json_line(api, keyed, capsys):
    api.json("POST", CHAT, tool_answer('{"title": "Up", "year": 2009, "rating": 8.3}'))
    assert run(api, "--schema", MOVIE, "--schema-mode", "tool") == 0  # the remote providers' way, forced here
    assert capsys.readouterr().out == '{"title": "Up", "year": 2009, "rating": 8.3}\n'
    body = api.calls()[0].json
    assert body["tool_choice"] == {"type": "function", "function": {"name": "answer"}}
    assert body["tools"][0]["function"]["parameters"]["required"] == ["title", "year", "rating"]
    assert "response_format" not in body


def test_on_a_local_server_response_format_is_tried_then_json_object_then_the_tool(api, capsys):
    api.add("POST", CHAT, Reply(400, json={"error": {"message": "json_schema not supported"}}),
            Reply(422, json={"error": {"message": "no"}}),
            Reply(json=tool_answer('{"title": "Up", "year": 2009, "rating": 8.3}')))
    assert run(api, "--schema", MOVIE, "--json") == 0
    forms = [call.json.get("response_format", {}).get("type") or call.json["tool_choice"]["function"]["name"]
             for call in api.calls()]
    assert forms == ["json_schema", "json_object", "answer"]
    assert api.calls()[1].json["response_format"]["schema"]["required"] == ["title", "year", "rating"]
    captured = capsys.readouterr()
    assert json.loads(captured.out)["data"] == {"title": "Up", "year": 2009, "rating": 8.3}
    assert captured.err.count("refused this way of asking for JSON") == 2


def test_an_answer_that_breaks_the_schema_is_exit_1_with_the_raw_text(api, capsys):
    api.json("POST", CHAT, text_answer('{"title": "Up", "year": "soon"}'))
    assert run(api, "--schema", MOVIE, "--json") == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "invalid_response" and "lacks the field 'rating'" in error["message"]
    assert "field 'year' is not integer" in error["message"] and error["raw"] == '{"title": "Up", "year": "soon"}'


def test_an_answer_that_is_not_json_is_exit_1(api, capsys):
    api.json("POST", CHAT, text_answer("Sure! Here is the movie: Up (2009)"))
    assert run(api, "--schema", MOVIE) == 1
    assert "the answer is not JSON" in capsys.readouterr().err


def test_a_fenced_answer_and_schema_multi(api, capsys):
    api.json("POST", CHAT, text_answer('```json\n{"items": [{"title": "Up", "year": 2009, "rating": 8.3}]}\n```'))
    assert run(api, "--schema-multi", MOVIE) == 0
    assert json.loads(capsys.readouterr().out) == [{"title": "Up", "year": 2009, "rating": 8.3}]


def test_schema_streamed_and_on_the_responses_api(api, capsys):
    api.add("POST", RESPONSES, sse_reply(
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "function_call", "call_id": "c1", "name": "answer", "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"title": "Up", "ye'},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": 'ar": 2009, "rating": 8}'},
        {"type": "response.completed", "response": {"id": "r1", "status": "completed", "output": []}}, done=False))
    assert run(api, "--responses-api", "--stream", "--schema", MOVIE, "--schema-mode", "tool") == 0
    assert capsys.readouterr().out == '{"title": "Up", "year": 2009, "rating": 8}\n'
    body = api.calls()[0].json
    assert body["tools"][0]["name"] == "answer" and body["tools"][0]["type"] == "function"


# ---------------------------------------------------------------- client-side tools

WEATHER = {"name": "weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def tool_file(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([WEATHER, {"type": "function", "function": dict(WEATHER, name="time")}]))
    return str(path)


def test_tool_calls_are_shown_and_in_the_envelope(api, tool_file, capsys):
    api.json("POST", CHAT, tool_answer('{"city": "Paris"}', name="weather"))
    assert run(api, "--tool", tool_file, "--tool-choice", "weather") == 0
    assert capsys.readouterr().out == 'tool call weather {"city": "Paris"}\n'
    body = api.calls()[0].json
    assert [t["function"]["name"] for t in body["tools"]] == ["weather", "time"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert run(api, "--tool", tool_file, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["tool_calls"] == [{"id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}]
    assert document["finish_reason"] == "tool_calls" and api.calls()[1].json.get("tool_choice") is None


def test_invalid_tool_call_json_is_reported_as_such(api, tool_file, capsys):
    api.json("POST", CHAT, tool_answer('{"city": "Par', name="weather"))
    assert run(api, "--tool", tool_file, "--json") == 0
    call = json.loads(capsys.readouterr().out)["tool_calls"][0]
    assert call["arguments"] is None and call["error"] == "the model's arguments are not valid JSON"
    assert call["arguments_text"] == '{"city": "Par'


def test_streamed_tool_call_deltas_split_mid_string_are_assembled(api, tool_file, capsys):
    def piece(**delta):
        return {"choices": [{"index": 0, "delta": {"tool_calls": [dict({"index": 0}, **delta)]}}]}
    api.add("POST", CHAT, sse_reply(piece(id="call_9", type="function", function={"name": "weather", "arguments": ""}),
                                    piece(function={"arguments": '{"ci'}), piece(function={"arguments": 'ty": "Pa'}),
                                    piece(function={"arguments": 'ris"}'}),
                                    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
    assert run(api, "--tool", tool_file, "--stream", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["tool_calls"] == [{"id": "call_9", "name": "weather", "arguments": {"city": "Paris"}}]


def test_a_tool_result_turn_goes_back_in_messages(api, tool_file, tmp_path, capsys):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                                                               "function": {"name": "weather",
                                                                            "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"}]))
    api.json("POST", CHAT, text_answer("It is 18 C and sunny in Paris."))
    assert gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages", str(history),
                               "--tool", tool_file]) == 0
    assert capsys.readouterr().out == "It is 18 C and sunny in Paris.\n"
    sent = api.calls()[0].json["messages"]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"}


@pytest.mark.parametrize("turn, words", [
    ({"role": "tool", "content": "x"}, "tool_call_id"),
    ({"role": "assistant", "tool_calls": []}, "non-empty list"),
    ({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]},
     "arguments as a JSON string"),
])
def test_bad_tool_turns_name_the_entry(api, tmp_path, capsys, turn, words):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": "hi"}, turn]))
    with pytest.raises(SystemExit) as caught:
        gradient_chat.main(["--base-url", api.url, "--no-stdin", "--messages", str(history)])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "entry 1" in err and words in err and api.calls() == []


@pytest.mark.parametrize("argv, words", [(["--tool-choice", "auto"], "needs --tool"),
                                         (["--schema", MOVIE, "--tool", "{tools}"], "use one of them"),
                                         (["--tool", "{tools}", "--tool-choice", "nope"], "names no tool")])
def test_tool_flags_used_wrongly_are_usage_errors(api, tool_file, capsys, argv, words):
    with pytest.raises(SystemExit) as caught:
        run(api, *[a.format(tools=tool_file) for a in argv])
    assert caught.value.code == 2 and words in capsys.readouterr().err and api.calls() == []


# ---------------------------------------------------------------- DigitalOcean's server-side tools

def test_web_search_and_mcp_tools_reach_the_body(api, keyed, monkeypatch, capsys):
    monkeypatch.setenv("DOCS_MCP_TOKEN", "mcp-secret-0123456789")
    api.json("POST", CHAT, dict(text_answer("found it: mcp-secret-0123456789"),
                                usage={"prompt_tokens": 10, "completion_tokens": 5,
                                       "server_tool_use": {"web_search_requests": 2}}))
    assert run(api, "--web-search-max", "2", "--mcp", "docs=https://mcp.example.com/sse", "--mcp-allow", "search",
               "--mcp-auth-env", "DOCS_MCP_TOKEN", "--json", "--verbose") == 0
    tools = api.calls()[0].json["tools"]
    assert tools == [{"type": "web_search", "max_uses": 2},
                     {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/sse",
                      "allowed_tools": ["search"], "authorization": "mcp-secret-0123456789"}]
    captured = capsys.readouterr()
    assert "mcp-secret-0123456789" not in captured.out + captured.err
    assert json.loads(captured.out)["content"] == "found it: ***"


def test_web_searches_are_counted_in_the_cost_or_said_unknown(api, monkeypatch, tmp_path, capsys):

    assert chat_tools.search_cost(0.001, {"server_tool_use": {"web_search_requests": 3}}, True) == 0.031
    assert chat_tools.search_cost(0.001, {"prompt_tokens": 1}, True) == 0.001
    assert "does not say how many web searches ran" in capsys.readouterr().err
    assert chat_tools.search_cost(0.001, None, False) == 0.001


@pytest.mark.parametrize("argv, words", [(["--mcp", "nolabel"], "LABEL=URL"), (["--mcp-allow", "x"], "go with --mcp"),
                                         (["--mcp", "a=https://x", "--mcp-auth-env", "UNSET_VAR_123"], "empty or unset"),
                                         (["--web-search-max", "0"], "must be")])
def test_server_tool_flags_used_wrongly_are_usage_errors(api, capsys, argv, words):
    with pytest.raises(SystemExit) as caught:
        run(api, *argv)
    assert caught.value.code == 2 and words in capsys.readouterr().err and api.calls() == []


def test_a_form_refused_with_500_goes_to_the_next_without_retries(api, capsys):
    """llama-cpp-python answers json_schema with a 500: retrying it only wasted a second or more."""
    api.add("POST", CHAT, Reply(500, json={"error": {"message": "validation error"}}),
            Reply(json=text_answer('{"title": "Up", "year": 2009, "rating": 8.3}')))
    assert run(api, "--schema", MOVIE, "--json", "--max-retries", "2") == 0
    forms = [call.json["response_format"]["type"] for call in api.calls()]
    assert forms == ["json_schema", "json_object"], "the refused form was retried"


# ---------------------------------------------------------------- servers that ignore response_format

def test_prose_to_response_format_is_asked_once_more_as_the_forced_tool(api, capsys):
    """A local server that ignores response_format answers prose; the forced tool gets the JSON."""
    import os
    import sqlite3

    api.add("POST", CHAT, Reply(json=dict(text_answer("Sure! The movie is Alien, 1979."),
                                          usage={"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18})),
            Reply(json=tool_answer('{"title": "Alien", "year": 1979, "rating": 8.5}')))
    assert run(api, "--schema", MOVIE, "--json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["data"] == {"title": "Alien", "year": 1979, "rating": 8.5}
    assert "asking once more with the schema as a forced tool" in captured.err
    first, second = (call.json for call in api.calls("POST", CHAT))
    assert first["response_format"]["type"] == "json_schema" and "tools" not in first
    assert second["tool_choice"] == {"type": "function", "function": {"name": chat_schema.TOOL_NAME}}
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute(
        "SELECT outcome, input_tokens FROM calls ORDER BY id").fetchall()
    assert rows == [("invalid_response", 9), ("ok", None)]  # the prose answer was paid for: its row says so


def test_response_format_asked_for_by_name_is_not_retried(api, capsys):
    api.json("POST", CHAT, text_answer("Sure! The movie is Alien."))
    assert run(api, "--schema", MOVIE, "--schema-mode", "response_format") == 1
    assert "the answer is not JSON" in capsys.readouterr().err and len(api.calls("POST", CHAT)) == 1


def test_prose_twice_fails_after_one_more_try(api, capsys):
    api.json("POST", CHAT, text_answer("I would rather talk about the weather."))
    assert run(api, "--schema", MOVIE) == 1
    assert "the answer is not JSON" in capsys.readouterr().err and len(api.calls("POST", CHAT)) == 2


def test_an_answer_that_is_json_but_misfits_is_not_retried(api, capsys):
    api.json("POST", CHAT, text_answer('{"title": "Alien"}'))
    assert run(api, "--schema", MOVIE) == 1
    assert "lacks the field 'year'" in capsys.readouterr().err and len(api.calls("POST", CHAT)) == 1


def test_fields_on_separate_lines_may_hold_commas_and_a_stray_comma_says_how(capsys):
    from gradient_inference.chat import schema as short

    found = short.parse_short("label: positive, negative or neutral\nconfidence float")
    assert found["properties"] == {"label": {"type": "string", "description": "positive, negative or neutral"},
                                   "confidence": {"type": "number"}}
    assert short.parse_short("title,\nyear int")["required"] == ["title", "year"]  # commas that only separate
    with pytest.raises(short.UsageError) as caught:
        short.parse_short("label: positive, negative or neutral, confidence float")
    assert "give one field a line" in str(caught.value)


def test_a_server_seen_ignoring_response_format_is_asked_with_the_tool_at_once_for_a_day(api, capsys):
    """Pay once: after one prose answer to response_format, later --schema calls to the same local
    server go straight to the forced tool; a day later it is asked the usual way again."""
    import os

    api.add("POST", CHAT, Reply(json=text_answer("Sure! Alien, 1979.")),
            Reply(json=tool_answer('{"title": "Alien", "year": 1979, "rating": 8.5}')))
    assert run(api, "--schema", MOVIE, "--json") == 0
    capsys.readouterr()
    api.routes[("POST", CHAT)] = [Reply(json=tool_answer('{"title": "Heat", "year": 1995, "rating": 8.3}'))]
    assert run(api, "--schema", MOVIE, "--json") == 0
    assert json.loads(capsys.readouterr().out)["data"]["title"] == "Heat"
    third = api.calls("POST", CHAT)[2].json
    assert "response_format" not in third and third["tool_choice"]["function"]["name"] == chat_schema.TOOL_NAME
    assert len(api.calls("POST", CHAT)) == 3  # paid once for the prose, never again
    path = os.environ["GRADIENT_MODELS_CACHE"]
    document = json.loads(open(path).read())
    document["quirks"][api.url]["ignores_response_format"] = "2020-01-01T00:00:00Z"  # a day later
    with open(path, "w") as handle:
        json.dump(document, handle)
    api.routes[("POST", CHAT)] = [Reply(json=tool_answer('{"title": "Ran", "year": 1985, "rating": 8.2}'))]
    run(api, "--schema", MOVIE, "--json")
    assert "response_format" in api.calls("POST", CHAT)[3].json
