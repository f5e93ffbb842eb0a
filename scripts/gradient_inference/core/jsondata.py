"""JSON read safely, from the user or a server: what a document may build is bounded before it is
decoded (containers and values counted in C), nesting is capped (deep JSON is refused with words,
never a RecursionError later on), NaN and Infinity read as null, and integers of more than 18
digits as floats (so that no document builds huge integers for the code after it to trip on).

Belongs here: decoding JSON text whose shape is not yet trusted. Does not belong here: what a
document means (each reader checks its own shape) or writing JSON (core.output).
"""
from __future__ import annotations

import json

MAX_DEPTH = 100  # no schema, tool, message list or answer this suite reads needs more
# What one document may unpack to, so that no answer or file takes the process past 256 MB: a
# 2,000 x 1,024 embeddings answer (43 MB) holds 2 million numbers and 4,000 containers.
MAX_CONTAINERS = 500_000
MAX_VALUES = 3_000_000


class TooLarge(ValueError):
    """A document that would build more than the caps allow."""


class TooDeep(ValueError):
    """A document nested more than the depth allowed."""


def bounded_int(text: str):
    return int(text) if len(text) <= 18 else float(text)


DECODER = json.JSONDecoder(parse_constant=lambda name: None, parse_int=bounded_int)


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects nest more than `limit` levels (looked at without recursion; only
    containers are stacked, so a long list of numbers costs one isinstance each)."""
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        current, level = stack.pop()
        if level > limit:
            return True
        items = current.values() if isinstance(current, dict) else current
        stack.extend([(item, level + 1) for item in items if isinstance(item, (dict, list))])
    return False


def loads(text, limit: int = MAX_DEPTH):
    """The value of JSON text (str or bytes); ValueError saying what is wrong: not JSON (or not
    UTF-8), too large to unpack (TooLarge) or nested too deeply (TooDeep)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode(json.detect_encoding(text))  # UnicodeDecodeError is a ValueError
    containers = 0
    if len(text) > limit:  # shorter text cannot hold more brackets than the limit, nor reach the caps
        containers = text.count("{") + text.count("[")  # an upper bound: brackets inside strings count too
        if containers > MAX_CONTAINERS or containers + text.count(",") > MAX_VALUES:
            raise TooLarge(f"it would unpack to more than {MAX_VALUES:,} values or {MAX_CONTAINERS:,} lists and "
                           "objects")
    try:
        value = DECODER.decode(text)
    except RecursionError:
        raise TooDeep(f"it is nested more than {limit} levels deep") from None
    if containers > limit and too_deep(value, limit):  # fewer brackets than the limit cannot nest deeper
        raise TooDeep(f"it is nested more than {limit} levels deep")
    return value
