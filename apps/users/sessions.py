"""The session engine (settings.SESSION_ENGINE): Django's cached_db sessions whose cache read also
fetches, in the same Redis round trip (MGET), the epoch of the user this process last saw signed
in with the session (for apps.users.session_user) and, in an HTTP request, the configuration
version with its companion keys (apps.core.config_cache's offer, taken by the request's first
pinned block: a task submission's). A signed-in POST then asks Redis once before its rate limits,
not three times. Everything else (writes, the database fallback, expiry) is cached_db's; the stored
data are the same, so sessions survive switching engines in either direction."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import cached_db

from apps.core import config_cache
from apps.users import session_user


class SessionStore(cached_db.SessionStore):
    def load(self) -> dict[str, Any]:
        user_id = session_user.user_of_session(self.session_key)
        epoch_key = None if user_id is None else session_user.epoch_key(user_id)
        # The configuration version lives in the default cache; the session's must be that one.
        config_keys = config_cache.version_offer_keys() if settings.SESSION_CACHE_ALIAS == "default" else []
        if epoch_key is None and not config_keys:
            return super().load()
        keys = [self.cache_key, *([epoch_key] if epoch_key else []), *config_keys]
        try:
            found = self._cache.get_many(keys)  # type: ignore[attr-defined]
        except Exception:  # as cached_db: the cache failing is not the session failing
            return super().load()
        if config_keys:
            config_cache.version_offer_fill(found)
        data = found.get(self.cache_key)
        if data is None:  # not cached (evicted, or written while the cache was down): the database
            return super().load()
        if user_id is not None and epoch_key is not None:
            session_user.epoch_prefetched(self, user_id, found.get(epoch_key))
        return data
