"""Fused optimizer steps (``torch.optim.*(fused=True)``); per element of every parameter.

The ``foreach`` and single-tensor implementations arrive as ``_foreach_*`` / elementwise ops
and are counted by :mod:`convcost.formulas.elementwise`. Per-tensor scalars (bias
corrections, step sizes) are not counted. ``maximize`` adds 1 other (negation) and a
``grad_scale`` (AMP) 1 other (division) per element.
"""

from __future__ import annotations

from typing import Any

from ..cost import Cost
from ..ops import OpCall, OpCost, TensorMeta
from .opargs import tensor_list
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def _elements(call: OpCall) -> int:
    return sum(t.numel for t in tensor_list(call, "self"))


def _common(call: OpCall) -> Cost:
    other = 0
    if call.arg("maximize", False):
        other += 1
    if isinstance(call.arg("grad_scale"), TensorMeta):
        other += 1
    return Cost(other=other)


def _nonzero(v: Any) -> bool:
    return v is not None and v != 0


@FORMULAS.register("_fused_adam_", "_fused_adamw_", "_fused_adam", "_fused_adamw")
def fused_adam(call: OpCall, counting: str) -> OpCost:
    """``_fused_adam(w)_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr,
    beta1, beta2, weight_decay, eps, amsgrad, maximize, grad_scale, found_inf)``.

    forward: per element: ``m = lerp(m, g, 1 − β1)`` (1 mult, 2 adds); ``v = β2·v +
    (1 − β2)·g²`` (3 mults, 1 add); ``denom = sqrt(v)/bc2 + ε`` (2 other, 1 add); ``p −=
    step·m/denom`` (1 mult, 1 other, 1 add): 5 mults, 5 adds, 3 other; weight decay (Adam:
    ``g += wd·p``; AdamW: ``p −= lr·wd·p``) 1 mult + 1 add; amsgrad 1 other (max); backward:
    none.
    """
    n = _elements(call)
    per = Cost(mults=5, adds=5, other=3) + _common(call)
    if _nonzero(call.arg("weight_decay", 0)):
        per += Cost(mults=1, adds=1)
    if call.arg("amsgrad", False):
        per += Cost(other=1)
    return OpCost(per * n)


@FORMULAS.register("_fused_sgd_", "_fused_sgd")
def fused_sgd(call: OpCall, counting: str) -> OpCost:
    """``_fused_sgd_(params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening,
    nesterov, maximize, is_first_step, grad_scale, found_inf)``.

    forward: per element: weight decay ``g += wd·p`` (1 mult, 1 add); momentum (not the first
    step) ``b = μ·b + (1 − d)·g`` (1 add, 1 mult, +1 mult when dampening ≠ 0); nesterov
    ``g += μ·b`` (1 mult, 1 add); ``p −= lr·g`` (1 mult, 1 add); backward: none.
    """
    n = _elements(call)
    per = Cost(mults=1, adds=1) + _common(call)
    if _nonzero(call.arg("weight_decay", 0)):
        per += Cost(mults=1, adds=1)
    if _nonzero(call.arg("momentum", 0)):
        if not call.arg("is_first_step", False):
            per += Cost(mults=2 if _nonzero(call.arg("dampening", 0)) else 1, adds=1)
        if call.arg("nesterov", False):
            per += Cost(mults=1, adds=1)
    return OpCost(per * n)


@FORMULAS.register("_fused_adagrad_", "_fused_adagrad")
def fused_adagrad(call: OpCall, counting: str) -> OpCost:
    """``_fused_adagrad_(params, grads, state_sums, steps, *, lr, lr_decay, weight_decay, eps,
    maximize, grad_scale, found_inf)``.

    forward: per element: ``s += g²`` (1 mult, 1 add); ``std = sqrt(s) + ε`` (1 other,
    1 add); ``p −= clr·g/std`` (1 mult, 1 other, 1 add); weight decay 1 mult + 1 add;
    backward: none.
    """
    n = _elements(call)
    per = Cost(mults=2, adds=3, other=2) + _common(call)
    if _nonzero(call.arg("weight_decay", 0)):
        per += Cost(mults=1, adds=1)
    return OpCost(per * n)
