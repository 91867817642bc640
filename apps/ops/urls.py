from django.urls import path

from apps.ops import views

urlpatterns = [
    path("metrics", views.metrics_view, name="metrics"),
    path("health/services", views.service_health_json, name="service_health_json"),
    path("ops/health", views.service_health_page, name="service_health"),
]
