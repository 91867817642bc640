"""TLS inspection with ssl + cryptography: chain, subject/issuer, SANs, validity, key, signature
algorithm, negotiated protocol and cipher, trust and hostname match. Connects through egress."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from apps.agents.netintel.findings import finding
from apps.core.egress import egress_connect

WEAK_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"}


def _chain_der(tls: ssl.SSLSocket) -> list[bytes]:
    if hasattr(tls, "get_unverified_chain"):  # Python >= 3.13
        return [
            c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in tls.get_unverified_chain()
        ]
    sslobj = getattr(tls, "_sslobj", None)
    if sslobj is not None and hasattr(sslobj, "get_unverified_chain"):  # 3.10-3.12, same code, private name
        der = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
        return [c.public_bytes(der) for c in sslobj.get_unverified_chain() or []]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _key(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    return type(key).__name__, None, None


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *ext.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in ext.get_values_for_type(x509.IPAddress)),
    ]


def hostname_matches(host: str, sans: list[str]) -> bool:
    """RFC 6125: IP hosts match IP SANs; names match DNS SANs, a wildcard covering one left label."""
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for san in sans:
        san = san.lower().rstrip(".")
        if ip is not None:
            try:
                if ipaddress.ip_address(san) == ip:
                    return True
            except ValueError:
                continue
        elif san.startswith("*."):
            label, _, rest = host.partition(".")
            if label and rest == san[2:]:
                return True
        elif san == host:
            return True
    return False


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    key_type, key_size, curve = _key(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key_type": key_type,
        "key_size": key_size,
        "curve": curve,
        "signature_algorithm": cert.signature_algorithm_oid._name,
        "signature_hash": cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None,
        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _trust_context(ca_bundle: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle or None)
    if not ca_bundle and not context.cert_store_stats().get("x509_ca"):
        import certifi

        context.load_verify_locations(certifi.where())
    context.check_hostname = False  # matched separately, to tell a name mismatch from distrust
    return context


def inspect_tls(
    host: str,
    port: int,
    *,
    address: str,
    timeout: float,
    ca_bundle: str = "",
    task_id: object = None,
    expiry_warning_days: int = 30,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    server_name = None if _is_ip(host) else host
    loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    with (
        egress_connect(host, port, timeout=timeout, task_id=task_id, address=address) as sock,
        loose.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        protocol, cipher = tls.version(), tls.cipher()
        chain = [x509.load_der_x509_certificate(der) for der in _chain_der(tls)]
    if not chain:
        raise ssl.SSLError("The server sent no certificate.")
    verify_error = None
    try:
        with (
            egress_connect(host, port, timeout=timeout, task_id=task_id, address=address) as sock,
            _trust_context(ca_bundle).wrap_socket(sock, server_hostname=server_name),
        ):
            pass
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc.verify_message or str(exc)
    leaf = chain[0]
    sans = _sans(leaf)
    now = dt.datetime.now(dt.UTC)
    days_left = (leaf.not_valid_after_utc - now).days
    self_signed = leaf.subject == leaf.issuer
    info = {
        "host": host,
        "port": port,
        "address": address,
        "protocol": protocol,
        "cipher": {"name": cipher[0], "protocol": cipher[1], "bits": cipher[2]} if cipher else None,
        **_describe(leaf),
        "sans": sans,
        "days_to_expiry": days_left,
        "expired": now > leaf.not_valid_after_utc,
        "not_yet_valid": now < leaf.not_valid_before_utc,
        "self_signed": self_signed,
        "trusted": verify_error is None,
        "verify_error": verify_error,
        "hostname_match": hostname_matches(host, sans),
        "chain": [
            {
                "subject": c.subject.rfc4514_string(),
                "issuer": c.issuer.rfc4514_string(),
                "not_after": c.not_valid_after_utc.isoformat(),
            }
            for c in chain
        ],
    }
    return info, _findings(info, expiry_warning_days)


def _findings(info: dict[str, Any], warning_days: int) -> list[dict[str, Any]]:
    where = f"{info['host']}:{info['port']}"
    found = []
    if info["expired"]:
        found.append(
            finding(
                "critical",
                "tls",
                "Certificate expired",
                f"{where} certificate expired on {info['not_after'][:10]} "
                f"({-info['days_to_expiry']} days ago)",
                "Renew the certificate and automate renewal (e.g. ACME).",
            )
        )
    elif info["not_yet_valid"]:
        found.append(
            finding(
                "high",
                "tls",
                "Certificate not yet valid",
                f"{where} valid from {info['not_before']}",
                "Check the server clock and the certificate's validity dates.",
            )
        )
    elif info["days_to_expiry"] < warning_days:
        found.append(
            finding(
                "high" if info["days_to_expiry"] < 7 else "medium",
                "tls",
                "Certificate expires soon",
                f"{where} certificate expires in {info['days_to_expiry']} days ({info['not_after'][:10]})",
                "Renew the certificate before it expires.",
            )
        )
    if info["self_signed"]:
        found.append(
            finding(
                "high",
                "tls",
                "Self-signed certificate",
                f"{where} subject equals issuer: {info['issuer']}",
                "Use a certificate from a trusted CA.",
            )
        )
    elif not info["trusted"] and not info["expired"]:
        found.append(
            finding(
                "high",
                "tls",
                "Untrusted certificate chain",
                f"{where}: {info['verify_error']}",
                "Serve the full chain up to a trusted root.",
            )
        )
    if not info["hostname_match"]:
        found.append(
            finding(
                "high",
                "tls",
                "Certificate does not match the host name",
                f"{info['host']} is not among {', '.join(info['sans']) or 'no SANs'}",
                "Issue a certificate whose subjectAltName covers the host name.",
            )
        )
    if info["key_type"] == "RSA" and (info["key_size"] or 0) < 2048:
        found.append(
            finding(
                "high",
                "tls",
                "Weak RSA key",
                f"{info['key_size']}-bit RSA key",
                "Use RSA 2048+ or an ECDSA P-256 key.",
            )
        )
    if info["signature_hash"] in ("md5", "sha1"):
        found.append(
            finding(
                "high",
                "tls",
                "Weak certificate signature",
                info["signature_algorithm"],
                "Re-issue the certificate with a SHA-256 signature.",
            )
        )
    if info["protocol"] in WEAK_PROTOCOLS:
        found.append(
            finding(
                "high",
                "tls",
                "Obsolete TLS protocol negotiated",
                f"{where} negotiated {info['protocol']}",
                "Disable TLS 1.0/1.1 and SSL; allow TLS 1.2 and 1.3 only.",
            )
        )
    return found


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
