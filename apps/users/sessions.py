"""The session engine (settings.SESSION_ENGINE): Django's cached_db sessions whose cache read also
fetches the epoch of the user this process last saw signed in with the session, in the same Redis
round trip (MGET), for apps.users.session_user: a signed-in request then asks Redis once before
its rate limits, not twice. Everything else (writes, the database fallback, expiry) is cached_db's;
the stored data are the same, so sessions survive switching engines in either direction."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import cached_db

from apps.users import session_user


class SessionStore(cached_db.SessionStore):
    def load(self) -> dict[str, Any]:
        user_id = session_user.user_of_session(self.session_key)
        if user_id is None:
            return super().load()
        epoch_key = session_user.epoch_key(user_id)
        try:
            found = self._cache.get_many([self.cache_key, epoch_key])  # type: ignore[attr-defined]
        except Exception:  # as cached_db: the cache failing is not the session failing
            return super().load()
        data = found.get(self.cache_key)
        if data is None:  # not cached (evicted, or written while the cache was down): the database
            return super().load()
        session_user.epoch_prefetched(self, user_id, found.get(epoch_key))
        return data
