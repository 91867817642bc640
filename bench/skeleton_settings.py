"""AMAS's local settings for bench/skeleton.py: the skeleton's URLs and no middleware but the one
allauth refuses to start without (it only sets a context variable around the request)."""

from amas.settings.local import *  # noqa: F403

MIDDLEWARE = ["allauth.account.middleware.AccountMiddleware"]
ROOT_URLCONF = "bench.skeleton"
