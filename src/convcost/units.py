"""The one place numbers are written for people: SI and binary prefixes, exact integers with
thousands separators, durations, percentages. Machine formats (CSV, JSON) never use these.
"""

from __future__ import annotations

from collections.abc import Sequence

_SI = ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
_BIN = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def _scaled(n: int | float, scale: int) -> str:
    """``n / scale`` with 2 decimals; an integer too large for a float is divided exactly
    (rounded half up) instead of overflowing."""
    try:
        return f"{n / scale:.2f}"
    except OverflowError:
        q = (abs(int(n)) * 100 + scale // 2) // scale
        return f"{'-' if n < 0 else ''}{q // 100}.{q % 100:02d}"


def si(n: int | float, unit: str = "") -> str:
    """``118013952 -> '118.01 M'`` (decimal prefixes, 2 decimals; small numbers exact)."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{_scaled(n, scale)} {prefix}{unit}"
    return f"{n:,} {unit}".rstrip() if isinstance(n, int) else f"{n:.3g} {unit}".rstrip()


def nbytes(n: int | float) -> str:
    """``3851008 -> '3.67 MiB'`` (binary prefixes)."""
    for scale, unit in _BIN:
        if abs(n) >= scale:
            return f"{_scaled(n, scale)} {unit}"
    return f"{int(n):,} B"


def exact(n: int) -> str:
    """``118013952 -> '118,013,952'``."""
    return f"{n:,}"


def exact_si(n: int) -> str:
    """``118013952 -> '118,013,952 (118.01 M)'``; below 10,000 just the exact number."""
    return f"{exact(n)} ({si(n)})" if n >= 10**4 else exact(n)


def seconds(t: float) -> str:
    """``0.0123 -> '12.3 ms'`` (s, ms or µs, three significant digits)."""
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def milliseconds(t: float) -> str:
    """``0.0123 -> '12.3 ms'`` (always milliseconds, three significant digits)."""
    return f"{t * 1e3:.3g} ms"


def percent(fraction: float) -> str:
    """``0.4567 -> '45.7%'``."""
    return f"{100 * fraction:.1f}%"


def shape(dims: Sequence[int] | None, sep: str = "×") -> str:
    """``(8, 3, 224, 224) -> '8×3×224×224'`` (``''`` for no shape)."""
    return "" if dims is None else sep.join(map(str, dims))
