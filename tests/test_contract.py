"""The request bodies the scripts build, checked against OpenAI's OpenAPI spec (shared/contracts,
where it exists) and DigitalOcean's (shared/contracts, else the copy in tests/contracts)."""
from __future__ import annotations

import pytest

import gradient_audio
from gradient_inference.chat import bodies as chat_bodies
from gradient_inference.media import run_audio as media_run_audio
from gradient_inference.media import run_embed as media_run_embed
from gradient_inference.media import run_image as media_run_image
import gradient_embed
import gradient_image
from conftest import DO_ADDITIONS, DO_SPEC, ROOT

SPEC = ROOT.parent / "shared" / "contracts" / "openai-openapi.yaml"
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


def spec_validator(path):
    """A function that validates a body against one of the spec's component schemas."""
    import jsonschema
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        components = yaml.load(handle, Loader=loader)["components"]

    def validate(schema_name: str, body: dict) -> None:
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
        jsonschema.Draft202012Validator(schema).validate(body)

    return validate


@pytest.fixture(scope="module")
def check():
    if not SPEC.exists():
        pytest.skip(f"no OpenAPI contract at {SPEC}")
    return spec_validator(SPEC)


HISTORY = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


@pytest.mark.parametrize("kwargs", [
    dict(model="openai-gpt-oss-120b", system=None, history=[], prompt="Q", images=[]),
    dict(model="llama3.3-70b-instruct", system="Be brief.", history=HISTORY, prompt="Q", images=[],
         temperature=0.2, max_tokens=50, stream=True),
    dict(model="openai-gpt-oss-120b", system=None, history=[], prompt="Describe",
         images=[DATA_URL, "https://example.com/cat.jpg"]),
    dict(model="anthropic-claude-3.7-sonnet", system="Long rules", history=[], prompt="Q", images=[], cache=True),
    dict(model="anthropic-claude-3.7-sonnet", system=None, history=[], prompt="Long doc", images=[], cache=True),
])
def test_chat_completion_bodies(check, kwargs):
    check("CreateChatCompletionRequest", chat_bodies.chat_body(**kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(model="openai-gpt-oss-120b", system="Be brief.", history=[], prompt="Q", images=[],
         temperature=0.5, max_tokens=64, stream=True, cache=True),
    dict(model="openai-gpt-oss-120b", system=None, history=HISTORY, prompt="And then?", images=[]),
    dict(model="openai-gpt-oss-120b", system=None, history=[], prompt="Describe",
         images=[DATA_URL, "https://example.com/cat.jpg"]),
])
def test_responses_bodies(check, kwargs):
    body = chat_bodies.responses_body(**kwargs)
    if isinstance(body["input"], list):
        # the spec picks an input item's schema by an OpenAPI discriminator, which JSON Schema's
        # oneOf does not apply (a message fits two branches), so items are checked as what they are
        for item in body["input"]:
            check("EasyInputMessage", item)
        body = dict(body, input="placeholder")
    check("CreateResponse", body)


def test_image_embedding_and_speech_bodies(check):
    check("CreateImageRequest", media_run_image.images_body("openai-gpt-image-1", "A red square", 3, "1024x1024",
                                                           "high", "webp"))
    check("CreateImageRequest", media_run_image.images_body("openai-gpt-image-1", "x", 1, None, None, None))
    check("CreateEmbeddingRequest", media_run_embed.embeddings_body("text-embedding-3-small", ["a", "b"], 256))
    check("CreateSpeechRequest", media_run_audio.speech_body("gpt-4o-mini-tts", "Hello", "alloy", "mp3"))


def test_the_contract_check_rejects_a_wrong_body(check):
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        check("CreateChatCompletionRequest", {"model": "m", "messages": [{"role": "robot", "content": "x"}]})


@pytest.fixture(scope="module")
def check_do():
    return spec_validator(DO_SPEC)


TOOL = {"type": "function", "function": {"name": "lookup", "description": "Find a thing",
                                         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


@pytest.mark.parametrize("extra", [
    dict(reasoning_effort="low", seed=7, stop=["END", "STOP"], top_p=0.9),
    dict(stop="END", reasoning_effort="xhigh"),
    dict(tools=[TOOL], tool_choice="auto"),
    dict(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "lookup"}}),
])
def test_chat_bodies_with_controls_fit_digitaloceans_spec(check_do, extra):
    body = chat_bodies.chat_body("openai-gpt-oss-120b", None, [], "Q", [], **extra)
    assert {k: body[k] for k in extra} == extra
    check_do("chat_completion_request", body)


def test_responses_body_with_controls_fits_digitaloceans_spec(check_do):
    body = chat_bodies.responses_body("openai-gpt-oss-120b", "sys", [], "Q", [], top_p=0.5, stop=["END"])
    check_do("create_response_request", body)


# ---------------------------------------------------------------- Anthropic's Messages API (DigitalOcean's spec)

from gradient_inference.chat import messages as chat_messages  # noqa: E402
from gradient_inference.chat import schema as chat_schema  # noqa: E402

TOOL_TURNS = [{"role": "user", "content": "Weather in Paris?"},
              {"role": "assistant", "content": None, "tool_calls": [
                  {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "Paris"}'}}]},
              {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"}]


@pytest.mark.parametrize("args, kwargs", [
    (("anthropic-claude-sonnet-4", None, [], "Q", []), dict(max_tokens=1024)),
    (("anthropic-claude-sonnet-4", "Be brief.", HISTORY, "And then?", [DATA_URL]),
     dict(max_tokens=64000, temperature=0.5, top_p=0.9, stop=["END"], stream=True, reasoning_effort="low")),
    (("anthropic-claude-sonnet-4", "Long rules", [], "Q", []), dict(max_tokens=10, cache=True)),
    (("anthropic-claude-sonnet-4", None, [], "Long doc", []), dict(max_tokens=10, cache=True)),
    (("anthropic-claude-sonnet-4", None, [], "Q", []), dict(max_tokens=10, tools=[TOOL], tool_choice="auto")),
    (("anthropic-claude-sonnet-4", None, [], "Q", []),
     dict(max_tokens=10, tools=[TOOL], tool_choice={"type": "function", "function": {"name": "lookup"}})),
    (("anthropic-claude-sonnet-4", None, [], "Q", []), dict(max_tokens=10, tools=[TOOL], tool_choice="required")),
    (("anthropic-claude-sonnet-4", None, TOOL_TURNS, None, []), dict(max_tokens=10, tools=[TOOL])),
    (("anthropic-claude-sonnet-4", None, [], "A film?", []),
     dict(max_tokens=10, **chat_schema.tool_request({"type": "object", "properties": {"title": {"type": "string"}}},
                                                    "chat"))),
])
def test_messages_bodies_fit_digitaloceans_spec(check_do, args, kwargs):
    check_do("messages_create_request", chat_messages.messages_body(*args, **kwargs))


def test_the_messages_contract_check_rejects_a_wrong_body(check_do):
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        check_do("messages_create_request", {"model": "m", "messages": [{"role": "user", "content": "q"}]})


def test_the_fake_messages_answers_fit_digitaloceans_spec(check_do):
    """The answers tests/chat/test_messages_api.py serves are the spec's shape (thinking blocks are
    Anthropic's, beyond the spec: the reader accepts both)."""
    import importlib.util

    found = importlib.util.spec_from_file_location("messages_fakes", ROOT / "tests" / "chat" / "test_messages_api.py")
    fakes = importlib.util.module_from_spec(found)
    found.loader.exec_module(fakes)
    check_do("messages_create_response", fakes.message(fakes.text("Lisbon.")))
    check_do("messages_create_response", fakes.message(fakes.tool_use("toolu_1", "weather", {"city": "Paris"}),
                                                       stop="tool_use"))
    check_do("messages_stream_event", fakes.START)


# ---------------------------------------------------------------- the 2026-12 additions


@pytest.fixture(scope="module")
def check_additions():
    return spec_validator(DO_ADDITIONS)


@pytest.mark.parametrize("args", [("wan2-2-t2v-a14b", "A fox", None, None), ("wan2-2-t2v-a14b", "x", "1280x720", 16)])
def test_video_bodies_fit_the_additions(check_additions, args):
    from gradient_inference.media import run_video

    check_additions("video_create_request", run_video.video_body(*args))


def test_the_additions_check_rejects_a_wrong_video_body(check_additions):
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        check_additions("video_create_request", {"model": "m", "prompt": "x", "fps": 0})


def test_speech_bodies_fit_the_additions(check_additions):
    check_additions("create_speech_request", media_run_audio.speech_body("qwen3-tts-voicedesign", "Hi", "alloy", "mp3",
                                                                        "a calm voice"))
    check_additions("create_speech_request", media_run_audio.speech_body("tts-1", "Hi", "alloy", "wav"))


def test_catalog_list_queries_use_the_additions_parameters():
    from urllib.parse import parse_qs

    import yaml

    from gradient_inference.models import catalog

    spec = yaml.safe_load(DO_ADDITIONS.read_text())
    parameters = {p["name"]: p for p in spec["paths"]["/v2/gen-ai/models/catalog"]["get"]["parameters"]}
    documented_types = {word.strip(" .") for word in parameters["model_type"]["description"].split(".", 1)[1].split(",")}
    for types in ([], ["embedding"], ["chat", "speech"], ["image", "reranking", "transcription"]):
        query = parse_qs(catalog.list_query(2, catalog.model_type_filter(types)))
        assert set(query) <= set(parameters) and "limit" not in query  # limit is deprecated
        assert set(query.get("model_type", [])) <= documented_types
    assert all(set(words) <= documented_types for words in catalog.CATALOG_MODEL_TYPES.values())
