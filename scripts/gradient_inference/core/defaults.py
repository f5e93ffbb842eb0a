"""Every default the commands share, each in one place: models, timeouts, retries, the pricing
cache, batch sizes, and the variables that override them.

Belongs here: default values and env_default(), the one reader of a default's variable. Does not
belong here: checking what the user set (core.settings) or the flags themselves (core.cli).
"""
from __future__ import annotations

import os

# The default model of each type, then what stands in for it when the server no longer lists it,
# in order: ids DigitalOcean served in December 2026 (do-platform-2026-12.md). A default is never
# sent without knowing the server lists it (models.served). Each has a variable that pins a model.
PREFERRED_MODELS = {
    "chat": ("openai-gpt-oss-120b", "openai-gpt-oss-20b", "openai-gpt-5.4-mini", "llama3.3-70b-instruct",
             "anthropic-claude-haiku-4.5"),
    "image": ("openai-gpt-image-2", "stable-diffusion-3.5-large", "fal-ai/flux/schnell", "fal-ai/fast-sdxl"),
    "embedding": ("qwen3-embedding-0.6b", "gte-large-en-v1.5", "all-mini-lm-l6-v2", "multi-qa-mpnet-base-dot-v1"),
    "speech": ("qwen3-tts-voicedesign", "fal-ai/elevenlabs/tts/multilingual-v2"),
    "video": ("wan2-2-t2v-a14b",),
}
MODEL_VARS = {"chat": "GRADIENT_MODEL", "image": "GRADIENT_IMAGE_MODEL", "embedding": "GRADIENT_EMBED_MODEL",
              "speech": "GRADIENT_SPEECH_MODEL", "video": "GRADIENT_VIDEO_MODEL"}
CHAT_MODEL = PREFERRED_MODELS["chat"][0]  # chat and batch
IMAGE_MODEL = PREFERRED_MODELS["image"][0]
EMBED_MODEL = PREFERRED_MODELS["embedding"][0]
SPEECH_MODEL = PREFERRED_MODELS["speech"][0]
VIDEO_MODEL = PREFERRED_MODELS["video"][0]
# The words that mark a cost as an upper bound in a ledger row's price_source (cached tokens priced as
# input, no cache price known): models.prices writes them, ledger.reports counts them
ESTIMATE_MARK = "an upper bound"
MODELS_CACHE = "/tmp/gradient_models_cache.json"  # the servers' model lists (env GRADIENT_MODELS_CACHE)
MODELS_MAX_AGE_HOURS = 24.0
TIMEOUT = 120.0  # seconds a read may take (env GRADIENT_TIMEOUT)
MEDIA_TIMEOUT = 300.0  # images and audio take longer
PRICING_TIMEOUT = 15.0
MAX_RETRIES = 2  # env GRADIENT_MAX_RETRIES
BATCH_MAX_RETRIES = 5  # a batch item is retried more: one failure costs one item, not the run
MAX_TIMEOUT = 86400.0  # a day: longer is a typo, and time arithmetic past it is not worth the risk
PRICING_CACHE = "/tmp/gradient_pricing_cache.json"  # env GRADIENT_PRICING_CACHE
PRICES_MAX_AGE_HOURS = 24.0
EMBED_BATCH_SIZE = 64
MESSAGES_MAX_TOKENS = 4096  # the Messages API requires max_tokens: when no answer limit is known for the model
BATCH_CONCURRENCY = 4
POLL_INTERVAL = 2.0  # fal jobs
VIDEO_POLL_INTERVAL = 5.0  # a video takes minutes
VIDEO_MAX_WAIT = 1800.0  # --max-wait of a video job: then the job keeps running, and `fetch ID` picks it up
VIDEO_KEPT_HOURS = 2.0  # DigitalOcean keeps a finished video this long (do-platform-2026-12.md)
AUDIO_SECONDS = 10.0  # seconds_total of a fal text-to-audio job when --seconds is not given
BATCH_POLL_INTERVAL = 30.0  # the Batch API
BATCH_MAX_WAIT = 86400.0  # --wait at most the Batch API's window, 24 h
MODEL_TYPES = ("chat", "embedding", "image", "speech", "transcription", "audio", "video", "router", "reranking",
               "unknown")
MODEL_CAPABILITIES = ("vision", "tools", "reasoning", "prompt_caching", "batch")


def env_default(name: str, fallback):
    """The variable's value when it is set and not blank, else the fallback."""
    value = os.environ.get(name, "").strip()
    return value if value else fallback


def model_choice(kind: str, given: str | None) -> tuple:
    """(the model a call of this type uses, whether the user chose it): the flag, else the type's
    variable (GRADIENT_MODEL, GRADIENT_IMAGE_MODEL...), else the type's default, which is not pinned
    and so is checked against the server's list before it is sent."""
    chosen = given or env_default(MODEL_VARS[kind], None)
    return (chosen, True) if chosen else (PREFERRED_MODELS[kind][0], False)


def chat_model(given: str | None) -> str:
    """The model a chat or batch call uses: the flag, else GRADIENT_MODEL, else CHAT_MODEL."""
    return model_choice("chat", given)[0]
