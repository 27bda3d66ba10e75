"""A training step's allocator events at any batch, from two traced batches.

For most models the trace at batch ``b`` runs the same ops in the same order at every batch
and each storage's size is affine in ``b``: activations and gradients of activations
proportional to it, parameters, gradients of parameters and optimizer state constant. Then
the events of two traces (same storages, same lifetimes, same library calls; sizes
``n₁``, ``n₂`` at batches ``b₁ < b₂``) give the events at any batch exactly:
``n(b) = n₁ + (n₂ − n₁)·(b − b₁)/(b₂ − b₁)``, when every such step is a whole number of
bytes. :func:`affine_events` returns that function, or ``None`` when the two traces differ
in anything but sizes or a size is not affine on whole bytes — a model whose structure
depends on the batch. The plan search (:mod:`convcost.plan`) uses it to place its guesses
and then checks the answer with real traces, so a model this does not describe costs time,
never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .allocator import StepEvents
from .timeline import Life

__all__ = ["affine_events"]


def affine_events(e1: StepEvents, b1: int, e2: StepEvents, b2: int
                  ) -> Callable[[int], StepEvents] | None:
    """The events at batch ``b`` from the events ``e1`` at ``b1`` and ``e2`` at ``b2``
    (``b1 < b2``), or ``None`` when the two are not one affine family (see the module doc).
    The function raises ValueError for a batch at which a size would be negative."""
    if b2 <= b1:
        raise ValueError(f"b2 must exceed b1 (got {b1}, {b2})")
    if (len(e1.lives) != len(e2.lives) or e1.gemm_samples != e2.gemm_samples
            or e1.conv_samples != e2.conv_samples or e1.samples != e2.samples):
        return None
    steps: list[tuple[int, int]] = []
    for x, y in zip(e1.lives, e2.lives):
        if (x.category, x.alloc, x.free) != (y.category, y.alloc, y.free):
            return None
        step, rest = divmod(y.nbytes - x.nbytes, b2 - b1)
        if rest:
            return None
        steps.append((x.nbytes - step * b1, step))  # n(b) = base + step·b

    def at(b: int) -> StepEvents:
        lives = []
        for life, (base, step) in zip(e1.lives, steps):
            n = base + step * b
            if n < 0:
                raise ValueError(f"batch {b}: a storage would have {n} bytes")
            lives.append(Life(n, life.category, life.alloc, life.free))
        return replace(e1, lives=tuple(lives))

    return at
