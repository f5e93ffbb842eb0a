"""A streamed chat answer printed as it arrives: text to stdout, reasoning to stderr, each made
printable on the way (keys masked even when split across chunks, terminal controls escaped), and
whole lines left behind whatever happens.

Belongs here: sending a streaming chat request and echoing it. Does not belong here: reading the
events into an answer (gradient_chatapi) or the command line (gradient_chat).
"""
from __future__ import annotations

import sys

import gradient_common as common


class StreamPrinter:
    """Streamed text written as it arrives, made printable on the way: the few characters that
    could begin a key split across chunks wait for the next chunk. A final newline only when needed."""

    def __init__(self, stream, enabled: bool):
        self.stream, self.enabled, self.last, self.pending = stream, enabled, "\n", ""

    def write(self, text: str) -> None:
        if not (self.enabled and text):
            return
        text = common.mask(self.pending + text)
        cut = common.secret_start(text)
        text, self.pending = text[:cut], text[cut:]
        if text:
            common.out(text, self.stream, end="")
            self.last = text[-1]

    def end(self) -> None:
        if self.pending:
            common.out(self.pending, self.stream, end="")
            self.last, self.pending = self.pending[-1], ""
        if self.last != "\n":
            common.out("", self.stream)
            self.last = "\n"


def stream_to(client, path: str, body: dict, answer, args, echo: bool = True):
    """Send with streaming on the wire; text goes to stdout as it arrives (unless --json), the
    reasoning to stderr, ended by a newline before the answer starts."""
    from gradient_chatapi import stream_answer
    from gradient_http import request_id

    response = client.send("POST", client.url(path), json_body=body, headers={"Accept": "text/event-stream"})
    text = StreamPrinter(sys.stdout, echo and not args.json)
    thoughts = StreamPrinter(sys.stderr, args.show_reasoning)

    def on_text(delta: str) -> None:
        thoughts.end()
        text.write(delta)

    try:
        stream_answer(response, answer, on_text, thoughts.write, args.verbose)
    except common.GradientError as error:
        error.request_id = error.request_id or request_id(response)
        raise
    finally:  # also after an error: what was printed stays, on whole lines
        thoughts.end()
        text.end()
    return response
