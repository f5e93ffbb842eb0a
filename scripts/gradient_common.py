"""What every gradient-inference command needs, and nothing more: providers, the key and base
URL, settings and the common flags, errors and exit codes, `run()`, and printing.

Belongs here: configuration, the error type and exit codes, and the output functions every
user-visible line goes through. Does not belong here: HTTP (gradient_http), local files
(gradient_files), jobs (gradient_jobs), prices (gradient_prices). This module imports no other
gradient module and nothing slow, so `--help` starts fast.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
from collections import namedtuple

__version__ = "0.2.0"

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130  # 2, usage errors, is argparse's own

ERROR_TYPES = (
    "config", "auth", "permission", "not_found", "bad_request", "rate_limit",
    "server", "timeout", "connection", "invalid_response", "parse", "io",
)

Provider = namedtuple("Provider", "base_url key_vars key_file_var key_file max_tokens_field key_help")

DO_KEY_HELP = (
    "create a model access key in the DigitalOcean control panel: "
    "Inference (Gradient AI) > Model access keys > Create"
)
PROVIDERS = {
    "digitalocean": Provider(
        "https://inference.do-ai.run/v1",
        ("GRADIENT_API_KEY", "GRADIENT_MODEL_ACCESS_KEY", "DIGITALOCEAN_INFERENCE_KEY", "MODEL_ACCESS_KEY"),
        "GRADIENT_API_KEY_FILE", "~/.config/gradient/api_key",
        "max_completion_tokens", DO_KEY_HELP,
    ),
    "vultr": Provider(
        "https://api.vultrinference.com/v1", ("VULTR_API_KEY",),
        None, "~/.config/vultr/api_key",
        "max_tokens", "use your Vultr API key (my.vultr.com > Account > API)",
    ),
    "gitee": Provider(
        "https://ai.gitee.com/v1", ("GITEE_AI_API_KEY",), None, None,
        "max_tokens", "create an API token on ai.gitee.com > API keys",
    ),
    "opendatasky": Provider(
        "http://server.opendatasky.com/v1/api/open-ai/ds", ("OPENDATASKY_API_KEY",), None, None,
        "max_tokens", "use the API key from your opendatasky console",
    ),
}
DEFAULT_PROVIDER = "digitalocean"

Settings = namedtuple("Settings", "base_url api_key provider_name provider timeout max_retries verbose "
                                  "max_tokens_field", defaults=("max_completion_tokens",))


class GradientError(Exception):
    """A failure reported to the user as one line (or one JSON object) and exit 1."""

    def __init__(self, type_: str, message: str, *, status: int | None = None,
                 request_id: str | None = None, hint: str | None = None):
        if type_ not in ERROR_TYPES:  # the documented set is a contract with --json users
            raise ValueError(f"undocumented error type {type_!r}")
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status
        self.request_id = request_id
        self.hint = hint

    def to_dict(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, "status": self.status,
                          "request_id": self.request_id, "hint": self.hint}}

    def to_line(self) -> str:
        line = f"error: {self.message}"
        if self.request_id:
            line += f" (request id {self.request_id})"
        if self.hint:
            line += f"; hint: {self.hint}"
        return line


class UsageError(Exception):
    """Bad input found after argument parsing; main() hands it to parser.error (exit 2)."""


# ---------------------------------------------------------------- pure helpers

def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace and drop control characters so server text fits one line."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise ValueError saying what is wrong."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL; try https://inference.do-ai.run/v1")
    return url.strip().rstrip("/")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


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


def base_url_arg(text: str) -> str:
    try:
        return check_base_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


# ---------------------------------------------------------------- configuration

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
                       help="read timeout in seconds (env GRADIENT_TIMEOUT; default %(default)s)")
    group.add_argument("--max-retries", type=int_in_range(0),
                       default=env_default("GRADIENT_MAX_RETRIES", DEFAULT_MAX_RETRIES),
                       help="retries on 408/409/429/5xx, connection errors and timeouts "
                            "(env GRADIENT_MAX_RETRIES; 0 disables; default %(default)s)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="log each request, its status, time and retries on stderr (key redacted)")


def read_key_file(path: str) -> str | None:
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8") as handle:
            key = handle.read().strip()
            mode = os.fstat(handle.fileno()).st_mode
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"cannot read key file {path}: {getattr(exc, 'strerror', None) or exc}")
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warn(f"key file {path} is readable by group or others; run: chmod 600 {path}")
    return key or None


def resolve_api_key(provider: Provider, environ=None) -> str | None:
    """First non-empty key variable of the provider, then its key file. Never prompts."""
    environ = os.environ if environ is None else environ
    for name in provider.key_vars:
        value = environ.get(name, "").strip()
        if value:
            return value
    path = environ.get(provider.key_file_var, "").strip() if provider.key_file_var else ""
    path = path or provider.key_file
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
    if api_key is None and not is_loopback_url(base_url):
        raise GradientError("config", f"no API key: set {provider.key_vars[0]}", hint=provider.key_help)
    if api_key and urlsplit(base_url).scheme == "http" and not is_loopback_url(base_url):
        warn(f"the API key is sent over plain http to {urlsplit(base_url).hostname}")
    # local servers (llama.cpp, vLLM, Ollama) honour max_tokens; llama-cpp-python ignores the newer field
    local = is_loopback_url(base_url) and not getattr(args, "provider", None)
    return Settings(base_url, api_key, provider_name, provider, args.timeout, args.max_retries, args.verbose,
                    "max_tokens" if local else provider.max_tokens_field)


# ---------------------------------------------------------------- output and exit

def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def log(message: str) -> None:
    print(message, file=sys.stderr)


def emit_json(document) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def known_secrets() -> list:
    """Every key the scripts could have sent: all providers' variables and key files."""
    found = [os.environ.get(name, "").strip() for provider in PROVIDERS.values() for name in provider.key_vars]
    for provider in PROVIDERS.values():
        path = os.environ.get(provider.key_file_var, "") if provider.key_file_var else ""
        path = os.path.expanduser(path.strip() or provider.key_file or "")
        try:
            with open(path, encoding="utf-8") as handle:
                found.append(handle.read().strip())
        except (OSError, UnicodeDecodeError):
            pass
    return [secret for secret in found if len(secret) >= 8]


def report_error(error: GradientError, as_json: bool) -> None:
    """Print the error; any key the server echoed back in its words is masked here, in one place."""
    for secret in known_secrets():
        error.message = redact(error.message, secret)
        error.hint = error.hint and redact(error.hint, secret)
        error.request_id = error.request_id and redact(error.request_id, secret)
    if as_json:
        print(json.dumps(error.to_dict(), ensure_ascii=False), file=sys.stderr)
    else:
        print(error.to_line(), file=sys.stderr)


def run(command, args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Run a script's body: errors become one line and exit 1, usage errors found late go to
    parser.error (exit 2), Ctrl-C exits 130, a closed stdout (`| head`) exits quietly."""
    try:
        return command(args)
    except UsageError as error:
        if parser is None:
            raise
        parser.error(str(error))
    except GradientError as error:
        report_error(error, getattr(args, "json", False))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
