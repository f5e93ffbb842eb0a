"""Providers and their secrets: each provider's base URL, key variables and key file, and every
secret the process could print (keys of all providers, key files, the DigitalOcean API token,
variables a flag names), masked wherever text leaves the program.

Belongs here: knowing the secrets and masking them. Does not belong here: checking or sending a
key (core.settings, api.client).
"""
from __future__ import annotations

import functools
import json
import os
import time
from collections import namedtuple

from gradient_inference.core.paths import read_regular_file

MAX_KEY_FILE_BYTES = 64 * 1024
KEY_FILE_RECHECK = 0.25  # seconds: how stale masking's view of the key files may be

Provider = namedtuple("Provider", "base_url key_vars key_file_var key_file max_tokens_field key_help")

DO_KEY_HELP = ("create a model access key in the DigitalOcean control panel: "
               "Inference (Gradient AI) > Model access keys > Create")
PROVIDERS = {
    "digitalocean": Provider("https://inference.do-ai.run/v1", ("GRADIENT_API_KEY", "GRADIENT_MODEL_ACCESS_KEY",
                                                                "DIGITALOCEAN_INFERENCE_KEY", "MODEL_ACCESS_KEY"),
                             "GRADIENT_API_KEY_FILE", "~/.config/gradient/api_key", "max_completion_tokens", DO_KEY_HELP),
    "vultr": Provider("https://api.vultrinference.com/v1", ("VULTR_API_KEY",), None, "~/.config/vultr/api_key",
                      "max_tokens", "use your Vultr API key (my.vultr.com > Account > API)"),
    "gitee": Provider("https://ai.gitee.com/v1", ("GITEE_AI_API_KEY",), None, None,
                      "max_tokens", "create an API token on ai.gitee.com > API keys"),
    "opendatasky": Provider("http://server.opendatasky.com/v1/api/open-ai/ds", ("OPENDATASKY_API_KEY",), None, None,
                            "max_tokens", "use the API key from your opendatasky console"),
}
DEFAULT_PROVIDER = "digitalocean"
TOKEN_VARS = ("DIGITALOCEAN_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN")  # DigitalOcean API tokens (doctl's, pydo's names)


def key_file_path(provider: Provider, environ=None) -> str | None:
    environ = os.environ if environ is None else environ
    path = (environ.get(provider.key_file_var, "").strip() if provider.key_file_var else "") or provider.key_file
    return os.path.expanduser(path) if path else None


def key_file_text(path: str) -> str:
    """The stripped text of a key file (a regular file, read without blocking); OSError if not."""
    try:
        return read_regular_file(path, MAX_KEY_FILE_BYTES).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise OSError("it is not UTF-8 text") from None


@functools.lru_cache(maxsize=8)
def _secrets(values: tuple, files: tuple) -> tuple:
    found = [value for value in values if value]
    for path, _ in files:
        try:
            text = key_file_text(path)
        except OSError:
            continue
        found += [text] + text.split()  # a key file with a comment line: each word is masked too
    secrets = {s for s in found if len(s) >= 8}
    escaped = {json.dumps(s)[1:-1] for s in secrets}  # as it stands inside JSON text
    return tuple(sorted(secrets | escaped, key=len, reverse=True))


MASKED_AT_RUN_TIME = []  # variables a flag names (--mcp-auth-env): the one list that grows, by also_mask()


def also_mask(variable: str) -> None:
    MASKED_AT_RUN_TIME.append(variable)


def known_secrets() -> tuple:
    """Every key the process could have sent: all providers' variables and key files (read
    without blocking, and again only when a file changes), longest first. Gathered again only when
    a variable that names or locates one changes, or (for the key files) every KEY_FILE_RECHECK
    seconds: masking costs the same small amount per streamed delta, however many there are."""
    return gathered(environ_fingerprint(), int(time.monotonic() / KEY_FILE_RECHECK))


def secret_variables() -> list:
    return [name for provider in PROVIDERS.values() for name in provider.key_vars] + [*TOKEN_VARS, *MASKED_AT_RUN_TIME]


@functools.lru_cache(maxsize=8)
def watched_keys(count: int) -> tuple:
    """The environment's own keys of every variable masking depends on (the secrets, the key
    files' variables, HOME), as os.environ stores them; `count` is how many --mcp-auth-env added."""
    names = secret_variables() + [p.key_file_var for p in PROVIDERS.values() if p.key_file_var] + ["HOME"]
    encode = getattr(os.environ, "encodekey", None)
    return tuple(encode(name) if encode else name for name in names)


def environ_fingerprint() -> tuple:
    """The raw values of the watched variables: plain lookups in the mapping behind os.environ
    (os.environ.get would encode and decode each one, every delta), or os.environ where it has none."""
    keys = watched_keys(len(MASKED_AT_RUN_TIME))
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and getattr(os.environ, "encodekey", None):
        return tuple(map(data.get, keys))
    return tuple(os.environ.get(key) for key in keys)


@functools.lru_cache(maxsize=4)
def gathered(fingerprint: tuple, tick: int) -> tuple:
    """known_secrets() for one state of the environment and one tick of the key-file clock."""
    values = tuple(os.environ.get(name, "").strip() for name in secret_variables())
    files = []
    for provider in PROVIDERS.values():
        path = key_file_path(provider)
        try:
            info = os.stat(path) if path else None
        except OSError:
            info = None
        if info is not None:
            files.append((path, (info.st_mtime_ns, info.st_size, info.st_ino)))
    return _secrets(values, tuple(files))


def mask(text: str) -> str:
    for secret in known_secrets():
        text = text.replace(secret, "***")
    return text


def secret_start(text: str) -> int:
    """Where a possible secret begins at the end of streamed text (len(text) if none): the
    text from there may be a key split across chunks and must wait for the next one."""
    start = len(text)
    for secret in known_secrets():
        position = text.rfind(secret[0], max(len(text) - len(secret) + 1, 0))
        while position >= 0:
            if secret.startswith(text[position:]):
                start = min(start, position)
            position = text.rfind(secret[0], max(len(text) - len(secret) + 1, 0), position)
    return start
