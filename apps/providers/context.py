"""`ctx.ai`: what an agent sees of the router, bound to its task, step and agent type, so every
call carries the task's classification and lands in the ledger under the right step."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from apps.core.exceptions import ApplicationError
from apps.providers import builtin, router

if TYPE_CHECKING:
    from apps.agents.base import AgentContext

log = logging.getLogger("amas.providers")


class AgentAI:
    def __init__(self, *, task: Any, step: Any, agent: str) -> None:
        self.task = task
        self.step = step
        self.agent = agent
        # The agent config's strategy (snapshotted on the step by the planner) wins over the
        # per-agent-type and global settings; a call's own `strategy=` wins over all.
        self.strategy: str | None = (getattr(step, "agent_config", None) or {}).get(
            "provider_strategy"
        ) or None
        self.calls: list[dict[str, Any]] = []

    def _note(self, result: router.GenerateResult, purpose: str) -> router.GenerateResult:
        self.calls.append(
            {
                "purpose": purpose,
                "provider": result.provider,
                "model": result.model,
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
            }
        )
        return result

    def generated_by(self) -> list[dict[str, Any]]:
        """Who wrote each text this step generated (provider, model, purpose): agents put it in
        their result data so every generated text names its writer."""
        return list(self.calls)

    @property
    def classification(self) -> str:
        return self.task.classification

    def generate(self, messages: list[dict[str, Any]], **kwargs: Any) -> router.GenerateResult:
        kwargs.setdefault("purpose", "generate")
        kwargs.setdefault("strategy", self.strategy)
        result = router.generate(messages, task=self.task, step=self.step, agent=self.agent, **kwargs)
        return self._note(result, kwargs["purpose"])

    def summarise(
        self, text: str, *, purpose: str = "summary", max_sentences: int = 5, instructions: str = ""
    ) -> str:
        """A summary of `text` from the best allowed provider; when none may or can answer (policy,
        budget, outage) the built-in extractive summary, which needs no network. `instructions`
        go to the system message, never into the text: an extractive summary must not be able to
        quote them back as if they were content."""
        messages = [
            {
                "role": "system",
                "content": "Summarise the user's text for an intelligence analyst in at most "
                f"{max_sentences} sentences. Keep names, indicators and figures exact. "
                "Answer with the summary only." + (f" {instructions}" if instructions else ""),
            },
            {"role": "user", "content": text},
        ]
        try:
            result = router.generate(
                messages,
                task=self.task,
                step=self.step,
                agent=self.agent,
                purpose=purpose,
                max_tokens=max(96, 60 * max_sentences),
                strategy=self.strategy,
            )
        except ApplicationError as exc:
            log.info("summarise fell back to the built-in provider: %s", exc.message)
            result = router.generate_offline(
                messages,
                task=self.task,
                step=self.step,
                agent=self.agent,
                purpose=purpose,
                reason=exc.message,
            )
        self._note(result, purpose)
        if result.model == builtin.BUILTIN_MODEL:
            sentences = " ".join(builtin.summarise(text, max_sentences))
            return f"[Extractive summary by the AMAS built-in offline provider] {sentences}".strip()
        return result.text.strip()

    def embed(self, texts: list[str]) -> router.EmbedResult:
        return router.embed(
            texts, classification=self.classification, task=self.task, step=self.step, agent=self.agent
        )


def contribute_ai(ctx: AgentContext) -> None:
    ctx.ai = AgentAI(task=ctx.task, step=ctx.step, agent=ctx.step.agent_type)
