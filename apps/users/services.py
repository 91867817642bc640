import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.core.exceptions import PermissionDenied, ValidationFailed
from apps.users import token_cache
from apps.users.member_sockets import token_sockets_close_on_commit
from apps.users.models import ApiToken, Organization, Role, TokenScope, User
from apps.users.trust import request_trust

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


# --- API tokens ----------------------------------------------------------------------------------

TOKEN_PREFIX = "amas"
TOKEN_LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedToken:
    """A new token row and its secret, which exists only here: show it once."""

    token: ApiToken
    secret: str


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> IssuedToken:
    """Issue an API token. Scopes must be a subset of what the user's role allows; the token
    expires at `expires_at` (default AMAS_TOKEN_DEFAULT_DAYS, at most AMAS_TOKEN_MAX_DAYS ahead)."""
    from apps.users.permissions import user_scopes

    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A token needs a name of 1-100 characters.")
    requested = set(scopes)
    if not requested:
        raise ValidationFailed("A token needs at least one scope.")
    unknown = requested - set(TokenScope.values)
    if unknown:
        raise ValidationFailed(f"Unknown scopes: {', '.join(sorted(unknown))}.")
    beyond = requested - user_scopes(user)
    if beyond:
        raise PermissionDenied(f"Your role does not allow the scopes: {', '.join(sorted(beyond))}.")
    if user.organization_id is None:
        raise ValidationFailed("Only members of an organisation can create API tokens.")
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(days=settings.AMAS_TOKEN_DEFAULT_DAYS)
    if expires_at <= now:
        raise ValidationFailed("The expiry must be in the future.")
    if expires_at > now + timedelta(days=settings.AMAS_TOKEN_MAX_DAYS):
        raise ValidationFailed(f"Tokens expire within {settings.AMAS_TOKEN_MAX_DAYS} days at most.")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            organization_id=user.organization_id,
            name=name,
            prefix=prefix,
            hashed_secret=_hash_token(secret),
            scopes=sorted(requested),
            expires_at=expires_at,
        )
        audit_record(
            event_type="token.create",
            entity_type="api_token",
            entity_id=token.pk,
            actor=user,
            organization=token.organization,
            changes={
                "name": name,
                "prefix": prefix,
                "scopes": token.scopes,
                "expires_at": expires_at.isoformat(),
            },
            request=request,
            trust=request_trust(request),
        )
    return IssuedToken(token=token, secret=secret)


def token_revoke(*, token: ApiToken, by: User, request: HttpRequest | None = None) -> ApiToken:
    """Revoke a token: its owner, or an admin of its organisation, may. Revoking twice is a no-op."""

    own = token.user_id == by.pk
    if not (own or by.is_superuser or (by.is_org_admin and by.organization_id == token.organization_id)):
        raise PermissionDenied("You may revoke only your own tokens.")
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])  # also ends its cached validity (token_cache)
        token_sockets_close_on_commit(token.pk)
        audit_record(
            event_type="token.revoke",
            entity_type="api_token",
            entity_id=token.pk,
            actor=by,
            organization=token.organization,
            changes={"name": token.name, "prefix": token.prefix, "owner": token.user.email},
            request=request,
            trust=request_trust(request),
        )
    return token


def token_authenticate(*, secret: str, ip: str = "") -> ApiToken | None:
    """The active token matching `secret` (with its user loaded), or None. Tokens of inactive
    users, of users who changed organisation, or of users who must set up MFA do not work."""
    from apps.users.mfa import mfa_missing

    hashed = token_hash(secret)
    if not hashed:
        return None
    # Read before the rows (apps.users.token_cache explains why the order matters).
    epoch = token_cache.epoch_current(hashed)
    token = ApiToken.objects.select_related("user").filter(hashed_secret=hashed).first()
    if token is None or not token.is_active:
        return None
    user = token.user
    if not user.is_active or user.organization_id != token.organization_id or mfa_missing(user):
        return None
    token_touch(token, ip=ip)
    token_cache.entry_store(hashed, epoch=epoch, token=token, user=user)
    return token


def token_hash(secret: str) -> str:
    """The stored form of a well-formed secret, or "" for one that cannot be a token."""
    if not secret.startswith(f"{TOKEN_PREFIX}_") or len(secret) > 200:
        return ""
    return _hash_token(secret)


def token_touch(token: ApiToken, *, ip: str) -> None:
    """Record the token's use: at most one write a minute per token (plus one whenever the
    address changes)."""
    now = timezone.now()
    if (
        token.last_used_at is None
        or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION
        or ip != token.last_used_ip
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip[:64])
        token.last_used_at, token.last_used_ip = now, ip[:64]


def mfa_secrets_reencrypt() -> int:
    """Re-encrypt stored MFA secrets (TOTP secrets, recovery-code seeds) with the newest
    AMAS_ENCRYPTION_KEYS key, after a key rotation, next to `reencrypt_secrets`. Values written
    before encryption was switched on get encrypted. Returns the number of authenticators rewritten."""
    from allauth.mfa.models import Authenticator

    from apps.core import crypto

    def rotated(value: str) -> str:
        return crypto.rotate(value) if value.startswith(crypto.PREFIX) else crypto.encrypt(value)

    count = 0
    with transaction.atomic():
        for authenticator in Authenticator.objects.select_for_update().filter(
            type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
        ):
            data = dict(authenticator.data)
            for key in ("secret", "seed"):
                if data.get(key):
                    data[key] = rotated(data[key])
            if data.get("migrated_codes"):
                data["migrated_codes"] = [rotated(code) for code in data["migrated_codes"]]
            authenticator.data = data
            authenticator.save(update_fields=["data"])
            count += 1
    return count
