"""The signed-in user of a browser session, from a per-process cache instead of a database query
on every request (django.contrib.auth.get_user loads the user with the ORM each time: ~1 ms of a
session API request's wall time, the first Postgres round trip of every signed-in request).

An entry is keyed by the user's id and holds the user's non-secret fields (apps.users.token_cache
USER_FIELDS: no password hash, no last_login; those load from the database if anything reads them)
and the session auth hash Django compared when it loaded the user (an HMAC of the password hash:
what every one of the user's sessions holds anyway). A session's user comes from the entry only
when:

- the session names a user id and one of settings.AUTHENTICATION_BACKENDS (as Django requires),
- the session's auth hash equals the entry's (exactly Django's first check; a session signed with
  a fallback SECRET_KEY, or any mismatch, takes Django's own path, which re-signs or flushes it),
- the entry is younger than AMAS_SESSION_USER_CACHE_SECONDS, and
- the user's *epoch*, a random value in Redis under `auth:session-user:<id>`, is still the one read
  before the entry's rows were loaded. The session engine (apps/users/sessions.py) reads it
  together with the session, in one Redis round trip, when this process has seen the session's
  user before; otherwise it costs a GET. The ORM load was a Postgres round trip plus model
  building.

Every save of a user except a sign-in's last_login update (password, is_active, role,
organisation, staff, superuser, e-mail, name, ...) and a user's deletion replace the epoch: before
the change commits (raises if Redis is down, so the change fails closed) and again after the
commit, as token_cache does for tokens, so every process reloads the user on its next request.
For a user who must use MFA the entry also holds whether they have a second factor (asked
once per request otherwise, by the MFA middleware and the API's session authentication each); a
second factor created or deleted replaces the epoch too. Anything else (permissions and groups:
loaded per request by Django's backends) is not in the entry. When Redis cannot be read the user
is loaded from the database as Django does and the process drops its entries (it may have missed a
bump)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.db import transaction
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from redis.exceptions import RedisError

from apps.users import mfa
from apps.users.models import User
from apps.users.token_cache import EPOCH_TTL_SECONDS, USER_FIELDS, _instance, _redis

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
# A user saved with only these fields keeps its entry (a sign-in's last_login update).
_UNCACHED_ONLY = frozenset({"last_login"})


@dataclass
class Entry:
    epoch: Any
    session_hash: str
    user: dict[str, Any]
    loaded_at: float  # time.monotonic()
    mfa_enabled: bool | None  # for users who must use MFA: whether they have a second factor


_entries: dict[int, Entry] = {}


def epoch_key(user_id: Any) -> str:
    return f"auth:session-user:{user_id}"


def entries_clear() -> None:
    _entries.clear()
    _session_users.clear()


def _epoch(raw: Any) -> int | None:
    """An epoch as stored: an integer, which Django's Redis serializer stores as its digits, so a
    raw GET and the cache API (the session engine's MGET) read the same value."""
    return None if raw is None else int(raw)


def _epoch_read(user_id: int) -> int | None:
    found = _redis()
    if found is None:
        return _epoch(caches["default"].get(epoch_key(user_id)))
    backend, client = found
    return _epoch(client.get(backend.make_and_validate_key(epoch_key(user_id))))


def _epoch_current(user_id: int) -> int | None:
    """The user's epoch, created when missing; read BEFORE the user's row (see the module)."""
    found = _redis()
    if found is None:
        backend = caches["default"]
        backend.add(epoch_key(user_id), secrets.randbits(62), timeout=EPOCH_TTL_SECONDS)
        return _epoch(backend.get(epoch_key(user_id)))
    backend, client = found
    key = backend.make_and_validate_key(epoch_key(user_id))
    pipe = client.pipeline(transaction=False)
    pipe.set(key, secrets.randbits(62), nx=True, ex=EPOCH_TTL_SECONDS)
    pipe.get(key)
    return _epoch(pipe.execute()[1])


# --- the session engine's part (apps/users/sessions.py) ------------------------------------------

# Which user each session was last seen signed in with, in this process: the session engine reads
# that user's epoch with the session. Keyed by a digest, never the session key itself.
_session_users: dict[bytes, int] = {}
_PREFETCHED = "_amas_user_epoch"


def _session_digest(session_key: str) -> bytes:
    return hashlib.blake2b(session_key.encode(), digest_size=16).digest()


def user_of_session(session_key: str | None) -> int | None:
    """The user whose epoch to read with this session (a hint: session_user checks the session's
    own user id against it), or None."""
    if not session_key or settings.AMAS_SESSION_USER_CACHE_SECONDS <= 0:
        return None
    return _session_users.get(_session_digest(session_key))


def epoch_prefetched(session: Any, user_id: int, raw: Any) -> None:
    """Keep the epoch read with the session for session_user (this request only: a session object
    lives for one request)."""
    with contextlib.suppress(TypeError, ValueError):  # not an epoch we wrote: session_user reads it
        setattr(session, _PREFETCHED, (user_id, _epoch(raw)))


def _session_seen(session: Any, user_id: int) -> None:
    key = getattr(session, "session_key", None)
    if key:
        if len(_session_users) >= MAX_ENTRIES:
            _session_users.clear()
        _session_users[_session_digest(key)] = user_id


def _cached(user_id: int, session_hash: str, session: Any) -> User | None:
    entry = _entries.get(user_id)
    if entry is None:
        return None
    if time.monotonic() - entry.loaded_at > settings.AMAS_SESSION_USER_CACHE_SECONDS or not (
        session_hash and constant_time_compare(session_hash, entry.session_hash)
    ):
        return None
    prefetched = getattr(session, _PREFETCHED, None)
    try:
        # Read with the session (apps/users/sessions.py) when the engine knew this session's user.
        epoch = prefetched[1] if prefetched is not None and prefetched[0] == user_id else _epoch_read(user_id)
    except (RedisError, OSError, ValueError) as exc:
        log.warning("Session user epoch not readable (%s): user loaded from the database", type(exc).__name__)
        entries_clear()
        return None
    if epoch is None or epoch != entry.epoch:
        _entries.pop(user_id, None)
        return None
    user = _instance(User, entry.user)
    if entry.mfa_enabled is not None:
        mfa.mfa_remember(user, entry.mfa_enabled)
    return user


def session_user(request: HttpRequest) -> User | AnonymousUser:
    """django.contrib.auth.get_user(request), answered from this process's cache when it can be
    (see the module); otherwise Django's own function, whose answer is then cached."""
    session = request.session
    try:
        user_id = User._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValueError):
        return auth.get_user(request)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return auth.get_user(request)
    session_hash = session.get(HASH_SESSION_KEY) or ""
    user = _cached(user_id, session_hash, session)
    if user is not None:
        _session_seen(session, user_id)
        return user
    epoch = None
    if settings.AMAS_SESSION_USER_CACHE_SECONDS > 0:
        try:
            epoch = _epoch_current(user_id)
        except (RedisError, OSError, ValueError) as exc:
            log.warning("Session user epoch not readable (%s): user not cached", type(exc).__name__)
            entries_clear()
    loaded = auth.get_user(request)
    if epoch is not None and isinstance(loaded, User) and loaded.pk == user_id:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()  # rare: cheaper than an LRU on every request
        _entries[user_id] = Entry(
            epoch=epoch,
            # What the session now holds: Django verified it (or re-signed it with the current key).
            session_hash=loaded.get_session_auth_hash(),
            user={name: getattr(loaded, name) for name in USER_FIELDS},
            loaded_at=time.monotonic(),
            # Asked after the epoch was read, like the user's row.
            mfa_enabled=mfa.mfa_enabled(loaded) if mfa.mfa_required(loaded) else None,
        )
        _session_seen(session, user_id)
    return loaded


# --- invalidation --------------------------------------------------------------------------------


def _bump_now(user_id: Any) -> None:
    _entries.pop(user_id, None)  # this process needs no round trip to forget
    found = _redis()
    if found is None:
        caches["default"].set(epoch_key(user_id), secrets.randbits(62), timeout=EPOCH_TTL_SECONDS)
        return
    backend, client = found
    client.set(backend.make_and_validate_key(epoch_key(user_id)), secrets.randbits(62), ex=EPOCH_TTL_SECONDS)


def epoch_bump(user_id: Any) -> None:
    """End the user's cached entries in every process: now (raises if Redis is down, so the change
    being made fails with it) and again once the transaction commits (an entry loaded in between,
    from the uncommitted old row, dies then)."""
    _bump_now(user_id)

    def after_commit() -> None:
        try:
            _bump_now(user_id)
        except Exception:  # committed; the pre-commit bump and the entries' age bound it
            log.exception("session user cache: epoch bump after commit failed for user %s", user_id)
            entries_clear()

    transaction.on_commit(after_commit)


def _user_saved(
    sender: Any, instance: User, created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if created or (update_fields is not None and _UNCACHED_ONLY.issuperset(update_fields)):
        return  # a new user has no entry; a sign-in's last_login changes nothing cached
    epoch_bump(instance.pk)


def _user_deleted(sender: Any, instance: User, **kwargs: Any) -> None:
    epoch_bump(instance.pk)


def _authenticator_changed(sender: Any, instance: Any, created: bool = True, **kwargs: Any) -> None:
    # Only whether a second factor exists is cached (mfa_missing); logins save last_used_at.
    if created:
        mfa.changes += 1  # answers remembered on user instances in this process
        epoch_bump(instance.user_id)


def connect() -> None:
    from allauth.mfa.models import Authenticator
    from django.db.models.signals import post_delete, post_save

    post_save.connect(_user_saved, sender=User, dispatch_uid="session-user-cache-save")
    post_delete.connect(_user_deleted, sender=User, dispatch_uid="session-user-cache-delete")
    post_save.connect(
        _authenticator_changed, sender=Authenticator, dispatch_uid="session-user-cache-mfa-save"
    )
    post_delete.connect(
        _authenticator_changed, sender=Authenticator, dispatch_uid="session-user-cache-mfa-delete"
    )
