from celery import shared_task

from apps.providers.models import Provider
from apps.providers.services import provider_health_check, provider_health_check_all


@shared_task(name="providers.health_check_all", queue="providers", soft_time_limit=300, time_limit=360)
def health_check_all_task() -> dict[str, bool]:
    return provider_health_check_all()


@shared_task(name="providers.health_check", queue="providers", soft_time_limit=120, time_limit=150)
def health_check_task(provider_id: int) -> bool:
    provider = Provider.objects.get(pk=provider_id)
    return provider_health_check(provider=provider).ok
