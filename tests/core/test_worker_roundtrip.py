"""Broker -> real worker -> Postgres -> Channels layer -> websocket client, all real."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator

from apps.core.models import WorkerPing
from apps.core.realtime import ping_group
from apps.core.tasks import worker_ping_task

pytestmark = pytest.mark.django_db(transaction=True)


class PingListener(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.group = ping_group(self.scope["url_route"]["kwargs"]["token"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def worker_ping(self, event: dict) -> None:
        await self.send_json(event)


def test_worker_writes_row_and_its_broadcast_reaches_a_websocket(celery_worker):
    token = uuid.uuid4().hex

    async def scenario() -> dict:
        app = PingListener.as_asgi()
        communicator = WebsocketCommunicator(app, f"/ws/ping/{token}/")
        communicator.scope["url_route"] = {"kwargs": {"token": token}}
        connected, _ = await communicator.connect()
        assert connected
        try:
            # The group is joined before the task is sent, so the broadcast cannot be missed.
            await __import__("asyncio").to_thread(lambda: worker_ping_task.delay(token).get(timeout=30))
            return await communicator.receive_json_from(timeout=10)
        finally:
            await communicator.disconnect()

    message = async_to_sync(scenario)()
    assert message["token"] == token
    row = WorkerPing.objects.get(token=token)
    assert row.hostname == message["hostname"]
