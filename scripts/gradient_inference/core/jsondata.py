"""JSON read safely, from the user or a server: nesting capped (deep JSON is refused with words,
never a RecursionError later on), NaN and Infinity read as null.

Belongs here: decoding JSON text whose shape is not yet trusted. Does not belong here: what a
document means (each reader checks its own shape) or writing JSON (core.output).
"""
from __future__ import annotations

import json

MAX_DEPTH = 100  # no schema, tool, message list or answer this suite reads needs more


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
    """The value of JSON text; ValueError saying what is wrong: not JSON, or nested too deeply."""
    try:
        value = json.loads(text, parse_constant=lambda name: None)
    except RecursionError:
        raise ValueError(f"it is nested more than {limit} levels deep") from None
    if too_deep(value, limit):
        raise ValueError(f"it is nested more than {limit} levels deep")
    return value
