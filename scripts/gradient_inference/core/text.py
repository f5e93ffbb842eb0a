"""Text from anywhere made safe to show: lone surrogates replaced, control characters escaped or
dropped, server text folded onto one line.

Belongs here: pure functions over strings that the output and error paths share. Does not belong
here: printing (core.output) or masking secrets (core.providers).
"""
from __future__ import annotations

import functools
import re

# Characters that make a terminal do something: C0 but tab and newline, DEL, C1, and the bidi
# controls that reorder what is shown. Escaped on a terminal; --json stays exact JSON.
# Compiled on first use (pattern()): `--help` never needs them.
PATTERNS = {"controls": "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
            "all_controls": "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
            "surrogates": "[\ud800-\udfff]"}


@functools.lru_cache(maxsize=None)
def pattern(name: str):
    return re.compile(PATTERNS[name])


def whole_characters(text: str) -> str:
    """Lone surrogates (a server's "\\ud800") replaced by U+FFFD: nothing else can encode them."""
    return text if text.isascii() else pattern("surrogates").sub("\ufffd", text)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace and drop control characters so server text fits one line."""
    text = pattern("all_controls").sub(" ", whole_characters(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def escape_controls(text: str, keep_lines: bool = True) -> str:
    """Control characters shown as \\x1b or \\u202e escapes; newline and tab kept if asked."""
    def escape(match):
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return pattern("controls" if keep_lines else "all_controls").sub(escape, text)
