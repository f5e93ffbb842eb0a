#!/usr/bin/env python3
# /// script
# requires-python = ">=3.9"
# dependencies = ["requests>=2.31", "beautifulsoup4>=4.12"]
# ///
"""Generate images on DigitalOcean's Serverless Inference API: synchronous models and fal async-invoke.

examples:
  gradient_image.py --prompt "A lobster analyzing candlestick charts"
  gradient_image.py --prompt "Logo, flat" --n 3 --format webp --output logo.webp   logo-1.webp ... logo-3.webp
  gradient_image.py --model fal-ai/flux/schnell --prompt "A foggy harbor at dawn" --size 1024x768
  gradient_image.py --model fal-ai/flux/schnell --request-id 7f3c...    keep waiting on an earlier job
  gradient_image.py --json --prompt "A red circle" | jq -r '.files[].path'
"""
from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import time

import gradient_common as common

DEFAULT_MODEL = "openai-gpt-image-1"
DEFAULT_TIMEOUT = 300.0
MAX_IMAGE_BYTES = 50 * 1024 * 1024  # a download larger than this is refused
B64_SLICE = 4 * 1024 * 1024  # base64 characters decoded at a time (a multiple of 4)
FORMATS = ("png", "jpeg", "webp")
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
DONE_STATES = ("COMPLETED", "FAILED")
B64_FIELD = re.compile(rb'"b64_json"\s*:\s*"')


# ---------------------------------------------------------------- pure helpers

def size_arg(text: str) -> str:
    if text == "auto" or re.fullmatch(r"[1-9]\d{1,4}x[1-9]\d{1,4}", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (like 1024x1024) or auto")


def count_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number from 1 to 10")
    return int(text)


def planned_paths(output: str | None, n: int, extension: str, stamp: str) -> list:
    """Where the images go: --output (a file name, or a folder), else ./gradient-image-<stamp>;
    with n > 1, -1, -2... before the extension."""
    if output and not os.path.isdir(output):
        base, suffix = os.path.splitext(output)
        if suffix.lower() not in IMAGE_SUFFIXES:
            base, suffix = output, ""
    else:
        base, suffix = os.path.join(output or ".", f"gradient-image-{stamp}"), ""
    suffix = suffix or extension
    if n == 1:
        return [base + suffix]
    return [f"{base}-{index}{suffix}" for index in range(1, n + 1)]


def with_format(path: str, kind: str) -> str:
    """The path with the extension of the image's real format."""
    base, suffix = os.path.splitext(path)
    real = EXTENSIONS[kind]
    if suffix.lower() in (".jpg", ".jpeg") and kind == "jpeg":
        return path
    return (base if suffix.lower() in IMAGE_SUFFIXES else path) + real


def b64_blobs(body: bytearray):
    """Find the b64_json strings in a raw JSON body without copying them: (skeleton JSON
    with empty strings in their place, [(start, end)...]). None when escapes make it unsafe."""
    spans, pieces, position = [], [], 0
    for match in B64_FIELD.finditer(body):
        start = match.end()
        end = body.find(b'"', start)
        if end < 0 or body.find(b"\\", start, end) >= 0:
            return None
        pieces.append(bytes(body[position:start]))
        spans.append((start, end))
        position = end
    pieces.append(bytes(body[position:]))
    return b"".join(pieces), spans


def fal_input(prompt: str, n: int, size: str | None, image_format: str | None) -> dict:
    payload = {"prompt": prompt, "num_images": n}
    if size and size != "auto":
        width, height = size.split("x")
        payload["image_size"] = {"width": int(width), "height": int(height)}
    if image_format:
        payload["output_format"] = image_format
    return payload


# ---------------------------------------------------------------- files

class ImageFile:
    """A temporary file beside the target, kept only when it is a whole image: committed by
    renaming (or linking, which refuses to overwrite), removed on any failure or Ctrl-C."""

    def __init__(self, target: str, force: bool):
        self.target, self.force = target, force
        self.size, self.kind, self._head = 0, None, b""
        folder = os.path.dirname(os.path.abspath(target))
        try:
            fd, self.temporary = tempfile.mkstemp(prefix=".gradient-image-", suffix=".part", dir=folder)
        except OSError as exc:
            raise common.GradientError("io", f"cannot write in {folder}: {exc.strerror or exc}") from None
        self.handle = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        if len(self._head) < 16:
            self._head += bytes(data[:16])
        self.size += len(data)
        if self.size > MAX_IMAGE_BYTES:
            raise common.GradientError("invalid_response", f"the image is larger than {MAX_IMAGE_BYTES >> 20} MB")
        try:
            self.handle.write(data)
        except OSError as exc:
            raise common.GradientError("io", f"cannot write {self.target}: {exc.strerror or exc}") from None

    def commit(self) -> str:
        self.handle.close()
        self.kind = common.sniff_image(self._head)
        if self.kind is None:
            raise common.GradientError("invalid_response", "the server sent something that is not an image "
                                       "(no PNG, JPEG, WebP or GIF signature)")
        final = with_format(self.target, self.kind)
        try:
            if self.force:
                os.replace(self.temporary, final)
            else:
                os.link(self.temporary, final)
                os.unlink(self.temporary)
        except FileExistsError:
            raise common.GradientError("io", f"{final} exists; use --force to overwrite it") from None
        except OSError as exc:
            raise common.GradientError("io", f"cannot save {final}: {exc.strerror or exc}") from None
        self.temporary = None
        return final

    def discard(self) -> None:
        self.handle.close()
        if self.temporary:
            try:
                os.unlink(self.temporary)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.discard()


def check_targets(paths: list, force: bool) -> None:
    """Before any request: the folder exists and is writable, and nothing would be overwritten."""
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise common.GradientError("io", f"the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise common.GradientError("io", f"the folder {folder} is not writable")
        if os.path.isdir(path):
            raise common.GradientError("io", f"{path} is a folder")
        if os.path.exists(path) and not force:
            raise common.GradientError("io", f"{path} exists; use --force to overwrite it")


def save_b64(blob, target: str, force: bool) -> dict:
    with ImageFile(target, force) as image:
        try:
            for start in range(0, len(blob), B64_SLICE):
                image.write(base64.b64decode(blob[start:start + B64_SLICE], validate=True))
        except ValueError:
            raise common.GradientError("invalid_response", "b64_json is not valid base64") from None
        path = image.commit()
        return {"path": path, "bytes": image.size, "format": image.kind}


def download(client, url: str, target: str, force: bool) -> dict:
    """Stream an image URL to disk; the API key is never sent to the image host."""
    response = client.send("GET", url, authorized=False)
    with ImageFile(target, force) as image:
        for chunk in common.iter_body(response, time.monotonic() + client.settings.timeout):
            image.write(chunk)
        path = image.commit()
        return {"path": path, "bytes": image.size, "format": image.kind}


# ---------------------------------------------------------------- requests

def generate_sync(client, args, prompt: str, paths_for) -> tuple:
    body = {"model": args.model, "prompt": prompt, "n": args.n}
    if args.size:
        body["size"] = args.size
    if args.quality:
        body["quality"] = args.quality
    if args.format:
        body["output_format"] = args.format
    response = client.send("POST", client.url("images/generations"), json_body=body)
    raw = bytearray()
    for chunk in common.iter_body(response, time.monotonic() + client.settings.timeout):
        raw += chunk
    found = b64_blobs(raw)
    if found is None:  # escaped strings: parse the plain way
        document, spans = common.decode_json(bytes(raw)), []
    else:
        document, spans = common.decode_json(found[0]), found[1]
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        raise common.GradientError("invalid_response", "the answer has no data list of images")
    files, blobs = [], iter(spans)
    revised = next((d.get("revised_prompt") for d in data if d.get("revised_prompt")), None)
    for item, target in zip(data, paths_for(len(data))):
        if "b64_json" in item:
            if spans:
                start, end = next(blobs)
                files.append(save_b64(memoryview(raw)[start:end], target, args.force))
            else:
                files.append(save_b64(str(item["b64_json"]).encode("ascii", "replace"), target, args.force))
        elif isinstance(item.get("url"), str):
            files.append(download(client, item["url"], target, args.force))
        else:
            raise common.GradientError("invalid_response", "an image in the answer has neither b64_json nor url")
    return files, revised, common.request_id(response)


class Progress:
    """Waiting shown on stderr: a live elapsed-time line on a terminal, one line per status change otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last = None

    def update(self, status: str, elapsed: float) -> None:
        if self.live:
            self.stream.write(f"\r{status.lower().replace('_', ' ')}... {elapsed:.0f} s ")
            self.stream.flush()
        elif status != self.last:
            self.stream.write(f"status: {status} after {elapsed:.1f} s\n")
            self.stream.flush()
        self.last = status

    def close(self) -> None:
        if self.live and self.last is not None:
            self.stream.write("\n")


def failure_reason(document) -> str:
    if not isinstance(document, dict):
        return "no reason given"
    for key in ("error", "reason", "message", "detail"):
        value = document.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("detail")
        if value:
            return common.one_line(str(value))
    return "no reason given"


def wait_for(client, request_id: str, timeout: float, interval: float, progress: Progress) -> dict:
    """Poll /async-invoke/{id}/status until COMPLETED or FAILED, then fetch the result."""
    started = time.monotonic()
    try:
        while True:
            status_doc, _ = client.get_json(f"async-invoke/{request_id}/status")
            status = str(status_doc.get("status", "UNKNOWN")).upper() if isinstance(status_doc, dict) else "UNKNOWN"
            elapsed = time.monotonic() - started
            progress.update(status, elapsed)
            if status in DONE_STATES:
                break
            if elapsed + interval > timeout:
                raise common.GradientError(
                    "timeout", f"the job {request_id} is still {status} after {elapsed:.0f} s",
                    request_id=request_id, hint=f"keep waiting with --request-id {request_id}")
            time.sleep(interval)
    finally:
        progress.close()
    result, _ = client.get_json(f"async-invoke/{request_id}")
    if status == "FAILED" or (isinstance(result, dict) and str(result.get("status", "")).upper() == "FAILED"):
        reason = failure_reason(status_doc)
        if reason == "no reason given":
            reason = failure_reason(result)
        raise common.GradientError("server", f"the job {request_id} failed: {reason}", request_id=request_id)
    return result


def generate_fal(client, args, prompt, paths_for) -> tuple:
    request_id = args.request_id
    if not request_id:
        body = {"model_id": args.model, "input": fal_input(prompt, args.n, args.size, args.format)}
        submitted, _ = client.post_json("async-invoke", body)
        request_id = submitted.get("request_id") if isinstance(submitted, dict) else None
        if not request_id:
            raise common.GradientError("invalid_response", "async-invoke answered without a request_id")
        print(f"submitted {args.model} job {request_id}", file=sys.stderr)
    result = wait_for(client, request_id, args.timeout, args.poll_interval, Progress())
    output = result.get("output") if isinstance(result, dict) else None
    images = output.get("images") if isinstance(output, dict) else None
    if not isinstance(images, list) or not images:
        raise common.GradientError("invalid_response", f"the job {request_id} finished without images",
                                   request_id=request_id)
    files = []
    for image, target in zip(images, paths_for(len(images))):
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise common.GradientError("invalid_response", "an image of the job has no url", request_id=request_id)
        files.append(download(client, image["url"], target, args.force))
    return files, None, request_id


# ---------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-p", "--prompt", metavar="TEXT", help="what to draw; '-' reads it from stdin")
    parser.add_argument("-m", "--model", default=common.env_default("GRADIENT_IMAGE_MODEL", DEFAULT_MODEL),
                        help="image model (env GRADIENT_IMAGE_MODEL; default %(default)s); "
                             "fal-ai/... models run through async-invoke")
    parser.add_argument("--size", type=size_arg, metavar="WxH", help="WIDTHxHEIGHT or auto, e.g. 1024x1024")
    parser.add_argument("--n", type=count_arg, default=1, help="how many images, 1-10 (default 1)")
    parser.add_argument("--quality", help="quality, as the model understands it (low, medium, high, auto...)")
    parser.add_argument("--format", choices=FORMATS, help="image format, sent as output_format")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file to write (with --n > 1: -1, -2... before the extension) or an existing "
                             "folder; default ./gradient-image-<UTC timestamp>.<ext>")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--poll-interval", type=common.positive_float, default=2.0, metavar="SECONDS",
                        help="fal jobs: seconds between status checks (default %(default)g)")
    parser.add_argument("--request-id", metavar="ID",
                        help="fal jobs: wait for (or fetch) an earlier job instead of submitting a new one")
    common.add_common_args(parser, default_timeout=DEFAULT_TIMEOUT)
    return parser


def read_prompt(args: argparse.Namespace) -> str | None:
    if args.request_id and not args.prompt:
        return None
    prompt = sys.stdin.buffer.read().decode("utf-8", "replace") if args.prompt == "-" else args.prompt
    if not prompt or not prompt.strip():
        raise common.UsageError("give --prompt TEXT (or --prompt - to read it from stdin)")
    return prompt.strip()


def generate(args: argparse.Namespace) -> int:
    prompt = read_prompt(args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def paths_for(count: int) -> list:
        """Planned names for `count` images (a job may return another count than --n asked for)."""
        paths = planned_paths(args.output, count, EXTENSIONS[args.format or "png"], stamp)
        check_targets(paths, args.force)
        return paths

    paths_for(args.n)
    client = common.Client.from_args(args)
    started = time.monotonic()
    if args.model.startswith("fal-ai/") or args.request_id:
        files, revised, request_id = generate_fal(client, args, prompt, paths_for)
    else:
        files, revised, request_id = generate_sync(client, args, prompt, paths_for)
    if args.json:
        common.emit_json({"model": args.model, "files": files, "count": len(files), "revised_prompt": revised,
                          "request_id": request_id,
                          "duration_ms": round((time.monotonic() - started) * 1000)})
    else:
        sys.stdout.write("".join(f["path"] + "\n" for f in files))
    return common.EXIT_OK


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return common.run(generate, args)
    except common.UsageError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
