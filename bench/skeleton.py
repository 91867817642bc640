"""The skeleton of an API-submitted task on this stack, for bench/pipeline.py: what any product
built on Django + daphne + Celery + Postgres pays per task before doing any work of its own.

A POST served by the same web server (amas.web, daphne) and Django, without middleware,
authentication or validation, that INSERTs one row in a transaction and, after the commit,
sends a Celery message; a task on the same worker that marks the row finished (one UPDATE, its
own commit). That is the least that keeps a submission's guarantees: the task is durable before
the 201 answers, and its outcome is durable when it is reported. Everything else AMAS does per
task (sign-in, CSRF, MFA, rate limits, trust, validation, planning, steps, events, audit, lease,
result, broadcasts) comes on top of it."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.urls import path

from amas.celery import app

TABLE_SQL = "CREATE TABLE IF NOT EXISTS bench_skeleton (id bigserial PRIMARY KEY, finished_at timestamptz)"


@app.task(name="bench.skeleton_finish", ignore_result=True)
def skeleton_finish(row_id: int) -> None:
    with connection.cursor() as cursor:  # autocommit: the UPDATE is its own durable commit
        cursor.execute("UPDATE bench_skeleton SET finished_at = clock_timestamp() WHERE id = %s", [row_id])


def submit(request: Any) -> JsonResponse:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_skeleton DEFAULT VALUES RETURNING id")
        row_id = cursor.fetchone()[0]
        transaction.on_commit(lambda: skeleton_finish.delay(row_id))
    return JsonResponse({"id": row_id}, status=201)


urlpatterns = [path("submit", submit), path("health", lambda request: HttpResponse("ok"))]
