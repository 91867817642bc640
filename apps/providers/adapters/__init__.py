"""Adapters by API style. The Provider row stores the style (`kind`); this registry maps it to
the class that speaks it. Filled in ProvidersConfig.ready() with the built-in adapters and from
the `amas.provider_adapters` entry-point group, so a new API style needs no migration: the kind
is validated against this registry, not a choices list."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from apps.core.registry import Registry
from apps.providers.adapters.base import Adapter

if TYPE_CHECKING:
    from apps.providers.models import Provider

log = logging.getLogger(__name__)

adapter_registry: Registry[Adapter] = Registry("provider adapter")


def register_builtin_adapters() -> None:
    from apps.providers.adapters.anthropic import AnthropicAdapter
    from apps.providers.adapters.builtin import BuiltinAdapter
    from apps.providers.adapters.cohere import CohereAdapter
    from apps.providers.adapters.gemini import GeminiAdapter
    from apps.providers.adapters.ollama import OllamaAdapter
    from apps.providers.adapters.openai import OpenAIAdapter

    for adapter in (
        OpenAIAdapter,
        AnthropicAdapter,
        GeminiAdapter,
        CohereAdapter,
        OllamaAdapter,
        BuiltinAdapter,
    ):
        adapter_registry.register(adapter)


def load_entry_point_adapters() -> None:
    for entry_point in entry_points(group="amas.provider_adapters"):
        try:
            adapter_registry.register(entry_point.load())
        except Exception:
            log.exception("Could not load provider adapter plugin %s", entry_point.name)


def kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every registered adapter, for forms."""
    return [(a.type, a.label or a.type) for a in adapter_registry.items()]


def adapter_for(provider: Provider) -> Adapter:
    return adapter_registry.get(provider.kind)(
        base_url=provider.base_url,
        model=provider.model,
        api_key=provider.api_key or "",
        timeout=provider.timeout,
        embedding_model=provider.embedding_model,
    )
