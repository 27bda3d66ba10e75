"""Pooling: max, average and adaptive pools in 1, 2 and 3 dimensions, with backwards.

``P`` is the number of planes (batch × channels), ``O`` the output positions of one plane,
``K`` the window size. A window of ``t`` taps costs ``t − 1`` comparisons (max, other) or
``t − 1`` additions (average) plus one division (other). ``counting`` selects the taps as for
convolutions: ``dense`` counts every window position (padding included), ``skip-padding``
only positions inside the input (what PyTorch's CPU kernels read); the per-dimension tap
statistics come from :mod:`convcost.formulas.taps`.

Backward: average pools divide each output gradient (``P·O`` other) and scatter it over its
window, where additions are contributions minus destinations that receive at least one (as
for a convolution's grad-input). Max pools route each output gradient to its argmax; which
positions collide depends on the data, so the kernel's ``+=`` is counted: one addition per
output gradient element (an upper bound of that convention).
"""

from __future__ import annotations

from ..cost import Cost
from ..errors import SpecError
from ..ops import OpCall, OpCost, TensorMeta
from ..vocab import COUNTINGS
from .opargs import ints, need_tensor, numel, output
from .registry import FormulaRegistry
from .taps import DimTaps, dim_taps

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def _ndim(call: OpCall) -> int:
    for nd in (1, 2, 3):
        if f"{nd}d" in call.name:
            return nd
    raise ValueError(f"{call.name}: cannot tell the number of pooled dimensions")


def pool_out(length: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """PyTorch's pooling output length (``ceil_mode`` included)."""
    num = length + 2 * p - d * (k - 1) - 1
    o = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= length + p:
        o -= 1
    return o


def _geometry(
    call: OpCall, x: TensorMeta, out_shape: tuple[int, ...] | None
) -> tuple[int, list[DimTaps], tuple[int, ...], tuple[int, ...]]:
    """``(planes, taps per dim, outputs per dim, kernel)`` of a windowed pool (average
    pools have no ``dilation`` argument: 1)."""
    nd = _ndim(call)
    size = x.shape[-nd:]
    k = ints(call.arg("kernel_size"), nd, 1)
    s = ints(call.arg("stride"), nd, 0)
    s = tuple(si or ki for si, ki in zip(s, k))
    p = ints(call.arg("padding"), nd, 0)
    d = ints(call.arg("dilation"), nd, 1)
    ceil = bool(call.arg("ceil_mode", False))
    if out_shape is not None:
        o = tuple(out_shape[-nd:])
    else:
        o = tuple(pool_out(*a, ceil) for a in zip(size, k, s, p, d))
    taps = [dim_taps(*a) for a in zip(size, o, k, s, d, p)]
    return x.numel // numel(size), taps, o, k


def _check(counting: str) -> None:
    if counting not in COUNTINGS:
        raise SpecError("counting", counting, "allowed: " + ", ".join(COUNTINGS))


def _window_ops(planes: int, taps: list[DimTaps], o: tuple[int, ...], k: tuple[int, ...],
                counting: str) -> int:
    """Σ over outputs of (taps in the window − 1)."""
    _check(counting)
    if counting == "dense":
        return planes * numel(o) * (numel(k) - 1)
    return planes * (numel(t.taps for t in taps) - numel(t.out_valid for t in taps))


@FORMULAS.register("max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices")
def max_pool(call: OpCall, counting: str) -> OpCost:
    """``max_poolNd_with_indices(x, kernel, stride, padding, dilation, ceil_mode)``.

    forward: ``t − 1`` comparisons (other) per output, ``t`` the taps of its window (all ``K``
    when dense); backward (``max_poolNd_with_indices_backward``): 1 add per output gradient.
    """
    x = need_tensor(call, "self")
    out = output(call)
    planes, taps, o, k = _geometry(call, x, out.shape if out else None)
    return OpCost(Cost(other=_window_ops(planes, taps, o, k, counting)))


@FORMULAS.register(
    "max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
    "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward",
)
def max_pool_backward(call: OpCall, counting: str) -> OpCost:
    """``max_poolNd_with_indices_backward(g, x, …, indices)``, ``adaptive_max_poolNd_backward``.

    forward: see ``max_poolNd_with_indices``/``adaptive_max_poolNd``; backward: 1 add per
    element of the output gradient ``g`` (scatter to the argmax; data-dependent collisions).
    """
    return OpCost(Cost(adds=need_tensor(call, "grad_output").numel))


@FORMULAS.register("avg_pool2d", "avg_pool3d")
def avg_pool(call: OpCall, counting: str) -> OpCost:
    """``avg_poolNd(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor)``.

    forward: ``t − 1`` adds and 1 other (division) per output; backward: see
    ``avg_poolNd_backward``.
    """
    x = need_tensor(call, "self")
    out = output(call)
    planes, taps, o, k = _geometry(call, x, out.shape if out else None)
    return OpCost(Cost(adds=_window_ops(planes, taps, o, k, counting),
                       other=planes * numel(o)))


@FORMULAS.register("avg_pool2d_backward", "avg_pool3d_backward")
def avg_pool_backward(call: OpCall, counting: str) -> OpCost:
    """``avg_poolNd_backward(g, x, kernel, stride, padding, ceil_mode, count_include_pad,
    divisor)``.

    forward: see ``avg_poolNd``; backward: 1 other (division) per output gradient, and
    contributions − destinations adds: dense ``P·(O·K − Π reached)`` (reached: padded-input
    positions any window covers), skip-padding ``P·(Π taps − Π inputs read)``.
    """
    _check(counting)
    g = need_tensor(call, "grad_output")
    x = need_tensor(call, "self")
    planes, taps, o, k = _geometry(call, x, g.shape)
    if counting == "dense":
        adds = planes * (numel(o) * numel(k) - numel(t.reached for t in taps))
    else:
        adds = planes * (numel(t.taps for t in taps) - numel(t.in_valid for t in taps))
    return OpCost(Cost(adds=adds, other=planes * numel(o)))


def _adaptive(length: int, out: int) -> int:
    """Σ of adaptive window lengths along one dimension."""
    return sum(-((-(i + 1) * length) // out) - (i * length) // out for i in range(out))


def _adaptive_terms(x: TensorMeta, o: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``(planes, Π window sums, Π outputs, Π inputs)`` of an adaptive pool."""
    nd = len(o)
    size = x.shape[-nd:]
    w = numel(_adaptive(length, out) for length, out in zip(size, o))
    return x.numel // numel(size), w, numel(o), numel(size)


def _out_size(call: OpCall, x: TensorMeta) -> tuple[int, ...]:
    nd = _ndim(call)
    out = output(call)
    if out is not None:
        return tuple(out.shape[-nd:])
    return ints(call.arg("output_size"), nd, 1)


@FORMULAS.register("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool2d",
          "adaptive_avg_pool3d")
def adaptive_avg_pool(call: OpCall, counting: str) -> OpCost:
    """``_adaptive_avg_poolNd(x, output_size)``; windows ``[⌊iL/O⌋, ⌈(i+1)L/O⌉)`` per dim.

    forward: per output (window of ``t``) ``t − 1`` adds and 1 other (division); backward:
    see ``_adaptive_avg_poolNd_backward``.
    """
    x = need_tensor(call, "self")
    planes, w, o, _ = _adaptive_terms(x, _out_size(call, x))
    return OpCost(Cost(adds=planes * (w - o), other=planes * o))


@FORMULAS.register("_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward")
def adaptive_avg_pool_backward(call: OpCall, counting: str) -> OpCost:
    """``_adaptive_avg_poolNd_backward(g, x)``.

    forward: see ``_adaptive_avg_poolNd``; backward: 1 other (division) per output gradient and
    ``P·(Π window sums − Π input size)`` adds (every input position is in some window).
    """
    g = need_tensor(call, "grad_output")
    x = need_tensor(call, "self")
    nd = 3 if "3d" in call.name else 2
    planes, w, o, inputs = _adaptive_terms(x, tuple(g.shape[-nd:]))
    return OpCost(Cost(adds=planes * (w - inputs), other=planes * o))


@FORMULAS.register("adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_max_pool(call: OpCall, counting: str) -> OpCost:
    """``adaptive_max_poolNd(x, output_size)`` → (values, indices).

    forward: per output (window of ``t``) ``t − 1`` comparisons (other); backward: see
    ``adaptive_max_poolNd_backward`` (1 add per output gradient).
    """
    x = need_tensor(call, "self")
    planes, w, o, _ = _adaptive_terms(x, _out_size(call, x))
    return OpCost(Cost(other=planes * (w - o)))
