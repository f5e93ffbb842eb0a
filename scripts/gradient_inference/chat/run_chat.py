"""The chat command's work: the inputs gathered and checked, the budget kept, the request sent
(streamed or whole, with --schema in the forms chat.schema gives), the ledger row written, and
the answer printed as text, JSON, or structured data.

Belongs here: turning the chat command's flags into a call and its output. Does not belong here:
the flags (scripts/gradient_chat.py), the request and answer shapes (chat.bodies, chat.answers).
"""
from __future__ import annotations

import sys
import time
from collections import namedtuple

from gradient_inference.api.client import Client, request_id_of
from gradient_inference.api.usage import normalize_usage
from gradient_inference.chat import schema as structured
from gradient_inference.chat.answers import Answer, check_answer
from gradient_inference.chat.inputs import ChatRequest, api_of, check_fields, check_messages_api, check_stop, \
    continue_from, gather_inputs, request_for, text_chars, warn_without_vision
from gradient_inference.chat.messages import ANTHROPIC_VERSION
from gradient_inference.chat.stream import WHOLE, stream_to
from gradient_inference.chat.tools import answer_calls, assistant_turn, calls_out, functions_of, search_cost, \
    server_tools, tool_extra, tool_results, unanswered_calls
from gradient_inference.core import defaults
from gradient_inference.core.errors import EXIT_OK, GradientError, UsageError
from gradient_inference.core.output import emit_json, json_text, log, out, warn
from gradient_inference.core.settings import resolve_settings
from gradient_inference.core.urls import is_loopback_url
from gradient_inference.ledger.store import Entry
from gradient_inference.models import budget, routers, served
from gradient_inference.models.prices import cost_for, is_estimate, usage_line


# ---------------------------------------------------------------- rendering

def envelope(answer, cost, request_id, duration_ms: int) -> dict:
    return {"model": answer.model, "api": answer.api, "content": answer.content,
            "reasoning": answer.reasoning or None, "finish_reason": answer.finish_reason,
            "usage": answer.usage or normalize_usage(None), "cost_usd": cost, "id": answer.id,
            "request_id": request_id, "duration_ms": duration_ms}


def print_answer(answer, calls: list | None, streamed: bool) -> None:
    """The answer as text (unless it was printed as it streamed), then each tool call on a line."""
    if not streamed and answer.content:
        out(answer.content.rstrip("\n"))
    for call in calls or []:
        if call["arguments"] is None:
            warn(f"the arguments of tool call {call['name']} are not valid JSON; shown as the model sent them")
        out(f"tool call {call['name']} " + (json_text(call["arguments"], None, sys.stdout)
                                            if call["arguments"] is not None else call["arguments_text"]))


# ---------------------------------------------------------------- the call

def ask(client, request: ChatRequest, prompt, history, streaming: bool, forms: list, echo: bool,
        show_reasoning: bool, filled: list) -> tuple:
    """(Answer, response, the form that answered): the request sent with the first of `forms` (the
    tools, or the ways chat.schema gives to ask for a schema) that the server does not refuse; a
    form that is not the last is sent once, since a server that refuses it answers at once. Each
    Answer is appended to `filled` as it is made, so that the usage of a stream cut short after it
    arrived can still be recorded."""
    api = api_of(request)
    server_side = server_tools(request)
    headers = {"anthropic-version": ANTHROPIC_VERSION} if api == "messages" else None
    for attempt, form in enumerate(forms):
        extra = dict(form, tools=(form.get("tools") or []) + server_side) if server_side else form
        path, body = request_for(request, prompt, history, streaming, client.settings.max_tokens_field, extra)
        answer = Answer(request.model, api)
        filled.append(answer)
        last = attempt == len(forms) - 1
        try:
            if streaming:
                return answer, stream_to(client, path, body, answer, echo, show_reasoning, headers), form
            document, response = client.post_json(path, body, retry=last, headers=headers)
        except GradientError as error:
            if last or error.status not in (400, 422, 500):
                raise
            warn(f"the server refused this way of asking for JSON ({error.message}); trying the next")
            continue
        WHOLE[api](document, answer)
        if show_reasoning and answer.reasoning:
            out(answer.reasoning.rstrip("\n"), sys.stderr)
        return answer, response, form


def ignored_format(error: GradientError, form: dict, schema_mode: str | None) -> bool:
    """A local server that ignores response_format answers prose: worth asking once more with the
    forced tool, unless --schema-mode response_format was asked for."""
    return "response_format" in form and schema_mode is None and error.message == "the answer is not JSON"


def record_answer(entry, answer, request: ChatRequest) -> tuple:
    """(USD or None, where the price came from) of an answer, priced by the model that served it
    (a cached or bundled price, never a live scrape), written into its ledger row."""
    cost, price_source = (None, "unpriced: the router did not say which model it picked") \
        if routers.is_router(answer.model) else cost_for(answer.model, answer.usage)
    cost = search_cost(cost, answer.raw_usage, bool(request.web_search or request.web_search_max))
    entry.update(usage=answer.usage, model=answer.model, cost_usd=cost, price_source=price_source,
                 answer=answer.content)
    return cost, price_source


IGNORES_FORMAT = "ignores_response_format"  # a local server's quirk, remembered a day (models.served)

# What a chat call is made of, once its flags, inputs and conversation are read.
Gathered = namedtuple("Gathered", "conversation_id request pinned prompt history schema tools api")


def gather(args) -> Gathered:
    """The call the flags ask for, checked before anything is sent: the conversation it continues,
    the prompt and turns, tool results, the schema or the tools, and the API."""
    check_stop(args.stop)
    if args.conversation is not None and not args.conversation.strip():
        raise UsageError("--conversation needs an id (gradient_usage.py --conversations lists them); "
                         "leave it out to start a new conversation")
    conversation_id, earlier, model, system, offered = continue_from(args.continue_, args.conversation, args.model,
                                                                     args.system)
    model, pinned = defaults.model_choice("chat", model)
    request = ChatRequest(**dict({name: getattr(args, name) for name in ChatRequest._fields}, model=model, system=system))
    results = tool_results(args.tool_result, sys.stdin)
    prompt, history = gather_inputs(args.prompt, args.messages, args.no_stdin, sys.stdin, answering=bool(results))
    history = earlier + history
    if results:
        history += answer_calls(history, results)
    elif unanswered_calls(history):
        raise UsageError(f"the conversation's last answer called tools ({', '.join(map(str, unanswered_calls(history)))}): "
                         "answer each with --tool-result CALL_ID=TEXT")
    schema = None
    if args.schema or args.schema_multi:
        if request.tool:
            raise UsageError("--schema asks for one answer; --tool offers actions: use one of them")
        schema = structured.load_schema(args.schema or args.schema_multi, multi=bool(args.schema_multi))
    api = api_of(request)
    check_fields(request)
    if request.messages_api:
        check_messages_api(request, args.schema_mode)
    tools = tool_extra(request.tool, request.tool_choice, "responses" if api == "responses" else "chat",
                       offered) if schema is None else {}
    return Gathered(conversation_id, request, pinned, prompt, history, schema, tools, api)


def ready_request(client, call: Gathered):
    """The request with its model (the default only while the server lists it) and, for the
    Messages API, which requires it, its max_tokens; a warning for images sent to a text model."""
    request = call.request._replace(model=served.choose_default(client, "chat", call.request.model, call.pinned))
    check_fields(request)  # again, for a stand-in default
    if request.image:
        warn_without_vision(request.model)
    if request.messages_api and request.max_tokens is None:
        request = request._replace(max_tokens=budget.messages_max_tokens(request.model))
    return request


def attempt(client, args, call: Gathered, request, streaming: bool, forms: list, reservation) -> tuple:
    """One call and its ledger row: (answer, response, cost, price source, data, duration, form)."""
    started = time.monotonic()
    turns = ([{"role": "system", "content": request.system}] if request.system else []) + call.history + (
        [{"role": "user", "content": call.prompt}] if call.prompt is not None else [])
    with Entry("chat", request.model, call.api, client.settings, skip=args.no_log, reservation=reservation) as entry:
        entry.update(conversation_id=call.conversation_id, messages=turns, requested_model=request.model)
        filled = []
        try:
            answer, response, form = ask(client, request, call.prompt, call.history, streaming, forms,
                                         not args.json and call.schema is None, args.show_reasoning, filled)
        except BaseException:  # the usage a stream cut short (or Ctrl-C, SIGTERM) had reported was billed
            if filled and any(value is not None for value in filled[-1].usage.values()):
                record_answer(entry, filled[-1], request)
            raise
        entry.update(request_id=request_id_of(response))
        answer.model = routers.picked_model(request.model, answer.model, response.headers) or answer.model
        cost, price_source = record_answer(entry, answer, request)  # before any check: the answer was billed
        if answer.tool_calls and call.schema is None:  # what -c --tool-result answers, and the tools to offer again
            entry.update(tool_turn={"tool_calls": assistant_turn(answer)["tool_calls"],
                                    "tools": functions_of(call.tools.get("tools") or [])})
        try:
            data = structured.answer_data(answer, call.schema, bool(args.schema_multi)) if call.schema else None
        except GradientError as error:
            error.form = form  # which way of asking got this answer, for send()
            raise
        if call.schema is None:
            check_answer(answer)
    return answer, response, cost, price_source, data, round((time.monotonic() - started) * 1000)


def send(client, args, call: Gathered, request, streaming: bool, hold) -> tuple:
    """The call, and on a local server that answered response_format with prose, once more with
    the schema as a forced tool (re-held under the budget); what attempt() returns."""
    local = is_loopback_url(client.settings.base_url) and not args.provider
    forms = structured.forms(call.schema, call.api, args.schema_mode, local) if call.schema else [call.tools]
    if call.schema and local and args.schema_mode is None and served.has_quirk(client.settings.base_url, IGNORES_FORMAT):
        forms = [structured.tool_request(call.schema, call.api)]  # seen ignoring response_format today: paid once
    try:
        with served.unknown_model_hint(client, "chat", request.model):
            return attempt(client, args, call, request, streaming, forms, hold())
    except GradientError as error:
        form = getattr(error, "form", None)
        if not (local and form is not None and ignored_format(error, form, args.schema_mode)):
            raise
        warn("the server answered response_format with text that is not JSON (it may ignore the field); "
             "asking once more with the schema as a forced tool, as later calls to it today will at once")
        served.remember_quirk(client.settings.base_url, IGNORES_FORMAT)
        return attempt(client, args, call, request, streaming, [structured.tool_request(call.schema, call.api)], hold())


def show(args, call: Gathered, request, answer, response, cost, price_source, data, duration_ms, streaming) -> None:
    """The answer as --json, the schema's data, or text (unless it streamed), and --usage."""
    if args.show_reasoning and not answer.reasoning:
        thought = answer.usage.get("reasoning_tokens")
        log(f"no reasoning text returned ({thought} reasoning tokens)" if thought
            else "the model returned no reasoning text")
    calls = calls_out(answer) if answer.tool_calls and call.schema is None else None
    if args.json:
        document = dict(envelope(answer, cost, request_id_of(response), duration_ms), requested_model=request.model,
                        cost_is_estimate=is_estimate(price_source),
                        conversation_id=call.conversation_id, assistant_turn=assistant_turn(answer))
        document.update({"data": data} if call.schema else {}, **({"tool_calls": calls} if calls else {}))
        emit_json(document)
    elif call.schema is not None:
        out(json_text(data, None, sys.stdout))
    else:
        print_answer(answer, calls, streaming)
    if args.usage:
        log(usage_line(answer.usage, cost, price_source))


def chat(args) -> int:
    call = gather(args)
    client = Client(resolve_settings(provider=args.provider, base_url=args.base_url, timeout=args.timeout,
                                     max_retries=args.max_retries, verbose=args.verbose))
    request = ready_request(client, call)  # after every usage check: it may ask the server for its models
    limits = budget.Budget(args.max_cost, args.daily_budget, args.allow_unpriced)
    candidates = routers.candidates_of(request.model, args.timeout, args.max_retries, args.verbose) \
        if budget.is_set(limits) and routers.is_router(request.model) else None
    worst, why, assumed = budget.chat_worst_case(request.model, text_chars(call.prompt, request.system, call.history),
                                                 request.max_tokens, candidates) if budget.is_set(limits) else (None, None, "")
    hold = lambda: budget.check(limits, worst, f"this call to {request.model}{assumed}", why)  # noqa: E731
    streaming = args.stream if args.stream is not None else (sys.stdout.isatty() and not args.json and not call.schema)
    answer, response, cost, price_source, data, duration_ms = send(client, args, call, request, streaming, hold)
    show(args, call, request, answer, response, cost, price_source, data, duration_ms, streaming)
    return EXIT_OK
