"""Embed the search index again with the embedding model the router uses now.

Switching the embedding model (a new provider, a new model name or dimension) creates a new
embedding space next to the old one; nothing is lost. This command fills the new space; searches
use it as soon as the router answers queries with the new model. `--prune` then drops the vectors
and HNSW indexes of every other space.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.knowledge import indexing
from apps.knowledge.models import Chunk, EmbeddingSpace
from apps.tasks.models import Result, Task


class Command(BaseCommand):
    help = "Re-embed every passage with the current embedding model (optionally re-chunk, prune old models)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Embed even passages that already have a vector."
        )
        parser.add_argument(
            "--reindex", action="store_true", help="Re-chunk every task, result and text artefact first."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Afterwards, delete vectors of models the router no longer uses.",
        )
        parser.add_argument("--organization", type=int, help="Only this organisation's passages (by id).")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        org = options["organization"]
        if options["reindex"]:
            tasks = Task.objects.all() if org is None else Task.objects.filter(organization_id=org)
            for task in tasks.iterator():
                indexing.task_index_description(task=task)
                for result in Result.objects.filter(task=task, status="completed"):
                    indexing.result_index(result=result)
                for artefact in task.artefacts.all():
                    indexing.artefact_index(artefact=artefact)
            self.stdout.write(f"Re-chunked: {Chunk.objects.count()} passages.")
        counts = indexing.chunks_reembed(
            batch_size=options["batch_size"], force=options["force"], organization_id=org
        )
        counts = {level: n for level, n in counts.items() if n}
        for level, n in sorted(counts.items()):
            self.stdout.write(f"Embedded {n} passages of {level} tasks.")
        if not counts:
            self.stdout.write("Nothing to embed.")
        if options["prune"]:
            current = self._current_spaces()
            removed = indexing.spaces_prune(keep=current)
            names = ", ".join(str(s) for s in current) or "none"
            self.stdout.write(f"Pruned {removed} vectors; kept {names}.")

    def _current_spaces(self) -> list[EmbeddingSpace]:
        """The spaces the router answers with now, one probe per classification."""
        from apps.core.exceptions import ApplicationError
        from apps.core.vocabulary import Classification
        from apps.knowledge.embedding import embed_texts

        spaces = {}
        for level in Classification.values:
            try:
                space = embed_texts(["probe"], classification=level, purpose="index").space
            except ApplicationError:
                continue
            spaces[space.pk] = space
        return list(spaces.values())
