"""Command lines: the parser every command builds from its docstring, argparse types, and the
flags the commands share (connection, budget), with their defaults from the environment.

Belongs here: building parsers. Does not belong here: reading the parsed flags (each command's
run module does) or checking settings (core.settings). Nothing here is slow to import: `--help`
loads this module, core.runner and what they need, and nothing else.
"""
from __future__ import annotations

import argparse
import os
import re  # argparse has loaded it already
import sys

from gradient_inference import __version__
from gradient_inference.core import defaults
from gradient_inference.core.defaults import env_default
from gradient_inference.core.providers import DEFAULT_PROVIDER, PROVIDERS


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
            raise argparse.ArgumentTypeError(f"{(text if len(text) <= 24 else text[:21] + '...')!r} must be {bounds}")
        return value
    return convert


MAX_WHOLE = 10 ** 15
positive_float = number_in_range(0, defaults.MAX_TIMEOUT, open_low=True)


def int_in_range(low: int, high: int | None = None):
    """An argparse type: a whole number from `low` (to `high`, and never past 10^15: a count
    beyond that is a typo, and arithmetic on it would overflow a float)."""
    high = MAX_WHOLE if high is None else high

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high != MAX_WHOLE else f"{low} or more, up to 10^15"
            raise argparse.ArgumentTypeError(f"{(text if len(text) <= 24 else text[:21] + '...')!r} must be {bounds}")
        return value
    return convert


def dimensions(allow_auto: bool = True):
    """An argparse type: WIDTHxHEIGHT (like 1024x1024), or `auto` where the model may choose."""
    def convert(text: str) -> str:
        if (allow_auto and text == "auto") or re.fullmatch(r"[1-9]\d{1,4}x[1-9]\d{1,4}", text):
            return text
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (like 1280x720)"
                                         + (" or auto" if allow_auto else ""))

    return convert


def words(values: list) -> list:
    """Flag values split into words: `--filter "meta 70b"` means what `--filter meta 70b` does."""
    return [word for value in values for word in value.split()]


def add_text_argument(parser: argparse.ArgumentParser, dest: str, flag: str, what: str, many: bool = False) -> None:
    """The text as a positional argument too (`gradient_chat.py "question"`, as llm takes it): merged
    into the flag's `dest` by parse_args(); giving both is a usage error."""
    parser.add_argument("text_argument", nargs="*" if many else "?", metavar="TEXT",
                        help=f"{what}; the same as {flag}")
    parser.set_defaults(text_into=(dest, flag, many))


def parse_args(parser: argparse.ArgumentParser, argv=None):
    """parser.parse_args, with a positional text (add_text_argument) merged into its flag."""
    args = parser.parse_args(argv)
    into = getattr(args, "text_into", None)
    given = getattr(args, "text_argument", None)
    if into and given not in (None, []):
        dest, flag, many = into
        if getattr(args, dest):
            parser.error(f"give the text once: as an argument or with {flag}, not both")
        setattr(args, dest, list(given) if many else given)
    return args


def parse_command(argv, actions: tuple, action_parser, main_parser) -> tuple:
    """(parser, args, the action or None) of a command with actions (`status ID`, `fetch ID`...):
    a first argument naming one is parsed by action_parser(name); anything else by main_parser()."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in actions:
        parser = action_parser(argv[0])
        return parser, parser.parse_args(argv[1:]), argv[0]
    parser = main_parser()
    return parser, parse_args(parser, argv), None


def add_common_args(parser: argparse.ArgumentParser, default_timeout: float = defaults.TIMEOUT,
                    needs_key: bool = True, budget: bool = False) -> None:
    """The flags every script shares, and with `budget` those of the scripts whose calls cost
    money. Defaults come from the environment; argparse checks them."""
    if budget:
        add_budget_args(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (errors as JSON on stderr)")
    parser.add_argument("--version", action="version", version=f"gradient-inference {__version__}")
    group = parser.add_argument_group("connection")
    if needs_key:
        group.add_argument("--provider", choices=sorted(PROVIDERS),
                           help="preset base URL, key variable and max-tokens field "
                                f"(default: {DEFAULT_PROVIDER})")
        group.add_argument("--base-url",
                           help="API base URL (env GRADIENT_BASE_URL; default "
                                f"{PROVIDERS[DEFAULT_PROVIDER].base_url}); a loopback URL needs no key")
    group.add_argument("--timeout", type=positive_float,
                       default=env_default("GRADIENT_TIMEOUT", default_timeout),
                       help="read timeout in seconds, at most a day (env GRADIENT_TIMEOUT; default %(default)s)")
    group.add_argument("--max-retries", type=int_in_range(0, 10),
                       default=env_default("GRADIENT_MAX_RETRIES", defaults.MAX_RETRIES),
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
