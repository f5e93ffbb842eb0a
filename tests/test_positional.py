"""Everyday conventions (issue 31): the text as a positional argument, as llm and most LLM command
lines take it, in chat, image, speak and embed; giving it twice is a usage error."""
from __future__ import annotations

import base64
import json

import pytest

import gradient_audio
import gradient_chat
import gradient_embed
import gradient_image
from conftest import tiny_png
from fakeapi import Reply

ANSWER = {"id": "c", "model": "m", "choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16


def test_chat_takes_the_prompt_as_an_argument(api, capsys):
    api.json("POST", "/v1/chat/completions", ANSWER)
    assert gradient_chat.main(["What is 2+2?", "--base-url", api.url, "--no-stdin"]) == 0
    assert api.calls("POST")[0].json["messages"][-1] == {"role": "user", "content": "What is 2+2?"}
    assert capsys.readouterr().out == "4\n"


def test_image_takes_the_prompt_as_an_argument(api, workdir, capsys):
    api.json("POST", "/v1/images/generations", {"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}]})
    assert gradient_image.main(["a fox", "--base-url", api.url, "--output", "f.png"]) == 0
    assert api.calls("POST")[0].json["prompt"] == "a fox"


def test_speak_takes_the_text_as_an_argument(api, workdir):
    api.add("POST", "/v1/audio/speech", Reply(body=MP3, headers={"Content-Type": "audio/mpeg"}))
    assert gradient_audio.main(["speak", "hello", "--base-url", api.url, "--output", "h.mp3"]) == 0
    assert api.calls("POST")[0].json["input"] == "hello"


def test_embed_takes_texts_as_arguments(api, capsys):
    api.json("POST", "/v1/embeddings", {"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [0.5]}]})
    assert gradient_embed.main(["one", "two", "--base-url", api.url]) == 0
    assert api.calls("POST")[0].json["input"] == ["one", "two"]
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == ["one", "two"]


@pytest.mark.parametrize("main, argv", [
    (gradient_chat.main, ["q", "--prompt", "q2"]), (gradient_image.main, ["fox", "--prompt", "cat"]),
    (gradient_embed.main, ["a", "--input", "b"]), (lambda a: gradient_audio.main(["speak", *a]), ["hi", "--text", "yo"])])
def test_the_text_given_twice_is_a_usage_error(api, capsys, main, argv):
    with pytest.raises(SystemExit) as caught:
        main(argv + ["--base-url", api.url])
    assert caught.value.code == 2 and "give the text once" in capsys.readouterr().err
    assert api.calls() == []


def test_the_short_form_comes_first_in_help(script):
    for name in ("gradient_chat", "gradient_image", "gradient_embed"):
        examples = script(name, "--help").stdout.decode().split("examples:")[1].strip().splitlines()
        assert '"' in examples[0].split(".py", 1)[1].split("--")[0], (name, examples[0])


def test_no_stdin_says_once_that_waiting_stdin_is_ignored(api, script, tmp_path):
    api.json("POST", "/v1/chat/completions", ANSWER)
    question = tmp_path / "q.txt"
    question.write_text("a whole document the user meant to send")
    with open(question, "rb") as stdin:
        done = script("gradient_chat", "--base-url", api.url, "--no-stdin", "--prompt", "Summarise", stdin=stdin)
    assert done.returncode == 0 and done.stderr.decode().count("which --no-stdin ignores") == 1
    piped = script("gradient_chat", "--base-url", api.url, "--no-stdin", "--prompt", "Summarise", input=b"piped text")
    assert piped.returncode == 0 and b"which --no-stdin ignores" in piped.stderr
    quiet = script("gradient_chat", "--base-url", api.url, "--no-stdin", "--prompt", "Summarise")  # /dev/null
    assert quiet.returncode == 0 and quiet.stderr == b""
    assert all(call.json["messages"][-1]["content"] == "Summarise" for call in api.calls("POST"))


def test_names_written_other_than_asked_are_said(api, workdir, capsys):
    from conftest import JPEG

    api.json("POST", "/v1/images/generations", {"data": [{"b64_json": base64.b64encode(JPEG).decode()}] * 2})
    assert gradient_image.main(["a fox", "--base-url", api.url, "--output", "fox.png", "--n", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == ["fox-1.jpg", "fox-2.jpg"]
    assert "wrote fox-1.jpg, fox-2.jpg (not fox.png" in captured.err
    api.routes[("POST", "/v1/images/generations")] = [Reply(json={"data": [{"b64_json": base64.b64encode(tiny_png()).decode()}]})]
    assert gradient_image.main(["a fox", "--base-url", api.url, "--output", "exact.png"]) == 0
    assert "wrote" not in capsys.readouterr().err  # the name asked for: nothing to say
