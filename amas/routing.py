"""Websocket routes under /ws/."""

from django.urls import path

from apps.core.metrics import CountConnections
from apps.tasks import consumers

websocket_urlpatterns = [
    path("ws/tasks/<uuid:task_id>/", CountConnections(consumers.TaskConsumer.as_asgi())),
    path("ws/monitor/", CountConnections(consumers.MonitorConsumer.as_asgi())),
]
