"""The AI router: every language and embedding call in AMAS goes through `generate()` / `embed()`.

For each call it: resolves the data's classification (the task's TLP unless given) and keeps only
providers allowed to receive it; answers from the cache when it can; orders providers by strategy
(the built-in provider always last); then walks them: skip an open circuit, reserve the expected
cost against the budgets, take rate-limit tokens (waiting briefly at most), call with retries and
jittered backoff, and fall back to the next provider. Every call writes one ledger row.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.core.exceptions import ValidationFailed
from apps.core.vocabulary import Classification
from apps.providers import attribution, breaker, budgets, cache, config, gate, ratelimit, strategies
from apps.providers.adapters import adapter_for
from apps.providers.adapters.base import ChatRequest
from apps.providers.errors import (
    BudgetExceeded,
    ClassificationPolicyError,
    ErrorKind,
    ProviderError,
    ProviderUnavailable,
)
from apps.providers.models import CallOutcome, Provider, ProviderKind
from apps.providers.services import provider_call_record

if TYPE_CHECKING:
    from apps.tasks.models import Task, TaskStep
    from apps.users.models import User

log = logging.getLogger("amas.providers")


@dataclass
class GenerateResult:
    text: str
    provider: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    cached: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)
    classification: str = ""
    latency_ms: int = 0


@dataclass
class EmbedResult:
    vectors: list[list[float]]
    model: str
    dimension: int
    provider: str


ProviderRows = config.View  # named here: inside _Call, `config` is the field below


@dataclass
class _Call:
    """What the router knows about one call while it runs."""

    operation: str
    purpose: str
    classification: str
    agent: str
    task: Any
    step: Any
    user: Any
    tokens_in_estimate: int
    tokens_out_estimate: int
    attempts: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    config: config.View | None = None  # the provider rows this call routes with

    def view(self) -> ProviderRows:
        """The rows this call routes with (set before any provider is tried)."""
        if self.config is None:
            raise RuntimeError("The router call has no provider rows yet.")
        return self.config

    @classmethod
    def begin(
        cls,
        operation: str,
        *,
        purpose: str,
        classification: str | None,
        task: Any,
        step: Any,
        agent: str,
        user: Any,
        tokens_in_estimate: int = 0,
        tokens_out_estimate: int = 0,
    ) -> _Call:
        """A call on behalf of a task/step: the stricter classification, the step's agent and the
        task's creator fill what the caller left out."""
        return cls(
            operation=operation,
            purpose=purpose,
            classification=_classification_for(classification, task),
            agent=agent or (step.agent_type if step is not None else ""),
            task=task,
            step=step,
            user=user if user is not None or task is None else task.created_by,
            tokens_in_estimate=tokens_in_estimate,
            tokens_out_estimate=tokens_out_estimate,
        )

    @property
    def organization_id(self) -> int | None:
        if self.task is not None:
            return self.task.organization_id
        return getattr(self.user, "organization_id", None)

    def note(self, provider: Provider, status: str, started: float | None = None, error: str = "") -> None:
        elapsed = int((time.perf_counter() - started) * 1000) if started is not None else 0
        self.attempts.append(
            {"provider": provider.name, "status": status, "elapsed_ms": elapsed, "error": error}
        )


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


# Level -> strictness (the enum's order), built once: Classification.values and .rank build
# their lists anew on every use (a few percent of an index drain's router calls).
_RANK = {c.value: i for i, c in enumerate(Classification)}


def _classification_for(classification: str | None, task: Any) -> str:
    """The call's classification: the task's TLP, or the one given, whichever is stricter (a caller
    cannot send a TLP:RED task's data out as CLEAR), else the configured default."""
    levels = [c for c in (classification, task.classification if task is not None else None) if c]
    for value in levels:
        if value not in _RANK:
            raise ValidationFailed(
                f"Unknown classification {value!r}; use one of {', '.join(Classification.values)}."
            )
    if not levels:
        return settings.AMAS_PROVIDER_DEFAULT_CLASSIFICATION
    return max(levels, key=_RANK.__getitem__)


def _policy_message(classification: str, refused: list[Provider], tried: list[dict[str, Any]]) -> str:
    label = f"TLP:{classification.upper()}"
    message = (
        f"No provider allowed to receive {label} data is available. Policy: data goes only to providers "
        f"whose allowed classifications include {classification!r}"
    )
    if refused:
        message += f"; not allowed: {', '.join(p.name for p in refused)}"
    if tried:
        message += "; allowed but failed: " + ", ".join(f"{a['provider']} ({a['status']})" for a in tried)
    return message + ". The call was not sent anywhere else."


def _cost(provider: Provider, tokens_in: int, tokens_out: int) -> Decimal:
    return strategies.expected_cost(provider, tokens_in=tokens_in, tokens_out=tokens_out)


def _backoff(attempt: int) -> float:
    """Full jitter: a random wait up to base * 2^attempt, capped."""
    ceiling = min(settings.AMAS_PROVIDER_BACKOFF_MAX, settings.AMAS_PROVIDER_BACKOFF_BASE * (2**attempt))
    return random.uniform(0, ceiling)


def _admit(call: _Call, provider: Provider) -> tuple[bool, str, str, str]:
    """May this provider be called now? Its circuit breaker and its rate limits (incl. a vendor's
    Retry-After block) answer in one Redis round trip; a short wait for rate-limit tokens is
    taken (AMAS_PROVIDER_RATE_LIMIT_WAIT at most). Returns (admitted, status, reason, circuit
    state)."""
    tokens = call.tokens_in_estimate + call.tokens_out_estimate
    admission = gate.admit(provider, tokens=tokens, current=call.view())
    if not admission.allowed:
        return False, "skipped", f"circuit {admission.state}", admission.state
    wait = admission.wait
    deadline = time.monotonic() + settings.AMAS_PROVIDER_RATE_LIMIT_WAIT
    while wait > 0:
        if time.monotonic() + wait > deadline:
            breaker.release(provider.id)
            return (
                False,
                "rate_limited",
                "rate limit (rpm/tpm or Retry-After) would need a longer wait",
                admission.state,
            )
        time.sleep(wait)
        wait = ratelimit.try_acquire(
            provider.id, rpm=provider.rpm_limit, tpm=provider.tpm_limit, tokens=tokens
        )
    return True, "", "", admission.state


def _attempt_provider(
    call: _Call,
    provider: Provider,
    invoke: Callable[[Provider], tuple[Any, int, int, str]],
    limits: Callable[[], list[budgets.BudgetLimit]],
    budget_refusals: list[BudgetExceeded],
) -> tuple[Any, int, int, str, Decimal] | None:
    """Try one provider (with its retries). The answer, or None to move on to the next one."""
    local = provider.kind == ProviderKind.BUILTIN
    circuit = ""
    if local:
        config.confirm(call.view())  # no admission confirmed the rows: one GET (raises Stale)
    else:
        admitted, status, reason, circuit = _admit(call, provider)
        if not admitted:
            call.note(provider, status, error=reason)
            return None
    expected = _cost(provider, call.tokens_in_estimate, call.tokens_out_estimate)
    try:
        reservation = budgets.reserve(limits=limits(), expected_cost=float(expected)) if expected else None
    except BudgetExceeded as exc:
        budget_refusals.append(exc)
        call.note(provider, "refused_budget", error=exc.message)
        if not local:
            breaker.release(provider.id)
            if provider.rpm_limit or provider.tpm_limit:
                ratelimit.refund(
                    provider.id,
                    rpm=provider.rpm_limit,
                    tpm=provider.tpm_limit,
                    tokens=call.tokens_in_estimate + call.tokens_out_estimate,
                )
        return None

    malformed_seen = False
    for attempt in range(provider.max_retries + 1):
        started = time.perf_counter()
        try:
            payload, tokens_in, tokens_out, model = invoke(provider)
        except ProviderError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            call.note(provider, exc.kind, started, str(exc))
            if local:
                break
            gate.outcome(
                provider,
                ok=False,
                latency_ms=None,
                breaker_op="failure" if exc.counts_for_breaker else "",
                error=str(exc),
            )
            log.info("provider %s failed after %.0f ms: %s", provider.name, elapsed_ms, exc)
            if exc.kind == ErrorKind.RATE_LIMITED:
                wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
                if wait > settings.AMAS_PROVIDER_MAX_RETRY_AFTER or attempt == provider.max_retries:
                    ratelimit.block(provider.id, exc.retry_after or 0)
                    break
                time.sleep(wait)
                continue
            if not exc.retryable or attempt == provider.max_retries:
                break
            if exc.kind == ErrorKind.MALFORMED:
                if malformed_seen:
                    break  # retryable once: a vendor that sends garbage twice is not worth a third try
                malformed_seen = True
            time.sleep(_backoff(attempt))
            if not breaker.allow(provider.id)[0]:
                call.note(provider, "skipped", error="circuit opened")
                break
            continue
        elapsed_ms = (time.perf_counter() - started) * 1000
        call.note(provider, "ok", started)
        cost = _cost(provider, tokens_in, tokens_out)
        if not local:
            taken = min(call.tokens_in_estimate + call.tokens_out_estimate, provider.tpm_limit)
            budget_keys, budget_delta = reservation.settle(cost) if reservation else ([], 0)
            gate.outcome(  # one round trip: circuit, stats, tpm bucket and budget reconciliation
                provider,
                ok=True,
                latency_ms=elapsed_ms,
                breaker_op="success",
                tokens_back=taken - tokens_in - tokens_out,
                budget_keys=budget_keys,
                budget_delta=budget_delta,
                # Not waited for when no admission reads what it changes: a closed circuit's
                # success only resets its failure count; a budget refund of an over-reservation
                # may come milliseconds late (the counter over-counts meanwhile, never under).
                # Waited for: a half-open probe's success, spend above the reservation, and
                # tokens given back to a tpm bucket (small windows: a late refund would make
                # this process's next call wait or fall back for nothing).
                behind=circuit == breaker.CLOSED
                and budget_delta <= 0
                and not (provider.tpm_limit and taken != tokens_in + tokens_out),
            )
        elif reservation:
            reservation.reconcile(cost)
        return payload, tokens_in, tokens_out, model, cost
    if reservation:
        reservation.release()
    if not local:  # a half-open probe that ended without a verdict (429, bad request) frees its slot
        breaker.release(provider.id)
    return None


def _route(
    call: _Call,
    candidates: list[Provider],
    refused: list[Provider],
    invoke: Callable[[Provider], tuple[Any, int, int, str]],
) -> tuple[Provider, Any, int, int, str, Decimal]:
    # The budget limits are looked up when a provider with an expected cost is reserved for
    # (before it is called, as always), once per call: a call that only reaches free providers
    # (the built-in one, a self-hosted model) reserves nothing, and looked them up for nothing.
    found: list[list[budgets.BudgetLimit]] = []

    def limits() -> list[budgets.BudgetLimit]:
        if not found:
            found.append(
                budgets.applicable_limits(
                    task_id=call.task.pk if call.task is not None else None,
                    user_id=call.user.pk if call.user is not None else None,
                    organization_id=call.organization_id,
                )
            )
        return found[0]

    budget_refusals: list[BudgetExceeded] = []
    for provider in candidates:
        answer = _attempt_provider(call, provider, invoke, limits, budget_refusals)
        if answer is not None:
            return (provider, *answer)
    config.confirm(call.view())  # refusing on rows no admission confirmed: check them (raises Stale)
    tried = [a for a in call.attempts if a["status"] != "refused_budget"]
    if budget_refusals and not any(a["status"] not in ("refused_budget", "skipped") for a in call.attempts):
        _record(call, CallOutcome.REFUSED_BUDGET, error=budget_refusals[0].message)
        raise budget_refusals[0]
    if refused or not candidates:
        message = _policy_message(call.classification, refused, tried)
        _record(call, CallOutcome.REFUSED_POLICY, error=message)
        raise ClassificationPolicyError(
            message, extra={"classification": call.classification, "attempts": tried}
        )
    message = "Every provider failed: " + "; ".join(
        f"{a['provider']}: {a['status']} {a['error']}" for a in tried
    )
    _record(call, CallOutcome.ERROR, error=message)
    raise ProviderUnavailable(message, extra={"attempts": call.attempts})


def _record(
    call: _Call,
    outcome: str,
    *,
    provider: Provider | None = None,
    provider_name: str = "",
    model: str = "",
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost: Decimal = Decimal(0),
    error: str = "",
) -> int:
    latency_ms = int((time.perf_counter() - call.started) * 1000)
    if call.step is not None:  # before the row is written or queued: the result hook relies on it
        attribution.step_call_note(call.step.pk)
    provider_call_record(
        operation=call.operation,
        task=call.task,
        step=call.step,
        agent=call.agent,
        user=call.user,
        organization_id=call.organization_id,
        provider=provider,
        provider_name=provider_name,
        model=model,
        purpose=call.purpose,
        classification=call.classification,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        latency_ms=latency_ms,
        outcome=outcome,
        error=error,
        attempts=call.attempts,
    )
    return latency_ms


def _split_by_policy(providers: list[Provider], classification: str) -> tuple[list[Provider], list[Provider]]:
    allowed = [p for p in providers if p.allows(classification)]
    refused = [p for p in providers if not p.allows(classification)]
    return allowed, refused


def _ordered(allowed: list[Provider], strategy: str, call: _Call) -> list[Provider]:
    external = [p for p in allowed if p.kind != ProviderKind.BUILTIN]
    last = [p for p in allowed if p.kind == ProviderKind.BUILTIN]
    ordered = strategies.STRATEGIES[strategy](
        external,
        scope=call.operation,
        tokens_in=call.tokens_in_estimate,
        tokens_out=call.tokens_out_estimate,
    )
    return ordered + last


def _with_current_config(
    call: _Call, route: Callable[[list[Provider]], tuple[Provider, Any, int, int, str, Decimal]]
) -> tuple[Provider, Any, int, int, str, Decimal]:
    """Route with this process's cached provider rows; when the first admission (or the one GET
    of a call that reaches none) finds they changed, start over once with fresh rows. Nothing was
    sent to a vendor before that check."""
    call.config = config.view()
    try:
        return route(call.config.providers)
    except config.Stale:
        call.attempts.clear()
        call.config = config.view()  # read fresh: confirmed, cannot be stale again
        return route(call.config.providers)


def generate(
    messages: list[dict[str, Any]],
    *,
    task: Task | None = None,
    step: TaskStep | None = None,
    agent: str = "",
    purpose: str,
    max_tokens: int = 512,
    json_schema: dict[str, Any] | None = None,
    temperature: float = 0.2,
    classification: str | None = None,
    strategy: str | None = None,
    user: User | None = None,
    use_cache: bool = True,
) -> GenerateResult:
    """Answer `messages` with the first provider that can, within policy and budget.

    Raises ClassificationPolicyError (no allowed provider available), BudgetExceeded (refused
    before any call), ProviderUnavailable (every allowed provider failed)."""
    if not messages:
        raise ValidationFailed("generate() needs at least one message.")
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    call = _Call.begin(
        "generate",
        purpose=purpose,
        classification=classification,
        task=task,
        step=step,
        agent=agent,
        user=user,
        tokens_in_estimate=estimate_tokens(prompt),
        tokens_out_estimate=max_tokens,
    )
    level = call.classification
    chosen = strategies.resolve(strategy, agent=call.agent)
    request = ChatRequest(
        messages=[{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages],
        max_tokens=max_tokens,
        temperature=temperature,
        json_schema=json_schema,
    )

    cache_key = ""
    if use_cache and cache.enabled():
        cache_key = cache.make_key(
            organization_id=call.organization_id,
            classification=level,
            operation="generate",
            payload={
                "messages": request.messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "json_schema": json_schema,
            },
        )
        hit = cache.get(cache_key)
        if hit is not None:
            result = GenerateResult(
                **{**hit, "cached": True, "cost": 0.0, "attempts": [], "classification": level}
            )
            result.latency_ms = _record(
                call, CallOutcome.CACHED, provider_name=result.provider, model=result.model
            )
            return result

    def invoke(provider: Provider) -> tuple[Any, int, int, str]:
        response = adapter_for(provider).chat(request)
        return response.text, response.tokens_in, response.tokens_out, response.model or provider.model

    def route(providers: list[Provider]) -> tuple[Provider, Any, int, int, str, Decimal]:
        allowed, refused = _split_by_policy(providers, level)
        return _route(call, _ordered(allowed, chosen, call), refused, invoke)

    provider, text, tokens_in, tokens_out, model, cost = _with_current_config(call, route)
    latency_ms = _record(
        call,
        CallOutcome.OK,
        provider=provider,
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
    )
    result = GenerateResult(
        text=text,
        provider=provider.name,
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=float(cost),
        attempts=call.attempts,
        classification=level,
        latency_ms=latency_ms,
    )
    if cache_key:
        cache.set(
            cache_key,
            {
                "text": text,
                "provider": provider.name,
                "model": model,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
            },
        )
    return result


def embed(
    texts: list[str],
    *,
    classification: str,
    task: Task | None = None,
    step: TaskStep | None = None,
    agent: str = "",
    purpose: str = "embed",
    user: User | None = None,
) -> EmbedResult:
    """Embed `texts` with the first allowed embedding provider in priority order (a stable order:
    vectors from different models are not comparable, so embeddings never round-robin)."""
    call = _Call.begin(
        "embed",
        purpose=purpose,
        classification=classification,
        task=task,
        step=step,
        agent=agent,
        user=user,
        tokens_in_estimate=sum(estimate_tokens(t) for t in texts),
    )
    level = call.classification
    if not texts:
        return EmbedResult(vectors=[], model="", dimension=0, provider="")

    def route(providers: list[Provider]) -> tuple[Provider, Any, int, int, str, Decimal]:
        embedders = [p for p in providers if p.embedding_model and adapter_for(p).supports_embeddings]
        allowed, refused = _split_by_policy(embedders, level)
        return _route(call, _ordered(allowed, strategies.PRIORITY, call), refused, invoke)

    def invoke(provider: Provider) -> tuple[Any, int, int, str]:
        response = adapter_for(provider).embed(texts)
        if len(response.vectors) != len(texts):
            raise ProviderError(
                ErrorKind.MALFORMED, f"{len(response.vectors)} vectors for {len(texts)} texts"
            )
        return response.vectors, response.tokens_in, 0, response.model or provider.embedding_model

    provider, vectors, tokens_in, _, model, cost = _with_current_config(call, route)
    _record(call, CallOutcome.OK, provider=provider, model=model, tokens_in=tokens_in, cost=cost)
    return EmbedResult(
        vectors=vectors, model=model, dimension=len(vectors[0]) if vectors else 0, provider=provider.name
    )


def generate_offline(
    messages: list[dict[str, Any]],
    *,
    task: Task | None = None,
    step: TaskStep | None = None,
    agent: str = "",
    purpose: str,
    classification: str | None = None,
    user: User | None = None,
    reason: str = "",
) -> GenerateResult:
    """The built-in provider directly, bypassing routing: local code, so every classification may
    use it, whatever the provider rows say. For callers that must always get an answer."""
    from apps.providers.adapters.builtin import BuiltinAdapter

    call = _Call.begin(
        "generate",
        purpose=purpose,
        classification=classification,
        task=task,
        step=step,
        agent=agent,
        user=user,
    )
    level = call.classification
    row = Provider.objects.filter(kind=ProviderKind.BUILTIN).order_by("priority").first()
    started = time.perf_counter()
    response = BuiltinAdapter(base_url="", model=row.model if row else "").chat(
        ChatRequest(
            messages=[{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages]
        )
    )
    name = row.name if row else "builtin"
    call.attempts.append(
        {
            "provider": name,
            "status": "ok",
            "elapsed_ms": int((time.perf_counter() - started) * 1000),
            "error": "",
        }
    )
    latency_ms = _record(
        call,
        CallOutcome.OK,
        provider=row,
        provider_name=name,
        model=response.model,
        tokens_in=response.tokens_in,
        tokens_out=response.tokens_out,
        error=f"fallback: {reason}" if reason else "",
    )
    return GenerateResult(
        text=response.text,
        provider=name,
        model=response.model,
        tokens_in=response.tokens_in,
        tokens_out=response.tokens_out,
        attempts=call.attempts,
        classification=level,
        latency_ms=latency_ms,
    )
