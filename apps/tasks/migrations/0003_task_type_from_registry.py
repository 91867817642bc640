"""Task types come from the registry in apps.core.vocabulary, not DB choices: this drops the
choices (a no-op in SQL, rows are kept) so a new agent bringing a new task type needs no migration."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0002_step_queued_at'),
    ]

    operations = [
        migrations.AlterField(
            model_name='task',
            name='task_type',
            field=models.CharField(max_length=32),
        ),
    ]
