#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Speech and transcription: text to an audio file (`speak`), an audio file to text (`transcribe`).

OpenAI-style /audio/speech and /audio/transcriptions, and fal-ai/... models through async-invoke.

examples:
  gradient_audio.py speak "Hello from the ocean" --output hello.mp3     the text as an argument (or --text)
  gradient_audio.py speak "Welcome aboard" --instructions "a warm, slow voice"   DigitalOcean's voice design
  echo "Read me aloud" | gradient_audio.py speak --model MODEL --voice nova --format wav
  gradient_audio.py speak --model fal-ai/elevenlabs/tts/multilingual-v2 --text "Bonjour"
  gradient_audio.py speak --model fal-ai/stable-audio-25/text-to-audio --text "rain on a tin roof" --seconds 8
  gradient_audio.py transcribe --model MODEL --file meeting.mp3 --language en
  gradient_audio.py transcribe --model MODEL --file talk.wav --format srt > talk.srt
"""
from __future__ import annotations

import argparse
import sys

from gradient_inference import __version__
from gradient_inference.core import cli, defaults
from gradient_inference.core.runner import run

SPEECH_FORMATS = ("mp3", "wav", "opus", "flac")
TRANSCRIPT_FORMATS = ("text", "json", "srt", "vtt")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.command_parser(__doc__)
    parser.add_argument("--version", action="version", version=f"gradient-inference {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{speak,transcribe}", required=True)

    speech = commands.add_parser("speak", help="text to an audio file", formatter_class=cli.HelpFormatter)
    speech.add_argument("-m", "--model", help=f"speech model id, or a fal-ai/... TTS or audio model (env "
                                              f"GRADIENT_SPEECH_MODEL; default {defaults.SPEECH_MODEL}, or the next "
                                              "current one when the server no longer lists it)")
    cli.add_text_argument(speech, "text", "--text", "the text to speak")
    speech.add_argument("-t", "--text", help="the text; '-' or no text reads stdin")
    speech.add_argument("--voice", default="alloy", help="voice name (default %(default)s)")
    speech.add_argument("--instructions", metavar="TEXT",
                        help="the voice design, for models that take one (qwen3-tts-voicedesign: \"a calm, low "
                             "voice, slow\"); not for fal models")
    speech.add_argument("--format", choices=SPEECH_FORMATS, default="mp3", help="audio format (default mp3)")
    speech.add_argument("--seconds", type=cli.positive_float,
                        help="length for text-to-audio fal models (seconds_total, default 10)")
    speech.add_argument("-o", "--output", metavar="PATH",
                        help="file or existing folder; default ./gradient-audio-<UTC timestamp>.<ext>")
    speech.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    speech.add_argument("--poll-interval", type=cli.positive_float, default=defaults.POLL_INTERVAL, metavar="SECONDS",
                        help="fal jobs: seconds between status checks (default %(default)g)")
    speech.add_argument("--request-id", metavar="ID", help="fal jobs: wait for an earlier job instead")
    speech.add_argument("-u", "--usage", action="store_true",
                        help="print the cost on stderr when a per-character, per-second or per-audio price is known")
    cli.add_common_args(speech, budget=True, default_timeout=defaults.MEDIA_TIMEOUT)
    speech.set_defaults(handler="speak")

    listen = commands.add_parser("transcribe", help="an audio file (up to 25 MB) to text",
                                 formatter_class=cli.HelpFormatter)
    listen.add_argument("-m", "--model", required=True, help="transcription model id (DigitalOcean has no "
                                                               "transcription endpoint: use --provider gitee or a "
                                                               "local server)")
    listen.add_argument("--file", required=True, metavar="PATH", help="the audio file")
    listen.add_argument("--language", help="the spoken language as ISO-639-1 (en, fr...), if known")
    listen.add_argument("--format", choices=TRANSCRIPT_FORMATS, default="text",
                        help="text (default), json, srt or vtt")
    cli.add_common_args(listen, budget=True, default_timeout=defaults.MEDIA_TIMEOUT)
    listen.set_defaults(handler="transcribe")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = cli.parse_args(parser, argv)
    from gradient_inference.media import run_audio

    return run(lambda: getattr(run_audio, args.handler)(args), args.json, parser)


if __name__ == "__main__":
    sys.exit(main())
