"""Sending into the Channels layer from sync code (services, workers).

`async_to_sync` starts a fresh event loop per call, and channels-redis keeps its connections per
loop, so every send would reconnect to Redis. Sync code instead hands its sends to one long-lived
loop per process (a daemon thread), which keeps its connections warm."""

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from channels.layers import get_channel_layer

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None

SEND_TIMEOUT_SECONDS = 10.0


def _layer_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked worker needs its own thread
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-loop", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def layer_run(send: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    """Run `send(layer)` on the process's channel-layer loop and wait for it."""
    layer = get_channel_layer()
    if layer is None:
        return
    future = asyncio.run_coroutine_threadsafe(send(layer), _layer_loop())
    future.result(timeout=SEND_TIMEOUT_SECONDS)


def ping_group(token: str) -> str:
    return f"ping-{token}"


def ping_broadcast(*, token: str, hostname: str) -> None:
    async def send(layer: Any) -> None:
        await layer.group_send(
            ping_group(token), {"type": "worker.ping", "token": token, "hostname": hostname}
        )

    layer_run(send)
