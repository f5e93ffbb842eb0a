"""Settings: what the user configured, checked (a key an HTTP header can carry, a base URL without
credentials that every parser reads alike), and the settings a client is made from.

Belongs here: resolving the base URL, key and provider from flags, environment and presets.
Does not belong here: the flags (core.cli) or sending anything (api.client).
"""
from __future__ import annotations

import os
import re
import stat
from collections import namedtuple

from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.output import warn
from gradient_inference.core.paths import why
from gradient_inference.core.providers import DEFAULT_PROVIDER, PROVIDERS, key_file_path, key_file_text
from gradient_inference.core.urls import is_loopback_url, target

KEY_CHARACTERS = r"[\x21-\x7e]+"  # visible ASCII: what an HTTP header carries as is
Settings = namedtuple("Settings", "base_url api_key provider_name provider timeout max_retries verbose "
                                  "max_tokens_field", defaults=("max_completion_tokens",))


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise ValueError saying what is wrong
    (in words that never repeat a password)."""
    try:
        scheme, userinfo, host, _, _ = target(url.strip())
    except ValueError as exc:
        raise ValueError(f"the base URL cannot be used: {exc}; try https://inference.do-ai.run/v1") from None
    if userinfo is not None:
        raise ValueError("the base URL holds credentials (user:password@), which would replace the API key "
                         "without a word; put the key in GRADIENT_API_KEY and leave them out of the URL")
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"{url.strip()!r} is not an http(s) URL; try https://inference.do-ai.run/v1")
    return url.strip().rstrip("/")


def check_key(key: str, source: str) -> str:
    """A key an HTTP header can carry, or a config error naming where it came from, never the key."""
    if re.fullmatch(KEY_CHARACTERS, key):
        return key
    if any(character.isspace() or ord(character) < 32 for character in key):
        problem = "white space or control characters inside it (a second line, a pasted newline or a comment?)"
    else:
        problem = "characters an HTTP header cannot carry (a curly quote or another non-ASCII character?)"
    raise GradientError("config", f"the API key in {source} has {problem}",
                        hint="keep only the key itself there, on one line")


def read_key_file(path: str) -> str | None:
    """The key in a key file, or None when there is none; warns when others can read it or when
    it cannot be read (a FIFO, a folder, a device), never blocking."""
    try:
        key = key_file_text(path)
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        warn(f"cannot read key file {path}: {why(exc)}")
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warn(f"key file {path} is readable by group or others; run: chmod 600 {path}")
    return check_key(key, f"the key file {path}") if key else None


def resolve_api_key(provider, environ=None) -> str | None:
    """First non-empty key variable of the provider, then its key file. Never prompts."""
    environ = os.environ if environ is None else environ
    for name in provider.key_vars:
        value = environ.get(name, "").strip()
        if value:
            return check_key(value, name)
    path = key_file_path(provider, environ)
    return read_key_file(path) if path else None


def resolve_settings(*, provider: str | None = None, base_url: str | None = None, timeout: float,
                     max_retries: int, verbose: bool = False) -> Settings:
    """Base URL, key and provider from the flags (provider, base_url as given), then the
    environment, then the provider's preset. A bad --base-url is a usage error; a bad
    GRADIENT_BASE_URL a config error."""
    provider_name = provider or DEFAULT_PROVIDER
    preset = PROVIDERS[provider_name]
    if base_url:
        try:
            base_url = check_base_url(base_url)
        except ValueError as exc:
            raise UsageError(f"argument --base-url: {exc}") from None
    elif not provider and os.environ.get("GRADIENT_BASE_URL", "").strip():
        try:
            base_url = check_base_url(os.environ["GRADIENT_BASE_URL"])
        except ValueError as exc:
            raise GradientError("config", f"GRADIENT_BASE_URL: {exc}") from None
    user_url = bool(base_url)
    base_url = base_url or preset.base_url
    scheme, _, host, _, path = target(base_url)
    if user_url and not path.rstrip("/").endswith("/v1"):
        warn(f"base URL {base_url} does not end in /v1; requests go to {base_url}/...")
    api_key = resolve_api_key(preset)
    loopback = is_loopback_url(base_url)
    if api_key is None and not loopback:
        raise GradientError("config", f"no API key: set {preset.key_vars[0]}", hint=preset.key_help)
    if api_key and scheme == "http" and not loopback:
        warn(f"the API key is sent over plain http to {host}")
    # local servers (llama.cpp, vLLM, Ollama) honour max_tokens; llama-cpp-python ignores the newer field
    local = loopback and not provider
    return Settings(base_url, api_key, provider_name, preset, timeout, max_retries, verbose,
                    "max_tokens" if local else preset.max_tokens_field)
