"""The baseline of bench/api.py: a bare django-ninja hello-world (no apps, no middleware, no
database), served by amas.web exactly as AMAS is (`--app bench.hello_asgi:application`)."""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="bench-hello-world",
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import NinjaAPI  # noqa: E402

api = NinjaAPI(urls_namespace="hello")


@api.get("/hello")
def hello(request: object) -> dict[str, str]:
    return {"hello": "world"}


urlpatterns = [path("api/", api.urls), path("health", lambda request: HttpResponse("ok"))]
application = get_asgi_application()
