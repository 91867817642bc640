from django.urls import path

from apps.tasks import views

urlpatterns = [path("", views.home, name="home")]
