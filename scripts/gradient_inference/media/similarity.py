"""Cosine similarity over embeddings: inputs ranked against a query, and the most alike pairs of
inputs, in pure Python (no numpy), with the terminal table that shows either.

Belongs here: the arithmetic of similarity and how its results read. Does not belong here:
fetching the vectors (media.run_embed) or the flags (scripts/gradient_embed.py).
"""
from __future__ import annotations

import heapq
import math

from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.text import one_line

# --pairs compares every input with every other: n(n-1)/2 comparisons, about 10 us each at 1,024
# dimensions. 2,000 inputs are 2 million pairs, some 20 s of CPU.
MAX_PAIR_INPUTS = 2000
PAIRS_TOP = 10  # --pairs without --top


# ---------------------------------------------------------------- pure helpers

def unit(vector: list, what: str) -> tuple | None:
    """The vector scaled to length 1, or None for a zero vector (alike to nothing), after checking
    every component is a finite number: a server's strings or NaNs never rank."""
    try:
        length = math.hypot(*vector)
    except TypeError:
        raise GradientError("invalid_response", f"{what} holds something other than numbers") from None
    if not math.isfinite(length):
        raise GradientError("invalid_response", f"{what} holds a number that is not finite")
    return tuple(x / length for x in vector) if length else None


def check_pair_count(count: int) -> None:
    """Refuse --pairs over too many inputs before anything is sent (and paid for)."""
    if count > MAX_PAIR_INPUTS:
        raise UsageError(f"--pairs compares every input with every other; {count:,} inputs are too many "
                         f"(at most {MAX_PAIR_INPUTS:,}): rank them against one text with --query instead")
    if count < 2:
        raise UsageError("--pairs needs at least two inputs")


def same_dimensions(vectors: list) -> int:
    sizes = {len(v) for v in vectors}
    if len(sizes) != 1:
        raise GradientError("invalid_response", f"the embeddings have different dimensions ({', '.join(map(str, sorted(sizes)))})")
    return sizes.pop()


def cosine(a: tuple | None, b: tuple | None) -> float:
    """The cosine of two unit vectors (0 with a zero vector), rounded to 6 places so ties read as
    ties. Between unit vectors |a - b|^2 = 2 - 2 cos, and math.dist runs in C: three times as fast
    as a dot product in Python."""
    if a is None or b is None:
        return 0.0
    distance = math.dist(a, b)
    return round(1.0 - distance * distance / 2.0, 6)


def rank(query: list, vectors: list, top: int | None = None) -> list:
    """[(index, score)] of the vectors most alike to the query, best first (ties in input order)."""
    same_dimensions([query, *vectors])
    q = unit(query, "the query's embedding")
    scored = [(cosine(q, unit(v, f"embedding {i}")), i) for i, v in enumerate(vectors)]
    chosen = heapq.nsmallest(top or len(scored), scored, key=lambda pair: (-pair[0], pair[1]))
    return [(index, score) for score, index in chosen]


def closest_pairs(vectors: list, top: int = PAIRS_TOP, on_row=None) -> list:
    """[(a, b, score)] with a < b: the `top` most alike pairs of vectors, best first. A bounded
    heap keeps memory at `top` pairs whatever the count of inputs. `on_row(done, count)` is called
    after each vector is compared with those after it (for progress)."""
    check_pair_count(len(vectors))
    same_dimensions(vectors)
    units = [unit(v, f"embedding {i}") for i, v in enumerate(vectors)]
    heap: list = []  # (score, -a, -b): the worst kept pair on top, later pairs losing ties
    for a, left in enumerate(units):
        for b in range(a + 1, len(units)):
            entry = (cosine(left, units[b]), -a, -b)
            if len(heap) < top:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)
        if on_row is not None:
            on_row(a + 1, len(units))
    return [(-a, -b, score) for score, a, b in sorted(heap, reverse=True)]


# ---------------------------------------------------------------- rendering

def ranked_rows(texts: list, ranked: list) -> list:
    return [{"index": index, "text": texts[index], "score": score} for index, score in ranked]


def pair_rows(texts: list, pairs: list) -> list:
    return [{"a": a, "b": b, "text_a": texts[a], "text_b": texts[b], "score": score} for a, b, score in pairs]


def render(rows: list, columns: int = 100) -> str:
    """A terminal table: rank, score, and the text (or both texts of a pair) on one line each."""
    width = max(20, columns - 16)
    lines = [f"{'#':>3}  {'SCORE':>8}  {'TEXT' if not rows or 'text' in rows[0] else 'PAIR'}"]
    for number, row in enumerate(rows, 1):
        if "text" in row:
            text = f"[{row['index']}] {one_line(row['text'], width)}"
        else:
            half = max(8, width // 2 - 8)
            text = f"[{row['a']}] {one_line(row['text_a'], half)} ~ [{row['b']}] {one_line(row['text_b'], half)}"
        lines.append(f"{number:>3}  {row['score']:>8.4f}  {one_line(text, width)}")
    return "\n".join(lines)
