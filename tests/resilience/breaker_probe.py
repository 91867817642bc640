"""A Celery task the breaker scale-out test loads into its worker processes (`celery worker -I`):
one real router call, answered with what this worker process saw. Nothing of ours is replaced;
the task only reports which process ran the call and what the router did."""

import os

from celery import shared_task


@shared_task(name="tests.resilience.ask_router", bind=True)
def ask_router(self, watched: str) -> dict:
    from apps.providers import breaker, router
    from apps.providers.models import Provider

    result = router.generate([{"role": "user", "content": "hi"}], purpose="scale-out", classification="clear")
    return {
        "worker": self.request.hostname,
        "pid": os.getpid(),
        "provider": result.provider,
        "attempts": result.attempts,
        "breaker": breaker.state(Provider.objects.get(name=watched).id).state,
    }
