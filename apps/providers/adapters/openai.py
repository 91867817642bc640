"""OpenAI-compatible chat completions and embeddings (OpenAI, DeepSeek, Groq, Mistral, Together,
OpenRouter, xAI, GLM, Kimi, Qwen, NVIDIA, Cerebras, Chutes, vLLM, LM Studio ...)."""

from __future__ import annotations

import json
from typing import Any

from apps.providers.adapters.base import (
    Adapter,
    ChatRequest,
    ChatResponse,
    EmbedResponse,
    HttpCall,
    StreamEvent,
)
from apps.providers.errors import ErrorKind, ProviderError


class OpenAIAdapter(Adapter):
    type = kind = "openai"
    label = "OpenAI-compatible (chat completions)"
    supports_embeddings = True

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def chat_call(self, request: ChatRequest, *, stream: bool = False) -> HttpCall:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "result", "schema": request.json_schema},
            }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return HttpCall("POST", f"{self.base_url}/chat/completions", self.headers(), body)

    def parse_chat(self, body: Any) -> ChatResponse:
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return ChatResponse(
            text=choice["message"].get("content") or "",
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            model=body.get("model", self.model),
            finish_reason=choice.get("finish_reason") or "",
        )

    def parse_stream(self, event: str, data: str) -> StreamEvent | None:
        if data.strip() == "[DONE]":
            return None
        chunk = json.loads(data)
        if "error" in chunk:
            raise ProviderError(ErrorKind.SERVER, self.error_message(chunk))
        result = StreamEvent()
        choices = chunk.get("choices") or []
        if choices:
            result.delta = (choices[0].get("delta") or {}).get("content") or ""
            result.finish_reason = choices[0].get("finish_reason") or ""
        usage = chunk.get("usage")
        if usage:
            result.tokens_in = int(usage.get("prompt_tokens", 0))
            result.tokens_out = int(usage.get("completion_tokens", 0))
        return result

    def embed_call(self, texts: list[str]) -> HttpCall:
        body = {"model": self.embedding_model or self.model, "input": texts}
        return HttpCall("POST", f"{self.base_url}/embeddings", self.headers(), body)

    def parse_embed(self, body: Any) -> EmbedResponse:
        rows = sorted(body["data"], key=lambda row: row.get("index", 0))
        return EmbedResponse(
            vectors=[[float(v) for v in row["embedding"]] for row in rows],
            model=body.get("model", self.embedding_model),
            tokens_in=int((body.get("usage") or {}).get("prompt_tokens", 0)),
        )

    def health_call(self) -> HttpCall:
        return HttpCall("GET", f"{self.base_url}/models", self.headers())

    def parse_health(self, body: Any) -> list[str]:
        return [str(m["id"]) for m in body["data"]]
