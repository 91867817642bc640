"""The statistics read model: counts and mean duration per hour, task type and status, refreshed
by beat from the tasks table so that the API and dashboard read a few hundred rows, not a scan."""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

_UPSERT = """
INSERT INTO tasks_taskstatshourly
    (organization_id, hour, task_type, status, count, mean_duration_ms, refreshed_at)
SELECT organization_id, date_trunc('hour', created_at) AS hour, task_type, status, count(*),
       avg(extract(epoch FROM (finished_at - started_at)) * 1000)
         FILTER (WHERE finished_at IS NOT NULL AND started_at IS NOT NULL),
       %(started)s
FROM tasks_task
WHERE created_at >= %(since)s
GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, hour, task_type, status)
DO UPDATE SET count = EXCLUDED.count, mean_duration_ms = EXCLUDED.mean_duration_ms,
              refreshed_at = EXCLUDED.refreshed_at
"""

# Buckets in the window that no longer have tasks (a status moved on) are dropped.
_PRUNE = """
DELETE FROM tasks_taskstatshourly s
WHERE s.hour >= %(since)s AND s.refreshed_at < %(started)s
"""


@transaction.atomic
def stats_refresh(*, window_hours: int | None = None) -> int:
    window = window_hours or settings.AMAS_STATS_WINDOW_HOURS
    now = timezone.now()
    since = (now - timedelta(hours=window)).replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        started = cursor.fetchone()[0]
        cursor.execute(_UPSERT, {"since": since, "started": started})
        upserted = cursor.rowcount
        cursor.execute(_PRUNE, {"since": since, "started": started})
    return upserted
