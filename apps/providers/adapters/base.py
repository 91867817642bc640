"""What every adapter shares: request/response types, the HTTP transport (httpx, sync and async,
one connection pool per process) and the mapping of transport failures to the error taxonomy.

An adapter only says how its vendor's requests look (`*_call` builders) and how to read the
answers (`parse_*`); sending, streaming and error mapping live here, once.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from apps.providers.errors import ErrorKind, ProviderError, error_from_status


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]  # [{"role": "system"|"user"|"assistant", "content": str}]
    max_tokens: int = 512
    temperature: float = 0.2
    json_schema: dict[str, Any] | None = None


@dataclass
class ChatResponse:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    model: str = ""
    finish_reason: str = ""


@dataclass
class StreamEvent:
    """A piece of a streamed answer: text `delta`s, then usage when the vendor reports it."""

    delta: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish_reason: str = ""


@dataclass
class EmbedResponse:
    vectors: list[list[float]]
    model: str
    tokens_in: int = 0


@dataclass
class HealthResult:
    ok: bool
    message: str
    latency_ms: int = 0
    models: list[str] = field(default_factory=list)


@dataclass
class HttpCall:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] | None = None


_sync_clients: dict[int, httpx.Client] = {}


def http_client() -> httpx.Client:
    """One pooled client per process (keep-alive matters: TLS setup costs more than our routing)."""
    pid = os.getpid()
    found = _sync_clients.get(pid)
    if found is None:
        found = httpx.Client(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        _sync_clients.clear()
        _sync_clients[pid] = found
    return found


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After in seconds or as an HTTP date; OpenAI also sends retry-after-ms."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def iter_sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from a text/event-stream body."""
    event, data = "", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield event or "message", "\n".join(data)


async def aiter_sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    buffered: list[str] = []
    async for line in lines:
        buffered.append(line)
        if line == "":
            for pair in iter_sse(iter(buffered)):
                yield pair
            buffered = []
    for pair in iter_sse(iter(buffered)):
        yield pair


def load_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ProviderError(ErrorKind.MALFORMED, f"Response is not JSON: {str(text)[:200]!r}") from exc


class Adapter:
    """Base of the API-style adapters. Subclasses implement the builders and parsers."""

    type: ClassVar[str]  # the registry key: Provider.kind
    kind: ClassVar[str]
    label: ClassVar[str] = ""  # what the admin shows for the kind
    supports_embeddings: ClassVar[bool] = False
    stream_format: ClassVar[str] = "sse"  # or "ndjson"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        embedding_model: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.embedding_model = embedding_model

    # ---- vendor specifics (override) ----------------------------------------------------------
    def chat_call(self, request: ChatRequest, *, stream: bool = False) -> HttpCall:
        raise NotImplementedError

    def parse_chat(self, body: Any) -> ChatResponse:
        raise NotImplementedError

    def parse_stream(self, event: str, data: str) -> StreamEvent | None:
        """One SSE event (or NDJSON line, event "") to a StreamEvent; None to skip it."""
        raise NotImplementedError

    def embed_call(self, texts: list[str]) -> HttpCall:
        raise ProviderError(ErrorKind.UNSUPPORTED, f"The {self.kind} API has no embeddings endpoint.")

    def parse_embed(self, body: Any) -> EmbedResponse:
        raise NotImplementedError

    def health_call(self) -> HttpCall:
        raise NotImplementedError

    def parse_health(self, body: Any) -> list[str]:
        """The model names the vendor lists."""
        raise NotImplementedError

    def error_message(self, body: Any) -> str:
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"])
            if isinstance(error, str):
                return error
            if body.get("message"):
                return str(body["message"])
        return str(body)[:300]

    # ---- transport (shared) -------------------------------------------------------------------
    def _raise_for_status(self, response: httpx.Response, body_text: str) -> None:
        if response.status_code < 400:
            return
        try:
            message = self.error_message(json.loads(body_text))
        except ValueError:
            message = body_text[:300] or response.reason_phrase
        raise error_from_status(
            response.status_code, message, retry_after=parse_retry_after(response.headers)
        )

    def _parse(self, parser: Any, body_text: str) -> Any:
        body = load_json(body_text)
        try:
            return parser(body)
        except ProviderError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise ProviderError(
                ErrorKind.MALFORMED, f"Unexpected response shape ({exc!r}): {body_text[:200]!r}"
            ) from exc

    def send(self, call: HttpCall) -> str:
        try:
            response = http_client().request(
                call.method,
                call.url,
                headers=call.headers,
                json=call.json,
                params=call.params,
                timeout=self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(ErrorKind.TIMEOUT, f"No answer within {self.timeout}s ({exc!r})") from exc
        except httpx.TransportError as exc:
            raise ProviderError(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc
        self._raise_for_status(response, response.text)
        return response.text

    async def asend(self, call: HttpCall) -> str:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.request(
                    call.method, call.url, headers=call.headers, json=call.json, params=call.params
                )
        except httpx.TimeoutException as exc:
            raise ProviderError(ErrorKind.TIMEOUT, f"No answer within {self.timeout}s ({exc!r})") from exc
        except httpx.TransportError as exc:
            raise ProviderError(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc
        self._raise_for_status(response, response.text)
        return response.text

    def chat(self, request: ChatRequest) -> ChatResponse:
        return self._parse(self.parse_chat, self.send(self.chat_call(request)))

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self._parse(self.parse_chat, await self.asend(self.chat_call(request)))

    def embed(self, texts: list[str]) -> EmbedResponse:
        return self._parse(self.parse_embed, self.send(self.embed_call(texts)))

    async def aembed(self, texts: list[str]) -> EmbedResponse:
        return self._parse(self.parse_embed, await self.asend(self.embed_call(texts)))

    def health(self) -> HealthResult:
        started = time.perf_counter()
        try:
            models = self._parse(self.parse_health, self.send(self.health_call()))
        except ProviderError as exc:
            return HealthResult(False, str(exc), int((time.perf_counter() - started) * 1000))
        elapsed = int((time.perf_counter() - started) * 1000)
        return HealthResult(True, f"reachable, {len(models)} models listed", elapsed, models)

    def _stream_events(self, lines: Iterator[str]) -> Iterator[StreamEvent]:
        pairs = (
            iter_sse(lines) if self.stream_format == "sse" else (("", line) for line in lines if line.strip())
        )
        for event, data in pairs:
            parsed = self._parse_stream_item(event, data)
            if parsed is not None:
                yield parsed

    def _parse_stream_item(self, event: str, data: str) -> StreamEvent | None:
        try:
            return self.parse_stream(event, data)
        except ProviderError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise ProviderError(ErrorKind.MALFORMED, f"Bad stream event {data[:200]!r}: {exc!r}") from exc

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """Yield text deltas as they arrive, then usage (where the vendor reports it)."""
        call = self.chat_call(request, stream=True)
        try:
            with http_client().stream(
                call.method,
                call.url,
                headers=call.headers,
                json=call.json,
                params=call.params,
                timeout=self.timeout,
            ) as response:
                if response.status_code >= 400:
                    self._raise_for_status(response, response.read().decode(errors="replace"))
                yield from self._stream_events(response.iter_lines())
        except httpx.TimeoutException as exc:
            raise ProviderError(ErrorKind.TIMEOUT, f"Stream stalled for {self.timeout}s ({exc!r})") from exc
        except httpx.TransportError as exc:
            raise ProviderError(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc

    async def astream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        call = self.chat_call(request, stream=True)
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout) as client,
                client.stream(
                    call.method, call.url, headers=call.headers, json=call.json, params=call.params
                ) as response,
            ):
                if response.status_code >= 400:
                    self._raise_for_status(response, (await response.aread()).decode(errors="replace"))
                if self.stream_format == "sse":
                    async for event, data in aiter_sse(response.aiter_lines()):
                        parsed = self._parse_stream_item(event, data)
                        if parsed is not None:
                            yield parsed
                else:
                    async for line in response.aiter_lines():
                        if line.strip():
                            parsed = self._parse_stream_item("", line)
                            if parsed is not None:
                                yield parsed
        except httpx.TimeoutException as exc:
            raise ProviderError(ErrorKind.TIMEOUT, f"Stream stalled for {self.timeout}s ({exc!r})") from exc
        except httpx.TransportError as exc:
            raise ProviderError(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}") from exc


def collect_stream(events: Iterator[StreamEvent]) -> ChatResponse:
    """Join a stream into one response (what the router does when it streams)."""
    parts: list[str] = []
    response = ChatResponse(text="")
    for event in events:
        parts.append(event.delta)
        if event.tokens_in is not None:
            response.tokens_in = event.tokens_in
        if event.tokens_out is not None:
            response.tokens_out = event.tokens_out
        if event.finish_reason:
            response.finish_reason = event.finish_reason
    response.text = "".join(parts)
    return response


def split_system(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """System instructions apart from the conversation (Anthropic and Gemini want them apart)."""
    system = "\n\n".join(str(m["content"]) for m in messages if m.get("role") == "system")
    rest = [m for m in messages if m.get("role") != "system"]
    return system, rest


def merge_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role merged (APIs that require strict alternation)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role", "user")
        content = str(message.get("content", ""))
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += "\n\n" + content
        else:
            merged.append({"role": role, "content": content})
    return merged
