"""PE depth: version-info strings, Authenticode signature presence and subject, long section
names from the COFF string table; a broken signature is reported, not fatal."""

import datetime as dt
import struct
from pathlib import Path

import pip
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from apps.agents.forensics.pe import pe_metadata
from tests.agents import fixtures_files as ff


def _signed_blob() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AMAS Test Publisher")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    der = (
        pkcs7.PKCS7SignatureBuilder().set_data(b"x").add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )  # fmt: skip
    return struct.pack("<IHH", len(der) + 8, 0x200, 2) + der  # WIN_CERTIFICATE


def _with_security_directory(pe: bytes, blob: bytes) -> bytes:
    data = bytearray(pe)
    pe_offset = struct.unpack_from("<I", data, 0x3C)[0]
    directory = pe_offset + 24 + 96 + 4 * 8  # PE32 optional header, data directory 4
    struct.pack_into("<II", data, directory, len(data), len(blob))
    return bytes(data) + blob


def test_version_info_of_pips_launcher():
    launcher = Path(pip.__file__).parent / "_vendor" / "distlib" / "w64.exe"
    meta = pe_metadata(launcher.read_bytes())
    assert meta["version_info"]["OriginalFilename"] == "w64.exe"
    assert meta["signature"] == {"present": False}


def test_authenticode_signature_subject():
    meta = pe_metadata(_with_security_directory(ff.small_pe(), _signed_blob()))
    assert meta["signature"]["present"] is True and meta["signature"]["verified"] is False
    assert meta["signature"]["certificates"][0]["subject"] == "CN=AMAS Test Publisher"


def test_a_broken_signature_is_reported():
    meta = pe_metadata(_with_security_directory(ff.small_pe(), b"\x10\x00\x00\x00\x00\x02\x02\x00garbage!"))
    assert meta["signature"]["present"] is True and "PKCS#7" in meta["signature"]["error"]


def test_long_section_names_from_the_string_table():
    data = bytearray(ff.small_pe())
    pe_offset = struct.unpack_from("<I", data, 0x3C)[0]
    optional_size = struct.unpack_from("<H", data, pe_offset + 20)[0]
    first_section = pe_offset + 24 + optional_size
    data[first_section : first_section + 8] = b"/4\0\0\0\0\0\0"
    struct.pack_into("<II", data, pe_offset + 12, len(data), 0)  # PointerToSymbolTable, no symbols
    strings = b".debug_info\0"
    data += struct.pack("<I", 4 + len(strings)) + strings
    assert pe_metadata(bytes(data))["long_section_names"] == {"/4": ".debug_info"}
