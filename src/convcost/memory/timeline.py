"""Live bytes over time from storage lifetimes (pure arithmetic, no torch).

A storage is live from sample ``alloc`` up to, not including, sample ``free``. The bytes
live at a sample are the sum over live storages; since memory only grows when an op
produces a result, and every sample is taken right after an op's results exist, the largest
sample is the peak.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Memory categories, in report order.
#:
#: * ``parameters``, ``buffers``, ``inputs`` — the model's state and the step's inputs
#:   (tensors the model holds that are neither, e.g. plain tensor attributes, count as
#:   buffers);
#: * ``gradients`` — storages that end the backward pass as a parameter's ``.grad``, or as
#:   the ``.grad`` of an input that requires a gradient (``analyze(..., input_grad=True)``);
#: * ``optimizer_state`` — storages the optimizer step creates and keeps (momentum, Adam's
#:   moments and step counters);
#: * ``activations`` — storages autograd saved for the backward pass during the forward
#:   (other than parameters, buffers and inputs, which have their own category);
#: * ``temporaries`` — everything else: forward results nobody saved, gradients of
#:   activations, workspaces of the optimizer step.
CATEGORIES: tuple[str, ...] = (
    "parameters",
    "buffers",
    "inputs",
    "gradients",
    "optimizer_state",
    "activations",
    "temporaries",
)


@dataclass(frozen=True)
class Life:
    """``nbytes`` of ``category`` live from sample ``alloc`` to before ``free`` (``None``:
    live at the end)."""

    nbytes: int
    category: str
    alloc: int
    free: int | None


@dataclass(frozen=True)
class Timeline:
    """Bytes live at each sample, per category (``rows[s][c]`` for ``CATEGORIES[c]``).

    Sample 0 is the state before the first op, sample ``i + 1`` the state right after op
    ``i``. ``labels`` optionally name the op of each sample (``phase:module:op``).
    """

    rows: tuple[tuple[int, ...], ...]
    labels: tuple[str, ...] = ()

    @property
    def totals(self) -> list[int]:
        """Total bytes live at each sample."""
        return [sum(r) for r in self.rows]

    @property
    def peak(self) -> int:
        """Largest total bytes live at any sample (0 for an empty timeline)."""
        return max(self.totals, default=0)

    @property
    def peak_index(self) -> int:
        """The first sample at which the peak is reached."""
        t = self.totals
        return t.index(max(t)) if t else 0

    def at(self, sample: int) -> dict[str, int]:
        """Bytes live at ``sample`` by category."""
        return dict(zip(CATEGORIES, self.rows[sample]))

    def to_dict(self) -> dict[str, Any]:
        """JSON form: categories, one row of bytes per sample, the labels and the peak."""
        return {
            "categories": list(CATEGORIES),
            "rows": [list(r) for r in self.rows],
            "labels": list(self.labels),
            "peak_bytes": self.peak,
            "peak_sample": self.peak_index,
        }


def build_timeline(lives: Iterable[Life], samples: int, labels: Sequence[str] = ()) -> Timeline:
    """Replay ``lives`` over ``samples`` samples (difference arrays, one per category)."""
    index = {c: i for i, c in enumerate(CATEGORIES)}
    delta = [[0] * (samples + 1) for _ in CATEGORIES]
    for life in lives:
        if life.nbytes == 0:
            continue
        d = delta[index[life.category]]
        start = max(0, min(life.alloc, samples))
        end = samples if life.free is None else max(start, min(life.free, samples))
        d[start] += life.nbytes
        d[end] -= life.nbytes
    cols: list[list[int]] = []
    for d in delta:
        run = 0
        col = []
        for s in range(samples):
            run += d[s]
            col.append(run)
        cols.append(col)
    rows = tuple(tuple(col[s] for col in cols) for s in range(samples))
    return Timeline(rows, tuple(labels))


def category_bytes(lives: Iterable[Life]) -> dict[str, int]:
    """Total bytes of every storage of each category (whether or not live together)."""
    out = dict.fromkeys(CATEGORIES, 0)
    for life in lives:
        out[life.category] += life.nbytes
    return out
