"""The DigitalOcean API (the control plane, https://api.digitalocean.com): a client that carries
the DigitalOcean API token, for the model catalog, routers and the prepaid balance. The token can
do far more than inference, so it goes only over https, or to this machine.

Belongs here: finding the token and making the client. Does not belong here: what is asked of it
(models.catalog, models.routers, ledger.balance).
"""
from __future__ import annotations

import os

from gradient_inference.api.client import Client
from gradient_inference.core.errors import GradientError
from gradient_inference.core.providers import DEFAULT_PROVIDER, PROVIDERS, TOKEN_VARS
from gradient_inference.core.settings import Settings, check_base_url, check_key
from gradient_inference.core.urls import is_loopback_url, target

DEFAULT_API = "https://api.digitalocean.com"


def control_token(environ=None) -> str | None:
    environ = os.environ if environ is None else environ
    return next((environ[name].strip() for name in TOKEN_VARS if environ.get(name, "").strip()), None)


def control_client(timeout: float, max_retries: int, verbose: bool, scope: str = "genai:read"):
    """A client for the DigitalOcean API (DIGITALOCEAN_API_URL in tests) with the API token."""
    token = control_token()
    if token is None:
        raise GradientError("config", f"no DigitalOcean API token: set {TOKEN_VARS[0]} (scope {scope})")
    try:
        base = check_base_url(os.environ.get("DIGITALOCEAN_API_URL", "").strip() or DEFAULT_API)
    except ValueError as exc:
        raise GradientError("config", f"DIGITALOCEAN_API_URL: {exc}") from None
    if target(base).scheme == "http" and not is_loopback_url(base):
        raise GradientError("config", "DIGITALOCEAN_API_URL is plain http to another host: the DigitalOcean API "
                            "token (which can do far more than inference) goes only over https, or to this machine",
                            hint="use an https:// URL, or unset DIGITALOCEAN_API_URL")
    settings = Settings(base, check_key(token, TOKEN_VARS[0] if os.environ.get(TOKEN_VARS[0]) else TOKEN_VARS[1]),
                        DEFAULT_PROVIDER, PROVIDERS[DEFAULT_PROVIDER], timeout, max_retries, verbose)
    return Client(settings)
