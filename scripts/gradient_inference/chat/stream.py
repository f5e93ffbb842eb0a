"""A streamed chat answer read event by event with each API's reader and printed as it arrives:
text to stdout, reasoning to stderr, each made printable on the way (keys masked even when split
across chunks, terminal controls escaped), and whole lines left behind whatever happens.

Belongs here: sending a streaming chat request, reading its events in order and echoing them;
which reader reads which API. Does not belong here: what one event means (chat.answers,
chat.messages) or the command's flags (chat.run_chat).
"""
from __future__ import annotations

import sys

from gradient_inference.api.client import iter_body, request_id_of
from gradient_inference.api.sse import SSEParser
from gradient_inference.api.status import decode_json
from gradient_inference.chat.answers import (Answer, apply_chat_chunk, apply_responses_event, parse_chat,
                                             parse_responses, stream_error)
from gradient_inference.chat.messages import apply_messages_event, parse_messages
from gradient_inference.core.errors import GradientError
from gradient_inference.core.jsondata import loads
from gradient_inference.core.output import log, out
from gradient_inference.core.providers import mask, secret_start
from gradient_inference.core.text import one_line

# Each API's readers: a whole answer, one stream event (answer, event name, payload), and the
# event that says a stream is complete.
WHOLE = {"chat": parse_chat, "responses": parse_responses, "messages": parse_messages}
EVENTS = {"chat": lambda answer, name, payload: apply_chat_chunk(answer, payload),
          "responses": apply_responses_event, "messages": apply_messages_event}
LAST_EVENT = {"chat": "[DONE]", "responses": "response.completed", "messages": "message_stop"}


def stream_answer(response, answer: Answer, on_text, on_reasoning, verbose: bool, after_read=None) -> Answer:
    """Read a streamed answer into `answer`, calling on_text and on_reasoning with each delta, and
    `after_read` once the events of each read from the network are handled."""
    if "json" in response.headers.get("content-type", ""):
        # some servers ignore stream: true and answer in one piece
        document = b"".join(iter_body(response))
        WHOLE[answer.api](decode_json(document), answer)
        if answer.reasoning:
            on_reasoning(answer.reasoning)
        if answer.content:
            on_text(answer.content)
        return answer
    parser = SSEParser()
    done = False

    def handle(events):
        nonlocal done
        for event_name, data in events:
            if data.strip() == "[DONE]":
                done = True
                continue
            try:
                payload = loads(data)
            except ValueError:
                if verbose:
                    log(f"skipping a stream event that is not JSON: {one_line(data, 80)}")
                continue
            if not isinstance(payload, dict):
                continue
            if event_name == "error":
                raise stream_error(payload)
            text, thought = EVENTS[answer.api](answer, event_name, payload)
            if text:
                on_text(text)
            if thought:
                on_reasoning(thought)

    for chunk in iter_body(response):
        handle(parser.feed(chunk))
        if after_read is not None:
            after_read()
    handle(parser.finish())
    if done and (answer.api == "chat" or answer.chunked):
        answer.complete = True
    if not answer.complete:
        raise GradientError(
            "invalid_response",
            f"the stream ended before it was complete (no {LAST_EVENT[answer.api]})",
            hint="the answer above may be cut off; try again")
    return answer




class StreamPrinter:
    """Streamed text written as it arrives, made printable on the way: the deltas of one read from
    the network are printed together (flush()), so that masking, escaping and the write cost once a
    read, not once a delta; the few characters that could begin a key split across reads wait for
    the next one. A final newline only when needed."""

    def __init__(self, stream, enabled: bool):
        self.stream, self.enabled, self.last, self.pending, self.queued = stream, enabled, "\n", "", []

    def write(self, text: str) -> None:
        if self.enabled and text:
            self.queued.append(text)

    def flush(self) -> None:
        if not self.queued:
            return
        text = mask(self.pending + "".join(self.queued))
        self.queued.clear()
        cut = secret_start(text)
        text, self.pending = text[:cut], text[cut:]
        if text:
            out(text, self.stream, end="")
            self.last = text[-1]

    def end(self) -> None:
        self.flush()
        if self.pending:
            out(self.pending, self.stream, end="")
            self.last, self.pending = self.pending[-1], ""
        if self.last != "\n":
            out("", self.stream)
            self.last = "\n"


def stream_to(client, path: str, body: dict, answer, echo: bool = True, show_reasoning: bool = False,
              headers: dict | None = None):
    """Send with streaming on the wire; text goes to stdout as it arrives (with `echo`), the
    reasoning to stderr (with `show_reasoning`), ended by a newline before the answer starts."""
    response = client.send("POST", client.url(path), json_body=body,
                           headers=dict(headers or {}, Accept="text/event-stream"))
    text = StreamPrinter(sys.stdout, echo)
    thoughts = StreamPrinter(sys.stderr, show_reasoning)

    def on_text(delta: str) -> None:
        thoughts.end()
        text.write(delta)

    def after_read() -> None:
        thoughts.flush()
        text.flush()

    try:
        stream_answer(response, answer, on_text, thoughts.write, client.settings.verbose, after_read)
    except GradientError as error:
        error.request_id = error.request_id or request_id_of(response)
        raise
    finally:  # also after an error: what was printed stays, on whole lines
        thoughts.end()
        text.end()
    return response
