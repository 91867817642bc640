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
