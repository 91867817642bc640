"""Admin for the forensics agent's YARA rules and hash sets. Saves go through the services in
apps.agents.forensics.rules (compile check, version bump, revisions, hash import)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from apps.agents.forensics.rules import hash_set_import, yara_compile_check, yara_rule_save
from apps.agents.forensics_models import HashEntry, HashSet, YaraRule, YaraRuleRevision
from apps.core.exceptions import ValidationFailed


class YaraRuleForm(forms.ModelForm):
    class Meta:
        model = YaraRule
        fields = ("name", "description", "severity", "enabled", "source")
        widgets = {
            "source": forms.Textarea(attrs={"rows": 20, "style": "font-family: monospace; width: 90%"})
        }

    def clean_source(self) -> str:
        source = self.cleaned_data["source"]
        try:
            yara_compile_check(source)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None
        return source


class YaraRuleRevisionInline(admin.TabularInline):
    model = YaraRuleRevision
    extra = 0
    can_delete = False
    fields = ("version", "created_at", "created_by", "source")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(YaraRule)
class YaraRuleAdmin(admin.ModelAdmin):
    form = YaraRuleForm
    list_display = ("name", "severity", "enabled", "version", "updated_at", "updated_by")
    list_filter = ("enabled", "severity")
    search_fields = ("name", "description", "source")
    readonly_fields = ("version", "updated_by", "created_at", "updated_at")
    inlines = [YaraRuleRevisionInline]

    def save_model(self, request: HttpRequest, obj: YaraRule, form: Any, change: bool) -> None:
        data = form.cleaned_data
        yara_rule_save(
            rule=obj,
            name=data["name"],
            source=data["source"],
            severity=data["severity"],
            enabled=data["enabled"],
            description=data["description"],
            by=request.user,
        )


class HashSetForm(forms.ModelForm):
    import_hashes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "style": "font-family: monospace; width: 90%"}),
        help_text="Add hashes, one per line: `hash` or `hash,note`. MD5, SHA-1, SHA-256, SHA-512 and ssdeep "
        "are told apart by their form; lines starting with # are ignored.",
    )

    class Meta:
        model = HashSet
        fields = ("name", "kind", "organization", "description", "source", "enabled")


class HashEntryInline(admin.TabularInline):
    model = HashEntry
    extra = 0
    fields = ("algorithm", "value", "note", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = False
    max_num = None


@admin.register(HashSet)
class HashSetAdmin(admin.ModelAdmin):
    form = HashSetForm
    list_display = ("name", "kind", "organization", "enabled", "entry_count", "updated_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "description", "entries__value")
    inlines = [HashEntryInline]

    @admin.display(description="Entries")
    def entry_count(self, obj: HashSet) -> int:
        return obj.entries.count()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        text = form.cleaned_data.get("import_hashes") or ""
        if text.strip():
            counts = hash_set_import(hash_set=form.instance, text=text)
            messages.info(
                request,
                f"Imported {counts['added']} hash(es); {counts['duplicate']} already listed, "
                f"{counts['invalid']} not recognised as a hash.",
            )


@admin.register(HashEntry)
class HashEntryAdmin(admin.ModelAdmin):
    list_display = ("value", "algorithm", "hash_set", "note", "created_at")
    list_filter = ("algorithm", "hash_set__kind")
    search_fields = ("value", "note")
    list_select_related = ("hash_set",)
