"""Host artefacts named in reports: Windows registry keys, Windows and POSIX file paths, MITRE
ATT&CK technique ids and autonomous system numbers."""

from __future__ import annotations

import re

_HIVES = (
    r"HKEY_LOCAL_MACHINE|HKEY_CURRENT_USER|HKEY_CLASSES_ROOT|HKEY_USERS|HKEY_CURRENT_CONFIG|"
    r"HKLM|HKCU|HKCR|HKU|HKCC"
)
# A segment may contain spaces ("Windows NT") only when another segment follows it, so prose after
# the last segment ("...\Run and sets") is not swallowed.
_SEG = r"[^\\\s\"'<>|*?,;:%`]+"
_SPACED_SEG = _SEG + r"(?: " + _SEG + r"){0,3}"
REGISTRY_RE = re.compile(
    r"(?<![\w\\])(?:" + _HIVES + r")(?::)?(?:\\" + _SPACED_SEG + r"(?=\\))*\\" + _SEG, re.IGNORECASE
)
WINDOWS_PATH_RE = re.compile(
    r"(?<![\w\\/)%])(?:[A-Za-z]:|%[A-Za-z_]{2,30}%|\\\\[\w.$-]+\\[\w.$-]+)"
    r"(?:\\"
    + _SPACED_SEG
    + r"(?=\\))*\\"
    # a last segment with spaces only when the path ends its line ("...\\Schedule Scan Helper")
    + r"(?:"
    + _SPACED_SEG
    + r"(?=[ \t]*$)|"
    + _SEG
    + r")",
    re.MULTILINE,
)
# POSIX paths start at a root directory; a bare "/api/v1" in prose is a URL path, not a file.
POSIX_ROOTS = (
    "etc", "tmp", "var", "usr", "bin", "sbin", "home", "root", "dev", "proc", "opt", "lib", "lib64",
    "boot", "mnt", "srv", "run", "sys", "media", "Library", "Users", "System", "Applications", "private",
)  # fmt: skip
POSIX_PATH_RE = re.compile(
    r"(?<![\w.~:/\\%-])(?:~|/(?:" + "|".join(POSIX_ROOTS) + r"))(?:/[\w.+@-]+)+/?", re.UNICODE
)
ATTACK_RE = re.compile(r"(?<![\w.-])T1\d{3}(?:\.\d{3})?(?![\w]|\.\d)")
ASN_RE = re.compile(r"(?<![\w-])(?:ASN\s?|AS (?=\d{3})|AS)(?P<number>\d{1,10})(?![\w]|[.-]\d)")
_TRAILING = ".,;:!?)]}'\""


def trim(raw: str) -> str:
    while raw and raw[-1] in _TRAILING:
        raw = raw[:-1]
    return raw


def asn_valid(number: int) -> bool:
    # 0 and 4294967295 are reserved; 23456 is AS_TRANS, a placeholder and never an operator
    return 0 < number < 4294967295 and number != 23456
