#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Generate videos on DigitalOcean's Serverless Inference API: submit a job, wait for it, save the MP4.

A job takes minutes. Progress goes to stderr while it runs; if the wait ends (Ctrl-C, --max-wait),
the job keeps running on the server and `fetch ID` picks it up. DigitalOcean keeps a finished video
for 2 hours. `status` and `fetch` cost nothing and write no ledger row: the run that submitted the
job recorded its cost.

examples:
  gradient_video.py "A paper boat drifting down a rainy street"        prints the MP4's path
  gradient_video.py --prompt "Timelapse of clouds" --size 1280x720 --fps 16 -o clouds.mp4
  gradient_video.py "A fox in the snow" --max-cost 0.50 --json | jq -r .file.path
  gradient_video.py status video_abc123                                the job's status (exit 0 while it runs)
  gradient_video.py fetch video_abc123 -o fox.mp4                      wait for an earlier job and save it
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run

ACTIONS = ("status", "fetch")  # a first argument naming one of these is that action, not a prompt


def add_waiting_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="the MP4 to write, or an existing folder; default ./gradient-video-<UTC timestamp>.mp4")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    parser.add_argument("--poll-interval", type=cli.positive_float, default=defaults.VIDEO_POLL_INTERVAL,
                        metavar="SECONDS", help="seconds between status checks (default %(default)g)")
    parser.add_argument("--max-wait", type=cli.number_in_range(1, defaults.MAX_TIMEOUT), metavar="SECONDS",
                        default=defaults.VIDEO_MAX_WAIT,
                        help="stop waiting after this long (the job keeps running; `fetch ID` picks it up; "
                             "default %(default)g)")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    cli.add_text_argument(parser, "prompt", "--prompt", "what the video shows")
    parser.add_argument("-p", "--prompt", metavar="TEXT", help="what the video shows; '-' reads it from stdin")
    parser.add_argument("-m", "--model", help=f"video model (env GRADIENT_VIDEO_MODEL; default {defaults.VIDEO_MODEL}, "
                                              "or the next current one when the server no longer lists it)")
    parser.add_argument("--size", type=cli.dimensions(allow_auto=False), metavar="WxH",
                        help="WIDTHxHEIGHT, e.g. 1280x720 (720p, 5 s) or 832x480 (480p, 9 s)")
    parser.add_argument("--fps", type=cli.int_in_range(1, 120), help="frames per second")
    add_waiting_args(parser)
    parser.add_argument("-u", "--usage", action="store_true", help="print the cost on stderr")
    cli.add_common_args(parser, budget=True, default_timeout=defaults.MEDIA_TIMEOUT)
    return parser


def build_action_parser(action: str) -> argparse.ArgumentParser:
    """`status ID` and `fetch ID`: a job another run submitted."""
    what = ("show a video job's status" if action == "status"
            else "wait for a video job another run submitted, then save its MP4")
    parser = argparse.ArgumentParser(prog=f"gradient_video.py {action}", description=what,
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("job_id", metavar="ID", help="the job's id (video_...), as submitting printed it")
    if action == "fetch":
        add_waiting_args(parser)
    cli.add_common_args(parser, default_timeout=defaults.MEDIA_TIMEOUT)
    return parser


def main(argv=None) -> int:
    parser, args, action = cli.parse_command(argv, ACTIONS, build_action_parser, build_parser)
    args.action = action or "generate"
    from gradient_inference.media import run_video

    return run(lambda: getattr(run_video, args.action)(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
