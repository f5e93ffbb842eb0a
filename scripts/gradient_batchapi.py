"""DigitalOcean's Batch API (/v1/batches): the input file built in OpenAI's or Anthropic's batch
format and checked before anything is uploaded, the upload to a presigned URL (without the key),
the job created with an idempotency key, polled, cancelled and listed, and its result files read
back into the same result lines as a local run.

Belongs here: the remote batch flow and its formats. Does not belong here: the local run
(gradient_batchrun), the result-line format and files (gradient_batchio), the command line.
"""
from __future__ import annotations

import json
import re
import time

from gradient_batchio import MAX_LINE_BYTES, request_of, result_line
from gradient_common import GradientError, UsageError, one_line, warn

MAX_LINES, MAX_BYTES = 50_000, 200 << 20
TERMINAL = ("completed", "failed", "expired", "cancelled")
ENDPOINT = "/v1/chat/completions"
ANTHROPIC_MAX_TOKENS = 4096  # Anthropic's batch format requires max_tokens; this when none is given
BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


# ---------------------------------------------------------------- building the input file

def provider_of(model: str, rows: list) -> str | None:
    """openai or anthropic for a model the Batch API takes; None for one known to be neither."""
    import gradient_prices

    for prefix in ("openai", "anthropic"):
        if model.startswith(prefix + "-"):
            return prefix
    row = gradient_prices.match_price(model, rows)
    maker = (row or {}).get("provider", "").lower()
    return maker if maker in ("openai", "anthropic") else None if row else "openai"


def has_image(messages) -> bool:
    return any(isinstance(part, dict) and (part.get("type") in ("image_url", "image", "input_image") or "image_url" in part)
               for message in messages or [] if isinstance(message.get("content"), list) for part in message["content"])


def anthropic_params(body: dict) -> dict:
    """A chat body in Anthropic's Messages shape: the system prompt apart, max_tokens required,
    a forced tool as input_schema and tool_choice {type: tool}."""
    system = "\n\n".join(m["content"] for m in body["messages"] if m["role"] == "system" and isinstance(m["content"], str))
    params = {"model": body["model"], "messages": [m for m in body["messages"] if m["role"] != "system"],
              "max_tokens": next((body[k] for k in ("max_completion_tokens", "max_tokens") if body.get(k)),
                                 ANTHROPIC_MAX_TOKENS)}
    if system:
        params["system"] = system
    if body.get("temperature") is not None:
        params["temperature"] = body["temperature"]
    if body.get("tools"):
        function = body["tools"][0]["function"]
        params["tools"] = [{"name": function["name"], "description": function["description"],
                            "input_schema": function["parameters"]}]
        params["tool_choice"] = {"type": "tool", "name": function["name"]}
    return params


def batch_line(item: dict, provider: str, model: str, body: dict) -> dict:
    if provider == "anthropic":
        return {"custom_id": item["custom_id"], "params": anthropic_params(body)}
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return {"custom_id": item["custom_id"], "method": "POST", "url": ENDPOINT, "body": body}


def build_input(items, defaults, rows: list, target) -> tuple:
    """Write the batch's JSONL to `target` (a binary file), checking every item first: problems,
    images, models the Batch API does not take, one provider per batch, at most 50,000 lines and
    200 MB. (provider, lines, worst case in USD at interactive prices or None); a UsageError naming the first problems refuses it all."""
    import gradient_prices
    from gradient_batchrun import text_chars

    problems, providers, count, size, schemas, worst = [], {}, 0, 0, {}, 0.0
    for item in items:
        if "problem" in item:
            problems.append(item["problem"])
            continue
        try:
            model, body, _ = request_of(item, defaults, "max_completion_tokens", schemas)
        except ValueError as problem:
            problems.append(str(problem))
            continue
        if has_image(body["messages"]):
            problems.append(f"line {item['line']}: the Batch API takes text only, and this item has an image")
            continue
        provider = provider_of(model, rows)
        if provider is None:
            problems.append(f"line {item['line']}: the Batch API takes OpenAI and Anthropic models, not {model}")
            continue
        providers.setdefault(provider, item["line"])
        row = gradient_prices.match_price(model, rows)
        limit = body.get("max_completion_tokens") or (row or {}).get("max_output_tokens")
        estimate = gradient_prices.worst_case_at(row, text_chars(body), limit)
        worst = None if worst is None or estimate is None else worst + estimate
        data = (json.dumps(batch_line(item, provider, model, body), ensure_ascii=False) + "\n").encode("utf-8")
        count, size = count + 1, size + len(data)
        if count > MAX_LINES or size > MAX_BYTES:
            raise UsageError(f"the Batch API takes at most {MAX_LINES:,} requests and {MAX_BYTES >> 20} MB; "
                             f"line {item['line']} passes that: split the input")
        target.write(data)
        if len(problems) >= 5:
            break
    if len(providers) > 1:
        (first, at), (second, where) = sorted(providers.items(), key=lambda kv: kv[1])[:2]
        problems.append(f"a batch goes to one provider: line {at} is for {first}, line {where} for {second}; split the input")
    if problems:
        raise UsageError("nothing was uploaded: " + "; ".join(problems[:5]))
    if not count:
        raise UsageError("the input holds no items")
    return next(iter(providers)), count, worst


# ---------------------------------------------------------------- the API

def check_id(batch_id: str) -> str:
    if not BATCH_ID.fullmatch(batch_id or ""):
        raise UsageError(f"{one_line(batch_id, 60)!r} is not a batch id")
    return batch_id


def check_url(url, what: str) -> str:
    """A presigned URL from the server: http(s) only, never a key or local file scheme."""
    if not isinstance(url, str) or not re.match(r"(?i)https?://[^\s]+$", url):
        raise GradientError("invalid_response", f"the server's {what} is not an http(s) URL")
    return url


def upload(client, path: str, file_name: str, size: int) -> str:
    """The file intent, then the PUT of the file to its presigned URL, without Authorization:
    the URL carries its own signature. Retried (from the file's start) like any call. The file id."""
    document, _ = client.post_json("batches/files", {"file_name": file_name})
    if not isinstance(document, dict) or not isinstance(document.get("file_id"), str):
        raise GradientError("invalid_response", "the file intent has no file_id")
    url = check_url(document.get("upload_url"), "upload URL")
    from gradient_http import Client, backoff_seconds

    once = Client(client.settings._replace(max_retries=0))  # a retry must send the file again from its start
    for attempt in range(client.settings.max_retries + 1):
        with open(path, "rb") as stream:
            try:
                once.send("PUT", url, authorized=False, data=stream, headers={"Content-Length": str(size)}).close()
                return document["file_id"]
            except GradientError as error:
                if attempt == client.settings.max_retries or (error.status or 500) < 500 and error.status != 429:
                    raise GradientError(error.type, f"the upload failed: {error.message}", status=error.status,
                                        hint="the upload URL lasts about 15 minutes; run the command again") from None
        time.sleep(backoff_seconds(attempt))
    raise AssertionError("unreachable")


def create(client, file_id: str, provider: str, request_id: str, metadata: dict) -> dict:
    """POST /batches. A retried create carries the same request_id, so it never makes two jobs."""
    body = {"file_id": file_id, "provider": provider, "completion_window": "24h", "request_id": request_id,
            "metadata": metadata}
    if provider == "openai":
        body["endpoint"] = ENDPOINT
    return job_of(client.post_json("batches", body)[0])


def job_of(document) -> dict:
    if not isinstance(document, dict) or not isinstance(document.get("batch_id") or document.get("id"), str):
        raise GradientError("invalid_response", "the answer is not a batch job")
    document.setdefault("batch_id", document.get("id"))
    return document


def counts(job: dict) -> tuple:
    found = job.get("request_counts") if isinstance(job.get("request_counts"), dict) else {}
    return tuple(value if isinstance(value, int) and not isinstance(value, bool) else 0
                 for value in (found.get("completed"), found.get("failed"), found.get("total")))


def describe(job: dict) -> str:
    done, failed, total = counts(job)
    status = one_line(str(job.get("status")), 30)
    errors = [one_line(str(e.get("message")), 200) for e in job.get("errors") or [] if isinstance(e, dict)]
    return (f"batch {job['batch_id']}: {status}, {done}/{total} done, {failed} failed"
            + (f"; {errors[0]}" if errors else ""))


def wait(client, batch_id: str, interval: float, progress) -> dict:
    """Poll until the job reaches a terminal state, showing its progress."""
    started = time.monotonic()
    while True:
        job = job_of(client.get_json(f"batches/{batch_id}")[0])
        done, failed, total = counts(job)
        progress.update(f"{job.get('status')} {done + failed}/{total}", time.monotonic() - started)
        if job.get("status") in TERMINAL:
            progress.close()
            return job
        time.sleep(interval)


# ---------------------------------------------------------------- results

def result_lines(stream_chunks):
    """Lines of a downloaded JSONL file, from its chunks, each at most MAX_LINE_BYTES."""
    pending = b""
    for chunk in stream_chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            raise GradientError("invalid_response", f"a result line is longer than {MAX_LINE_BYTES >> 20} MB")
        yield from (line for line in lines if line.strip())
    if pending.strip():
        yield pending


def line_number(custom_id) -> int | None:
    found = re.fullmatch(r"line-(\d{1,12})", custom_id or "")
    return int(found.group(1)) if found else None


def parse_result(raw: bytes) -> tuple:
    """(item, status, answer document or None, error) of one line of a result or error file, in
    OpenAI's shape (response.status_code, response.body) or Anthropic's (result.type, message)."""
    from gradient_chatapi import text_of

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


def batch_cost(row, usage: dict) -> tuple:
    """(USD, price source) at the row's batch prices where the catalog gives them, else at its
    interactive prices, which overstate a batch's cost."""
    import gradient_prices

    if row is None:
        return None, None
    if row.get("batch_input_price") is not None and row.get("batch_output_price") is not None:
        batch_row = dict(row, input_price=row["batch_input_price"], output_price=row["batch_output_price"],
                         cached_input_price=None, cache_write_5m_price=None, cache_write_1h_price=None)
        return gradient_prices.cost_usd(batch_row, usage), "batch prices"
    return gradient_prices.cost_usd(row, usage), "interactive prices (no batch price known; a batch costs less)"


def results(client, batch_id: str, sink, settings, no_log: bool) -> dict:
    """Download the result and error files and write one result line per request; each is
    recorded in the ledger once (a second download records nothing new). The tallies."""
    import gradient_ledger as ledger
    import gradient_prices
    from gradient_batchrun import answer_of
    from gradient_http import iter_body

    try:
        links, _ = client.get_json(f"batches/{batch_id}/results")
    except GradientError as error:
        if error.status == 412:
            raise GradientError("not_found", f"the results of batch {batch_id} are not ready yet",
                                hint=f"check with: gradient_batch.py status {batch_id}") from None
        raise
    if not isinstance(links, dict) or not links.get("result_available"):
        raise GradientError("not_found", f"the results of batch {batch_id} are not ready yet",
                            hint=f"check with: gradient_batch.py status {batch_id}")
    recorded = no_log or bool(ledger.rows("SELECT id FROM calls WHERE batch_id = ? AND api = 'batch' LIMIT 1",
                                          (batch_id,)))
    prices, pending = gradient_prices.offline_prices(), []
    tally = {"ok": 0, "failed": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "failed_lines": [],
             "unreadable": 0}
    for key in ("output_file_url", "error_file_url"):
        if not links.get(key):
            continue
        response = client.send("GET", check_url(links[key], "result file URL"), authorized=False)
        for raw in result_lines(iter_body(response, time.monotonic() + client.settings.timeout * 10)):
            try:
                item, status, document, error = parse_result(raw)
            except GradientError:  # a line no request can be matched to: counted, never the end of the download
                tally["unreadable"] += 1
                continue
            usage = cost = source = content = data = model = None
            if status == "ok":
                try:
                    content, data, answer = answer_of(document, document.get("model") or "", None)
                    usage, model = answer.usage, answer.model
                    cost, source = batch_cost(gradient_prices.match_price(model, prices.models) if prices and model
                                              else None, usage)
                except GradientError as problem:
                    status, error = "error", problem
            sink.write(result_line(item, status, content, data, usage, cost, error))
            tally["ok" if status == "ok" else "failed"] += 1
            tally["input_tokens"] += (usage or {}).get("input_tokens") or 0
            tally["output_tokens"] += (usage or {}).get("output_tokens") or 0
            tally["cost_usd"] += cost or 0.0
            if status != "ok":
                tally["failed_lines"].append(item["custom_id"])
            if not recorded:
                pending.append({"script": "batch", "provider": settings.provider_name, "model": model, "api": "batch",
                               "outcome": "ok" if status == "ok" else error.type, "batch_id": batch_id,
                               "cost_usd": cost, "price_source": source, "answer": content,
                               **{k: (usage or {}).get(v) for k, v in (("input_tokens", "input_tokens"),
                                  ("output_tokens", "output_tokens"), ("cached_tokens", "cached_input_tokens"))}})
            if len(pending) >= 500:
                ledger.record(pending)
                pending = []
    if pending:
        ledger.record(pending)
    if tally["unreadable"]:
        warn(f"{tally['unreadable']} line(s) of the result files could not be read (not JSON, or no custom_id)")
        tally["failed"] += tally["unreadable"]
    if recorded and not no_log:
        warn(f"batch {batch_id} is already in the usage ledger; this download was not recorded again")
    return tally
