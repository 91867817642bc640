"""The built-in offline provider behind the same adapter interface (no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

from apps.providers import builtin
from apps.providers.adapters.base import (
    Adapter,
    ChatRequest,
    ChatResponse,
    EmbedResponse,
    HealthResult,
    StreamEvent,
)


class BuiltinAdapter(Adapter):
    type = kind = "builtin"
    label = "Built-in offline provider"
    supports_embeddings = True

    def chat(self, request: ChatRequest) -> ChatResponse:
        text = builtin.generate(request.messages, json_schema=request.json_schema)
        prompt = "\n".join(str(m.get("content", "")) for m in request.messages)
        return ChatResponse(
            text=text,
            tokens_in=builtin.count_tokens(prompt),
            tokens_out=builtin.count_tokens(text),
            model=self.model or builtin.BUILTIN_MODEL,
            finish_reason="stop",
        )

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self.chat(request)

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        response = self.chat(request)
        yield StreamEvent(delta=response.text)
        yield StreamEvent(tokens_in=response.tokens_in, tokens_out=response.tokens_out, finish_reason="stop")

    def embed(self, texts: list[str]) -> EmbedResponse:
        return EmbedResponse(
            vectors=builtin.embed(texts),
            model=builtin.BUILTIN_EMBEDDING_MODEL,
            tokens_in=sum(builtin.count_tokens(t) for t in texts),
        )

    async def aembed(self, texts: list[str]) -> EmbedResponse:
        return self.embed(texts)

    def health(self) -> HealthResult:
        return HealthResult(True, "built-in, always available", 0, [builtin.BUILTIN_MODEL])
