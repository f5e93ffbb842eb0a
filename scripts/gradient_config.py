"""Command lines and settings: the parser every command builds, the common flags and their
environment defaults, the key and the base URL, and the settings a client is made from.

Belongs here: argparse types and formatting, checking what the user configured (a key that an
HTTP header can carry, a base URL without credentials, what counts as loopback). Does not belong
here: printing and errors (gradient_common) or sending anything (gradient_http).
"""
from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from collections import namedtuple

from gradient_common import (DEFAULT_PROVIDER, PROVIDERS, GradientError, __version__, key_file_path,
                             key_file_text, warn, why)

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
MAX_TIMEOUT = 86400.0  # a day: longer is a typo, and time arithmetic past it is not worth the risk
KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what an HTTP header carries as is

Settings = namedtuple("Settings", "base_url api_key provider_name provider timeout max_retries verbose "
                                  "max_tokens_field", defaults=("max_completion_tokens",))


# ---------------------------------------------------------------- command lines

class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written; the width asked of the terminal through os, not shutil, whose
    import (with bz2 and lzma) would cost more than the rest of `--help`."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS", "")) - 2
            except ValueError:
                try:
                    width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
                except (OSError, ValueError, AttributeError):
                    width = 78
        super().__init__(prog, indent_increment, max_help_position, max(width, 40))

    def _split_lines(self, text, width):
        """Greedy word wrap of one help string: what textwrap would do for these plain strings,
        without importing and compiling it on every `--help`."""
        lines, line = [], ""
        for word in text.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        return lines + [line] if line else lines


def command_parser(doc: str, **kwargs) -> argparse.ArgumentParser:
    """A command's parser from its docstring: the text before `examples:` describes it, the
    examples close its --help."""
    description, _, examples = doc.partition("examples:")
    return argparse.ArgumentParser(description=description.strip(), epilog="examples:" + examples,
                                   formatter_class=HelpFormatter, **kwargs)


def number_in_range(low: float, high: float, *, open_low: bool = False):
    """An argparse type: a finite number from `low` to `high` (above `low` if open_low)."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (low < value <= high if open_low else low <= value <= high):  # NaN fails too
            bounds = f"above {low:g} and at most {high:g}" if open_low else f"between {low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bounds}")
        return value
    return convert


positive_float = number_in_range(0, MAX_TIMEOUT, open_low=True)


def int_in_range(low: int, high: int | None = None):
    """An argparse type: a whole number from `low` (to `high`)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bounds}")
        return value
    return convert


def words(values: list) -> list:
    """Flag values split into words: `--filter "meta 70b"` means what `--filter meta 70b` does."""
    return [word for value in values for word in value.split()]


def env_default(name: str, fallback):
    value = os.environ.get(name, "").strip()
    return value if value else fallback


def add_common_args(parser: argparse.ArgumentParser, default_timeout: float = DEFAULT_TIMEOUT,
                    needs_key: bool = True) -> None:
    """The flags every script shares. Defaults come from the environment; argparse checks them."""
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (errors as JSON on stderr)")
    parser.add_argument("--version", action="version", version=f"gradient-inference {__version__}")
    group = parser.add_argument_group("connection")
    if needs_key:
        group.add_argument("--provider", choices=sorted(PROVIDERS),
                           help="preset base URL, key variable and max-tokens field "
                                f"(default: {DEFAULT_PROVIDER})")
        group.add_argument("--base-url", type=base_url_arg,
                           help="API base URL (env GRADIENT_BASE_URL; default "
                                f"{PROVIDERS[DEFAULT_PROVIDER].base_url}); a loopback URL needs no key")
    group.add_argument("--timeout", type=positive_float,
                       default=env_default("GRADIENT_TIMEOUT", default_timeout),
                       help="read timeout in seconds, at most a day (env GRADIENT_TIMEOUT; default %(default)s)")
    group.add_argument("--max-retries", type=int_in_range(0, 10),
                       default=env_default("GRADIENT_MAX_RETRIES", DEFAULT_MAX_RETRIES),
                       help="retries on 408/409/429/5xx, connection errors and timeouts, 0-10 "
                            "(env GRADIENT_MAX_RETRIES; 0 disables; default %(default)s)")
    if needs_key:
        group.add_argument("--no-log", action="store_true",
                           help="keep this call out of the usage ledger (env GRADIENT_NO_LOG=1)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="log each request, its status, time and retries on stderr (key redacted)")


def add_budget_args(parser: argparse.ArgumentParser) -> None:
    """--max-cost, --daily-budget and --allow-unpriced, for the scripts whose calls cost money."""
    group = parser.add_argument_group("budget")
    group.add_argument("--max-cost", type=number_in_range(0, 1e6, open_low=True), metavar="USD",
                       help="refuse (nothing sent) when this call could cost more, at its worst")
    group.add_argument("--daily-budget", type=number_in_range(0, 1e6, open_low=True), metavar="USD",
                       default=env_default("GRADIENT_DAILY_BUDGET_USD", None),
                       help="refuse when today's recorded spend (UTC) plus this call could pass it "
                            "(env GRADIENT_DAILY_BUDGET_USD)")
    group.add_argument("--allow-unpriced", action="store_true",
                       help="under a budget, still send a call whose cost cannot be estimated")


# ---------------------------------------------------------------- base URL

def is_loopback_url(url: str) -> bool:
    """A loopback host: an address in 127.0.0.0/8 or ::1, or exactly localhost or *.localhost.
    A name that merely starts with 127. (127.0.0.1.example.com) is someone else's host."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise ValueError saying what is wrong
    (in words that never repeat a password)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- a bad port raises here
    except ValueError:
        raise ValueError("the base URL is not a valid URL; try https://inference.do-ai.run/v1") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("the base URL holds credentials (user:password@), which would replace the API key "
                         "without a word; put the key in GRADIENT_API_KEY and leave them out of the URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url.strip()!r} is not an http(s) URL; try https://inference.do-ai.run/v1")
    return url.strip().rstrip("/")


def base_url_arg(text: str) -> str:
    try:
        return check_base_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------- the key

def check_key(key: str, source: str) -> str:
    """A key an HTTP header can carry, or a config error naming where it came from, never the key."""
    if KEY_CHARACTERS.fullmatch(key):
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


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Base URL, key and provider from flags, then environment, then the provider preset."""
    from urllib.parse import urlsplit

    provider_name = getattr(args, "provider", None) or DEFAULT_PROVIDER
    provider = PROVIDERS[provider_name]
    base_url = getattr(args, "base_url", None)
    if not base_url and not getattr(args, "provider", None) and os.environ.get("GRADIENT_BASE_URL", "").strip():
        try:
            base_url = check_base_url(os.environ["GRADIENT_BASE_URL"])
        except ValueError as exc:
            raise GradientError("config", f"GRADIENT_BASE_URL: {exc}") from None
    user_url = bool(base_url)
    base_url = base_url or provider.base_url
    if user_url and not urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        warn(f"base URL {base_url} does not end in /v1; requests go to {base_url}/...")
    api_key = resolve_api_key(provider)
    loopback = is_loopback_url(base_url)
    if api_key is None and not loopback:
        raise GradientError("config", f"no API key: set {provider.key_vars[0]}", hint=provider.key_help)
    if api_key and urlsplit(base_url).scheme == "http" and not loopback:
        warn(f"the API key is sent over plain http to {urlsplit(base_url).hostname}")
    # local servers (llama.cpp, vLLM, Ollama) honour max_tokens; llama-cpp-python ignores the newer field
    local = loopback and not getattr(args, "provider", None)
    return Settings(base_url, api_key, provider_name, provider, args.timeout, args.max_retries, args.verbose,
                    "max_tokens" if local else provider.max_tokens_field)
