"""Test settings. The pytest plugin amas.testing.services starts an embedded Postgres and Redis on
free ports and exports DATABASE_URL and REDIS_URL before these settings are imported."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY", default="amas-test-key")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AMAS_ENCRYPTION_KEYS = env.list(
    "AMAS_ENCRYPTION_KEYS", default=["kJZ6gk0bXo3f6pUO5Yl4fAqkFv3Wg2sYB3lXh8cYg9E="]
)
ACCOUNT_RATE_LIMITS = False
# Tests run the reaper by hand; tests/resilience turns it on for the processes it starts.
AMAS_WORKER_REAPER = env.bool("AMAS_WORKER_REAPER", default=False)
# Each test rolls its rows back, but the shared Redis cache outlives it: a cached agent history
# from one test must not feed the next one's decision (tests/agents/test_decision_history_cache.py
# turns the cache on for itself).
AMAS_DECISION_HISTORY_CACHE_SECONDS = 0
