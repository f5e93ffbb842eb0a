#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Speech and transcription: text to an audio file (`speak`), an audio file to text (`transcribe`).

OpenAI-style /audio/speech and /audio/transcriptions, and fal-ai/... models through async-invoke.

examples:
  gradient_audio.py speak --model MODEL --text "Hello from the ocean" --output hello.mp3
  echo "Read me aloud" | gradient_audio.py speak --model MODEL --voice nova --format wav
  gradient_audio.py speak --model fal-ai/elevenlabs/tts/multilingual-v2 --text "Bonjour"
  gradient_audio.py speak --model fal-ai/stable-audio-25/text-to-audio --text "rain on a tin roof" --seconds 8
  gradient_audio.py transcribe --model MODEL --file meeting.mp3 --language en
  gradient_audio.py transcribe --model MODEL --file talk.wav --format srt > talk.srt
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

SPEECH_FORMATS = ("mp3", "wav", "opus", "flac")
TRANSCRIPT_FORMATS = ("text", "json", "srt", "vtt")
AUDIO_EXTENSIONS = {"mp3": ".mp3", "wav": ".wav", "flac": ".flac", "ogg": ".ogg", "webm": ".webm",
                    "m4a": ".m4a", "aac": ".aac"}
AUDIO_MIME = {"mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg",
              "webm": "audio/webm", "m4a": "audio/mp4", "aac": "audio/aac"}
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_AUDIO_BYTES = 200 * 1024 * 1024
DEFAULT_TIMEOUT = 300.0
AUDIO_SIGNATURES = (
    (b"ID3", "mp3"),
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"\x1aE\xdf\xa3", "webm"),
)


# ---------------------------------------------------------------- pure helpers

def sniff_audio(head: bytes) -> str | None:
    """The audio format from its first bytes (mp3, wav, flac, ogg, webm, m4a, aac), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "m4a"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # an MPEG audio frame without an ID3 tag
    return next((name for magic, name in AUDIO_SIGNATURES if head.startswith(magic)), None)


def extensions_for(requested: str | None) -> dict:
    """Suffix per real format; Ogg holding the Opus that was asked for is named .opus."""
    return dict(AUDIO_EXTENSIONS, ogg=".opus" if requested == "opus" else ".ogg")


def speech_body(model: str, text: str, voice: str, audio_format: str) -> dict:
    """POST /audio/speech (OpenAI style)."""
    return {"model": model, "input": text, "voice": voice, "response_format": audio_format}


def fal_payload(model: str, text: str, seconds: float | None) -> dict:
    """TTS models take `text`; text-to-audio models take `prompt` and `seconds_total`."""
    if "text-to-audio" in model or "stable-audio" in model:
        return {"prompt": text, "seconds_total": seconds or 10}
    return {"text": text}


def audio_url(output) -> str | None:
    """fal answers with output.audio.url (or audio_file, or a list of them)."""
    if not isinstance(output, dict):
        return None
    for key in ("audio", "audio_file", "audios"):
        value = output.get(key)
        value = value[0] if isinstance(value, list) and value else value
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            return value["url"]
        if isinstance(value, str):
            return value
    return None


def check_upload(path: str) -> tuple:
    """(bytes, format) of an audio file small enough to upload; refused before any request."""
    import gradient_files as files

    data = files.read_local_file(path, MAX_UPLOAD_BYTES, "audio file")
    kind = sniff_audio(data[:16])
    if kind is None:
        raise common.GradientError("io", f"{path} is not audio (mp3, wav, flac, ogg, webm, m4a or aac)")
    return data, kind


# ---------------------------------------------------------------- speak

def speech_text(args: argparse.Namespace) -> str | None:
    import gradient_files as files

    if args.text not in (None, "-"):
        return args.text
    if args.text == "-" or files.stdin_state(sys.stdin, files.STDIN_WAIT) == "ready":
        return files.read_stdin(sys.stdin)
    return None


def speak(args: argparse.Namespace) -> int:
    import gradient_files as files
    import gradient_http as http
    import gradient_jobs as jobs

    text = speech_text(args)
    if not args.request_id and (not text or not text.strip()):
        raise common.UsageError("give --text TEXT, or pipe the text on stdin")
    extension = ".opus" if args.format == "opus" else AUDIO_EXTENSIONS[args.format]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    known = set(AUDIO_EXTENSIONS.values()) | {".opus"}
    target = files.planned_paths(args.output, 1, extension, stamp, "gradient-audio", known)[0]
    unique = not args.output or os.path.isdir(args.output)
    files.check_targets([target], args.force, unique)
    import gradient_ledger
    import gradient_prices  # a cached or bundled price, never a live fetch

    spoken = text.strip() if text else ""
    quantities = {"per 1K characters": len(spoken) / 1000, "per audio": 1}
    if args.seconds:
        quantities["per second"] = args.seconds
    gradient_ledger.check_budget(args, gradient_prices.unit_cost_for(args.model, quantities)[0], f"speech from {args.model}")
    client = http.Client.from_args(args)
    output = files.OutputFile(target, args.force, sniff_audio, extensions_for(args.format),
                              MAX_AUDIO_BYTES, "audio", unique=unique)
    started = time.monotonic()
    with gradient_ledger.Entry(args, "speak", args.model, "audio/speech", client.settings) as entry:
        if args.model.startswith("fal-ai/") or args.request_id:
            request_id = args.request_id or jobs.submit_job(client, args.model,
                                                              fal_payload(args.model, text.strip(), args.seconds))
            result = jobs.wait_for_job(client, request_id, args.poll_interval)
            url = audio_url(result.get("output") if isinstance(result, dict) else None)
            if url is None:
                raise common.GradientError("invalid_response", f"the job {request_id} finished without audio",
                                           request_id=request_id)
            saved = files.save_response(client, client.send("GET", url, authorized=False), output)
        else:
            body = speech_body(args.model, text.strip(), args.voice, args.format)
            response = client.send("POST", client.url("audio/speech"), json_body=body)
            request_id = http.request_id(response)
            saved = files.save_response(client, response, output)
        cost, price_source = gradient_prices.unit_cost_for(args.model, quantities)
        entry.update(request_id=request_id, cost_usd=cost, price_source=price_source)
    if args.json:
        common.emit_json({"model": args.model, "files": [saved], "count": 1, "cost_usd": cost,
                          "request_id": request_id, "duration_ms": round((time.monotonic() - started) * 1000)})
    else:
        common.out(saved["path"])
    if args.usage:
        common.log(f"cost ${cost:.6f} ({price_source})" if cost is not None else f"cost unknown ({price_source})")
    return common.EXIT_OK


# ---------------------------------------------------------------- transcribe

def transcript_envelope(model: str, wire_format: str, text: str, document, request_id) -> dict:
    """One --json shape for every --format: the text, and the server's JSON when it sent some."""
    language = document.get("language") if isinstance(document, dict) else None
    duration = document.get("duration") if isinstance(document, dict) else None
    return {"model": model, "format": wire_format, "text": text,
            "language": language if isinstance(language, str) else None,
            "duration_seconds": duration if isinstance(duration, (int, float)) and not isinstance(duration, bool)
            else None, "data": document if isinstance(document, dict) else None, "request_id": request_id}


def transcribe(args: argparse.Namespace) -> int:
    import gradient_files as files
    import gradient_http as http

    data, kind = check_upload(args.file)
    import gradient_ledger
    import gradient_prices  # a cached or bundled price, never a live fetch

    gradient_ledger.check_budget(args, gradient_prices.unit_cost_for(args.model, {"per audio": 1})[0],
                                 f"a transcript from {args.model}")
    client = http.Client.from_args(args)
    wire_format = "json" if args.json and args.format == "text" else args.format
    with gradient_ledger.Entry(args, "transcribe", args.model, "audio/transcriptions", client.settings) as entry:
        fields = {"model": args.model, "response_format": wire_format}
        if args.language:
            fields["language"] = args.language
        upload = {"file": (os.path.basename(args.file), data, AUDIO_MIME[kind])}
        response = client.send("POST", client.url("audio/transcriptions"), data=fields, files=upload)
        document = None
        if wire_format == "json":
            document = client.read_json(response)
            if not isinstance(document, dict) or not isinstance(document.get("text"), str):
                raise common.GradientError("invalid_response", "the transcription has no text")
            text = document["text"].strip() + "\n"
        else:
            body = http.read_body(response, time.monotonic() + client.settings.timeout, http.MAX_JSON_BYTES,
                                  "the transcription")
            text = files.decode_text(body, "the transcription")
        envelope = transcript_envelope(args.model, wire_format, text.strip(), document, http.request_id(response))
        seconds = envelope["duration_seconds"]
        envelope["cost_usd"] = gradient_prices.unit_cost_for(
            args.model, {"per second": seconds, "per audio": 1} if seconds is not None else {"per audio": 1})[0]
        entry.update(request_id=envelope["request_id"], cost_usd=envelope["cost_usd"])
    if args.json:
        common.emit_json(envelope)
    else:
        common.out(text, end="" if text.endswith("\n") else "\n")
    return common.EXIT_OK


# ---------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("--version", action="version", version=f"gradient-inference {common.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{speak,transcribe}", required=True)

    speech = commands.add_parser("speak", help="text to an audio file", formatter_class=config.HelpFormatter)
    speech.add_argument("-m", "--model", required=True, help="speech model id, or a fal-ai/... TTS or audio model")
    speech.add_argument("-t", "--text", help="the text; '-' or no --text reads stdin")
    speech.add_argument("--voice", default="alloy", help="voice name (default %(default)s)")
    speech.add_argument("--format", choices=SPEECH_FORMATS, default="mp3", help="audio format (default mp3)")
    speech.add_argument("--seconds", type=config.positive_float,
                        help="length for text-to-audio fal models (seconds_total, default 10)")
    speech.add_argument("-o", "--output", metavar="PATH",
                        help="file or existing folder; default ./gradient-audio-<UTC timestamp>.<ext>")
    speech.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    speech.add_argument("--poll-interval", type=config.positive_float, default=2.0, metavar="SECONDS",
                        help="fal jobs: seconds between status checks (default %(default)g)")
    speech.add_argument("--request-id", metavar="ID", help="fal jobs: wait for an earlier job instead")
    speech.add_argument("-u", "--usage", action="store_true",
                        help="print the cost on stderr when a per-character, per-second or per-audio price is known")
    config.add_budget_args(speech)
    config.add_common_args(speech, default_timeout=DEFAULT_TIMEOUT)
    speech.set_defaults(handler=speak)

    listen = commands.add_parser("transcribe", help="an audio file (up to 25 MB) to text",
                                 formatter_class=config.HelpFormatter)
    listen.add_argument("-m", "--model", required=True, help="transcription model id")
    listen.add_argument("--file", required=True, metavar="PATH", help="the audio file")
    listen.add_argument("--language", help="the spoken language as ISO-639-1 (en, fr...), if known")
    listen.add_argument("--format", choices=TRANSCRIPT_FORMATS, default="text",
                        help="text (default), json, srt or vtt")
    config.add_budget_args(listen)
    config.add_common_args(listen, default_timeout=DEFAULT_TIMEOUT)
    listen.set_defaults(handler=transcribe)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return common.run(args.handler, args, parser)


if __name__ == "__main__":
    sys.exit(main())
