"""Server-sent events as the WHATWG spec reads them, in linear time and bounded memory.

Belongs here: the SSE wire format. Does not belong here: what the events mean (chat.answers).
"""
from __future__ import annotations

import codecs
import re

from gradient_inference.core.errors import GradientError

MAX_EVENT_CHARS = 16 << 20  # one server-sent event larger than this is refused
SSE_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEParser:
    """Server-sent events as the WHATWG spec reads them: CR, LF or CRLF line ends, lines
    split across reads, several data lines per event, comments. Yields (event, data).
    Linear in the stream: each read is scanned once, an unfinished line waits as pieces, and
    an event larger than MAX_EVENT_CHARS is refused."""

    def __init__(self, line_end=SSE_LINE_END):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._line_end = line_end
        self._pieces, self._pending = [], 0  # the line begun but not ended, and its length
        self._size = 0  # the data of the event so far
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data = []

    def feed(self, chunk: bytes) -> list:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text[1:] if text.startswith("\ufeff") else text
        if self._skip_lf and text:
            text = text[1:] if text.startswith("\n") else text
            self._skip_lf = False
        events = []
        start = 0
        for match in self._line_end.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                self._skip_lf = True  # the LF of this CRLF may come with the next read
            if self._pieces:  # the line began in an earlier read
                self._pieces.append(text[start:match.start()])
                line, self._pieces, self._pending = "".join(self._pieces), [], 0
            else:
                line = text[start:match.start()]
            event = self._line(line)
            if event:
                events.append(event)
            start = match.end()
        if start < len(text):
            self._pieces.append(text[start:])
            self._pending += len(text) - start
            self._check()
        return events

    def finish(self) -> list:
        """At the end of the stream, an event missing its closing blank line is still delivered."""
        events = self.feed(b"")
        line = "".join(self._pieces) + self._decoder.decode(b"", final=True)
        self._pieces, self._pending = [], 0
        for event in (self._line(line) if line else None, self._line("")):
            if event:
                events.append(event)
        return events

    def _check(self) -> None:
        if self._size + self._pending > MAX_EVENT_CHARS:
            raise GradientError("invalid_response", f"a stream event is larger than {MAX_EVENT_CHARS >> 20} MB")

    def _line(self, line: str):
        if not line:
            self._size = 0
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
            self._size += len(value)
            self._check()
        elif name == "event":
            self._event = value
        return None
