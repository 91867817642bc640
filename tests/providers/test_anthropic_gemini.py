"""What only the Anthropic and Gemini adapters do: per-model parameters, forced tool calls (also
streamed), both auth styles, thought tokens billed as output, and Gemini's 400 for a bad key."""

import json

import pytest

from apps.providers.adapters.anthropic import AnthropicAdapter, accepts_temperature
from apps.providers.adapters.base import ChatRequest, collect_stream
from apps.providers.adapters.gemini import GeminiAdapter
from apps.providers.errors import ErrorKind, ProviderError

MESSAGES = [{"role": "user", "content": "Summarise the incident at example.org"}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def anthropic(fake, model="fake-model"):
    return AnthropicAdapter(base_url=fake.url, model=model, api_key=fake.api_key, timeout=2.0)


def gemini(fake, api_key=None):
    return GeminiAdapter(
        base_url=fake.url,
        model="fake-model",
        api_key=fake.api_key if api_key is None else api_key,
        timeout=2.0,
        embedding_model="fake-embed",
    )


@pytest.mark.parametrize(
    ("model", "accepted"),
    [
        ("claude-3-5-haiku-20241022", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-6", True),
        ("claude-opus-4-7", False),
        ("claude-opus-4-8", False),
        ("claude-haiku-5-5", False),
        ("claude-sonnet-5", False),
        ("claude-fable-5", False),
        ("some-gateway-alias", True),
    ],
)
def test_which_models_take_temperature(model, accepted):
    assert accepts_temperature(model) is accepted


def test_a_model_that_rejects_temperature_is_not_sent_it(vendor_factory):
    fake = vendor_factory(
        "anthropic", models=("claude-opus-4-8", "claude-haiku-4-5"), rejects_temperature=("claude-opus-4-8",)
    )
    response = anthropic(fake, "claude-opus-4-8").chat(ChatRequest(MESSAGES, temperature=0.2))
    assert response.text == fake.reply_for(MESSAGES[0]["content"])
    assert "temperature" not in fake.calls("chat")[-1].body
    anthropic(fake, "claude-haiku-4-5").chat(ChatRequest(MESSAGES, temperature=0.2))
    assert fake.calls("chat")[-1].body["temperature"] == 0.2


def test_the_fake_refuses_temperature_like_the_vendor(vendor_factory):
    """The fake's 400 is what makes the test above mean something."""
    fake = vendor_factory("anthropic", models=("claude-opus-4-8",), rejects_temperature=("claude-opus-4-8",))
    adapter = anthropic(fake, "claude-opus-4-8")
    call = adapter.chat_call(ChatRequest(MESSAGES))
    call.json["temperature"] = 0.2
    with pytest.raises(ProviderError) as info:
        adapter.send(call)
    assert info.value.kind == ErrorKind.BAD_REQUEST
    assert "temperature" in info.value.message


def test_the_api_key_is_accepted_as_bearer_token_and_as_x_api_key(vendor_factory):
    fake = vendor_factory("anthropic")
    adapter = anthropic(fake)
    assert adapter.chat(ChatRequest(MESSAGES)).text
    assert fake.calls("chat")[-1].headers["authorization"] == "Bearer test-key"
    call = adapter.chat_call(ChatRequest(MESSAGES))
    call.headers = {k: v for k, v in call.headers.items() if k != "Authorization"} | {"x-api-key": "test-key"}
    assert json.loads(adapter.send(call))["type"] == "message"


def test_a_forced_tool_call_answers_with_the_tool_input(vendor_factory):
    fake = vendor_factory("anthropic")
    response = anthropic(fake).chat(ChatRequest(MESSAGES, json_schema=SCHEMA))
    assert json.loads(response.text) == {"answer": fake.reply_for(MESSAGES[0]["content"])}
    assert response.finish_reason == "tool_use"


def test_a_streamed_forced_tool_call_joins_its_input_json_deltas(vendor_factory):
    fake = vendor_factory("anthropic")
    events = list(anthropic(fake).stream(ChatRequest(MESSAGES, json_schema=SCHEMA)))
    assert sum(1 for e in events if e.delta) > 1  # the input arrived in pieces
    joined = collect_stream(iter(events))
    assert json.loads(joined.text) == {"answer": fake.reply_for(MESSAGES[0]["content"])}
    assert joined.finish_reason == "tool_use"
    assert joined.tokens_out == len(joined.text.split())


def test_gemini_thought_tokens_count_as_output(vendor_factory):
    fake = vendor_factory("gemini", thoughts_tokens=40)
    answer = fake.reply_for(MESSAGES[0]["content"])
    response = gemini(fake).chat(ChatRequest(MESSAGES))
    assert response.tokens_out == len(answer.split()) + 40
    streamed = collect_stream(gemini(fake).stream(ChatRequest(MESSAGES)))
    assert streamed.tokens_out == len(answer.split()) + 40


def test_gemini_bad_key_is_an_auth_failure(vendor_factory):
    fake = vendor_factory("gemini")
    with pytest.raises(ProviderError) as info:
        gemini(fake, api_key="wrong").chat(ChatRequest(MESSAGES))
    assert (info.value.kind, info.value.status) == (ErrorKind.AUTH, 400)
    assert info.value.counts_for_breaker and not info.value.retryable
    health = gemini(fake, api_key="wrong").health()
    assert not health.ok and "API key not valid" in health.message


def test_gemini_other_400s_stay_bad_requests(vendor_factory):
    fake = vendor_factory("gemini")
    adapter = gemini(fake)
    call = adapter.chat_call(ChatRequest(MESSAGES), stream=True)
    call.params = None  # without alt=sse the fake answers 400 INVALID_ARGUMENT, no ErrorInfo reason
    with pytest.raises(ProviderError) as info:
        adapter.send(call)
    assert (info.value.kind, info.value.status) == (ErrorKind.BAD_REQUEST, 400)
