"""Websocket routes under /ws/."""

from django.urls import path

from apps.tasks import consumers

websocket_urlpatterns = [
    path("ws/tasks/<uuid:task_id>/", consumers.TaskConsumer.as_asgi()),
    path("ws/monitor/", consumers.MonitorConsumer.as_asgi()),
]
