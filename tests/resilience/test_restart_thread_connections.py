"""A Postgres restart under the test session (tests/resilience/outages.py) leaves no dead
connection behind in another thread: the sync_to_async thread of async tests keeps its connection
from test to test and runs no request signals, so a connection made before the restart, whose
health check had already run, was used as is after it ("terminating connection due to
administrator command") and its wrapper was then stuck ("the connection is closed") for every
async test after it (seen in full runs as 16 failures of websocket tests)."""

import pytest
from asgiref.sync import sync_to_async

from apps.users.models import User
from tests.resilience.outages import postgres_stopped

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_thread_connection_made_before_a_restart_is_replaced(user_factory):
    def count() -> int:
        return User.objects.count()

    before = await sync_to_async(count)()  # the thread connects (a fresh connection is trusted)
    with postgres_stopped():
        pass
    assert await sync_to_async(count)() == before
