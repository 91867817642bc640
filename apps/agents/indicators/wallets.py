"""Cryptocurrency addresses: Bitcoin (base58check P2PKH/P2SH, bech32/bech32m segwit), Ethereum
and Monero. Bitcoin addresses carry checksums, so a match that validates is an address and not a
random base58 word; Ethereum's mixed-case checksum (EIP-55) and Monero's need Keccak-256, which
the standard library lacks, so those two rest on shape plus context."""

from __future__ import annotations

import hashlib
import re

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3

BTC_BASE58_RE = re.compile(r"(?<![\w])[13][1-9A-HJ-NP-Za-km-z]{25,34}(?![\w])")
BTC_BECH32_RE = re.compile(r"(?<![\w])(?:bc1[ac-hj-np-z02-9]{8,87}|BC1[AC-HJ-NP-Z02-9]{8,87})(?![\w])")
ETH_RE = re.compile(r"(?<![\w])0x[0-9a-fA-F]{40}(?![\w])")
# Standard (4...) and subaddresses (8...) are 95 characters; integrated addresses 106.
XMR_RE = re.compile(r"(?<![\w])[48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?(?![\w])")


def base58_decode(text: str) -> bytes | None:
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            return None
        number = number * 58 + _B58_INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def btc_base58_valid(address: str) -> bool:
    raw = base58_decode(address)
    if raw is None or len(raw) != 25 or raw[0] not in (0x00, 0x05):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


def _polymod(values: list[int]) -> int:
    generators = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(generators):
            check ^= generator if (top >> i) & 1 else 0
    return check


def btc_bech32_valid(address: str) -> bool:
    """BIP-173/BIP-350: bech32 for witness version 0, bech32m for versions 1-16."""
    address = address.lower()
    hrp, _, data_part = address.rpartition("1")
    if hrp != "bc" or len(data_part) < 7:
        return False
    data = [_BECH32.index(c) for c in data_part]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _polymod(expanded + data)
    version = data[0]
    if version > 16 or const != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    # the witness program (5-bit groups -> bytes) is 2..40 bytes, exactly 20 or 32 for version 0
    program_bits = (len(data) - 7) * 5
    length = program_bits // 8
    return 2 <= length <= 40 and (version != 0 or length in (20, 32))


def eth_checksum_shape(address: str) -> bool:
    """All-lower or all-upper hex carries no checksum; mixed case is an EIP-55 checksum we
    cannot verify without Keccak-256, so it counts as shape only."""
    digits = address[2:]
    return digits == digits.lower() or digits == digits.upper()
