"""Who must use MFA, and whether they do."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from apps.users.models import Role, User

# Recovery codes only back up a real second factor; they never count as one on their own.
SECOND_FACTOR_TYPES = ("totp", "webauthn")


def mfa_required(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if getattr(settings, "AMAS_REQUIRE_MFA_FOR_ALL", False):
        return True
    return bool(user.is_staff or user.is_superuser or user.role == Role.ADMIN)


def mfa_enabled(user: User | AnonymousUser) -> bool:
    from allauth.mfa.models import Authenticator

    if not user.is_authenticated:
        return False

    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES).exists()


def mfa_missing(user: User | AnonymousUser) -> bool:
    """True for a signed-in user who must have MFA and has not set it up yet."""
    return mfa_required(user) and not mfa_enabled(user)
