"""A streamed chat answer printed as it arrives: text to stdout, reasoning to stderr, each made
printable on the way (keys masked even when split across chunks, terminal controls escaped), and
whole lines left behind whatever happens.

Belongs here: sending a streaming chat request and echoing it. Does not belong here: reading the
events into an answer (chat.answers) or the command's flags (chat.run_chat).
"""
from __future__ import annotations

import sys

from gradient_inference.api.client import request_id_of
from gradient_inference.chat.answers import stream_answer
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import out
from gradient_inference.core.providers import mask, secret_start


class StreamPrinter:
    """Streamed text written as it arrives, made printable on the way: the few characters that
    could begin a key split across chunks wait for the next chunk. A final newline only when needed."""

    def __init__(self, stream, enabled: bool):
        self.stream, self.enabled, self.last, self.pending = stream, enabled, "\n", ""

    def write(self, text: str) -> None:
        if not (self.enabled and text):
            return
        text = mask(self.pending + text)
        cut = secret_start(text)
        text, self.pending = text[:cut], text[cut:]
        if text:
            out(text, self.stream, end="")
            self.last = text[-1]

    def end(self) -> None:
        if self.pending:
            out(self.pending, self.stream, end="")
            self.last, self.pending = self.pending[-1], ""
        if self.last != "\n":
            out("", self.stream)
            self.last = "\n"


def stream_to(client, path: str, body: dict, answer, echo: bool = True, show_reasoning: bool = False):
    """Send with streaming on the wire; text goes to stdout as it arrives (with `echo`), the
    reasoning to stderr (with `show_reasoning`), ended by a newline before the answer starts."""
    response = client.send("POST", client.url(path), json_body=body, headers={"Accept": "text/event-stream"})
    text = StreamPrinter(sys.stdout, echo)
    thoughts = StreamPrinter(sys.stderr, show_reasoning)

    def on_text(delta: str) -> None:
        thoughts.end()
        text.write(delta)

    try:
        stream_answer(response, answer, on_text, thoughts.write, client.settings.verbose)
    except GradientError as error:
        error.request_id = error.request_id or request_id_of(response)
        raise
    finally:  # also after an error: what was printed stays, on whole lines
        thoughts.end()
        text.end()
    return response
