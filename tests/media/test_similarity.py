"""Similarity over embeddings: gradient_embed.py --query and --pairs, and the pure ranking."""
from __future__ import annotations

import itertools
import json
import math
import random

import pytest

import gradient_embed
from fakeapi import Reply

from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.media import similarity

EMBED = "/v1/embeddings"
VECTORS = {"cats purr": [1.0, 0.1, 0.0], "kittens meow": [0.9, 0.2, 0.0], "stocks fell": [0.0, 0.1, 1.0],
           "markets dropped": [0.1, 0.0, 0.9], "a cat": [1.0, 0.0, 0.0], "": [0.0, 0.0, 0.0]}


def vector_reply(seen) -> Reply:
    data = [{"object": "embedding", "index": i, "embedding": VECTORS[text]} for i, text in enumerate(seen.json["input"])]
    return Reply(json={"object": "list", "model": seen.json["model"], "data": data,
                       "usage": {"prompt_tokens": 3 * len(data), "total_tokens": 3 * len(data)}})


@pytest.fixture
def vector_api(api):
    api.add("POST", EMBED, Reply(dynamic=vector_reply))
    return api


def embed(api, *argv):
    return gradient_embed.main(["--base-url", api.url, "--model", "m", *argv])


TEXTS = ["stocks fell", "cats purr", "markets dropped", "kittens meow"]
INPUTS = [flag for text in TEXTS for flag in ("-i", text)]


# ---------------------------------------------------------------- pure ranking

def test_rank_orders_by_cosine_and_breaks_ties_by_input_order():
    vectors = [[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [1.0, 1.0]]
    assert similarity.rank([3.0, 0.0], vectors) == [(1, 1.0), (2, 1.0), (3, 0.707107), (0, 0.0)]
    assert similarity.rank([3.0, 0.0], vectors, top=2) == [(1, 1.0), (2, 1.0)]


def test_rank_matches_a_plain_cosine_on_random_vectors():
    rng = random.Random(7)
    vectors = [[rng.uniform(-1, 1) for _ in range(16)] for _ in range(50)]
    query = [rng.uniform(-1, 1) for _ in range(16)]

    def plain(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    expected = sorted(range(50), key=lambda i: -plain(query, vectors[i]))[:5]
    assert [index for index, _ in similarity.rank(query, vectors, top=5)] == expected


def test_zero_vector_is_alike_to_nothing():
    assert similarity.rank([1.0, 0.0], [[0.0, 0.0], [1.0, 0.0]]) == [(1, 1.0), (0, 0.0)]


@pytest.mark.parametrize("bad, words", [([1.0, "x"], "other than numbers"), ([1.0, float("nan")], "not finite"),
                                        ([float("inf"), 1.0], "not finite"), ([1.0, None], "other than numbers")])
def test_hostile_vectors_are_one_sentence(bad, words):
    with pytest.raises(GradientError, match=words):
        similarity.rank([1.0, 0.0], [[1.0, 0.0], bad])


def test_dimensions_must_agree():
    with pytest.raises(GradientError, match=r"different dimensions \(2, 3\)"):
        similarity.rank([1.0, 0.0], [[1.0, 0.0, 0.0]])


def test_closest_pairs_match_brute_force():
    rng = random.Random(3)
    vectors = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(40)]
    units = [similarity.unit(v, "v") for v in vectors]
    everything = sorted(((similarity.cosine(units[a], units[b]), a, b)
                         for a, b in itertools.combinations(range(40), 2)), key=lambda t: (-t[0], t[1], t[2]))
    assert similarity.closest_pairs(vectors, 7) == [(a, b, score) for score, a, b in everything[:7]]


def test_pair_ties_keep_input_order():
    assert similarity.closest_pairs([[1.0, 0.0]] * 4, 3) == [(0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)]


@pytest.mark.parametrize("count, words", [(1, "at least two"), (similarity.MAX_PAIR_INPUTS + 1, "too many")])
def test_pair_counts_refused(count, words):
    with pytest.raises(UsageError, match=words):
        similarity.check_pair_count(count)


def test_render_is_one_line_per_row_and_terminal_safe():
    rows = similarity.ranked_rows(["line\none \x1b[31mred", "b"], [(0, 0.5), (1, 0.25)])
    table = similarity.render(rows, 60)
    assert table.splitlines()[1].endswith("[0] line one [31mred") and "\x1b" not in table
    assert len(table.splitlines()) == 3
    pairs = similarity.render(similarity.pair_rows(["x" * 200, "y"], [(0, 1, 0.9)]), 80)
    assert "~ [1] y" in pairs and all(len(line) <= 80 for line in pairs.splitlines())


# ---------------------------------------------------------------- the command

def test_query_ranks_inputs_best_first_as_json_lines(vector_api, capsys):
    assert embed(vector_api, *INPUTS, "--query", "a cat", "--top", "2") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["index"], r["text"]) for r in rows] == [(1, "cats purr"), (3, "kittens meow")]
    assert rows[0]["score"] > rows[1]["score"] > 0.9 and set(rows[0]) == {"index", "text", "score"}
    assert vector_api.calls("POST", EMBED)[0].json["input"] == TEXTS + ["a cat"]  # one request, query last


def test_query_json_document_and_ledger(vector_api, capsys):
    assert embed(vector_api, *INPUTS, "--query", "a cat", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["query"] == "a cat" and document["count"] == 4 and document["dimensions"] == 3
    assert [r["index"] for r in document["results"]] == [1, 3, 2, 0]
    assert document["usage"]["input_tokens"] == 15 and "data" not in document


def test_pairs_list_the_most_alike(vector_api, capsys):
    assert embed(vector_api, *INPUTS, "--pairs", "--top", "2", "--json") == 0
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == [(1, 3), (0, 2)]
    assert pairs[0]["text_a"] == "cats purr" and pairs[0]["text_b"] == "kittens meow"


@pytest.mark.parametrize("argv, words", [(["--top", "2"], "--top ranks results"), (["--query", " "], "--query is empty"),
                                         (["--pairs", "--query", "x"], "not allowed with")])
def test_similarity_usage_errors_send_nothing(vector_api, capsys, argv, words):
    with pytest.raises(SystemExit) as stopped:
        embed(vector_api, *INPUTS, *argv)
    assert stopped.value.code == 2
    assert words in capsys.readouterr().err and not vector_api.calls()


def test_too_many_pairs_refused_before_paying(vector_api, tmp_path, capsys):
    source = tmp_path / "many.txt"
    source.write_text("cats purr\n" * (similarity.MAX_PAIR_INPUTS + 1))
    with pytest.raises(SystemExit) as stopped:
        embed(vector_api, "--input-file", str(source), "--pairs")
    assert stopped.value.code == 2
    assert "--query instead" in capsys.readouterr().err and not vector_api.calls()


def test_server_vectors_of_other_sizes_fail_in_one_line(api, capsys):
    api.add("POST", EMBED, Reply(json={"data": [{"index": 0, "embedding": [1.0, 0.0]},
                                                {"index": 1, "embedding": [1.0]}], "usage": {"prompt_tokens": 2}}))
    assert gradient_embed.main(["--base-url", api.url, "--model", "m", "-i", "a", "--query", "b"]) == 1
    assert "different dimensions (1, 2)" in capsys.readouterr().err


def test_query_as_a_subprocess(vector_api, script):
    done = script("gradient_embed", "--base-url", vector_api.url, "--model", "m", "--query", "stocks fell",
                  input="cats purr\nmarkets dropped\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == ["markets dropped", "cats purr"]


def test_pairs_over_hundreds_of_inputs_show_progress_on_a_terminal(api, capsys, monkeypatch):
    import json as _json

    import gradient_embed
    from gradient_inference.media import run_embed

    count = 320
    api.json("POST", "/v1/embeddings", {"data": [{"index": i, "embedding": [1.0, i / count]} for i in range(count)]})
    monkeypatch.setattr(run_embed, "isatty", lambda stream: stream is run_embed.sys.stderr)  # stderr a terminal
    assert gradient_embed.main(["--base-url", api.url, "--model", "e", "--pairs", "--top", "1", "--batch-size", "400",
                                *[f"t{i}" for i in range(count)], "--json"]) == 0
    captured = capsys.readouterr()
    assert "comparing pairs 100%" in captured.err and "comparing pairs 50%" in captured.err
    assert len(_json.loads(captured.out)["pairs"]) == 1
    monkeypatch.setattr(run_embed, "isatty", lambda stream: False)  # a pipe: nothing said
    assert gradient_embed.main(["--base-url", api.url, "--model", "e", "--pairs", "--top", "1", "--batch-size", "400",
                                *[f"t{i}" for i in range(count)], "--json"]) == 0
    assert "comparing pairs" not in capsys.readouterr().err
