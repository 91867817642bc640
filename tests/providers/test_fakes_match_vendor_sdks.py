"""The fake vendors' answers parsed with each vendor's official SDK types (pinned test dependencies:
openai, anthropic, google-genai, cohere, ollama), so the fakes cannot drift from the real formats.

Requests are the ones our adapters build; answers are validated with pydantic's `model_validate`
(strict about required fields and types; google-genai's types also forbid unknown fields), never
with the SDKs' lenient response construction."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import TypeAdapter

from apps.providers.adapters import adapter_registry
from apps.providers.adapters.base import ChatRequest, HttpCall, iter_sse

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Summarise the incident at example.org"},
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def adapter_for(fake):
    return adapter_registry.get(fake.style)(
        base_url=fake.url,
        model=fake.models[0],
        api_key=fake.api_key,
        embedding_model=fake.embedding_models[0],
    )


def fetch(call: HttpCall) -> httpx.Response:
    return httpx.request(call.method, call.url, headers=call.headers, json=call.json, params=call.params)


def body(call: HttpCall) -> Any:
    response = fetch(call)
    assert response.status_code == 200, response.text
    return response.json()


def sse(call: HttpCall) -> list[tuple[str, Any]]:
    response = fetch(call)
    assert response.status_code == 200, response.text
    return [
        (event, json.loads(data))
        for event, data in iter_sse(iter(response.text.splitlines()))
        if data != "[DONE]"
    ]


def ndjson(call: HttpCall) -> list[Any]:
    return [json.loads(line) for line in fetch(call).text.splitlines() if line.strip()]


def test_openai_answers_parse_as_openai_sdk_types(vendor_factory):
    from openai.types import CreateEmbeddingResponse, Model
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    fake = vendor_factory("openai")
    adapter = adapter_for(fake)
    completion = ChatCompletion.model_validate(body(adapter.chat_call(ChatRequest(MESSAGES))))
    assert completion.choices[0].message.content == fake.reply_for(" ".join(m["content"] for m in MESSAGES))
    chunks = [
        ChatCompletionChunk.model_validate(c)
        for _, c in sse(adapter.chat_call(ChatRequest(MESSAGES), stream=True))
    ]
    assert chunks and all(c.model == fake.models[0] for c in chunks)
    assert chunks[-1].usage is not None  # the adapter asks for include_usage
    CreateEmbeddingResponse.model_validate(body(adapter.embed_call(["a text"])))
    listed = body(adapter.health_call())
    assert [Model.model_validate(m).id for m in listed["data"]]


def test_anthropic_answers_parse_as_anthropic_sdk_types(vendor_factory):
    from anthropic.types import Message, ModelInfo, RawMessageStreamEvent
    from anthropic.types.shared import ErrorResponse

    fake = vendor_factory("anthropic")
    adapter = adapter_for(fake)
    events = TypeAdapter(RawMessageStreamEvent)
    for request in (ChatRequest(MESSAGES), ChatRequest(MESSAGES, json_schema=SCHEMA)):
        message = Message.model_validate(body(adapter.chat_call(request)))
        assert message.stop_reason == ("tool_use" if request.json_schema else "end_turn")
        streamed = [
            events.validate_python(e)
            for name, e in sse(adapter.chat_call(request, stream=True))
            if name != "ping"
        ]
        assert streamed[-1].type == "message_stop"
    [ModelInfo.model_validate(m) for m in body(adapter.health_call())["data"]]
    refused = adapter.chat_call(ChatRequest(MESSAGES))
    refused.json["model"] = "no-such-model"
    ErrorResponse.model_validate(fetch(refused).json())


def test_gemini_answers_parse_as_google_genai_types(vendor_factory):
    from google.genai import types

    fake = vendor_factory("gemini", thoughts_tokens=12)
    adapter = adapter_for(fake)
    answer = types.GenerateContentResponse.model_validate(body(adapter.chat_call(ChatRequest(MESSAGES))))
    assert answer.usage_metadata.thoughts_token_count == 12
    for _, chunk in sse(adapter.chat_call(ChatRequest(MESSAGES), stream=True)):
        types.GenerateContentResponse.model_validate(chunk)
    types.EmbedContentResponse.model_validate(body(adapter.embed_call(["a text"])))
    types.ListModelsResponse.model_validate(body(adapter.health_call()))


def test_cohere_answers_parse_as_cohere_sdk_types(vendor_factory):
    import cohere

    fake = vendor_factory("cohere")
    adapter = adapter_for(fake)
    cohere.V2ChatResponse.model_validate(body(adapter.chat_call(ChatRequest(MESSAGES))))
    events = TypeAdapter(cohere.StreamedChatResponseV2)
    for _, event in sse(adapter.chat_call(ChatRequest(MESSAGES), stream=True)):
        events.validate_python(event)
    cohere.EmbedByTypeResponse.model_validate(body(adapter.embed_call(["a text"])))
    cohere.ListModelsResponse.model_validate(body(adapter.health_call()))


def test_ollama_answers_parse_as_ollama_sdk_types(vendor_factory):
    import ollama

    fake = vendor_factory("ollama")
    adapter = adapter_for(fake)
    ollama.ChatResponse.model_validate(body(adapter.chat_call(ChatRequest(MESSAGES))))
    for line in ndjson(adapter.chat_call(ChatRequest(MESSAGES), stream=True)):
        ollama.ChatResponse.model_validate(line)
    ollama.EmbedResponse.model_validate(body(adapter.embed_call(["a text"])))
    ollama.ListResponse.model_validate(body(adapter.health_call()))
