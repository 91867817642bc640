from django.urls import path

from apps.knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("<uuid:artefact_id>/download", views.artefact_download, name="artefact_download"),
]
