"""gradient_embed.py and gradient_audio.py against the fake API."""
from __future__ import annotations

import email
import base64
import json
import os

import pytest

import gradient_audio
import gradient_embed
from conftest import FAKE_KEY
from fakeapi import Reply

from gradient_inference.media import run_audio as media_run_audio

EMBED = "/v1/embeddings"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 32
FLAC = b"fLaC" + b"\x00" * 40


def embed_reply(seen) -> Reply:
    """Vectors from the texts ('t17' -> [17.0, 1.0]), listed in reverse to test index order."""
    texts = seen.json["input"]
    data = [{"object": "embedding", "index": i, "embedding": [float(t[1:]), 1.0]} for i, t in enumerate(texts)]
    return Reply(json={"object": "list", "model": seen.json["model"], "data": data[::-1],
                       "usage": {"prompt_tokens": len(texts) * 2, "total_tokens": len(texts) * 2}})


@pytest.fixture
def embed_api(api):
    api.add("POST", EMBED, Reply(dynamic=embed_reply))
    return api


def run_embed(api, *argv):
    return gradient_embed.main(["--base-url", api.url, *argv])


# ---------------------------------------------------------------- embeddings

def test_inputs_body_and_jsonl(embed_api, keyed, capsys):
    assert run_embed(embed_api, "--model", "embed-model", "--input", "t1", "--input", "t2",
                     "--dimensions", "2") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"index": 0, "text": "t1", "embedding": [1.0, 1.0]},
                     {"index": 1, "text": "t2", "embedding": [2.0, 1.0]}]
    call = embed_api.calls("POST", EMBED)[0]
    assert call.json == {"model": "embed-model", "input": ["t1", "t2"], "dimensions": 2}
    assert call.headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_150_inputs_in_batches_of_64_keep_their_order(embed_api, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(f"t{i}" for i in range(150)) + "\n\n\n")
    assert run_embed(embed_api, "--model", "m", "--input-file", str(source), "--json", "--usage") == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert [len(c.json["input"]) for c in embed_api.calls()] == [64, 64, 22]
    assert [row["embedding"][0] for row in document["data"]] == [float(i) for i in range(150)]
    assert [row["index"] for row in document["data"]] == list(range(150))
    assert (document["model"], document["dimensions"], document["count"]) == ("m", 2, 150)
    assert document["usage"]["input_tokens"] == 300
    assert "tokens: 300 in" in captured.err


def test_batch_size_flag(embed_api, capsys):
    assert run_embed(embed_api, "--model", "m", "--batch-size", "2", *sum((["--input", f"t{i}"] for i in range(5)),
                                                                          [])) == 0
    assert [len(c.json["input"]) for c in embed_api.calls()] == [2, 2, 1]


def test_stdin_lines(embed_api, script):
    done = script("gradient_embed", "--base-url", embed_api.url, "--model", "m", input=b"t5\n\nt6\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == ["t5", "t6"]


def test_the_default_model_and_the_env_variable(embed_api, monkeypatch, capsys):
    """No --model: the current default (the server here has no model list to check it against);
    GRADIENT_EMBED_MODEL pins one, and a pinned model is sent without asking for the list."""
    assert run_embed(embed_api, "--input", "t1") == 0
    assert embed_api.calls("POST", EMBED)[0].json["model"] == "qwen3-embedding-0.6b"
    monkeypatch.setenv("GRADIENT_EMBED_MODEL", "env-model")
    asked = len(embed_api.requests)
    assert run_embed(embed_api, "--input", "t1") == 0
    assert embed_api.requests[-1].json["model"] == "env-model" and len(embed_api.requests) == asked + 1


def test_nothing_to_embed_is_a_usage_error(embed_api, script):
    done = script("gradient_embed", "--base-url", embed_api.url, "--model", "m")  # stdin is /dev/null
    assert done.returncode == 2 and b"nothing to embed" in done.stderr


@pytest.mark.parametrize("document, message", [
    ({"data": [{"index": 0, "embedding": [1.0]}]}, "expected 2 embeddings"),
    ({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]}, "repeated indexes"),
    ({"data": [{"index": 0, "embedding": "x"}, {"index": 1, "embedding": [2.0]}]}, "not a list"),
])
def test_wrong_answers_are_invalid(api, capsys, document, message):
    api.json("POST", EMBED, document)
    assert run_embed(api, "--model", "m", "--input", "t1", "--input", "t2") == 1
    assert message in capsys.readouterr().err


def test_embed_errors_use_the_common_mapping(api, capsys):
    api.json("POST", EMBED, {"error": {"message": "model_not_found"}}, status=404)
    assert run_embed(api, "--model", "nope", "--input", "x", "--json") == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "not_found" and "gradient_models.py" in error["hint"]


# ---------------------------------------------------------------- speak

def run_audio(api, command, *argv):
    return gradient_audio.main([command, "--base-url", api.url, *argv])


def test_speak_body_and_streamed_file(api, workdir, capsys):
    api.add("POST", "/v1/audio/speech", Reply(chunks=[WAV[:10], WAV[10:]], headers={"Content-Type": "audio/wav"}))
    assert run_audio(api, "speak", "--model", "tts-1", "--text", "Hello", "--voice", "nova", "--format", "wav",
                     "--output", "hello.wav") == 0
    assert capsys.readouterr().out == "hello.wav\n"
    assert (workdir / "hello.wav").read_bytes() == WAV
    assert api.calls()[0].json == {"model": "tts-1", "input": "Hello", "voice": "nova", "response_format": "wav"}


def test_speak_extension_follows_the_real_format_and_json(api, workdir, capsys):
    api.add("POST", "/v1/audio/speech", Reply(body=MP3, headers={"Content-Type": "audio/mpeg",
                                                                 "x-request-id": "req-a"}))
    assert run_audio(api, "speak", "--model", "tts-1", "--text", "Hi", "--format", "flac", "--output", "a.flac",
                     "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["files"] == [{"path": "a.mp3", "bytes": len(MP3), "format": "mp3"}]
    assert document["request_id"] == "req-a" and os.listdir(workdir) == ["a.mp3"]


def test_speak_refuses_to_overwrite_and_non_audio(api, workdir, capsys):
    (workdir / "x.mp3").write_bytes(b"keep")
    assert run_audio(api, "speak", "--model", "tts-1", "--text", "Hi", "--output", "x.mp3") == 1
    assert "exists; use --force" in capsys.readouterr().err and api.requests == []
    api.add("POST", "/v1/audio/speech", Reply(json={"not": "audio"}))
    assert run_audio(api, "speak", "--model", "tts-1", "--text", "Hi", "--output", "y.mp3") == 1
    assert "JSON without audio" in capsys.readouterr().err
    assert sorted(os.listdir(workdir)) == ["x.mp3"]


@pytest.mark.parametrize("pieces", [[MP3], [MP3[:20], MP3[20:]]])
def test_speak_takes_the_json_envelope_of_one_or_several_items(api, workdir, capsys, pieces):
    """DigitalOcean's TTS may answer {data: [{b64_json}]}: the audio is decoded into the same checked file."""
    api.add("POST", "/v1/audio/speech", Reply(json={"data": [{"b64_json": base64.b64encode(p).decode()} for p in pieces]},
                                              headers={"Content-Type": "application/json"}))
    assert run_audio(api, "speak", "--model", "qwen3-tts-voicedesign", "--text", "Hello there", "--output", "v.mp3",
                     "--json", "--usage") == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert (workdir / "v.mp3").read_bytes() == MP3 and document["files"][0]["format"] == "mp3"
    assert document["cost_usd"] == pytest.approx(0.02 * 11 / 1000)  # $0.020 per 1K tokens, at most a token a character
    assert "an estimate that counts a token per character" in captured.err


@pytest.mark.parametrize("document, words", [({"data": [{"b64_json": "!!!"}]}, "not valid base64"),
                                             ({"data": []}, "JSON without audio"),
                                             ({"data": [{"b64_json": 5}]}, "JSON without audio")])
def test_speak_refuses_a_broken_json_envelope_and_leaves_no_file(api, workdir, capsys, document, words):
    api.add("POST", "/v1/audio/speech", Reply(json=document))
    assert run_audio(api, "speak", "--model", "qwen3-tts-voicedesign", "--text", "Hi", "--output", "v.mp3") == 1
    assert words in capsys.readouterr().err and os.listdir(workdir) == []


def test_speak_defaults_to_the_current_speech_model(api, workdir, capsys):
    api.add("POST", "/v1/audio/speech", Reply(body=MP3, headers={"Content-Type": "audio/mpeg"}))
    assert run_audio(api, "speak", "--text", "Hi", "--output", "d.mp3") == 0
    assert api.calls("POST", "/v1/audio/speech")[0].json["model"] == "qwen3-tts-voicedesign"


def test_speak_sends_the_voice_design(api, workdir, capsys):
    api.add("POST", "/v1/audio/speech", Reply(json={"data": [{"b64_json": base64.b64encode(MP3).decode()}]}))
    assert run_audio(api, "speak", "Welcome aboard", "--instructions", "a warm, slow voice", "--output", "w.mp3") == 0
    assert api.calls()[0].json == {"model": "qwen3-tts-voicedesign", "input": "Welcome aboard", "voice": "alloy",
                                   "response_format": "mp3", "instructions": "a warm, slow voice"}
    assert (workdir / "w.mp3").read_bytes() == MP3


@pytest.mark.parametrize("model, instructions, words", [
    ("fal-ai/elevenlabs/tts/multilingual-v2", "calm", "is not taken by fal-ai/elevenlabs/tts/multilingual-v2"),
    ("tts-1", "calm", "is not taken by tts-1"),
    ("qwen3-tts-voicedesign", "  ", "--instructions is empty"),
])
def test_instructions_a_model_cannot_take_are_a_usage_error_before_sending(api, workdir, capsys, model,
                                                                          instructions, words):
    with pytest.raises(SystemExit) as exit_:
        run_audio(api, "speak", "Hi", "--model", model, "--instructions", instructions)
    assert exit_.value.code == 2 and words in capsys.readouterr().err
    assert api.calls() == []


def test_transcription_404_on_digitalocean_names_the_providers_that_have_one(api, workdir, capsys):
    (workdir / "talk.mp3").write_bytes(MP3)
    api.add("POST", "/v1/audio/transcriptions", Reply(404, json={"error": {"message": "Not Found"}}))
    assert run_audio(api, "transcribe", "--model", "whisper-1", "--file", "talk.mp3") == 1
    err = capsys.readouterr().err
    assert "DigitalOcean has no transcription endpoint" in err and "--provider gitee" in err


def test_speak_text_from_stdin(api, workdir, script):
    api.add("POST", "/v1/audio/speech", Reply(body=MP3))
    done = script("gradient_audio", "speak", "--base-url", api.url, "--model", "tts-1", "--output",
                  str(workdir / "s.mp3"), input=b"read me\n")
    assert done.returncode == 0, done.stderr
    assert api.calls()[0].json["input"] == "read me"


@pytest.mark.parametrize("model, payload", [
    ("fal-ai/elevenlabs/tts/multilingual-v2", {"text": "Bonjour"}),
    ("fal-ai/stable-audio-25/text-to-audio", {"prompt": "Bonjour", "seconds_total": 8}),
])
def test_fal_speech_flow(api, workdir, capsys, model, payload):
    api.add("POST", "/v1/async-invoke", Reply(202, json={"request_id": "job-a", "status": "QUEUED"}))
    api.add("GET", "/v1/async-invoke/job-a/status", Reply(json={"status": "IN_PROGRESS"}),
            Reply(json={"status": "COMPLETED"}))
    api.json("GET", "/v1/async-invoke/job-a", {"status": "COMPLETED",
                                               "output": {"audio": {"url": api.origin + "/fal/a.mp3"}}})
    api.add("GET", "/fal/a.mp3", Reply(body=MP3, headers={"Content-Type": "audio/mpeg"}))
    assert run_audio(api, "speak", "--model", model, "--text", "Bonjour", "--seconds", "8",
                     "--poll-interval", "0.01", "--output", "fal.mp3") == 0
    captured = capsys.readouterr()
    assert api.calls("POST", "/v1/async-invoke")[0].json == {"model_id": model, "input": payload}
    assert "status: COMPLETED" in captured.err and captured.out == "fal.mp3\n"
    assert (workdir / "fal.mp3").read_bytes() == MP3


# ---------------------------------------------------------------- transcribe

def multipart_fields(call) -> dict:
    message = email.message_from_bytes(b"Content-Type: " + call.headers["Content-Type"].encode() + b"\r\n\r\n"
                                       + call.body)
    fields = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
    return fields


def test_transcribe_multipart_fields_and_text(api, keyed, tmp_path, capsys):
    audio = tmp_path / "talk.wav"
    audio.write_bytes(WAV)
    api.add("POST", "/v1/audio/transcriptions", Reply(body="hello world\n", headers={"Content-Type": "text/plain"}))
    assert run_audio(api, "transcribe", "--model", "whisper-1", "--file", str(audio), "--language", "en") == 0
    assert capsys.readouterr().out == "hello world\n"
    fields = multipart_fields(api.calls()[0])
    assert fields["file"] == ("talk.wav", "audio/wav", WAV)
    assert fields["model"][2] == b"whisper-1" and fields["language"][2] == b"en"
    assert fields["response_format"][2] == b"text"
    assert api.calls()[0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


@pytest.mark.parametrize("fmt, body, as_json, expected", [
    ("json", {"text": " hi there "}, False, "hi there\n"),
    ("srt", "1\n00:00:00,000 --> 00:00:01,000\nhi\n", False, "1\n00:00:00,000 --> 00:00:01,000\nhi\n"),
    ("vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n", False, "WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n"),
])
def test_transcription_formats(api, tmp_path, capsys, fmt, body, as_json, expected):
    audio = tmp_path / "a.flac"
    audio.write_bytes(FLAC)
    api.add("POST", "/v1/audio/transcriptions", Reply(json=body) if isinstance(body, dict)
            else Reply(body=body, headers={"Content-Type": "text/plain"}))
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(audio), "--format", fmt) == 0
    assert capsys.readouterr().out == expected
    assert multipart_fields(api.calls()[0])["response_format"][2] == fmt.encode()


def test_transcribe_json_prints_the_answer(api, tmp_path, capsys):
    audio = tmp_path / "a.mp3"
    audio.write_bytes(MP3)
    api.json("POST", "/v1/audio/transcriptions", {"text": "hi", "language": "english"})
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(audio), "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "model": "w", "format": "json", "text": "hi", "language": "english", "duration_seconds": None,
        "data": {"text": "hi", "language": "english"}, "request_id": None, "cost_usd": None}
    assert multipart_fields(api.calls()[0])["response_format"][2] == b"json"


@pytest.mark.parametrize("wire_format, answer", [("json", {"text": "hello", "duration": 1.5}),
                                                  ("srt", "1\n00:00:00,000 --> 00:00:01,500\nhello\n"),
                                                  ("vtt", "WEBVTT\n\n00:00.000 --> 00:01.500\nhello\n")])
def test_transcribe_json_has_one_envelope_for_every_format(api, tmp_path, capsys, wire_format, answer):
    audio = tmp_path / "a.mp3"
    audio.write_bytes(MP3)
    reply = Reply(json=answer) if isinstance(answer, dict) else Reply(body=answer, headers={"Content-Type": "text/plain"})
    api.add("POST", "/v1/audio/transcriptions", reply)
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(audio), "--format", wire_format, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"model", "format", "text", "language", "duration_seconds", "data", "request_id",
                             "cost_usd"}
    assert document["format"] == wire_format and "hello" in document["text"]


def test_oversized_and_non_audio_files_are_refused_before_upload(api, tmp_path, capsys):
    big = tmp_path / "big.mp3"
    with open(big, "wb") as handle:
        handle.write(MP3)
        handle.truncate(25 * 1024 * 1024 + 1)
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(big)) == 1
    assert "over the 25 MB limit" in capsys.readouterr().err
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all")
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(text)) == 1
    assert "is not audio" in capsys.readouterr().err
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(tmp_path / "missing.wav")) == 1
    assert "cannot read" in capsys.readouterr().err
    assert api.requests == []


def test_transcribe_errors_use_the_common_mapping(api, tmp_path, capsys):
    audio = tmp_path / "a.wav"
    audio.write_bytes(WAV)
    api.json("POST", "/v1/audio/transcriptions", {"error": {"message": "invalid_token"}}, status=401)
    assert run_audio(api, "transcribe", "--model", "w", "--file", str(audio)) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "invalid_token" in err and "model access key" in err


def test_subcommand_is_required(capsys):
    with pytest.raises(SystemExit) as caught:
        gradient_audio.main([])
    assert caught.value.code == 2


@pytest.mark.parametrize("head, kind", [
    (WAV, "wav"), (MP3, "mp3"), (FLAC, "flac"), (b"OggS\x00\x02", "ogg"), (b"\x1aE\xdf\xa3\x01", "webm"),
    (b"\x00\x00\x00\x20ftypM4A ", "m4a"), (b"\xff\xf1\x50\x80", "aac"), (b"\xff\xfb\x90\x00", "mp3"),
    (b"{\"error\": 1}", None), (b"", None),
])
def test_sniff_audio(head, kind):
    assert media_run_audio.sniff_audio(head) == kind
