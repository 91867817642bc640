"""A new task's row, its steps and its task.created/task.queued events are written by one statement
(apps/tasks/task_rows.py): the queued event's payload names the step ids the same statement
assigned, stored as the API, the websockets and the hooks see it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tasks.models import TaskEvent, TaskStep
from tests.tasks.conftest import submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_task_steps_and_events_in_one_statement(api):
    with CaptureQueriesContext(connection) as captured:
        task = submit(api, agents=["test_echo", "test_echo_two"], task_type="custom")
    statements = [q["sql"] for q in captured.captured_queries]
    writes = [sql for sql in statements if 'INSERT INTO "tasks_taskevent"' in sql]
    assert len(writes) == 1 and 'INSERT INTO "tasks_task" (' in writes[0], statements
    assert 'INSERT INTO "tasks_taskstep"' in writes[0]

    events = list(TaskEvent.objects.filter(task_id=task["id"], seq__lte=2).order_by("seq"))
    assert [(e.seq, e.type) for e in events] == [(1, "task.created"), (2, "task.queued")]
    steps = list(TaskStep.objects.filter(task_id=task["id"]).order_by("group_index", "position"))
    stored = events[1].payload["steps"]
    assert sorted(entry["step_id"] for entry in stored) == sorted(step.id for step in steps)
    by_slot = {(s.group_index, s.position): s for s in steps}
    for entry in stored:
        step = by_slot[(entry["group"], entry["position"])]
        assert (entry["step_id"], entry["agent"], entry["aggregate"]) == (
            step.id,
            step.agent_type,
            step.is_aggregate,
        )
    # The API's steps are the rows written.
    assert sorted(s["id"] for s in task["steps"]) == sorted(step.id for step in steps)
