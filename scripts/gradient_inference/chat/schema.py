"""Structured output: a JSON Schema from --schema (inline JSON, a file, or the short form
`title, year int, rating float: 0 to 10`), the requests that ask a model for it (one forced
function tool, or response_format for local servers), and checking the answer against it.

Belongs here: schemas, the one choice of how to ask for one (chat and batch send the same
request for the same schema), and the one check of an answer (the same message for both).
Does not belong here: sending the request or printing (chat.run_chat, batch.local).
"""
from __future__ import annotations

import functools
import re

from gradient_inference.core.errors import GradientError, UsageError
from gradient_inference.core.jsondata import loads
from gradient_inference.core.output import warn
from gradient_inference.core.paths import read_regular_file, why
from gradient_inference.core.text import one_line

TOOL_NAME = "answer"
SHORT_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list,
              "object": dict, "null": type(None)}
FIELD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\s([A-Za-z]+))?\s*(?::\s*(.*))?")
MAX_SCHEMA_BYTES = 1 << 20


def parse_short(text: str) -> dict:
    """`name [type][: description]` fields, by commas, or (as llm's form has it) one a line when
    the text has several lines, so that a description may hold commas; types str (default), int,
    float, bool; every field required."""
    properties = {}
    lines = "\n" in text.strip()
    for part in text.split("\n") if lines else text.split(","):
        part = part.rstrip().rstrip(",") if lines else part  # `title,` on its line: the comma only separates
        if not part.strip():
            continue
        match = FIELD.fullmatch(part)
        if not match:
            comma = "" if lines else ("; a comma ends a field: to keep commas in a description, give one field a line "
                                      "(--schema $'label: positive, negative or neutral\\nconfidence float')")
            raise UsageError(f"--schema: {part.strip()!r} is not `name [type][: description]`{comma}")
        name, kind, description = match.groups()
        if kind and kind not in SHORT_TYPES:
            raise UsageError(f"--schema: {kind!r} is not a type: use {', '.join(SHORT_TYPES)}")
        properties[name] = {"type": SHORT_TYPES[kind or "str"]}
        if description and description.strip():
            properties[name]["description"] = description.strip()
    if not properties:
        raise UsageError("--schema names no field")
    return {"type": "object", "properties": properties, "required": list(properties)}


def load_schema(spec: str, multi: bool = False) -> dict:
    """A JSON Schema from inline JSON, a file holding JSON or the short form, or the short form."""
    text = spec
    if not spec.lstrip().startswith("{") and "\n" not in spec and spec.endswith((".json", ".txt", ".schema")):
        try:
            text = read_regular_file(spec, MAX_SCHEMA_BYTES).decode("utf-8", "replace")
        except OSError as exc:
            raise UsageError(f"cannot read the schema file {spec}: {why(exc)}") from None
    if text.lstrip().startswith("{"):
        try:
            schema = loads(text)
        except ValueError as exc:
            raise UsageError(f"--schema is not valid JSON: {exc}") from None
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise UsageError("--schema must describe a JSON object (\"type\": \"object\")")
    else:
        schema = parse_short(text)
    if multi:
        schema = {"type": "object", "properties": {"items": {"type": "array", "items": schema}}, "required": ["items"]}
    return schema


# ---------------------------------------------------------------- asking for it


def forms(schema: dict, api: str, mode: str | None = None, local: bool = False) -> list:
    """The request fields that ask for the schema, in the order to try them: one forced tool (the
    default, and what remote providers and the Batch API take); on a local server, or with mode
    response_format, response_format json_schema, then json_object with the schema, then (unless
    the mode was asked for) the forced tool. The Messages API takes the forced tool only (in chat
    completions' form here: chat.messages turns it into its own)."""
    if api == "messages":
        return [tool_request(schema, "chat")]
    if (mode or ("response_format" if local else "tool")) == "tool":
        return [tool_request(schema, api)]
    found = [format_request(schema, "json_schema"), format_request(schema, "json_object")]
    return found + ([tool_request(schema, api)] if not mode else [])


def tool_request(schema: dict, api: str) -> dict:
    """One function tool the model is forced to call: its arguments are the answer."""
    description = "Reply by calling this function; its arguments are the answer, as JSON of this shape."
    if api == "chat":
        tool = {"type": "function", "function": {"name": TOOL_NAME, "description": description, "parameters": schema}}
    else:
        tool = {"type": "function", "name": TOOL_NAME, "description": description, "parameters": schema}
    return {"tools": [tool], "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}}}


def format_request(schema: dict, form: str) -> dict:
    """response_format as llama.cpp, vLLM and Ollama take it (json_schema), or as
    llama-cpp-python's server does (json_object with a schema)."""
    if form == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": TOOL_NAME, "schema": schema}}}
    return {"response_format": {"type": "json_object", "schema": schema}}


# ---------------------------------------------------------------- checking the answer


def parse_answer(text: str):
    """The JSON of an answer: the text itself, or inside a ``` fence a model added around it."""
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.S)
    try:
        return loads(fenced.group(1) if fenced else stripped)
    except ValueError:
        raise GradientError("invalid_response", "the answer is not JSON", raw=text) from None


def problems(value, schema: dict, where: str = "the answer") -> list:
    """What breaks the schema's basics: a missing required field, or a field of the wrong type."""
    expected = schema.get("type")
    types = expected if isinstance(expected, list) else [expected] if expected else []
    if types and not any(isinstance(value, JSON_TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                         for t in types if t in JSON_TYPES):
        return [f"{where} is not {' or '.join(types)}"]
    found = []
    if isinstance(value, dict):
        found += [f"{where} lacks the field {name!r}" for name in schema.get("required", []) if name not in value]
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and isinstance(sub, dict):
                found += problems(value[name], sub, f"field {name!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"item {index}")
    return found


def check(value, schema: dict, raw: str):
    """The answer if it fits the schema; else invalid_response naming what is missing or wrong.
    Rich schemas (enums, patterns, anyOf...) are checked fully with jsonschema where it is installed."""
    found = problems(value, schema)
    if not found and rich(schema):
        try:
            import jsonschema  # optional: the full check where it is installed
        except ImportError:
            basics_only()
        else:
            try:
                error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
            except RecursionError:
                raise GradientError("parse", "the answer could not be checked against --schema: it refers to itself "
                                    "without end", raw=raw) from None
            except Exception as problem:  # jsonschema's own (a bad schema, a $ref nowhere), never anything else
                if not type(problem).__module__.startswith(("jsonschema", "referencing")):
                    raise
                raise GradientError("parse", "the answer could not be checked against --schema: it is not a valid "
                                    f"JSON Schema ({one_line(str(problem), 120)})", raw=raw) from None
            found = [error.message] if error is not None else []
    if found:
        raise GradientError("invalid_response", "the answer does not fit --schema: " + "; ".join(found[:5]), raw=raw)
    return value


@functools.lru_cache(maxsize=None)
def basics_only() -> None:
    """Said once a process (a batch checks many answers): without jsonschema, only the basics."""
    warn("only the basics of --schema were checked (required fields and types): install jsonschema for more")


def rich(schema) -> bool:
    """Whether a schema asks for more than the basics checked here, anywhere in it (a property's,
    an item's or additionalProperties' schema, a list of schemas)."""
    basic = {"type", "properties", "required", "items", "description", "title", "additionalProperties", "$schema"}
    if isinstance(schema, list):
        return any(rich(part) for part in schema)
    if not isinstance(schema, dict):
        return False
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    return bool(set(schema) - basic) or any(rich(v) for v in properties.values()) or rich(schema.get("items")) or \
        rich(schema.get("additionalProperties"))


def answer_data(answer, schema: dict, multi: bool):
    """The answer's JSON (the forced tool's arguments, or the text), checked against the schema."""
    raw = answer.tool_calls[0]["arguments"] if answer.tool_calls else answer.content
    data = check(parse_answer(raw), schema, raw)
    return data["items"] if multi else data
