"""gradient_chat.py: request bodies, stdin, vision, streaming, reasoning, envelopes."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import pytest

import gradient_chat
from conftest import FAKE_KEY, SCRIPTS, tiny_png
from fakeapi import Reply, sse, sse_reply

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"


def chat_completion(content="Hello!", reasoning=None, finish="stop", usage=None, **extra):
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "openai-gpt-oss-120b",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}, **extra}


def responses_answer(text="Hi there", reasoning_first=True, status="completed"):
    output = []
    if reasoning_first:
        output.append({"type": "reasoning", "id": "rs_1",
                       "content": [{"type": "reasoning_text", "text": "thinking..."}]})
    output.append({"type": "message", "id": "msg_1", "role": "assistant",
                   "content": [{"type": "output_text", "text": text}]})
    return {"id": "resp_1", "object": "response", "model": "openai-gpt-oss-120b", "status": status,
            "output": output, "usage": {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13,
                                        "input_tokens_details": {"cached_tokens": 3}}}


def delta(text=None, reasoning=None, finish=None):
    d = {}
    if text is not None:
        d["content"] = text
    if reasoning is not None:
        d["reasoning_content"] = reasoning
    return {"id": "chatcmpl-s", "model": "openai-gpt-oss-120b",
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


USAGE_CHUNK = {"id": "chatcmpl-s", "choices": [],
               "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}


@pytest.fixture
def no_stdin(monkeypatch):
    """In-process runs see a terminal-like stdin unless a test gives one."""
    class Tty:
        def isatty(self):
            return True
    monkeypatch.setattr(sys, "stdin", Tty())


@pytest.fixture
def pipe_stdin(monkeypatch):
    def give(data: bytes):
        read_fd, write_fd = os.pipe()
        os.write(write_fd, data)
        os.close(write_fd)
        monkeypatch.setattr(sys, "stdin", open(read_fd, "r", encoding="utf-8"))
    return give


def run_chat(api, *argv):
    return gradient_chat.main(["--base-url", api.url, *argv])


# ---------------------------------------------------------------- request bodies

def test_chat_body_with_every_flag(api, keyed, no_stdin, tmp_path, capsys):
    api.json("POST", CHAT, chat_completion())
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]))
    code = run_chat(api, "--provider", "digitalocean", "--model", "llama3.3-70b-instruct", "--system", "Be brief.",
                    "--messages", str(history),
                    "--prompt", "And now?", "--temperature", "0.2", "--max-tokens", "50", "--no-stream")
    assert code == 0
    assert capsys.readouterr().out == "Hello!\n"
    seen = api.calls("POST", CHAT)[0]
    assert seen.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert seen.json == {
        "model": "llama3.3-70b-instruct", "stream": False, "temperature": 0.2, "max_completion_tokens": 50,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "And now?"}]}


def test_chat_defaults_send_no_temperature_and_default_model(api, no_stdin, monkeypatch):
    api.json("POST", CHAT, chat_completion())
    assert run_chat(api, "--prompt", "Hi", "--no-stream") == 0
    body = api.calls()[0].json
    assert body["model"] == "openai-gpt-oss-120b"
    assert "temperature" not in body and "stream_options" not in body and "max_completion_tokens" not in body
    monkeypatch.setenv("GRADIENT_MODEL", "alibaba-qwen3-32b")
    assert run_chat(api, "--prompt", "Hi", "--no-stream") == 0
    assert api.calls()[1].json["model"] == "alibaba-qwen3-32b"


def test_local_server_gets_max_tokens(api, no_stdin):
    api.json("POST", CHAT, chat_completion())
    assert run_chat(api, "--prompt", "Hi", "--max-tokens", "7", "--no-stream") == 0
    body = api.calls()[0].json
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body


def test_provider_preset_names_the_max_tokens_field(api, no_stdin, monkeypatch):
    monkeypatch.setenv("VULTR_API_KEY", "v")
    api.json("POST", CHAT, chat_completion())
    assert run_chat(api, "--provider", "vultr", "--prompt", "Hi", "--max-tokens", "9", "--no-stream") == 0
    body = api.calls()[0].json
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body


def test_responses_body_with_every_flag(api, keyed, no_stdin, capsys):
    api.json("POST", RESPONSES, responses_answer())
    code = run_chat(api, "--responses-api", "--system", "Be brief.", "--prompt", "Explain caching",
                    "--max-tokens", "64", "--temperature", "0.5", "--cache", "--no-stream")
    assert code == 0
    assert capsys.readouterr().out == "Hi there\n"
    assert api.calls("POST", RESPONSES)[0].json == {
        "model": "openai-gpt-oss-120b", "input": "Explain caching", "instructions": "Be brief.",
        "max_output_tokens": 64, "temperature": 0.5, "store": True}


def test_cache_control_only_for_anthropic_models(api, no_stdin):
    api.json("POST", CHAT, chat_completion())
    run_chat(api, "--model", "anthropic-claude-3.7-sonnet", "--system", "Long rules", "--prompt", "Q",
             "--cache", "--no-stream")
    run_chat(api, "--model", "anthropic-claude-3.7-sonnet", "--prompt", "Long doc", "--cache", "--no-stream")
    run_chat(api, "--model", "openai-gpt-oss-120b", "--system", "Long rules", "--prompt", "Q", "--cache",
             "--no-stream")
    with_system, without_system, not_anthropic = (c.json["messages"] for c in api.calls())
    assert with_system[0] == {"role": "system", "content": [
        {"type": "text", "text": "Long rules", "cache_control": {"type": "ephemeral"}}]}
    assert with_system[1] == {"role": "user", "content": "Q"}
    assert without_system[0]["content"] == [
        {"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}]
    assert "cache_control" not in json.dumps(not_anthropic)
    assert all("store" not in c.json for c in api.calls())


def test_image_parts_from_a_real_png_and_a_url(api, no_stdin, tmp_path):
    png = tiny_png()
    (tmp_path / "dot.png").write_bytes(png)
    api.json("POST", CHAT, chat_completion())
    api.json("POST", RESPONSES, responses_answer())
    images = ["--image", str(tmp_path / "dot.png"), "--image", "https://example.com/cat.jpg"]
    assert run_chat(api, "--prompt", "Describe", *images, "--no-stream") == 0
    assert run_chat(api, "--responses-api", "--prompt", "Describe", *images, "--no-stream") == 0
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    chat_call, responses_call = api.calls()
    assert chat_call.json["messages"][-1]["content"] == [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    assert responses_call.json["input"] == [{"role": "user", "content": [
        {"type": "input_text", "text": "Describe"},
        {"type": "input_image", "image_url": data_url, "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"}]}]


def test_non_image_and_missing_image_are_refused_before_sending(api, no_stdin, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not really a png")
    assert run_chat(api, "--prompt", "x", "--image", str(tmp_path / "notes.png")) == 1
    assert "is not an image" in capsys.readouterr().err
    assert run_chat(api, "--prompt", "x", "--image", str(tmp_path / "missing.png")) == 1
    assert "cannot read image" in capsys.readouterr().err
    assert api.requests == []


def test_oversized_image_is_refused(api, no_stdin, tmp_path, capsys):
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(20 * 1024 * 1024 + 1)
    assert run_chat(api, "--prompt", "x", "--image", str(big)) == 1
    assert "over the 20 MB limit" in capsys.readouterr().err and api.requests == []


@pytest.mark.parametrize("content, message", [
    ('{"role": "user"}', "not a list"),
    ('[{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}]', "entry 1: role must be"),
    ('[{"role": "user", "content": 5}]', "entry 0: content must be"),
    ('[1]', "entry 0: not an object"),
    ('[{"role": ', "not JSON"),
])
def test_messages_file_is_validated(api, no_stdin, tmp_path, capsys, content, message):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as caught:
        run_chat(api, "--messages", str(path), "--prompt", "x")
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert (message in err) if message != "not a list" else "must hold a JSON array" in err


# ---------------------------------------------------------------- stdin

def test_piped_stdin_goes_before_the_prompt(api, pipe_stdin):
    api.json("POST", CHAT, chat_completion())
    pipe_stdin(b"diff --git a b\n+line\n")
    assert run_chat(api, "--prompt", "Review this", "--no-stream") == 0
    assert api.calls()[0].json["messages"][-1]["content"] == "diff --git a b\n+line\n\nReview this"


def test_prompt_dash_reads_stdin(api, pipe_stdin):
    api.json("POST", CHAT, chat_completion())
    pipe_stdin("Qu'est-ce que c'est ?".encode())
    assert run_chat(api, "--prompt", "-", "--no-stream") == 0
    assert api.calls()[0].json["messages"][-1]["content"] == "Qu'est-ce que c'est ?"


def test_stdin_alone_is_the_prompt_and_messages_from_stdin(api, pipe_stdin):
    api.json("POST", CHAT, chat_completion())
    pipe_stdin(b"just stdin")
    assert run_chat(api, "--no-stream") == 0
    pipe_stdin(json.dumps([{"role": "user", "content": "from file"}]).encode())
    assert run_chat(api, "--messages", "-", "--no-stream") == 0
    assert api.calls()[0].json["messages"] == [{"role": "user", "content": "just stdin"}]
    assert api.calls()[1].json["messages"] == [{"role": "user", "content": "from file"}]


def test_non_utf8_stdin_is_replaced_with_a_warning(api, pipe_stdin, capsys):
    api.json("POST", CHAT, chat_completion())
    pipe_stdin(b"caf\xe9 ")
    assert run_chat(api, "--prompt", "-", "--no-stream") == 0
    assert "not valid UTF-8" in capsys.readouterr().err
    assert api.calls()[0].json["messages"][-1]["content"] == "caf\ufffd "


@pytest.mark.parametrize("argv, stdin, message", [
    ([], b"", "give --prompt TEXT"),
    (["--prompt", ""], None, "the prompt is empty"),
    (["--prompt", "-"], b"   \n", "the prompt is empty"),
    (["--prompt", "-", "--messages", "-"], b"", "cannot both read stdin"),
    (["--max-tokens", "0", "--prompt", "x"], None, "must be 1 or more"),
    (["--temperature", "-1", "--prompt", "x"], None, "between 0 and 2"),
    (["--temperature", "abc", "--prompt", "x"], None, "is not a number"),
])
def test_usage_errors_exit_2(api, pipe_stdin, no_stdin, capsys, argv, stdin, message):
    if stdin is not None:
        pipe_stdin(stdin)
    with pytest.raises(SystemExit) as caught:
        run_chat(api, *argv)
    assert caught.value.code == 2 and message in capsys.readouterr().err
    assert api.requests == []


def test_open_idle_stdin_pipe_does_not_hang(api, script):
    api.json("POST", CHAT, chat_completion())
    read_fd, write_fd = os.pipe()  # we hold the write end open and never write
    try:
        started = time.monotonic()
        done = script("gradient_chat", "--base-url", api.url, "--prompt", "Hi", stdin=read_fd, timeout=20)
        assert time.monotonic() - started < 10
        assert done.returncode == 0 and done.stdout == b"Hello!\n"
        assert b"stdin sent nothing" in done.stderr
        done = script("gradient_chat", "--base-url", api.url, stdin=read_fd, timeout=20)
        assert done.returncode == 2 and b"give --prompt TEXT" in done.stderr
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_subprocess_pipe_and_devnull(api, script):
    api.json("POST", CHAT, chat_completion())
    done = script("gradient_chat", "--base-url", api.url, "--prompt", "Review", input=b"some diff")
    assert done.returncode == 0 and done.stdout == b"Hello!\n"
    assert api.calls()[-1].json["messages"][-1]["content"] == "some diff\n\nReview"
    done = script("gradient_chat", "--base-url", api.url, "--prompt", "Hi")  # stdin is /dev/null
    assert done.returncode == 0 and done.stderr == b""


# ---------------------------------------------------------------- streaming

def test_stream_prints_deltas_and_collects_usage_chunk(api, keyed, no_stdin, capsys):
    api.add("POST", CHAT, sse_reply(delta(""), delta("Hel"), delta("lo"), delta(finish="stop"), USAGE_CHUNK))
    assert run_chat(api, "--prompt", "Hi", "--stream", "--usage") == 0
    captured = capsys.readouterr()
    assert captured.out == "Hello\n"
    assert "tokens: 7 in, 3 out" in captured.err
    body = api.calls()[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_split_mid_line_with_crlf(api, no_stdin, capsys):
    raw = "".join(f"data: {json.dumps(delta(w))}\r\n\r\n" for w in ["A", "B", "C"]) + "data: [DONE]\r\n\r\n"
    pieces = [raw[i:i + 7].encode() for i in range(0, len(raw), 7)]
    api.add("POST", CHAT, Reply(chunks=pieces, headers={"Content-Type": "text/event-stream"}))
    assert run_chat(api, "--prompt", "Hi", "--stream") == 0
    assert capsys.readouterr().out == "ABC\n"


def test_stream_json_envelope_uses_streaming_on_the_wire(api, no_stdin, capsys):
    api.add("POST", CHAT, sse_reply(delta("Hi"), delta(finish="stop"), USAGE_CHUNK,
                                    headers={"x-request-id": "req-s"}))
    assert run_chat(api, "--prompt", "Hi", "--stream", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["content"] == "Hi" and document["request_id"] == "req-s"
    assert document["usage"] == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10,
                                 "cached_input_tokens": None, "cache_write_tokens": None, "cache_write_1h_tokens": None, "reasoning_tokens": None}


def test_mid_stream_error_keeps_printed_text_and_exits_1(api, no_stdin, capsys):
    api.add("POST", CHAT, sse_reply(delta("Partial"), {"error": {"message": "model overloaded"}}, done=False))
    assert run_chat(api, "--prompt", "Hi", "--stream") == 1
    captured = capsys.readouterr()
    assert captured.out == "Partial\n"
    assert "the stream reported an error: model overloaded" in captured.err


def test_truncated_stream_is_an_error(api, no_stdin, capsys):
    api.add("POST", CHAT, sse_reply(delta("Cut"), done=False))
    assert run_chat(api, "--prompt", "Hi", "--stream") == 1
    captured = capsys.readouterr()
    assert captured.out == "Cut\n" and "no [DONE]" in captured.err


def test_dropped_connection_mid_stream(api, no_stdin, capsys):
    api.add("POST", CHAT, Reply(chunks=sse(delta("A"), delta("B")), cut_after=1,
                                headers={"Content-Type": "text/event-stream"}))
    assert run_chat(api, "--prompt", "Hi", "--stream") == 1
    captured = capsys.readouterr()
    assert captured.out == "A\n" and "error:" in captured.err


def test_stream_reasoning_goes_to_stderr_only_when_asked(api, no_stdin, capsys):
    api.add("POST", CHAT, sse_reply(delta(reasoning="Let me think. "), delta(text=None, reasoning="Done."),
                                    delta("42"), delta(finish="stop")))
    assert run_chat(api, "--prompt", "Q", "--stream") == 0
    captured = capsys.readouterr()
    assert captured.out == "42\n" and "think" not in captured.err
    assert run_chat(api, "--prompt", "Q", "--stream", "--show-reasoning") == 0
    captured = capsys.readouterr()
    assert captured.out == "42\n" and "Let me think. Done." in captured.err


def test_responses_stream(api, no_stdin, capsys):
    completed = responses_answer("Hello world")
    api.add("POST", RESPONSES, sse_reply(
        {"type": "response.created", "response": {"id": "resp_1"}},
        {"type": "response.reasoning_text.delta", "delta": "hmm"},
        {"type": "response.output_text.delta", "delta": "Hello"},
        {"type": "response.something_new", "x": 1},
        {"type": "response.output_text.delta", "delta": " world"},
        {"type": "response.completed", "response": completed}, done=False))
    assert run_chat(api, "--responses-api", "--prompt", "Hi", "--stream", "--usage") == 0
    captured = capsys.readouterr()
    assert captured.out == "Hello world\n"
    assert "tokens: 9 in, 4 out (3 cached)" in captured.err
    assert api.calls()[0].json["stream"] is True


@pytest.mark.parametrize("event, message", [
    ({"type": "response.failed", "response": {"error": {"message": "quota hit"}}}, "quota hit"),
    ({"type": "error", "message": "bad thing"}, "bad thing"),
])
def test_responses_stream_failures(api, no_stdin, capsys, event, message):
    api.add("POST", RESPONSES, sse_reply({"type": "response.output_text.delta", "delta": "x"}, event, done=False))
    assert run_chat(api, "--responses-api", "--prompt", "Hi", "--stream") == 1
    assert message in capsys.readouterr().err


def test_responses_stream_without_completed_is_truncated(api, no_stdin, capsys):
    api.add("POST", RESPONSES, sse_reply({"type": "response.output_text.delta", "delta": "x"}, done=False))
    assert run_chat(api, "--responses-api", "--prompt", "Hi", "--stream") == 1
    assert "no response.completed" in capsys.readouterr().err


def test_chunks_appear_one_by_one(api):
    """Chunks sent 200 ms apart must reach our stdout as they arrive, not all at the end."""
    words = [f"w{i} " for i in range(5)]
    api.add("POST", CHAT, sse_reply(*[delta(w) for w in words], chunk_delay=0.2))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url,
                                "--prompt", "Hi", "--stream"], stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    arrivals = []
    try:
        while len(arrivals) < len(words):
            piece = os.read(process.stdout.fileno(), 100)
            if not piece:
                break
            arrivals.append((time.monotonic(), piece))
    finally:
        process.wait(timeout=30)
    assert b"".join(p for _, p in arrivals).startswith(b"w0 w1 w2 w3 w4")
    assert len(arrivals) >= 4
    gaps = [later[0] - earlier[0] for earlier, later in zip(arrivals, arrivals[1:])]
    assert sum(gap > 0.1 for gap in gaps) >= 3


# ---------------------------------------------------------------- answers

def test_null_content_with_reasoning_does_not_print_none(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion(content=None, reasoning="thinking hard", finish="length"))
    assert run_chat(api, "--prompt", "Q", "--no-stream") == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "max tokens cut it off while the model was reasoning" in captured.err


def test_reasoning_with_content_and_show_reasoning(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion(content="42", reasoning="6*7"))
    assert run_chat(api, "--prompt", "Q", "--no-stream", "--show-reasoning") == 0
    captured = capsys.readouterr()
    assert captured.out == "42\n" and "6*7" in captured.err


@pytest.mark.parametrize("document", [
    {"choices": []}, {"object": "chat.completion"}, {"choices": "nope"},
    chat_completion(content="", finish="stop"),
])
def test_empty_or_missing_choices_are_invalid_response(api, no_stdin, capsys, document):
    api.json("POST", CHAT, document)
    assert run_chat(api, "--prompt", "Q", "--no-stream", "--json") == 1
    assert json.loads(capsys.readouterr().err)["error"]["type"] == "invalid_response"


def test_responses_empty_output_is_invalid(api, no_stdin, capsys):
    api.json("POST", RESPONSES, {"id": "r", "status": "completed", "output": []})
    assert run_chat(api, "--responses-api", "--prompt", "Q", "--no-stream") == 1
    assert "no text" in capsys.readouterr().err


def test_json_envelope_chat(api, no_stdin, capsys):
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
             "prompt_tokens_details": {"cached_tokens": 64}}
    api.json("POST", CHAT, chat_completion(content="Hi", reasoning="r", usage=usage),
             headers={"x-request-id": "req-42"})
    assert run_chat(api, "--prompt", "Q", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"model", "api", "content", "reasoning", "finish_reason", "usage", "cost_usd",
                             "id", "request_id", "duration_ms", "conversation_id", "requested_model", "assistant_turn",
                             "cost_is_estimate"}
    assert document["assistant_turn"] == {"role": "assistant", "content": "Hi"}
    assert (document["api"], document["content"], document["reasoning"], document["finish_reason"]) == (
        "chat", "Hi", "r", "stop")
    assert document["usage"] == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120,
                                 "cached_input_tokens": 64, "cache_write_tokens": None, "cache_write_1h_tokens": None, "reasoning_tokens": None}
    assert (document["id"], document["request_id"]) == ("chatcmpl-1", "req-42")
    assert isinstance(document["duration_ms"], int)
    assert api.calls()[0].json["stream"] is False


def test_json_envelope_responses_with_reasoning_item_first(api, no_stdin, capsys):
    api.json("POST", RESPONSES, responses_answer("Answer"))
    assert run_chat(api, "--responses-api", "--prompt", "Q", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["api"], document["content"], document["reasoning"]) == ("responses", "Answer", "thinking...")
    assert document["usage"] == {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13,
                                 "cached_input_tokens": 3, "cache_write_tokens": None, "cache_write_1h_tokens": None, "reasoning_tokens": None}
    assert document["finish_reason"] == "stop"


def test_usage_strings_become_null(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion(usage={"prompt_tokens": "12", "completion_tokens": None}))
    assert run_chat(api, "--prompt", "Q", "--json", "--usage") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["usage"]["input_tokens"] is None
    assert "tokens: ? in, ? out" in captured.err


def test_usage_line_in_human_mode(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion())
    assert run_chat(api, "--prompt", "Q", "--usage") == 0
    captured = capsys.readouterr()
    assert captured.out == "Hello!\n" and captured.err.startswith("tokens: 12 in, 5 out")


def test_http_errors_use_the_common_mapping(api, no_stdin, capsys):
    api.json("POST", CHAT, {"error": {"message": "model not found"}}, status=404)
    assert run_chat(api, "--prompt", "Q", "--model", "nope") == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "model not found" in err and "gradient_models.py" in err


def test_subprocess_json_and_key_never_printed(api, script):
    api.json("POST", CHAT, chat_completion())
    done = script("gradient_chat", "--base-url", api.url, "--prompt", "Hi", "--json", "--verbose",
                  env={"GRADIENT_API_KEY": FAKE_KEY})
    assert done.returncode == 0
    assert json.loads(done.stdout)["content"] == "Hello!"
    assert FAKE_KEY.encode() not in done.stdout + done.stderr
    assert b"Bearer ***" in done.stderr


def test_cost_from_the_bundled_snapshot(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion(usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    assert run_chat(api, "--prompt", "Q", "--json", "--usage") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cost_usd"] == pytest.approx(1000 * 0.10 / 1e6 + 500 * 0.70 / 1e6)
    assert "cost $0.000450 (prices: bundled snapshot of 2026-02-16, " in captured.err and "months old" in captured.err
    assert api.calls("GET") == []  # never a live scrape in the middle of a chat


def test_cost_unknown_for_unpriced_models(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion(model="some-local-model"))
    assert run_chat(api, "--prompt", "Q", "--model", "some-local-model", "--json", "--usage") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cost_usd"] is None
    assert "cost unknown (no price known for some-local-model)" in captured.err


def test_stream_request_answered_with_plain_json(api, no_stdin, capsys):
    api.json("POST", CHAT, chat_completion(content="Whole answer", reasoning="why"))
    assert run_chat(api, "--prompt", "Q", "--stream", "--usage") == 0
    captured = capsys.readouterr()
    assert captured.out == "Whole answer\n" and "tokens: 12 in, 5 out" in captured.err


def test_sse_error_event_without_an_error_key(api, no_stdin, capsys):
    parts = sse(delta("Half"))[:-1] + [b'event: error\ndata: {"message": "upstream reset"}\n\n']
    api.add("POST", CHAT, Reply(chunks=parts, headers={"Content-Type": "text/event-stream"}))
    assert run_chat(api, "--prompt", "Q", "--stream") == 1
    captured = capsys.readouterr()
    assert captured.out == "Half\n" and "upstream reset" in captured.err


def test_stream_ending_in_a_newline_gets_no_extra_blank_line(api, no_stdin, capsys):
    api.add("POST", CHAT, sse_reply(delta("line one\n"), delta("line two\n"), delta(finish="stop")))
    assert run_chat(api, "--prompt", "Q", "--stream") == 0
    assert capsys.readouterr().out == "line one\nline two\n"


# ---------------------------------------------------------------- reasoning and sampling controls

def test_controls_reach_the_chat_body_only_when_given(api, no_stdin):
    api.json("POST", CHAT, chat_completion("ok"))
    assert run_chat(api, "--prompt", "Q", "--no-stream") == 0
    assert not {"reasoning_effort", "seed", "stop", "top_p"} & set(api.calls()[0].json)
    assert run_chat(api, "--prompt", "Q", "--no-stream", "--reasoning-effort", "high", "--seed", "42",
                    "--stop", "END", "--stop", "DONE", "--top-p", "0.9") == 0
    body = api.calls()[1].json
    assert (body["reasoning_effort"], body["seed"], body["stop"], body["top_p"]) == ("high", 42, ["END", "DONE"], 0.9)
    assert run_chat(api, "--prompt", "Q", "--no-stream", "--stop", "END") == 0
    assert api.calls()[2].json["stop"] == "END"


def test_controls_on_the_responses_api(api, no_stdin):
    api.json("POST", RESPONSES, responses_answer("ok"))
    assert run_chat(api, "--responses-api", "--prompt", "Q", "--reasoning-effort", "low", "--top-p", "0.5",
                    "--stop", "END") == 0
    body = api.calls()[0].json
    assert (body["reasoning"], body["top_p"], body["stop"]) == ({"effort": "low"}, 0.5, "END")


@pytest.mark.parametrize("argv", [["--top-p", "1.5"], ["--top-p", "nan"], ["--reasoning-effort", "maximum"],
                                  ["--seed", "x"], ["--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d",
                                                    "--stop", "e"], ["--stop", ""],
                                  ["--responses-api", "--seed", "1"]])
def test_controls_out_of_range_are_usage_errors(api, no_stdin, capsys, argv):
    with pytest.raises(SystemExit) as caught:
        run_chat(api, "--prompt", "Q", *argv)
    assert caught.value.code == 2 and api.calls() == []


def test_digitaloceans_responses_stream_shape_is_read(api, no_stdin, capsys):
    chunks = [{"id": "r1", "object": "response.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}]} for part in ("Hel", "lo")]
    chunks.append({"id": "r1", "object": "response.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"input_tokens": 3, "output_tokens": 2}})
    api.add("POST", RESPONSES, sse_reply(*chunks))
    assert run_chat(api, "--responses-api", "--stream", "--prompt", "Q") == 0
    assert capsys.readouterr().out == "Hello\n"
    api.add("POST", RESPONSES, sse_reply(*chunks))
    assert run_chat(api, "--responses-api", "--stream", "--json", "--prompt", "Q") == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["content"], document["finish_reason"], document["usage"]["output_tokens"]) == ("Hello", "stop", 2)


@pytest.mark.parametrize("usage, words", [({"prompt_tokens": 1, "completion_tokens": 30,
                                            "completion_tokens_details": {"reasoning_tokens": 20}},
                                           "no reasoning text returned (20 reasoning tokens)"),
                                          (None, "the model returned no reasoning text")])
def test_show_reasoning_without_reasoning_text_says_so(api, no_stdin, capsys, usage, words):
    api.json("POST", CHAT, chat_completion("answer", usage=usage))
    assert run_chat(api, "--prompt", "q", "--show-reasoning", "--no-stream") == 0
    assert words in capsys.readouterr().err
