"""Copy the knowledge graph from one backend to another: postgres, neo4j, or a JSON-lines file
(`jsonl:/path/graph.jsonl`, for backups and for moving between installations).

Loading is idempotent (counts are set, not added), so a copy can be re-run after an interruption.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.knowledge.graph import graph_store
from apps.knowledge.graph.port import EvidenceRecord, GraphStore, MentionRecord, Provenance

Batch = tuple[list[MentionRecord], list[EvidenceRecord]]


def _record_json(record: MentionRecord | EvidenceRecord) -> str:
    data = asdict(record)
    data["type_"] = "mention" if isinstance(record, MentionRecord) else "evidence"
    return json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


def _record_from(line: str) -> MentionRecord | EvidenceRecord:
    data = json.loads(line)
    kind = data.pop("type_")
    data["provenance"] = Provenance(**data["provenance"])
    data["first_seen"] = datetime.fromisoformat(data["first_seen"])
    data["last_seen"] = datetime.fromisoformat(data["last_seen"])
    return MentionRecord(**data) if kind == "mention" else EvidenceRecord(**data)


def read_jsonl(path: Path, batch_size: int = 1000) -> Iterator[Batch]:
    mentions: list[MentionRecord] = []
    evidence: list[EvidenceRecord] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = _record_from(line)
            (mentions if isinstance(record, MentionRecord) else evidence).append(record)  # type: ignore[arg-type]
            if len(mentions) + len(evidence) >= batch_size:
                yield mentions, evidence
                mentions, evidence = [], []
    if mentions or evidence:
        yield mentions, evidence


class Command(BaseCommand):
    help = "Copy the knowledge graph between backends: postgres, neo4j, jsonl:PATH."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True)
        parser.add_argument("--to", dest="target", required=True)
        parser.add_argument("--replace", action="store_true", help="Empty the target first.")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        source, target, size = options["source"], options["target"], options["batch_size"]
        if source == target:
            raise CommandError("Source and target are the same.")
        batches = self._read(source, size)
        if target.startswith("jsonl:"):
            n = self._write_jsonl(Path(target[6:]), batches)
        else:
            store = self._store(target)
            if options["replace"]:
                store.clear()
            n = store.load(batches)
        self.stdout.write(f"Copied {n} provenance records from {source} to {target}.")

    def _store(self, name: str) -> GraphStore:
        try:
            return graph_store(name)
        except Exception as exc:
            raise CommandError(f"Cannot open graph backend {name!r}: {exc}") from exc

    def _read(self, source: str, size: int) -> Iterator[Batch]:
        if source.startswith("jsonl:"):
            path = Path(source[6:])
            if not path.exists():
                raise CommandError(f"No such file: {path}")
            return read_jsonl(path, size)
        return self._store(source).dump(batch_size=size)

    def _write_jsonl(self, path: Path, batches: Iterator[Batch]) -> int:
        n = 0
        with path.open("w", encoding="utf-8") as fh:
            for mentions, evidence in batches:
                records: list[MentionRecord | EvidenceRecord] = [*mentions, *evidence]
                for record in records:
                    fh.write(_record_json(record) + "\n")
                    n += 1
        return n
