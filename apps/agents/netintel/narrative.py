"""Agent narratives: through the provider router when the context has one (ctx.ai), otherwise
the plain deterministic summary the agent wrote."""

from __future__ import annotations

import logging

from apps.agents.base import AgentContext

log = logging.getLogger(__name__)


def narrate(ctx: AgentContext, plain: str, *, purpose: str, enabled: bool = True) -> str:
    if not enabled or ctx.ai is None or not plain:
        return plain
    try:
        return ctx.ai.summarise(plain, purpose=purpose, max_sentences=4) or plain
    except Exception:  # a summary is a nicety; the findings stand without it
        log.warning("Narrative for %s failed; using the plain summary", ctx.step.agent_type, exc_info=True)
        return plain
