"""What a signed-in task submission asks Redis before its work: the configuration version comes
in the session's MGET (apps/users/sessions.py, apps/core/config_cache.py's offer)."""

import threading

import pytest
from django.core.cache import cache

from apps.core import config_cache


@pytest.mark.django_db
def test_a_session_post_reads_the_version_with_the_session(api):
    """A signed-in task submission asks Redis for the configuration version only in the session's
    MGET (Redis MONITOR sees every command of the request)."""
    client = api
    body = {"title": "t", "task_type": "custom", "agents": ["test_echo"]}
    version_key = cache.make_and_validate_key(config_cache.VERSION_KEY)
    for _ in range(2):  # the process sees the session's user
        response = client.post("/api/v1/tasks", body, content_type="application/json")
        assert response.status_code == 201, response.content
    redis = cache._cache.get_client(write=True)
    commands: list[str] = []
    with redis.monitor() as monitor:

        def listen():  # until the marker sent after the request
            while True:
                command = monitor.next_command()["command"]
                if command.startswith("ECHO") and "amas-test-end" in command:
                    return
                commands.append(command)

        listener = threading.Thread(target=listen)
        listener.start()
        status = client.post("/api/v1/tasks", body, content_type="application/json").status_code
        redis.echo("amas-test-end")
        listener.join(10)
    assert status == 201
    reads = [c for c in commands if version_key in c and c.split()[0] in ("GET", "MGET")]
    assert len(reads) == 1 and reads[0].startswith("MGET"), commands
    assert "django.contrib.sessions" in reads[0]
