from channels.generic.websocket import AsyncJsonWebsocketConsumer


class TaskConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.close(code=4404)


class MonitorConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.close(code=4403)
