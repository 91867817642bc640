import asyncio
import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

from amas.db_pool import pool_check_install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amas.settings.local")
logger = logging.getLogger("django.request")

# Request threads kept for the next request (more are started under a burst, as Django would).
IDLE_REQUEST_THREADS = 16


# What sets a browser request's user (Django's, or AMAS's subclass with the cached session user).
AUTHENTICATION_MIDDLEWARE = (
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.users.middleware.SessionUserMiddleware",
)


def _bearer_api_request(request: HttpRequest) -> bool:
    """An API request that TokenAuth alone authenticates: its Authorization header's scheme is
    Bearer (ninja's HttpBearer test), so the session is never asked (apps/users/auth.py)."""
    if not request.path.startswith("/api/"):
        return False
    header = request.META.get("HTTP_AUTHORIZATION") or ""
    return header.split(" ", 1)[0].lower() == "bearer"


def _bearer_api_middleware() -> list[str]:
    """The chain of a bearer-token API request: settings.MIDDLEWARE as it is now, without
    settings.BROWSER_ONLY_MIDDLEWARE, and the token's anonymous-until-authenticated user in
    AuthenticationMiddleware's place."""
    browser_only = set(settings.BROWSER_ONLY_MIDDLEWARE)
    return [
        "apps.users.middleware.BearerRequestUserMiddleware" if path in AUTHENTICATION_MIDDLEWARE else path
        for path in settings.MIDDLEWARE
        if path not in browser_only
    ]


def _handler_with(middleware: list[str]) -> BaseHandler:
    """A sync handler whose chain is `middleware`. Django builds a chain only from
    settings.MIDDLEWARE, so the setting is swapped while this one loads (once, at startup,
    before any request is served)."""
    handler = BaseHandler()
    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = middleware
    try:
        handler.load_middleware(is_async=False)
    finally:
        settings.MIDDLEWARE = full
    return handler


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with everything sync about a request in ONE thread hop, on a reused
    thread.

    Our middleware and views are sync. Django's stock ASGI handling hops between the event loop
    and a thread up to five times a request (request_started, the sync middleware, the async
    bottom of the chain, the sync view, response.close() and request_finished), each ~0.3-0.5 ms
    of CPU, and starts and joins a new thread for every request (its ThreadSensitiveContext). Here
    the request_started signal, the whole middleware chain built sync (what Django builds for
    WSGI: a sync-capable middleware such as django-htmx's runs sync, the view is called
    directly) and, for a response that is not streamed, response.close() with request_finished
    (database connections back to the pool) run in one sync_to_async call on a thread taken
    from a free list (ThreadSensitiveContext with a caller-owned executor: Django's per-request
    thread semantics, thread-sensitive calls of one request stay on one thread, without the
    thread start). A streamed response (audit export, files) is sent as Django sends it: raced
    against the client's disconnect, then closed. An async view would still run (Django wraps
    it in async_to_sync), at the cost of the hops it needs."""

    def __init__(self) -> None:
        super().__init__()
        self._idle_executors: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._bearer_api = _handler_with(_bearer_api_middleware())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._idle_executors
        executor = idle.pop() if idle else ThreadPoolExecutor(1, thread_name_prefix="amas-request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # handle() returns only once the request's thread is done (a cancelled
            # sync_to_async waits for its thread), so the executor is idle again.
            if len(idle) < IDLE_REQUEST_THREADS:
                idle.append(executor)
            else:
                executor.shutdown(wait=False)

    def _respond(self, scope: dict, body_file: Any) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            response: HttpResponseBase = error_response  # type: ignore[assignment]  # 400 or 413
        else:
            # A bearer-token API request takes the chain without the browser-only middleware.
            chain = self._bearer_api if _bearer_api_request(request) else self
            response = chain.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            # request_finished now, in this thread: the body is already built. Django closes after
            # sending, so a failure here (a database connection that cannot go back to its pool)
            # never cost the client its answer; it does not here either.
            try:
                response.close()
            except Exception:
                logger.exception("Closing the response of %s failed", scope.get("path", ""))
        return response

    async def handle(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            if not response.streaming:
                # Sent to a client that has gone, the message is dropped by the server.
                await self.send_response(response, send)
                return
            await self._stream(response, receive, send)
        finally:
            body_file.close()

    async def _stream(self, response: HttpResponseBase, receive: Any, send: Any) -> None:
        """A streamed response as Django sends one: stopped when the client disconnects."""
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(self.send_response(response, send)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done():
                    with contextlib.suppress(RequestAborted, asyncio.CancelledError):
                        task.result()
                else:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            await sync_to_async(response.close)()


# Django must be set up before anything imports models (consumers do).
django.setup(set_prefix=False)
pool_check_install()
django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from amas.routing import websocket_urlpatterns  # noqa: E402
from apps.users.ws_auth import WebsocketAuthMiddlewareStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            WebsocketAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
