"""Anthropic Messages API (https://docs.anthropic.com/en/api/messages).

Headers follow the official Python SDK (anthropic 2.10.0, November 2026): the key goes in
`Authorization: Bearer` and `anthropic-version` is the SDK's. Newer models reject sampling
parameters (`temperature` is deprecated for this model, a 400), so what is sent depends on the model
(`accepts_temperature`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from apps.providers.adapters.base import (
    Adapter,
    ChatRequest,
    ChatResponse,
    HttpCall,
    StreamEvent,
    merge_turns,
    split_system,
)
from apps.providers.errors import ErrorKind, ProviderError

# The value the official SDK sends (anthropic 2.10.0, `anthropic._constants.ANTHROPIC_API_VERSION`).
API_VERSION = "2026-10-21"
_TOOL = "respond"

_FAMILY = re.compile(r"\b(haiku|sonnet|opus|fable|mythos)\b")
_VERSION_PART = re.compile(r"(?<![0-9])([0-9]{1,2})(?![0-9])")


def accepts_temperature(model: str) -> bool:
    """Whether the model takes `temperature`. Claude Opus 4.7 and later, every generation-5 model
    and the Fable/Mythos lines answer 400 "`temperature` is deprecated for this model" (vendor
    error text as reported against Opus 4.7/4.8 and Sonnet/Opus 5.5, May-October 2026). Ids we
    cannot read (gateways, aliases) keep getting it, as they always did."""
    name = model.lower().removeprefix("anthropic.").replace(".", "-")
    family = _FAMILY.search(name)
    if family is None:
        return True
    if family.group(1) in ("fable", "mythos"):
        return False
    # Both id styles: claude-3-5-haiku-20241022 (version first) and claude-opus-4-7 (family first);
    # 8-digit snapshot dates are not version parts.
    parts = [int(p) for p in _VERSION_PART.findall(name)][:2]
    if not parts:
        return True
    version = (parts[0], parts[1] if len(parts) > 1 else 0)
    if version[0] >= 5:
        return False
    return not (family.group(1) == "opus" and version >= (4, 7))


class AnthropicAdapter(Adapter):
    type = kind = "anthropic"
    label = "Anthropic Messages"

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }

    def chat_call(self, request: ChatRequest, *, stream: bool = False) -> HttpCall:
        system, turns = split_system(request.messages)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": merge_turns(turns),
        }
        if accepts_temperature(self.model):
            body["temperature"] = request.temperature
        if system:
            body["system"] = system
        if request.json_schema is not None:
            # Structured output the documented way: one tool whose input is the schema, forced.
            body["tools"] = [
                {"name": _TOOL, "description": "Return the answer.", "input_schema": request.json_schema}
            ]
            body["tool_choice"] = {"type": "tool", "name": _TOOL}
        if stream:
            body["stream"] = True
        return HttpCall("POST", f"{self.base_url}/v1/messages", self.headers(), body)

    def parse_chat(self, body: Any) -> ChatResponse:
        parts: list[str] = []
        for block in body["content"]:
            if block["type"] == "text":
                parts.append(block["text"])
            elif block["type"] == "tool_use":
                parts.append(json.dumps(block["input"], sort_keys=True))
        usage = body.get("usage") or {}
        return ChatResponse(
            text="".join(parts),
            tokens_in=int(usage.get("input_tokens", 0)),
            tokens_out=int(usage.get("output_tokens", 0)),
            model=body.get("model", self.model),
            finish_reason=body.get("stop_reason") or "",
        )

    def parse_stream(self, event: str, data: str) -> StreamEvent | None:
        payload = json.loads(data)
        kind = payload.get("type", event)
        if kind == "message_start":
            usage = payload["message"].get("usage") or {}
            return StreamEvent(tokens_in=int(usage.get("input_tokens", 0)))
        if kind == "content_block_delta":
            delta = payload["delta"]
            if delta.get("type") == "text_delta":
                return StreamEvent(delta=delta["text"])
            if delta.get("type") == "input_json_delta":
                return StreamEvent(delta=delta.get("partial_json", ""))
            return None
        if kind == "message_delta":
            usage = payload.get("usage") or {}
            return StreamEvent(
                tokens_out=int(usage["output_tokens"]) if "output_tokens" in usage else None,
                finish_reason=(payload.get("delta") or {}).get("stop_reason") or "",
            )
        if kind == "error":
            error = payload.get("error") or {}
            overloaded = error.get("type") in ("overloaded_error", "api_error")
            raise ProviderError(
                ErrorKind.SERVER if overloaded else ErrorKind.BAD_REQUEST, error.get("message", data)
            )
        return None  # ping, content_block_start/stop, message_stop

    def health_call(self) -> HttpCall:
        return HttpCall("GET", f"{self.base_url}/v1/models", self.headers())

    def parse_health(self, body: Any) -> list[str]:
        return [str(m["id"]) for m in body["data"]]
