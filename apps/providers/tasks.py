from celery import shared_task

from apps.providers.services import provider_health_check_all


@shared_task(name="providers.health_check_all", queue="providers", soft_time_limit=300, time_limit=360)
def health_check_all_task() -> dict[str, bool]:
    return provider_health_check_all()
