"""Every default the commands share, each in one place: models, timeouts, retries, the pricing
cache, batch sizes, and the variables that override them.

Belongs here: default values and env_default(), the one reader of a default's variable. Does not
belong here: checking what the user set (core.settings) or the flags themselves (core.cli).
"""
from __future__ import annotations

import os

CHAT_MODEL = "openai-gpt-oss-120b"  # chat and batch (env GRADIENT_MODEL)
IMAGE_MODEL = "openai-gpt-image-1"  # env GRADIENT_IMAGE_MODEL
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
BATCH_POLL_INTERVAL = 30.0  # the Batch API
BATCH_MAX_WAIT = 86400.0  # --wait at most the Batch API's window, 24 h
MODEL_TYPES = ("chat", "embedding", "image", "speech", "transcription", "audio", "video", "unknown")
MODEL_CAPABILITIES = ("vision", "tools", "reasoning", "prompt_caching", "batch")


def env_default(name: str, fallback):
    """The variable's value when it is set and not blank, else the fallback."""
    value = os.environ.get(name, "").strip()
    return value if value else fallback


def chat_model(given: str | None) -> str:
    """The model a chat or batch call uses: the flag, else GRADIENT_MODEL, else CHAT_MODEL."""
    return given or env_default("GRADIENT_MODEL", CHAT_MODEL)
