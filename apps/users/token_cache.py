"""A per-process cache of resolved API tokens, so that a token request costs no database query,
with revocation still immediate in every process.

An entry is keyed by the SHA-256 of the secret (what the database stores; never the secret) and
holds the token's and its user's non-secret fields (ids, role, organisation, flags, scopes; not the
password hash). It is valid while the token's *epoch*, a random value in Redis under
`auth:epoch:<hash prefix>`, is the one read when the entry was loaded. Every change that can end a
token's validity replaces the epochs of the tokens concerned ("bumps" them):

- the token saved (revoked, scopes, expiry) or deleted;
- its user saved with a change to is_active / role / organisation / staff / superuser (or a full
  save), and members.member_deactivate's bulk revocation, which saves the user too;
- a second factor (allauth Authenticator) created or deleted: MFA requirements;
- the organisation saved.

Order matters: the epoch is read (created if missing) BEFORE the database rows, so a change that
commits after our read of the rows bumps an epoch newer than the one we keep. The bump runs before
the change commits (and raises if Redis is down: the change does not commit, fail closed) and
again after the commit (an entry loaded between the two, from the uncommitted old rows, dies then).
Each token request reads the epoch in the Redis round trip its rate limits already make; when
Redis is unreachable that round trip fails and the request is refused (503), and this process drops
its entries (it may have missed a bump). Entries also expire after AMAS_TOKEN_CACHE_SECONDS (60 s)
as a bound for a bump lost to a Redis failure between commit and the second bump.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.db.models import Model
from redis.exceptions import RedisError

from apps.core.security import cache_redis_client
from apps.users.models import ApiToken, User

log = logging.getLogger(__name__)

EPOCH_TTL_SECONDS = 24 * 3600  # an expired epoch reads as missing: the entry reloads
MAX_ENTRIES = 10_000

# Never the password hash or last_login (deferred: loaded from the database if anything reads them).
USER_FIELDS = (
    "id",
    "email",
    "full_name",
    "organization_id",
    "role",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
)
# Never hashed_secret (it is the key, and the secret's only stored form).
TOKEN_FIELDS = (
    "id",
    "user_id",
    "organization_id",
    "name",
    "prefix",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "last_used_ip",
    "revoked_at",
)
# User fields whose change can end a token's validity (token_authenticate's checks, scopes, MFA).
USER_AUTH_FIELDS = frozenset(
    {"is_active", "role", "organization", "organization_id", "is_staff", "is_superuser"}
)


@dataclass
class Entry:
    epoch: Any
    token: dict[str, Any]
    user: dict[str, Any]
    loaded_at: float  # time.monotonic()


_entries: dict[str, Entry] = {}


def epoch_key(hashed_secret: str) -> str:
    return f"auth:epoch:{hashed_secret[:32]}"


def _redis() -> tuple[Any, Any] | None:
    """(backend, redis-py client) when the default cache is Redis, else None (tests' locmem)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend, cache_redis_client(backend)


def epoch_current(hashed_secret: str) -> Any:
    """The token's epoch, created when missing: read before the database rows (see above). None
    when Redis cannot be reached: the token is then checked against the database only and not
    cached (callers that must work without Redis, such as /health/services, still authenticate)."""
    found = _redis()
    try:
        if found is None:
            backend = caches["default"]
            backend.add(epoch_key(hashed_secret), secrets.token_hex(8), timeout=EPOCH_TTL_SECONDS)
            return backend.get(epoch_key(hashed_secret))
        backend, client = found
        key = backend.make_and_validate_key(epoch_key(hashed_secret))
        pipe = client.pipeline(transaction=False)
        pipe.set(key, secrets.token_hex(8), nx=True, ex=EPOCH_TTL_SECONDS)
        pipe.get(key)
        return pipe.execute()[1]
    except (RedisError, OSError) as exc:
        log.warning("Token epoch not readable (%s): token checked without the cache", type(exc).__name__)
        return None


def _bump_now(hashed_secrets: list[str]) -> None:
    for hashed in hashed_secrets:
        _entries.pop(hashed, None)  # this process needs no round trip to forget
    if not hashed_secrets:
        return
    found = _redis()
    if found is None:
        backend = caches["default"]
        backend.set_many(
            {epoch_key(h): secrets.token_hex(8) for h in hashed_secrets}, timeout=EPOCH_TTL_SECONDS
        )
        return
    backend, client = found
    pipe = client.pipeline(transaction=False)
    for hashed in hashed_secrets:
        pipe.set(backend.make_and_validate_key(epoch_key(hashed)), secrets.token_hex(8), ex=EPOCH_TTL_SECONDS)
    pipe.execute()


def epochs_bump(hashed_secrets: list[str]) -> None:
    """Invalidate these tokens' cached entries in every process: now (raises if Redis is down, so
    the change being made fails with it) and again once the transaction commits."""
    hashed_secrets = list(dict.fromkeys(hashed_secrets))
    _bump_now(hashed_secrets)

    def after_commit() -> None:
        try:
            _bump_now(hashed_secrets)
        except Exception:  # the change committed; the pre-commit bump and the entries' age bound it
            log.exception("token cache: epoch bump after commit failed for %d token(s)", len(hashed_secrets))
            entries_clear()

    transaction.on_commit(after_commit)


def _token_hashes(**filters: Any) -> list[str]:
    return list(ApiToken.objects.filter(**filters).values_list("hashed_secret", flat=True))


# --- entries -------------------------------------------------------------------------------------


def entries_clear() -> None:
    _entries.clear()


def entry_get(hashed_secret: str) -> Entry | None:
    entry = _entries.get(hashed_secret)
    if entry is None:
        return None
    if time.monotonic() - entry.loaded_at > settings.AMAS_TOKEN_CACHE_SECONDS:
        _entries.pop(hashed_secret, None)
        return None
    return entry


def entry_drop(hashed_secret: str) -> None:
    _entries.pop(hashed_secret, None)


def entry_store(hashed_secret: str, *, epoch: Any, token: ApiToken, user: User) -> None:
    if epoch is None or settings.AMAS_TOKEN_CACHE_SECONDS <= 0:
        return
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()  # rare (10,000 live tokens in one process): cheaper than an LRU per request
    _entries[hashed_secret] = Entry(
        epoch=epoch,
        token={name: getattr(token, name) for name in TOKEN_FIELDS},
        user={name: getattr(user, name) for name in USER_FIELDS},
        loaded_at=time.monotonic(),
    )


def entry_touch(hashed_secret: str, *, last_used_at: Any, last_used_ip: str) -> None:
    entry = _entries.get(hashed_secret)
    if entry is not None:
        entry.token["last_used_at"], entry.token["last_used_ip"] = last_used_at, last_used_ip


def _instance(model: type[Model], values: dict[str, Any]) -> Any:
    """A model instance as if loaded with .only(values): the other fields load on access."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db("default", names, [values[name] for name in names])


def entry_objects(entry: Entry) -> tuple[ApiToken, User]:
    """Fresh instances per request (a request may change its own copies)."""
    user = _instance(User, entry.user)
    token = _instance(ApiToken, {**entry.token, "scopes": list(entry.token["scopes"])})
    token.user = user
    return token, user


# --- signals -------------------------------------------------------------------------------------


def _token_changed(sender: Any, instance: ApiToken, created: bool = False, **kwargs: Any) -> None:
    if not created and instance.hashed_secret:
        epochs_bump([instance.hashed_secret])


def _user_saved(
    sender: Any, instance: User, created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if created or (update_fields is not None and not USER_AUTH_FIELDS.intersection(update_fields)):
        return  # a login's last_login, a profile's name: no token's validity changes
    epochs_bump(_token_hashes(user_id=instance.pk))


def _authenticator_changed(sender: Any, instance: Any, created: bool = True, **kwargs: Any) -> None:
    # Only whether a second factor exists matters (mfa_missing); logins save last_used_at.
    if created:
        epochs_bump(_token_hashes(user_id=instance.user_id))


def _organization_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if not created:
        epochs_bump(_token_hashes(organization_id=instance.pk))


def connect() -> None:
    from allauth.mfa.models import Authenticator
    from django.db.models.signals import post_delete, post_save

    from apps.users.models import Organization

    post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="token-cache-token-save")
    post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="token-cache-token-delete")
    post_save.connect(_user_saved, sender=User, dispatch_uid="token-cache-user-save")
    post_save.connect(_authenticator_changed, sender=Authenticator, dispatch_uid="token-cache-mfa-save")
    post_delete.connect(_authenticator_changed, sender=Authenticator, dispatch_uid="token-cache-mfa-delete")
    post_save.connect(_organization_saved, sender=Organization, dispatch_uid="token-cache-org-save")
