"""The files of DigitalOcean's Batch API: the input built in OpenAI's batch format (custom_id,
method, url, body) or Anthropic's (custom_id, params) and checked whole before anything is
uploaded (images, models the API does not take, one provider, 50,000 lines, 200 MB, the budget's
worst case), and the result and error files read back line by line in either format.

Belongs here: the formats of the remote batch's files. Does not belong here: calling the Batch
API (batch.remote) or the result lines the user gets (batch.results).
"""
from __future__ import annotations

import json
import re

from gradient_inference.batch.items import MAX_LINE_BYTES, request_of, text_chars
from gradient_inference.chat.answers import text_of
from gradient_inference.chat.messages import messages_of, tool_fields
from gradient_inference.core.defaults import MESSAGES_MAX_TOKENS
from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.text import one_line
from gradient_inference.models.budget import assumed_words, item_worst_case
from gradient_inference.models.known import batch_provider
from gradient_inference.models.prices import batch_row, cost_usd, match_price

MAX_LINES, MAX_BYTES = 50_000, 200 << 20
ENDPOINT = "/v1/chat/completions"


# ---------------------------------------------------------------- building the input file


def provider_of(model: str, rows: list) -> str | None:
    """openai or anthropic for a model the Batch API takes (models.known.batch_provider decides); None otherwise."""
    return batch_provider(model, match_price(model, rows))


def has_image(messages) -> bool:
    return any(isinstance(part, dict) and (part.get("type") in ("image_url", "image", "input_image") or "image_url" in part)
               for message in messages or [] if isinstance(message.get("content"), list) for part in message["content"])


def anthropic_params(body: dict) -> dict:
    """A chat body in Anthropic's Messages shape, as chat.messages makes it for --messages-api: the
    system prompt apart, content as blocks, max_tokens required, a forced tool as input_schema and
    tool_choice {type: tool}."""
    system, messages = messages_of(body["messages"])
    params = {"model": body["model"], "messages": messages,
              "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or MESSAGES_MAX_TOKENS}
    if system:
        params["system"] = system
    if body.get("temperature") is not None:
        params["temperature"] = body["temperature"]
    params.update(tool_fields(body.get("tools"), body.get("tool_choice")))
    return params


def batch_line(item: dict, provider: str, model: str, body: dict) -> dict:
    if provider == "anthropic":
        return {"custom_id": item["custom_id"], "params": anthropic_params(body)}
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return {"custom_id": item["custom_id"], "method": "POST", "url": ENDPOINT, "body": body}


def build_input(items, item_defaults, rows: list, target) -> tuple:
    """Write the batch's JSONL to `target` (a binary file), checking every item first: problems,
    images, models the Batch API does not take, one provider per batch, at most 50,000 lines and
    200 MB. (provider, lines, worst case in USD at interactive prices or None, custom_id -> input
    line, custom_id -> schema or None, the answer limits it assumed in words, why it is unknown or
    None); a UsageError naming the first problems refuses it all."""
    problems, providers, count, size, schemas, worst, lines, item_schemas = [], {}, 0, 0, {}, 0.0, {}, {}
    limits, why = set(), None
    for item in items:
        if len(problems) >= 5:  # enough to act on; the rest of the input is not read
            break
        if "problem" in item:
            problems.append(item["problem"])
            continue
        try:
            model, body, item_schema = request_of(item, item_defaults, "max_completion_tokens", schemas)
        except ValueError as problem:
            problems.append(str(problem))
            continue
        if has_image(body["messages"]):
            problems.append(f"line {item['line']}: the Batch API takes text only, and this item has an image")
            continue
        provider = provider_of(model, rows)
        if provider is None:
            problems.append(f"line {item['line']}: the Batch API does not take {model} (it takes OpenAI's and "
                            "Anthropic's own models; gradient_models.py --capability batch lists them)")
            continue
        providers.setdefault(provider, item["line"])
        row = match_price(model, rows)
        line = batch_line(item, provider, model, body)
        sent_limit = line["params"]["max_tokens"] if provider == "anthropic" else body.get("max_completion_tokens")
        estimate, limit, unknown = item_worst_case(model, row, text_chars(body), sent_limit)
        limits |= {limit} if limit else set()
        why = why or unknown
        worst = None if worst is None or estimate is None else worst + estimate
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        count, size = count + 1, size + len(data)
        if count > MAX_LINES or size > MAX_BYTES:
            raise UsageError(f"the Batch API takes at most {MAX_LINES:,} requests and {MAX_BYTES >> 20} MB; "
                             f"line {item['line']} passes that: split the input")
        target.write(data)
        lines[item["custom_id"]] = item["line"]
        item_schemas[item["custom_id"]] = item_schema
    if len(providers) > 1:
        (first, at), (second, where) = sorted(providers.items(), key=lambda kv: kv[1])[:2]
        problems.append(f"a batch goes to one provider: line {at} is for {first}, line {where} for {second}; split the input")
    if problems:
        raise UsageError("nothing was uploaded: " + "; ".join(problems[:5]))
    if not count:
        raise UsageError("the input holds no items")
    return next(iter(providers)), count, worst, lines, item_schemas, assumed_words(limits), why


# ---------------------------------------------------------------- result files


def result_lines(stream_chunks):
    """Lines of a downloaded JSONL file from its chunks, each byte looked at once; a line over
    MAX_LINE_BYTES is skipped as it arrives and yielded as None (unreadable), never held whole."""
    pieces, size, too_long = [], 0, False
    for chunk in stream_chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            size += len(piece)
            too_long = too_long or size > MAX_LINE_BYTES
            if end < 0:  # the line goes on in the next chunk
                pieces = [] if too_long else pieces + [piece]
                break
            line = None if too_long else b"".join(pieces) + piece
            if line is None or line.strip():
                yield line
            pieces, size, too_long, start = [], 0, False, end + 1
    if too_long or any(piece.strip() for piece in pieces):
        yield None if too_long else b"".join(pieces)


def line_number(custom_id) -> int | None:
    found = re.fullmatch(r"line-(\d{1,12})", custom_id or "")
    return int(found.group(1)) if found else None


def parse_result(raw: bytes) -> tuple:
    """(item, status, answer document or None, error) of one line of a result or error file, in
    OpenAI's shape (response.status_code, response.body) or Anthropic's (result.type, message)."""
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):
        raise GradientError("invalid_response", "a line of the result file is not JSON") from None
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        raise GradientError("invalid_response", "a line of the result file has no custom_id")
    item = {"custom_id": line["custom_id"], "line": line_number(line["custom_id"])}
    response, result = line.get("response"), line.get("result")
    if isinstance(response, dict) and response.get("status_code") == 200 and isinstance(response.get("body"), dict):
        return item, "ok", response["body"], None
    if isinstance(result, dict) and result.get("type") == "succeeded" and isinstance(result.get("message"), dict):
        message = result["message"]
        blocks = message.get("content") if isinstance(message.get("content"), list) else []
        calls = [{"id": b.get("id"), "type": "function", "function": {"name": b.get("name"), "arguments": json.dumps(
            b.get("input"))}} for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        chat = {"id": message.get("id"), "model": message.get("model"), "usage": usage, "choices": [{
            "message": {"content": text_of(blocks), **({"tool_calls": calls} if calls else {})},
            "finish_reason": message.get("stop_reason")}]}
        return item, "ok", chat, None
    error = line.get("error")
    if error is None and isinstance(response, dict) and isinstance(response.get("body"), dict):
        error = response["body"].get("error") or response["body"]
    if error is None and isinstance(result, dict):
        error = result.get("error")
    if isinstance(error, dict) and isinstance(error.get("error"), dict):
        error = error["error"]
    message = one_line(str(error.get("message") if isinstance(error, dict) else error or "the request failed"), 500)
    status = response.get("status_code") if isinstance(response, dict) else None
    kind = (result or {}).get("type") if isinstance(result, dict) else None
    return item, "error", None, GradientError("bad_request" if kind != "expired" else "timeout",
                                              message + (f" ({kind})" if kind and kind != "errored" else ""),
                                              status=status if isinstance(status, int) else None)


def batch_cost(row, usage: dict, exact: bool = False) -> tuple:
    """(USD, price source) at the row's batch prices where the catalog gives them, else at its
    interactive prices, which overstate a batch's cost; `exact`: unrounded, for a total."""
    if row is None:
        return None, None
    at_batch = batch_row(row)
    if at_batch is not None:
        return cost_usd(at_batch, usage, exact), "batch prices"
    return cost_usd(row, usage, exact), "interactive prices (no batch price known; a batch costs less)"
