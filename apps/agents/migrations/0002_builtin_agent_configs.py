"""One enabled config per built-in agent type. Rows are created by type string, whether or not
the code for the type is registered yet (third-party or later agents get configured by admins)."""

from django.db import migrations

# type, name, queue, timeout, max classification, concurrency. Network-facing agents send the
# target to resolvers and websites, so they stop at amber; local-only agents may see red.
BUILTIN = [
    ("osint", "OSINT", "agents", 300, "amber", 4),
    ("security", "Security", "agents", 600, "amber", 2),
    ("forensics", "Forensics", "agents", 900, "red", 2),
    ("analysis", "Analysis", "agents", 600, "red", 4),
    ("ml", "Machine learning", "agents", 1200, "red", 2),
    ("aggregator", "Aggregator", "default", 300, "red", 8),
]


def create(apps, schema_editor):
    AgentConfig = apps.get_model("agents", "AgentConfig")
    for agent_type, name, queue, timeout, max_classification, concurrency in BUILTIN:
        if AgentConfig.objects.filter(agent_type=agent_type).exists():
            continue
        AgentConfig.objects.create(
            agent_type=agent_type,
            name=name,
            enabled=True,
            queue=queue,
            timeout_seconds=timeout,
            max_classification=max_classification,
            concurrency_limit=concurrency,
        )


def remove(apps, schema_editor):
    AgentConfig = apps.get_model("agents", "AgentConfig")
    AgentConfig.objects.filter(name__in=[b[1] for b in BUILTIN], agent_type__in=[b[0] for b in BUILTIN]).delete()


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
