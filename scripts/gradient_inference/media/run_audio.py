"""The audio command's work: speech (OpenAI-style /audio/speech, or fal TTS and text-to-audio
jobs) written to a file that appears whole or not at all, and transcription of a local file,
each priced where a per-unit price is known, within the budget, with its ledger row.

Belongs here: turning the audio command's flags into audio or text. Does not belong here: the
flags (scripts/gradient_audio.py), output files (core.outfiles) or fal jobs (media.jobs).
"""
from __future__ import annotations

import base64
import os
import sys
import time

from gradient_inference.api.client import MAX_JSON_BYTES, Client, iter_body, read_body, request_id_of
from gradient_inference.api.status import decode_json
from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_OK, GradientError, UsageError
from gradient_inference.core.providers import DEFAULT_PROVIDER
from gradient_inference.core.inputs import STDIN_WAIT, decode_text, read_local_file, read_stdin, stdin_state
from gradient_inference.core.outfiles import OutputFile, check_targets, planned_paths, say_renamed
from gradient_inference.core.output import cost_words, emit_json, log, out
from gradient_inference.core.settings import resolve_settings
from gradient_inference.ledger.store import Entry
from gradient_inference.media.jobs import submit_job, wait_for_job
from gradient_inference.models import budget, served
from gradient_inference.models.prices import offline_row, unit_cost_for

AUDIO_EXTENSIONS = {"mp3": ".mp3", "wav": ".wav", "flac": ".flac", "ogg": ".ogg", "webm": ".webm",
                    "m4a": ".m4a", "aac": ".aac"}
AUDIO_MIME = {"mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg",
              "webm": "audio/webm", "m4a": "audio/mp4", "aac": "audio/aac"}
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_AUDIO_BYTES = 200 * 1024 * 1024
AUDIO_SIGNATURES = (
    (b"ID3", "mp3"),
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"\x1aE\xdf\xa3", "webm"),
)
# DigitalOcean publishes no transcription endpoint (do-platform-2026-12.md, December 2026: speech
# to text is on its roadmap); these have one.
TRANSCRIPTION_PROVIDERS = ("Gitee AI (--provider gitee)", "OpenAI-compatible local servers such as whisper.cpp's "
                           "or vLLM's (--base-url http://127.0.0.1:PORT/v1)")


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


def speech_body(model: str, text: str, voice: str, audio_format: str, instructions: str | None = None) -> dict:
    """POST /audio/speech (OpenAI style; create_speech_request): the voice design in `instructions` when given."""
    body = {"model": model, "input": text, "voice": voice, "response_format": audio_format}
    if instructions:
        body["instructions"] = instructions
    return body


def takes_instructions(model: str) -> bool:
    """Whether a speech model takes a voice design: DigitalOcean's own TTS and OpenAI's newer ones do;
    fal jobs and OpenAI's tts-1 family have no such field."""
    return not model.startswith("fal-ai/") and not model.removeprefix("openai-").startswith("tts-1")


def speech_audio(document) -> bytes:
    """The audio of a JSON speech answer ({data: [{b64_json}, ...]}): every item's bytes, in order."""
    items = document.get("data") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or not all(
            isinstance(item, dict) and isinstance(item.get("b64_json"), str) and item["b64_json"] for item in items):
        raise GradientError("invalid_response", "the speech answer is JSON without audio (no data[].b64_json)")
    try:
        return b"".join(base64.b64decode(item["b64_json"], validate=True) for item in items)
    except ValueError:
        raise GradientError("invalid_response", "the speech answer's b64_json is not valid base64") from None


def save_speech(client, response, output) -> dict:
    """The answer's audio in the checked file: raw bytes streamed as they come, or a JSON envelope
    (known by its first byte, whatever the Content-Type says) read within MAX_JSON_BYTES and decoded."""
    chunks = iter_body(response, time.monotonic() + client.settings.timeout)
    first = next(chunks, b"")
    with output:
        if first.lstrip()[:1] in (b"{", b"["):
            body = bytearray(first)
            for chunk in chunks:
                body += chunk
                if len(body) > MAX_JSON_BYTES:
                    response.close()
                    raise GradientError("invalid_response", f"the speech answer is larger than {MAX_JSON_BYTES >> 20} MB")
            output.write(speech_audio(decode_json(bytes(body), response.status_code)))
        else:
            output.write(first)
            for chunk in chunks:
                output.write(chunk)
        return output.commit()


def speech_price_note(model: str) -> str:
    """Where a speech price is per 1K tokens, what the figure assumed (the answer says no count)."""
    row = offline_row(model)
    return ("; an estimate that counts a token per character of the text, which errs high"
            if row is not None and row.get("unit") == "per 1K tokens" else "")


def makes_audio(model: str) -> bool:
    """A fal text-to-audio model (as against a TTS one): it takes a length, and may be priced by it."""
    return "text-to-audio" in model or "stable-audio" in model


def fal_payload(model: str, text: str, seconds: float | None) -> dict:
    """TTS models take `text`; text-to-audio models take `prompt` and `seconds_total`."""
    if makes_audio(model):
        return {"prompt": text, "seconds_total": seconds or defaults.AUDIO_SECONDS}
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
    data = read_local_file(path, MAX_UPLOAD_BYTES, "audio file")
    kind = sniff_audio(data[:16])
    if kind is None:
        raise GradientError("io", f"{path} is not audio (mp3, wav, flac, ogg, webm, m4a or aac)")
    return data, kind


# ---------------------------------------------------------------- speak


def speech_text(args) -> str | None:
    if args.text not in (None, "-"):
        return args.text
    if args.text == "-" or stdin_state(sys.stdin, STDIN_WAIT) == "ready":
        return read_stdin(sys.stdin)
    return None


def speak(args) -> int:
    text = speech_text(args)
    if not args.request_id and (not text or not text.strip()):
        raise UsageError("give --text TEXT, or pipe the text on stdin")
    extension = ".opus" if args.format == "opus" else AUDIO_EXTENSIONS[args.format]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    known = set(AUDIO_EXTENSIONS.values()) | {".opus"}
    target = planned_paths(args.output, 1, extension, stamp, "gradient-audio", known)[0]
    unique = not args.output or os.path.isdir(args.output)
    check_targets([target], args.force, unique)

    spoken = text.strip() if text else ""
    # a text has at most as many tokens as characters: the per-token figure is an upper bound
    quantities = {"per 1K characters": len(spoken) / 1000, "per 1K tokens": len(spoken) / 1000, "per audio": 1}
    if args.seconds or (args.model and makes_audio(args.model)):
        quantities["per second"] = args.seconds or defaults.AUDIO_SECONDS  # the length asked for is the length billed
    client = Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                     max_retries=args.max_retries, verbose=args.verbose))
    if not args.request_id:
        args.model = served.choose_default(client, "speech", *defaults.model_choice("speech", args.model))
    elif not args.model:
        raise UsageError("--request-id waits for a fal job: give its --model too")
    if args.instructions is not None and (not args.instructions.strip() or not takes_instructions(args.model)):
        raise UsageError(f"--instructions (a voice design) is not taken by {args.model}" if args.instructions.strip()
                         else "--instructions is empty")
    reservation = budget.check(budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced),
                               unit_cost_for(args.model, quantities)[0], f"speech from {args.model}")
    output = OutputFile(target, args.force, sniff_audio, extensions_for(args.format),
                        MAX_AUDIO_BYTES, "audio", unique=unique)
    started = time.monotonic()
    with Entry("speak", args.model, "audio/speech", client.settings, args.no_log, reservation=reservation) as entry, \
            served.unknown_model_hint(client, "speech", args.model):
        if args.model.startswith("fal-ai/") or args.request_id:
            request_id = args.request_id or submit_job(client, args.model,
                                                       fal_payload(args.model, text.strip(), args.seconds))
            result = wait_for_job(client, request_id, args.poll_interval)
            url = audio_url(result.get("output") if isinstance(result, dict) else None)
            if url is None:
                raise GradientError("invalid_response", f"the job {request_id} finished without audio",
                                    request_id=request_id)
            saved = client.save(client.send("GET", url, authorized=False), output)
        else:
            body = speech_body(args.model, text.strip(), args.voice, args.format, args.instructions)
            response = client.send("POST", client.url("audio/speech"), json_body=body)
            request_id = request_id_of(response)
            saved = save_speech(client, response, output)
        cost, price_source = unit_cost_for(args.model, quantities)
        price_source += speech_price_note(args.model) if cost is not None else ""
        entry.update(request_id=request_id, cost_usd=cost, price_source=price_source)
    if args.json:
        emit_json({"model": args.model, "files": [saved], "count": 1, "cost_usd": cost,
                   "request_id": request_id, "duration_ms": round((time.monotonic() - started) * 1000)})
    else:
        out(saved["path"])
    say_renamed(args.output, [saved["path"]])
    if args.usage:
        log(cost_words(cost, price_source))
    return EXIT_OK


# ---------------------------------------------------------------- transcribe


def transcript_envelope(model: str, wire_format: str, text: str, document, request_id) -> dict:
    """One --json shape for every --format: the text, and the server's JSON when it sent some."""
    language = document.get("language") if isinstance(document, dict) else None
    duration = document.get("duration") if isinstance(document, dict) else None
    return {"model": model, "format": wire_format, "text": text,
            "language": language if isinstance(language, str) else None,
            "duration_seconds": duration if isinstance(duration, (int, float)) and not isinstance(duration, bool)
            else None, "data": document if isinstance(document, dict) else None, "request_id": request_id}


def transcribe(args) -> int:
    data, kind = check_upload(args.file)

    reservation = budget.check(budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced),
                               unit_cost_for(args.model, {"per audio": 1})[0], f"a transcript from {args.model}")
    client = Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                     max_retries=args.max_retries, verbose=args.verbose))
    wire_format = "json" if args.json and args.format == "text" else args.format
    with Entry("transcribe", args.model, "audio/transcriptions", client.settings, args.no_log,
               reservation=reservation) as entry:
        fields = {"model": args.model, "response_format": wire_format}
        if args.language:
            fields["language"] = args.language
        upload = {"file": (os.path.basename(args.file), data, AUDIO_MIME[kind])}
        try:
            response = client.send("POST", client.url("audio/transcriptions"), data=fields, files=upload)
        except GradientError as error:
            if error.status == 404 and client.settings.provider_name == DEFAULT_PROVIDER:
                error.hint = ("DigitalOcean has no transcription endpoint (as of December 2026); providers that have "
                              "one: " + "; ".join(TRANSCRIPTION_PROVIDERS))
            raise
        document = None
        if wire_format == "json":
            document = client.read_json(response)
            if not isinstance(document, dict) or not isinstance(document.get("text"), str):
                raise GradientError("invalid_response", "the transcription has no text")
            text = document["text"].strip() + "\n"
        else:
            body = read_body(response, time.monotonic() + client.settings.timeout, MAX_JSON_BYTES,
                             "the transcription")
            text = decode_text(body, "the transcription")
        envelope = transcript_envelope(args.model, wire_format, text.strip(), document, request_id_of(response))
        seconds = envelope["duration_seconds"]
        envelope["cost_usd"] = unit_cost_for(
            args.model, {"per second": seconds, "per audio": 1} if seconds is not None else {"per audio": 1})[0]
        entry.update(request_id=envelope["request_id"], cost_usd=envelope["cost_usd"])
    if args.json:
        emit_json(envelope)
    else:
        out(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK
