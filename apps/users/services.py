import secrets

from django.db import transaction
from django.utils.text import slugify

from apps.users.models import Organization, Role, User

DEFAULT_ORGANIZATION = "Default"


def organization_get_or_create(*, name: str) -> Organization:
    organization, _ = Organization.objects.get_or_create(name=name, defaults={"slug": slugify(name)[:80]})
    return organization


def user_create(
    *, email: str, password: str | None, organization: Organization, role: str = Role.ANALYST
) -> User:
    return User.objects.create_user(email=email, password=password, organization=organization, role=role)


@transaction.atomic
def admin_ensure(*, email: str | None, password: str | None) -> tuple[User | None, str | None]:
    """Create the first superuser if there is none.

    Returns (user, generated_password): the password is returned only when we generated it, so
    the caller can print it once. Returns (None, None) when a superuser already exists.
    """
    if User.objects.filter(is_superuser=True).exists():
        return None, None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    organization = organization_get_or_create(name=DEFAULT_ORGANIZATION)
    user = User.objects.create_superuser(
        email=email or "admin@amas.local", password=password, organization=organization
    )
    return user, generated
