"""Reductions and the softmax family.

Convention: reducing ``L`` values to one costs ``L − 1`` operations of the reduction's kind
(additions for sums, multiplications for products, comparisons — ``other`` — for max/min).
Divisions, exponentials, logarithms and square roots are ``other``, one each.
Throughout, ``E`` is the input's element count, ``R`` the number of results (rows) and
``L = E / R`` the reduced length.
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import need_tensor, numel, output, reduced_rows, tensor_list
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def _rows(call: OpCall) -> tuple[int, int]:
    """``(R, L)`` of a reduction: from the first input and the first result (or ``dim``)."""
    x = need_tensor(call, "self")
    out = output(call)
    if out is None:
        return reduced_rows(x.shape, call.arg("dim"))
    r = out.numel
    return (r, x.numel // r) if r else (0, 0)


def softmax_cost(rows: int, length: int) -> Cost:
    """Softmax of ``rows`` rows of ``length``: max ``L − 1`` compares, ``x − max`` ``L`` adds,
    ``exp`` ``L`` other, sum ``L − 1`` adds, division ``L`` other — per row."""
    e = rows * length
    red = rows * max(length - 1, 0)
    return Cost(adds=e + red, other=red + 2 * e)


def _dim_rows(call: OpCall, key: str = "self") -> tuple[int, int]:
    """``(rows, length)`` of a softmax-like op on tensor ``key`` over its ``dim`` argument."""
    x = need_tensor(call, key)
    return reduced_rows(x.shape, call.arg("dim"))


@FORMULAS.register("_softmax")
def softmax(call: OpCall, counting: str) -> OpCost:
    """``_softmax(x, dim, half_to_float)``: ``y = exp(x − max) / Σ exp(x − max)``.

    forward: per row of L: ``L − 1`` compares (max), ``L`` adds (subtract max), ``L`` other
    (exp), ``L − 1`` adds (sum), ``L`` other (divide); backward (``_softmax_backward_data``):
    ``gx = y·(g − Σ g·y)``: per row ``2L`` mults, ``(L − 1) + L`` adds.
    """
    return OpCost(softmax_cost(*_dim_rows(call)))


@FORMULAS.register("_safe_softmax")
def safe_softmax(call: OpCall, counting: str) -> OpCost:
    """``_safe_softmax(x, dim)``: softmax whose fully ``−inf`` rows give 0 (SDPA's math path).

    forward: softmax's count plus, per row of L, ``L`` other (is ``−inf``), ``L − 1`` other
    (all-reduce) and ``L`` other (select); backward: ``_softmax_backward_data``.
    """
    r, n = _dim_rows(call)
    return OpCost(softmax_cost(r, n) + Cost(other=r * (2 * n + max(n - 1, 0))))


@FORMULAS.register("_log_softmax")
def log_softmax(call: OpCall, counting: str) -> OpCost:
    """``_log_softmax(x, dim, half_to_float)``: ``y = x − max − log Σ exp(x − max)``.

    forward: per row of L: ``L − 1`` compares, ``L`` adds, ``L`` other (exp), ``L − 1`` adds,
    1 other (log), ``L`` adds (subtract); backward (``_log_softmax_backward_data``):
    ``gx = g − exp(y)·Σ g``: per row ``L − 1`` adds, ``L`` other, ``L`` mults, ``L`` adds.
    """
    r, n = _dim_rows(call)
    e, red = r * n, r * max(n - 1, 0)
    return OpCost(Cost(adds=2 * e + red, other=red + e + r))


@FORMULAS.register("_softmax_backward_data")
def softmax_backward(call: OpCall, counting: str) -> OpCost:
    """``_softmax_backward_data(g, y, dim, dtype)``.

    forward: see ``_softmax``; backward: ``gx = y·(g − Σ_row g·y)``: per row of L ``L`` mults
    (g·y), ``L − 1`` adds (sum), ``L`` adds (subtract), ``L`` mults (times y).
    """
    r, n = _dim_rows(call, "grad_output")
    e = r * n
    return OpCost(Cost(mults=2 * e, adds=e + r * max(n - 1, 0)))


@FORMULAS.register("_log_softmax_backward_data")
def log_softmax_backward(call: OpCall, counting: str) -> OpCost:
    """``_log_softmax_backward_data(g, y, dim, dtype)``.

    forward: see ``_log_softmax``; backward: ``gx = g − exp(y)·Σ_row g``: per row of L
    ``L − 1`` adds (sum), ``L`` other (exp), ``L`` mults, ``L`` adds (subtract).
    """
    r, n = _dim_rows(call, "grad_output")
    e = r * n
    return OpCost(Cost(mults=e, adds=e + r * max(n - 1, 0), other=e))


@FORMULAS.register("sum", "nansum")
def sum_(call: OpCall, counting: str) -> OpCost:
    """``sum(x[, dims])``.

    forward: ``E − R`` adds (``L − 1`` per result); backward: ``expand`` (free).
    """
    r, n = _rows(call)
    return OpCost(Cost(adds=r * max(n - 1, 0)))


@FORMULAS.register("mean", "nanmean")
def mean(call: OpCall, counting: str) -> OpCost:
    """``mean(x[, dims])``.

    forward: ``E − R`` adds and ``R`` other (division by L); backward: ``expand`` and one
    ``div`` per input element (separate ops).
    """
    r, n = _rows(call)
    return OpCost(Cost(adds=r * max(n - 1, 0), other=r))


@FORMULAS.register("prod")
def prod(call: OpCall, counting: str) -> OpCost:
    """``prod(x[, dim])``.

    forward: ``E − R`` mults; backward: autograd's elementwise ops.
    """
    r, n = _rows(call)
    return OpCost(Cost(mults=r * max(n - 1, 0)))


@FORMULAS.register("amax", "amin", "max", "min", "argmax", "argmin", "aminmax", "any", "all")
def compare_reduce(call: OpCall, counting: str) -> OpCost:
    """``amax``/``amin``/``max``/``min``/``argmax``/``argmin``/``any``/``all`` over dims.

    forward: ``E − R`` comparisons (other; ``aminmax`` twice that); ``max.other``/
    ``min.other`` (two tensors) cost 1 comparison per output element; backward: autograd's
    scatter/where ops.
    """
    out = output(call)
    if call.name.endswith(".other") and out is not None:
        return OpCost(Cost(other=out.numel))
    r, n = _rows(call)
    k = 2 if call.name.startswith("aminmax") else 1
    return OpCost(Cost(other=k * r * max(n - 1, 0)))


def _var(call: OpCall) -> Cost:
    r, n = _rows(call)
    e = r * n
    red = r * max(n - 1, 0)
    # mean: red adds + r div; x − mean: e adds; square: e mults; sum: red adds; divide: r.
    return Cost(mults=e, adds=2 * red + e, other=2 * r)


@FORMULAS.register("var", "var_mean")
def var(call: OpCall, counting: str) -> OpCost:
    """``var``/``var_mean`` over dims (two-pass).

    forward: mean ``E − R`` adds + ``R`` other; ``x − mean`` ``E`` adds; square ``E`` mults;
    sum ``E − R`` adds; divide by ``L − correction`` ``R`` other; backward: autograd's
    elementwise ops.
    """
    return OpCost(_var(call))


@FORMULAS.register("std", "std_mean")
def std(call: OpCall, counting: str) -> OpCost:
    """``std``/``std_mean`` over dims.

    forward: ``var``'s count plus ``R`` other (sqrt); backward: autograd's elementwise ops.
    """
    r, _ = _rows(call)
    return OpCost(_var(call) + Cost(other=r))


@FORMULAS.register("logsumexp")
def logsumexp(call: OpCall, counting: str) -> OpCost:
    """``logsumexp(x, dims)`` = ``m + log Σ exp(x − m)``, ``m`` the max.

    forward: ``E − R`` compares, ``E`` adds, ``E`` other (exp), ``E − R`` adds, ``R`` other
    (log), ``R`` adds; backward: autograd's elementwise ops.
    """
    r, n = _rows(call)
    e, red = r * n, r * max(n - 1, 0)
    return OpCost(Cost(adds=e + red + r, other=red + e + r))


def norm_cost(e: int, r: int, p: object) -> Cost:
    """``p``-norm of ``r`` rows of ``e / r`` elements (see ``linalg_vector_norm``)."""
    red = max(e - r, 0)
    if p is None or p == 2:
        return Cost(mults=e, adds=red, other=r)
    if p == 1:
        return Cost(adds=red, other=e)
    if p == 0:
        return Cost(adds=red, other=e)
    if p in (float("inf"), float("-inf")):
        return Cost(other=e + red)
    return Cost(adds=red, other=2 * e + r)


@FORMULAS.register("linalg_vector_norm", "norm")
def vector_norm(call: OpCall, counting: str) -> OpCost:
    """``linalg_vector_norm(x, ord, dims)`` / ``norm(x, p, dims)``.

    forward: ord 2: ``E`` mults (square), ``E − R`` adds, ``R`` other (sqrt); ord 1: ``E`` other
    (abs), ``E − R`` adds; ord 0: ``E`` other (≠ 0), ``E − R`` adds; ord ±inf: ``E`` other
    (abs) + ``E − R`` compares; other p: ``2E`` other (abs, pow), ``E − R`` adds, ``R`` other
    (root); backward: autograd's elementwise ops.
    """
    r, n = _rows(call)
    return OpCost(norm_cost(r * n, r, call.arg("ord", call.arg("p", 2))))


@FORMULAS.register("_foreach_norm")
def foreach_norm(call: OpCall, counting: str) -> OpCost:
    """``_foreach_norm(tensors, ord)``: one whole-tensor norm per tensor (grad clipping).

    forward: per tensor ``linalg_vector_norm``'s count with ``R = 1``; backward: none.
    """
    p = call.arg("ord", 2)
    total = Cost()
    for t in tensor_list(call, "self"):
        total += norm_cost(t.numel, 1, p)
    return OpCost(total)


@FORMULAS.register("cumsum", "cumsum_", "cumprod", "cumprod_", "logcumsumexp", "cummax", "cummin")
def cumulative(call: OpCall, counting: str) -> OpCost:
    """``cumsum``/``cumprod``/``cummax``/``cummin``/``logcumsumexp`` along ``dim``.

    forward: ``L − 1`` operations per row (adds for cumsum, mults for cumprod, compares for
    cummax/cummin; logcumsumexp: ``L − 1`` adds plus ``2L`` other); backward: autograd's ops.
    """
    x = need_tensor(call, "self")
    d = call.arg("dim", 0)
    nd = len(x.shape)
    length = x.shape[d % nd] if nd else 1
    ops = (x.numel // length) * max(length - 1, 0) if length else 0
    base = call.name.split(".", 1)[0].rstrip("_")
    if base == "cumsum":
        return OpCost(Cost(adds=ops))
    if base == "cumprod":
        return OpCost(Cost(mults=ops))
    if base == "logcumsumexp":
        return OpCost(Cost(adds=ops, other=2 * x.numel))
    return OpCost(Cost(other=ops))


def _log2ceil(n: int) -> int:
    return max(n - 1, 0).bit_length()


@FORMULAS.register("sort", "argsort", "topk", "kthvalue")
def sort(call: OpCall, counting: str) -> OpCost:
    """``sort``/``argsort``/``topk``/``kthvalue`` along a dim (comparison counts).

    forward: ``sort``: ``L·⌈log₂ L⌉`` compares per row (a comparison sort's bound);
    ``topk``/``kthvalue``: ``L`` compares (selection) plus ``k·⌈log₂ k⌉`` (sorting the k
    results) per row; backward: autograd's scatter ops.
    """
    x = need_tensor(call, "self")
    base = call.name.split(".", 1)[0]
    nd = len(x.shape)
    if base in ("topk", "kthvalue"):
        k = int(call.arg("k", 1))
        d = call.arg("dim", -1)
        length = x.shape[d % nd] if nd else 1
        rows = x.numel // length if length else 0
        return OpCost(Cost(other=rows * (length + k * _log2ceil(k))))
    d = call.arg("dim", -1)
    if not isinstance(d, int):
        d = -1
    length = x.shape[d % nd] if nd else 1
    rows = numel(x.shape) // length if length else 0
    return OpCost(Cost(other=rows * length * _log2ceil(length)))


@FORMULAS.register("_cdist_forward")
def cdist(call: OpCall, counting: str) -> OpCost:
    """``_cdist_forward(x1[…, P, M], x2[…, R, M], p, compute_mode)``: ``D = B·P·R`` distances.

    forward (the direct algorithm; PyTorch may evaluate p = 2 through a matmul for more than
    25 rows, which is not what is counted): per distance ``M`` adds (differences) and ``M − 1``
    adds (sum), plus p = 2: ``M`` mults (squares), 1 other (sqrt); p = 1: ``M`` other (abs);
    p = ∞: ``M`` other (abs) with the sum replaced by ``M − 1`` comparisons; other p: ``2M``
    other (abs, pow) + 1 other (root); backward: see ``_cdist_backward``.
    """
    x1, x2 = need_tensor(call, "x1"), need_tensor(call, "x2")
    m = x1.shape[-1]
    d = numel(x1.shape[:-1]) * x2.shape[-2]
    p = call.arg("p", 2.0)
    red = d * max(m - 1, 0)
    if p == 2:
        return OpCost(Cost(mults=d * m, adds=d * m + red, other=d))
    if p == 1:
        return OpCost(Cost(adds=d * m + red, other=d * m))
    if p == float("inf"):
        return OpCost(Cost(adds=d * m, other=d * m + red))
    return OpCost(Cost(adds=d * m + red, other=2 * d * m + d))


@FORMULAS.register("_cdist_backward")
def cdist_backward(call: OpCall, counting: str) -> OpCost:
    """``_cdist_backward(g, x1[…, P, M], x2[…, R, M], p, dist)`` (gradient of x1).

    forward: see ``_cdist_forward``; backward: per distance 1 other (``g/dist``), per distance
    and coordinate 1 add (difference) and 1 mult, and the accumulation over the ``R`` partners:
    ``B·P·M·(R − 1)`` adds.
    """
    x1, x2 = need_tensor(call, "x1"), need_tensor(call, "x2")
    m, r = x1.shape[-1], x2.shape[-2]
    d = numel(x1.shape[:-1]) * r
    return OpCost(Cost(mults=d * m, adds=d * m + x1.numel * max(r - 1, 0), other=d))
