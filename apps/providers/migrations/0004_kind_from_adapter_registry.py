"""Provider.kind is validated against the adapter registry, not DB choices: this drops the
choices (a no-op in SQL, rows are kept) so a plug-in adapter needs no migration."""

import apps.providers.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('providers', '0003_health_check_schedule'),
    ]

    operations = [
        migrations.AlterField(
            model_name='provider',
            name='kind',
            field=models.CharField(max_length=16, validators=[apps.providers.models.validate_kind]),
        ),
    ]
