"""Adapters by API style. The Provider row stores the style (`kind`); this registry maps it to
the class that speaks it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.core.registry import Registry
from apps.providers.adapters.anthropic import AnthropicAdapter
from apps.providers.adapters.base import Adapter
from apps.providers.adapters.builtin import BuiltinAdapter
from apps.providers.adapters.cohere import CohereAdapter
from apps.providers.adapters.gemini import GeminiAdapter
from apps.providers.adapters.ollama import OllamaAdapter
from apps.providers.adapters.openai import OpenAIAdapter

if TYPE_CHECKING:
    from apps.providers.models import Provider

adapter_registry: Registry[Adapter] = Registry("provider adapter")
for _adapter in (
    OpenAIAdapter,
    AnthropicAdapter,
    GeminiAdapter,
    CohereAdapter,
    OllamaAdapter,
    BuiltinAdapter,
):
    adapter_registry.register(_adapter)


def adapter_for(provider: Provider) -> Adapter:
    return adapter_registry.get(provider.kind)(
        base_url=provider.base_url,
        model=provider.model,
        api_key=provider.api_key or "",
        timeout=provider.timeout,
        embedding_model=provider.embedding_model,
    )
