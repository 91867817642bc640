"""Celery's Redis broker transport (kombu 5.7), with one fix for reconnecting after a Redis restart.

When the worker loses its broker connection, Celery collects the old kombu Connection, which
clears `transport.client`, and then closes it. A channel still open at that point (its first close
broke off on the dead socket) restores its unacknowledged messages on close; kombu then builds a
new connection pool from `transport.client.hostname`, which is None by now. The AttributeError
escapes `Connection.close()` (Celery's `ignore_errors` only ignores connection errors) and the
consumer dies with it: the worker exited and had to be restarted (seen after a Redis restart).

This channel remembers the broker address it was opened with and lends it back to its released
transport, so the restore reaches Redis (the messages go back to their queue at once) or fails
with a connection error, which kombu and Celery handle. Selected by CELERY_BROKER_TRANSPORT for
redis:// broker URLs (amas/settings/base.py); tests/resilience/test_broker_transport.py
reproduces the sequence against a real Redis.

It also reuses one redis-py client per channel for the synchronous commands (a publish's LPUSH):
kombu builds a new `redis.Redis` around the channel's connection pool for every command, whose
constructor was about a fifth of a step message's publish CPU (cProfile). A client holds no
connection of its own (each command checks one out of the pool and returns it), so sharing it is
what kombu does already minus the construction; it is rebuilt when the channel's pool is replaced
(kombu drops its pools after a fork and on close).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    def __init__(self, connection: Any, *args: Any, **kwargs: Any) -> None:
        self._opened_with = connection.client  # the kombu Connection: address, credentials, TLS
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict:
        transport = self.connection
        if transport.client is None and self._opened_with is not None:
            # Released by Connection.collect(): nothing else uses this transport any more (a
            # reconnect creates a new one), only this channel's restore of unacked messages.
            transport.client = self._opened_with
        return super()._connparams(asynchronous=asynchronous)

    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's BRPOP client: kombu caches it itself (Channel.client)
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
