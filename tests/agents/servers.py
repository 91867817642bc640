"""Remote parties the network agents talk to, run locally on free ports and speaking the real wire
formats: a DNS server (dnslib, UDP), HTTP(S) servers for web pages and RDAP JSON, and X.509
certificates made on the spot with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from dnslib import QTYPE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSServer

# --- DNS -----------------------------------------------------------------------------------------


class ZoneResolver(BaseResolver):
    """Answers from zone-file lines; counts the questions it was asked. Names not in the zone get
    NXDOMAIN. `answers` may map a name to a callable returning zone lines (rebinding tests)."""

    def __init__(self, zone: str, dynamic: dict[str, Callable[[], str]] | None = None) -> None:
        self.records = RR.fromZone(zone) if zone.strip() else []
        self.dynamic = dynamic or {}
        self.questions: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        name = str(qname).rstrip(".").lower()
        with self.lock:
            self.questions.append((name, qtype))
        records = self.records
        if name in self.dynamic:
            records = RR.fromZone(self.dynamic[name]())
        known = False
        for rr in records:
            if str(rr.rname).rstrip(".").lower() == name:
                known = True
                if qtype == "ANY" or QTYPE[rr.rtype] == qtype:
                    reply.add_answer(rr)
        if not known:
            reply.header.rcode = 3  # NXDOMAIN
        return reply

    def asked(self, name: str, qtype: str | None = None) -> int:
        return sum(1 for n, t in self.questions if n == name and (qtype is None or t == qtype))


@contextmanager
def dns_server(
    zone: str, dynamic: dict[str, Callable[[], str]] | None = None
) -> Iterator[tuple[str, ZoneResolver]]:
    """Yields ('127.0.0.1:<port>', resolver)."""
    resolver = ZoneResolver(zone, dynamic)
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=_QuietDNSLogger())
    server.start_thread()
    try:
        yield f"127.0.0.1:{server.server.server_address[1]}", resolver
    finally:
        server.stop()
        server.server.server_close()


class _QuietDNSLogger:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds between body chunks (slow servers)
    chunks: int = 1

    @classmethod
    def json(cls, data: object, status: int = 200, content_type: str = "application/json") -> Reply:
        return cls(status, json.dumps(data), [("Content-Type", content_type)])

    @classmethod
    def html(cls, text: str, headers: list[tuple[str, str]] | None = None, status: int = 200) -> Reply:
        return cls(status, text, [("Content-Type", "text/html; charset=utf-8"), *(headers or [])])

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, b"", [("Location", location)])


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestServer"  # no version: the banner check must not fire on the test server
    routes: dict[str, Reply | Callable[[Seen], Reply]] = {}
    seen: list[Seen] = []

    def log_message(self, *args: object) -> None:
        return

    def _answer(self) -> None:
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        self.seen.append(seen)
        route = self.routes.get(self.path) or self.routes.get(self.path.split("?")[0]) or self.routes.get("*")
        if route is None:
            route = Reply(404, "not found", [("Content-Type", "text/plain")])
        reply = route(seen) if callable(route) else route
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response_only(reply.status)
        self.send_header("Date", self.date_time_string())
        if not any(name.lower() == "server" for name, _ in reply.headers):
            self.send_header("Server", self.server_version)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        size = max(1, len(body) // reply.chunks)
        for start in range(0, len(body), size):
            try:
                self.wfile.write(body[start : start + size])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            if reply.delay:
                threading.Event().wait(reply.delay)

    do_GET = do_POST = do_HEAD = _answer


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@dataclass
class RunningServer:
    host: str
    port: int
    scheme: str
    seen: list[Seen]

    def url(self, path: str = "/", host: str | None = None) -> str:
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{name}:{self.port}{path}"


@contextmanager
def http_server(
    routes: dict[str, Reply | Callable[[Seen], Reply]],
    *,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> Iterator[RunningServer]:
    seen: list[Seen] = []
    handler = type("Handler", (_Handler,), {"routes": routes, "seen": seen})
    server_class = _V6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield RunningServer(host, server.server_address[1], "https" if tls else "http", seen)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def tcp_listener() -> Iterator[int]:
    """An open TCP port on 127.0.0.1 that accepts and closes connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(1)
        sock.close()


def free_closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- certificates --------------------------------------------------------------------------------


@dataclass
class Issued:
    cert: x509.Certificate
    key: object
    cert_path: Path
    key_path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AMAS Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    directory: Path,
    label: str,
    *,
    common_name: str,
    sans: list[str] = (),
    issuer: Issued | None = None,
    ca: bool = False,
    days_valid: tuple[int, int] = (-1, 365),
    key_type: str = "rsa",
    key_size: int = 2048,
) -> Issued:
    """A certificate valid from now+days_valid[0] to now+days_valid[1]; self-signed without an
    issuer. SANs that parse as IPs become IP SANs."""
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if key_type == "ec"
        else rsa.generate_private_key(65537, key_size)
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days_valid[0]))
        .not_valid_after(now + dt.timedelta(days=days_valid[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    cert_path, key_path = directory / f"{label}.crt", directory / f"{label}.key"
    chain = cert.public_bytes(serialization.Encoding.PEM)
    if issuer is not None and not ca:
        chain += issuer.cert.public_bytes(serialization.Encoding.PEM)  # serve the chain
    cert_path.write_bytes(chain)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Issued(cert, key, cert_path, key_path)


def server_tls(issued: Issued) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_path, issued.key_path)
    return context
