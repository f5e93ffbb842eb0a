"""gradient_chatapi: request bodies for both chat APIs, and answers read whole or event by event
(the end-to-end flows through the fake server are in test_chat)."""
from __future__ import annotations

import pytest

from gradient_inference.chat import answers as chat_answers
from gradient_inference.chat import bodies as chat_bodies
from gradient_inference.core import errors as core_errors


def test_cache_marks_the_system_prompt_of_anthropic_models_only():
    body = chat_bodies.chat_body("anthropic-claude-3.7-sonnet", "rules", [], "q", [], cache=True)
    assert body["messages"][0]["content"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    assert chat_bodies.chat_body("openai-gpt-oss-120b", "rules", [], "q", [], cache=True)["messages"][0]["content"] == "rules"


def test_without_a_system_prompt_the_first_user_turn_is_marked():
    marked = chat_bodies.mark_for_caching([{"role": "user", "content": "long"}, {"role": "user", "content": "next"}])
    assert marked[0]["content"][-1]["cache_control"] == {"type": "ephemeral"} and marked[1]["content"] == "next"


@pytest.mark.parametrize("field, expected", [("max_completion_tokens", {"max_completion_tokens": 5}),
                                             ("max_tokens", {"max_tokens": 5})])
def test_the_max_tokens_field_is_the_providers(field, expected):
    body = chat_bodies.chat_body("m", None, [], "q", [], max_tokens=5, max_tokens_field=field)
    assert {k: v for k, v in body.items() if "tokens" in k} == expected


def test_responses_body_with_images_uses_input_parts():
    body = chat_bodies.responses_body("m", "sys", [], "look", ["data:image/png;base64,AA=="], max_tokens=9)
    assert body["instructions"] == "sys" and body["max_output_tokens"] == 9
    assert body["input"][0]["content"][1] == {"type": "input_image", "image_url": "data:image/png;base64,AA==",
                                              "detail": "auto"}


def test_responses_answer_with_reasoning_and_an_incomplete_status():
    answer = chat_answers.parse_responses({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                                      "output": [{"type": "reasoning", "summary": [{"text": "hmm"}]},
                                                 {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
                                      "usage": {"input_tokens": 3, "output_tokens": 4}},
                                     chat_answers.Answer("m", "responses"))
    assert (answer.content, answer.reasoning, answer.finish_reason) == ("hi", "hmm", "length")
    assert answer.usage["total_tokens"] == 7


def test_responses_stream_events_fold_into_one_answer():
    answer = chat_answers.Answer("m", "responses")
    assert chat_answers.apply_responses_event(answer, "", {"type": "response.output_text.delta", "delta": "a"}) == ("a", "")
    assert chat_answers.apply_responses_event(answer, "response.reasoning_text.delta", {"delta": "r"}) == ("", "r")
    chat_answers.apply_responses_event(answer, "", {"type": "response.completed",
                                               "response": {"id": "resp_1", "status": "completed"}})
    assert (answer.content, answer.reasoning, answer.id, answer.complete) == ("a", "r", "resp_1", True)


def test_a_chat_chunk_with_an_error_raises():
    with pytest.raises(core_errors.GradientError) as caught:
        chat_answers.apply_chat_chunk(chat_answers.Answer("m", "chat"), {"error": {"message": "overloaded"}})
    assert "overloaded" in caught.value.message


def test_answer_text_is_set_added_and_read():
    answer = chat_answers.Answer("m", "chat")
    answer.add("a", "x")
    answer.add("b")
    assert (answer.content, answer.reasoning) == ("ab", "x")
    answer.content = "replaced"
    assert answer.content == "replaced"


def test_tool_calls_keep_the_order_of_their_index_past_ten():
    answer = chat_answers.Answer("m", "chat")
    for index in (10, 2, 0):
        answer.call(index, f"call_{index}", "f", "{}")
    assert [call["id"] for call in answer.tool_calls] == ["call_0", "call_2", "call_10"]
