"""Anthropic's Messages API as DigitalOcean serves it (POST /v1/messages): the request body built
from the same turns, tools and flags as the other two chat APIs, and the answer read, whole or
event by event, into the same Answer.

Belongs here: the Messages API's shapes, both ways. Does not belong here: the other APIs' shapes
(chat.bodies, chat.answers), the wire format of streams (api.sse) or tool files (chat.tools).
"""
from __future__ import annotations

import json
import re

from gradient_inference.api.usage import messages_usage, normalize_usage
from gradient_inference.chat.answers import Answer, stream_error, text_of
from gradient_inference.chat.bodies import mark_for_caching
from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.jsondata import loads

ANTHROPIC_VERSION = "2023-06-01"  # the version header Anthropic's API asks for; DigitalOcean accepts it
# stop_reason in the finish_reason words of the other two APIs
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "pause_turn": "stop", "refusal": "content_filter"}
DATA_URL = re.compile(r"data:(image/[a-z+.-]+);base64,(.*)", re.S | re.I)


# ---------------------------------------------------------------- the request

def image_block(url: str) -> dict:
    """An image as the spec takes it: base64 bytes with their media type (files become data: URLs
    in chat.inputs; a remote URL has no bytes here)."""
    found = DATA_URL.fullmatch(url)
    if not found:
        raise UsageError("--messages-api sends images as their bytes: give a local image file, not a URL")
    return {"type": "image", "source": {"type": "base64", "media_type": found.group(1).lower(),
                                        "data": found.group(2)}}


def blocks_of(content) -> list:
    """Chat-completions content (a string or parts) as Messages content blocks; a part's
    cache_control (chat.bodies.mark_for_caching) stays on its block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    found = []
    for part in content or []:
        if part.get("type") in ("text", "input_text") and isinstance(part.get("text"), str):
            block = {"type": "text", "text": part["text"]}
        elif part.get("type") == "image_url":
            url = part.get("image_url")
            block = image_block(url.get("url", "") if isinstance(url, dict) else str(url))
        else:
            raise UsageError(f"--messages-api cannot send a content part of type {part.get('type')!r}")
        found.append(dict(block, cache_control=part["cache_control"]) if "cache_control" in part else block)
    return found


def tool_use_block(call: dict) -> dict:
    """An assistant turn's tool call (arguments as a JSON string) as a tool_use block (input as an object)."""
    function = call["function"]
    try:
        arguments = loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = None
    return {"type": "tool_use", "id": call["id"], "name": function["name"],
            "input": arguments if isinstance(arguments, dict) else {}}


def messages_of(turns: list) -> tuple:
    """(system, messages) from chat-completions turns: system turns apart (text, or blocks when
    one is marked for caching), an assistant turn's tool calls as tool_use blocks, tool turns as
    tool_result blocks in a user turn, and turns of the same role in a row joined into one (the
    API wants them alternating)."""
    system, messages = [], []
    for turn in turns:
        role = turn["role"]
        if role in ("system", "developer"):
            system += blocks_of(turn["content"])
            continue
        if role == "tool":
            role, blocks = "user", [{"type": "tool_result", "tool_use_id": turn["tool_call_id"],
                                     "content": turn["content"]}]
        else:
            blocks = blocks_of(turn.get("content")) + [tool_use_block(c) for c in turn.get("tool_calls") or []]
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += blocks
        else:
            messages.append({"role": role, "content": blocks})
    if not any("cache_control" in block for block in system):
        system = "\n\n".join(block["text"] for block in system if block.get("text")) or None
    return system, [m for m in messages if m["content"]]


def tool_fields(tools: list | None, choice) -> dict:
    """Function tools (chat.tools' form) and tool_choice in the Messages API's words: required is
    "any", a name is {"type": "tool"}; "none" sends no tools (the spec has no word for it)."""
    if not tools or choice == "none":
        return {}
    found = {"tools": [{"name": f["name"], "description": f.get("description") or "",
                        "input_schema": f.get("parameters") or {"type": "object", "properties": {}}}
                       for f in (t.get("function", t) for t in tools)]}
    if isinstance(choice, dict):
        found["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    elif choice in ("auto", "required"):
        found["tool_choice"] = {"type": "auto" if choice == "auto" else "any"}
    return found


def messages_body(model: str, system, history: list, prompt, images: list, *, max_tokens: int, temperature=None,
                  stream=False, cache=False, top_p=None, stop=None, tools=None, tool_choice=None,
                  reasoning_effort=None) -> dict:
    """POST /v1/messages: the same turns as chat completions would send, in the Messages API's shape."""
    turns = ([{"role": "system", "content": system}] if system else []) + list(history)
    if prompt is not None:
        turns.append({"role": "user", "content": [{"type": "text", "text": prompt}]
                      + [{"type": "image_url", "image_url": {"url": url}} for url in images]})
    system_field, messages = messages_of(mark_for_caching(turns) if cache else turns)
    body = {"model": model, "max_tokens": max_tokens, "messages": messages}
    for key, value in (("system", system_field), ("temperature", temperature), ("top_p", top_p),
                       ("reasoning_effort", reasoning_effort)):
        if value is not None:
            body[key] = value
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if stream:
        body["stream"] = True
    body.update(tool_fields(tools, tool_choice))
    return body


# ---------------------------------------------------------------- the answer

def finish_word(stop_reason) -> str | None:
    """Anthropic's stop_reason in the other APIs' words; anything but a string is no reason."""
    return FINISH.get(stop_reason, stop_reason) if isinstance(stop_reason, str) else None


def read_blocks(blocks, answer: Answer) -> None:
    """Text, thinking and tool_use blocks into the answer (tool input back to a JSON string)."""
    for index, block in enumerate(blocks if isinstance(blocks, list) else []):
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            answer.add(text_of(block.get("text")))
        elif block.get("type") == "thinking":
            answer.add(thought=text_of(block.get("thinking")))
        elif block.get("type") == "tool_use" and isinstance(block.get("id"), str) and isinstance(block.get("name"), str):
            answer.call(index, block["id"], block["name"], json.dumps(block.get("input") or {}))


def parse_messages(document, answer: Answer) -> Answer:
    """A whole Messages answer: {"type": "message", "content": [blocks], "stop_reason", "usage"}."""
    if isinstance(document, dict):  # first: a billed answer keeps its usage whatever else is wrong with it
        answer.usage, answer.raw_usage = normalize_usage(messages_usage(document.get("usage"))), document.get("usage")
    if not isinstance(document, dict) or not isinstance(document.get("content"), list):
        raise GradientError("invalid_response", "the answer has no content blocks")
    read_blocks(document["content"], answer)
    answer.finish_reason = finish_word(document.get("stop_reason"))
    answer.id = document.get("id")
    answer.model = document.get("model") or answer.model
    answer.complete = True
    return answer


def apply_messages_event(answer: Answer, event_name: str, payload: dict) -> tuple:
    """Fold one Messages streaming event into the answer; return its (text, reasoning) deltas.
    Usage comes in two parts: message_start has the input's, message_delta the output's so far."""
    kind = payload.get("type") or event_name
    if kind == "error":
        raise stream_error(payload)
    if kind == "message_start" and isinstance(payload.get("message"), dict):
        message = payload["message"]
        answer.id, answer.model = message.get("id") or answer.id, message.get("model") or answer.model
        answer.usage_parts.update(message["usage"] if isinstance(message.get("usage"), dict) else {})
    elif kind == "content_block_start" and isinstance(payload.get("content_block"), dict):
        block = payload["content_block"]
        if block.get("type") == "tool_use":
            answer.call(payload.get("index"), block.get("id"), block.get("name"))
        elif block.get("type") in ("text", "thinking"):
            text = text_of(block.get("text") if block["type"] == "text" else block.get("thinking"))
            answer.add(*((text, "") if block["type"] == "text" else ("", text)))
            return (text, "") if block["type"] == "text" else ("", text)
    elif kind == "content_block_delta" and isinstance(payload.get("delta"), dict):
        delta = payload["delta"]
        if delta.get("type") == "text_delta":
            answer.add(text_of(delta.get("text")))
            return text_of(delta.get("text")), ""
        if delta.get("type") == "thinking_delta":
            answer.add(thought=text_of(delta.get("thinking")))
            return "", text_of(delta.get("thinking"))
        if delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            answer.call(payload.get("index"), arguments=delta["partial_json"])
    elif kind == "message_delta":
        delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
        answer.finish_reason = finish_word(delta.get("stop_reason")) or answer.finish_reason
        if isinstance(payload.get("usage"), dict):
            answer.usage_parts.update(payload["usage"])
    elif kind == "message_stop":
        answer.complete = True
    if kind in ("message_start", "message_delta") and answer.usage_parts:
        answer.usage = normalize_usage(messages_usage(answer.usage_parts))
        answer.raw_usage = dict(answer.usage_parts)
    return "", ""
