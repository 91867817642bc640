from django.urls import path

from apps.knowledge import search_views

urlpatterns = [
    path("search/", search_views.search_page, name="search"),
    path("graph/", search_views.graph_page, name="graph"),
    path("tasks/<uuid:task_id>/similar/", search_views.similar_tasks_partial, name="similar_tasks_partial"),
]
