"""Websocket routes under /ws/."""

from django.urls import path

from apps.cases import consumers as case_consumers
from apps.core.metrics import CountConnections
from apps.tasks import consumers

websocket_urlpatterns = [
    path("ws/tasks/<uuid:task_id>/", CountConnections(consumers.TaskConsumer.as_asgi())),
    path("ws/monitor/", CountConnections(consumers.MonitorConsumer.as_asgi())),
    path(
        "ws/investigations/<uuid:investigation_id>/",
        CountConnections(case_consumers.InvestigationConsumer.as_asgi()),
    ),
]
