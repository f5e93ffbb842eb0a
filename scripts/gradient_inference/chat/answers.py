"""The model's answer, from either chat API, whole or streamed event by event, into one Answer:
text, reasoning, tool calls, finish reason, usage and the model that served it.

Belongs here: reading answers of chat completions and Responses. Does not belong here: the SSE
wire format (api.sse), reading a stream (chat.stream), Anthropic's Messages API (chat.messages) or
checking structured output (chat.schema).
"""
from __future__ import annotations

import json

from gradient_inference.api.usage import normalize_usage
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.core.text import one_line


class Text:
    """Text gathered from many deltas: kept as pieces and joined once when read, so that a
    stream of 100,000 deltas costs linear time (`str +=` on an attribute copies every time)."""

    def __set_name__(self, owner, name):
        self.name = "_" + name

    def __get__(self, answer, owner=None):
        pieces = getattr(answer, self.name)
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    def __set__(self, answer, text: str):
        setattr(answer, self.name, [text] if text else [])


def call_order(index) -> tuple:
    """Tool calls in the order of their index: numbers as numbers (2 before 10), then the rest by text."""
    return (0, index, "") if isinstance(index, int) and not isinstance(index, bool) else (1, 0, str(index))


def call_key(index):
    """A server's call index as a key: a number or a string as it is, anything else (a list, an
    object, null) by its JSON text, so that the pieces of one call still meet and nothing breaks."""
    if isinstance(index, str) or (isinstance(index, int) and not isinstance(index, bool)):
        return index
    return json.dumps(index, sort_keys=True, default=str)


class Word:
    """A field a server names (model, id, finish_reason): a string, or it keeps what it had (a
    list or an object in its place is passed over, never used)."""

    def __set_name__(self, owner, name):
        self.name = "_" + name

    def __get__(self, answer, owner=None):
        return getattr(answer, self.name, None)

    def __set__(self, answer, value):
        if value is None or (isinstance(value, str) and value):
            setattr(answer, self.name, value)


class Answer:
    """What the model said, filled from a whole answer or chunk by chunk from a stream."""
    content = Text()
    reasoning = Text()
    model, id, finish_reason = Word(), Word(), Word()

    def __init__(self, model: str, api: str):
        self.model, self.api = model, api
        self.content = self.reasoning = ""
        self.finish_reason = self.id = None
        self.usage, self.raw_usage = {}, None  # raw_usage: as the server sent it (web search counts...)
        self.usage_parts = {}  # a Messages stream's usage, sent in parts (input first, output at the end)
        self.complete = self.chunked = False
        self._calls = {}

    def call(self, index, call_id=None, name=None, arguments=None) -> None:
        """A tool call, whole or a delta of it: streamed calls arrive in pieces by `index`."""
        found = self._calls.setdefault(call_key(index), {"id": None, "name": None, "pieces": []})
        found["id"] = found["id"] or (call_id if isinstance(call_id, str) else None)
        found["name"] = found["name"] or (name if isinstance(name, str) else None)
        if isinstance(arguments, str):
            found["pieces"].append(arguments)

    @property
    def tool_calls(self) -> list:
        """The calls with an id and a name; one without either cannot be answered, and is passed
        over alike in every API, whole or streamed, printed or stored (see dropped_calls)."""
        return [{"id": c["id"], "name": c["name"], "arguments": "".join(c["pieces"])}
                for _, c in sorted(self._calls.items(), key=lambda item: call_order(item[0])) if c["id"] and c["name"]]

    @property
    def dropped_calls(self) -> int:
        return sum(1 for c in self._calls.values() if not (c["id"] and c["name"]))

    def add(self, text: str = "", thought: str = "") -> None:
        if text:
            self._content.append(text)
        if thought:
            self._reasoning.append(thought)


def text_of(content) -> str:
    """Message content as text: a string, or the text of a list of parts; null is empty."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def parse_chat(document, answer: Answer) -> Answer:
    if isinstance(document, dict):  # first: a billed answer keeps its usage whatever else is wrong with it
        answer.usage, answer.raw_usage = normalize_usage(document.get("usage")), document.get("usage")
    choices = document.get("choices") if isinstance(document, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise GradientError("invalid_response", "the answer has no choices")
    message = choices[0].get("message") if isinstance(choices[0].get("message"), dict) else {}
    answer.content = text_of(message.get("content"))
    answer.reasoning = text_of(message.get("reasoning_content") or message.get("reasoning"))
    answer.finish_reason = choices[0].get("finish_reason")
    for index, call in enumerate(message.get("tool_calls") or [] if isinstance(message.get("tool_calls"), list) else []):
        function = call.get("function") if isinstance(call, dict) and isinstance(call.get("function"), dict) else {}
        answer.call(index, call.get("id") if isinstance(call, dict) else None, function.get("name"),
                    function.get("arguments"))
    answer.id = document.get("id")
    answer.model = document.get("model") or answer.model
    answer.complete = True
    return answer


def finish_reason_of(response: dict) -> str | None:
    status = response.get("status")
    details = response.get("incomplete_details") or {}
    if status == "incomplete" and isinstance(details, dict) and details.get("reason") == "max_output_tokens":
        return "length"
    return {"completed": "stop"}.get(status, status)


def parse_responses(document, answer: Answer) -> Answer:
    output = document.get("output") if isinstance(document, dict) else None
    if not isinstance(output, list):
        raise GradientError("invalid_response", "the answer has no output list")
    texts, thoughts = [], []
    for item in output:
        if not isinstance(item, dict):
            continue
        parts = item.get("content") if isinstance(item.get("content"), list) else []
        if item.get("type") == "message":
            texts += [p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "output_text"]
        elif item.get("type") == "function_call":
            answer.call(f"output-{len(answer._calls)}", item.get("call_id") or item.get("id"), item.get("name"),
                        item.get("arguments"))
        elif item.get("type") == "reasoning":
            thoughts += [p.get("text", "") for p in parts if isinstance(p, dict)]
            summary = item.get("summary") if isinstance(item.get("summary"), list) else []
            thoughts += [p.get("text", "") for p in summary if isinstance(p, dict) and not parts]
    answer.content = "".join(t for t in texts if isinstance(t, str))
    answer.reasoning = "".join(t for t in thoughts if isinstance(t, str))
    answer.finish_reason = "tool_calls" if answer.tool_calls and document.get("status") == "completed" \
        else finish_reason_of(document)
    answer.usage, answer.raw_usage = normalize_usage(document.get("usage")), document.get("usage")
    answer.id = document.get("id")
    answer.model = document.get("model") or answer.model
    answer.complete = True
    return answer


def stream_error(payload) -> GradientError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message = error.get("message") or error.get("code") or json.dumps(error)
    else:
        message = error or payload.get("message") or "unknown error"
    return GradientError("server", f"the stream reported an error: {one_line(str(message))}",
                         hint="what was printed before the error stays printed")


def apply_chat_chunk(answer: Answer, chunk: dict) -> tuple:
    """Fold one chat.completion.chunk into the answer; return its (text, reasoning) deltas."""
    if "error" in chunk:
        raise stream_error(chunk)
    if chunk.get("id") and answer.id is None:  # each field set only when the chunk has it: a stream is 100,000s of them
        answer.id = chunk["id"]
    if chunk.get("model"):
        answer.model = chunk["model"]
    if chunk.get("usage"):
        answer.usage, answer.raw_usage = normalize_usage(chunk["usage"]), chunk["usage"]
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", ""
    delta = choices[0].get("delta")
    delta = delta if isinstance(delta, dict) else {}
    text = text_of(delta.get("content"))
    thinking = delta.get("reasoning_content") or delta.get("reasoning")
    thought = text_of(thinking) if thinking else ""
    answer.add(text, thought)
    calls = delta.get("tool_calls")
    for position, call in enumerate(calls if calls and isinstance(calls, list) else ()):
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            answer.call(call.get("index", position), call.get("id"), function.get("name"), function.get("arguments"))
    if choices[0].get("finish_reason"):
        answer.finish_reason = choices[0]["finish_reason"]
    return text, thought


def apply_responses_event(answer: Answer, event_name: str, payload: dict) -> tuple:
    """Fold one Responses streaming event into the answer; return its (text, reasoning) deltas."""
    kind = payload.get("type") or event_name
    if payload.get("object") == "response.chunk" or (not payload.get("type") and "choices" in payload):
        answer.chunked = True  # DigitalOcean's own shape: chat-like chunks, ended by [DONE]
        return apply_chat_chunk(answer, payload)
    delta = payload.get("delta") if isinstance(payload.get("delta"), str) else ""
    if kind == "response.output_text.delta":
        answer.add(delta)
        return delta, ""
    if kind in ("response.reasoning_text.delta", "response.reasoning.delta",
                "response.reasoning_summary_text.delta"):
        answer.add(thought=delta)
        return "", delta
    if kind == "response.output_item.added" and isinstance(payload.get("item"), dict) and \
            payload["item"].get("type") == "function_call":
        item = payload["item"]
        answer.call(payload.get("output_index"), item.get("call_id") or item.get("id"), item.get("name"),
                    item.get("arguments") or None)
    if kind == "response.function_call_arguments.delta":
        answer.call(payload.get("output_index"), arguments=delta)
    if kind == "error":
        raise stream_error(payload)
    response = payload.get("response") if isinstance(payload.get("response"), dict) else {}
    if kind == "response.failed":
        raise stream_error(response if response.get("error") else payload)
    if kind == "response.created":
        answer.id = response.get("id") or answer.id
    if kind in ("response.completed", "response.incomplete"):
        answer.id = response.get("id") or answer.id
        answer.model = response.get("model") or answer.model
        answer.usage, answer.raw_usage = normalize_usage(response.get("usage")), response.get("usage")
        answer.finish_reason = finish_reason_of(response) or ("length" if kind == "response.incomplete" else None)
        output = response.get("output") if isinstance(response.get("output"), list) else None
        calls = output is not None and any(isinstance(i, dict) and i.get("type") == "function_call" for i in output)
        if calls:
            answer._calls = {}  # the finished output is the authority on its calls
        if calls or (output and not answer.content):
            parse_responses(response, answer)
        elif answer.tool_calls and answer.finish_reason == "stop":
            answer.finish_reason = "tool_calls"
        answer.complete = True
    return "", ""


def check_answer(answer: Answer) -> None:
    if answer.dropped_calls:
        warn(f"{answer.dropped_calls} tool call(s) without an id or a name were passed over: they cannot be answered")
    if answer.content or answer.tool_calls:
        return
    if answer.finish_reason == "length":
        warn("the answer is empty: max tokens cut it off"
             + (" while the model was reasoning" if answer.reasoning else "") + "; raise --max-tokens")
        return
    raise GradientError("invalid_response", "the model returned no text"
                        + (f" (finish_reason {answer.finish_reason})" if answer.finish_reason else ""))
