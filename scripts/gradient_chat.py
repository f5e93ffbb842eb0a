#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Chat with a model on DigitalOcean's Serverless Inference API: chat completions or the Responses API.

examples:
  gradient_chat.py "Explain serverless inference in one paragraph."    the prompt as an argument (or --prompt)
  gradient_chat.py --model llama3.3-70b-instruct --system "Be terse." --prompt "Haiku on clouds"
  git diff | gradient_chat.py --prompt "Review this diff"        stdin goes before the prompt
  gradient_chat.py --prompt - < question.txt                      the prompt from stdin
  gradient_chat.py --messages history.json --prompt "And then?"   earlier turns from a file
  gradient_chat.py --model openai-gpt-5-mini --image chart.png --prompt "What does this chart show?"
  gradient_chat.py --responses-api --prompt "Explain prompt caching" --usage
  gradient_chat.py --messages-api --model anthropic-claude-sonnet-4 --cache --system "$(cat rules.md)" --prompt "Q"
  gradient_chat.py --model anthropic-claude-4.6-sonnet --reasoning-tokens 4000 --max-tokens 8000 "Prove it"
  gradient_chat.py --model openai-gpt-5.5 --cache-retention 24h --system "$(cat rules.md)" "Q"
  gradient_chat.py --json --prompt "2+2?" | jq -r .content
  gradient_chat.py --tool weather.json --prompt "Weather in Paris?" --json | jq '.tool_calls'
  gradient_chat.py -c --tool-result call_1='{"temp_c": 18}'      answer the call; the tools are offered again
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    cli.add_text_argument(parser, "prompt", "--prompt", "the user's message")
    parser.add_argument("-p", "--prompt", metavar="TEXT",
                        help="the user's message; '-' reads it from stdin. Piped stdin with a prompt "
                             "goes before it, separated by a blank line")
    parser.add_argument("-m", "--model",
                        help=f"model id (env GRADIENT_MODEL; default {defaults.CHAT_MODEL}); list them with gradient_models.py")
    parser.add_argument("-c", "--continue", dest="continue_", action="store_true",
                        help="continue the latest conversation of the usage ledger (its model and system prompt "
                             "too, unless given again)")
    parser.add_argument("--conversation", metavar="ID", help="continue this conversation of the usage ledger")
    parser.add_argument("-s", "--system", metavar="TEXT", help="system prompt (Responses API: instructions)")
    parser.add_argument("--messages", metavar="FILE",
                        help="earlier turns: a JSON array of {role, content}; '-' reads it from stdin")
    parser.add_argument("--image", action="append", default=[], metavar="PATH|URL",
                        help="attach an image (repeatable): a URL, or a local PNG/JPEG/WebP/GIF up to 20 MB")
    which_api = parser.add_mutually_exclusive_group()
    which_api.add_argument("--responses-api", action="store_true", help="use /responses instead of /chat/completions")
    which_api.add_argument("--messages-api", action="store_true",
                           help="use Anthropic's Messages API (/messages), the native shape for anthropic-* models; "
                                "max_tokens defaults to the model's largest answer where known, else 4,096")
    parser.add_argument("--cache", action="store_true",
                        help="prompt caching: on anthropic-* chat models marks the system prompt (or first "
                             "user turn) with cache_control; with --responses-api sends store: true, which "
                             "DigitalOcean treats as best-effort. Other models cache automatically")
    parser.add_argument("-t", "--temperature", type=cli.number_in_range(0, 2), metavar="F",
                        help="sampling temperature 0-2 (DigitalOcean accepts 0-1); sent only when given")
    parser.add_argument("--top-p", type=cli.number_in_range(0, 1), metavar="F",
                        help="nucleus sampling 0-1, sent only when given (use it or --temperature, not both)")
    parser.add_argument("--seed", type=cli.int_in_range(-(2 ** 63), 2 ** 63 - 1), metavar="N",
                        help="ask for repeatable sampling (best effort; chat completions only)")
    parser.add_argument("--stop", action="append", default=[], metavar="TEXT",
                        help="stop generating at this text (repeatable, up to 4)")
    parser.add_argument("--reasoning-effort", choices=("none", "minimal", "low", "medium", "high", "xhigh", "max"),
                        help="how hard a reasoning model thinks (Responses API: reasoning.effort)")
    parser.add_argument("--reasoning-tokens", type=cli.int_in_range(1), metavar="N",
                        help="anthropic-* models on chat completions: at most N tokens of reasoning, sent as "
                             "reasoning.max_tokens (with --reasoning-effort as reasoning.effort); less than --max-tokens")
    parser.add_argument("--cache-retention", choices=("in_memory", "24h"),
                        help="OpenAI's own models: how long a prompt's cache is kept (prompt_cache_retention)")
    parser.add_argument("--max-tokens", type=cli.int_in_range(1), metavar="N",
                        help="answer length limit, sent as max_completion_tokens (the provider's field, and "
                             "max_tokens to a local server; Responses API: max_output_tokens)")
    stream = parser.add_mutually_exclusive_group()
    stream.add_argument("--stream", dest="stream", action="store_true", default=None,
                        help="stream the answer (default when stdout is a terminal and --json is not given)")
    stream.add_argument("--no-stream", dest="stream", action="store_false", help="wait for the whole answer")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--schema", metavar="SCHEMA",
                       help="answer as JSON of this shape: a JSON Schema (inline or a .json file) or fields like "
                            "'title, year int, rating float: 0 to 10'; printed as one JSON line, checked first")
    shape.add_argument("--schema-multi", metavar="SCHEMA", help="like --schema, for a list of such objects")
    parser.add_argument("--schema-mode", choices=("tool", "response_format"),
                        help="how to ask for the shape: one forced tool (default; remote providers) or "
                             "response_format (default for a local server)")
    parser.add_argument("--tool", action="append", default=[], metavar="FILE",
                        help="a JSON file with an OpenAI function definition or a list of them (repeatable)")
    parser.add_argument("--tool-choice", metavar="auto|none|required|NAME",
                        help="whether the model must call a tool, and which")
    parser.add_argument("--tool-result", action="append", default=[], metavar="CALL_ID=TEXT",
                        help="answer a tool call of the conversation's last answer (with -c, --conversation or "
                             "--messages; repeatable, one per call; CALL_ID=@FILE reads the text from a file); "
                             "the tools it was offered are offered again")
    server = parser.add_argument_group("DigitalOcean's server-side tools")
    server.add_argument("--web-search", action="store_true", help="let the model search the web ($10 per 1,000)")
    server.add_argument("--web-search-max", type=cli.int_in_range(1, 50), metavar="N",
                        help="at most N searches per answer (default 3; implies --web-search)")
    server.add_argument("--mcp", action="append", default=[], metavar="LABEL=URL",
                        help="an MCP server the model may use (repeatable)")
    server.add_argument("--mcp-allow", action="append", default=[], metavar="TOOL",
                        help="only these tools of the MCP servers (repeatable)")
    server.add_argument("--mcp-auth-env", metavar="VAR",
                        help="the MCP servers' authorization, read from this environment variable (never given "
                             "on the command line) and masked in all output")
    parser.add_argument("--no-stdin", action="store_true",
                        help="ignore stdin (skips the short wait on a silent stdin pipe)")
    parser.add_argument("--show-reasoning", action="store_true", help="write the model's reasoning to stderr")
    parser.add_argument("-u", "--usage", action="store_true",
                        help="print token usage (and cost when a price is known) to stderr")
    cli.add_common_args(parser, budget=True)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = cli.parse_args(parser, argv)
    from gradient_inference.chat.run_chat import chat

    return run(lambda: chat(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
