"""The largest batch whose predicted training peak fits a memory capacity.

Uses the exact peak model (:func:`convcost.model.train_peak`, one fake training step per
probe). The peak is assumed to grow with the batch (it does for every model we know); the
search keeps a batch that fits and one that does not, guesses the boundary from the two
(the peak is close to affine in the batch) and narrows until they are adjacent, so the
answer is checked exactly: ``batch`` fits and ``batch + 1`` does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .spec import InputSpec, parse_input_text

MAX_BATCH = 1 << 24


@dataclass(frozen=True)
class FitResult:
    """``batch`` — largest batch that fits (0: not even 1); ``peak_bytes`` its predicted
    training peak; ``next_peak_bytes`` the peak at ``batch + 1`` (which exceeds
    ``capacity``); ``probes`` every (batch, peak) evaluated. ``basis`` says which peak:
    ``"live"`` (live tensor bytes) or ``"reserved"`` (the CUDA caching allocator's reserved
    bytes over a training loop); on a device, ``capacity`` is its usable bytes, ``total``
    its memory and ``reserve`` the difference (0 when not on a device)."""

    batch: int
    peak_bytes: int
    next_peak_bytes: int
    capacity: int
    probes: tuple[tuple[int, int], ...]
    basis: str = "live"
    total: int = 0
    reserve: int = 0

    @property
    def clearance(self) -> int:
        """Bytes of ``capacity`` left at ``batch``'s peak."""
        return self.capacity - self.peak_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "batch": self.batch,
            "peak_bytes": self.peak_bytes,
            "next_peak_bytes": self.next_peak_bytes,
            "capacity_bytes": self.capacity,
            "probes": [list(p) for p in self.probes],
            "basis": self.basis,
            "total_bytes": self.total or self.capacity,
            "reserve_bytes": self.reserve,
            "clearance_bytes": self.clearance if self.batch else None,
        }


def _with_batch(x: Any, b: int) -> Any:
    if isinstance(x, InputSpec) and x.shape:  # a scalar (rank 0) has no batch
        return InputSpec((b, *x.shape[1:]), x.dtype, x.requires_grad)
    return x


def _as_specs(inputs: Sequence[Any]) -> list[Any]:
    import torch

    out = []
    for x in inputs:
        if isinstance(x, torch.Tensor):
            out.append(InputSpec(tuple(x.shape), str(x.dtype).removeprefix("torch.")))
        elif isinstance(x, str):
            dims, dt, grad = parse_input_text("inputs", x)
            out.append(InputSpec(dims, dt or "float32", grad))
        elif isinstance(x, (tuple, list)) and all(isinstance(d, int) for d in x):
            out.append(InputSpec(tuple(x)))
        else:
            out.append(x)
    return out


def fit_batch(
    model: Any,
    inputs: Sequence[Any],
    capacity: int,
    *,
    kwargs: Mapping[str, Any] | None = None,
    measure: Callable[[Any], float] | None = None,
    **options: Any,
) -> FitResult:
    """Largest batch (dimension 0 of every input) whose training peak is ≤ ``capacity`` bytes.

    ``options`` are those of :func:`convcost.model.train_memory` (dtype, amp, optimizer,
    freeze, input_grad). ``measure`` turns that :class:`~convcost.memory.model.RunMemory`
    into the bytes compared with ``capacity`` (default: the larger of the first and later
    steps' peaks; a sharded strategy passes its per-device peak).
    """
    from .model import train_memory

    if capacity <= 0:
        raise SpecError("capacity", capacity, "must be positive")
    args = _as_specs(inputs)
    kw = dict(zip(kwargs or {}, _as_specs(list((kwargs or {}).values()))))
    probes: dict[int, int] = {}

    def peak(b: int) -> int:
        if b not in probes:
            mem = train_memory(
                model,
                [_with_batch(a, b) for a in args],
                kwargs={k: _with_batch(v, b) for k, v in kw.items()} or None,
                **options,
            )
            probes[b] = int(measure(mem) if measure else max(mem.peak, mem.steady_peak))
        return probes[b]

    if peak(1) > capacity:
        return FitResult(0, 0, probes[1], capacity, tuple(sorted(probes.items())))
    lo, hi = 1, 0  # lo fits; hi (when > 0) does not
    b = 2
    while hi == 0:
        # secant guess from the two largest fitting probes, at least doubling
        guess = _guess(probes, lo, capacity)
        b = max(b, min(guess, MAX_BATCH))
        if peak(b) <= capacity:
            lo = b
            if b >= MAX_BATCH:
                raise SpecError("capacity", capacity, f"fits more than {MAX_BATCH} samples")
            b = 2 * b
        else:
            hi = b
    while hi - lo > 1:
        guess = _guess(probes, lo, capacity)
        mid = guess if lo < guess < hi else (lo + hi) // 2
        if mid == lo:
            mid = lo + 1
        if mid == hi:
            mid = hi - 1
        if peak(mid) <= capacity:
            lo = mid
        else:
            hi = mid
    return FitResult(lo, probes[lo], probes[hi], capacity, tuple(sorted(probes.items())))


def _guess(probes: Mapping[int, int], lo: int, capacity: int) -> int:
    """Batch at which the line through the two probes nearest ``lo`` reaches ``capacity``."""
    pts = sorted(probes.items())
    below = [p for p in pts if p[0] <= lo]
    if len(pts) < 2:
        return 2 * lo
    (b0, p0), (b1, p1) = (below[-2], below[-1]) if len(below) >= 2 else (pts[0], pts[1])
    if p1 <= p0:
        return 2 * lo
    slope = (p1 - p0) / (b1 - b0)
    return int(b1 + (capacity - p1) // slope)
