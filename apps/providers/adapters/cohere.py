"""Cohere API v2: chat (+ streaming) and embed (https://docs.cohere.com/reference/chat)."""

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


def _usage(usage: dict[str, Any]) -> tuple[int, int]:
    # `tokens` counts everything the model saw; `billed_units` what is charged. The ledger bills.
    billed = usage.get("billed_units") or usage.get("tokens") or {}
    return int(billed.get("input_tokens", 0)), int(billed.get("output_tokens", 0))


class CohereAdapter(Adapter):
    type = kind = "cohere"
    label = "Cohere chat (v2)"
    supports_embeddings = True

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def chat_call(self, request: ChatRequest, *, stream: bool = False) -> HttpCall:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }
        if request.json_schema is not None:
            body["response_format"] = {"type": "json_object", "json_schema": request.json_schema}
        return HttpCall("POST", f"{self.base_url}/v2/chat", self.headers(), body)

    def parse_chat(self, body: Any) -> ChatResponse:
        content = body["message"]["content"] or []
        tokens_in, tokens_out = _usage(body.get("usage") or {})
        return ChatResponse(
            text="".join(part.get("text", "") for part in content if part.get("type") == "text"),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            model=self.model,
            finish_reason=body.get("finish_reason") or "",
        )

    def parse_stream(self, event: str, data: str) -> StreamEvent | None:
        payload = json.loads(data)
        kind = payload.get("type", event)
        if kind == "content-delta":
            return StreamEvent(delta=payload["delta"]["message"]["content"]["text"])
        if kind == "message-end":
            delta = payload.get("delta") or {}
            tokens_in, tokens_out = _usage(delta.get("usage") or {})
            return StreamEvent(
                tokens_in=tokens_in, tokens_out=tokens_out, finish_reason=delta.get("finish_reason", "")
            )
        return None

    def embed_call(self, texts: list[str]) -> HttpCall:
        body = {
            "model": self.embedding_model,
            "texts": texts,
            "input_type": "search_document",
            "embedding_types": ["float"],
        }
        return HttpCall("POST", f"{self.base_url}/v2/embed", self.headers(), body)

    def parse_embed(self, body: Any) -> EmbedResponse:
        billed = (body.get("meta") or {}).get("billed_units") or {}
        return EmbedResponse(
            vectors=[[float(v) for v in row] for row in body["embeddings"]["float"]],
            model=self.embedding_model,
            tokens_in=int(billed.get("input_tokens", 0)),
        )

    def health_call(self) -> HttpCall:
        return HttpCall("GET", f"{self.base_url}/v1/models", self.headers())

    def parse_health(self, body: Any) -> list[str]:
        return [str(m["name"]) for m in body["models"]]
