"""Local development on the embedded stack (`make run`)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# A key for the developer's machine only; production refuses to start without its own.
SECRET_KEY = env.str("SECRET_KEY", default="amas-local-development-key-not-for-production-use")
AMAS_ENCRYPTION_KEYS = env.list(
    "AMAS_ENCRYPTION_KEYS", default=["kJZ6gk0bXo3f6pUO5Yl4fAqkFv3Wg2sYB3lXh8cYg9E="]
)
