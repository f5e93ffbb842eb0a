"""Hostile and unlucky input: each promise of README's Reliability section tried as an attacker
or an unlucky user would (a key file with a comment line, another user's FIFO, a flaky proxy, a
model that prints escape sequences, an agent harness that sends SIGTERM). Each test fails
without the fix it names."""
from __future__ import annotations

import base64
import io
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest

import gradient_chat
from gradient_inference.api import sse as api_sse
from gradient_inference.chat import answers as chat_answers
from gradient_inference.core import inputs as core_inputs
from gradient_inference.core import clock as core_clock
from gradient_inference.core import errors as core_errors
from gradient_inference.core import settings as core_settings
import gradient_image
import gradient_models
import gradient_pricing
from conftest import FAKE_KEY, SCRIPTS, read_all, run_script, tiny_png
from fakeapi import Reply, sse_reply

PNG = tiny_png()
CHAT = "/v1/chat/completions"
NASTY = "a\x1b]52;c;ZXZpbA==\x07b\rc\u202ed\x9b2J\te\nf"  # OSC 52 clipboard write, CR, bidi, CSI


def answer(content, **extra):
    return dict({"id": "chatcmpl-1", "model": "m", "choices": [{"message": {"content": content},
                                                                "finish_reason": "stop"}]}, **extra)


def chat(api, *argv):
    return gradient_chat.main(["--base-url", api.url, "--no-stdin", *argv])


class Terminal(io.TextIOWrapper):
    """A stream that says it is a terminal and keeps what was written."""

    def __init__(self):
        super().__init__(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)

    def isatty(self):
        return True

    def text(self) -> str:
        return self.buffer.getvalue().decode("utf-8")


@pytest.fixture
def terminal(monkeypatch):
    """Call it in the test to make stdout a terminal (pytest sets its own stdout after fixtures)."""
    def attach() -> Terminal:
        stream = Terminal()
        monkeypatch.setattr(sys, "stdout", stream)
        return stream
    return attach


def no_key_anywhere(*texts):
    return all(FAKE_KEY not in text for text in texts)


# ---------------------------------------------------------------- 1. secrets

@pytest.mark.parametrize("where, value, problem", [
    ("env", f"{FAKE_KEY}\n# my work key", "white space"),
    ("env", FAKE_KEY.replace("FAKE", "FA\u201dKE"), "cannot carry"),
    ("file", f"{FAKE_KEY}\n# rotated 2026-11", "white space"),
    ("file", f"{FAKE_KEY} {FAKE_KEY}", "white space"),
])
def test_a_key_no_header_can_carry_is_refused_naming_its_source(api, isolated_env, monkeypatch, capsys, where,
                                                                 value, problem):
    key_file = isolated_env / "key"
    if where == "env":
        monkeypatch.setenv("GRADIENT_API_KEY", value)
    else:
        key_file.write_text(value)
        key_file.chmod(0o600)
        monkeypatch.setenv("GRADIENT_API_KEY_FILE", str(key_file))
    api.json("GET", "/v1/models", {"data": []})
    for as_json in (False, True):
        code = gradient_models.main(["--base-url", "https://api.example.invalid/v1"] + ["--json"] * as_json)
        err = capsys.readouterr().err
        assert code == 1 and problem in err and "config" in (err if as_json else "config")
        assert ("GRADIENT_API_KEY" in err) if where == "env" else (str(key_file) in err)
        assert FAKE_KEY not in err and "FA\u201dKE" not in err and "rotated" not in err
    assert api.calls() == []


def test_a_curly_quote_in_the_key_is_one_error_line_not_a_traceback(api):
    done = run_script("gradient_models", "--base-url", "https://api.example.invalid/v1",
                      env={"GRADIENT_API_KEY": "sk-do-\u201cquoted\u201d-key-123"})
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "quoted" not in err and "GRADIENT_API_KEY" in err


def test_a_key_echoed_as_a_fal_request_id_is_masked(api, keyed, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    api.json("POST", "/v1/async-invoke", {"request_id": f"req-{FAKE_KEY}"})
    api.json("GET", f"/v1/async-invoke/req-{FAKE_KEY}/status", {"status": "COMPLETED"})
    api.json("GET", f"/v1/async-invoke/req-{FAKE_KEY}", {"status": "COMPLETED", "output": {
        "images": [{"url": api.origin + "/f.png"}]}})
    api.add("GET", "/f.png", Reply(body=PNG))
    code = gradient_image.main(["--base-url", api.url, "--model", "fal-ai/flux/schnell", "--prompt", "x",
                                "--output", str(tmp_path / "a.png"), "--json", "--poll-interval", "0.01"])
    captured = capsys.readouterr()
    assert code == 0 and "submitted fal-ai/flux/schnell job req-***" in captured.err
    assert json.loads(captured.out)["request_id"] == "req-***" and no_key_anywhere(captured.out, captured.err)


def test_a_key_in_the_envelope_id_and_request_id_is_masked(api, keyed, capsys):
    api.add("POST", CHAT, Reply(json=answer("fine", id=FAKE_KEY), headers={"x-request-id": f"r-{FAKE_KEY}"}))
    assert chat(api, "--json", "--prompt", "hi", "--no-stream") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["id"] == "***" and document["request_id"] == "r-***"


def test_a_key_in_a_skipped_stream_event_under_verbose_is_masked(api, keyed, capsys):
    api.add("POST", CHAT, sse_reply(f"not json {FAKE_KEY}", {"choices": [{"delta": {"content": "ok"}}]}))
    assert chat(api, "--stream", "--verbose", "--prompt", "hi") == 0
    captured = capsys.readouterr()
    assert "skipping a stream event that is not JSON: not json ***" in captured.err
    assert no_key_anywhere(captured.out, captured.err)


def test_a_key_split_across_stream_chunks_never_shows(api, keyed, capsys):
    half = len(FAKE_KEY) // 2
    deltas = ["your key is ", FAKE_KEY[:3], FAKE_KEY[3:half], FAKE_KEY[half:], " - done"]
    api.add("POST", CHAT, sse_reply(*[{"choices": [{"delta": {"content": d}}]} for d in deltas]))
    assert chat(api, "--stream", "--prompt", "hi") == 0
    assert capsys.readouterr().out == "your key is *** - done\n"


def test_a_secret_from_another_providers_key_file_is_masked_on_stdout(api, keyed, isolated_env, capsys):
    vultr = isolated_env / ".config" / "vultr" / "api_key"
    vultr.parent.mkdir(parents=True)
    vultr.write_text("vultr-secret-0123456789\n")
    api.json("POST", CHAT, answer("the other key: vultr-secret-0123456789"))
    assert chat(api, "--prompt", "hi", "--no-stream") == 0
    assert capsys.readouterr().out == "the other key: ***\n"


@pytest.mark.parametrize("via", ["flag", "env"])
def test_a_base_url_with_credentials_is_refused_without_showing_them(api, capsys, monkeypatch, via):
    url = "http://alice:s3cret-pw-77@127.0.0.1:9/v1"
    if via == "env":
        monkeypatch.setenv("GRADIENT_BASE_URL", url)
        code = gradient_models.main(["--verbose"])
    else:
        with pytest.raises(SystemExit) as caught:
            gradient_models.main(["--base-url", url, "--verbose"])
        code = caught.value.code
    err = capsys.readouterr().err
    assert code == (1 if via == "env" else 2) and "credentials" in err and "s3cret-pw-77" not in err


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:8080/v1", True), ("http://127.9.9.9/v1", True), ("http://[::1]:8080/v1", True),
    ("http://localhost/v1", True), ("http://api.localhost/v1", True), ("http://LOCALHOST./v1", True),
    ("http://127.0.0.1.example.com/v1", False), ("http://localhost.example.com/v1", False),
    ("http://128.0.0.1/v1", False), ("http://[::2]/v1", False), ("http://[oops/v1", False),
])
def test_loopback_is_an_address_or_localhost_not_a_name_that_starts_with_127(url, loopback):
    assert core_settings.is_loopback_url(url) is loopback


def test_a_lookalike_loopback_host_needs_a_key_and_gets_the_plain_http_warning(capsys, keyed):
    settings = core_settings.resolve_settings(base_url="http://127.0.0.1.example.com/v1", provider=None, timeout=5,
                                              max_retries=0, verbose=False)
    assert settings.api_key == FAKE_KEY and settings.max_tokens_field == "max_completion_tokens"
    assert "sent over plain http to 127.0.0.1.example.com" in capsys.readouterr().err


def test_masking_never_blocks_on_a_fifo_named_as_a_key_file(api, tmp_path):
    fifo = tmp_path / "key-fifo"
    os.mkfifo(fifo)
    api.json("GET", "/v1/models", {"data": [{"id": f"echo-{FAKE_KEY}"}]})
    done = run_script("gradient_models", "--base-url", api.url, timeout=30,
                      env={"GRADIENT_API_KEY": FAKE_KEY, "GRADIENT_API_KEY_FILE": str(fifo)})
    assert done.returncode == 0 and done.stdout.decode().splitlines()[1].split()[0] == "echo-***"


def test_a_fifo_key_file_is_a_warning_not_a_hang(tmp_path):
    fifo = tmp_path / "key-fifo"
    os.mkfifo(fifo)
    done = run_script("gradient_models", "--base-url", "https://api.example.invalid/v1", timeout=30,
                      env={"GRADIENT_API_KEY_FILE": str(fifo)})
    err = done.stderr.decode()
    assert done.returncode == 1 and "is a FIFO (named pipe), not a regular file" in err and "no API key" in err


# ---------------------------------------------------------------- 2. terminals

def test_escape_sequences_from_a_model_are_shown_escaped_on_a_terminal(api, terminal):
    screen = terminal()
    api.json("POST", CHAT, answer(NASTY))
    assert chat(api, "--prompt", "hi", "--no-stream") == 0
    shown = screen.text()
    assert shown == "a\\x1b]52;c;ZXZpbA==\\x07b\\x0dc\\u202ed\\x9b2J\te\nf\n"


def test_streamed_escape_sequences_are_escaped_on_a_terminal(api, terminal):
    screen = terminal()
    api.add("POST", CHAT, sse_reply(*[{"choices": [{"delta": {"content": part}}]} for part in NASTY.split("b")]))
    assert chat(api, "--prompt", "hi", "--stream") == 0
    assert "\x1b" not in screen.text() and "\\x1b]52" in screen.text() and "\\u202e" in screen.text()


def test_a_pipe_gets_the_text_exactly(api, capsys):
    api.json("POST", CHAT, answer(NASTY))
    assert chat(api, "--prompt", "hi", "--no-stream") == 0
    assert capsys.readouterr().out == NASTY + "\n"


def test_json_on_a_terminal_is_exact_json_with_no_raw_controls(api, terminal):
    screen = terminal()
    api.json("POST", CHAT, answer(NASTY))
    assert chat(api, "--prompt", "hi", "--json") == 0
    shown = screen.text()
    assert json.loads(shown)["content"] == NASTY
    assert not any(c in shown for c in "\x1b\x07\r\u202e\x9b")


def test_a_real_terminal_never_receives_raw_escapes(api):
    api.json("POST", CHAT, answer(NASTY))
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_chat.py"), "--base-url", api.url,
                                "--prompt", "hi", "--no-stream", "--no-stdin"], stdout=child_fd,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=dict(os.environ))
    os.close(child_fd)
    received = read_all(main_fd)
    assert process.wait(timeout=30) == 0
    assert b"\x1b" not in received and b"\x07" not in received and b"\\x1b]52" in received


def test_diagnostics_on_stderr_are_single_clean_lines(api, capsys):
    api.add("POST", CHAT, Reply(400, json={"error": {"message": "bad\n\x1b[2Jrequest\rhere"}}))
    assert chat(api, "--prompt", "hi", "--no-stream") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\r" not in err and "bad [2Jrequest here" in err


def test_job_statuses_from_a_server_are_made_printable(api, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    api.json("POST", "/v1/async-invoke", {"request_id": "r1"})
    api.add("GET", "/v1/async-invoke/r1/status", Reply(json={"status": "RUN\x1b[2JNING"}),
            Reply(json={"status": "COMPLETED"}))
    api.add("GET", "/v1/async-invoke/r1", Reply(404),  # the older pair: the status is read on /status
            Reply(json={"output": {"images": [{"url": api.origin + "/f.png"}]}}))
    api.add("GET", "/f.png", Reply(body=PNG))
    assert gradient_image.main(["--base-url", api.url, "--model", "fal-ai/x", "--prompt", "x", "--output",
                                str(tmp_path / "a.png"), "--poll-interval", "0.01"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "status: RUN [2JNING" in err


# ---------------------------------------------------------------- 3. special files and shared paths

@pytest.fixture
def specials(tmp_path):
    """A FIFO nobody writes to and a folder: the paths another local user can plant."""
    fifo = tmp_path / "planted-fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "planted-folder"
    folder.mkdir()
    return {"fifo": fifo, "folder": folder}


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_planted_pricing_cache_is_ignored_with_a_warning_never_a_hang(api, specials, kind):
    api.json("POST", CHAT, answer("ok", usage={"prompt_tokens": 1, "completion_tokens": 1}))
    done = run_script("gradient_chat", "--base-url", api.url, "--prompt", "hi", "--no-stdin", "--usage", timeout=30,
                      env={"GRADIENT_PRICING_CACHE": str(specials[kind])})
    err = done.stderr.decode()
    assert done.returncode == 0 and done.stdout == b"ok\n" and "Traceback" not in err
    assert f"ignoring pricing cache {specials[kind]}: it is {'a FIFO' if kind == 'fifo' else 'a folder'}" in err


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("command", [
    ("gradient_chat", "--prompt", "hi", "--image", "{path}"),
    ("gradient_chat", "--messages", "{path}"),
    ("gradient_embed", "--model", "m", "--input-file", "{path}"),
    ("gradient_audio", "transcribe", "--model", "m", "--file", "{path}"),
])
def test_a_fifo_or_folder_named_as_an_input_is_refused_before_any_request(api, specials, kind, command):
    argv = [part.format(path=specials[kind]) for part in command]
    done = run_script(argv[0], *argv[1:], "--base-url", api.url, timeout=30)
    err = done.stderr.decode()
    assert done.returncode in (1, 2) and "not a regular file" in err and "Traceback" not in err
    assert api.calls() == []


def test_dash_reads_stdin_for_the_input_file(api):
    api.json("POST", "/v1/embeddings", {"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [2.0]}]})
    done = run_script("gradient_embed", "--base-url", api.url, "--model", "m", "--input-file", "-", input="a\nb\n")
    assert done.returncode == 0 and api.calls()[0].json["input"] == ["a", "b"]


def test_stdin_over_its_cap_is_a_usage_error(api, monkeypatch, capsys):
    monkeypatch.setattr(core_inputs, "MAX_TEXT_BYTES", 1000)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 1001)))
    with pytest.raises(SystemExit) as caught:
        chat(api, "--prompt", "-")
    assert caught.value.code == 2 and "stdin is over the" in capsys.readouterr().err and api.calls() == []


def test_an_http_error_leaves_no_part_file(api, tmp_path):
    api.add("POST", "/v1/audio/speech", Reply(500, json={"error": {"message": "down"}}))
    done = run_script("gradient_audio", "speak", "--base-url", api.url, "--model", "m", "--text", "x",
                      "--output", str(tmp_path / "out" / "a.mp3"), "--max-retries", "0") if (tmp_path / "out").mkdir() \
        is None else None
    assert done.returncode == 1 and list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_or_sighup_mid_download_leaves_nothing(api, tmp_path, signum, code):
    folder = tmp_path / "out"
    folder.mkdir()
    api.json("POST", "/v1/images/generations", {"data": [{"url": api.origin + "/slow.png"}]})
    api.add("GET", "/slow.png", Reply(body=PNG + b"\0" * 4000, trickle=0.01))
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_image.py"), "--base-url", api.url,
                                "--prompt", "x", "--output", str(folder / "a.png")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not list(folder.iterdir()) and time.monotonic() < deadline:  # the .part file is being written
        time.sleep(0.02)
    process.send_signal(signum)
    assert process.wait(timeout=20) == code
    assert list(folder.iterdir()) == [] and b"Traceback" not in process.stderr.read()


def test_output_files_get_the_users_umask_not_0600(api, tmp_path):
    api.json("POST", "/v1/images/generations", {"data": [{"b64_json": base64.b64encode(PNG).decode()}]})
    previous = os.umask(0o022)
    try:
        assert gradient_image.main(["--base-url", api.url, "--prompt", "x", "--output", str(tmp_path / "a.png")]) == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644


def test_a_full_disk_on_stdout_is_one_io_error(api):
    api.json("GET", "/v1/models", {"data": [{"id": f"model-{i}"} for i in range(50)]})
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, str(SCRIPTS / "gradient_models.py"), "--base-url", api.url],
                              stdout=full, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30)
    err = done.stderr.decode()
    assert done.returncode == 1 and err == "error: cannot write to standard output: No space left on device\n"


def test_two_runs_in_the_same_second_without_output_both_succeed(api, workdir, monkeypatch, capsys):
    monkeypatch.setattr("time.strftime", lambda fmt, t=None: "20261128T200000Z")
    api.json("POST", "/v1/images/generations", {"data": [{"b64_json": base64.b64encode(PNG).decode()}]})
    for _ in range(3):
        assert gradient_image.main(["--base-url", api.url, "--prompt", "x"]) == 0
    assert capsys.readouterr().out.split() == ["./gradient-image-20261128T200000Z.png",
                                               "./gradient-image-20261128T200000Z-2.png",
                                               "./gradient-image-20261128T200000Z-3.png"]


# ---------------------------------------------------------------- 4. whatever a server sends

def test_json_100000_levels_deep_is_one_clean_error(api):
    api.add("GET", "/v1/models", Reply(body=b"[" * 100_000 + b"]" * 100_000))
    done = run_script("gradient_models", "--base-url", api.url)
    assert done.returncode == 1 and done.stderr.decode().startswith("error: server returned JSON nested too deeply")


def test_nan_and_infinity_from_a_server_leave_strict_json(api, capsys):
    api.add("GET", "/v1/models", Reply(body=b'{"data": [{"id": "m", "created": NaN, "extra": Infinity}]}'))
    assert gradient_models.main(["--base-url", api.url, "--json"]) == 0
    out = capsys.readouterr().out
    json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the output"))


def test_lone_surrogates_from_a_server_are_replaced_not_a_crash(api):
    api.add("POST", CHAT, Reply(body=b'{"choices": [{"message": {"content": "a\\ud800b"}, "finish_reason": "stop"}]}'))
    for extra in ([], ["--json"]):
        done = run_script("gradient_chat", "--base-url", api.url, "--prompt", "hi", "--no-stdin", *extra)
        assert done.returncode == 0 and "a\ufffdb" in (json.loads(done.stdout)["content"] if extra
                                                        else done.stdout.decode("utf-8"))


@pytest.mark.parametrize("headers", [{"Retry-After": "1e23"}, {"Retry-After": "inf"}, {"retry-after-ms": "nan"},
                                     {"retry-after-ms": "1e400"}, {"Retry-After": "99999999999999999999"},
                                     {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}])
def test_any_retry_after_value_ends_in_one_clean_error(api, headers, monkeypatch, capsys):
    monkeypatch.setattr("time.sleep", lambda s: None)
    api.add("GET", "/v1/models", Reply(429, json={"error": {"message": "slow down"}}, headers=headers))
    assert gradient_models.main(["--base-url", api.url, "--max-retries", "1"]) == 1
    assert one_line_error(capsys.readouterr().err).startswith("error: HTTP 429")


@pytest.mark.parametrize("created", [10 ** 20, -(10 ** 20), 2 ** 63])
def test_any_created_time_shows(api, capsys, created):
    api.json("GET", "/v1/models", {"data": [{"id": "m", "created": created}]})
    assert gradient_models.main(["--base-url", api.url]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["m", "unknown", "-", "-"]


def test_a_bogus_charset_on_the_pricing_page_still_parses(api, tmp_path, monkeypatch, capsys):
    page = (SCRIPTS.parent / "tests" / "fixtures" / "pricing_2026_tabs.html").read_bytes()
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html; charset=x-bogus"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    assert gradient_pricing.main(["--cache-file", str(tmp_path / "c.json"), "--model", "gpt-oss-120b"]) == 0
    assert "gpt-oss-120b" in capsys.readouterr().out


def test_a_url_no_request_can_be_made_of_is_one_clean_error(api, tmp_path, capsys):
    api.json("POST", "/v1/images/generations", {"data": [{"url": "http://[oops/x.png"}]})
    assert gradient_image.main(["--base-url", api.url, "--prompt", "x", "--output", str(tmp_path / "a.png")]) == 1
    assert one_line_error(capsys.readouterr().err) == "error: cannot fetch http://[oops/x.png: it is not a valid URL"


def raw_server(reply: bytes):
    """A server that answers every connection with these bytes, then closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(65536)
            connection.sendall(reply)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


LIBRARY_REPRS = ("Error(", "IncompleteRead(", "RemoteDisconnected(", "BadStatusLine(", "Exception(", "<urllib3")


@pytest.mark.parametrize("reply, words", [
    (b"HTTP/1.1 abc\r\n\r\n", "not valid HTTP"),
    (b"", "closed the connection without answering"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"data\"", "cut short"),
    (b"HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\n{}", "HTTP 999"),
])
def test_any_status_line_or_cut_body_is_one_sentence_without_library_reprs(monkeypatch, capsys, reply, words):
    monkeypatch.setattr("time.sleep", lambda s: None)
    listener, url = raw_server(reply)
    try:
        assert gradient_models.main(["--base-url", url, "--max-retries", "1"]) == 1
    finally:
        listener.close()
    line = one_line_error(capsys.readouterr().err)
    assert words in line and not any(r in line for r in LIBRARY_REPRS)


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len([line for line in lines if line.startswith("error:")]) == 1, err
    return next(line for line in lines if line.startswith("error:"))


# ---------------------------------------------------------------- 5. limits on memory and time

def gzip_bomb(decoded_mb: int) -> bytes:
    """About 1 KB of gzip for every MB it inflates to, made without holding the MBs."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(decoded_mb)) + packer.flush()


def test_a_gzip_bomb_stops_at_the_cap_with_memory_near_it(api):
    bomb = gzip_bomb(256)
    assert len(bomb) < 300_000
    api.add("GET", "/v1/models", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    measure = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True); "
               "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
               "sys.stderr.write(done.stderr.decode())")
    done = subprocess.run([sys.executable, "-c", measure, sys.executable, str(SCRIPTS / "gradient_models.py"),
                           "--base-url", api.url], capture_output=True, timeout=120, env=dict(os.environ))
    code, peak_kb = done.stdout.decode().split()
    assert code == "1" and "larger than 64 MB once decoded" in done.stderr.decode()
    assert int(peak_kb) < 4 * 64 * 1024  # within a small multiple of the 64 MB cap (it was 1 GB)


class CountingLineEnds:
    """The SSE parser's line-end pattern, counting the characters it is asked to scan."""

    def __init__(self):
        self.scanned = 0

    def finditer(self, text):
        self.scanned += len(text)
        return api_sse.SSE_LINE_END.finditer(text)


def test_sse_parsing_scans_each_character_once():
    counter = CountingLineEnds()
    parser = api_sse.SSEParser(line_end=counter)
    total = 0
    parser.feed(b"data: ")
    for _ in range(2048):  # an 8 MB line without a newline, 4 KB a read
        parser.feed(b"x" * 4096)
        total += 4096
    events = parser.feed(b"\n\n")
    assert events == [("message", "x" * total)]
    assert counter.scanned <= total + 16  # the quadratic parser rescanned the buffer: about 2048x more


def test_an_event_over_the_cap_is_refused(monkeypatch):
    monkeypatch.setattr(api_sse, "MAX_EVENT_CHARS", 10_000)
    parser = api_sse.SSEParser()
    parser.feed(b"data: " + b"x" * 6000 + b"\n")
    with pytest.raises(core_errors.GradientError) as caught:
        parser.feed(b"data: " + b"y" * 6000)
    assert caught.value.type == "invalid_response" and "larger than" in caught.value.message


def test_100000_deltas_are_joined_once():
    answer_ = chat_answers.Answer("m", "chat")
    for index in range(100_000):
        chat_answers.apply_chat_chunk(answer_, {"choices": [{"delta": {"content": f"{index % 10}"}}]})
    assert len(answer_._content) == 100_000  # pieces, not 100,000 ever longer copies
    assert answer_.content == "0123456789" * 10_000 and len(answer_._content) == 1


@pytest.mark.parametrize("argv, env", [(["--timeout", "1e10"], {}), (["--timeout", "nan"], {}),
                                       ([], {"GRADIENT_TIMEOUT": "1e10"}), (["--max-retries", "1000000"], {})])
def test_timeouts_and_retries_over_their_range_are_usage_errors(argv, env):
    done = run_script("gradient_models", "--base-url", "http://127.0.0.1:9/v1", *argv, env=env)
    assert done.returncode == 2 and b"Traceback" not in done.stderr


# ---------------------------------------------------------------- 6. a pricing cache that cannot be poisoned

@pytest.fixture
def priced(api, tmp_path, monkeypatch):
    """A cache of the full fixture page's rows, a day old, and the page's URL pointed at the fake."""
    page = (SCRIPTS.parent / "tests" / "fixtures" / "pricing_2026_tabs.html").read_text()
    cache = tmp_path / "cache.json"
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    assert gradient_pricing.main(["--cache-file", str(cache), "--json"]) == 0
    document = json.loads(cache.read_text())
    document["fetched_at"] = core_clock.iso_utc(time.time() - 30 * 3600)
    cache.write_text(json.dumps(document))
    api.routes.clear()
    return {"cache": cache, "page": page, "before": cache.read_bytes(), "rows": len(document["models"])}


@pytest.mark.parametrize("cut", ["content-length", "chunked"])
def test_a_page_cut_short_is_a_fetch_error_never_live_data(api, priced, capsys, cut):
    body = priced["page"].encode()
    if cut == "content-length":
        reply = Reply(body=body, headers={"Content-Type": "text/html"}, cut_after=len(body) // 2)
    else:
        reply = Reply(chunks=[body[i:i + 500] for i in range(0, len(body), 500)], cut_after=5,
                      headers={"Content-Type": "text/html"})
    api.add("GET", "/pricing/", reply)
    capsys.readouterr()
    assert gradient_pricing.main(["--cache-file", str(priced["cache"]), "--changes", "--max-retries", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "cut short" in captured.err and "using the" not in captured.err
    assert priced["cache"].read_bytes() == priced["before"]


def test_a_page_with_under_half_the_rows_is_a_layout_problem(api, priced, capsys):
    head, _, _ = priced["page"].partition('<input type="radio" name="foundation-model-pricing" id="fmp-anthropic">')
    api.add("GET", "/pricing/", Reply(body=head + "</div></main></body></html>",
                                      headers={"Content-Type": "text/html"}))
    capsys.readouterr()
    assert gradient_pricing.main(["--cache-file", str(priced["cache"]), "--changes"]) == 1
    assert capsys.readouterr().out == ""  # no false removals
    assert gradient_pricing.main(["--cache-file", str(priced["cache"]), "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert f"where the cache holds {priced['rows']}" in err and "using the STALE cache" in err
    assert gradient_pricing.main(["--cache-file", str(priced["cache"]), "--no-cache", "--strict"]) == 1
    assert priced["cache"].read_bytes() == priced["before"]


# ---------------------------------------------------------------- 7. retries and errors

def test_a_get_whose_body_was_cut_off_is_retried(api, capsys, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    body = json.dumps({"data": [{"id": "model-a"}]}).encode()
    api.add("GET", "/v1/models", Reply(body=body, cut_after=10), Reply(body=body))
    assert gradient_models.main(["--base-url", api.url, "--ids"]) == 0
    assert capsys.readouterr().out == "model-a\n" and len(api.calls()) == 2


def test_a_streamed_error_carries_the_request_id_of_its_answer(api, capsys):
    api.add("POST", CHAT, sse_reply({"choices": [{"delta": {"content": "par"}}]},
                                    {"error": {"message": "overloaded"}}, headers={"x-request-id": "req-77"}))
    assert chat(api, "--stream", "--json", "--prompt", "hi") == 1
    err = capsys.readouterr().err
    assert json.loads(err)["error"]["request_id"] == "req-77", err


@pytest.mark.parametrize("retries, words", [("1", "after 1 retry"), ("2", "after 2 retries")])
def test_retries_are_counted_in_words(capsys, monkeypatch, retries, words):
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert gradient_models.main(["--base-url", "http://127.0.0.1:9/v1", "--max-retries", retries]) == 1
    assert f"connection refused by 127.0.0.1:9 {words}" in capsys.readouterr().err


def test_a_401_says_unauthorized_once(api, capsys):
    api.add("GET", "/v1/models", Reply(401, json={"error": {"message": "Unauthorized"}}))
    assert gradient_models.main(["--base-url", api.url]) == 1
    assert capsys.readouterr().err.lower().count("unauthorized") == 1


def test_a_404_from_the_pricing_page_speaks_of_the_page(api, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/gone/")
    assert gradient_pricing.main(["--cache-file", str(tmp_path / "c.json"), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "the pricing page is not at" in err and "model ids" not in err


# ---------------------------------------------------------------- 8. smaller defects

def test_a_filter_with_a_space_means_its_words(api, capsys):
    api.json("GET", "/v1/models", {"data": [{"id": "meta-llama-70b"}, {"id": "meta-llama-8b"}, {"id": "qwen-70b"}]})
    assert gradient_models.main(["--base-url", api.url, "--ids", "--filter", "meta 70b"]) == 0
    assert capsys.readouterr().out == "meta-llama-70b\n"


def test_per_unit_rows_keep_their_own_provider_and_table(api, tmp_path, monkeypatch, capsys):
    page = (SCRIPTS.parent / "tests" / "fixtures" / "pricing_2026_tabs.html").read_text()
    api.add("GET", "/pricing/", Reply(body=page, headers={"Content-Type": "text/html"}))
    monkeypatch.setenv("GRADIENT_PRICING_URL", api.origin + "/pricing/")
    assert gradient_pricing.main(["--cache-file", str(tmp_path / "c.json")]) == 0
    tokens, units = capsys.readouterr().out.split("\n\n")
    assert "per image" not in tokens and "Generation" not in units
    assert tokens.splitlines()[0].split() == ["PROVIDER", "MODEL", "API", "ID", "INPUT", "$/1M", "OUTPUT", "$/1M"]
    header = tokens.splitlines()[0]  # INPUT $/1M is not widened by "$1,000.00 per month"
    assert header.index("OUTPUT") - header.index("INPUT") == len("INPUT $/1M  ")
    assert any(line.split()[:2] == ["fal", "fal-ai/flux/schnell"] for line in units.splitlines())  # the vendor


def test_shown_reasoning_ends_before_the_answer_and_no_blank_line_follows(api, capsys):
    api.add("POST", CHAT, sse_reply({"choices": [{"delta": {"reasoning_content": "thinking"}}]},
                                    {"choices": [{"delta": {"content": "answer\n"}}]}))
    assert chat(api, "--stream", "--show-reasoning", "--prompt", "hi") == 0
    captured = capsys.readouterr()
    assert captured.err == "thinking\n" and captured.out == "answer\n"
