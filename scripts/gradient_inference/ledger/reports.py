"""What the ledger says back: a conversation's turns (for -c), the conversations, and
spend, calls and tokens grouped by day, model or script (for the usage command).

Belongs here: the read-only queries over the ledger. Does not belong here: writing rows
(ledger.store) or rendering a report (ledger.run_usage).
"""
from __future__ import annotations


from gradient_inference.core.defaults import ESTIMATE_MARK
from gradient_inference.core.errors import GradientError
from gradient_inference.core.jsondata import loads
from gradient_inference.core.text import one_line
from gradient_inference.ledger.store import rows

# A router's calls are grouped by the model it picked, named with the router they were sent to.
GROUPS = {"day": "substr(ts, 1, 10)", "script": "script",
          "model": "COALESCE(model, '-') || CASE WHEN requested_model LIKE 'router:%' AND "
                   "requested_model != COALESCE(model, '') THEN ' via ' || requested_model ELSE '' END"}
COUNTS = ("calls", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd", "unpriced_calls",
          "estimated_calls")


def conversation(conversation_id: str | None, path: str | None = None) -> list:
    """The turns of a conversation (the latest when conversation_id is None), oldest first."""
    if conversation_id is None:
        latest = rows("SELECT conversation_id FROM calls WHERE conversation_id IS NOT NULL AND outcome = 'ok' "
                      "ORDER BY id DESC LIMIT 1", (), path)
        if not latest:
            raise GradientError("config", "there is no conversation in the usage ledger to continue",
                                hint="start one without -c; GRADIENT_NO_LOG and --no-log keep none")
        conversation_id = latest[0]["conversation_id"]
    else:
        conversation_id = unique_conversation(conversation_id, path)
    found = rows("SELECT * FROM calls WHERE conversation_id = ? AND outcome = 'ok' ORDER BY id", (conversation_id,), path)
    if not found:
        raise GradientError("config", f"no conversation {conversation_id} in the usage ledger")
    if found[-1]["messages"] is None:
        raise GradientError("config", f"the conversation {conversation_id} was logged without its content "
                            "(GRADIENT_LOG_CONTENT=0), so it cannot be continued")
    return found


def unique_conversation(prefix: str, path: str | None = None) -> str:
    """The conversation id a (unique) prefix names; an ambiguous prefix is an error listing them."""
    found = [row["id"] for row in rows(
        "SELECT DISTINCT conversation_id AS id FROM calls WHERE conversation_id >= ? AND conversation_id < ? "
        "AND outcome = 'ok' LIMIT 11", (prefix, prefix + "\U0010ffff"), path)]
    if prefix in found or len(found) != 1:
        if len(found) > 1 and prefix not in found:
            count = len(found) if len(found) <= 10 else "over 10"
            raise GradientError("config", f"--conversation {prefix} names {count} conversations: "
                                + ", ".join(found[:10]), hint="give more of the id")
        return prefix
    return found[0]


def first_words(messages, limit: int = 60) -> str | None:
    """The first user message of a conversation's stored turns, on one line, or None."""
    try:
        turns = loads(messages) if isinstance(messages, str) else None
    except ValueError:
        return None
    first = next((t.get("content") for t in turns or [] if isinstance(t, dict) and t.get("role") == "user"), None)
    text = first if isinstance(first, str) else " ".join(
        p.get("text", "") for p in first if isinstance(p, dict) and isinstance(p.get("text"), str)) \
        if isinstance(first, list) else None
    return one_line(text, limit) if text else None


def until_bound(text: str | None) -> str | None:
    """--until a date means to the end of that day."""
    return text + "T23:59:59Z" if text and len(text) == 10 else text


def report(since: str | None, until: str | None, by: str) -> dict:
    where, parameters = [], []
    if since:
        where.append("ts >= ?")
        parameters.append(since)
    if until:
        where.append("ts <= ?")
        parameters.append(until)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    sums = ("COUNT(*) AS calls, SUM(outcome != 'ok') AS errors, SUM(input_tokens) AS input_tokens, "
            "SUM(output_tokens) AS output_tokens, SUM(cached_tokens) AS cached_input_tokens, "
            "TOTAL(cost_usd) AS cost_usd, SUM(cost_usd IS NULL) AS unpriced_calls, "
            f"SUM(instr(COALESCE(price_source, ''), '{ESTIMATE_MARK}') > 0) AS estimated_calls")
    groups = rows(f"SELECT {GROUPS[by]} AS key, {sums} FROM calls{clause} GROUP BY key ORDER BY key",
                  parameters)
    for row in groups:  # cost_usd is what the priced calls cost: a lower bound when any is unpriced
        for count in ("calls", "errors", "unpriced_calls", "estimated_calls"):
            row[count] = row[count] or 0
        row["cost_usd"] = round(row["cost_usd"] or 0.0, 8)
    total = {count: sum(row[count] or 0 for row in groups) for count in COUNTS}  # from the groups: one scan
    for count in ("input_tokens", "output_tokens", "cached_input_tokens"):  # NULL where no call reported any
        total[count] = total[count] if any(row[count] is not None for row in groups) else None
    total["cost_usd"] = round(total["cost_usd"], 8)
    return {"by": by, "since": since, "until": until, "groups": groups, "total": total}


def conversations() -> dict:
    """Each conversation chat can continue, latest first: its first user message (60 characters,
    one line), when it started and was last active, its model, turns and cost."""
    found = rows(
        "SELECT conversation_id AS id, MIN(ts) AS started, MAX(ts) AS last_activity, MAX(model) AS model, "
        "COUNT(*) AS turns, SUM(cost_usd) AS cost_usd, (SELECT messages FROM calls AS first WHERE "
        "first.conversation_id = calls.conversation_id ORDER BY first.id LIMIT 1) AS messages FROM calls "
        "WHERE conversation_id IS NOT NULL AND outcome = 'ok' GROUP BY conversation_id ORDER BY MAX(id) DESC")
    return {"conversations": [dict({k: v for k, v in row.items() if k != "messages"},
                                   first_message=first_words(row["messages"])) for row in found]}
