"""The preset catalogue, checked on 2026-11-29: retired default models replaced, every preset dated.

A preset row is only changed where it still holds the old default (an admin's own choice stays).
Every replacement below comes from documentation read on 2026-11-29 (the sources' own dates in
brackets); nothing here was checked against a live vendor API. Presets not listed under CHANGES
keep their models, dated 2026-11-26 (when they were written), which says they have not been
re-checked since. Costs are left as they were: update them from the vendors' price lists.
"""

import datetime

from django.db import migrations, models

CHECKED = datetime.date(2026, 11, 29)
WRITTEN = datetime.date(2026, 11, 26)

# name: (field, old default, new default, source)
CHANGES = {
    "DeepSeek": [
        # api-docs.deepseek.com "Your First API Call" (undated, after 2026-09-14): use deepseek-flash;
        # deepseek-chat was retired on 2026-07-24.
        ("model", "deepseek-chat", "deepseek-flash"),
    ],
    "Kimi (Moonshot)": [
        # promptfoo Moonshot provider docs and Moonshot's list: kimi-k2-0711-preview discontinued in
        # 2026, kimi-k2.6 is the general K2-family model.
        ("model", "kimi-k2-0711-preview", "kimi-k2.6"),
    ],
    "Gemini": [
        # ai.google.dev/gemini-api/docs/deprecations (as quoted 2026-11-10): gemini-2.5-flash shut
        # down 2026-12-01, replacement gemini-3.5-flash-lite; text-embedding-004 shut down 2026-01-14,
        # replacement gemini-embedding-001.
        ("model", "gemini-2.5-flash", "gemini-3.5-flash-lite"),
        ("embedding_model", "text-embedding-004", "gemini-embedding-001"),
    ],
    "Cerebras": [
        # inference-docs.cerebras.ai/support/deprecation (2026-02-16): llama-3.3-70b deprecated,
        # migrate to GPT OSS 120B.
        ("model", "llama-3.3-70b", "gpt-oss-120b"),
    ],
    "Groq": [
        # console.groq.com deprecations (as reported 2026): llama-3.3-70b-versatile decommissioned
        # 2026-08-16, replacement GPT OSS 120B (Groq's id openai/gpt-oss-120b).
        ("model", "llama-3.3-70b-versatile", "openai/gpt-oss-120b"),
    ],
    "Anthropic (Claude)": [
        # The official SDK's model list (anthropic 2.10.0, November 2026, anthropic.types.Model):
        # claude-haiku-5-5 is the newest Haiku; claude-3-5-haiku-latest is retired.
        ("model", "claude-3-5-haiku-latest", "claude-haiku-5-5"),
    ],
}
PRESETS = [
    "DeepSeek",
    "GLM (Zhipu)",
    "Grok (xAI)",
    "Kimi (Moonshot)",
    "Qwen (DashScope)",
    "GPT-OSS (OpenRouter)",
    "Gemini",
    "NVIDIA",
    "Codestral (Mistral)",
    "Cerebras",
    "Cohere",
    "Chutes",
    "Groq",
    "OpenAI",
    "Anthropic (Claude)",
    "Ollama (local)",
]


def apply(apps, schema_editor, *, forward=True):
    Provider = apps.get_model("providers", "Provider")
    for provider in Provider.objects.filter(name__in=PRESETS):
        fields = []
        for field, old, new in CHANGES.get(provider.name, []):
            before, after = (old, new) if forward else (new, old)
            if getattr(provider, field) == before:
                setattr(provider, field, after)
                fields.append(field)
        provider.preset_checked_on = (CHECKED if provider.name in CHANGES else WRITTEN) if forward else None
        provider.save(update_fields=[*fields, "preset_checked_on"])


def unapply(apps, schema_editor):
    apply(apps, schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("providers", "0004_kind_from_adapter_registry")]

    operations = [
        migrations.AddField(
            model_name="provider",
            name="listed_models",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="provider",
            name="models_listed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provider",
            name="preset_checked_on",
            field=models.DateField(
                blank=True,
                help_text="When the preset's default models were last checked against the vendor.",
                null=True,
            ),
        ),
        migrations.RunPython(apply, unapply),
    ]
