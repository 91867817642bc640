"""bench/skeleton.py served by amas.web (`--app bench.skeleton_asgi:application`): AMAS's settings
(database, pool, Celery) without middleware and with the skeleton's URLs."""

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.skeleton_settings"

from django.core.asgi import get_asgi_application

application = get_asgi_application()
