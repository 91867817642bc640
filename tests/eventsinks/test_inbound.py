"""Inbound task requests against a real RabbitMQ: a request message becomes a task under the
service account (same schema and service as POST /api/v1/tasks), the requester gets the outcome on
its reply_to queue (correlation_id honoured), and then the task's terminal status; bad input is a
rejection naming the problem and never stops the consumer; undecodable or repeatedly failing
messages end on the dead-letter queue with the reason in a header; a message id creates at most one
task, also when the consumer is killed mid-message and the broker redelivers it."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import amqp
import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.eventsinks.inbound_consumer import InboundConsumer, dead_letter_names, declare
from apps.eventsinks.models import InboundRequest, InboundStatus
from apps.tasks.models import Task
from apps.users.services import token_create

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"title": "from the queue", "task_type": "custom", "agents": ["test_echo"], "target": "example.org"}


def wait_until(condition, timeout: float = 60.0, describe=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"condition not met in time {describe()}")


@pytest.fixture
def service_account(user_factory):
    from apps.users.models import Role

    return user_factory(role=Role.ANALYST)


@pytest.fixture
def inbound_settings(settings, rabbitmq, service_account):
    suffix = uuid.uuid4().hex[:8]
    settings.AMAS_INBOUND_AMQP_URL = rabbitmq.url
    settings.AMAS_INBOUND_QUEUE = f"amas.test-requests.{suffix}"
    settings.AMAS_INBOUND_REPLY_EXCHANGE = f"amas.test-replies.{suffix}"
    settings.AMAS_INBOUND_MAX_ATTEMPTS = 3
    settings.AMAS_INBOUND_TOKEN = token_create(
        user=service_account, name="inbound", scopes=["tasks:read", "tasks:write"]
    ).secret
    return settings


class Requester:
    """A client of the inbound queue: publishes requests, reads its replies and the dead letters."""

    def __init__(self, rabbitmq, settings) -> None:
        self.queue = settings.AMAS_INBOUND_QUEUE
        self.connection = amqp.Connection(f"{rabbitmq.host}:{rabbitmq.port}", confirm_publish=True)
        self.connection.connect()
        self.channel = self.connection.channel()
        declare(self.channel, queue=self.queue, reply_exchange=settings.AMAS_INBOUND_REPLY_EXCHANGE)
        self.reply_queue, _, _ = self.channel.queue_declare("", exclusive=True)
        self.received: list[tuple[dict, amqp.Message]] = []

    def send(self, body, *, message_id: str | None = None, correlation_id: str = "c-1", reply_to=True) -> str:
        message_id = message_id if message_id is not None else uuid.uuid4().hex
        raw = body if isinstance(body, bytes) else json.dumps(body)
        props = {
            "message_id": message_id,
            "correlation_id": correlation_id,
            "content_type": "application/json",
        }
        if reply_to:
            props["reply_to"] = self.reply_queue
        self.channel.basic_publish(
            amqp.Message(raw, delivery_mode=2, **props), exchange="", routing_key=self.queue
        )
        return message_id

    def replies(self, count: int, timeout: float = 30.0) -> list[tuple[dict, amqp.Message]]:
        """All replies received so far, once there are at least `count`."""
        got = self.received

        def more():
            while (message := self.channel.basic_get(self.reply_queue, no_ack=True)) is not None:
                got.append((json.loads(message.body), message))
            return len(got) >= count

        wait_until(more, timeout, describe=lambda: got)
        return list(got)

    def reply_with(self, status: str, timeout: float = 30.0) -> tuple[dict, amqp.Message]:
        """The one reply with this status. Replies are not ordered for the test: a fast task's
        "completed" may arrive in the same poll as its "accepted", or (rarely) before it."""

        def arrived() -> bool:
            return any(body["status"] == status for body, _ in self.replies(0))

        wait_until(arrived, timeout, describe=lambda: self.received)
        [found] = [(body, message) for body, message in self.received if body["status"] == status]
        return found

    def dead_letters(self) -> list[amqp.Message]:
        _, dead = dead_letter_names(self.queue)
        messages = []
        while (message := self.channel.basic_get(dead, no_ack=True)) is not None:
            messages.append(message)
        return messages

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def requester(rabbitmq, inbound_settings):
    client = Requester(rabbitmq, inbound_settings)
    yield client
    client.close()


@pytest.fixture
def consumer_factory(inbound_settings, requester):
    """Starts the consumer in a thread of this process (the kill tests run it as its own process)."""
    started = []

    def start() -> InboundConsumer:
        stop = threading.Event()
        running = InboundConsumer(stop=stop)
        thread = threading.Thread(target=running.run, daemon=True)
        thread.start()
        started.append((stop, thread))
        return running

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()


@pytest.fixture
def consumer(consumer_factory):
    return consumer_factory()


def test_a_request_becomes_a_task_of_the_service_account_and_the_requester_hears_how_it_ended(
    requester, consumer, service_account, celery_worker
):
    message_id = requester.send(GOOD, correlation_id="order-42")

    accepted, message = requester.reply_with("accepted")
    assert accepted["message_id"] == message_id
    assert message.properties["correlation_id"] == "order-42"
    task = Task.objects.get(pk=accepted["task_id"])
    assert task.created_by == service_account
    assert task.organization_id == service_account.organization_id
    assert task.requested_agents == ["test_echo"]

    ended, message = requester.reply_with("completed", timeout=60)
    assert (ended["status"], ended["task_id"], ended["task_status"]) == (
        "completed",
        str(task.id),
        "completed",
    )
    assert message.properties["correlation_id"] == "order-42"
    record = InboundRequest.objects.get(message_id=message_id)
    assert (record.status, record.attempts, record.task_id) == (InboundStatus.ACCEPTED, 1, task.id)
    assert requester.dead_letters() == []


def test_bad_json_is_rejected_dead_lettered_with_the_reason_and_the_consumer_goes_on(requester, consumer):
    bad_id = requester.send(b'{"title": "x", ')
    requester.send(b"\xff\xfe not utf-8", message_id="")  # no id either: still an answer and a dead letter
    good_id = requester.send(GOOD)

    replies = {body["message_id"]: body for body, _ in requester.replies(3)}
    assert replies[bad_id]["status"] == "rejected" and "not JSON" in replies[bad_id]["reason"]
    assert "not UTF-8" in replies[""]["reason"]
    assert replies[good_id]["status"] == "accepted"

    dead = wait_until(requester.dead_letters, timeout=10)
    reasons = {
        m.properties.get("message_id"): m.properties["application_headers"]["x-amas-reason"] for m in dead
    }
    assert set(reasons) == {bad_id, ""}
    assert reasons[bad_id].startswith("undecodable: the body is not JSON")
    assert next(m.body for m in dead if m.properties.get("message_id") == bad_id) == b'{"title": "x", '
    assert Task.objects.count() == 1


def test_schema_and_service_errors_are_rejections_naming_the_field(requester, consumer):
    schema_id = requester.send({**GOOD, "title": "", "priority": 11})
    agent_id = requester.send({**GOOD, "agents": ["no_such_agent"]})
    nul_id = requester.send({**GOOD, "target": "a\u0000b"})
    requester.send(GOOD, message_id="")

    replies = {body["message_id"]: body for body, _ in requester.replies(4)}
    schema = replies[schema_id]
    assert schema["status"] == "rejected"
    assert {e["field"] for e in schema["errors"]} == {"title", "priority"}
    assert "title" in schema["reason"] and "priority" in schema["reason"]
    assert replies[agent_id]["status"] == "rejected" and "no_such_agent" in replies[agent_id]["reason"]
    assert replies[nul_id]["errors"][0]["field"] == "target"
    assert replies[""]["field"] == "message_id"
    assert not Task.objects.exists()
    assert requester.dead_letters() == []  # invalid requests are answered, not poison


def test_a_message_id_creates_one_task_however_often_it_arrives(requester, consumer):
    message_id = uuid.uuid4().hex
    requester.send(GOOD, message_id=message_id)
    requester.send({**GOOD, "title": "a producer's retry"}, message_id=message_id)
    requester.send(GOOD)  # another message: its own task

    wait_until(lambda: consumer.handled == 3)
    assert Task.objects.filter(title="from the queue").count() == 2
    assert not Task.objects.filter(title="a producer's retry").exists()
    # The retry was answered by the first reply, which had gone out: no second reply for the id.
    replies = [body for body, _ in requester.replies(2)]
    assert [r["message_id"] for r in replies].count(message_id) == 1


def test_the_service_account_s_token_scopes_decide(requester, consumer, settings, service_account):
    settings.AMAS_INBOUND_TOKEN = token_create(
        user=service_account, name="read only", scopes=["tasks:read"]
    ).secret
    message_id = requester.send(GOOD)
    [(rejected, _)] = requester.replies(1)
    assert rejected["message_id"] == message_id and "tasks:write" in rejected["reason"]
    assert not Task.objects.exists()


# --------------------------------------------------------------------------- killed mid-message

CONSUMER = """
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.tasks import agents
for agent in agents.ALL:
    agent_registry.register(agent)
from django.core.management import call_command
call_command("inbound_consume")
"""


# The consumer's sessions, told apart from the in-process worker's (its reaper and sweeps also
# wait on the locked task table, and a kill timed by them came before the message was recorded).
CONSUMER_APP = "amas-inbound-consumer-test"


def database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:@/{s['NAME']}?host={s['HOST']}&port={s['PORT']}"


def start_consumer(settings) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PGAPPNAME": CONSUMER_APP,  # libpq's default application_name: TaskTableLocked watches it
        "AMAS_INBOUND_AMQP_URL": settings.AMAS_INBOUND_AMQP_URL,
        "AMAS_INBOUND_QUEUE": settings.AMAS_INBOUND_QUEUE,
        "AMAS_INBOUND_REPLY_EXCHANGE": settings.AMAS_INBOUND_REPLY_EXCHANGE,
        "AMAS_INBOUND_TOKEN": settings.AMAS_INBOUND_TOKEN,
        "AMAS_INBOUND_MAX_ATTEMPTS": str(settings.AMAS_INBOUND_MAX_ATTEMPTS),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen([sys.executable, "-c", CONSUMER], cwd=ROOT, env=env)


class TaskTableLocked:
    """Holds an EXCLUSIVE lock on the task table from another connection: a consumer creating a task
    waits in the middle of its message (attempt counted, nothing committed, nothing acked)."""

    def __enter__(self):
        self.db = psycopg.connect(database_url())
        self.db.execute("LOCK TABLE tasks_task IN EXCLUSIVE MODE")
        # Watched from a connection of its own: inside a transaction pg_stat_activity is a snapshot.
        self.watch = psycopg.connect(database_url(), autocommit=True)
        return self

    def someone_waits(self) -> bool:
        row = self.watch.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query ILIKE '%%tasks_task%%' AND application_name = %s",
            [CONSUMER_APP],
        ).fetchone()
        return bool(row and row[0])

    def __exit__(self, *exc):
        self.db.rollback()
        self.db.close()
        self.watch.close()


def kill_mid_message(settings) -> None:
    process = start_consumer(settings)
    try:
        with TaskTableLocked() as lock:
            wait_until(lock.someone_waits, timeout=90)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_consumer_killed_mid_message_gets_it_redelivered_and_processed_once(
    requester, inbound_settings, celery_worker
):
    message_id = requester.send(GOOD)
    kill_mid_message(inbound_settings)
    record = InboundRequest.objects.get(message_id=message_id)
    assert (record.status, record.attempts) == (InboundStatus.PROCESSING, 1)
    assert not Task.objects.exists()

    second = start_consumer(inbound_settings)
    try:
        accepted, _ = requester.reply_with("accepted", timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0  # a clean stop on SIGTERM
    assert accepted["status"] == "accepted"
    assert list(Task.objects.values_list("id", flat=True)) == [uuid.UUID(accepted["task_id"])]
    record.refresh_from_db()
    assert (record.status, record.attempts) == (InboundStatus.ACCEPTED, 2)


def test_a_message_that_keeps_killing_consumers_is_dead_lettered(
    requester, inbound_settings, consumer_factory
):
    inbound_settings.AMAS_INBOUND_MAX_ATTEMPTS = 2
    message_id = requester.send(GOOD)
    kill_mid_message(inbound_settings)
    kill_mid_message(inbound_settings)

    consumer_factory()
    [(rejected, _)] = requester.replies(1)
    assert rejected["status"] == "rejected" and rejected["reason"].startswith("failed 2 times")
    [dead] = wait_until(requester.dead_letters, timeout=10)
    assert dead.properties["message_id"] == message_id
    assert dead.properties["application_headers"]["x-amas-reason"] == rejected["reason"]
    assert InboundRequest.objects.get(message_id=message_id).status == InboundStatus.DEAD
    assert not Task.objects.exists()


def test_the_probe_tells_a_running_consumer_from_a_missing_or_stuck_one(
    inbound_settings, consumer_factory, tmp_path
):
    alive = tmp_path / "inbound.alive"
    inbound_settings.AMAS_INBOUND_ALIVE_FILE = str(alive)
    with pytest.raises(CommandError, match="has not started"):
        call_command("inbound_consume", "--check")
    alive.touch()
    os.utime(alive, (time.time() - 300, time.time() - 300))  # a loop that stopped five minutes ago
    with pytest.raises(CommandError, match="last ran 30[0-9]s ago"):
        call_command("inbound_consume", "--check", "--max-age", "60")

    consumer_factory()
    wait_until(lambda: time.time() - alive.stat().st_mtime < 5, timeout=30)
    out = io.StringIO()
    call_command("inbound_consume", "--check", "--max-age", "60", stdout=out)
    assert out.getvalue().startswith("alive")
