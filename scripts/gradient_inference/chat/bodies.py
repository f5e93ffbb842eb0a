"""Chat request bodies for the two APIs: chat completions and Responses, with images, prompt
caching marks and whatever extra fields the caller asks for.

Belongs here: the shapes of chat requests. Does not belong here: gathering the user's input
(chat.inputs) or reading answers (chat.answers).
"""
from __future__ import annotations


def user_content(prompt: str, images: list, api: str):
    if not images:
        return prompt
    if api == "chat":
        return [{"type": "text", "text": prompt}] + [
            {"type": "image_url", "image_url": {"url": url}} for url in images]
    # the OpenAI spec requires detail on input_image parts; "auto" is its documented default
    return [{"type": "input_text", "text": prompt}] + [
        {"type": "input_image", "image_url": url, "detail": "auto"} for url in images]


def mark_for_caching(messages: list) -> list:
    """Anthropic prompt caching: cache_control on the system prompt, else on the first user turn."""
    target = next((m for m in messages if m["role"] == "system"), None) or next(
        (m for m in messages if m["role"] == "user"), None)
    if target is None:
        return messages
    content = target["content"]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else [dict(p) for p in content]
    parts[-1]["cache_control"] = {"type": "ephemeral"}
    return [dict(m, content=parts) if m is target else m for m in messages]


def chat_body(model: str, system, history: list, prompt, images: list, *, temperature=None,
              max_tokens=None, max_tokens_field="max_completion_tokens", stream=False, cache=False,
              **extra) -> dict:
    """POST /chat/completions. `extra` (reasoning_effort, seed, stop, top_p, tools, tool_choice,
    response_format...) is sent as given, where not None."""
    messages = ([{"role": "system", "content": system}] if system else []) + list(history)
    if prompt is not None:
        messages.append({"role": "user", "content": user_content(prompt, images, "chat")})
    if cache and model.startswith("anthropic-"):
        messages = mark_for_caching(messages)
    body = {"model": model, "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body[max_tokens_field] = max_tokens
    body.update((key, value) for key, value in extra.items() if value is not None)
    return body


def responses_body(model: str, system, history: list, prompt, images: list, *, temperature=None,
                   max_tokens=None, stream=False, cache=False, **extra) -> dict:
    """POST /responses, with `extra` (top_p, stop, reasoning, tools, tool_choice...) where not None."""
    if history or images:
        items = [{"role": m["role"], "content": m["content"]} for m in history]
        if prompt is not None:
            items.append({"role": "user", "content": user_content(prompt, images, "responses")})
        body = {"model": model, "input": items}
    else:
        body = {"model": model, "input": prompt}
    if system:
        body["instructions"] = system
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if stream:
        body["stream"] = True
    if cache:
        body["store"] = True
    body.update((key, value) for key, value in extra.items() if value is not None)
    return body
