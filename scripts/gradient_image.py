#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Generate images on DigitalOcean's Serverless Inference API: synchronous models and fal async-invoke.

examples:
  gradient_image.py "A lobster analyzing candlestick charts"       the prompt as an argument (or --prompt)
  gradient_image.py --prompt "Logo, flat" --n 3 --format webp --output logo.webp   logo-1.webp ... logo-3.webp
  gradient_image.py --model fal-ai/flux/schnell --prompt "A foggy harbor at dawn" --size 1024x768
  gradient_image.py --model fal-ai/flux/schnell --request-id 7f3c...    keep waiting on an earlier job
  gradient_image.py --json --prompt "A red circle" | jq -r '.files[].path'
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run

FORMATS = ("png", "jpeg", "webp")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    cli.add_text_argument(parser, "prompt", "--prompt", "what to draw")
    parser.add_argument("-p", "--prompt", metavar="TEXT", help="what to draw; '-' reads it from stdin")
    parser.add_argument("-m", "--model", help=f"image model (env GRADIENT_IMAGE_MODEL; default {defaults.IMAGE_MODEL}, "
                                              "or the next current one when the server no longer lists it); "
                                              "fal-ai/... models run through async-invoke")
    parser.add_argument("--size", type=cli.dimensions(), metavar="WxH", help="WIDTHxHEIGHT or auto, e.g. 1024x1024")
    parser.add_argument("--n", type=cli.int_in_range(1, 10), default=1, help="how many images, 1-10 (default 1)")
    parser.add_argument("--quality", help="quality, as the model understands it (low, medium, high, auto...)")
    parser.add_argument("--format", choices=FORMATS, help="image format, sent as output_format")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file to write (with --n > 1: -1, -2... before the extension) or an existing "
                             "folder; default ./gradient-image-<UTC timestamp>.<ext>")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--poll-interval", type=cli.positive_float, default=defaults.POLL_INTERVAL, metavar="SECONDS",
                        help="fal jobs: seconds between status checks (default %(default)g)")
    parser.add_argument("-u", "--usage", action="store_true",
                        help="print the cost on stderr when a per-image or per-megapixel price is known")
    parser.add_argument("--request-id", metavar="ID",
                        help="fal jobs: wait for (or fetch) an earlier job instead of submitting a new one")
    cli.add_common_args(parser, budget=True, default_timeout=defaults.MEDIA_TIMEOUT)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = cli.parse_args(parser, argv)
    from gradient_inference.media.run_image import generate

    return run(lambda: generate(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
