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
import os
import re
import sys
import time

import gradient_common as common
import gradient_config as config

# Feature modules are imported in the functions that use them: `--help` needs none of them.

DEFAULT_MODEL = "openai-gpt-image-1"
DEFAULT_TIMEOUT = 300.0
MAX_IMAGE_BYTES = 50 * 1024 * 1024  # a larger image is refused
B64_SLICE = 4 * 1024 * 1024  # base64 characters decoded at a time (a multiple of 4)
FORMATS = ("png", "jpeg", "webp")
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
B64_FIELD = re.compile(rb'"b64_json"\s*:\s*"')


# ---------------------------------------------------------------- pure helpers

def size_arg(text: str) -> str:
    if text == "auto" or re.fullmatch(r"[1-9]\d{1,4}x[1-9]\d{1,4}", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (like 1024x1024) or auto")


def image_quantities(size: str | None, count: int) -> dict:
    """What an image call used, per unit it may be priced by: images, and megapixels when the size is known."""
    quantities = {"per image": count}
    if size and size != "auto":
        width, height = (int(side) for side in size.split("x"))
        quantities["per megapixel"] = round(width * height / 1e6 * count, 6)
    return quantities


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


def images_body(model: str, prompt: str, n: int, size: str | None, quality: str | None,
                image_format: str | None) -> dict:
    """POST /images/generations: optional fields only when given."""
    body = {"model": model, "prompt": prompt, "n": n}
    optional = {"size": size, "quality": quality, "output_format": image_format}
    body.update({key: value for key, value in optional.items() if value})
    return body


def fal_input(prompt: str, n: int, size: str | None, image_format: str | None) -> dict:
    payload = {"prompt": prompt, "num_images": n}
    if size and size != "auto":
        width, height = size.split("x")
        payload["image_size"] = {"width": int(width), "height": int(height)}
    if image_format:
        payload["output_format"] = image_format
    return payload


# ---------------------------------------------------------------- files

def default_names(args) -> bool:
    """No --output file name: the names are ours to choose, so a taken one steps aside (-2, -3...)."""
    return not args.output or os.path.isdir(args.output)


def image_file(target: str, args):
    import gradient_files as files

    return files.OutputFile(target, args.force, files.sniff_image, EXTENSIONS, MAX_IMAGE_BYTES, "an image",
                            unique=default_names(args))


def save_b64(blob, target: str, args) -> dict:
    import base64

    with image_file(target, args) as image:
        try:
            for start in range(0, len(blob), B64_SLICE):
                image.write(base64.b64decode(blob[start:start + B64_SLICE], validate=True))
        except ValueError:
            raise common.GradientError("invalid_response", "b64_json is not valid base64") from None
        return image.commit()


def download(client, url: str, target: str, args) -> dict:
    """Stream an image URL to disk; the API key is never sent to the image host."""
    import gradient_files as files

    response = client.send("GET", url, authorized=False)
    return files.save_response(client, response, image_file(target, args))


# ---------------------------------------------------------------- requests

def generate_sync(client, args, prompt: str, paths_for) -> tuple:
    import gradient_http as http
    import gradient_wire as wire

    body = images_body(args.model, prompt, args.n, args.size, args.quality, args.format)
    response = client.send("POST", client.url("images/generations"), json_body=body)
    limit = args.n * MAX_IMAGE_BYTES * 4 // 3 + (1 << 20)  # n images in base64, and the JSON around them
    raw = http.read_body(response, time.monotonic() + client.settings.timeout, limit)
    found = b64_blobs(raw)  # None when escapes force the plain (copying) parse
    spans = iter(found[1]) if found else None
    document = wire.decode_json(found[0] if found else bytes(raw))
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        raise common.GradientError("invalid_response", "the answer has no data list of images")
    saved = []
    revised = next((d.get("revised_prompt") for d in data if d.get("revised_prompt")), None)
    for item, target in zip(data, paths_for(len(data))):
        encoded = item.get("b64_json")
        if isinstance(encoded, str):  # each string value has its span in the raw body, in order
            if spans is not None:
                start, end = next(spans)
                saved.append(save_b64(memoryview(raw)[start:end], target, args))
            else:
                saved.append(save_b64(encoded.encode("ascii", "replace"), target, args))
        elif isinstance(item.get("url"), str):
            saved.append(download(client, item["url"], target, args))
        else:
            raise common.GradientError("invalid_response", "an image in the answer has neither b64_json nor url")
    return saved, revised, http.request_id(response)


def generate_fal(client, args, prompt, paths_for) -> tuple:
    import gradient_jobs as jobs

    request_id = args.request_id or jobs.submit_job(
        client, args.model, fal_input(prompt, args.n, args.size, args.format))
    result = jobs.wait_for_job(client, request_id, args.poll_interval)
    output = result.get("output") if isinstance(result, dict) else None
    images = output.get("images") if isinstance(output, dict) else None
    if not isinstance(images, list) or not images:
        raise common.GradientError("invalid_response", f"the job {request_id} finished without images",
                                   request_id=request_id)
    saved = []
    for image, target in zip(images, paths_for(len(images))):
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise common.GradientError("invalid_response", "an image of the job has no url", request_id=request_id)
        saved.append(download(client, image["url"], target, args))
    return saved, None, request_id


# ---------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    parser = config.command_parser(__doc__)
    parser.add_argument("-p", "--prompt", metavar="TEXT", help="what to draw; '-' reads it from stdin")
    parser.add_argument("-m", "--model", default=config.env_default("GRADIENT_IMAGE_MODEL", DEFAULT_MODEL),
                        help="image model (env GRADIENT_IMAGE_MODEL; default %(default)s); "
                             "fal-ai/... models run through async-invoke")
    parser.add_argument("--size", type=size_arg, metavar="WxH", help="WIDTHxHEIGHT or auto, e.g. 1024x1024")
    parser.add_argument("--n", type=config.int_in_range(1, 10), default=1, help="how many images, 1-10 (default 1)")
    parser.add_argument("--quality", help="quality, as the model understands it (low, medium, high, auto...)")
    parser.add_argument("--format", choices=FORMATS, help="image format, sent as output_format")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file to write (with --n > 1: -1, -2... before the extension) or an existing "
                             "folder; default ./gradient-image-<UTC timestamp>.<ext>")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
    parser.add_argument("--poll-interval", type=config.positive_float, default=2.0, metavar="SECONDS",
                        help="fal jobs: seconds between status checks (default %(default)g)")
    parser.add_argument("-u", "--usage", action="store_true",
                        help="print the cost on stderr when a per-image or per-megapixel price is known")
    parser.add_argument("--request-id", metavar="ID",
                        help="fal jobs: wait for (or fetch) an earlier job instead of submitting a new one")
    config.add_budget_args(parser)
    config.add_common_args(parser, default_timeout=DEFAULT_TIMEOUT)
    return parser


def read_prompt(args: argparse.Namespace) -> str | None:
    import gradient_files as files

    if args.request_id and not args.prompt:
        return None
    prompt = files.read_stdin(sys.stdin) if args.prompt == "-" else args.prompt
    if not prompt or not prompt.strip():
        raise common.UsageError("give --prompt TEXT (or --prompt - to read it from stdin)")
    return prompt.strip()


def generate(args: argparse.Namespace) -> int:
    import gradient_files as files
    import gradient_http as http

    prompt = read_prompt(args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def paths_for(count: int) -> list:
        """Planned names for `count` images (a job may return another count than --n asked for)."""
        paths = files.planned_paths(args.output, count, EXTENSIONS[args.format or "png"], stamp,
                                     "gradient-image", IMAGE_SUFFIXES)
        files.check_targets(paths, args.force, unique=default_names(args))
        return paths

    paths_for(args.n)
    import gradient_ledger
    import gradient_prices  # a cached or bundled price, never a live fetch

    gradient_ledger.check_budget(args, gradient_prices.unit_cost_for(args.model, image_quantities(args.size, args.n))[0],
                                 f"{args.n} image{'s' if args.n != 1 else ''} from {args.model}")
    client = http.Client.from_args(args)
    started = time.monotonic()

    with gradient_ledger.Entry(args, "image", args.model, "images", client.settings) as entry:
        if args.model.startswith("fal-ai/") or args.request_id:
            saved, revised, request_id = generate_fal(client, args, prompt, paths_for)
        else:
            saved, revised, request_id = generate_sync(client, args, prompt, paths_for)
        cost, price_source = gradient_prices.unit_cost_for(args.model, image_quantities(args.size, len(saved)))
        entry.update(request_id=request_id, cost_usd=cost, price_source=price_source)
    if args.json:
        common.emit_json({"model": args.model, "files": saved, "count": len(saved), "revised_prompt": revised,
                          "cost_usd": cost, "request_id": request_id,
                          "duration_ms": round((time.monotonic() - started) * 1000)})
    else:
        common.out("".join(f["path"] + "\n" for f in saved), end="")
    if args.usage:
        common.log(f"{len(saved)} image{'s' if len(saved) != 1 else ''}, "
                   + (f"cost ${cost:.6f} ({price_source})" if cost is not None else f"cost unknown ({price_source})"))
    return common.EXIT_OK


def main(argv=None) -> int:
    parser = build_parser()
    return common.run(generate, parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
