"""The audit trail: append-only rows, each holding the hash of the previous row of its chain.

Rows are written only by apps.audit.services.audit_record. Each organisation has its own chain
(`chain` = the organisation id, 0 for rows outside any): its rows are numbered gaplessly
(`chain_seq`) under a per-chain advisory lock, so writers of different organisations never wait
for each other. `seq` orders all rows (a Postgres sequence: unique and increasing along every
chain, not gapless across them). Rows written before per-organisation chains (migration 0003) keep
`chain` NULL and form the one global chain they were written as, numbered by `seq`.

Rows since migration 0005 (hash_scheme 2) are hashed in two parts so that an append is one
statement: Python hashes the row's content, the database chains that digest to the row's place
(chain, chain_seq, seq, prev_hash); verification recomputes both.

A database trigger (migration 0002) refuses UPDATE and DELETE; `manage.py audit_verify` recomputes
every chain and names the first row that was edited, deleted or moved by someone who got around
it. Like any hash chain without an outside anchor, it cannot tell rows cut off a chain's end."""

import hashlib
import json
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    chain = models.BigIntegerField(null=True, blank=True)  # NULL: the legacy global chain
    chain_seq = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    event_type = models.CharField(max_length=64, db_index=True)
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=128, blank=True)
    # No database constraint: audit rows outlive the users and organisations they mention, and
    # the append-only trigger forbids the UPDATE that SET_NULL would need.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True)
    organization = models.ForeignKey(
        "users.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the (organization, -seq) index starts with it
        null=True,
        blank=True,
        related_name="+",
    )
    changes = models.JSONField(default=dict, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    trust_score = models.PositiveSmallIntegerField(null=True, blank=True)
    trust_factors = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # 1: the hash covers canonical() (rows written until migration 0005); 2: the database chains
    # the content digest to the row's place (chained_hash), so an append is one statement.
    hash_scheme = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["organization", "-seq"]),
            models.Index(fields=["entity_type", "entity_id"]),
        ]
        constraints = [
            # Also the index that finds a chain's head.
            models.UniqueConstraint(fields=["chain", "chain_seq"], name="audit_chain_position"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} {self.entity_type}:{self.entity_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("Audit events are append-only.")

    def _content(self) -> dict[str, Any]:
        """What the row says, apart from its place in its chain (both hash schemes cover it)."""
        return {
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "event_type": self.event_type,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "organization_id": self.organization_id,
            "changes": self.changes,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "trust_score": self.trust_score,
            "trust_factors": self.trust_factors,
        }

    def content_digest(self) -> str:
        """Scheme 2: the digest of what the row says, apart from its place in its chain."""
        return hashlib.sha256(
            json.dumps(self._content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        ).hexdigest()

    def chained_hash(self, digest: str) -> str:
        """Scheme 2: what the database function audit_append computes (migration 0005)."""
        place = f"2|{self.chain}|{self.chain_seq}|{self.seq}|{self.prev_hash}|{digest}"
        return hashlib.sha256(place.encode()).hexdigest()

    def canonical(self) -> bytes:
        """Scheme 1: the bytes the hash covers: every column but the hash itself, in a fixed form
        that reads back identically from the database."""
        payload = {**self._content(), "seq": self.seq, "prev_hash": self.prev_hash}
        if self.chain is not None:  # legacy rows hash exactly what they were written with
            payload["chain"] = self.chain
            payload["chain_seq"] = self.chain_seq
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def compute_hash(self) -> str:
        if self.hash_scheme == 2:
            return self.chained_hash(self.content_digest())
        return hashlib.sha256(self.canonical()).hexdigest()
