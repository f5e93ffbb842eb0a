"""gradient_batch.py --remote and its subcommands against a fake DigitalOcean Batch API: the file
intent, the presigned upload without the key, an idempotent create, status, results and error
files, cancel, list; and refusal of what the Batch API cannot take, before any upload."""
from __future__ import annotations

import json
import time
import os
import sqlite3

import pytest

import gradient_batch
from gradient_inference.batch import files as batch_files
from conftest import DO_SPEC
from gradient_inference.core.defaults import MESSAGES_MAX_TOKENS
from fakeapi import Reply

BATCH_ID = "0e9d1d35-3d1e-4d66-9a2f-8c7e0f6b3e21"
FILE_ID = "a1b2c3d4-e5f6-4789-90ab-cdef12345678"


def job(status: str, done: int = 0, failed: int = 0, total: int = 3) -> dict:
    return {"batch_id": BATCH_ID, "status": status, "provider": "openai", "endpoint": "/v1/chat/completions",
            "completion_window": "24h", "input_file_id": FILE_ID, "created_at": "2026-11-28T10:00:00Z",
            "request_counts": {"total": total, "completed": done, "failed": failed}, "request_id": "r"}


def output_line(custom_id: str, text: str) -> dict:
    return {"id": "x", "custom_id": custom_id, "error": None, "response": {"status_code": 200, "request_id": "q", "body": {
        "id": "c", "model": "openai-gpt-5-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                             "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}}}}


def error_line(custom_id: str) -> dict:
    return {"id": "y", "custom_id": custom_id, "response": {"status_code": 400, "request_id": "q",
                                                             "body": {"error": {"message": "bad model"}}}, "error": None}


@pytest.fixture
def batch_api(api):
    """The Batch API's routes on the fake server: create fails once with a 500 (a retried create
    must not make two jobs), the job moves validating -> in_progress -> completed."""
    api.json("POST", "/v1/batches/files", {"file_id": FILE_ID, "upload_url": api.origin + "/upload/in.jsonl?X-Amz-Signature=sig",
                                           "expires_at": "2026-11-28T10:15:00Z"}, status=201)
    api.add("PUT", "/upload/in.jsonl", Reply(200, body=b""))
    api.add("POST", "/v1/batches", Reply(500, json={"error": {"message": "try again"}}), Reply(201, json=job("validating")))
    api.add("GET", f"/v1/batches/{BATCH_ID}", Reply(json=job("validating")), Reply(json=job("in_progress", 1)),
            Reply(json=job("completed", 2, 1)))
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl?sig=1",
                                                        "error_file_url": api.origin + "/files/err.jsonl?sig=2"})
    api.add("GET", "/files/out.jsonl", Reply(body="".join(json.dumps(line) + "\n" for line in (
        output_line("line-1", "One"), output_line("b", "Two")))))
    api.add("GET", "/files/err.jsonl", Reply(body=json.dumps(error_line("line-3")) + "\n"))
    api.json("POST", f"/v1/batches/{BATCH_ID}/cancel", job("cancelling"))
    api.json("GET", "/v1/batches", {"object": "list", "data": [job("completed", 2, 1), job("in_progress", 1)],
                                    "first_id": BATCH_ID, "last_id": BATCH_ID, "has_more": False})
    return api


def jsonl(path, *items) -> str:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return str(path)


def main(api, *argv) -> int:
    return gradient_batch.main([*argv, "--base-url", api.url])


def test_submit_uploads_without_the_key_and_creates_idempotently(batch_api, capsys, tmp_path, keyed):
    source = jsonl(tmp_path / "prompts.jsonl", "Hello", {"custom_id": "b", "prompt": "Hi", "max_tokens": 64})
    assert main(batch_api, "--remote", source, "--model", "openai-gpt-5-mini", "--max-retries", "2") == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == BATCH_ID and "status " + BATCH_ID in captured.err
    [intent] = batch_api.calls("POST", "/v1/batches/files")
    assert intent.json == {"file_name": "prompts.jsonl"} and intent.headers["Authorization"] == f"Bearer {keyed}"
    [put] = batch_api.calls("PUT", "/upload/in.jsonl")
    assert "Authorization" not in put.headers and keyed.encode() not in put.body
    lines = [json.loads(line) for line in put.body.decode().splitlines()]
    assert [line["custom_id"] for line in lines] == ["line-1", "b"]
    assert lines[1] == {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "openai-gpt-5-mini", "messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 64}}
    creates = batch_api.calls("POST", "/v1/batches")
    assert len(creates) == 2, "the create was not retried after the 500"
    assert creates[0].json == creates[1].json and creates[0].json["request_id"]
    assert creates[0].json["file_id"] == FILE_ID and creates[0].json["endpoint"] == "/v1/chat/completions"


def test_wait_polls_to_the_end_and_writes_result_lines_joined_by_custom_id(batch_api, capsys, tmp_path):
    source = jsonl(tmp_path / "prompts.jsonl", "One", {"custom_id": "b", "prompt": "Two"}, "Three")
    output = tmp_path / "out.jsonl"
    code = main(batch_api, "--remote", source, "--model", "openai-gpt-5-mini", "--wait", "--poll-interval", "0.01",
                "--output", str(output))
    captured = capsys.readouterr()
    assert code == 1, "an error line must make the exit 1"
    lines = {line["custom_id"]: line for line in map(json.loads, output.read_text().splitlines())}
    assert lines["line-1"]["content"] == "One" and lines["line-1"]["line"] == 1 and lines["b"]["line"] == 2
    assert lines["line-3"]["status"] == "error" and "bad model" in lines["line-3"]["error"]["message"]
    assert lines["line-1"]["usage"]["input_tokens"] == 100 and lines["line-1"]["cost_usd"] > 0
    assert len(batch_api.calls("GET", f"/v1/batches/{BATCH_ID}")) == 3
    assert "status: completed" in captured.err and "2 ok, 1 failed" in captured.err
    assert all("Authorization" not in r.headers for r in batch_api.calls("GET") if r.path.startswith("/files/"))


def test_results_are_recorded_in_the_ledger_once_with_batch_prices(batch_api, capsys, tmp_path):
    assert main(batch_api, "results", BATCH_ID) == 1
    assert main(batch_api, "results", BATCH_ID) == 1
    err = capsys.readouterr().err
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute(
        "SELECT batch_id, api, outcome, input_tokens, price_source FROM calls").fetchall()
    assert len(rows) == 3 and {r[:2] for r in rows} == {(BATCH_ID, "batch")}
    assert sorted(r[2] for r in rows) == ["bad_request", "ok", "ok"]
    assert "not recorded again" in err


def test_results_not_ready_is_one_clear_error(api, capsys):
    api.add("GET", f"/v1/batches/{BATCH_ID}/results", Reply(412, json={"id": "precondition_failed",
                                                                      "message": "not yet"}))
    assert main(api, "results", BATCH_ID) == 1
    assert "not ready yet" in capsys.readouterr().err


def test_status_cancel_and_list(batch_api, capsys):
    assert main(batch_api, "status", BATCH_ID) == 0
    assert capsys.readouterr().out.strip() == f"batch {BATCH_ID}: validating, 0/3 done, 0 failed"
    assert main(batch_api, "cancel", BATCH_ID, "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelling"
    assert batch_api.calls("POST", f"/v1/batches/{BATCH_ID}/cancel")
    assert main(batch_api, "list") == 0
    assert capsys.readouterr().out.count(BATCH_ID) == 2


def test_a_batch_id_cannot_reach_another_path(api, capsys):
    with pytest.raises(SystemExit) as stop:
        main(api, "status", "../../v1/models")
    assert stop.value.code == 2 and not api.requests


@pytest.mark.parametrize("items, words", [
    ([{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}],
     "text only"),
    ([{"prompt": "x", "model": "llama3.3-70b-instruct"}], "does not take llama3.3-70b-instruct"),
    ([{"prompt": "x", "model": "openai-gpt-oss-20b"}], "does not take openai-gpt-oss-20b"),  # open-weight: not OpenAI's
    ([{"prompt": "x", "model": "openai-gpt-5-mini"}, {"prompt": "y", "model": "anthropic-claude-sonnet-4"}],
     "one provider"),
    (["fine", {"prompt": 5}], "line 2: prompt must be a string"),
])
def test_what_the_batch_api_cannot_take_is_refused_before_any_upload(api, capsys, tmp_path, items, words):
    with pytest.raises(SystemExit) as stop:
        main(api, "--remote", jsonl(tmp_path / "in.jsonl", *items), "--model", "openai-gpt-5-mini")
    assert stop.value.code == 2 and words in capsys.readouterr().err and not api.requests


@pytest.mark.parametrize("limit, value", [("MAX_LINES", 3), ("MAX_BYTES", 300)])
def test_too_many_lines_or_bytes_are_refused_before_any_upload(api, capsys, tmp_path, monkeypatch, limit, value):
    monkeypatch.setattr(batch_files, limit, value)
    with pytest.raises(SystemExit) as stop:
        main(api, "--remote", jsonl(tmp_path / "in.jsonl", *[f"prompt {i}" for i in range(5)]), "--model",
             "openai-gpt-5-mini")
    assert stop.value.code == 2 and "split the input" in capsys.readouterr().err and not api.requests


def test_anthropic_models_get_anthropics_batch_format(batch_api, capsys, tmp_path):
    source = jsonl(tmp_path / "in.jsonl", {"prompt": "Hi", "system": "Be brief."})
    assert main(batch_api, "--remote", source, "--model", "anthropic-claude-sonnet-4", "--schema", "name") == 0
    [line] = [json.loads(x) for x in batch_api.calls("PUT")[0].body.decode().splitlines()]
    params = line["params"]
    assert params["system"] == "Be brief."
    assert params["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert params["max_tokens"] == MESSAGES_MAX_TOKENS
    assert params["tool_choice"]["type"] == "tool" and params["tools"][0]["input_schema"]["required"] == ["name"]
    from test_contract import spec_validator

    spec_validator(DO_SPEC)("messages_create_request", params)  # the same shape as --messages-api sends
    create = batch_api.calls("POST", "/v1/batches")[-1].json
    assert create["provider"] == "anthropic" and "endpoint" not in create


def test_anthropic_results_are_read_too():
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": {
        "id": "m", "model": "anthropic-claude-sonnet-4", "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 7, "output_tokens": 2}}}}
    item, status, document, error = batch_files.parse_result(json.dumps(line).encode())
    assert status == "ok" and document["choices"][0]["message"]["content"] == "Hello" and error is None
    failed = {"custom_id": "b", "result": {"type": "errored", "error": {"type": "invalid_request_error",
                                                                        "message": "too long"}}}
    _, status, _, error = batch_files.parse_result(json.dumps(failed).encode())
    assert status == "error" and "too long" in error.message


def test_a_hostile_upload_url_is_refused(api, capsys, tmp_path):
    api.json("POST", "/v1/batches/files", {"file_id": FILE_ID, "upload_url": "file:///etc/passwd"})
    assert main(api, "--remote", jsonl(tmp_path / "in.jsonl", "x"), "--model", "openai-gpt-5-mini") == 1
    assert "not an http(s) URL" in capsys.readouterr().err and not api.calls("POST", "/v1/batches")


def test_requests_and_fake_answers_fit_digitaloceans_spec(batch_api, capsys, tmp_path):
    from test_contract import spec_validator

    check = spec_validator(DO_SPEC)
    main(batch_api, "--remote", jsonl(tmp_path / "in.jsonl", "x"), "--model", "openai-gpt-5-mini")
    check("batch_file_create_request", batch_api.calls("POST", "/v1/batches/files")[0].json)
    check("batch_create_request", batch_api.calls("POST", "/v1/batches")[-1].json)
    for name, document in (("batch", job("in_progress", 1)), ("batch_list_response", {"object": "list", "data": [
            job("completed")], "has_more": False}), ("batch_file_create_response", {"file_id": FILE_ID,
                                                                                    "upload_url": "https://x/y"}),
                           ("batch_results_response", {"batch_id": BATCH_ID, "result_available": False})):
        check(name, document)


def test_status_as_a_subprocess(batch_api, script, keyed):
    done = script("gradient_batch", "status", BATCH_ID, "--json", "--base-url", batch_api.url)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "validating"
    assert keyed.encode() not in done.stdout + done.stderr


def test_a_remote_batch_over_max_cost_is_refused_before_any_upload(api, capsys, tmp_path):
    source = jsonl(tmp_path / "in.jsonl", *[f"prompt {i}" for i in range(10)])
    assert main(api, "--remote", source, "--model", "openai-gpt-5-mini", "--max-tokens", "1000",
                "--max-cost", "0.0001") == 1
    assert "this batch of 10 requests could cost up to" in capsys.readouterr().err and not api.requests


def test_an_unreadable_result_line_is_counted_and_the_rest_still_written(api, capsys):
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl"})
    api.add("GET", "/files/out.jsonl", Reply(body='not json\n{"no": "custom_id"}\n' + json.dumps(output_line("a", "A"))))
    assert main(api, "results", BATCH_ID) == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["custom_id"] for line in captured.out.splitlines()] == ["a"]
    assert "2 line(s) of the result files could not be read" in captured.err


def test_wait_without_remote_is_a_usage_error(api, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(api, jsonl(tmp_path / "in.jsonl", "x"), "--wait")
    assert stop.value.code == 2 and not api.requests


@pytest.mark.parametrize("chunks, lines", [
    ([b"ab\ncd", b"e\n\nfg"], [b"ab", b"cde", b"fg"]),
    ([b"short\n0123456789ABC", b"DEF\nok\n"], [b"short", None, b"ok"]),  # None: a line over the limit
    ([b"01234", b"56789", b"xx"], [None]),
    ([b"a\n", b"  \n", b"b"], [b"a", b"b"]),
])
def test_result_files_are_split_into_lines_without_holding_a_long_one(monkeypatch, chunks, lines):
    monkeypatch.setattr(batch_files, "MAX_LINE_BYTES", 10)
    assert list(batch_files.result_lines(iter(chunks))) == lines


def test_a_result_line_over_16_mb_is_skipped_and_the_next_one_read():
    chunks = [b"x" * 65536] * 512 + [b"\n" + json.dumps(output_line("a", "A")).encode()]  # 32 MB, no newline
    found = list(batch_files.result_lines(iter(chunks)))
    assert found[0] is None and json.loads(found[1])["custom_id"] == "a"


def test_results_with_the_submitted_input_know_every_line(batch_api, capsys, tmp_path):
    source = jsonl(tmp_path / "prompts.jsonl", "One", {"custom_id": "b", "prompt": "Two"}, "Three")
    assert main(batch_api, "results", BATCH_ID) == 1
    assert {json.loads(x)["custom_id"]: json.loads(x)["line"] for x in capsys.readouterr().out.splitlines()} == {
        "line-1": 1, "b": None, "line-3": 3}
    assert main(batch_api, "results", BATCH_ID, "--input", source, "--no-log") == 1
    assert {json.loads(x)["custom_id"]: json.loads(x)["line"] for x in capsys.readouterr().out.splitlines()} == {
        "line-1": 1, "b": 2, "line-3": 3}


def test_verbose_logs_never_show_a_presigned_urls_signature_or_the_key(batch_api, capsys, tmp_path, keyed):
    assert main(batch_api, "--remote", jsonl(tmp_path / "in.jsonl", "x"), "--model", "openai-gpt-5-mini", "-v") == 0
    err = capsys.readouterr().err
    assert "> PUT " in err and "X-Amz-Signature" not in err and keyed not in err


def test_results_cut_off_mid_download_leave_no_file_and_no_ledger_rows(api, capsys, tmp_path):
    body = "".join(json.dumps(output_line(f"line-{i}", "x" * 100)) + "\n" for i in range(50))
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl"})
    api.add("GET", "/files/out.jsonl", Reply(body=body, cut_after=len(body) // 2), Reply(body=body))
    output = tmp_path / "out" / "results.jsonl"
    output.parent.mkdir()
    assert main(api, "results", BATCH_ID, "--output", str(output)) == 1
    assert "closed in the middle" in capsys.readouterr().err
    assert list(output.parent.iterdir()) == [], "a partial results file (or its temporary) was left"
    assert ledger_rows() == 0, "a download that failed was recorded (a second one would then record nothing)"
    assert main(api, "results", BATCH_ID, "--output", str(output)) == 0
    assert len(output.read_text().splitlines()) == 50 and [p.name for p in output.parent.iterdir()] == ["results.jsonl"]
    assert ledger_rows() == 50


def ledger_rows() -> int:
    path = os.environ["GRADIENT_USAGE_DB"]
    return sqlite3.connect(path).execute("SELECT COUNT(*) FROM calls").fetchone()[0] if os.path.exists(path) else 0


@pytest.mark.parametrize("url, words", [
    ("http://uploads.example.com/in.jsonl?sig=1", "plain http to uploads.example.com"),
    ("https://169.254.169.254/latest/meta-data", "link-local, multicast or unspecified"),
    ("http://[fe80::1]/x", "link-local, multicast or unspecified"),
    ("https://0.0.0.0/x", "link-local, multicast or unspecified"),
    ("https://224.0.0.1/x", "link-local, multicast or unspecified"),
])
def test_a_presigned_url_over_plain_http_or_to_a_forbidden_address_is_refused(api, capsys, tmp_path, url, words):
    api.json("POST", "/v1/batches/files", {"file_id": FILE_ID, "upload_url": url})
    code = main(api, "--remote", jsonl(tmp_path / "in.jsonl", "a"), "--model", "openai-gpt-5-mini")
    err = capsys.readouterr().err
    assert code == 1 and words in err and api.calls("PUT") == []


def test_each_sent_id_is_counted_and_recorded_once(api, capsys, tmp_path):
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl?sig=1"})
    api.add("GET", "/files/out.jsonl", Reply(body="".join(json.dumps(line) + "\n" for line in (
        output_line("line-1", "One"), output_line("line-1", "One again"), output_line("never-sent", "?"),
        output_line("line-2", "Two")))))
    source = jsonl(tmp_path / "prompts.jsonl", "One", "Two")
    output = tmp_path / "out.jsonl"
    assert main(api, "results", BATCH_ID, "--input", source, "--output", str(output)) == 0
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == ["line-1", "line-2"] and lines[0]["content"] == "One"
    assert "2 line(s) of the result files repeat a custom_id or name one that was not sent" in err
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert rows == 2


def test_wait_has_an_overall_deadline(api, capsys, tmp_path):
    api.json("POST", "/v1/batches/files", {"file_id": FILE_ID, "upload_url": api.origin + "/upload/in.jsonl?sig=1"})
    api.add("PUT", "/upload/in.jsonl", Reply(200, body=b""))
    api.json("POST", "/v1/batches", job("validating"))
    api.json("GET", f"/v1/batches/{BATCH_ID}", job("in_progress", 1))
    code = main(api, "--remote", jsonl(tmp_path / "in.jsonl", "a"), "--model", "openai-gpt-5-mini", "--wait",
                "--poll-interval", "0.05", "--max-wait", "0.3")
    err = capsys.readouterr().err
    assert code == 1 and "is still in_progress after" in err and f"results {BATCH_ID}" in err
    assert 2 <= len(api.calls("GET", f"/v1/batches/{BATCH_ID}")) <= 10


def tool_line(custom_id: str, arguments: str | None) -> dict:
    message = {"role": "assistant", "content": None}
    if arguments is not None:
        message["tool_calls"] = [{"id": "t", "type": "function", "function": {"name": "answer", "arguments": arguments}}]
    return {"id": "x", "custom_id": custom_id, "response": {"status_code": 200, "body": {
        "id": "c", "model": "openai-gpt-5-mini", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50}}}}


def test_schema_items_are_read_like_local_ones(batch_api, capsys, tmp_path):
    batch_api.routes[("GET", "/files/out.jsonl")] = [Reply(body="".join(json.dumps(line) + "\n" for line in (
        tool_line("line-1", '{"label": "good", "score": 0.9}'), tool_line("b", '{"label": "bad"}'),
        tool_line("line-3", None))))]
    batch_api.routes[("GET", "/files/err.jsonl")] = [Reply(body="")]
    source = jsonl(tmp_path / "prompts.jsonl", "One", {"custom_id": "b", "prompt": "Two"}, "Three")
    output = tmp_path / "out.jsonl"
    code = main(batch_api, "--remote", source, "--model", "openai-gpt-5-mini", "--schema", "label, score float",
                "--wait", "--poll-interval", "0.01", "--output", str(output))
    lines = {line["custom_id"]: line for line in map(json.loads, output.read_text().splitlines())}
    assert code == 1
    assert lines["line-1"]["status"] == "ok" and lines["line-1"]["data"] == {"label": "good", "score": 0.9}
    assert lines["b"]["status"] == "error" and "lacks the field 'score'" in lines["b"]["error"]["message"]
    assert lines["line-3"]["status"] == "error" and "not JSON" in lines["line-3"]["error"]["message"]  # as chat says it
    assert all(line["usage"]["input_tokens"] == 100 for line in lines.values())  # every answer was billed


def test_a_submitted_job_is_pending_with_its_worst_case_until_its_results_are_in(batch_api, capsys, tmp_path):
    import gradient_usage

    source = jsonl(tmp_path / "prompts.jsonl", "One", "Two", "Three")
    assert main(batch_api, "--remote", source, "--model", "openai-gpt-5-mini", "--max-tokens", "1000") == 0
    capsys.readouterr()
    assert gradient_usage.main(["--json"]) == 0
    pending = json.loads(capsys.readouterr().out)["pending"]
    assert [(job["batch_id"], job["requests"]) for job in pending] == [(BATCH_ID, 3)]
    assert pending[0]["worst_case_usd"] > 0
    assert gradient_usage.main([]) == 0
    shown = capsys.readouterr()
    assert f"pending: batch {BATCH_ID}" in shown.out and "gradient_batch.py results" in shown.err
    # a daily budget counts the pending job's worst case
    rows = sqlite3.connect(os.environ["GRADIENT_USAGE_DB"]).execute("SELECT amount FROM reservations").fetchall()
    assert rows == [(pending[0]["worst_case_usd"],)]
    # status on the finished job says its results are not in the ledger yet; results brings them in
    batch_api.routes[("GET", f"/v1/batches/{BATCH_ID}")] = [Reply(json=job("completed", 2, 1))]
    assert main(batch_api, "status", BATCH_ID) == 0
    assert "not in the usage ledger yet" in capsys.readouterr().err
    main(batch_api, "results", BATCH_ID)
    capsys.readouterr()
    assert gradient_usage.main(["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pending"] == [] and document["total"]["calls"] == 3


def test_list_filters_by_status_and_gives_one_id_field(batch_api, capsys):
    batch_api.routes[("GET", "/v1/batches")] = [Reply(json={"object": "list", "data": [
        dict(job("completed", 2, 1), id=None), dict(job("in_progress", 1), batch_id="other-job")]})]
    assert main(batch_api, "list", "--status", "completed", "--json") == 0
    jobs = json.loads(capsys.readouterr().out)["data"]
    assert [(j["id"], j["batch_id"], j["status"]) for j in jobs] == [(BATCH_ID, BATCH_ID, "completed")]


def test_cancelling_a_job_still_validating_is_asked_once_and_says_when_to_try(api, capsys):
    api.json("POST", f"/v1/batches/{BATCH_ID}/cancel", {"error": {"message": "job is validating"}}, status=409)
    assert main(api, "cancel", BATCH_ID) == 1
    assert "once it is in progress" in capsys.readouterr().err
    assert len(api.calls("POST", f"/v1/batches/{BATCH_ID}/cancel")) == 1


@pytest.mark.parametrize("name", ["status", "results", "cancel", "list"])
def test_every_subcommand_help_ends_with_examples(name, capsys):
    with pytest.raises(SystemExit):
        gradient_batch.main([name, "--help"])
    after = capsys.readouterr().out.split("examples:", 1)[1]
    assert "gradient_batch.py " + name in after


def test_list_status_running_finds_every_job_not_yet_finished(api, capsys):
    jobs = [{"batch_id": f"batch_{state}", "status": state} for state in
            ("validating", "in_progress", "finalizing", "cancelling", "completed", "failed", "expired", "cancelled")]
    api.json("GET", "/v1/batches", {"object": "list", "data": jobs})
    assert main(api, "list", "--status", "running", "--json") == 0
    found = [job["status"] for job in json.loads(capsys.readouterr().out)["data"]]
    assert found == ["validating", "in_progress", "finalizing", "cancelling"]


def test_a_remote_total_is_summed_unrounded_and_rounded_once(api, capsys, tmp_path, monkeypatch):
    """3 tokens at $0.0046667 per 1M cost $1.4e-08 a line, shown rounded as $1e-08: 100 lines add
    up to $1.4e-06, where the rounded lines would sum to $1e-06."""
    cache = tmp_path / "prices.json"
    cache.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "url": None, "models": [{"provider": "OpenAI", "model": "m", "model_id": "m",
                                                          "input_price": 0.0046667, "output_price": 0.0046667,
                                                          "unit": "per 1M tokens"}]}))
    cache.chmod(0o600)
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))
    line = {"custom_id": "x", "response": {"status_code": 200, "body": {
        "model": "m", "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1}}}}
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl?sig=1"})
    api.add("GET", "/files/out.jsonl", Reply(body="".join(json.dumps(dict(line, custom_id=f"c{i}")) + "\n"
                                                          for i in range(100))))
    assert main(api, "results", BATCH_ID, "--output", str(tmp_path / "o.jsonl"), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cost_usd"] == round(100 * 3 * 0.0046667 / 1e6, 8) == 1.4e-06
    per_line = [json.loads(text)["cost_usd"] for text in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert per_line[0] == 1e-08 and round(sum(per_line), 8) == 1e-06


def test_results_of_a_cancelled_job_count_what_did_not_run_and_leave_it_for_a_local_run(api, capsys, tmp_path):
    api.json("GET", f"/v1/batches/{BATCH_ID}", job("cancelled", 2, 0, total=5))
    api.json("GET", f"/v1/batches/{BATCH_ID}/results", {"batch_id": BATCH_ID, "result_available": True,
                                                        "output_file_url": api.origin + "/files/out.jsonl?sig=1"})
    api.add("GET", "/files/out.jsonl", Reply(body="".join(json.dumps(output_line(c, c)) + "\n" for c in ("a", "b"))))
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"custom_id": c, "prompt": f"say {c}"}) + "\n" for c in "abcde"))
    output = tmp_path / "out.jsonl"
    code = main(api, "results", BATCH_ID, "--input", str(source), "--output", str(output), "--json")
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 1 and (summary["ok"], summary["left"], summary["job_status"]) == (2, 3, "cancelled")
    assert "3 item(s) of batch" in captured.err and "did not run (the job is cancelled)" in captured.err
    left = [json.loads(line) for line in (tmp_path / "out.jsonl.left.jsonl").read_text().splitlines()]
    assert left == [{"custom_id": c, "prompt": f"say {c}"} for c in "cde"] and summary["left_file"].endswith(".left.jsonl")
    api.add("POST", "/v1/chat/completions", Reply(json={"id": "c", "model": "m", "choices": [
        {"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}], "usage": {}}))
    assert main(api, summary["left_file"], "--model", "m", "--output", str(tmp_path / "rest.jsonl")) == 0
    assert len((tmp_path / "rest.jsonl").read_text().splitlines()) == 3  # the local run takes the file as it is
