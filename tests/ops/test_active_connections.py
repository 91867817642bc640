"""amas_active_connections counts open websockets (kept per process in Redis, summed at scrape)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from amas.asgi import application
from apps.core import metrics
from apps.users.services import token_create
from tests.ops.conftest import scrape, value

pytestmark = pytest.mark.django_db(transaction=True)


async def test_open_websockets_are_counted(client, analyst):
    await database_sync_to_async(metrics.reset)()
    token = await database_sync_to_async(
        lambda: token_create(user=analyst, name="ws", scopes=["tasks:read"]).secret
    )()
    headers = [(b"origin", b"http://localhost"), (b"authorization", f"Bearer {token}".encode())]
    first = WebsocketCommunicator(application, "/ws/monitor/", headers=headers)
    second = WebsocketCommunicator(application, "/ws/monitor/", headers=headers)
    assert (await first.connect())[0] and (await second.connect())[0]
    samples = await database_sync_to_async(scrape)(client)
    assert value(samples, "amas_active_connections") == 2
    await first.disconnect()
    await second.disconnect()
    samples = await database_sync_to_async(scrape)(client)
    assert value(samples, "amas_active_connections") == 0


async def test_connections_opened_and_closed_at_once_are_counted(client, analyst):
    """Sockets accepted and closed concurrently (their counts are stored from worker threads):
    the stored count is the last one, not an older one whose write landed later."""
    import asyncio

    await database_sync_to_async(metrics.reset)()
    token = await database_sync_to_async(
        lambda: token_create(user=analyst, name="ws", scopes=["tasks:read"]).secret
    )()
    headers = [(b"origin", b"http://localhost"), (b"authorization", f"Bearer {token}".encode())]
    sockets = [WebsocketCommunicator(application, "/ws/monitor/", headers=headers) for _ in range(12)]
    connected = await asyncio.gather(*(s.connect() for s in sockets))
    assert all(accepted for accepted, _ in connected)
    samples = await database_sync_to_async(scrape)(client)
    assert value(samples, "amas_active_connections") == 12
    await asyncio.gather(*(s.disconnect() for s in sockets[:7]))
    samples = await database_sync_to_async(scrape)(client)
    assert value(samples, "amas_active_connections") == 5
    await asyncio.gather(*(s.disconnect() for s in sockets[7:]))
    samples = await database_sync_to_async(scrape)(client)
    assert value(samples, "amas_active_connections") == 0
