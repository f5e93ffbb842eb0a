"""Token usage as every API reports it (chat completions, Responses, Anthropic, embeddings),
read into one set of keys; anything that is not a whole number becomes null.

Belongs here: reading usage. Does not belong here: what usage costs (models.prices).
"""
from __future__ import annotations


MAX_TOKENS_PER_CALL = 10 ** 9  # a count beyond this is no count a server could mean


def count(value):
    """A token count, or None (unknown) for anything that is not a plausible whole number: not an
    integer, negative (never a credit), or beyond any call's size."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS_PER_CALL:
        return value
    return None


USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "cache_write_tokens",
              "cache_write_1h_tokens", "reasoning_tokens")


def normalize_usage(usage) -> dict:
    """The same usage keys for every API; anything that is not a whole number becomes null.
    Prompt-cache writes (Anthropic's and DigitalOcean's names) are split by lifetime: 1 h, and
    the rest (5 min, the default)."""
    if not isinstance(usage, dict):
        return dict.fromkeys(USAGE_KEYS)
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = count(details.get("cached_tokens")) if isinstance(details, dict) else None
    if cached is None:
        cached = count(usage.get("cache_read_input_tokens"))
    input_tokens = count(usage.get("prompt_tokens", usage.get("input_tokens")))
    output_tokens = count(usage.get("completion_tokens", usage.get("output_tokens")))
    total = count(usage.get("total_tokens"))
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    written = count(usage.get("cache_creation_input_tokens", usage.get("cache_created_input_tokens")))
    by_lifetime = usage.get("cache_creation") if isinstance(usage.get("cache_creation"), dict) else {}
    hour = count(by_lifetime.get("ephemeral_1h_input_tokens"))
    minutes = count(by_lifetime.get("ephemeral_5m_input_tokens"))
    if minutes is None and written is not None:
        minutes = max(written - (hour or 0), 0)
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    reasoning = count(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else None
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total,
            "cached_input_tokens": cached, "cache_write_tokens": minutes, "cache_write_1h_tokens": hour,
            "reasoning_tokens": reasoning}


def messages_usage(usage):
    """Anthropic's Messages usage counted the way the other APIs count it: its input_tokens leave
    out the tokens read from and written to the prompt cache, theirs include them (and prices
    are applied on that footing)."""
    if not isinstance(usage, dict) or count(usage.get("input_tokens")) is None:
        return usage
    parts = (usage.get("input_tokens"), usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens"))
    return dict(usage, input_tokens=sum(count(part) or 0 for part in parts))
