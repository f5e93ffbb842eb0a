"""gradient_image.py: b64 and URL answers, fal async-invoke, safe file output."""
from __future__ import annotations

import base64
import json
import os
import re
import time

import pytest

from gradient_inference.core import outfiles as core_outfiles
from gradient_inference.ledger import store as ledger_store
import gradient_image
from conftest import FAKE_KEY, JPEG, WEBP, tiny_png
from fakeapi import Reply

GENERATIONS = "/v1/images/generations"
PNG = tiny_png(4, 4)


def b64_answer(*images: bytes, revised=None) -> dict:
    data = [{"b64_json": base64.b64encode(image).decode()} for image in images]
    if revised:
        data[0]["revised_prompt"] = revised
    return {"created": 1, "data": data}


def run_image(api, *argv):
    return gradient_image.main(["--base-url", api.url, *argv])


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- synchronous models

def test_b64_answer_saved_with_default_name(api, keyed, workdir, capsys):
    api.json("POST", GENERATIONS, b64_answer(PNG), headers={"x-request-id": "req-img"})
    assert run_image(api, "--prompt", "A red square") == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"\./gradient-image-\d{8}T\d{6}Z\.png", out)
    assert (workdir / out).read_bytes() == PNG
    assert leftovers(workdir) == [os.path.basename(out)]
    call = api.calls("POST", GENERATIONS)[0]
    assert call.json == {"model": "openai-gpt-image-2", "prompt": "A red square", "n": 1}  # the current default
    assert call.headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_every_flag_reaches_the_body(api, workdir, monkeypatch):
    monkeypatch.setenv("GRADIENT_IMAGE_MODEL", "some-image-model")
    api.json("POST", GENERATIONS, b64_answer(WEBP))
    assert run_image(api, "--prompt", "x", "--size", "1536x1024", "--quality", "high", "--format", "webp",
                     "--output", "pic.webp") == 0
    assert api.calls()[0].json == {"model": "some-image-model", "prompt": "x", "n": 1, "size": "1536x1024",
                                   "quality": "high", "output_format": "webp"}
    assert (workdir / "pic.webp").read_bytes() == WEBP


def test_n3_naming_and_json(api, workdir, capsys):
    api.json("POST", GENERATIONS, b64_answer(PNG, PNG, PNG, revised="A red square, flat"),
             headers={"x-request-id": "req-3"})
    assert run_image(api, "--prompt", "x", "--n", "3", "--output", "logo.png", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert [f["path"] for f in document["files"]] == ["logo-1.png", "logo-2.png", "logo-3.png"]
    assert document["files"][0] == {"path": "logo-1.png", "bytes": len(PNG), "format": "png"}
    assert (document["model"], document["count"], document["revised_prompt"], document["request_id"]) == (
        "openai-gpt-image-2", 3, "A red square, flat", "req-3")
    assert isinstance(document["duration_ms"], int)
    assert leftovers(workdir) == ["logo-1.png", "logo-2.png", "logo-3.png"]


def test_extension_follows_the_real_format(api, workdir, capsys):
    api.json("POST", GENERATIONS, b64_answer(JPEG))
    assert run_image(api, "--prompt", "x", "--output", "photo.png") == 0
    assert capsys.readouterr().out == "photo.jpg\n" and leftovers(workdir) == ["photo.jpg"]
    api.routes.clear()
    api.json("POST", GENERATIONS, b64_answer(PNG))
    assert run_image(api, "--prompt", "x", "--output", "noext") == 0
    assert capsys.readouterr().out == "noext.png\n"


def test_url_answer_is_downloaded_without_the_key(api, keyed, workdir, capsys):
    api.json("POST", GENERATIONS, {"data": [{"url": api.origin + "/files/img.png"}]})
    api.add("GET", "/files/img.png", Reply(body=PNG, headers={"Content-Type": "image/png"}))
    assert run_image(api, "--prompt", "x", "--output", "dl.png") == 0
    assert (workdir / "dl.png").read_bytes() == PNG
    assert "Authorization" not in api.calls("GET", "/files/img.png")[0].headers


def test_output_folder_gets_default_names(api, workdir, tmp_path, capsys):
    api.json("POST", GENERATIONS, b64_answer(PNG))
    target = tmp_path / "images"
    target.mkdir()
    assert run_image(api, "--prompt", "x", "--output", str(target)) == 0
    saved = capsys.readouterr().out.strip()
    assert os.path.dirname(saved) == str(target) and os.path.basename(saved).startswith("gradient-image-")


def test_existing_file_needs_force(api, workdir, capsys):
    (workdir / "keep.png").write_bytes(b"precious")
    api.json("POST", GENERATIONS, b64_answer(PNG))
    assert run_image(api, "--prompt", "x", "--output", "keep.png") == 1
    assert "keep.png exists; use --force" in capsys.readouterr().err
    assert api.requests == [] and (workdir / "keep.png").read_bytes() == b"precious"
    assert run_image(api, "--prompt", "x", "--output", "keep.png", "--force") == 0
    assert (workdir / "keep.png").read_bytes() == PNG


def test_existing_file_with_the_real_extension_is_not_overwritten(api, workdir, capsys):
    (workdir / "shot.jpg").write_bytes(b"precious")
    api.json("POST", GENERATIONS, b64_answer(JPEG))
    assert run_image(api, "--prompt", "x", "--output", "shot.png") == 1
    assert "shot.jpg exists" in capsys.readouterr().err
    assert (workdir / "shot.jpg").read_bytes() == b"precious" and leftovers(workdir) == ["shot.jpg"]


@pytest.mark.parametrize("payload", [b"<html>nope</html>", b"GIF8", b""])
def test_non_image_payload_is_invalid_and_leaves_nothing(api, workdir, capsys, payload):
    api.json("POST", GENERATIONS, b64_answer(payload))
    assert run_image(api, "--prompt", "x", "--json") == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "invalid_response" and "not an image" in error["message"]
    assert leftovers(workdir) == []


def test_bad_base64_and_missing_data(api, workdir, capsys):
    api.json("POST", GENERATIONS, {"data": [{"b64_json": "!!!not base64!!!"}]})
    assert run_image(api, "--prompt", "x") == 1
    assert "not valid base64" in capsys.readouterr().err
    api.routes.clear()
    api.json("POST", GENERATIONS, {"data": []})
    assert run_image(api, "--prompt", "x") == 1
    assert "no data list" in capsys.readouterr().err
    assert leftovers(workdir) == []


def test_escaped_base64_still_decodes(api, workdir):
    encoded = base64.b64encode(PNG).decode().replace("/", "\\/")
    api.add("POST", GENERATIONS, Reply(body='{"data": [{"b64_json": "%s"}]}' % encoded))
    assert run_image(api, "--prompt", "x", "--output", "esc.png") == 0
    assert (workdir / "esc.png").read_bytes() == PNG


@pytest.mark.parametrize("argv, message", [
    (["--size", "big"], "WIDTHxHEIGHT"), (["--size", "1024"], "WIDTHxHEIGHT"),
    (["--n", "0"], "from 1 to 10"), (["--n", "11"], "from 1 to 10"), (["--format", "bmp"], "invalid choice"),
    (["--prompt", ""], "give --prompt"),
])
def test_bad_flags_exit_2_before_any_request(api, workdir, capsys, argv, message):
    with pytest.raises(SystemExit) as caught:
        run_image(api, *(argv if "--prompt" in argv else ["--prompt", "x", *argv]))
    assert caught.value.code == 2 and message in capsys.readouterr().err
    assert api.requests == []


def test_missing_parent_folder_is_a_clear_error(api, workdir, capsys):
    assert run_image(api, "--prompt", "x", "--output", "no/such/dir/a.png") == 1
    assert "does not exist" in capsys.readouterr().err and api.requests == []


def test_interrupted_download_leaves_no_file(api, workdir, capsys):
    api.json("POST", GENERATIONS, {"data": [{"url": api.origin + "/files/big.png"}]})
    api.add("GET", "/files/big.png", Reply(body=PNG + b"\0" * 100000, cut_after=5000,
                                           headers={"Content-Type": "image/png"}))
    assert run_image(api, "--prompt", "x", "--output", "big.png") == 1
    assert "connection closed" in capsys.readouterr().err
    assert leftovers(workdir) == []


def test_ctrl_c_during_a_download_leaves_no_file(api, workdir, monkeypatch, capsys):
    api.json("POST", GENERATIONS, {"data": [{"url": api.origin + "/files/i.png"}]})
    api.add("GET", "/files/i.png", Reply(body=PNG))

    def interrupted(self, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(core_outfiles.OutputFile, "write", interrupted)
    assert run_image(api, "--prompt", "x", "--output", "i.png") == 130
    assert leftovers(workdir) == [] and "Traceback" not in capsys.readouterr().err


def test_prompt_from_stdin(api, workdir, script):
    api.json("POST", GENERATIONS, b64_answer(PNG))
    done = script("gradient_image", "--base-url", api.url, "--prompt", "-", "--output",
                  str(workdir / "s.png"), input=b"a cat from stdin\n")
    assert done.returncode == 0 and done.stdout.decode().strip() == str(workdir / "s.png")
    assert api.calls()[0].json["prompt"] == "a cat from stdin"


# ---------------------------------------------------------------- fal async-invoke

FAL = "fal-ai/flux/schnell"


def fal_routes(api, statuses, result=None, request_id="req-fal-1", single=False):
    """A fal job that answers `statuses` in turn, then its result: on GET async-invoke/{id} alone
    (`single`, DigitalOcean's status object), else on the older pair (/status, then the result,
    with GET async-invoke/{id} missing while the job runs)."""
    result = result or {
        "request_id": request_id, "status": "COMPLETED",
        "output": {"images": [{"url": api.origin + "/fal/1.png", "content_type": "image/png"},
                              {"url": api.origin + "/fal/2.jpg", "content_type": "image/jpeg"}]}}
    api.add("POST", "/v1/async-invoke", Reply(202, json={"request_id": request_id, "status": "QUEUED"}))
    if single:
        api.add("GET", f"/v1/async-invoke/{request_id}",
                *[Reply(json={"request_id": request_id, "model_id": FAL, "status": s, "created_at": "2026-12-07T10:00:00Z",
                              "output": None, "error": None}) for s in statuses[:-1]], Reply(json=result))
    else:
        api.add("GET", f"/v1/async-invoke/{request_id}/status", *[Reply(json={"status": s}) for s in statuses])
        api.add("GET", f"/v1/async-invoke/{request_id}", Reply(404, json={"error": {"message": "not found"}}),
                Reply(json=result))
    api.add("GET", "/fal/1.png", Reply(body=PNG, headers={"Content-Type": "image/png"}))
    api.add("GET", "/fal/2.jpg", Reply(body=JPEG, headers={"Content-Type": "image/jpeg"}))


@pytest.mark.parametrize("single", [True, False], ids=["status-object", "older-pair"])
def test_fal_flow_with_progress_and_downloads(api, keyed, workdir, capsys, single):
    fal_routes(api, ["QUEUED", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"], single=single)
    code = run_image(api, "--model", FAL, "--prompt", "harbor", "--n", "2", "--size", "1024x768",
                     "--format", "png", "--poll-interval", "0.01", "--output", "fal.png", "--json")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    submit = api.calls("POST", "/v1/async-invoke")[0].json
    assert submit == {"model_id": FAL, "input": {"prompt": "harbor", "num_images": 2, "output_format": "png",
                                                 "image_size": {"width": 1024, "height": 768}}}
    status_lines = [line for line in captured.err.splitlines() if line.startswith("status:")]
    assert [line.split()[1] for line in status_lines] == ["QUEUED", "IN_PROGRESS", "COMPLETED"]
    assert "submitted fal-ai/flux/schnell job req-fal-1" in captured.err
    document = json.loads(captured.out)
    assert [f["path"] for f in document["files"]] == ["fal-1.png", "fal-2.jpg"]
    assert document["request_id"] == "req-fal-1"
    assert (workdir / "fal-2.jpg").read_bytes() == JPEG
    assert "Authorization" not in api.calls("GET", "/fal/1.png")[0].headers
    assert bool(api.calls("GET", "/v1/async-invoke/req-fal-1/status")) is not single


@pytest.mark.parametrize("single", [True, False], ids=["status-object", "older-pair"])
def test_fal_failed_exits_1_with_the_reason(api, workdir, capsys, single):
    fal_routes(api, ["IN_PROGRESS", "FAILED"], result={"status": "FAILED", "error": "NSFW content detected"},
               single=single)
    assert run_image(api, "--model", FAL, "--prompt", "x", "--poll-interval", "0.01") == 1
    err = capsys.readouterr().err
    assert "the job req-fal-1 failed: NSFW content detected" in err
    assert leftovers(workdir) == []


def test_fal_timeout_prints_the_request_id_and_resume_works(api, workdir, capsys):
    fal_routes(api, ["IN_PROGRESS"])
    assert run_image(api, "--model", FAL, "--prompt", "x", "--poll-interval", "0.05", "--timeout", "0.2") == 1
    err = capsys.readouterr().err
    assert "req-fal-1 is still IN_PROGRESS" in err and "--request-id req-fal-1" in err
    submits = len(api.calls("POST"))
    api.routes[("GET", "/v1/async-invoke/req-fal-1/status")] = [Reply(json={"status": "COMPLETED"})]
    assert run_image(api, "--model", FAL, "--request-id", "req-fal-1", "--poll-interval", "0.01",
                     "--output", "resumed.png") == 0
    assert len(api.calls("POST")) == submits  # no new job
    assert capsys.readouterr().out.split() == ["resumed-1.png", "resumed-2.jpg"]


def test_fal_429_on_submit_is_retried(api, workdir, monkeypatch, capsys):
    monkeypatch.setattr("time.sleep", lambda s: None)
    api.add("POST", "/v1/async-invoke", Reply(429, json={"error": {"message": "slow"}}))
    fal_routes(api, ["COMPLETED"])
    assert run_image(api, "--model", FAL, "--prompt", "x", "--poll-interval", "0.01") == 0
    assert len(api.calls("POST", "/v1/async-invoke")) == 2


@pytest.mark.parametrize("words, state", [("IN_QUEUE", "waiting"), ("queued", "waiting"), ("in_progress", "waiting"),
                                          ("Completed", "done"), ("SUCCEEDED", "done"), ("ERROR", "failed"),
                                          ("cancelled", "failed"), ("SOMETHING_NEW", "waiting")])
def test_both_status_vocabularies_are_understood(words, state):
    from gradient_inference.media import jobs

    assert jobs.state_of(jobs.status_of({"status": words})) == state


def test_fals_own_vocabulary_on_the_status_object(api, workdir, capsys):
    fal_routes(api, ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"], single=True)
    assert run_image(api, "--model", FAL, "--prompt", "x", "--poll-interval", "0.01", "--output", "v.png") == 0
    assert len(api.calls("GET", "/v1/async-invoke/req-fal-1")) == 3


def test_fal_without_images_is_invalid(api, workdir, capsys):
    fal_routes(api, ["COMPLETED"], result={"status": "COMPLETED", "output": {}})
    assert run_image(api, "--model", FAL, "--prompt", "x", "--poll-interval", "0.01") == 1
    assert "finished without images" in capsys.readouterr().err


def test_mixed_null_b64_and_url_items_stay_in_step(api, workdir, capsys):
    second = base64.b64encode(JPEG).decode()
    api.json("POST", GENERATIONS, {"data": [{"b64_json": None, "url": api.origin + "/files/first.png"},
                                            {"b64_json": second}]})
    api.add("GET", "/files/first.png", Reply(body=PNG))
    assert run_image(api, "--prompt", "x", "--n", "2", "--output", "mix.png") == 0
    assert capsys.readouterr().out.split() == ["mix-1.png", "mix-2.jpg"]
    assert (workdir / "mix-1.png").read_bytes() == PNG and (workdir / "mix-2.jpg").read_bytes() == JPEG


def test_gpt_image_1_is_priced_from_the_tokens_its_answer_reports(api, workdir, capsys, tmp_path, monkeypatch):
    cache = tmp_path / "prices.json"
    cache.write_text(json.dumps({"schema_version": 2, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "url": None, "models": [{"provider": "OpenAI", "model": "GPT Image 1",
                                                          "model_id": "openai-gpt-image-1", "input_price": 5.0,
                                                          "output_price": 40.0, "unit": "per 1M tokens"}]}))
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(cache))
    api.json("POST", GENERATIONS, {"data": [{"b64_json": base64.b64encode(PNG).decode()}],
                                   "usage": {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210}})
    assert run_image(api, "--prompt", "x", "--output", "i.png", "--model", "openai-gpt-image-1", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["cost_usd"] == round((50 * 5.0 + 4160 * 40.0) / 1e6, 8)
    row = ledger_store.rows("SELECT * FROM calls", ())[-1]
    assert (row["cost_usd"], row["input_tokens"], row["output_tokens"]) == (document["cost_usd"], 50, 4160)
