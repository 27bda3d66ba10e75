"""Per-dimension tap geometry of a convolution.

Along one spatial dimension a convolution (viewed as the non-transposed op, input length
``L``, output length ``O``) has *taps*: pairs (output position ``o``, kernel offset ``k``).
A tap reads input coordinate ``o·s − p_begin + k·d``; it is *in bounds* when that
coordinate lies in ``[0, L)``. Everything the counting conventions need per dimension is
derived here in O(K log K) without enumerating taps.
"""

from __future__ import annotations

from typing import NamedTuple


class DimTaps(NamedTuple):
    """Tap statistics along one dimension (all counts of positions or pairs).

    * ``taps`` — T: in-bounds taps.
    * ``reached`` — R: distinct padded-input positions ``o·s + k·d`` reached by any tap.
    * ``out_valid`` — V_out: output positions with at least one in-bounds tap.
    * ``kernel_valid`` — V_k: kernel offsets with at least one in-bounds tap.
    * ``in_valid`` — V_in: input positions read by at least one in-bounds tap.
    """

    taps: int
    reached: int
    out_valid: int
    kernel_valid: int
    in_valid: int


def dim_taps(
    in_len: int, out_len: int, kernel: int, stride: int, dilation: int, pad_begin: int
) -> DimTaps:
    """Tap statistics for one dimension of a convolution (see :class:`DimTaps`)."""
    s = stride
    taps = 0
    kernel_valid = 0
    out_intervals: list[tuple[int, int]] = []
    in_progressions: list[tuple[int, int]] = []
    all_progressions: list[tuple[int, int]] = []
    for k in range(kernel):
        offset = k * dilation - pad_begin
        all_progressions.append((k * dilation, out_len))
        lo = max(0, -(offset // s))
        hi = min(out_len - 1, (in_len - 1 - offset) // s)
        if hi < lo:
            continue
        n = hi - lo + 1
        taps += n
        kernel_valid += 1
        out_intervals.append((lo, hi))
        in_progressions.append((lo * s + offset, n))
    return DimTaps(
        taps=taps,
        reached=_union_progressions(all_progressions, s),
        out_valid=_union_intervals(out_intervals),
        kernel_valid=kernel_valid,
        in_valid=_union_progressions(in_progressions, s),
    )


def _union_intervals(intervals: list[tuple[int, int]]) -> int:
    """Number of integers covered by closed intervals ``[lo, hi]``."""
    total = 0
    end = None
    for lo, hi in sorted(intervals):
        if end is None or lo > end:
            total += hi - lo + 1
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def _union_progressions(progressions: list[tuple[int, int]], step: int) -> int:
    """Number of distinct integers in progressions ``first, first+step, …`` (``count`` terms)."""
    by_residue: dict[int, list[tuple[int, int]]] = {}
    for first, count in progressions:
        r = first % step
        start = (first - r) // step
        by_residue.setdefault(r, []).append((start, start + count - 1))
    return sum(_union_intervals(iv) for iv in by_residue.values())
