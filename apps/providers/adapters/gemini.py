"""Google Gemini API: generateContent, streamGenerateContent (?alt=sse), batchEmbedContents
(https://ai.google.dev/api/generate-content).

Output tokens are `candidatesTokenCount + thoughtsTokenCount`: thinking models bill their thoughts
as output. A wrong key is `400 INVALID_ARGUMENT` with reason API_KEY_INVALID at the real API, which
is an auth failure (breaker, health), not a refused request."""

from __future__ import annotations

import json
from typing import Any

import httpx

from apps.providers.adapters.base import (
    Adapter,
    ChatRequest,
    ChatResponse,
    EmbedResponse,
    HttpCall,
    StreamEvent,
    merge_turns,
    split_system,
)
from apps.providers.errors import ErrorKind, ProviderError


def _output_tokens(usage: dict[str, Any]) -> int | None:
    if "candidatesTokenCount" not in usage and "thoughtsTokenCount" not in usage:
        return None
    return int(usage.get("candidatesTokenCount", 0)) + int(usage.get("thoughtsTokenCount", 0))


def _key_rejected(body: Any) -> bool:
    """google.rpc.ErrorInfo reasons that mean the key itself is bad."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return any(
        isinstance(d, dict) and d.get("reason") in ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED")
        for d in details or []
    )


class GeminiAdapter(Adapter):
    type = kind = "gemini"
    label = "Google Gemini (generateContent)"
    supports_embeddings = True

    def _raise_for_status(self, response: httpx.Response, body_text: str) -> None:
        if response.status_code == 400:
            try:
                body = json.loads(body_text)
            except ValueError:
                body = None
            if _key_rejected(body):
                raise ProviderError(ErrorKind.AUTH, self.error_message(body), status=400)
        super()._raise_for_status(response, body_text)

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}

    def _model_path(self, model: str) -> str:
        return model if model.startswith("models/") else f"models/{model}"

    def chat_call(self, request: ChatRequest, *, stream: bool = False) -> HttpCall:
        system, turns = split_system(request.messages)
        contents = [
            {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
            for m in merge_turns(turns)
        ]
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens, "temperature": request.temperature}
        if request.json_schema is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = request.json_schema
        body: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        method = "streamGenerateContent" if stream else "generateContent"
        url = f"{self.base_url}/v1beta/{self._model_path(self.model)}:{method}"
        return HttpCall("POST", url, self.headers(), body, params={"alt": "sse"} if stream else None)

    def _text(self, body: dict[str, Any]) -> tuple[str, str]:
        candidates = body.get("candidates")
        if not candidates:
            reason = (body.get("promptFeedback") or {}).get("blockReason")
            if reason:
                raise ProviderError(ErrorKind.BAD_REQUEST, f"Gemini blocked the prompt: {reason}")
            return "", ""
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        return "".join(p.get("text", "") for p in parts), candidate.get("finishReason") or ""

    def parse_chat(self, body: Any) -> ChatResponse:
        if "candidates" not in body and "promptFeedback" not in body:
            raise KeyError("candidates")
        text, finish = self._text(body)
        usage = body.get("usageMetadata") or {}
        return ChatResponse(
            text=text,
            tokens_in=int(usage.get("promptTokenCount", 0)),
            tokens_out=_output_tokens(usage) or 0,
            model=body.get("modelVersion", self.model),
            finish_reason=finish,
        )

    def parse_stream(self, event: str, data: str) -> StreamEvent | None:
        chunk = json.loads(data)
        if "error" in chunk:
            raise ProviderError(ErrorKind.SERVER, self.error_message(chunk))
        text, finish = self._text(chunk)
        usage = chunk.get("usageMetadata") or {}
        return StreamEvent(
            delta=text,
            tokens_in=int(usage["promptTokenCount"]) if "promptTokenCount" in usage else None,
            tokens_out=_output_tokens(usage),
            finish_reason=finish,
        )

    def embed_call(self, texts: list[str]) -> HttpCall:
        model = self._model_path(self.embedding_model)
        body = {"requests": [{"model": model, "content": {"parts": [{"text": t}]}} for t in texts]}
        return HttpCall("POST", f"{self.base_url}/v1beta/{model}:batchEmbedContents", self.headers(), body)

    def parse_embed(self, body: Any) -> EmbedResponse:
        return EmbedResponse(
            vectors=[[float(v) for v in e["values"]] for e in body["embeddings"]], model=self.embedding_model
        )

    def health_call(self) -> HttpCall:
        return HttpCall("GET", f"{self.base_url}/v1beta/models", self.headers())

    def parse_health(self, body: Any) -> list[str]:
        return [str(m["name"]).removeprefix("models/") for m in body["models"]]
