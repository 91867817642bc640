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


# Counts the second factors this process created or deleted (apps.users.session_user connects the
# signals): an answer remembered on a user instance before such a change is not used again.
changes = 0
_MEMO = "_amas_mfa_enabled"


def mfa_enabled(user: User | AnonymousUser) -> bool:
    """Whether the user has a second factor. Remembered on the user instance, so a request asks
    the database once however often it is checked (the MFA middleware and the API's session
    authentication both ask); the session user cache (apps.users.session_user) hands it over
    with a cached user, and a factor created or deleted in any process ends it."""
    from allauth.mfa.models import Authenticator

    if not user.is_authenticated:
        return False
    memo = getattr(user, _MEMO, None)
    if memo is not None and memo[0] == changes:
        return bool(memo[1])
    enabled = Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES).exists()
    mfa_remember(user, enabled)
    return enabled


def mfa_remember(user: User | AnonymousUser, enabled: bool) -> None:
    setattr(user, _MEMO, (changes, enabled))


def mfa_remembered(user: User | AnonymousUser) -> bool | None:
    """What mfa_enabled remembered on this instance and still holds, or None."""
    memo = getattr(user, _MEMO, None)
    return bool(memo[1]) if memo is not None and memo[0] == changes else None


def mfa_missing(user: User | AnonymousUser) -> bool:
    """True for a signed-in user who must have MFA and has not set it up yet."""
    return mfa_required(user) and not mfa_enabled(user)
