"""Trust, third round: a URL is judged on what urllib3 will connect to. URLs that parsers read
differently are refused; every numeric spelling of an address is normalised before a loopback or
link-local decision; presigned transfers follow no redirect that leaves their scheme or host class."""
from __future__ import annotations

import json

import pytest

import gradient_batch
import gradient_models
from conftest import FAKE_KEY
from fakeapi import Reply
from gradient_inference.core.urls import presigned_url
from gradient_inference.core import urls
from gradient_inference.core.errors import GradientError

BATCH_ID = "batch_0123456789abcdef"


@pytest.mark.parametrize("url", [
    "http://evil.example\\@127.0.0.1/v1",  # RFC 3986: host 127.0.0.1; urllib3: evil.example
    "http://127.0.0.1\\@evil.example/v1",
    "http://localhost\\@evil.example/v1",
    "http://127.0.0.1 @evil.example/v1",
    "http://127.0.0.1\t@evil.example/v1",
    "http://127.0.0.1\x1b.evil.example/v1",
])
def test_a_url_that_parsers_read_differently_is_refused_before_anything_is_sent(api, capsys, monkeypatch, keyed, url):
    with pytest.raises(SystemExit) as caught:
        gradient_models.main(["--base-url", url])
    assert caught.value.code == 2 and "read differently" in capsys.readouterr().err
    monkeypatch.setenv("GRADIENT_BASE_URL", url)
    assert gradient_models.main([]) == 1
    err = capsys.readouterr().err
    assert "GRADIENT_BASE_URL" in err and "read differently" in err and FAKE_KEY not in err


def test_the_urllib3_reading_decides_loopback():
    """The hole this closes: our old splitter called the first of these loopback; urllib3 connects to evil.example."""
    assert not urls.is_loopback_url("http://evil.example\\@127.0.0.1/v1")
    assert urls.target("http://user@127.0.0.1:8080/v1") == ("http", "user", "127.0.0.1", 8080, "/v1")


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0x7f.0.0.1", "127.0.1",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]", "127.0.0.1.",
                                  "LOCALHOST"])
def test_every_spelling_of_a_loopback_address_is_loopback(host):
    assert urls.is_loopback_url(f"http://{host}:8080/v1")


@pytest.mark.parametrize("host", ["127.0.0.1.example.com", "2130706433.example.com", "0x7f000001x", "128.0.0.1",
                                  "[::2]", "localhost.example.com"])
def test_lookalikes_are_not_loopback(host):
    assert not urls.is_loopback_url(f"http://{host}/v1")


@pytest.mark.parametrize("host", ["169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518",
                                  "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]", "[fe80::1]", "[fe80::1%25eth0]",
                                  "0.0.0.0", "0", "0x0", "[::]", "224.0.0.1", "3758096385"])
def test_every_spelling_of_a_metadata_or_unspecified_address_is_refused_for_a_transfer(host):
    with pytest.raises(GradientError) as caught:
        presigned_url(f"https://{host}/latest/meta-data?sig=1", "result file URL")
    assert "link-local, multicast or unspecified" in caught.value.message


def test_a_numeric_loopback_base_url_needs_no_key_and_reaches_the_fake_server(api, capsys):
    """2130706433 is 127.0.0.1 to the resolver: a local server, so no key is needed and no warning given."""
    api.json("GET", "/v1/models", {"data": [{"id": "m"}]})
    port = api.url.split(":")[2].split("/")[0]
    assert gradient_models.main(["--base-url", f"http://2130706433:{port}/v1", "--ids"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "m\n" and "plain http" not in captured.err


def results_route(api, location: str, status: int = 302):
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl?sig=1"})
    api.add("GET", "/files/out.jsonl", Reply(status, headers={"Location": location}, body=b""))


@pytest.mark.parametrize("location", ["http://results.example/out.jsonl", "https://results.example/out.jsonl",
                                      "ftp://127.0.0.1/out.jsonl"])
def test_a_presigned_download_redirected_to_another_host_class_is_not_followed(api, capsys, tmp_path, location):
    results_route(api, location)
    code = gradient_batch.main(["results", BATCH_ID, "--base-url", api.url, "--output", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and "which was not followed" in err and not (tmp_path / "o.jsonl").exists()


def test_a_presigned_download_redirected_within_its_host_class_is_followed(api, capsys, tmp_path):
    results_route(api, api.origin + "/files/moved.jsonl?sig=2", status=307)
    line = {"custom_id": "a", "response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": {}}}}
    api.add("GET", "/files/moved.jsonl", Reply(body=json.dumps(line) + "\n"))
    assert gradient_batch.main(["results", BATCH_ID, "--base-url", api.url, "--output", str(tmp_path / "o.jsonl")]) == 0
    assert json.loads((tmp_path / "o.jsonl").read_text())["custom_id"] == "a"


def test_a_presigned_upload_follows_no_redirect(api, capsys, tmp_path):
    api.json("POST", "/v1/batches/files", {"file_id": "file_1", "upload_url": api.origin + "/upload/in.jsonl?sig=1"})
    api.add("PUT", "/upload/in.jsonl", Reply(307, headers={"Location": api.origin + "/elsewhere"}, body=b""))
    (tmp_path / "in.jsonl").write_text('"a"\n')
    code = gradient_batch.main(["--remote", str(tmp_path / "in.jsonl"), "--base-url", api.url, "--model",
                                "openai-gpt-5-mini", "--max-retries", "0"])
    assert code == 1 and "which was not followed" in capsys.readouterr().err
    assert api.calls("PUT", "/elsewhere") == []
