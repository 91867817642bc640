"""The 16 provider presets (disabled, ready for a key) and the built-in offline provider (enabled,
last). The data is spelled out here rather than imported so this migration never changes meaning.
Costs are list prices per 1k tokens in USD at the time of writing; admins adjust them."""

from django.conf import settings
from django.db import migrations

EXTERNAL = ["clear", "green"]
EVERYTHING = ["clear", "green", "amber", "red"]

# name, kind, base_url, model, embedding_model, cost in, cost out, priority
PRESETS = [
    ("DeepSeek", "openai", "https://api.deepseek.com/v1", "deepseek-chat", "", "0.00027", "0.0011", 100),
    ("GLM (Zhipu)", "openai", "https://open.bigmodel.cn/api/paas/v4", "glm-4.5", "embedding-3", "0.0006", "0.0022", 110),
    ("Grok (xAI)", "openai", "https://api.x.ai/v1", "grok-3-mini", "", "0.0003", "0.0005", 120),
    ("Kimi (Moonshot)", "openai", "https://api.moonshot.ai/v1", "kimi-k2-0711-preview", "", "0.0006", "0.0025", 130),
    ("Qwen (DashScope)", "openai", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "qwen-plus", "text-embedding-v3", "0.0004", "0.0012", 140),
    ("GPT-OSS (OpenRouter)", "openai", "https://openrouter.ai/api/v1", "openai/gpt-oss-120b", "", "0.0001", "0.0005", 150),
    ("Gemini", "gemini", "https://generativelanguage.googleapis.com", "gemini-2.5-flash", "text-embedding-004", "0.0003", "0.0025", 160),
    ("NVIDIA", "openai", "https://integrate.api.nvidia.com/v1", "meta/llama-3.3-70b-instruct", "", "0", "0", 170),
    ("Codestral (Mistral)", "openai", "https://codestral.mistral.ai/v1", "codestral-latest", "", "0.0003", "0.0009", 180),
    ("Cerebras", "openai", "https://api.cerebras.ai/v1", "llama-3.3-70b", "", "0.00085", "0.0012", 190),
    ("Cohere", "cohere", "https://api.cohere.com", "command-a-03-2025", "embed-v4.0", "0.0025", "0.01", 200),
    ("Chutes", "openai", "https://llm.chutes.ai/v1", "deepseek-ai/DeepSeek-V3-0324", "", "0.00025", "0.001", 210),
    ("Groq", "openai", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "", "0.00059", "0.00079", 220),
    ("OpenAI", "openai", "https://api.openai.com/v1", "gpt-4o-mini", "text-embedding-3-small", "0.00015", "0.0006", 230),
    ("Anthropic (Claude)", "anthropic", "https://api.anthropic.com", "claude-3-5-haiku-latest", "", "0.0008", "0.004", 240),
]


def create_presets(apps, schema_editor):
    Provider = apps.get_model("providers", "Provider")
    for name, kind, base_url, model, embedding_model, cost_in, cost_out, priority in PRESETS:
        Provider.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "base_url": base_url,
                "model": model,
                "embedding_model": embedding_model,
                "cost_per_1k_input": cost_in,
                "cost_per_1k_output": cost_out,
                "priority": priority,
                "enabled": False,
                "allowed_classifications": EXTERNAL,
                "tags": ["preset", "external"],
                "timeout": 60.0,
            },
        )
    Provider.objects.get_or_create(
        name="Ollama (local)",
        defaults={
            "kind": "ollama",
            "base_url": getattr(settings, "AMAS_OLLAMA_URL", "http://127.0.0.1:11434"),
            "model": "llama3.2",
            "embedding_model": "nomic-embed-text",
            "priority": 50,
            "enabled": False,
            "auto_enable": True,
            "allowed_classifications": EVERYTHING,
            "tags": ["preset", "local"],
            "timeout": 120.0,
        },
    )
    Provider.objects.get_or_create(
        name="Built-in (offline)",
        defaults={
            "kind": "builtin",
            "base_url": "",
            "model": "builtin-extractive",
            "embedding_model": "builtin-hash-384",
            "priority": 10000,
            "enabled": True,
            "allowed_classifications": EVERYTHING,
            "tags": ["builtin", "local", "offline"],
            "timeout": 10.0,
            "max_retries": 0,
        },
    )


def remove_presets(apps, schema_editor):
    Provider = apps.get_model("providers", "Provider")
    names = [p[0] for p in PRESETS] + ["Ollama (local)", "Built-in (offline)"]
    Provider.objects.filter(name__in=names, api_key="").delete()


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [migrations.RunPython(create_presets, remove_presets)]
