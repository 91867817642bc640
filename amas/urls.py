from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

from amas.api import api
from apps.core import views as core_views

urlpatterns = [
    path("health", core_views.health, name="health"),
    path("ready", core_views.ready, name="ready"),
    path("", include("apps.ops.urls")),
    path("api/v1/", api.urls),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("artefacts/", include("apps.knowledge.urls")),
    path("", include("apps.dashboard.urls")),
]

if settings.DEBUG:
    # `make run` serves static files from daphne; in production the ingress serves collected ones.
    urlpatterns += staticfiles_urlpatterns()
