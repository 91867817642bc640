from django.urls import path

from apps.audit import views

urlpatterns = [
    path("", views.audit_page, name="audit"),
    path("export.jsonl", views.audit_export, name="audit_export"),
]
