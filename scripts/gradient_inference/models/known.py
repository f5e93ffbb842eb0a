"""What a model is, without asking anyone: its type and capabilities from the catalog's words, a
bundled table of the ids DigitalOcean documents and safe rules for fal ids; the pricing page's
names for its per-unit models and their vendors; which models see images.

Belongs here: knowledge of model ids and names, pure and offline. Does not belong here: fetching
the catalog (models.catalog) or prices (models.prices).
"""
from __future__ import annotations

import re

from gradient_inference.models.prices import TOKEN_UNIT, match_price

TYPE_WORDS = (("router:", "router"), ("rerank", "reranking"), ("embed", "embedding"),
              ("speech-to-text", "transcription"), ("audio-to-text", "transcription"),
              ("transcri", "transcription"), ("to-speech", "speech"), ("tts", "speech"), ("video", "video"),
              ("to-image", "image"), ("image-generation", "image"), ("to-audio", "audio"), ("to-text", "chat"),
              ("chat", "chat"), ("llm", "chat"))
CAPABILITY_WORDS = {"function_calling": "tools", "tool_calling": "tools", "tool_use": "tools", "tools": "tools",
                    "vision": "vision", "image_input": "vision", "image_understanding": "vision",
                    "reasoning": "reasoning", "thinking": "reasoning", "prompt_caching": "prompt_caching",
                    "caching": "prompt_caching", "batch": "batch", "batch_inference": "batch"}
# What the bundled knowledge is as of, and where it comes from: DigitalOcean's ids of early 2026
# (do-inference-api.md) and those seen by December 2026 (do-platform-2026-12.md, "Models:
# retirements and current ids"). Offline answers built from it say this date.
KNOWN_AS_OF = "2026-12-07"
CLAUDE = ("vision", "tools", "reasoning", "prompt_caching")
GPT5 = ("vision", "tools", "reasoning")
# Known DigitalOcean ids. A capability is listed only when it is certain; a chat model listed
# without "vision" is known to take text only.
KNOWN_MODELS = {
    "openai-gpt-oss-120b": ("chat", ("tools", "reasoning")), "openai-gpt-oss-20b": ("chat", ("tools", "reasoning")),
    "llama3.3-70b-instruct": ("chat", ("tools",)), "llama3-8b-instruct": ("chat", ()),
    "deepseek-r1-distill-llama-70b": ("chat", ("reasoning",)), "alibaba-qwen3-32b": ("chat", ("tools", "reasoning")),
    "mistral-nemo-instruct-2407": ("chat", ()),
    # retired during 2026 (RETIRED below), kept so that old ledgers and scripts still read
    "anthropic-claude-3.7-sonnet": ("chat", CLAUDE), "anthropic-claude-sonnet-4": ("chat", CLAUDE),
    "anthropic-claude-opus-4": ("chat", CLAUDE),
    "openai-gpt-5": ("chat", GPT5), "openai-gpt-5-mini": ("chat", GPT5), "openai-gpt-5-nano": ("chat", GPT5),
    # current in December 2026: every Claude 4.x and GPT-5.x model takes images, tools and reasoning
    "anthropic-claude-haiku-4.5": ("chat", CLAUDE), "anthropic-claude-4.6-sonnet": ("chat", CLAUDE),
    "anthropic-claude-opus-4.8": ("chat", CLAUDE), "openai-gpt-5.5": ("chat", GPT5),
    "openai-gpt-5.4-mini": ("chat", GPT5),
    "qwen3-embedding-0.6b": ("embedding", ()), "gte-large-en-v1.5": ("embedding", ()),
    "all-mini-lm-l6-v2": ("embedding", ()), "multi-qa-mpnet-base-dot-v1": ("embedding", ()),
    "openai-gpt-image-1": ("image", ()), "openai-gpt-image-2": ("image", ()),
    "stable-diffusion-3.5-large": ("image", ()), "fal-ai/flux/schnell": ("image", ()), "fal-ai/fast-sdxl": ("image", ()),
    "wan2-2-t2v-a14b": ("video", ()), "qwen3-tts-voicedesign": ("speech", ()),
    "fal-ai/stable-audio-25/text-to-audio": ("audio", ()), "fal-ai/elevenlabs/tts/multilingual-v2": ("speech", ()),
}
# Retired by their vendors (date of retirement; do-platform-2026-12.md): DigitalOcean stops serving
# them, so offline answers mark them and --estimate ranks them last.
RETIRED = {"openai-gpt-image-1": "2026-10-23", "anthropic-claude-3.7-sonnet": "2026-02-19",
           "anthropic-claude-sonnet-4": "2026-06-15", "anthropic-claude-opus-4": "2026-06-15",
           "anthropic-claude-opus-4.1": "2026-08-05", "anthropic-claude-sonnet-4.5": "2026-11-30"}
# The most tokens an answer can have, as the vendors publish it (do-platform-2026-12.md, "Vendors'
# largest answers"): what a budget assumes and what --messages-api sends as max_tokens when no
# --max-tokens is given and neither the catalog nor the server's model list says. Open-weight
# models are absent on purpose (their limit is the serving stack's; a guess low would let a budget
# overspend), gpt-oss excepted, whose vendor publishes it. By id first, then by family.
OUTPUT_LIMITS = {
    "anthropic-claude-3.5-haiku": 8_192, "openai-gpt-oss-120b": 131_072, "openai-gpt-oss-20b": 131_072,
}
# (family, lowest version, limit): the first row whose family matches and whose version is at
# least its lowest, scanning from the top. Claude Sonnet 4.6 is 64K or 128K as sources disagree:
# a budget assumes the higher (it must never assume too little), a request sends the lower.
FAMILY_LIMITS = (("opus", 4.6, 128_000), ("opus", 4.5, 64_000), ("opus", 4.0, 32_000),
                 ("sonnet", 5.0, 128_000), ("sonnet", 4.6, (64_000, 128_000)), ("sonnet", 3.7, 64_000),
                 ("haiku", 4.5, 64_000), ("haiku", 3.5, 8_192),
                 ("gpt-5", 5.0, 128_000), ("gpt-4.1", 4.1, 32_768), ("gpt-4o", 4.0, 16_384))
CLAUDE_ID = r"claude-(?:(\d+(?:\.\d+)?)-)?(haiku|sonnet|opus)(?:-(\d+(?:\.\d+)?))?"
GPT_ID = r"gpt-(5(?:\.\d+)?|4\.1|4o)(?![\w.])"
# How the pricing page names the per-unit models (its words, folded: see page_name), and their ids.
PAGE_NAMES = {"flux 1 schnell": "fal-ai/flux/schnell", "fast sdxl": "fal-ai/fast-sdxl",
              "stable audio 2 5": "fal-ai/stable-audio-25/text-to-audio",
              "elevenlabs multilingual v 2": "fal-ai/elevenlabs/tts/multilingual-v2",
              "gpt image 1": "openai-gpt-image-1", "gpt image 2": "openai-gpt-image-2",
              "stable diffusion 3 5 large": "stable-diffusion-3.5-large", "wan 2 2": "wan2-2-t2v-a14b",
              "qwen 3 tts voicedesign": "qwen3-tts-voicedesign"}
# A model's vendor by its id (never the heading of the page's table it was found under).
VENDORS = (("fal-ai/", "fal"), ("openai-", "OpenAI"), ("anthropic-", "Anthropic"), ("stable-diffusion", "Stability AI"),
           ("wan2", "Alibaba"), ("qwen", "Alibaba"), ("alibaba-", "Alibaba"), ("llama", "Meta"), ("deepseek-", "DeepSeek"),
           ("mistral-", "Mistral"))
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
    if model_id.startswith("router:"):  # the Inference Router: it picks a chat model per call
        return "router", [], "rule"
    if model_id.startswith("fal-ai/"):
        kind = next((k for word, k in FAL_RULES if word in model_id.lower()), "unknown")
        return kind, [], "rule" if kind != "unknown" else None
    return "unknown", [], None


def family_limit(model_id: str):
    """A vendor's published largest answer for the model's family and version (an int, or a
    (lowest, highest) pair where sources disagree), or None."""
    found = re.search(CLAUDE_ID, model_id)
    if found:
        version_text = found.group(1) or found.group(3)
        family, version = found.group(2), float(version_text) if version_text else None
    else:
        found = re.search(GPT_ID, model_id)
        if not found:
            return None
        family = "gpt-5" if found.group(1).startswith("5") else f"gpt-{found.group(1)}"
        version = float(found.group(1).replace("o", "")) if found.group(1) != "4o" else 4.0
    if version is None:
        return None
    return next((limit for name, lowest, limit in FAMILY_LIMITS if name == family and version >= lowest), None)


def output_limit(model_id: str, row: dict | None, served: dict | None = None, to_send: bool = False) -> tuple:
    """(the model's largest answer in tokens, where the figure came from), or (None, None): the
    catalog's row first, then the server's own model list (`served`, an entry of models.served),
    then the vendors' figures bundled here, then (for a budget only) the context length the server
    announces, which no answer can outgrow. Where the vendors' sources disagree, a budget gets the
    higher figure and a request (`to_send`) the lower."""
    if row and row.get("max_output_tokens"):
        return row["max_output_tokens"], "the catalog"
    if served and served.get("max_output_tokens"):
        return served["max_output_tokens"], "the server's model list"
    limit = OUTPUT_LIMITS.get(model_id) or family_limit(model_id)
    if isinstance(limit, tuple):
        limit = limit[0] if to_send else limit[1]
    if limit:
        return limit, f"the vendor's published limit as of {KNOWN_AS_OF[:7]}"
    if served and served.get("context_length") and not to_send:  # no answer outgrows its context: an upper bound
        return served["context_length"], "the context length in the server's model list"
    return None, None


def retired_on(model_id: str | None, name: str = "") -> str | None:
    """The date a model was retired by its vendor (by id, or a display name whose words match a
    retired id's), or None."""
    if model_id and model_id in RETIRED:
        return RETIRED[model_id]
    folded = page_name(name)
    return next((day for retired, day in RETIRED.items()
                 if folded and sorted(page_name(retired.split("-", 1)[1]).split()) == sorted(folded.split())), None)


def own_vendor(model_id: str | None) -> str | None:
    """"anthropic" or "openai" for a model of the vendor's own (its fields, its Batch API format);
    None for others, the open-weight gpt-oss that DigitalOcean serves itself among them."""
    if not model_id:
        return None
    if model_id.startswith("anthropic-"):
        return "anthropic"
    return "openai" if model_id.startswith("openai-") and not model_id.startswith("openai-gpt-oss") else None


def batch_provider(model_id: str | None, row: dict | None = None) -> str | None:
    """The one answer on what the Batch API takes: "openai" or "anthropic" (the format its lines
    take) for a model it takes, else None. The catalog's word where a catalog row is known (batch
    prices, or a batch capability); else DigitalOcean's documented rule (do-inference-api.md, "Batch
    inference"): OpenAI's and Anthropic's own chat models, not the open-weight gpt-oss that
    DigitalOcean serves itself, nor an image model."""
    if not model_id:
        return None
    family = "anthropic" if model_id.startswith("anthropic-") else "openai"
    if row is not None and row.get("source") == "catalog":
        taken = row.get("batch_input_price") is not None or "batch" in (row.get("capabilities") or ())
        return family if taken else None
    return own_vendor(model_id) if known_model(model_id)[0] in ("chat", "unknown") else None


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
    for row in rows:
        row["retired"] = row.get("retired") or retired_on(row.get("model_id"), row["model"])
    return rows


def vision_models(rows: list) -> list:
    from_catalog = {r["model_id"] for r in rows if r.get("model_id") and "vision" in (r.get("capabilities") or ())}
    return sorted(from_catalog or {m for m, (_, caps) in KNOWN_MODELS.items() if "vision" in caps})


def describe_model(model_id: str, rows: list | None) -> dict:
    """`type` and `capabilities` of a model id, and from the catalog its name and limits."""
    row = next((r for r in rows or [] if r.get("model_id") == model_id), None)
    if row is not None:
        capabilities = [c for c in row.get("capabilities") or [] if c != "batch"]
        return {"type": row.get("type") or "unknown",
                "capabilities": capabilities + (["batch"] if batch_provider(model_id, row) else []),
                "name": row.get("model"), "context_window": row.get("context_window"),
                "max_output_tokens": row.get("max_output_tokens")}
    kind, capabilities, _ = known_model(model_id)
    return {"type": kind, "capabilities": capabilities + (["batch"] if batch_provider(model_id) else [])}
