"""gradient_chatapi: request bodies for both chat APIs, and answers read whole or event by event
(the end-to-end flows through the fake server are in test_chat)."""
from __future__ import annotations

import pytest

import gradient_chatapi as chatapi


def test_cache_marks_the_system_prompt_of_anthropic_models_only():
    body = chatapi.chat_body("anthropic-claude-3.7-sonnet", "rules", [], "q", [], cache=True)
    assert body["messages"][0]["content"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    assert chatapi.chat_body("openai-gpt-oss-120b", "rules", [], "q", [], cache=True)["messages"][0]["content"] == "rules"


def test_without_a_system_prompt_the_first_user_turn_is_marked():
    marked = chatapi.mark_for_caching([{"role": "user", "content": "long"}, {"role": "user", "content": "next"}])
    assert marked[0]["content"][-1]["cache_control"] == {"type": "ephemeral"} and marked[1]["content"] == "next"


@pytest.mark.parametrize("field, expected", [("max_completion_tokens", {"max_completion_tokens": 5}),
                                             ("max_tokens", {"max_tokens": 5})])
def test_the_max_tokens_field_is_the_providers(field, expected):
    body = chatapi.chat_body("m", None, [], "q", [], max_tokens=5, max_tokens_field=field)
    assert {k: v for k, v in body.items() if "tokens" in k} == expected


def test_responses_body_with_images_uses_input_parts():
    body = chatapi.responses_body("m", "sys", [], "look", ["data:image/png;base64,AA=="], max_tokens=9)
    assert body["instructions"] == "sys" and body["max_output_tokens"] == 9
    assert body["input"][0]["content"][1] == {"type": "input_image", "image_url": "data:image/png;base64,AA==",
                                              "detail": "auto"}


def test_responses_answer_with_reasoning_and_an_incomplete_status():
    answer = chatapi.parse_responses({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                                      "output": [{"type": "reasoning", "summary": [{"text": "hmm"}]},
                                                 {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
                                      "usage": {"input_tokens": 3, "output_tokens": 4}},
                                     chatapi.Answer("m", "responses"))
    assert (answer.content, answer.reasoning, answer.finish_reason) == ("hi", "hmm", "length")
    assert answer.usage["total_tokens"] == 7


def test_responses_stream_events_fold_into_one_answer():
    answer = chatapi.Answer("m", "responses")
    assert chatapi.apply_responses_event(answer, "", {"type": "response.output_text.delta", "delta": "a"}) == ("a", "")
    assert chatapi.apply_responses_event(answer, "response.reasoning_text.delta", {"delta": "r"}) == ("", "r")
    chatapi.apply_responses_event(answer, "", {"type": "response.completed",
                                               "response": {"id": "resp_1", "status": "completed"}})
    assert (answer.content, answer.reasoning, answer.id, answer.complete) == ("a", "r", "resp_1", True)


def test_a_chat_chunk_with_an_error_raises():
    with pytest.raises(chatapi.GradientError) as caught:
        chatapi.apply_chat_chunk(chatapi.Answer("m", "chat"), {"error": {"message": "overloaded"}})
    assert "overloaded" in caught.value.message


def test_answer_text_is_set_added_and_read():
    answer = chatapi.Answer("m", "chat")
    answer.add("a", "x")
    answer.add("b")
    assert (answer.content, answer.reasoning) == ("ab", "x")
    answer.content = "replaced"
    assert answer.content == "replaced"
