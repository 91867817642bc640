"""A RabbitMQ broker for the event-sink tests: Debian's rabbitmq-server (`make rabbitmq` installs
it), run by the test session as a child process with its own node name, ports, data and log
directories, and stopped at the end. Kept small for a shared machine: one Erlang scheduler, no
busy-waiting, no plugins. The Erlang port mapper (epmd) it starts listens on a port of its own
(ERL_EPMD_PORT) and is stopped with the broker, so no daemon outlives the session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from amas.stack import free_port

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def available() -> bool:
    return SERVER.exists()


@dataclass
class RabbitMQServer:
    host: str = "127.0.0.1"
    port: int = 0
    root: Path | None = None
    epmd_port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/"

    def environment(self) -> dict[str, str]:
        assert self.root is not None
        (self.root / "rabbitmq.conf").write_text("loopback_users.guest = true\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        return {
            **os.environ,
            "HOME": str(self.root),  # the Erlang cookie goes here
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_NODENAME": f"amas-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port(self.host)),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_LOGS": str(self.root / "log" / "rabbit.log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none",
        }

    def start(self, timeout: float = 120.0) -> None:
        """Start the broker and wait until it accepts an AMQP connection."""
        import amqp

        if not available():
            raise RuntimeError("rabbitmq-server is not installed (make rabbitmq)")
        self.root = Path(tempfile.mkdtemp(prefix="amas-rabbitmq-"))
        self.port = self.port or free_port(self.host)
        self.epmd_port = free_port(self.host)
        log = (self.root / "server.out").open("wb")
        self.process = subprocess.Popen(
            [str(SERVER)],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.output_tail()
                self.stop()
                raise RuntimeError(f"rabbitmq-server exited:\n{tail}")
            try:
                with amqp.Connection(f"{self.host}:{self.port}", connect_timeout=2) as connection:
                    connection.channel()
                return
            except Exception as exc:  # not up yet: refused, handshake reset
                last_error = exc
                time.sleep(0.5)
        tail = self.output_tail()
        self.stop()
        raise RuntimeError(f"RabbitMQ did not accept AMQP in {timeout:.0f} s ({last_error}):\n{tail}")

    def output_tail(self, lines: int = 30) -> str:
        if self.root is None or not (self.root / "server.out").exists():
            return ""
        return "\n".join((self.root / "server.out").read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)  # the script and the Erlang VM
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
            self.process = None
        if self.epmd_port:
            # The node is gone, so epmd has nothing registered and exits on -kill.
            subprocess.run(
                ["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True, timeout=10, check=False
            )
            self.epmd_port = 0
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
