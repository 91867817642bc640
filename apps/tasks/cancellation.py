"""Cooperative cancellation across processes: a Redis flag that running steps poll cheaply, and
revocation of steps that have not started."""

import uuid

from django.core.cache import cache

FLAG_TTL_SECONDS = 24 * 3600


def _key(task_id: uuid.UUID | str) -> str:
    return f"task-cancelled:{task_id}"


def cancel_signal(task_id: uuid.UUID | str, celery_ids: list[str]) -> None:
    cache.set(_key(task_id), 1, FLAG_TTL_SECONDS)
    if celery_ids:
        from amas.celery import app

        app.control.revoke(celery_ids)


def cancel_clear(task_id: uuid.UUID | str) -> None:
    cache.delete(_key(task_id))


def is_cancelled(task_id: uuid.UUID | str) -> bool:
    return bool(cache.get(_key(task_id)))
