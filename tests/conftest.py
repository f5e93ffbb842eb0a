"""Isolation for every test: no real key, a temporary HOME and pricing cache,
no proxies; plus the fake API server and a helper to run scripts as processes."""
from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakeapi import FakeAPI  # noqa: E402

from gradient_inference.core import cli as core_cli  # noqa: E402
from gradient_inference.core.settings import resolve_settings  # noqa: E402

# The commands are the console scripts pyproject.toml installs; every other module is shared code.
COMMANDS = sorted(set(re.findall(r'^gradient-[a-z]+ = "(gradient_[a-z]+):main"$',
                                 (ROOT / "pyproject.toml").read_text(), re.M)))

# DigitalOcean's OpenAPI description: the workplace's copy, else the one vendored in tests/contracts.
DO_SPEC = next((path for path in (ROOT.parent / "shared" / "contracts" / "do-inference-openapi.yaml",
                                  ROOT / "tests" / "contracts" / "do-inference-openapi.yaml") if path.exists()))
# The paths DigitalOcean added after that description (video, speech, the prepaid balance, catalog filters).
DO_ADDITIONS = next((path for path in (
    ROOT.parent / "shared" / "contracts" / "do-inference-openapi-2026-12-additions.yaml",
    ROOT / "tests" / "contracts" / "do-inference-openapi-2026-12-additions.yaml") if path.exists()))

FAKE_KEY = "sk-do-FAKEKEY-7c1e9b4d2a-never-print-me"
ISOLATED_PREFIXES = ("GRADIENT_", "DIGITALOCEAN_", "VULTR_", "GITEE_", "OPENDATASKY_")
ISOLATED_NAMES = ("MODEL_ACCESS_KEY", "http_proxy", "https_proxy", "all_proxy",
                  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GRADIENT_PRICING_CACHE", str(tmp_path / "pricing_cache.json"))
    monkeypatch.setenv("GRADIENT_MODELS_CACHE", str(tmp_path / "models_cache.json"))
    monkeypatch.setenv("GRADIENT_USAGE_DB", str(tmp_path / "usage.db"))
    monkeypatch.setenv("GRADIENT_PRICING_URL", "http://127.0.0.1:9/no-pricing-page-in-tests")
    return home


def seed_model_list(url: str, ids) -> None:
    """The model list cache as a run earlier today left it for the server at `url`."""
    from gradient_inference.models import served

    served.remember(url, [{"id": model_id, "owned_by": "digitalocean", "created": None} for model_id in ids])


@pytest.fixture
def api():
    """The fake server, known (from a list seen earlier today) to serve every default model, so that
    a command's default is sent without asking; tests/models/test_served.py tests the asking."""
    from gradient_inference.core.defaults import PREFERRED_MODELS

    server = FakeAPI().start()
    seed_model_list(server.url, [ids[0] for ids in PREFERRED_MODELS.values()])
    yield server
    server.stop()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current folder of the test's own, for scripts that write files."""
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def keyed(monkeypatch):
    """A distinctive fake key in the environment; tests assert it never shows."""
    monkeypatch.setenv("GRADIENT_API_KEY", FAKE_KEY)
    return FAKE_KEY


def parse_common(*argv, **kwargs) -> argparse.Namespace:
    """The common flags parsed as a script would parse them."""

    parser = argparse.ArgumentParser()
    core_cli.add_common_args(parser, **kwargs)
    return parser.parse_args(list(argv))


def settings_from(args: argparse.Namespace):
    """The settings a command's run module resolves from its parsed common flags."""
    return resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                            max_retries=args.max_retries, verbose=args.verbose)


def run_script(name: str, *args: str, input: bytes | str | None = None, env: dict | None = None,
               timeout: float = 60, stdin=None) -> subprocess.CompletedProcess:
    """Run scripts/NAME.py as a real process with the (isolated) environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONIOENCODING"] = "utf-8"
    if isinstance(input, str):
        input = input.encode()
    kwargs = {"input": input} if input is not None else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
    return subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *args], capture_output=True,
                          env=full_env, timeout=timeout, **kwargs)


@pytest.fixture
def script():
    return run_script


def read_all(fd: int) -> bytes:
    """Everything a pseudo-terminal's leader gets until the child closes its side, then closed."""
    received = b""
    while True:
        try:
            piece = os.read(fd, 65536)
        except OSError:  # EIO: the child side is closed
            break
        if not piece:
            break
        received += piece
    os.close(fd)
    return received


def tiny_png(width: int = 1, height: int = 1) -> bytes:
    """A real, valid PNG of one colour."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
