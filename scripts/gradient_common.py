"""What every gradient-inference command needs first: providers and their secrets, errors and exit
codes, the output functions every user-visible line goes through, and `run()`.

Belongs here: the error type and exit codes; reading a small regular file without blocking;
knowing every secret the process could print and masking it; making server text safe for a
terminal; printing lines and JSON; running a command with its signals. Does not belong here:
flags and settings (gradient_config), HTTP (gradient_http), local files (gradient_files). This
module imports no other gradient module and nothing slow, so `--help` starts fast.
"""
from __future__ import annotations

import functools
import json
import os
import re
import stat
import sys
from collections import namedtuple

__version__ = "0.2.0"

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130  # 2, usage errors, is argparse's own
MAX_KEY_FILE_BYTES = 64 * 1024
ERROR_TYPES = ("config", "auth", "permission", "not_found", "bad_request", "rate_limit", "server", "timeout",
               "connection", "invalid_response", "parse", "io", "budget")
# Characters that make a terminal do something: C0 but tab and newline, DEL, C1, and the bidi
# controls that reorder what is shown. Escaped on a terminal; --json stays exact JSON.
# Compiled on first use (pattern()): `--help` never needs them.
PATTERNS = {"controls": "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
            "all_controls": "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
            "surrogates": "[\ud800-\udfff]"}
FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
              (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))

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


class GradientError(Exception):
    """A failure reported to the user as one line (or one JSON object) and exit 1."""

    def __init__(self, type_: str, message: str, *, status: int | None = None,
                 request_id: str | None = None, hint: str | None = None, raw: str | None = None):
        if type_ not in ERROR_TYPES:  # the documented set is a contract with --json users
            raise ValueError(f"undocumented error type {type_!r}")
        super().__init__(message)
        self.type, self.message, self.status, self.request_id = type_, message, status, request_id
        self.hint, self.raw, self.headers = hint, raw, None  # raw: the server's words whole; headers: its answer's

    def to_dict(self) -> dict:
        error = {"type": self.type, "message": self.message, "status": self.status, "request_id": self.request_id,
                 "hint": self.hint}
        return {"error": dict(error, raw=self.raw) if self.raw is not None else error}

    def to_line(self) -> str:
        return (f"error: {self.message}" + (f" (request id {self.request_id})" if self.request_id else "")
                + (f"; hint: {self.hint}" if self.hint else ""))


class UsageError(Exception):
    """Bad input found after argument parsing; main() hands it to parser.error (exit 2)."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP (args[0]), raised where the program is so every `finally` and `with` cleans up."""


# ---------------------------------------------------------------- pure helpers

@functools.lru_cache(maxsize=None)
def pattern(name: str):
    return re.compile(PATTERNS[name])


def whole_characters(text: str) -> str:
    """Lone surrogates (a server's "\\ud800") replaced by U+FFFD: nothing else can encode them."""
    return text if text.isascii() else pattern("surrogates").sub("\ufffd", text)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace and drop control characters so server text fits one line."""
    text = pattern("all_controls").sub(" ", whole_characters(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def escape_controls(text: str, keep_lines: bool = True) -> str:
    """Control characters shown as \\x1b or \\u202e escapes; newline and tab kept if asked."""
    def escape(match):
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return pattern("controls" if keep_lines else "all_controls").sub(escape, text)


def file_kind(mode: int) -> str | None:
    """What a path is when it is not a regular file ('a FIFO (named pipe)', 'a folder'...)."""
    return None if stat.S_ISREG(mode) else next((name for test, name in FILE_KINDS if test(mode)), "not a file")


def open_regular(path: str, follow_links: bool = True, own: bool = False) -> int:
    """A descriptor of a regular file, opened without blocking: a FIFO, device, socket or folder
    is refused before anything is read, and with `own` a file of another user. OSError on failure."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0)))
    info = os.fstat(fd)
    kind = file_kind(info.st_mode)
    if kind or (own and hasattr(os, "getuid") and info.st_uid != os.getuid()):
        os.close(fd)
        raise OSError(f"it is {kind}, not a regular file" if kind else "it is owned by another user")
    return fd


def read_regular_file(path: str, max_bytes: int, follow_links: bool = True, own: bool = False) -> bytes:
    """A small local file (see open_regular), refused over max_bytes. OSError on failure."""
    with os.fdopen(open_regular(path, follow_links, own), "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"it is over the {size_text(max_bytes)} limit")
    return data


def size_text(size: int) -> str:
    return f"{size / (1 << 20):g} MB" if size >= 1 << 20 else f"{size / 1024:g} KB"


def why(exc: OSError) -> str:
    return exc.strerror or str(exc)  # the OS's words, or the sentence read_regular_file gave


# ---------------------------------------------------------------- secrets

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
    without blocking, and again only when a file changes), longest first."""
    names = [name for provider in PROVIDERS.values() for name in provider.key_vars] + [*TOKEN_VARS, *MASKED_AT_RUN_TIME]
    values = tuple(os.environ.get(name, "").strip() for name in names)
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


# ---------------------------------------------------------------- output

def printable(text: str, stream) -> str:
    """What may be written: secrets masked, lone surrogates replaced, and on a terminal the
    control characters escaped. Every line the scripts print passes through here."""
    text = mask(whole_characters(text))
    return escape_controls(text) if isatty(stream) else text


def isatty(stream) -> bool:
    return bool(getattr(stream, "isatty", None)) and not getattr(stream, "closed", False) and stream.isatty()


def out(text: str = "", stream=None, end: str = "\n", lead: str = "") -> None:
    """Print text (stdout by default). `lead` is the program's own control text, such as the
    carriage return of a progress line; everything else is made printable."""
    stream = stream or sys.stdout
    try:
        stream.write(lead + printable(text, stream) + end)
        if stream is not sys.stdout or end != "\n":
            stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk under stdout: one io error, not a traceback or exit 120
        if stream is sys.stdout:
            silence_stdout()
        raise GradientError("io", f"cannot write to {'standard output' if stream is sys.stdout else 'it'}: {why(exc)}")


def log(message: str) -> None:
    """One diagnostic line on stderr: always a single clean line, whatever the message holds."""
    sys.stderr.write(escape_controls(printable(message, None), keep_lines=False) + "\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    log(f"warning: {message}")


def strict(value):
    """JSON values as strict JSON allows them: NaN and infinities (where x - x is not 0) become null."""
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return None if isinstance(value, float) and value - value != 0 else value


def json_text(document, indent: int | None = 2, stream=None) -> str:
    """Strict JSON, masked; on a terminal the controls that JSON leaves raw become \\u escapes."""
    try:
        text = json.dumps(document, ensure_ascii=False, indent=indent, allow_nan=False)
    except ValueError:
        text = json.dumps(strict(document), ensure_ascii=False, indent=indent)
    text = mask(whole_characters(text))
    return pattern("controls").sub(lambda m: f"\\u{ord(m.group()):04x}", text) if isatty(stream) else text


def emit_json(document, stream=None, indent: int | None = 2) -> None:
    out(json_text(document, indent, stream or sys.stdout), stream)


def report_error(error: GradientError, as_json: bool) -> None:
    """Print the error; any key the server echoed back in its words is masked on the way out."""
    emit_json(error.to_dict(), sys.stderr, indent=None) if as_json else log(error.to_line())


# ---------------------------------------------------------------- running a command

def _terminate(signum, frame):
    raise Terminated(signum)


def handle_signals() -> dict:
    """SIGTERM and SIGHUP end the command like Ctrl-C does (temporary files removed); a signal
    the parent set to be ignored (nohup) stays ignored. Returns the handlers to restore.
    `_signal` is the C module under `signal`, without the enum wrappers that cost 5% of start-up."""
    import _signal as signal

    previous = {}
    for signum in (getattr(signal, name, None) for name in ("SIGTERM", "SIGHUP")):
        if signum is None or signal.getsignal(signum) == signal.SIG_IGN:
            continue
        try:
            previous[signum] = signal.signal(signum, _terminate)
        except ValueError:  # not the main thread
            pass
    return previous


def flush_stdout() -> None:
    """Flush stdout now, so that a full disk is an `io` error rather than a failure at exit."""
    out("", end="")


def silence_stdout() -> None:
    """Point stdout at devnull so that Python's own flush at exit cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run(command, args, parser=None) -> int:
    """Run a script's body: errors become one line and exit 1, usage errors found late go to
    parser.error (exit 2), Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129 (128 + the signal),
    a closed stdout (`| head`) exits quietly."""
    previous = handle_signals()
    try:
        code = command(args)
        flush_stdout()
        return code
    except UsageError as error:
        if parser is None:
            raise
        parser.error(str(error))
    except GradientError as error:
        report_error(error, getattr(args, "json", False))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        log("interrupted")
        return EXIT_INTERRUPTED
    except Terminated as stop:
        log("terminated")
        return 128 + stop.args[0]
    except BrokenPipeError:
        silence_stdout()
        return EXIT_FAILURE
    finally:
        for signum, handler in previous.items():
            import _signal

            _signal.signal(signum, handler)
