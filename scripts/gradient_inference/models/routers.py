"""DigitalOcean's Inference Router: a `router:NAME` model id that picks a model per call. The
answer's `model`, else the `x-model-router-selected-route` header, names the pick, which is what
the call is priced at; a router's candidate models come from the control plane
(GET /v2/gen-ai/models/routers, with a DigitalOcean API token).

Belongs here: what a router id means, reading the pick, and reading routers and their candidates.
Does not belong here: the worst case of a call (models.budget) or prices (models.prices).
"""
from __future__ import annotations

import re

from gradient_inference.api.control import control_client, control_token
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.core.text import one_line

PREFIX = "router:"
PICK_HEADER = "x-model-router-selected-route"
ROUTERS_PATH = "v2/gen-ai/models/routers"
PER_PAGE, MAX_PAGES = 100, 20
MODEL_ID = r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}"  # what a pick must look like to be believed (compiled on first use)
NO_CANDIDATES = ("the router's candidate models are not known (DIGITALOCEAN_ACCESS_TOKEN lets the suite read them "
                 "from the control plane)")


def is_router(model_id) -> bool:
    return isinstance(model_id, str) and model_id.startswith(PREFIX)


def plausible(value) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(MODEL_ID, value) and not is_router(value) else None


def picked_model(requested: str, answered, headers) -> str | None:
    """The model a router call was served by: the answer's model when it names one (not the
    router itself), else the response header; None for a call that was not to a router, or when
    neither says."""
    if not is_router(requested):
        return None
    return plausible(answered) or plausible((headers or {}).get(PICK_HEADER))


def model_names(values) -> list:
    """Model ids from a router's list: strings, or objects with model_id, id or name."""
    found = []
    for value in values if isinstance(values, list) else []:
        if isinstance(value, dict):
            value = next((value[k] for k in ("model_id", "id", "name") if isinstance(value.get(k), str)), None)
        value = plausible(value)
        if value and value not in found:
            found.append(value)
    return found


def parse_routers(document) -> list:
    """[{name, id (router:NAME), uuid, candidates}] from GET /v2/gen-ai/models/routers: each
    router's fallback models and every policy's models."""
    items = document.get("model_routers") or document.get("routers") or document.get("data") \
        if isinstance(document, dict) else None
    routers = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            continue
        name = one_line(item["name"].strip(), 120)
        candidates = model_names(item.get("fallback_models"))
        for policy in item.get("policies") if isinstance(item.get("policies"), list) else []:
            if isinstance(policy, dict):
                candidates += [m for m in model_names(policy.get("models")) if m not in candidates]
        routers.append({"name": name, "id": PREFIX + name,
                        "uuid": item["uuid"] if isinstance(item.get("uuid"), str) else None,
                        "candidates": candidates})
    return routers


def fetch_routers(timeout: float, max_retries: int, verbose: bool) -> list:
    """Every router of the account (pages of PER_PAGE), with a DigitalOcean API token."""
    client = control_client(timeout, max_retries, verbose)
    routers = []
    for page in range(1, MAX_PAGES + 1):  # until a page is short, or adds nothing new
        document, _ = client.get_json(f"{ROUTERS_PATH}?page={page}&per_page={PER_PAGE}")
        found = parse_routers(document)
        fresh = [r for r in found if r["id"] not in {seen["id"] for seen in routers}]
        routers += fresh
        if len(found) < PER_PAGE or not fresh:
            break
    return routers


def candidates_of(model_id: str, timeout: float, max_retries: int, verbose: bool) -> list | None:
    """A router's candidate models, or None when they cannot be read (no token: quietly; a failure
    or an unknown router: with a warning)."""
    if control_token() is None:
        return None
    try:
        routers = fetch_routers(timeout, max_retries, verbose)
    except GradientError as error:
        warn(f"the routers could not be read ({error.message}); {model_id} is treated as unpriced")
        return None
    router = next((r for r in routers if r["id"] == model_id), None)
    if router is None or not router["candidates"]:
        warn(f"{model_id} is not among the account's routers" if router is None else
             f"{model_id} names no candidate models")
        return None
    return router["candidates"]


class KnownCandidates:
    """Routers' candidates for a run of many calls (a batch): each router read once, and only when
    `wanted` (under a budget: nothing else needs them). Called with a model id from any thread."""

    def __init__(self, settings, wanted: bool):
        import threading  # here: only a batch shares one among threads, and the pricing command never does

        self.settings, self.wanted, self.found, self.lock = settings, wanted, {}, threading.Lock()

    def __call__(self, model_id: str) -> list | None:
        with self.lock:
            if model_id not in self.found:
                self.found[model_id] = candidates_of(model_id, self.settings.timeout, self.settings.max_retries,
                                                     self.settings.verbose) if self.wanted else None
            return self.found[model_id]
