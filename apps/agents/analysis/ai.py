"""Calls to the AI router through `ctx.ai` (summaries, embeddings). The router already retries and
falls back between providers; what fails here is reported and the agent goes on offline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.agents.base import AgentContext


@dataclass
class AIText:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    model: str = ""


def ai_summarise(ctx: AgentContext, text: str, *, purpose: str) -> tuple[AIText | None, str]:
    """(summary, error). No router on the context means (None, "")."""
    if ctx.ai is None:
        return None, ""
    try:
        response = ctx.ai.summarise(text, purpose=purpose)
    except Exception as exc:  # any provider failure degrades to the offline result
        ctx.logger.warning("AI summary unavailable: %s", exc)
        return None, f"AI summary unavailable: {exc}"
    return _text(response), ""


def ai_embed(ctx: AgentContext, texts: list[str]) -> tuple[list[list[float]] | None, str]:
    if ctx.ai is None:
        return None, ""
    try:
        response = ctx.ai.embed(texts)
    except Exception as exc:
        ctx.logger.warning("AI embeddings unavailable: %s", exc)
        return None, f"AI embeddings unavailable: {exc}"
    vectors = getattr(response, "vectors", None) or getattr(response, "embeddings", None) or response
    vectors = [list(map(float, v)) for v in vectors]
    if len(vectors) != len(texts) or not vectors or len({len(v) for v in vectors}) != 1:
        return None, "AI embeddings unusable: wrong shape"
    return vectors, ""


def _text(response: Any) -> AIText:
    if isinstance(response, str):
        return AIText(response.strip())
    return AIText(
        str(getattr(response, "text", "") or getattr(response, "content", "") or "").strip(),
        int(getattr(response, "tokens_in", 0) or 0),
        int(getattr(response, "tokens_out", 0) or 0),
        str(getattr(response, "model", "") or ""),
    )
