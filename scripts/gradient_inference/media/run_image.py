"""The image command's work: synchronous models (/images/generations, base64 or URLs) and fal
models through async-invoke, each image streamed to a file that appears whole or not at all,
priced per image or megapixel, within the budget, with its ledger row.

Belongs here: turning the image command's flags into images on disk. Does not belong here: the
flags (scripts/gradient_image.py), output files (core.outfiles) or fal jobs (media.jobs).
"""
from __future__ import annotations

import base64
import os
import re
import sys
import time

from gradient_inference.api.client import Client, read_body, request_id_of
from gradient_inference.api.status import decode_json
from gradient_inference.api.usage import normalize_usage
from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_OK, GradientError, UsageError
from gradient_inference.core.inputs import read_stdin, sniff_image
from gradient_inference.core.outfiles import OutputFile, check_targets, planned_paths, say_renamed
from gradient_inference.core.output import cost_words, emit_json, log, out
from gradient_inference.core.settings import resolve_settings
from gradient_inference.ledger.store import Entry
from gradient_inference.media.jobs import submit_job, wait_for_job
from gradient_inference.models import budget, served
from gradient_inference.models.prices import cost_for, unit_cost_for

MAX_IMAGE_BYTES = 50 * 1024 * 1024  # a larger image is refused
B64_SLICE = 4 * 1024 * 1024  # base64 characters decoded at a time (a multiple of 4)
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
B64_FIELD = re.compile(rb'"b64_json"\s*:\s*"')


# ---------------------------------------------------------------- pure helpers


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
    return OutputFile(target, args.force, sniff_image, EXTENSIONS, MAX_IMAGE_BYTES, "an image",
                      unique=default_names(args))


def save_b64(blob, target: str, args) -> dict:
    with image_file(target, args) as image:
        try:
            for start in range(0, len(blob), B64_SLICE):
                image.write(base64.b64decode(blob[start:start + B64_SLICE], validate=True))
        except ValueError:
            raise GradientError("invalid_response", "b64_json is not valid base64") from None
        return image.commit()


def download(client, url: str, target: str, args) -> dict:
    """Stream an image URL to disk; the API key is never sent to the image host."""
    response = client.send("GET", url, authorized=False)
    return client.save(response, image_file(target, args))


# ---------------------------------------------------------------- requests


def generate_sync(client, args, prompt: str, paths_for) -> tuple:
    body = images_body(args.model, prompt, args.n, args.size, args.quality, args.format)
    response = client.send("POST", client.url("images/generations"), json_body=body)
    limit = args.n * MAX_IMAGE_BYTES * 4 // 3 + (1 << 20)  # n images in base64, and the JSON around them
    raw = read_body(response, time.monotonic() + client.settings.timeout, limit)
    found = b64_blobs(raw)  # None when escapes force the plain (copying) parse
    spans = iter(found[1]) if found else None
    document = decode_json(found[0] if found else bytes(raw))
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        raise GradientError("invalid_response", "the answer has no data list of images")
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
            raise GradientError("invalid_response", "an image in the answer has neither b64_json nor url")
    return saved, revised, request_id_of(response), document.get("usage")


def generate_fal(client, args, prompt, paths_for) -> tuple:
    request_id = args.request_id or submit_job(
        client, args.model, fal_input(prompt, args.n, args.size, args.format))
    result = wait_for_job(client, request_id, args.poll_interval)
    output = result.get("output") if isinstance(result, dict) else None
    images = output.get("images") if isinstance(output, dict) else None
    if not isinstance(images, list) or not images:
        raise GradientError("invalid_response", f"the job {request_id} finished without images",
                            request_id=request_id)
    saved = []
    for image, target in zip(images, paths_for(len(images))):
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise GradientError("invalid_response", "an image of the job has no url", request_id=request_id)
        saved.append(download(client, image["url"], target, args))
    return saved, None, request_id, None


# ---------------------------------------------------------------- the command


def image_cost(model: str, quantities: dict, usage) -> tuple:
    """(USD, where the price came from) of the images: a per-image or per-megapixel price, else
    the tokens the answer reports (gpt-image-1 bills image tokens) at the model's token prices."""
    cost, price_source = unit_cost_for(model, quantities)
    if cost is None and isinstance(usage, dict):
        by_tokens, source = cost_for(model, normalize_usage(usage))
        if by_tokens is not None:
            return by_tokens, source
    return cost, price_source


def read_prompt(args) -> str | None:
    if args.request_id and not args.prompt:
        return None
    prompt = read_stdin(sys.stdin) if args.prompt == "-" else args.prompt
    if not prompt or not prompt.strip():
        raise UsageError("give --prompt TEXT (or --prompt - to read it from stdin)")
    return prompt.strip()


def generate(args) -> int:
    prompt = read_prompt(args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def paths_for(count: int) -> list:
        """Planned names for `count` images (a job may return another count than --n asked for)."""
        paths = planned_paths(args.output, count, EXTENSIONS[args.format or "png"], stamp,
                              "gradient-image", IMAGE_SUFFIXES)
        check_targets(paths, args.force, unique=default_names(args))
        return paths

    paths_for(args.n)

    client = Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                     max_retries=args.max_retries, verbose=args.verbose))
    model, pinned = defaults.model_choice("image", args.model)
    args.model = served.choose_default(client, "image", model, pinned)  # the model every step below uses
    reservation = budget.check(budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced),
                               unit_cost_for(args.model, image_quantities(args.size, args.n))[0],
                               f"{args.n} image{'s' if args.n != 1 else ''} from {args.model}")
    started = time.monotonic()

    with Entry("image", args.model, "images", client.settings, args.no_log, reservation=reservation) as entry, \
            served.unknown_model_hint(client, "image", args.model):
        if args.model.startswith("fal-ai/") or args.request_id:
            saved, revised, request_id, usage = generate_fal(client, args, prompt, paths_for)
        else:
            saved, revised, request_id, usage = generate_sync(client, args, prompt, paths_for)
        cost, price_source = image_cost(args.model, image_quantities(args.size, len(saved)), usage)
        entry.update(request_id=request_id, usage=normalize_usage(usage) if usage else None, cost_usd=cost,
                     price_source=price_source)
    if args.json:
        emit_json({"model": args.model, "files": saved, "count": len(saved), "revised_prompt": revised,
                   "cost_usd": cost, "request_id": request_id,
                   "duration_ms": round((time.monotonic() - started) * 1000)})
    else:
        out("".join(f["path"] + "\n" for f in saved), end="")
    say_renamed(args.output, [f["path"] for f in saved])
    if args.usage:
        log(f"{len(saved)} image{'s' if len(saved) != 1 else ''}, "
            + cost_words(cost, price_source))
    return EXIT_OK
