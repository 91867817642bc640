from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """Runs before any app adds a VectorField (knowledge depends on it)."""

    initial = True
    dependencies: list = []
    operations = [VectorExtension()]
