"""Every server-rendered page, under the paths and URL names they always had (included at the
site root by amas/urls.py)."""

from django.urls import include, path

from apps.dashboard.views import (
    artefacts,
    audit,
    cases,
    entities,
    knowledge,
    overview,
    playbooks,
    task_notes,
    tasks,
    tokens,
)

urlpatterns = [
    path("", overview.home, name="home"),
    path("monitor/", overview.monitor, name="monitor"),
    path("agents/", overview.agent_list, name="agent_list"),
    path("providers/", overview.provider_list, name="provider_list"),
    path("tasks/", tasks.task_list, name="task_list"),
    path("tasks/bulk/", tasks.task_bulk, name="task_bulk"),
    path("tasks/news/", tasks.task_list_news, name="task_list_news"),
    path("tasks/new/", tasks.task_new, name="task_new"),
    path("tasks/new/plan/", tasks.task_plan_preview, name="task_plan_preview"),
    path("tasks/<uuid:task_id>/", tasks.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/cancel/", tasks.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/retry/", tasks.task_retry, name="task_retry"),
    path("tasks/<uuid:task_id>/similar/", knowledge.similar_tasks_partial, name="similar_tasks_partial"),
    path("tasks/<uuid:task_id>/notes/", task_notes.task_notes, name="task_notes"),
    path("tasks/<uuid:task_id>/notes/tags/", task_notes.task_notes_tags, name="task_notes_tags"),
    path("tasks/<uuid:task_id>/notes/comments/", task_notes.task_notes_comment, name="task_notes_comment"),
    path("artefacts/<uuid:artefact_id>/image", artefacts.artefact_image, name="artefact_image"),
    path("search/", knowledge.search_page, name="search"),
    path("graph/", knowledge.graph_page, name="graph"),
    path("entities/", entities.entity_search, name="entity_search"),
    path("entities/suggest/", entities.entity_suggest, name="entity_suggest"),
    path("entities/view/", entities.entity_detail, name="entity_detail"),
    path("audit/", audit.audit_page, name="audit"),
    path("audit/export.jsonl", audit.audit_export, name="audit_export"),
    path("members/", include("apps.dashboard.views.members")),  # organisation admins (members.py)
    path("tokens/", tokens.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke", tokens.api_token_revoke, name="api_token_revoke"),
    # case work (investigations and playbooks): apps/dashboard/views/cases.py, playbooks.py
    path("investigations/", cases.investigation_list, name="investigation_list"),
    path("investigations/new/", cases.investigation_new, name="investigation_new"),
    path("investigations/<uuid:investigation_id>/", cases.investigation_detail, name="investigation_detail"),
    path("investigations/<uuid:investigation_id>/edit/", cases.investigation_edit, name="investigation_edit"),
    path("investigations/<uuid:investigation_id>/tags/", cases.investigation_tag, name="investigation_tag"),
    path(
        "investigations/<uuid:investigation_id>/comments/",
        cases.investigation_comment,
        name="investigation_comment",
    ),
    path(
        "investigations/<uuid:investigation_id>/tasks/new/",
        cases.investigation_task_new,
        name="investigation_task_new",
    ),
    path(
        "investigations/<uuid:investigation_id>/tasks/add/",
        cases.investigation_task_add,
        name="investigation_task_add",
    ),
    path(
        "investigations/<uuid:investigation_id>/follow-up/",
        cases.investigation_follow_up,
        name="investigation_follow_up",
    ),
    path(
        "investigations/<uuid:investigation_id>/stix.json",
        cases.investigation_stix_export,
        name="investigation_stix_export",
    ),
    path(
        "investigations/<uuid:investigation_id>/stix/",
        cases.investigation_stix_import,
        name="investigation_stix_import",
    ),
    path("playbooks/", playbooks.playbook_list, name="playbook_list"),
    path("playbooks/<str:name>/", playbooks.playbook_detail, name="playbook_detail"),
]
