"""OpenTelemetry: with an OTLP endpoint configured, the API request that creates a task and the
worker that runs its step export spans of one trace to the collector (a local OTLP/HTTP receiver
decoding the real protobuf)."""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from amas.stack import free_port
from apps.users.services import token_create
from tests.ops.conftest import ROOT, stop, subprocess_env, wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = """
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.ops.agents import ALL
for agent in ALL:
    agent_registry.register(agent)
"""


@pytest.fixture
def collector():
    spans = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        spans.append({"service": service, "name": span.name, "trace_id": span.trace_id.hex()})
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", spans
    server.shutdown()
    server.server_close()


def test_request_and_worker_spans_share_a_trace(collector, analyst):
    import subprocess

    endpoint, spans = collector
    port = free_port()
    common = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    web = subprocess.Popen(
        [sys.executable, "-c", BOOT + f"from daphne.cli import CommandLineInterface\n"
         f"CommandLineInterface().run(['-b', '127.0.0.1', '-p', '{port}', 'amas.asgi:application'])"],
        cwd=ROOT, env=subprocess_env(OTEL_SERVICE_NAME="amas-web", **common),
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-c", BOOT + "from amas.celery import app\n"
         "app.worker_main(['worker', '-Q', 'ops-a,default', '-P', 'threads', '-c', '2', '-l', 'WARNING',"
         " '--without-mingle', '--without-gossip', '-n', 'otel@%h'])"],
        cwd=ROOT, env=subprocess_env(OTEL_SERVICE_NAME="amas-worker", **common),
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "daphne did not start"
            time.sleep(0.2)
        token = token_create(user=analyst, name="otel", scopes=["tasks:read", "tasks:write"]).secret
        response = httpx.post(
            url + "/api/v1/tasks",
            json={"title": "traced", "task_type": "custom", "target": "x", "agents": ["test_ops_a"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        assert wait_for_task(response.json()["id"]).status == "completed"

        def trace_of_request():
            return next(
                (s["trace_id"] for s in spans if s["service"] == "amas-web" and s["name"].startswith("POST")),
                None,
            )

        deadline = time.monotonic() + 30
        while True:
            trace_id = trace_of_request()
            worker_spans = [s for s in spans if s["service"] == "amas-worker" and s["trace_id"] == trace_id]
            if trace_id and any("tasks.run_step" in s["name"] for s in worker_spans):
                break
            assert time.monotonic() < deadline, spans
            time.sleep(0.2)
    finally:
        stop(web)
        stop(worker)
