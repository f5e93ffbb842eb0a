"""gradient_video.py: submit, progress, download, failure, expiry, status/fetch and the older path."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import gradient_video
from gradient_inference.ledger import store as ledger_store
from gradient_inference.media import run_video
from conftest import DO_ADDITIONS, FAKE_KEY, SCRIPTS
from fakeapi import Reply

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
JOB = "video_bGl0ZWxsbTpj"


def job(status: str, **extra) -> dict:
    document = {"id": JOB, "object": "video", "created_at": 1777003604, "model": "wan2-2-t2v-a14b",
                "status": status, "output": None, "error": None}
    document.update(extra)
    return document


@pytest.mark.parametrize("status", ["queued", "processing", "in_progress", "completed", "failed"])
def test_the_fake_jobs_fit_the_additions(status):
    from test_contract import spec_validator

    spec_validator(DO_ADDITIONS)("video_job", job(status, output={"url": "https://x/v.mp4"}))


def serve_job(api, *statuses, family="videos", content=MP4, **done_extra):
    """A job that is submitted and then answers each status in turn (the last repeats)."""
    api.json("POST", f"/v1/{family}", job("queued"))
    api.add("GET", f"/v1/{family}/{JOB}", *[Reply(json=job(s, **(done_extra if s == statuses[-1] else {})))
                                            for s in statuses])
    if content is not None:
        api.add("GET", f"/v1/{family}/{JOB}/content", Reply(body=content, headers={"Content-Type": "video/mp4"}))


def run(api, *argv):
    return gradient_video.main(["--base-url", api.url, "--poll-interval", "0.01", *argv])


def ledger_rows():
    return [tuple(row.values()) for row in ledger_store.rows(
        "SELECT script, model, api, outcome, cost_usd, price_source, request_id FROM calls")]


def test_a_job_is_submitted_polled_and_saved(api, keyed, workdir, capsys):
    serve_job(api, "queued", "in_progress", "completed")
    assert run(api, "A paper boat on a rainy street", "--size", "1280x720", "--fps", "16") == 0
    captured = capsys.readouterr()
    path = captured.out.strip()
    assert path.startswith("./gradient-video-") and path.endswith(".mp4")
    assert (workdir / path).read_bytes() == MP4
    assert os.listdir(workdir) == [os.path.basename(path)]
    body = api.calls("POST", "/v1/videos")[0].json
    assert body == {"model": "wan2-2-t2v-a14b", "prompt": "A paper boat on a rainy street", "size": "1280x720",
                    "fps": 16}
    assert "status: in_progress" in captured.err and "status: completed" in captured.err
    assert f"submitted video job {JOB}" in captured.err
    assert len(api.calls("GET", f"/v1/videos/{JOB}")) == 3
    content = api.calls("GET", f"/v1/videos/{JOB}/content")[0]
    assert content.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert ledger_rows() == [("video", "wan2-2-t2v-a14b", "videos", "ok", 0.31, ledger_rows()[0][5], JOB)]


def test_json_names_the_job_file_wait_and_cost(api, workdir, capsys):
    serve_job(api, "processing", "completed", completed_at=1777003700)
    assert run(api, "--prompt", "clouds", "-o", "clouds.mp4", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["id"] == JOB and document["status"] == "completed" and document["model"] == "wan2-2-t2v-a14b"
    assert document["file"] == {"path": "clouds.mp4", "bytes": len(MP4), "format": "mp4"}
    assert document["cost_usd"] == 0.31 and isinstance(document["seconds_waited"], float)
    assert document["expires_at"] == 1777003700 + 7200
    assert (workdir / "clouds.mp4").read_bytes() == MP4


def test_the_output_url_is_used_without_the_key_when_content_is_missing(api, keyed, workdir, capsys):
    url = api.origin + "/files/v.mp4?X-Amz-Signature=abc"
    serve_job(api, "completed", content=None, output={"url": url})
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(404, json={"error": {"message": "no content route"}}))
    api.add("GET", "/files/v.mp4", Reply(body=MP4))
    assert run(api, "x", "-o", "v.mp4") == 0
    fetched = api.calls("GET", "/files/v.mp4")[0]
    assert "Authorization" not in fetched.headers
    assert (workdir / "v.mp4").read_bytes() == MP4


def test_an_output_url_to_a_metadata_address_is_refused(api, workdir, capsys):
    serve_job(api, "completed", content=None, output={"url": "http://169.254.169.254/latest/meta-data"})
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(404))
    assert run(api, "x") == 1
    assert "link-local" in capsys.readouterr().err
    assert os.listdir(workdir) == []


def test_a_failed_job_is_exit_1_with_the_servers_error_and_not_billed(api, workdir, capsys):
    serve_job(api, "processing", "failed", error={"code": "content_policy", "message": "the prompt was refused"})
    assert run(api, "x") == 1
    err = capsys.readouterr().err
    assert f"the video job {JOB} failed: the prompt was refused" in err
    assert os.listdir(workdir) == []
    row = ledger_rows()[0]
    assert row[3] == "server" and row[4] == 0.0 and row[5] == run_video.NOT_BILLED_FAILED


def test_bytes_that_are_not_mp4_leave_no_file(api, workdir, capsys):
    serve_job(api, "completed", content=b"<html>oops</html>")
    assert run(api, "x", "-o", "v.mp4") == 1
    assert "not an MP4 video" in capsys.readouterr().err
    assert os.listdir(workdir) == []


def test_a_cut_off_download_leaves_no_file(api, workdir, capsys):
    api.json("POST", "/v1/videos", job("completed"))
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(body=MP4 * 100, headers={"Content-Length": str(len(MP4) * 100)},
                                                      cut_after=200))
    assert run(api, "x", "-o", "v.mp4", "--max-retries", "0") == 1
    assert os.listdir(workdir) == []


def test_the_older_path_is_tried_once_after_a_404(api, workdir, capsys):
    api.add("POST", "/v1/videos", Reply(404, json={"error": {"message": "not found"}}))
    serve_job(api, "processing", "completed", family="video/generations")
    assert run(api, "x", "-o", "v.mp4") == 0
    assert len(api.calls("POST", "/v1/videos")) == 1 and len(api.calls("POST", "/v1/video/generations")) == 1
    assert api.calls("GET", f"/v1/video/generations/{JOB}")
    assert not api.calls("GET", f"/v1/videos/{JOB}")
    assert (workdir / "v.mp4").read_bytes() == MP4


def test_max_wait_ends_the_wait_and_says_how_to_fetch(api, workdir, capsys):
    serve_job(api, "processing")
    assert gradient_video.main(["--base-url", api.url, "x", "--poll-interval", "0.5", "--max-wait", "1"]) == 1
    err = capsys.readouterr().err
    assert "still processing" in err and f"gradient_video.py fetch {JOB} -o FILE" in err
    assert ledger_rows()[0][4] == 0.31  # submitted: counted, though the wait ended


def test_budget_refuses_before_submitting(api, workdir, capsys):
    assert run(api, "x", "--max-cost", "0.10") == 1
    assert "0.31" in capsys.readouterr().err
    assert api.calls("POST", "/v1/videos") == []


def test_an_unpriced_model_under_a_budget_is_refused(api, workdir, capsys):
    assert run(api, "x", "--model", "some-new-video-model", "--daily-budget", "5") == 1
    assert api.calls("POST", "/v1/videos") == []


def test_status_shows_the_job_without_a_ledger_row(api, capsys):
    api.json("GET", f"/v1/videos/{JOB}", job("in_progress"))
    assert gradient_video.main(["status", JOB, "--base-url", api.url]) == 0
    assert capsys.readouterr().out.strip() == f"{JOB}: in_progress (wan2-2-t2v-a14b)"
    assert gradient_video.main(["status", JOB, "--base-url", api.url, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["state"] == "waiting" and document["id"] == JOB
    assert ledger_rows() == []


def test_status_of_a_failed_job_shows_its_error(api, capsys):
    api.json("GET", f"/v1/videos/{JOB}", job("failed", error="GPU out of memory"))
    assert gradient_video.main(["status", JOB, "--base-url", api.url]) == 0
    assert capsys.readouterr().out.strip() == f"{JOB}: failed (wan2-2-t2v-a14b): GPU out of memory"


def test_status_finds_a_job_on_the_older_path(api, capsys):
    api.add("GET", f"/v1/videos/{JOB}", Reply(404))
    api.json("GET", f"/v1/video/generations/{JOB}", job("completed"))
    assert gradient_video.main(["status", JOB, "--base-url", api.url]) == 0
    assert f"gradient_video.py fetch {JOB}" in capsys.readouterr().out


def test_status_of_an_unknown_job_says_so(api, capsys):
    api.add("GET", f"/v1/videos/{JOB}", Reply(404))
    api.add("GET", f"/v1/video/generations/{JOB}", Reply(404))
    assert gradient_video.main(["status", JOB, "--base-url", api.url]) == 1
    assert f"no video job {JOB}" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["../../v1/models", "a/b", "", "x" * 300, "id with space"])
def test_a_job_id_that_is_not_a_path_segment_is_a_usage_error(api, bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        gradient_video.main(["status", bad, "--base-url", api.url])
    assert exit_.value.code == 2
    assert api.calls() == []


def test_fetch_waits_then_saves_without_a_ledger_row(api, workdir, capsys):
    api.add("GET", f"/v1/videos/{JOB}", Reply(json=job("processing")), Reply(json=job("completed")))
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(body=MP4))
    assert gradient_video.main(["fetch", JOB, "-o", "later.mp4", "--base-url", api.url, "--poll-interval", "0.01",
                                "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["file"]["path"] == "later.mp4" and document["cost_usd"] is None
    assert (workdir / "later.mp4").read_bytes() == MP4
    assert ledger_rows() == [] and api.calls("POST") == []


def test_fetch_after_the_file_expired_says_so(api, workdir, capsys):
    done = time.time() - 3 * 3600
    api.json("GET", f"/v1/videos/{JOB}", job("completed", completed_at=done))
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(404, json={"error": {"message": "not found"}}))
    assert gradient_video.main(["fetch", JOB, "--base-url", api.url]) == 1
    err = capsys.readouterr().err
    assert "no longer there (it finished 3.0 h ago)" in err and "keeps a finished video 2 hours" in err
    assert os.listdir(workdir) == []


def test_fetch_of_an_expired_status_says_so(api, workdir, capsys):
    api.json("GET", f"/v1/videos/{JOB}", job("expired"))
    assert gradient_video.main(["fetch", JOB, "--base-url", api.url]) == 1
    assert "no longer there" in capsys.readouterr().err


def test_fetch_of_an_expired_presigned_url_says_so(api, workdir, capsys):
    api.json("GET", f"/v1/videos/{JOB}", job("completed", output={"url": api.origin + "/files/v.mp4?sig=1"}))
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(404))
    api.add("GET", "/files/v.mp4", Reply(403, body="<Error><Code>AccessDenied</Code>Request has expired</Error>"))
    assert gradient_video.main(["fetch", JOB, "--base-url", api.url]) == 1
    assert "no longer there" in capsys.readouterr().err


def test_an_existing_file_is_refused_before_anything_is_sent(api, workdir, capsys):
    (workdir / "v.mp4").write_bytes(b"keep")
    assert run(api, "x", "-o", "v.mp4") == 1
    assert "exists" in capsys.readouterr().err and api.calls() == []


def test_no_prompt_is_a_usage_error(api, capsys):
    with pytest.raises(SystemExit) as exit_:
        gradient_video.main(["--base-url", api.url])
    assert exit_.value.code == 2 and api.calls() == []


@pytest.mark.parametrize("argv", [["x", "--size", "auto"], ["x", "--size", "720p"], ["x", "--fps", "0"]])
def test_bad_sizes_and_rates_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        gradient_video.main(argv)
    assert exit_.value.code == 2


def test_a_default_no_longer_served_is_refused_before_paying(api, workdir, capsys):
    from conftest import seed_model_list

    seed_model_list(api.url, ["openai-gpt-oss-120b"])
    assert run(api, "x") == 1
    assert "default video model wan2-2-t2v-a14b is not served" in capsys.readouterr().err
    assert api.calls("POST") == []


# ---------------------------------------------------------------- as a process


def test_process_prints_the_path_and_keeps_the_key_out(api, keyed, workdir, script):
    serve_job(api, "processing", "completed")
    result = script("gradient_video", "A fox", "--base-url", api.url, "--poll-interval", "0.01", "-o",
                    str(workdir / "fox.mp4"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == str(workdir / "fox.mp4")
    assert FAKE_KEY.encode() not in result.stdout + result.stderr


def test_sigterm_while_waiting_says_the_id_and_leaves_no_file(api, workdir):
    serve_job(api, "processing")
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "gradient_video.py"), "x", "--base-url", api.url,
                                "--poll-interval", "0.05", "-o", str(workdir / "v.mp4")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not api.calls("GET", f"/v1/videos/{JOB}") and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 143
    assert f"gradient_video.py fetch {JOB} -o FILE" in err.decode()
    assert os.listdir(workdir) == []
    row = ledger_rows()[0]
    assert row[3] == "interrupted" and row[4] == 0.31  # submitted, so counted


def test_status_and_fetch_help_are_their_own(script):
    result = script("gradient_video", "fetch", "--help")
    assert result.returncode == 0 and b"--max-wait" in result.stdout and b"ID" in result.stdout
    result = script("gradient_video", "status", "--help")
    assert result.returncode == 0 and b"--output" not in result.stdout


def test_ctrl_c_while_waiting_says_the_id_and_exits_130(api, workdir, capsys, monkeypatch):
    serve_job(api, "processing")

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_video.time, "sleep", interrupt)
    assert run(api, "x", "-o", "v.mp4") == 130
    assert f"gradient_video.py fetch {JOB} -o FILE" in capsys.readouterr().err
    assert os.listdir(workdir) == [] and ledger_rows()[0][3] == "interrupted"


def test_unknown_and_hostile_status_words_mean_not_finished(api, workdir, capsys):
    serve_job(api, "RUN\x1b[2JNING", "warming_up", "completed")
    assert run(api, "x", "-o", "v.mp4") == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "status: warming_up" in err
    assert (workdir / "v.mp4").read_bytes() == MP4


@pytest.mark.parametrize("answer", [["a", "list"], {"id": 5, "status": "queued"}, {"id": "../../etc", "status": "x"},
                                    "text"])
def test_a_submit_answer_without_a_usable_job_id_is_invalid(api, workdir, capsys, answer):
    api.json("POST", "/v1/videos", answer)
    assert run(api, "x", "--json") == 1
    assert json.loads(capsys.readouterr().err)["error"]["type"] == "invalid_response"
    assert [call.path for call in api.calls()] == ["/v1/videos"]  # nothing fetched on a server's say-so


def test_a_480p_video_is_counted_at_the_720p_price_and_says_so(api, workdir, capsys):
    serve_job(api, "completed")
    assert run(api, "x", "--size", "832x480", "-o", "v.mp4", "--usage") == 0
    assert "the 720p price, as none is published for other sizes" in capsys.readouterr().err
    assert "the 720p price" in ledger_rows()[0][5]


def test_a_403_from_the_api_is_about_the_key_not_expiry(api, workdir, capsys):
    api.json("GET", f"/v1/videos/{JOB}", job("completed", output={"url": api.origin + "/files/v.mp4"}))
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(403, json={"error": {"message": "key lacks access"}}))
    assert gradient_video.main(["fetch", JOB, "--base-url", api.url]) == 1
    err = capsys.readouterr().err
    assert "key lacks access" in err and "no longer there" not in err
    assert api.calls("GET", "/files/v.mp4") == []


def test_a_404_for_the_file_keeps_its_words_when_the_server_does_not_list_the_model(api, workdir, capsys):
    from conftest import seed_model_list

    seed_model_list(api.url, ["wan2-2-t2v-a14b", "openai-gpt-oss-120b"])
    serve_job(api, "completed", content=None)
    api.add("GET", f"/v1/videos/{JOB}/content", Reply(404))
    assert run(api, "x", "--model", "some-other-video-model", "--json") == 1
    error = json.loads(capsys.readouterr().err.splitlines()[-1])["error"]  # after the progress lines
    assert "no longer there" in error["message"] and error["hint"] == "submit the prompt again"


def test_a_404_on_submit_for_an_unlisted_model_names_the_current_ones(api, workdir, capsys):
    from conftest import seed_model_list

    seed_model_list(api.url, ["wan2-2-t2v-a14b"])
    api.add("POST", "/v1/videos", Reply(404))
    api.add("POST", "/v1/video/generations", Reply(404))
    assert run(api, "x", "--model", "gone-video-model", "--json") == 1
    assert "wan2-2-t2v-a14b" in json.loads(capsys.readouterr().err.splitlines()[-1])["error"]["hint"]
