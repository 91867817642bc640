"""Two daphne and two worker processes on the same Postgres and Redis (as behind a load
balancer): a task created through web 1 streams to a websocket on web 2, both workers take
work, and no step runs twice."""

import re
import time
from collections import Counter
from pathlib import Path

import pytest

from apps.tasks.models import Result, TaskStep
from apps.users.services import token_create
from tests.resilience.harness import Submitter, running_stack
from tests.resilience.test_faults import (
    assert_no_event_lost,
    follow_in_background,
    submit_long,
    wait_all_terminal,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_webs_and_two_workers_share_the_work(tmp_path: Path, analyst):
    token = token_create(user=analyst, name="load", scopes=["tasks:read", "tasks:write"]).secret
    with running_stack(tmp_path, webs=2, workers=2) as stack:
        followed = submit_long(stack, token, seconds=2)  # through web 1 ...
        on_web_2 = follow_in_background(_Web2(stack), token, followed)  # ... watched on web 2
        with Submitter(stack.url(0), token, seconds=0.5, every=0.1) as submitter:
            time.sleep(6)
        accepted = [*submitter.accepted, followed]
        wait_all_terminal(accepted)
        assert_no_event_lost(on_web_2.result(timeout=60), followed)

        steps = TaskStep.objects.filter(task_id__in=accepted, is_aggregate=False)
        assert set(steps.values_list("status", flat=True)) == {"completed"}
        assert set(steps.values_list("attempt", flat=True)) == {1}  # each step claimed once
        assert Result.objects.filter(task_id__in=accepted).count() == steps.count()
        # Both worker processes ran steps (their log lines carry the program name).
        ran = Counter(re.findall(r" (worker1?) +\| .*tasks\.run_step\[.*\] succeeded", stack.log.read_text()))
        print(f"accepted={len(accepted)} steps per worker={dict(ran)} answers={dict(submitter.answers)}")
        assert ran["worker"] > 0 and ran["worker1"] > 0


class _Web2:
    """The stack as seen through its second web process."""

    def __init__(self, stack) -> None:
        self.stack = stack

    def url(self, web: int = 0) -> str:
        return self.stack.url(1)
