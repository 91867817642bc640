from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "apps.knowledge"
    label = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.agents.context import register_context_contributor
        from apps.knowledge import observability
        from apps.knowledge.agent_context import contribute_storage
        from apps.knowledge.graph import graph_backends
        from apps.knowledge.graph.neo4j import Neo4jGraphStore
        from apps.knowledge.graph.postgres import PostgresGraphStore
        from apps.knowledge.hooks import on_result_written, on_task_event
        from apps.knowledge.services import artefact_check_limits, artefact_create
        from apps.tasks.hooks import (
            AttachmentStore,
            register_attachment_store,
            register_event_hook,
            register_result_hook,
        )

        graph_backends.register(PostgresGraphStore)
        graph_backends.register(Neo4jGraphStore)
        register_result_hook(on_result_written)
        register_event_hook(on_task_event)
        # Files a task is created with become its artefacts (tasks cannot import knowledge).
        register_attachment_store(AttachmentStore(check_limits=artefact_check_limits, create=artefact_create))
        # ctx.storage and ctx.graph for agents (as providers fills ctx.ai).
        register_context_contributor(contribute_storage)
        observability.register()  # the index queue's dead letters and retries on /metrics
