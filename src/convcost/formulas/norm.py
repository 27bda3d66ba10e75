"""Batch, layer, group, instance and RMS normalisation, forward and backward.

Every norm normalises ``R`` rows (batch norm: one per channel; layer norm: one per leading
index; group norm: one per (sample, group)) of ``M`` elements, ``n = R·M`` in all, and has
``P`` affine parameters (γ, β). Textbook two-pass counts, shared by all norms:

* statistics (training): mean ``n − R`` adds + ``R`` other; variance ``n`` adds (``x − μ``),
  ``n`` mults (square), ``n − R`` adds, ``R`` other; ``rstd = rsqrt(var + ε)``: ``R`` adds,
  ``R`` other. Evaluation-mode batch norm uses the running variance: ``C`` adds + ``C`` other.
* normalise: ``y = (x − μ)·rstd·γ + β``: ``n`` adds, ``n`` mults, plus ``n`` mults with γ and
  ``n`` adds with β.
* batch norm running statistics (training with running buffers): ``(1 − m)·r + m·μ`` and
  ``(1 − m)·r + m·var·M/(M − 1)``: ``5C`` mults, ``2C`` adds.

Backward, honouring ``output_mask`` (grad_input, grad_weight, grad_bias; returned as parts):

* ``x̂ = (x − μ)·rstd`` recomputed: ``n`` adds + ``n`` mults (part grad_weight when requested,
  else grad_input);
* grad_bias ``Σ dy``: ``n − P`` adds; grad_weight ``Σ dy·x̂``: ``n`` mults, ``n − P`` adds;
* grad_input (training statistics): ``g = dy·γ`` (``n`` mults with γ); per row ``a = Σ g``
  (``n − R`` adds) and ``b = Σ g·x̂`` (``n`` mults, ``n − R`` adds); ``a/M``, ``b/M``
  (``2R`` other); ``dx = (g − a/M − x̂·b/M)·rstd`` (``2n`` mults, ``2n`` adds);
* grad_input (evaluation batch norm, fixed statistics): ``dx = dy·(rstd·γ)``: rstd from the
  running variance (``C`` adds, ``C`` other), ``C`` mults with γ, ``n`` mults.
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost, TensorMeta
from .opargs import mask, need_tensor, numel, tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()

_PARTS = ("grad_input", "grad_weight", "grad_bias")


def stats_cost(n: int, r: int) -> Cost:
    """Mean, variance and rstd of ``r`` rows, ``n`` elements in all."""
    return Cost(mults=n, adds=3 * n - r, other=3 * r)


def normalize_cost(n: int, weight: bool, bias: bool) -> Cost:
    """``(x − μ)·rstd·γ + β`` over ``n`` elements."""
    return Cost(mults=n * (2 if weight else 1), adds=n * (2 if bias else 1))


def backward_cost(
    n: int, rows: int, params: int, weight: bool, train: bool, want: tuple[bool, ...]
) -> OpCost:
    """Parts (grad_input, grad_weight, grad_bias) of a norm backward (module doc)."""
    gi, gw, gb = Cost(), Cost(), Cost()
    xhat = Cost(mults=n, adds=n)
    if want[1]:
        gw = xhat + Cost(mults=n, adds=n - params)
    if want[2]:
        gb = Cost(adds=n - params)
    if want[0]:
        if train:
            gi = Cost(mults=3 * n + (n if weight else 0), adds=4 * n - 2 * rows, other=2 * rows)
            if not want[1]:
                gi += xhat
        else:
            gi = Cost(mults=n + (params if weight else 0), adds=params, other=params)
    parts = (gi, gw, gb)
    return OpCost(gi + gw + gb, tuple(zip(_PARTS, parts)))


def _bn_forward(call: OpCall, train: bool, stats: bool) -> OpCost:
    """Batch norm forward; ``stats``: running buffers are given (and updated when training)."""
    x = need_tensor(call, "input")
    c = x.shape[1] if len(x.shape) > 1 else 1
    n = x.numel
    cost = normalize_cost(n, tensor(call, "weight") is not None,
                          tensor(call, "bias") is not None)
    if train:
        cost += stats_cost(n, c)
        if stats:
            cost += Cost(mults=5 * c, adds=2 * c)
    else:
        cost += Cost(adds=c, other=c)
    return OpCost(cost)


def _has_stats(call: OpCall) -> bool:
    return isinstance(call.arg("running_mean"), TensorMeta)


@FORMULAS.register("native_batch_norm", "_native_batch_norm_legit",
                   "_native_batch_norm_legit_functional")
def batch_norm(call: OpCall, counting: str) -> OpCost:
    """``(input, weight, bias, running_mean, running_var, training, momentum, eps)``;
    ``_native_batch_norm_legit.no_stats(input, weight, bias, training, momentum, eps)``.

    forward: training: statistics + normalise (+ running-stat update when buffers are given);
    evaluation: rstd from the running variance + normalise (module doc); backward: see
    ``native_batch_norm_backward``.
    """
    if call.name.endswith("no_stats"):
        return _bn_forward(call, bool(call.arg("training", True)), False)
    return _bn_forward(call, bool(call.arg("training", True)), _has_stats(call))


@FORMULAS.register("_native_batch_norm_legit_no_training")
def batch_norm_eval(call: OpCall, counting: str) -> OpCost:
    """``(input, weight, bias, running_mean, running_var, momentum, eps)``.

    forward: evaluation batch norm: ``C`` adds + ``C`` other (rstd), normalise; backward: see
    ``native_batch_norm_backward`` (evaluation).
    """
    return _bn_forward(call, False, True)


@FORMULAS.register("_batch_norm_with_update", "_batch_norm_with_update_functional")
def batch_norm_with_update(call: OpCall, counting: str) -> OpCost:
    """``(input, weight, bias, running_mean, running_var, momentum, eps)``.

    forward: training batch norm with the running-stat update; backward: ``batch_norm_backward``.
    """
    return _bn_forward(call, True, True)


@FORMULAS.register("_batch_norm_no_update")
def batch_norm_no_update(call: OpCall, counting: str) -> OpCost:
    """``(input, weight, bias, running_mean, running_var, momentum, eps)``.

    forward: evaluation batch norm when running buffers are given, else batch statistics
    without an update; backward: ``batch_norm_backward``.
    """
    stats = _has_stats(call)
    return _bn_forward(call, not stats, False)


def _bn_backward(call: OpCall, train: bool) -> OpCost:
    x = need_tensor(call, "input")
    c = x.shape[1] if len(x.shape) > 1 else 1
    weight = tensor(call, "weight") is not None
    return backward_cost(x.numel, c, c, weight, train, mask(call.arg("output_mask"), 3))


@FORMULAS.register("native_batch_norm_backward")
def batch_norm_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train, eps,
    output_mask)``.

    forward: see ``native_batch_norm``; backward: the module doc's backward with R = P = C
    (evaluation form when ``train`` is false), parts per ``output_mask``.
    """
    return _bn_backward(call, bool(call.arg("train", True)))


@FORMULAS.register("batch_norm_backward")
def batch_norm_backward_new(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, input, weight, running_mean, running_var, save_mean, save_var, update, eps,
    output_mask, reserve)``.

    forward: see ``_batch_norm_with_update``; backward: as ``native_batch_norm_backward``
    (training statistics when ``update`` or when there are no running buffers).
    """
    train = bool(call.arg("update", True)) or not isinstance(
        call.arg("running_mean"), TensorMeta
    )
    return _bn_backward(call, train)


@FORMULAS.register("cudnn_batch_norm")
def cudnn_batch_norm(call: OpCall, counting: str) -> OpCost:
    """``cudnn_batch_norm(input, weight, bias, running_mean, running_var, training,
    exponential_average_factor, epsilon)`` -> (output, save_mean, save_invstd, reserve): the
    CUDA path's batch norm when cuDNN takes it.

    forward: the same arithmetic as ``native_batch_norm`` (statistics + normalise + the
    running-stat update in training; rstd from the running variance in evaluation);
    backward: ``cudnn_batch_norm_backward`` in training (``native_batch_norm_backward`` in
    evaluation, as PyTorch's derivative of this op says).
    """
    return _bn_forward(call, bool(call.arg("training", True)), _has_stats(call))


@FORMULAS.register("cudnn_batch_norm_backward")
def cudnn_batch_norm_backward(call: OpCall, counting: str) -> OpCost:
    """``(input, grad_output, weight, running_mean, running_var, save_mean, save_var,
    epsilon, reserveSpace)`` -> (grad_input, grad_weight, grad_bias).

    forward: see ``cudnn_batch_norm``; backward: ``native_batch_norm_backward``'s training form
    with every gradient (cuDNN's backward has no output mask: it always computes all three).
    """
    x = need_tensor(call, "input")
    c = x.shape[1] if len(x.shape) > 1 else 1
    return backward_cost(x.numel, c, c, tensor(call, "weight") is not None, True,
                         (True, True, True))


@FORMULAS.register("native_layer_norm")
def layer_norm(call: OpCall, counting: str) -> OpCost:
    """``native_layer_norm(input, normalized_shape, weight, bias, eps)``.

    forward: statistics over rows of ``M = Π normalized_shape`` + normalise; backward: see
    ``native_layer_norm_backward``.
    """
    x = need_tensor(call, "input")
    m = numel(call.arg("normalized_shape"))
    n = x.numel
    rows = n // m if m else 0
    return OpCost(stats_cost(n, rows) + normalize_cost(
        n, tensor(call, "weight") is not None, tensor(call, "bias") is not None))


@FORMULAS.register("native_layer_norm_backward")
def layer_norm_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask)``.

    forward: see ``native_layer_norm``; backward: the module doc's backward with ``P = M``.
    """
    x = need_tensor(call, "input")
    m = numel(call.arg("normalized_shape"))
    rows = x.numel // m if m else 0
    weight = tensor(call, "weight") is not None
    return backward_cost(x.numel, rows, m, weight, True, mask(call.arg("output_mask"), 3))


@FORMULAS.register("native_group_norm")
def group_norm(call: OpCall, counting: str) -> OpCost:
    """``native_group_norm(input, weight, bias, N, C, HxW, group, eps)``.

    forward: statistics over ``R = N·group`` rows + normalise; backward: see
    ``native_group_norm_backward``.
    """
    x = need_tensor(call, "input")
    rows = int(call.arg("N")) * int(call.arg("group"))
    return OpCost(stats_cost(x.numel, rows) + normalize_cost(
        x.numel, tensor(call, "weight") is not None, tensor(call, "bias") is not None))


@FORMULAS.register("native_group_norm_backward")
def group_norm_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, input, mean, rstd, weight, N, C, HxW, group, output_mask)``.

    forward: see ``native_group_norm``; backward: the module doc's backward with
    ``R = N·group``, ``P = C``.
    """
    x = need_tensor(call, "input")
    rows = int(call.arg("N")) * int(call.arg("group"))
    c = int(call.arg("C"))
    weight = tensor(call, "weight") is not None
    return backward_cost(x.numel, rows, c, weight, True, mask(call.arg("output_mask"), 3))


@FORMULAS.register("_fused_rms_norm")
def rms_norm(call: OpCall, counting: str) -> OpCost:
    """``_fused_rms_norm(input, normalized_shape, weight, eps)``: ``y = x·rstd·γ``,
    ``rstd = rsqrt(mean(x²) + ε)``.

    forward: ``n`` mults (square), ``n − R`` adds, ``R`` other (÷M), ``R`` adds (+ε), ``R`` other
    (rsqrt), ``n`` mults (·rstd), ``n`` mults with γ; backward: see ``_fused_rms_norm_backward``.
    """
    x = need_tensor(call, "input")
    m = numel(call.arg("normalized_shape"))
    n = x.numel
    rows = n // m if m else 0
    w = tensor(call, "weight") is not None
    return OpCost(Cost(mults=n * (3 if w else 2), adds=n, other=2 * rows))


@FORMULAS.register("_fused_rms_norm_backward")
def rms_norm_backward(call: OpCall, counting: str) -> OpCost:
    """``_fused_rms_norm_backward(grad_out, input, normalized_shape, rstd, weight, output_mask)``.

    forward: see ``_fused_rms_norm``; backward: grad_input: ``g = dy·γ`` (``n`` mults with γ),
    ``b = Σ_row g·x`` (``n`` mults, ``n − R`` adds), ``c = b·rstd³/M`` (``3R`` mults, ``R``
    other), ``dx = rstd·g − x·c`` (``2n`` mults, ``n`` adds); grad_weight: ``Σ dy·x·rstd``
    (``2n`` mults, ``n − M`` adds).
    """
    x = need_tensor(call, "input")
    m = numel(call.arg("normalized_shape"))
    n = x.numel
    rows = n // m if m else 0
    w = tensor(call, "weight") is not None
    want = mask(call.arg("output_mask"), 2)
    gi = Cost(mults=n * (4 if w else 3) + 3 * rows, adds=2 * n - rows, other=rows) if want[0] \
        else Cost()
    gw = Cost(mults=2 * n, adds=n - m) if want[1] else Cost()
    return OpCost(gi + gw, (("grad_input", gi), ("grad_weight", gw), ("grad_bias", Cost())))
