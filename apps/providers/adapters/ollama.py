"""Ollama's native API: /api/chat (NDJSON streaming), /api/embed, /api/tags
(https://github.com/ollama/ollama/blob/main/docs/api.md)."""

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


class OllamaAdapter(Adapter):
    type = kind = "ollama"
    label = "Ollama (native API)"
    supports_embeddings = True
    stream_format = "ndjson"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:  # a reverse proxy in front of Ollama may want one
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def chat_call(self, request: ChatRequest, *, stream: bool = False) -> HttpCall:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "stream": stream,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }
        if request.json_schema is not None:
            body["format"] = request.json_schema
        return HttpCall("POST", f"{self.base_url}/api/chat", self.headers(), body)

    def parse_chat(self, body: Any) -> ChatResponse:
        return ChatResponse(
            text=body["message"]["content"],
            tokens_in=int(body.get("prompt_eval_count", 0)),
            tokens_out=int(body.get("eval_count", 0)),
            model=body.get("model", self.model),
            finish_reason=body.get("done_reason", ""),
        )

    def parse_stream(self, event: str, data: str) -> StreamEvent | None:
        chunk = json.loads(data)
        if "error" in chunk:
            raise ProviderError(ErrorKind.SERVER, str(chunk["error"]))
        result = StreamEvent(delta=(chunk.get("message") or {}).get("content", ""))
        if chunk.get("done"):
            result.tokens_in = int(chunk.get("prompt_eval_count", 0))
            result.tokens_out = int(chunk.get("eval_count", 0))
            result.finish_reason = chunk.get("done_reason", "stop")
        return result

    def embed_call(self, texts: list[str]) -> HttpCall:
        body = {"model": self.embedding_model or self.model, "input": texts}
        return HttpCall("POST", f"{self.base_url}/api/embed", self.headers(), body)

    def parse_embed(self, body: Any) -> EmbedResponse:
        return EmbedResponse(
            vectors=[[float(v) for v in row] for row in body["embeddings"]],
            model=body.get("model", self.embedding_model),
            tokens_in=int(body.get("prompt_eval_count", 0)),
        )

    def health_call(self) -> HttpCall:
        return HttpCall("GET", f"{self.base_url}/api/tags", self.headers())

    def parse_health(self, body: Any) -> list[str]:
        return [str(m["name"]) for m in body["models"]]


def has_model(models: list[str], wanted: str) -> bool:
    """Ollama lists `llama3.2:latest` for a model pulled as `llama3.2`."""
    if not wanted:
        return True
    names = set(models) | {m.removesuffix(":latest") for m in models}
    return wanted in names or wanted.removesuffix(":latest") in names
