"""The fault suite: under each fault every script where it applies keeps its promise: a clear
one-line error (or JSON error), the right exit status, nothing lost or corrupted, no key
leaked, no hang. README's "Reliability" section lists these faults and their outcomes."""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import gradient_audio
import gradient_chat
from gradient_inference.core import clock as core_clock
from gradient_inference.core import outfiles as core_outfiles
from gradient_inference.models import prices as models_prices
import gradient_embed
import gradient_image
import gradient_models
import gradient_pricing
from conftest import FAKE_KEY, SCRIPTS, tiny_png
from fakeapi import Reply, sse

PNG = tiny_png()
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16


def chat_chunk(text):
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def targets(tmp_path):
    """Each API script: (its main, argv after --base-url, the route it calls, a good answer)."""
    out = str(tmp_path / "out")
    return {
        "models": (gradient_models.main, [], ("GET", "/v1/models"), Reply(json={"data": [{"id": "m"}]})),
        "chat": (gradient_chat.main, ["--prompt", "hi", "--no-stdin", "--no-stream"],
                 ("POST", "/v1/chat/completions"),
                 Reply(json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})),
        "image": (gradient_image.main, ["--prompt", "x", "--output", out + ".png"],
                  ("POST", "/v1/images/generations"),
                  Reply(json={"data": [{"b64_json": __import__("base64").b64encode(PNG).decode()}]})),
        "embed": (gradient_embed.main, ["--model", "m", "--input", "x"], ("POST", "/v1/embeddings"),
                  Reply(json={"data": [{"index": 0, "embedding": [0.5]}]})),
        "speak": (lambda argv: gradient_audio.main(["speak", *argv]), ["--model", "m", "--text", "x", "--output",
                                                                        out + ".mp3"],
                  ("POST", "/v1/audio/speech"), Reply(body=MP3)),
    }


API_SCRIPTS = ["models", "chat", "image", "embed", "speak"]


@pytest.fixture
def no_sleep(monkeypatch):
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


@pytest.fixture
def work(tmp_path):
    """A folder of the test's own (tmp_path also holds the isolated HOME)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def call(tmp_path, name, base_url, *extra):
    main, argv, _, _ = targets(tmp_path)[name]
    return main(["--base-url", base_url, *argv, *extra])


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- network

@pytest.mark.parametrize("name", API_SCRIPTS)
def test_connection_refused(tmp_path, capsys, no_sleep, keyed, name):
    assert call(tmp_path, name, "http://127.0.0.1:9/v1", "--verbose") == 1
    captured = capsys.readouterr()
    assert "connection refused by 127.0.0.1:9" in one_error_line(captured.err)
    assert FAKE_KEY not in captured.out + captured.err
    assert len(no_sleep) == 2  # the default two retries, then the error


@pytest.mark.parametrize("name", API_SCRIPTS)
def test_dns_failure(tmp_path, capsys, no_sleep, keyed, name):
    assert call(tmp_path, name, "http://no-such-host.invalid/v1") == 1
    assert "cannot resolve host no-such-host.invalid" in one_error_line(capsys.readouterr().err)
    assert no_sleep == [], "a name that did not resolve was retried"


@pytest.fixture
def blackhole():
    """A port whose listen backlog is full: new connections are never accepted (connect timeout)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(server.getsockname())
        fillers.append(client)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    for sock in fillers + [server]:
        sock.close()


@pytest.mark.parametrize("name", ["models", "chat"])
def test_connect_timeout(tmp_path, capsys, blackhole, name):
    started = time.monotonic()
    assert call(tmp_path, name, blackhole, "--timeout", "0.5", "--max-retries", "0") == 1
    assert time.monotonic() - started < 5
    line = one_error_line(capsys.readouterr().err)
    assert "could not connect" in line or "no answer from" in line


@pytest.mark.parametrize("name", API_SCRIPTS)
def test_read_timeout_mid_body(api, tmp_path, capsys, name):
    method, path = targets(tmp_path)[name][2]
    api.add(method, path, Reply(chunks=[b'{"data": [', b"]}"], chunk_delay=3))
    started = time.monotonic()
    assert call(tmp_path, name, api.url, "--timeout", "0.5", "--max-retries", "0") == 1
    assert time.monotonic() - started < 3
    line = one_error_line(capsys.readouterr().err)
    assert "stopped sending" in line or "longer than the timeout" in line


@pytest.mark.parametrize("name", API_SCRIPTS)
def test_server_closes_mid_response(api, tmp_path, capsys, name):
    method, path = targets(tmp_path)[name][2]
    api.add(method, path, Reply(body=b'{"data": [{"id": "x"}, {"id": "y"}]}', cut_after=8))
    assert call(tmp_path, name, api.url, "--max-retries", "0") == 1
    assert "connection closed in the middle of the response" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.mp3").exists()


def test_server_closes_mid_stream(api, capsys):
    api.add("POST", "/v1/chat/completions", Reply(chunks=sse(chat_chunk("A"), chat_chunk("B")), cut_after=1,
                                                  headers={"Content-Type": "text/event-stream"}))
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "x", "--no-stdin", "--stream"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "A\n"
    one_error_line(captured.err)


@pytest.mark.parametrize("name", API_SCRIPTS)
def test_trickling_response_still_times_out(api, tmp_path, capsys, name):
    method, path = targets(tmp_path)[name][2]
    api.add(method, path, Reply(body=b'{"data": [{"id": "m", "embedding": [1]}]}', trickle=0.3))
    started = time.monotonic()
    assert call(tmp_path, name, api.url, "--timeout", "1", "--max-retries", "0") == 1
    assert time.monotonic() - started < 4  # each byte comes within the read timeout; the total does not
    assert "longer than the timeout" in one_error_line(capsys.readouterr().err)


# ---------------------------------------------------------------- protocol

@pytest.mark.parametrize("name", ["models", "chat", "image", "embed"])
@pytest.mark.parametrize("reply, words", [
    (Reply(body=b"Service ready", headers={"Content-Type": "text/plain"}), "non-JSON (200): Service ready"),
    (Reply(body=b"<!doctype html><html><title>Welcome to nginx</title></html>", headers={"Content-Type":
                                                                                     "text/html"}),
     "HTML page (200): Welcome to nginx"),
    (Reply(body=b'{"ok": "\xc3\x28"}'), "not UTF-8"),
    (Reply(json={"object": "list"}), ""),
    (Reply(body=b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"}), "could not be decoded"),
])
def test_bad_200_bodies_are_invalid_response(api, tmp_path, capsys, name, reply, words):
    method, path = targets(tmp_path)[name][2]
    api.add(method, path, reply)
    assert call(tmp_path, name, api.url, "--json") == 1
    captured = capsys.readouterr()
    error = json.loads(captured.err)["error"]
    assert error["type"] == "invalid_response" and words in error["message"]
    assert captured.out == ""


def test_gzip_answers_are_decoded(api, capsys):
    api.add("GET", "/v1/models", Reply(body=gzip.compress(b'{"data": [{"id": "zipped"}]}'),
                                       headers={"Content-Encoding": "gzip"}))
    assert gradient_models.main(["--base-url", api.url, "--ids"]) == 0
    assert capsys.readouterr().out == "zipped\n"


@pytest.mark.parametrize("document, words", [
    ({"choices": {"0": "x"}}, "no choices"),
    ({"choices": [{"message": {"content": None}, "finish_reason": "stop"}]}, "no text"),
    ({"choices": ["text"]}, "no choices"),
])
def test_chat_wrong_shapes(api, capsys, document, words):
    api.json("POST", "/v1/chat/completions", document)
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "x", "--no-stdin", "--no-stream"]) == 1
    assert words in one_error_line(capsys.readouterr().err)


def test_chat_usage_strings_are_ignored_not_fatal(api, capsys):
    api.json("POST", "/v1/chat/completions", {"choices": [{"message": {"content": "ok"}}],
                                              "usage": {"prompt_tokens": "many", "completion_tokens": []}})
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "x", "--no-stdin", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["usage"]["input_tokens"] is None


def test_sse_garbage_unknown_events_big_event_and_no_trailing_blank_line(api, capsys):
    big = "x" * (1024 * 1024)
    parts = [b"this line is garbage\n", b": comment\n\n", b"event: surprise\ndata: {\"hello\": 1}\n\n",
             b"data: not json at all\n\n"] + sse(chat_chunk("A"), chat_chunk(big), done=False) + [b"data: [DONE]"]
    api.add("POST", "/v1/chat/completions", Reply(chunks=parts, headers={"Content-Type": "text/event-stream"}))
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "x", "--no-stdin", "--stream"]) == 0
    out = capsys.readouterr().out
    assert out == "A" + big + "\n"


def test_invalid_utf8_in_a_stream_is_replaced(api, capsys):
    parts = [b'data: {"choices": [{"delta": {"content": "caf\xe9"}}]}\n\n', b"data: [DONE]\n\n"]
    api.add("POST", "/v1/chat/completions", Reply(chunks=parts, headers={"Content-Type": "text/event-stream"}))
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "x", "--no-stdin", "--stream"]) == 0
    assert capsys.readouterr().out == "caf\ufffd\n"


# ---------------------------------------------------------------- load

@pytest.mark.parametrize("headers, expected_waits", [({"Retry-After": "3"}, [3.0, 3.0]), ({}, None)])
def test_429_storm_is_bounded_and_announced(api, tmp_path, capsys, no_sleep, headers, expected_waits):
    api.add("GET", "/v1/models", Reply(429, headers=headers, json={"error": {"message": "rate limited"}}))
    assert gradient_models.main(["--base-url", api.url]) == 1
    captured = capsys.readouterr()
    assert len(api.requests) == 3 and len(no_sleep) == 2
    if expected_waits:
        assert no_sleep == expected_waits
        assert captured.err.count("retrying in 3.0 s after HTTP 429") == 2
    else:
        assert 0.375 <= no_sleep[0] <= 0.5 and 0.75 <= no_sleep[1] <= 1.0
    assert "rate limited" in one_error_line(captured.err) and "retried 2 times" in captured.err


def test_429_storm_with_more_retries_caps_each_wait(api, capsys, no_sleep):
    api.add("GET", "/v1/models", Reply(429))
    assert gradient_models.main(["--base-url", api.url, "--max-retries", "6"]) == 1
    assert len(api.requests) == 7 and max(no_sleep) <= 8.0 and sum(no_sleep) <= 0.5 + 1 + 2 + 4 + 8 + 8
    announced = capsys.readouterr().err.count("retrying in")
    assert announced == sum(wait > 2 for wait in no_sleep) >= 2


@pytest.mark.parametrize("name", API_SCRIPTS)
def test_503_then_success(api, tmp_path, capsys, no_sleep, name):
    method, path, good = *targets(tmp_path)[name][2], targets(tmp_path)[name][3]
    api.add(method, path, Reply(503, body="<html><title>busy</title></html>", headers={"Content-Type":
                                                                                     "text/html"}), good)
    assert call(tmp_path, name, api.url) == 0
    assert len(api.calls(method, path)) == 2


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("main, argv", [
    (gradient_chat.main, ["--prompt", "  "]), (gradient_image.main, ["--prompt", ""]),
    (gradient_embed.main, ["--model", "m", "--input", "x", "--batch-size", "0"]),
    (gradient_chat.main, ["--prompt", "x", "--temperature", "nan"]),
    (gradient_chat.main, ["--prompt", "x", "--temperature", "-1"]),
    (gradient_chat.main, ["--prompt", "x", "--temperature", "abc"]),
    (gradient_chat.main, ["--prompt", "x", "--max-tokens", "0"]),
    (gradient_models.main, ["--provider", "nope"]),
    (gradient_models.main, ["--base-url", "inference.do-ai.run/v1"]),
    (gradient_chat.main, ["--prompt", "x", "--base-url", "ftp://host/v1"]),
    (gradient_image.main, ["--prompt", "x", "--size", "9x"]),
])
def test_bad_input_is_a_usage_error(api, capsys, main, argv):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err and api.requests == []


def test_base_url_without_v1_warns_but_works(api, capsys):
    api.json("GET", "/models", {"data": [{"id": "local"}]})
    assert gradient_models.main(["--base-url", api.origin, "--ids"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "local\n" and "does not end in /v1" in captured.err


def test_10_mb_prompt_from_stdin(api, script):
    api.json("POST", "/v1/chat/completions", {"choices": [{"message": {"content": "long"}}]})
    prompt = ("word " * (2 * 1024 * 1024)).encode()
    done = script("gradient_chat", "--base-url", api.url, "--prompt", "-", input=prompt, timeout=60)
    assert done.returncode == 0 and done.stdout == b"long\n"
    assert len(api.calls()[0].json["messages"][-1]["content"]) == len(prompt)


def test_non_utf8_stdin(api, script):
    api.json("POST", "/v1/chat/completions", {"choices": [{"message": {"content": "ok"}}]})
    done = script("gradient_chat", "--base-url", api.url, "--prompt", "-", input=b"\xff\xfe bad bytes")
    assert done.returncode == 0 and b"not valid UTF-8" in done.stderr


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="uses /proc as a folder nobody can write in")
@pytest.mark.parametrize("name", ["image", "speak"])
def test_output_in_an_unwritable_folder(api, tmp_path, capsys, name):
    main, argv, _, _ = targets(tmp_path)[name]
    argv = [a if not a.startswith(str(tmp_path)) else "/proc/gradient-out" + os.path.splitext(a)[1] for a in argv]
    assert main(["--base-url", api.url, *argv]) == 1
    assert "the folder /proc is not writable" in one_error_line(capsys.readouterr().err)
    assert api.requests == []


@pytest.mark.parametrize("name", ["image", "speak"])
def test_output_path_that_is_a_folder_receives_the_file(api, tmp_path, capsys, name):
    main, argv, route, good = targets(tmp_path)[name]
    api.add(*route, good)
    folder = tmp_path / "folder"
    folder.mkdir()
    argv = [a if not a.startswith(str(tmp_path)) else str(folder) for a in argv]
    assert main(["--base-url", api.url, *argv]) == 0
    saved = capsys.readouterr().out.strip()
    assert os.path.dirname(saved) == str(folder) and os.path.getsize(saved) > 0


def test_image_file_that_is_not_an_image(api, tmp_path, capsys):
    fake = tmp_path / "photo.jpg"
    fake.write_text("%PDF-1.7 not an image")
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "x", "--no-stdin", "--image", str(fake)]) == 1
    assert "is not an image" in one_error_line(capsys.readouterr().err) and api.requests == []


# ---------------------------------------------------------------- files

def good_cache(path, price=0.1):
    models = [models_prices.make_row("OpenAI", "gpt-oss-120b", {"input_price": price, "output_price": 0.7,
                                                                   "unit": models_prices.TOKEN_UNIT})]
    models_prices.write_cache(str(path), models_prices.PriceSet(
        "live", core_clock.iso_utc(time.time() - 30 * 3600), "u", models))
    return path.read_bytes()


@pytest.fixture
def pricing_page(api, monkeypatch):
    page = (SCRIPTS.parent / "tests" / "fixtures" / "pricing_2026_tabs.html").read_text()
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    return api


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="uses /proc as a folder nobody can write in")
def test_pricing_cache_in_a_read_only_folder(pricing_page, capsys):
    assert gradient_pricing.main(["--cache-file", "/proc/gradient_pricing_cache.json", "--model", "gpt-oss"]) == 0
    captured = capsys.readouterr()
    assert "gpt-oss-120b" in captured.out and "could not write the pricing cache" in captured.err


def test_disk_full_during_a_cache_write_keeps_the_old_cache(pricing_page, work, monkeypatch, capsys):
    cache = work / "cache.json"
    before = good_cache(cache)

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert gradient_pricing.main(["--cache-file", str(cache)]) == 0
    captured = capsys.readouterr()
    assert "No space left on device" in captured.err and "gpt-oss-120b" in captured.out
    assert cache.read_bytes() == before and [p.name for p in work.iterdir()] == ["cache.json"]


def test_disk_full_while_saving_an_image(api, work, monkeypatch, capsys):
    main, argv, route, good = targets(work)["image"]
    api.add(*route, good)

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    real_open = core_outfiles.OutputFile._open

    def open_full(self):
        real_open(self)
        self.handle.close()
        self.handle = Full()

    monkeypatch.setattr(core_outfiles.OutputFile, "_open", open_full)
    assert main(["--base-url", api.url, *argv]) == 1
    assert "No space left on device" in one_error_line(capsys.readouterr().err)
    assert list(work.iterdir()) == []


def test_ctrl_c_during_a_cache_write_keeps_the_old_cache(pricing_page, work, monkeypatch, capsys):
    cache = work / "cache.json"
    before = good_cache(cache)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", interrupted)
    assert gradient_pricing.main(["--cache-file", str(cache)]) == 130
    assert "Traceback" not in capsys.readouterr().err
    assert cache.read_bytes() == before and [p.name for p in work.iterdir()] == ["cache.json"]


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_sigint_during_a_stream(api):
    api.add("POST", "/v1/chat/completions", Reply(chunks=sse(*[chat_chunk(f"w{i} ") for i in range(50)]),
                                                  chunk_delay=0.2, headers={"Content-Type": "text/event-stream"}))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url,
                                "--prompt", "x", "--stream"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    first = os.read(process.stdout.fileno(), 100)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert first.startswith(b"w0") and process.returncode == 130
    assert b"Traceback" not in err and b"interrupted" in err


def test_sigint_during_a_download_leaves_no_file(api, work):
    api.json("POST", "/v1/images/generations", {"data": [{"url": api.origin + "/files/slow.png"}]})
    api.add("GET", "/files/slow.png", Reply(body=PNG + b"\0" * 200, trickle=0.05))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_image.py"), "--base-url", api.url,
                                "--prompt", "x", "--output", str(work / "slow.png")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_for(lambda: any(p.name.endswith(".part") for p in work.iterdir()))
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 130 and b"Traceback" not in err
    assert list(work.iterdir()) == []


def test_sigint_during_a_pricing_fetch_keeps_the_old_cache(api, work, monkeypatch):
    cache = work / "cache.json"
    before = good_cache(cache)
    page = (SCRIPTS.parent / "tests" / "fixtures" / "pricing_2026_tabs.html").read_text()
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html"}, trickle=0.01))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_pricing.py"), "--url",
                                api.origin + "/pricing/", "--cache-file", str(cache), "--no-cache"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_for(lambda: api.requests)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 130 and b"Traceback" not in err
    assert cache.read_bytes() == before and [p.name for p in work.iterdir()] == ["cache.json"]


# ---------------------------------------------------------------- secrets

@pytest.mark.parametrize("name", API_SCRIPTS)
@pytest.mark.parametrize("reply", [
    Reply(401, json={"error": {"message": f"bad key {FAKE_KEY}"}}),
    Reply(500, body=f"<html><title>oops {FAKE_KEY}</title></html>", headers={"Content-Type": "text/html"}),
    Reply(200, body=f"not json {FAKE_KEY}"),
    Reply(404, body=f"no route; you sent {FAKE_KEY}", headers={"Content-Type": "text/plain"}),
])
def test_the_key_never_appears(api, tmp_path, capsys, keyed, no_sleep, name, reply):
    method, path = targets(tmp_path)[name][2]
    api.add(method, path, reply)
    for extra in (["--verbose"], ["--verbose", "--json"]):
        call(tmp_path, name, api.url, *extra)
        captured = capsys.readouterr()
        assert FAKE_KEY not in captured.out + captured.err
        assert "error" in captured.err
