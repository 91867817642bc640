"""Each adapter against a fake of its vendor: request shape, answers, usage, streaming, errors."""

import asyncio

import pytest

from apps.providers.adapters import adapter_registry
from apps.providers.adapters.base import ChatRequest, collect_stream
from apps.providers.errors import ErrorKind, ProviderError
from tests.providers.fakes import STYLES

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Summarise the incident at example.org"},
]
PROMPT_WORDS = 3 + 5  # system + user words, as the fakes count them


def adapter_for(fake, *, model=None, api_key=None, timeout=1.0):
    return adapter_registry.get(fake.style)(
        base_url=fake.url,
        model=model or fake.models[0],
        api_key=fake.api_key if api_key is None else api_key,
        timeout=timeout,
        embedding_model=fake.embedding_models[0],
    )


@pytest.fixture(params=STYLES)
def fake(request, vendor_factory):
    return vendor_factory(request.param)


def test_chat_returns_text_and_token_usage(fake):
    response = adapter_for(fake).chat(ChatRequest(MESSAGES, max_tokens=64))
    expected = fake.reply_for("You are terse. Summarise the incident at example.org")
    assert response.text == expected
    assert response.tokens_in == PROMPT_WORDS
    assert response.tokens_out == len(expected.split())


def test_stream_yields_deltas_that_join_to_the_answer_and_usage(fake):
    events = list(adapter_for(fake).stream(ChatRequest(MESSAGES)))
    assert sum(1 for e in events if e.delta) > 1  # it really streamed
    joined = collect_stream(iter(events))
    assert joined.text == fake.reply_for("You are terse. Summarise the incident at example.org")
    assert joined.tokens_in == PROMPT_WORDS
    assert joined.tokens_out == len(joined.text.split())


def test_async_chat_and_stream(fake):
    adapter = adapter_for(fake)

    async def scenario():
        response = await adapter.achat(ChatRequest(MESSAGES))
        streamed = [e async for e in adapter.astream(ChatRequest(MESSAGES))]
        return response, streamed

    response, streamed = asyncio.run(scenario())
    assert response.text == "".join(e.delta for e in streamed)


def test_requests_use_the_vendor_wire_format(fake):
    adapter_for(fake).chat(ChatRequest(MESSAGES, max_tokens=77, temperature=0.3))
    sent = fake.calls("chat")[-1]
    body = sent.body
    if fake.style == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == "Bearer test-key"
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert body["max_tokens"] == 77
    elif fake.style == "anthropic":
        assert sent.path == "/v1/messages"
        assert sent.headers["anthropic-version"] == "2026-10-21"
        assert sent.headers["authorization"] == "Bearer test-key"
        assert body["temperature"] == 0.3  # fake-model is not one that rejects it
        assert body["system"] == "You are terse."
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert body["max_tokens"] == 77
    elif fake.style == "gemini":
        assert sent.path == "/v1beta/models/fake-model:generateContent"
        assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
        assert body["contents"][0]["role"] == "user"
        assert body["generationConfig"]["maxOutputTokens"] == 77
    elif fake.style == "cohere":
        assert sent.path == "/v2/chat"
        assert body["messages"][0]["role"] == "system"
        assert body["max_tokens"] == 77
    elif fake.style == "ollama":
        assert sent.path == "/api/chat"
        assert body["stream"] is False
        assert body["options"] == {"temperature": 0.3, "num_predict": 77}


def test_embeddings_where_the_api_has_them(fake):
    adapter = adapter_for(fake)
    if fake.style == "anthropic":
        with pytest.raises(ProviderError) as info:
            adapter.embed(["a"])
        assert info.value.kind == ErrorKind.UNSUPPORTED
        return
    response = adapter.embed(["first text", "second"])
    assert response.vectors == [fake.vector_for("first text"), fake.vector_for("second")]


def test_health_lists_models(fake):
    result = adapter_for(fake).health()
    assert result.ok
    assert any(m.startswith("fake-model") for m in result.models)


def test_json_schema_is_requested_in_the_vendor_way(fake):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    adapter_for(fake).chat(ChatRequest(MESSAGES, json_schema=schema))
    body = fake.calls("chat")[-1].body
    if fake.style == "openai":
        assert body["response_format"]["json_schema"]["schema"] == schema
    elif fake.style == "anthropic":
        assert body["tools"][0]["input_schema"] == schema and body["tool_choice"]["type"] == "tool"
    elif fake.style == "gemini":
        assert body["generationConfig"]["responseJsonSchema"] == schema
    elif fake.style == "cohere":
        assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    elif fake.style == "ollama":
        assert body["format"] == schema


@pytest.mark.parametrize(
    ("command", "kind", "retryable"),
    [
        ("500", ErrorKind.SERVER, True),
        ("429", ErrorKind.RATE_LIMITED, True),
        ("malformed", ErrorKind.MALFORMED, True),
        ("timeout", ErrorKind.TIMEOUT, True),
        ("401", ErrorKind.AUTH, False),
    ],
)
def test_failures_map_to_one_taxonomy(fake, command, kind, retryable):
    fake.fail(command, retry_after=7)
    with pytest.raises(ProviderError) as info:
        adapter_for(fake, timeout=0.3).chat(ChatRequest(MESSAGES))
    assert info.value.kind == kind
    assert info.value.retryable is retryable
    if command == "429":
        assert info.value.retry_after == 7


def test_wrong_model_and_wrong_key_are_not_retryable(fake):
    with pytest.raises(ProviderError) as info:
        adapter_for(fake, model="no-such-model").chat(ChatRequest(MESSAGES))
    assert (info.value.kind, info.value.status, info.value.retryable) == (
        ErrorKind.MODEL_NOT_FOUND,
        404,
        False,
    )
    assert "no-such-model" in info.value.message
    with pytest.raises(ProviderError) as info:
        adapter_for(fake, api_key="wrong").chat(ChatRequest(MESSAGES))
    assert (info.value.kind, info.value.retryable) == (ErrorKind.AUTH, False)


def test_stream_errors_map_too(fake):
    fake.fail("500")
    with pytest.raises(ProviderError) as info:
        list(adapter_for(fake).stream(ChatRequest(MESSAGES)))
    assert info.value.kind == ErrorKind.SERVER


def test_unreachable_server_is_a_retryable_connection_error(fake):
    adapter = adapter_for(fake)
    fake.stop()
    with pytest.raises(ProviderError) as info:
        adapter.chat(ChatRequest(MESSAGES))
    assert info.value.kind == ErrorKind.CONNECTION and info.value.retryable
