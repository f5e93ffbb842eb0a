"""Batch lines: items read and checked one line at a time, result lines, resume, input order."""
from __future__ import annotations

import io
import json
import os

import pytest

from gradient_inference.batch import items as batch_items
from gradient_inference.batch import results as batch_results
from gradient_inference.core.errors import GradientError, UsageError


def items(text: str, plain: bool = False, template=None) -> list:
    return list(batch_items.read_items(io.BytesIO(text.encode() if isinstance(text, str) else text), plain, template))


@pytest.mark.parametrize("line, field, expected", [
    ('"Hello"', "prompt", "Hello"),
    ('{"prompt": "Hi", "custom_id": "a-1"}', "custom_id", "a-1"),
    ('{"prompt": "Hi"}', "custom_id", "line-1"),
    ('{"messages": [{"role": "user", "content": "Hi"}]}', "messages", [{"role": "user", "content": "Hi"}]),
    ('{"prompt": "Hi", "model": "m2", "max_tokens": 9, "temperature": 0.5}', "max_tokens", 9),
    ('{"prompt": "Hi", "schema": "name, age int"}', "schema", "name, age int"),
])
def test_good_items(line, field, expected):
    [item] = items(line + "\n")
    assert "problem" not in item and item[field] == expected and item["line"] == 1


@pytest.mark.parametrize("line, words", [
    ("not json", "not JSON"),
    ("42", "a string (the prompt) or an object"),
    ('{"promt": "typo"}', "unknown field 'promt'"),
    ('{"custom_id": "x"}', "neither a prompt nor messages"),
    ('{"prompt": "  "}', "the prompt is empty"),
    ('{"prompt": "Hi", "max_tokens": 0}', "max_tokens"),
    ('{"prompt": "Hi", "max_tokens": true}', "max_tokens"),
    ('{"prompt": "Hi", "temperature": 3}', "temperature"),
    ('{"prompt": "Hi", "model": 5}', "model must be a string"),
    ('{"messages": [{"role": "wizard", "content": "x"}]}', "messages, entry 0: role"),
    ('{"messages": "Hi"}', "messages must be a JSON array"),
    ('{"prompt": "Hi", "schema": 5}', "schema must be"),
    ('{"prompt": "Hi", "custom_id": ""}', "custom_id must be 1 to"),
    ("[" * 100_000, "nested too deeply"),
])
def test_bad_items_become_problems_naming_the_line(line, words):
    [item] = items("\n" + line + "\n")
    assert item["problem"].startswith("line 2: ") and words in item["problem"]


def test_a_bad_item_keeps_its_custom_id_so_that_resume_retries_it():
    [item] = items('{"custom_id": "mine", "prompt": 5}\n')
    assert item["custom_id"] == "mine" and "problem" in item


def test_blank_lines_are_skipped_but_counted():
    found = items('"a"\n\n   \n"b"\r\n')
    assert [(i["line"], i["prompt"]) for i in found] == [(1, "a"), (4, "b")]


def test_a_duplicate_custom_id_is_a_problem_of_the_later_line():
    found = items('{"custom_id": "x", "prompt": "a"}\n{"custom_id": "x", "prompt": "b"}\n')
    assert "problem" not in found[0] and "also on line 1" in found[1]["problem"]


def test_plain_lines_and_the_template():
    found = items("great\n{not json}\n", plain=True, template="Classify: {line}")
    assert [i["prompt"] for i in found] == ["Classify: great", "Classify: {not json}"]


def test_a_line_that_is_not_utf8_or_too_long_is_a_problem_and_reading_goes_on(monkeypatch):
    monkeypatch.setattr(batch_items, "MAX_LINE_BYTES", 64)
    found = items(b'"ok"\n\xff\xfe\n"' + b"x" * 200 + b'"\n"after"\n')
    assert [i.get("problem", i["prompt"]) for i in found] == [
        "ok", "line 2: it is not UTF-8 text", "line 3: it is longer than 0 MB", "after"]


def test_the_input_must_be_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match="FIFO"):
        batch_items.open_input(str(tmp_path / "fifo"), None)
    with pytest.raises(UsageError, match="folder"):
        batch_items.open_input(str(tmp_path), None)


def test_result_lines_carry_every_field_and_errors_as_objects():
    item = {"custom_id": "a", "line": 3}
    line = batch_results.result_line(item, "error", error=GradientError("rate_limit", "too many", status=429))
    assert list(line) == list(batch_results.RESULT_FIELDS)
    assert line["error"]["type"] == "rate_limit" and line["error"]["status"] == 429


def read_lines(path) -> list:
    return [json.loads(line) for line in open(path)]


def test_the_output_file_is_appended_line_by_line_and_refused_when_it_exists(tmp_path):
    path = str(tmp_path / "out.jsonl")
    sink = batch_results.Sink.to_file(path, resume=False, force=False)
    sink.write({"custom_id": "a", "status": "ok"})
    sink.close()
    with pytest.raises(UsageError, match="--resume continues"):
        batch_results.Sink.to_file(path, resume=False, force=False)
    batch_results.Sink.to_file(path, resume=False, force=True).close()
    assert open(path).read() == ""


def test_resume_finds_the_ok_lines_and_cuts_a_line_a_kill_left_half_written(tmp_path, capsys):
    path = tmp_path / "out.jsonl"
    path.write_text('{"custom_id": "a", "status": "ok"}\n{"custom_id": "b", "status": "error"}\n'
                    'garbage\n{"custom_id": "c", "stat')
    sink = batch_results.Sink.to_file(str(path), resume=True, force=False)
    assert sink.finished == {"a"}
    sink.write({"custom_id": "c", "status": "ok"})
    sink.close()
    assert path.read_text().endswith('garbage\n{"custom_id": "c", "status": "ok"}\n')
    assert "cut short" in capsys.readouterr().err


def test_the_output_may_not_be_a_link_a_folder_or_a_fifo(tmp_path):
    (tmp_path / "real").write_text("")
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    for name, words in (("link", "symbolic link"), ("fifo", "FIFO|No such device")):
        with pytest.raises(GradientError, match=words):
            batch_results.Sink.to_file(str(tmp_path / name), resume=True, force=False)
    with pytest.raises(GradientError, match="cannot write the output"):
        batch_results.Sink.to_file(str(tmp_path), resume=True, force=False)


def test_a_secret_in_a_result_is_masked_on_its_way_out(tmp_path, keyed):
    path = str(tmp_path / "out.jsonl")
    sink = batch_results.Sink.to_file(path, resume=False, force=False)
    sink.write({"content": f"the key is {keyed}"})
    sink.close()
    assert keyed not in open(path).read() and "***" in open(path).read()


def test_reorder_keeps_input_order_and_flushes_past_gaps_at_a_stop():
    written = []
    reorder = batch_results.Reorder(written.append, ordered=True)
    reorder.add(2, {"n": 2})
    reorder.add(0, {"n": 0})
    assert written == [{"n": 0}]
    reorder.add(1, {"n": 1})
    assert [w["n"] for w in written] == [0, 1, 2]
    reorder.add(4, {"n": 4})  # 3 never ran
    reorder.flush()
    assert [w["n"] for w in written] == [0, 1, 2, 4]


def test_without_order_lines_leave_as_they_come():
    written = []
    reorder = batch_results.Reorder(written.append, ordered=False)
    reorder.add(5, {"n": 5})
    reorder.add(1, None)
    assert written == [{"n": 5}]
