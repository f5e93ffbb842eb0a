"""What a model is, without asking anyone: its type and capabilities from the catalog's words, a
bundled table of the ids DigitalOcean documents and safe rules for fal ids; the pricing page's
names for its per-unit models and their vendors; which models see images.

Belongs here: knowledge of model ids and names, pure and offline. Does not belong here: fetching
the catalog (models.catalog) or prices (models.prices).
"""
from __future__ import annotations

import re

from gradient_inference.models.prices import TOKEN_UNIT, match_price

TYPE_WORDS = (("embed", "embedding"), ("speech-to-text", "transcription"), ("audio-to-text", "transcription"),
              ("transcri", "transcription"), ("to-speech", "speech"), ("tts", "speech"), ("video", "video"),
              ("to-image", "image"), ("image-generation", "image"), ("to-audio", "audio"), ("to-text", "chat"),
              ("chat", "chat"), ("llm", "chat"))
CAPABILITY_WORDS = {"function_calling": "tools", "tool_calling": "tools", "tool_use": "tools", "tools": "tools",
                    "vision": "vision", "image_input": "vision", "image_understanding": "vision",
                    "reasoning": "reasoning", "thinking": "reasoning", "prompt_caching": "prompt_caching",
                    "caching": "prompt_caching", "batch": "batch", "batch_inference": "batch"}
# Known DigitalOcean ids (the reference's list of 2026). A capability is listed only when it is
# certain; a chat model listed without "vision" is known to take text only.
KNOWN_MODELS = {
    "openai-gpt-oss-120b": ("chat", ("tools", "reasoning")), "openai-gpt-oss-20b": ("chat", ("tools", "reasoning")),
    "llama3.3-70b-instruct": ("chat", ("tools",)), "llama3-8b-instruct": ("chat", ()),
    "deepseek-r1-distill-llama-70b": ("chat", ("reasoning",)), "alibaba-qwen3-32b": ("chat", ("tools", "reasoning")),
    "mistral-nemo-instruct-2407": ("chat", ()),
    "anthropic-claude-3.7-sonnet": ("chat", ("vision", "tools", "reasoning", "prompt_caching")),
    "anthropic-claude-sonnet-4": ("chat", ("vision", "tools", "reasoning", "prompt_caching")),
    "anthropic-claude-opus-4": ("chat", ("vision", "tools", "reasoning", "prompt_caching")),
    "openai-gpt-5": ("chat", ("vision", "tools", "reasoning")),
    "openai-gpt-5-mini": ("chat", ("vision", "tools", "reasoning")),
    "openai-gpt-5-nano": ("chat", ("vision", "tools", "reasoning")),
    "qwen3-embedding-0.6b": ("embedding", ()),  # the spec's embeddings example
    "openai-gpt-image-1": ("image", ()), "fal-ai/flux/schnell": ("image", ()), "fal-ai/fast-sdxl": ("image", ()),
    "fal-ai/stable-audio-25/text-to-audio": ("audio", ()), "fal-ai/elevenlabs/tts/multilingual-v2": ("speech", ()),
}
# The most tokens an answer can have, where the vendor publishes it (Anthropic's models overview,
# OpenAI's model pages, 2026): what a budget assumes and what --messages-api sends as max_tokens when
# no --max-tokens is given and the catalog says nothing. Open-weight models are absent on purpose:
# their limit is the serving stack's, not the model's, and a guess low would let a budget overspend.
OUTPUT_LIMITS = {
    "anthropic-claude-3.5-haiku": 8_192, "anthropic-claude-3.7-sonnet": 64_000,
    "anthropic-claude-sonnet-4": 64_000, "anthropic-claude-opus-4": 32_000,
    "openai-gpt-5": 128_000, "openai-gpt-5-mini": 128_000, "openai-gpt-5-nano": 128_000,
    "openai-gpt-oss-120b": 131_072, "openai-gpt-oss-20b": 131_072,
}
# How the pricing page names the per-unit models (its words, folded: see page_name), and their ids.
PAGE_NAMES = {"flux 1 schnell": "fal-ai/flux/schnell", "fast sdxl": "fal-ai/fast-sdxl",
              "stable audio 2 5": "fal-ai/stable-audio-25/text-to-audio",
              "elevenlabs multilingual v 2": "fal-ai/elevenlabs/tts/multilingual-v2",
              "gpt image 1": "openai-gpt-image-1"}
VENDORS = (("fal-ai/", "fal"), ("openai-", "OpenAI"), ("anthropic-", "Anthropic"))
FAL_RULES = (("/tts/", "speech"), ("text-to-speech", "speech"), ("text-to-audio", "audio"), ("stable-audio", "audio"),
             ("video", "video"), ("flux", "image"), ("sdxl", "image"), ("stable-diffusion", "image"),
             ("image", "image"))


def catalog_type(text) -> str:
    """The catalog's `type` ("text-to-text", "text-to-image"...) as one of TYPES."""
    words = str(text or "").lower().replace("_", "-").replace(" ", "-")
    return next((kind for word, kind in TYPE_WORDS if word in words), "unknown")


def catalog_capabilities(values) -> list:
    found = []
    for value in values if isinstance(values, list) else []:
        word = str(value).lower().replace("-", "_").replace(" ", "_")
        name = CAPABILITY_WORDS.get(word, word if word.isidentifier() else None)
        if name and name not in found:
            found.append(name)
    return found


def known_model(model_id: str) -> tuple:
    """(type, capabilities, source) from the bundled table or the fal rules; ('unknown', [], None)."""
    if model_id in KNOWN_MODELS:
        kind, capabilities = KNOWN_MODELS[model_id]
        return kind, list(capabilities), "table"
    if model_id.startswith("fal-ai/"):
        kind = next((k for word, k in FAL_RULES if word in model_id.lower()), "unknown")
        return kind, [], "rule" if kind != "unknown" else None
    return "unknown", [], None


def output_limit(model_id: str, row: dict | None) -> tuple:
    """(the model's largest answer in tokens, "the catalog" or "the vendor's published limit"), or
    (None, None) when neither the catalog's row nor the bundled table knows it."""
    if row and row.get("max_output_tokens"):
        return row["max_output_tokens"], "the catalog"
    limit = OUTPUT_LIMITS.get(model_id)
    return (limit, "the vendor's published limit") if limit else (None, None)


def lacks_vision(model_id: str, rows: list) -> bool:
    """True only when it is known: a catalog row with capabilities but no vision, or a chat model
    of the bundled table listed without it."""
    row = next((r for r in rows if r.get("model_id") == model_id and r.get("capabilities") is not None), None)
    if row is not None:
        return "vision" not in row["capabilities"]
    kind, capabilities, source = known_model(model_id)
    return source == "table" and kind == "chat" and "vision" not in capabilities


def page_name(text: str) -> str:
    """A display name folded for matching: lowercase words and numbers ("FLUX.1 [schnell]" -> "flux 1 schnell")."""
    return " ".join(re.findall(r"[a-z]+|\d+", text.lower()))


def vendor_of(model_id: str) -> str | None:
    return next((vendor for prefix, vendor in VENDORS if model_id.startswith(prefix)), None)


def attach_known_ids(rows: list) -> list:
    """Rows of the docs page or the snapshot, named by display name, with the API id of each known
    DigitalOcean model that the careful name matcher joins to exactly one of them; per-unit rows by
    the page's names for them (or their id, where the page gives it), each with its vendor."""
    for model_id in KNOWN_MODELS:
        row = match_price(model_id, rows)
        if row is not None and not row.get("model_id"):
            row["model_id"] = model_id
    for row in rows:
        if row.get("unit") == TOKEN_UNIT:
            continue
        model_id = row.get("model_id") or PAGE_NAMES.get(page_name(row["model"])) or (
            row["model"] if row["model"] in KNOWN_MODELS else None)
        if model_id:
            row["model_id"] = model_id
            row["provider"] = vendor_of(model_id) or row.get("provider") or ""
    return rows


def vision_models(rows: list) -> list:
    from_catalog = {r["model_id"] for r in rows if r.get("model_id") and "vision" in (r.get("capabilities") or ())}
    return sorted(from_catalog or {m for m, (_, caps) in KNOWN_MODELS.items() if "vision" in caps})


def describe_model(model_id: str, rows: list | None) -> dict:
    """`type` and `capabilities` of a model id, and from the catalog its name and limits."""
    row = next((r for r in rows or [] if r.get("model_id") == model_id), None)
    if row is not None:
        return {"type": row.get("type") or "unknown", "capabilities": list(row.get("capabilities") or []),
                "name": row.get("model"), "context_window": row.get("context_window"),
                "max_output_tokens": row.get("max_output_tokens")}
    kind, capabilities, _ = known_model(model_id)
    return {"type": kind, "capabilities": capabilities}
