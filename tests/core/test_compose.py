"""docker-compose.yml runs the same code against real service images (no engine in CI, so this
checks the file's shape: services, images, health checks, and the same env keys as settings)."""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_compose_declares_the_stack_with_health_checks():
    config = yaml.safe_load(COMPOSE.read_text())
    services = config["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    assert services["redis"]["image"].startswith("redis")
    assert services["neo4j"]["image"].startswith("neo4j")
    assert services["minio"]["image"].startswith("minio/")
    for name in ("postgres", "redis", "neo4j", "minio", "web", "worker"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "NEO4J_URL", "AWS_STORAGE_BUCKET_NAME", "SECRET_KEY"} <= set(env)
    assert "celery" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]
