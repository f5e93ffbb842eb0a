"""What a server serves now: its model list (GET /models), kept 24 hours in one cache file per
user for every base URL, the answer limits its entries announce, the default model of a type
checked against it before it is sent, and the hint of a 404 for a model it does not list.

Belongs here: the live list of model ids and decisions made on it. Does not belong here: the
defaults themselves (core.defaults), offline knowledge of ids (models.known) or the catalog and
prices (models.catalog, models.prices).
"""
from __future__ import annotations

import contextlib
import json
import os
import time

from gradient_inference.core import defaults
from gradient_inference.core.clock import iso_utc, parse_time
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import log, warn
from gradient_inference.core.paths import read_regular_file, why, write_json_atomic
from gradient_inference.core.text import one_line
from gradient_inference.models.known import describe_model

SCHEMA_VERSION = 1
MAX_CACHE_BYTES = 8 << 20
MAX_SERVERS = 16  # base URLs kept in the cache; the oldest go first
SHOWN_IDS = 12  # ids named in a refusal or a hint
FAILS_SILENTLY = ("not_found",)  # a server without a model list (some local servers): nothing to check against


# ---------------------------------------------------------------- pure helpers


def whole(value) -> int | None:
    """A positive integer field of an entry (an int or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value < 10**9 else None


def parse_models(document) -> list:
    """The `data` list of an OpenAI model list, checked and normalised, sorted by id: each entry's
    id, owner and creation time, and the answer limit and context length a server may add."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise GradientError("invalid_response", "the model list has no `data` array")
    models = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise GradientError("invalid_response", "a model in the list has no string `id`")
        created = entry.get("created")
        model = {"id": entry["id"],
                 "owned_by": entry.get("owned_by") if isinstance(entry.get("owned_by"), str) else None,
                 "created": created if isinstance(created, int) and not isinstance(created, bool) else None}
        for field in ("max_output_tokens", "context_length"):
            if whole(entry.get(field)):
                model[field] = whole(entry.get(field))
        models.append(model)
    return sorted(models, key=lambda model: model["id"])


def ids_of_type(models: list, kind: str, rows: list | None = None) -> list:
    """The listed ids of one type, by the catalog's rows where given, else the bundled table."""
    return [m["id"] for m in models if describe_model(m["id"], rows)["type"] == kind]


def named(ids: list) -> str:
    shown = ", ".join(one_line(i, 80) for i in ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


# ---------------------------------------------------------------- the cache


def cache_path() -> str:
    return defaults.env_default("GRADIENT_MODELS_CACHE", defaults.MODELS_CACHE)


def read_cache(path: str) -> dict:
    """{base URL: {"fetched_at", "models"}} from the cache, only when it is a regular file of ours
    (never a FIFO, a link or another user's file) and valid; {} otherwise (a word on stderr when
    something is planted there)."""
    try:
        data = read_regular_file(path, MAX_CACHE_BYTES, follow_links=False, own=True)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        warn(f"ignoring the model list cache {path}: {'it is a symlink' if os.path.islink(path) else why(exc)}")
        return {}
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    servers = document.get("servers") if isinstance(document, dict) and \
        document.get("schema_version") == SCHEMA_VERSION else None
    if not isinstance(servers, dict):
        return {}
    kept = {}
    for base, entry in servers.items():
        if isinstance(entry, dict) and parse_time(entry.get("fetched_at")) is not None:
            try:
                kept[base] = {"fetched_at": entry["fetched_at"], "models": parse_models(entry)}
            except GradientError:
                continue
    return kept


def read_quirks(path: str) -> dict:
    """{base URL: {quirk: when it was seen}}: what servers were seen to do, kept with their lists."""
    try:
        document = json.loads(read_regular_file(path, MAX_CACHE_BYTES, follow_links=False, own=True))
    except (OSError, ValueError, RecursionError):
        return {}
    quirks = document.get("quirks") if isinstance(document, dict) else None
    return {base: {k: v for k, v in seen.items() if isinstance(v, str) and parse_time(v) is not None}
            for base, seen in (quirks.items() if isinstance(quirks, dict) else ()) if isinstance(seen, dict)}


def save(path: str, servers: dict, quirks: dict) -> None:
    """The cache document written atomically: the newest MAX_SERVERS lists and their servers' quirks."""
    newest = sorted(servers, key=lambda base: parse_time(servers[base]["fetched_at"]) or 0)[-MAX_SERVERS:]
    document = {"schema_version": SCHEMA_VERSION,
                "servers": {base: {"fetched_at": servers[base]["fetched_at"], "data": servers[base]["models"]}
                            for base in newest},
                "quirks": dict(list(quirks.items())[-MAX_SERVERS:])}
    try:
        write_json_atomic(path, document, indent=None)
    except OSError as exc:
        log(f"could not write the model list cache {path}: {why(exc)}")


def remember(base_url: str, models: list, now: float | None = None) -> None:
    """Put a server's list in the cache (atomically); failure only says so with --verbose."""
    path = cache_path()
    servers = read_cache(path)
    servers[base_url] = {"fetched_at": iso_utc(time.time() if now is None else now), "models": models}
    save(path, servers, read_quirks(path))


def remember_quirk(base_url: str, quirk: str) -> None:
    """What a server was seen to do (it ignores response_format, say), kept a day like its list."""
    path = cache_path()
    quirks = read_quirks(path)
    quirks.setdefault(base_url, {})[quirk] = iso_utc(time.time())
    save(path, read_cache(path), quirks)


def has_quirk(base_url: str, quirk: str, now: float | None = None) -> bool:
    """Whether the server was seen doing it within the day. Never a request."""
    seen = parse_time(read_quirks(cache_path()).get(base_url, {}).get(quirk))
    age = (time.time() if now is None else now) - (seen or 0)
    return seen is not None and -3600 < age < defaults.MODELS_MAX_AGE_HOURS * 3600


def fresh_list(base_url: str, now: float | None = None) -> list | None:
    """The server's cached list when it is younger than a day, else None."""
    entry = read_cache(cache_path()).get(base_url)
    if entry is None:
        return None
    age = (time.time() if now is None else now) - parse_time(entry["fetched_at"])
    return entry["models"] if -3600 < age < defaults.MODELS_MAX_AGE_HOURS * 3600 else None


def cached_entry(model_id: str) -> dict | None:
    """A model's entry in any server's cached list, the newest first (for the answer limit a
    server announces), or None. Never a request."""
    servers = read_cache(cache_path())
    for base in sorted(servers, key=lambda b: parse_time(servers[b]["fetched_at"]) or 0, reverse=True):
        found = next((m for m in servers[base]["models"] if m["id"] == model_id), None)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------- the request


def fetch_list(client) -> list:
    """GET /models, parsed, and remembered for a day."""
    document, _ = client.get_json("models")
    models = parse_models(document)
    remember(client.settings.base_url, models)
    return models


def listed_models(client) -> tuple:
    """(the server's models, from the day's cache or asked now, or None; why there is none or
    None). Errors that the call itself would meet (a bad key, a refused token, a server that cannot be
    reached) are raised."""
    models = fresh_list(client.settings.base_url)
    if models is not None:
        return models, None
    try:
        return fetch_list(client), None
    except GradientError as error:
        if error.type in ("auth", "config", "permission", "connection"):  # the call would meet them too
            raise
        return None, error


def choose_default(client, kind: str, model: str, pinned: bool) -> str:
    """The model to send for a type. A model the user chose is sent as it is. The type's default is
    sent only when the server lists it; else the first listed of the type's preferred models,
    said on stderr with how to pin one; else a refusal naming the ids of that type it lists. A
    server without a model list gets the default (said with --verbose); one whose list cannot be
    read now gets it with a warning."""
    if pinned:
        return model
    models, problem = listed_models(client)
    variable = defaults.MODEL_VARS[kind]
    if models is None:
        if problem.type in FAILS_SILENTLY:
            log(f"the server has no model list; sending the default {kind} model {model}") \
                if client.settings.verbose else None
        else:
            warn(f"could not check that the default {kind} model {model} is still served ({problem.message}); "
                 f"sending it (--model or {variable} pins one)")
        return model
    listed = {m["id"] for m in models}
    if model in listed:
        return model
    stand_in = next((m for m in defaults.PREFERRED_MODELS[kind] if m in listed), None)
    if stand_in is not None:
        warn(f"the default {kind} model {model} is not served any more; using {stand_in} "
             f"(pin a model with --model or {variable})")
        return stand_in
    same_type = ids_of_type(models, kind)
    raise GradientError("not_found", f"the default {kind} model {model} is not served any more, nor any other "
                        f"this suite prefers ({', '.join(defaults.PREFERRED_MODELS[kind][1:])})",
                        hint=(f"pick one with --model or {variable}: {named(same_type)}" if same_type else
                              f"pick one with --model or {variable}; gradient_models.py lists what the server serves"))


@contextlib.contextmanager
def unknown_model_hint(client, kind: str, model: str):
    """A 404 inside names the listed ids of the model's type when the server does not list the
    model (a 404 for a listed model is about the path, and keeps its hint)."""
    try:
        yield
    except GradientError as error:
        if error.status != 404:
            raise
        try:
            models, _ = listed_models(client)
        except GradientError:
            models = None
        if models is not None and model not in {m["id"] for m in models}:
            same_type = ids_of_type(models, kind)
            error.hint = (f"{model} is not served here; current {kind} models: {named(same_type)} "
                          f"(gradient_models.py --type {kind} lists them)" if same_type
                          else f"{model} is not served here; gradient_models.py lists what is")
        raise
