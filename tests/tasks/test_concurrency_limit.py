"""An agent's concurrency limit holds across workers: a second step waits for the slot."""

import pytest

from apps.agents.models import AgentConfig
from tests.tasks.conftest import submit, wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_steps_beyond_the_limit_wait_for_a_slot(api, celery_worker, settings):
    settings.AMAS_CONCURRENCY_RETRY_SECONDS = 0.2
    AgentConfig.objects.create(agent_type="test_slow", name="slow, one at a time", concurrency_limit=1)
    ids = [
        submit(api, agents=["test_slow"], parameters={"test_slow": {"seconds": 1.0}})["id"] for _ in range(2)
    ]
    tasks = [wait_for_task(task_id) for task_id in ids]
    assert [t.status for t in tasks] == ["completed", "completed"]
    first, second = sorted((t.steps.get() for t in tasks), key=lambda s: s.started_at)
    assert first.agent_config_id is not None
    assert second.started_at >= first.finished_at  # never both at once, though 4 worker threads were free
