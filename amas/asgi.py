import os
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amas.settings.local")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain and the view run in ONE thread hop.

    Our middleware and views are sync. Django's stock ASGI chain ends in the async
    _get_response_async, so every request hopped three times: into a thread for the sync
    middleware, back to the event loop (async_to_sync) for the bottom of the chain, and into a
    thread again (sync_to_async) for the sync view, at ~0.3-0.5 ms of CPU each. Built as a
    sync chain (what Django builds for WSGI: a sync-capable middleware such as django-htmx's runs
    sync, the view is called directly) and entered through one sync_to_async, thread-sensitive
    as Django's own (the database connections of a request stay on one thread). An async view
    would still run (Django wraps it in async_to_sync), at the cost of the hops it needs."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain: Any = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


# Django must be set up before anything imports models (consumers do).
django.setup(set_prefix=False)
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
