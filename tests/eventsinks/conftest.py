import uuid

import pytest


@pytest.fixture(scope="session")
def rabbitmq():
    """Debian's rabbitmq-server, started for this session on free ports (make rabbitmq installs it)."""
    from amas.testing.rabbitmq import RabbitMQServer, available

    if not available():
        pytest.skip("rabbitmq-server is not installed: run `make rabbitmq` (Debian package)")
    server = RabbitMQServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def pipeline_agents(settings):
    from apps.agents.registry import agent_registry
    from tests.tasks import agents as task_agents

    settings.AMAS_STEP_POLL_SECONDS = 0.05
    with agent_registry.registered(*task_agents.ALL):
        yield


@pytest.fixture
def org_admin(user_factory):
    from apps.users.models import Role

    return user_factory(role=Role.ADMIN)


@pytest.fixture
def consumer(rabbitmq):
    """A queue bound to a fresh exchange, read with basic_get: what a subscriber would receive."""
    import amqp

    exchange = f"amas.test.{uuid.uuid4().hex[:8]}"
    connection = amqp.Connection(f"{rabbitmq.host}:{rabbitmq.port}")
    connection.connect()
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    queue, _, _ = channel.queue_declare("", exclusive=True)
    channel.queue_bind(queue, exchange, routing_key="task.*")

    class Consumer:
        def __init__(self) -> None:
            self.exchange = exchange

        def drain(self) -> list:
            messages = []
            while (message := channel.basic_get(queue, no_ack=True)) is not None:
                messages.append(message)
            return messages

    yield Consumer()
    connection.close()
