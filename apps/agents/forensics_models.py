"""Admin-managed inputs of the forensics agent: YARA rules (versioned, with their revisions) and
known-good / known-bad hash sets. Imported at the bottom of apps/agents/models.py."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel

__all__ = [
    "HashAlgorithm",
    "HashEntry",
    "HashSet",
    "HashSetKind",
    "YaraRule",
    "YaraRuleRevision",
    "YaraSeverity",
]


class YaraSeverity(models.TextChoices):
    INFO = "info", "Informational"
    SUSPICIOUS = "suspicious", "Suspicious"
    MALICIOUS = "malicious", "Malicious"


class YaraRule(TimeStampedModel):
    """One YARA source (it may define several rules). Every change of the source bumps `version`
    and keeps the previous text as a YaraRuleRevision; workers recompile when the set of
    (rule, version) pairs changes."""

    name = models.SlugField(max_length=100, unique=True, help_text="Also the YARA namespace.")
    description = models.TextField(blank=True)
    source = models.TextField(help_text="YARA source; compiled when saved, refused if it does not compile.")
    severity = models.CharField(
        max_length=16,
        choices=YaraSeverity.choices,
        default=YaraSeverity.SUSPICIOUS,
        help_text="Used for a match unless the rule's meta sets `severity`.",
    )
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class YaraRuleRevision(models.Model):
    rule = models.ForeignKey(YaraRule, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    source = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="yara_revision_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.version}"


class HashSetKind(models.TextChoices):
    KNOWN_GOOD = "known_good", "Known good"
    KNOWN_BAD = "known_bad", "Known bad"


class HashAlgorithm(models.TextChoices):
    MD5 = "md5", "MD5"
    SHA1 = "sha1", "SHA-1"
    SHA256 = "sha256", "SHA-256"
    SHA512 = "sha512", "SHA-512"
    SSDEEP = "ssdeep", "ssdeep (fuzzy, matched by similarity)"


class HashSet(TimeStampedModel):
    """A named list of hashes (e.g. an NSRL extract, a threat feed). Without an organization it
    applies to every organization."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=HashSetKind.choices)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    description = models.TextField(blank=True)
    source = models.CharField(max_length=500, blank=True, help_text="Where the hashes came from.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="hashset_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class HashEntry(models.Model):
    hash_set = models.ForeignKey(HashSet, on_delete=models.CASCADE, related_name="entries")
    algorithm = models.CharField(max_length=8, choices=HashAlgorithm.choices)
    value = models.CharField(max_length=200, help_text="Lower-case hex (or the ssdeep string).")
    note = models.CharField(max_length=500, blank=True, help_text="e.g. the malware family or product.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["hash_set", "value"]
        verbose_name_plural = "hash entries"
        constraints = [models.UniqueConstraint(fields=["hash_set", "value"], name="hashentry_unique_value")]
        indexes = [
            models.Index(fields=["value"], name="hashentry_value"),
            models.Index(fields=["algorithm", "hash_set"], name="hashentry_algorithm"),
        ]

    def __str__(self) -> str:
        return self.value
