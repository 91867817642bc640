from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "apps.knowledge"
    label = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.knowledge.graph import graph_backends
        from apps.knowledge.graph.neo4j import Neo4jGraphStore
        from apps.knowledge.graph.postgres import PostgresGraphStore

        graph_backends.register(PostgresGraphStore)
        graph_backends.register(Neo4jGraphStore)
