"""The one place numbers are humanised for people (never for machine formats)."""

from __future__ import annotations

_SI = ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
_BIN = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def si(n: int | float, unit: str = "") -> str:
    """``118013952 -> '118.01 M'`` (decimal prefixes, 2 decimals; small numbers exact)."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n:,} {unit}".rstrip() if isinstance(n, int) else f"{n:.3g} {unit}".rstrip()


def nbytes(n: int | float) -> str:
    """``3851008 -> '3.67 MiB'`` (binary prefixes)."""
    for scale, unit in _BIN:
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n):,} B"


def exact(n: int) -> str:
    """``118013952 -> '118,013,952'``."""
    return f"{n:,}"
