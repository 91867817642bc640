"""Fake AI vendors: local HTTP servers speaking each API style's documented wire format.

A fake is a party we do not run (STYLE.md rule 11), so it is allowed; it checks the API key and the
model like the real service, answers with the real response shapes (incl. usage and streaming),
records every request, and fails on command: `timeout`, `500`, `429` (with Retry-After),
`malformed`, `401`. A wrong model gets the vendor's 404.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STYLES = ("openai", "anthropic", "gemini", "cohere", "ollama")

# What generativelanguage.googleapis.com answers to a wrong key (HTTP 400, google.rpc.ErrorInfo).
GEMINI_API_KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeVendor:
    style: str
    api_key: str = "test-key"
    models: tuple[str, ...] = ("fake-model",)
    embedding_models: tuple[str, ...] = ("fake-embed",)
    delay: float = 0.0
    hang_seconds: float = 3.0
    embedding_dim: int = 8
    # Models that answer 400 to a request carrying `temperature` (newer Claude models do).
    rejects_temperature: tuple[str, ...] = ()
    # Gemini thinking models bill thought tokens apart from the answer (usageMetadata.thoughtsTokenCount).
    thoughts_tokens: int = 0
    requests: list[Recorded] = field(default_factory=list)
    _failures: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    # ---- control -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}" + ("/v1" if self.style == "openai" else "")

    def fail(self, mode: str, times: int = 1, retry_after: float = 1) -> None:
        """Fail the next `times` requests with `mode`: timeout, 500, 429, malformed, 401."""
        with self._lock:
            for _ in range(times):
                self._failures.append((mode, retry_after))

    def fail_always(self, mode: str) -> None:
        self.fail(mode, times=10_000)

    def recover(self) -> None:
        with self._lock:
            self._failures.clear()

    def calls(self, kind: str = "") -> list[Recorded]:
        """Recorded requests; kind chat|embed|models narrows them."""
        patterns = {
            "chat": r"(chat|messages|generateContent|streamGenerateContent)",
            "embed": r"(embed|embeddings|batchEmbedContents)",
            "models": r"(models$|tags$)",
        }
        if not kind:
            return list(self.requests)
        return [r for r in self.requests if re.search(patterns[kind], r.path)]

    def start(self) -> FakeVendor:
        vendor = self

        class Handler(_Handler):
            fake = vendor

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 resets connections under load

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True, name=f"fake-{self.style}"
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def next_failure(self) -> tuple[str, float] | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    # ---- deterministic content -----------------------------------------------------------------
    def reply_for(self, prompt: str) -> str:
        words = prompt.split()
        return f"{self.style} reply to: " + " ".join(words[-6:])

    def vector_for(self, text: str) -> list[float]:
        return [float((len(text) + i) % 7) for i in range(self.embedding_dim)]


def count_words(text: str) -> int:
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeVendor
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ---- plumbing ----
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send_raw(status, body, "application/json", headers)

    def _send_raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_stream(self, chunks: list[bytes], content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        style = self.fake.style
        status_names = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
        }
        anthropic_types = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_error",
            500: "api_error",
        }
        if style == "openai":
            payload: Any = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        elif style == "anthropic":
            payload = {
                "type": "error",
                "error": {"type": anthropic_types.get(status, "api_error"), "message": message},
                "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
            }
        elif style == "gemini":
            payload = {
                "error": {"code": status, "message": message, "status": status_names.get(status, "UNKNOWN")}
            }
        elif style == "cohere":
            payload = {"id": "err-1", "message": message}
        else:
            payload = {"error": message}
        self._send_json(status, payload, headers)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        fake = self.fake
        if parts.path.startswith("/_control/"):  # for a fake running in another process (bench/)
            command = parts.path.rsplit("/", 1)[-1]
            if command == "recover":
                fake.recover()
            else:
                getattr(fake, command)(**(body or {}))
            return self._send_json(200, {"ok": True})
        with fake._lock:
            fake.requests.append(
                Recorded(
                    method,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
        try:
            failure = fake.next_failure()
            if failure:
                mode, retry_after = failure
                if mode == "timeout":
                    time.sleep(fake.hang_seconds)
                    return self._error(504, "too late")
                if mode == "500":
                    return self._error(500, "The server had an error while processing your request.")
                if mode == "429":
                    return self._error(429, "Rate limit reached.", {"Retry-After": f"{retry_after:g}"})
                if mode == "401":
                    return self._error(401, "Invalid API key.")
                if mode == "malformed":
                    return self._send_raw(200, b'{"choices": [{"message": ', "application/json")
            if fake.delay:
                time.sleep(fake.delay)
            if not self._authorised():
                if fake.style == "gemini":  # the real API answers a bad key with 400, not 401
                    return self._send_json(400, GEMINI_API_KEY_INVALID)
                return self._error(401, "Invalid API key provided.")
            getattr(self, f"_{fake.style}")(method, parts.path, parse_qs(parts.query), body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _authorised(self) -> bool:
        expected = self.fake.api_key
        if not expected:
            return True
        style = self.fake.style
        if style == "anthropic":
            # The API takes the key as x-api-key or as a Bearer token (the SDK sends the latter).
            given = self.headers.get("x-api-key") or self.headers.get("Authorization", "").removeprefix(
                "Bearer "
            )
            return given == expected and bool(self.headers.get("anthropic-version"))
        if style == "gemini":
            return self.headers.get("x-goog-api-key") == expected
        return self.headers.get("Authorization") == f"Bearer {expected}"

    def _model_ok(self, model: str, embedding: bool = False) -> bool:
        known = self.fake.embedding_models if embedding else self.fake.models
        return model.removeprefix("models/") in known

    @staticmethod
    def _prompt(messages: list[dict[str, Any]]) -> str:
        return " ".join(str(m.get("content", "")) for m in messages)

    # ---- OpenAI-compatible ----
    def _openai(self, method: str, path: str, query: dict, body: Any) -> None:
        if method == "GET" and path == "/v1/models":
            models = [*self.fake.models, *self.fake.embedding_models]
            return self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 1767225600, "owned_by": "system"}
                        for m in models
                    ],
                },
            )
        if path == "/v1/embeddings":
            if not self._model_ok(body["model"], embedding=True):
                return self._error(404, f"The model `{body['model']}` does not exist")
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": self.fake.vector_for(t)}
                for i, t in enumerate(inputs)
            ]
            tokens = sum(count_words(t) for t in inputs)
            return self._send_json(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )
        if path != "/v1/chat/completions":
            return self._error(404, "Unknown path")
        if not self._model_ok(body["model"]):
            return self._error(
                404, f"The model `{body['model']}` does not exist or you do not have access to it."
            )
        prompt = self._prompt(body["messages"])
        reply = self.fake.reply_for(prompt)
        usage = {"prompt_tokens": count_words(prompt), "completion_tokens": count_words(reply)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        created = int(time.time())
        if body.get("stream"):
            chunks = []
            for i, word in enumerate(reply.split(" ")):
                delta = {"role": "assistant", "content": word if i == 0 else " " + word}
                chunk = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                chunks.append(f"data: {json.dumps(chunk)}\n\n".encode())
            final = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            chunks.append(f"data: {json.dumps(final)}\n\n".encode())
            if (body.get("stream_options") or {}).get("include_usage"):
                usage_chunk = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": body["model"],
                    "choices": [],
                    "usage": usage,
                }
                chunks.append(f"data: {json.dumps(usage_chunk)}\n\n".encode())
            chunks.append(b"data: [DONE]\n\n")
            return self._send_stream(chunks, "text/event-stream")
        return self._send_json(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": created,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                ],
                "usage": usage,
            },
        )

    # ---- Anthropic Messages ----
    def _anthropic(self, method: str, path: str, query: dict, body: Any) -> None:
        if method == "GET" and path == "/v1/models":
            data = [
                {
                    "type": "model",
                    "id": m,
                    "display_name": m,
                    "created_at": "2026-10-01T00:00:00Z",
                    "lifecycle": "active",
                }
                for m in self.fake.models
            ]
            return self._send_json(
                200,
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                },
            )
        if path != "/v1/messages":
            return self._error(404, "Unknown path")
        if not self._model_ok(body["model"]):
            return self._error(404, f"model: {body['model']}")
        if "temperature" in body and body["model"] in self.fake.rejects_temperature:
            return self._error(400, "`temperature` is deprecated for this model.")
        prompt = " ".join([body.get("system", ""), self._prompt(body["messages"])]).strip()
        tool = (body.get("tool_choice") or {}).get("type") == "tool"
        if tool:
            tool_input = {"answer": self.fake.reply_for(prompt)}
            reply = json.dumps(tool_input)
            reply_block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": body["tool_choice"]["name"],
                "input": tool_input,
            }
        else:
            reply = self.fake.reply_for(prompt)
            reply_block = {"type": "text", "text": reply}
        stop_reason = "tool_use" if tool else "end_turn"
        usage = {
            "input_tokens": count_words(prompt),
            "output_tokens": count_words(reply),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        }
        if body.get("stream"):

            def event(name: str, data: dict) -> bytes:
                return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

            message = {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {**usage, "output_tokens": 1},
            }
            start_block = {**reply_block, "input": {}} if tool else {"type": "text", "text": ""}
            chunks = [
                event("message_start", {"type": "message_start", "message": message}),
                event(
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": start_block},
                ),
                event("ping", {"type": "ping"}),
            ]
            # A forced tool call streams its input as partial JSON (input_json_delta), text as text.
            pieces = [reply[i : i + 7] for i in range(0, len(reply), 7)] if tool else reply.split(" ")
            for i, piece in enumerate(pieces):
                if tool:
                    delta = {"type": "input_json_delta", "partial_json": piece}
                else:
                    delta = {"type": "text_delta", "text": piece if i == 0 else " " + piece}
                chunks.append(
                    event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
                )
            chunks += [
                event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                        "usage": {"output_tokens": usage["output_tokens"]},
                    },
                ),
                event("message_stop", {"type": "message_stop"}),
            ]
            return self._send_stream(chunks, "text/event-stream")
        return self._send_json(
            200,
            {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [reply_block],
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": usage,
            },
        )

    # ---- Gemini ----
    def _gemini(self, method: str, path: str, query: dict, body: Any) -> None:
        if method == "GET" and path == "/v1beta/models":
            return self._send_json(200, {"models": [{"name": f"models/{m}"} for m in self.fake.models]})
        match = re.fullmatch(r"/v1beta/models/([^:]+):(\w+)", path)
        if not match:
            return self._error(404, "Unknown path")
        model, action = match.groups()
        if action == "batchEmbedContents":
            if not self._model_ok(model, embedding=True):
                return self._error(404, f"models/{model} is not found for API version v1beta")
            vectors = [
                {"values": self.fake.vector_for(r["content"]["parts"][0]["text"])} for r in body["requests"]
            ]
            return self._send_json(200, {"embeddings": vectors})
        if not self._model_ok(model):
            return self._error(
                404, f"models/{model} is not found for API version v1beta, or is not supported"
            )
        texts = [p["text"] for c in body["contents"] for p in c["parts"]]
        system = " ".join(p["text"] for p in (body.get("systemInstruction") or {}).get("parts", []))
        prompt = " ".join([system, *texts]).strip()
        reply = self.fake.reply_for(prompt)
        usage = {"promptTokenCount": count_words(prompt), "candidatesTokenCount": count_words(reply)}
        if self.fake.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.fake.thoughts_tokens
        usage["totalTokenCount"] = sum(usage.values())
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]
        if action == "streamGenerateContent":
            if query.get("alt") != ["sse"]:
                return self._error(400, "this fake streams SSE only")
            words = reply.split(" ")
            chunks = []
            for i, word in enumerate(words):
                last = i == len(words) - 1
                chunk: dict[str, Any] = {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": word if i == 0 else " " + word}]},
                            **({"finishReason": "STOP"} if last else {}),
                        }
                    ],
                    "modelVersion": model,
                }
                chunk["usageMetadata"] = usage if last else {"promptTokenCount": usage["promptTokenCount"]}
                chunks.append(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            return self._send_stream(chunks, "text/event-stream")
        return self._send_json(
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": reply}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
            },
        )

    # ---- Cohere v2 ----
    def _cohere(self, method: str, path: str, query: dict, body: Any) -> None:
        if method == "GET" and path == "/v1/models":
            return self._send_json(
                200, {"models": [{"name": m, "endpoints": ["chat"]} for m in self.fake.models]}
            )
        if path == "/v2/embed":
            if not self._model_ok(body["model"], embedding=True):
                return self._error(404, f"model '{body['model']}' not found")
            tokens = sum(count_words(t) for t in body["texts"])
            return self._send_json(
                200,
                {
                    "id": "emb-1",
                    "texts": body["texts"],
                    "embeddings": {"float": [self.fake.vector_for(t) for t in body["texts"]]},
                    "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                },
            )
        if path != "/v2/chat":
            return self._error(404, "Unknown path")
        if not self._model_ok(body["model"]):
            return self._error(
                404, f"model '{body['model']}' not found, make sure the correct model ID was used"
            )
        prompt = self._prompt(body["messages"])
        reply = self.fake.reply_for(prompt)
        usage = {
            "billed_units": {"input_tokens": count_words(prompt), "output_tokens": count_words(reply)},
            "tokens": {"input_tokens": count_words(prompt) + 10, "output_tokens": count_words(reply)},
        }
        if body.get("stream"):

            def event(name: str, data: dict) -> bytes:
                return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

            chunks = [
                event("message-start", {"id": "c-1", "delta": {"message": {"role": "assistant"}}}),
                event(
                    "content-start",
                    {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
                ),
            ]
            for i, word in enumerate(reply.split(" ")):
                chunks.append(
                    event(
                        "content-delta",
                        {
                            "index": 0,
                            "delta": {"message": {"content": {"text": word if i == 0 else " " + word}}},
                        },
                    )
                )
            chunks += [
                event("content-end", {"index": 0}),
                event("message-end", {"delta": {"finish_reason": "COMPLETE", "usage": usage}}),
            ]
            return self._send_stream(chunks, "text/event-stream")
        return self._send_json(
            200,
            {
                "id": "c-1",
                "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": reply}]},
                "usage": usage,
            },
        )

    # ---- Ollama ----
    def _ollama(self, method: str, path: str, query: dict, body: Any) -> None:
        if method == "GET" and path == "/api/tags":
            models = [*self.fake.models, *self.fake.embedding_models]
            return self._send_json(
                200, {"models": [{"name": f"{m}:latest", "model": f"{m}:latest", "size": 1} for m in models]}
            )
        if path == "/api/embed":
            if not self._model_ok(body["model"], embedding=True):
                return self._error(404, f'model "{body["model"]}" not found, try pulling it first')
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return self._send_json(
                200,
                {
                    "model": body["model"],
                    "embeddings": [self.fake.vector_for(t) for t in inputs],
                    "prompt_eval_count": sum(count_words(t) for t in inputs),
                },
            )
        if path != "/api/chat":
            return self._error(404, "404 page not found")
        if not self._model_ok(body["model"]):
            return self._error(404, f'model "{body["model"]}" not found, try pulling it first')
        prompt = self._prompt(body["messages"])
        reply = self.fake.reply_for(prompt)
        counts = {"prompt_eval_count": count_words(prompt), "eval_count": count_words(reply)}
        if body.get("stream", True):
            lines = []
            for i, word in enumerate(reply.split(" ")):
                lines.append(
                    json.dumps(
                        {
                            "model": body["model"],
                            "created_at": "2024-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": word if i == 0 else " " + word},
                            "done": False,
                        }
                    )
                    + "\n"
                )
            lines.append(
                json.dumps(
                    {
                        "model": body["model"],
                        "created_at": "2024-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": "stop",
                        **counts,
                    }
                )
                + "\n"
            )
            return self._send_stream([line.encode() for line in lines], "application/x-ndjson")
        return self._send_json(
            200,
            {
                "model": body["model"],
                "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": reply},
                "done": True,
                "done_reason": "stop",
                **counts,
            },
        )
