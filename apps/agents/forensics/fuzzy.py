"""ssdeep fuzzy hashes: the compiled libfuzzy (Debian's `libfuzzy2`, the reference ssdeep
implementation) through ctypes when the host has it, else ppdeep (pure Python, same output, many
times slower). No PyPI binding ships a manylinux wheel, hence ctypes over the system library."""

from __future__ import annotations

import ctypes
import ctypes.util

import ppdeep

FUZZY_MAX_RESULT = 148  # 2 * SPAMSUM_LENGTH + 20, from fuzzy.h


def _load() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("fuzzy")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
    except OSError:
        return None
    library.fuzzy_hash_buf.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p]
    library.fuzzy_hash_buf.restype = ctypes.c_int
    library.fuzzy_compare.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    library.fuzzy_compare.restype = ctypes.c_int
    return library


_LIBFUZZY = _load()
ENGINE = "libfuzzy" if _LIBFUZZY is not None else "ppdeep"


def fuzzy_hash(data: bytes) -> str:
    if _LIBFUZZY is not None and len(data) < 2**32:
        out = ctypes.create_string_buffer(FUZZY_MAX_RESULT)
        if _LIBFUZZY.fuzzy_hash_buf(data, len(data), out) == 0:
            return out.value.decode("ascii")
    return ppdeep.hash(data)


def fuzzy_compare(a: str, b: str) -> int:
    """0-100 like `ssdeep -d`."""
    if _LIBFUZZY is not None:
        score = _LIBFUZZY.fuzzy_compare(a.encode(), b.encode())
        if score >= 0:
            return score
    return int(ppdeep.compare(a, b))
