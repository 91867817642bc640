from django.urls import path

from apps.tasks import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/bulk/", views.task_bulk, name="task_bulk"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/new/plan/", views.task_plan_preview, name="task_plan_preview"),
    path("tasks/<uuid:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/cancel/", views.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/retry/", views.task_retry, name="task_retry"),
    path("monitor/", views.monitor, name="monitor"),
    path("agents/", views.agent_list, name="agent_list"),
    path("providers/", views.provider_list, name="provider_list"),
]
