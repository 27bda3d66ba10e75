"""Element types and their sizes in bytes."""

from __future__ import annotations

from .errors import SpecError

#: Canonical dtype name -> bytes per element.
DTYPE_BYTES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2": 1,
    "float8_e5m2fnuz": 1,
    "int8": 1,
}

#: Accepted spellings -> canonical name.
DTYPE_ALIASES: dict[str, str] = {
    "fp64": "float64",
    "double": "float64",
    "fp32": "float32",
    "float": "float32",
    "fp16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "fp8": "float8_e4m3fn",
    "fp8_e4m3": "float8_e4m3fn",
    "fp8_e5m2": "float8_e5m2",
}


def canonical_dtype(name: str) -> str:
    """Return the canonical dtype name for ``name`` (case-insensitive, aliases accepted).

    Raises :class:`SpecError` for an unknown dtype.
    """
    key = str(name).strip().lower().removeprefix("torch.")
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        allowed = ", ".join(DTYPE_BYTES)
        raise SpecError("dtype", name, f"allowed: {allowed} (or fp64/fp32/fp16/bf16/fp8)")
    return key


def dtype_bytes(name: str) -> int:
    """Bytes per element of dtype ``name``."""
    return DTYPE_BYTES[canonical_dtype(name)]
