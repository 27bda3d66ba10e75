"""Losses that reach the dispatcher in training (cross-entropy arrives as ``_log_softmax`` +
``nll_loss_forward``; ``l1_loss`` and ``kl_div`` decompose into elementwise ops).

``reduction``: 0 none, 1 mean, 2 sum. Reducing ``N`` per-element losses costs ``N − 1`` adds
(sum), plus 1 other (division) for the mean.
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import need_tensor, tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def reduction_cost(n: int, reduction: int) -> Cost:
    """Cost of reducing ``n`` losses (see the module doc)."""
    if reduction == 0:
        return Cost()
    return Cost(adds=max(n - 1, 0), other=1 if reduction == 1 else 0)


def _reduction(call: OpCall) -> int:
    return int(call.arg("reduction", 1))


@FORMULAS.register("nll_loss_forward", "nll_loss2d_forward")
def nll_loss(call: OpCall, counting: str) -> OpCost:
    """``nll_loss_forward(x, target, weight, reduction, ignore_index)`` over ``B`` targets.

    forward: picks ``−x[b, t_b]`` (gathers): with class weights 1 mult per target; none:
    ``B`` other (negation); sum: ``B − 1`` adds + 1 other (negation); mean: plus 1 other
    (÷ total weight) and, with class weights, ``B − 1`` adds for the total weight; backward:
    see ``nll_loss_backward``.
    """
    b = need_tensor(call, "target").numel
    weighted = tensor(call, "weight") is not None
    red = _reduction(call)
    cost = Cost(mults=b if weighted else 0)
    if red == 0:
        return OpCost(cost + Cost(other=b))
    cost += reduction_cost(b, red) + Cost(other=1)
    if red == 1 and weighted:
        cost += Cost(adds=max(b - 1, 0))
    return OpCost(cost)


@FORMULAS.register("nll_loss_backward", "nll_loss2d_backward")
def nll_loss_backward(call: OpCall, counting: str) -> OpCost:
    """``nll_loss_backward(g, x, target, weight, reduction, ignore_index, total_weight)``.

    forward: see ``nll_loss_forward``; backward: a zero gradient with ``−g·w_t/total`` written
    at each target: mean 2 other (negate, divide) once, sum 1 other once, none 1 other per
    target; class weights 1 mult per target.
    """
    b = need_tensor(call, "target").numel
    weighted = tensor(call, "weight") is not None
    red = _reduction(call)
    other = b if red == 0 else 2 if red == 1 else 1
    return OpCost(Cost(mults=b if weighted else 0, other=other))


@FORMULAS.register("mse_loss")
def mse_loss(call: OpCall, counting: str) -> OpCost:
    """``mse_loss(x, y, reduction)``.

    forward: per element 1 add (x − y) + 1 mult (square), then the reduction; backward (see
    ``mse_loss_backward``).
    """
    n = need_tensor(call, "self").numel
    return OpCost(Cost(mults=n, adds=n) + reduction_cost(n, _reduction(call)))


@FORMULAS.register("mse_loss_backward")
def mse_loss_backward(call: OpCall, counting: str) -> OpCost:
    """``mse_loss_backward(g, x, y, reduction)``.

    forward: see ``mse_loss``; backward: ``g·norm·(x − y)``, ``norm = 2`` or ``2/N``: 1 add +
    2 mults per element, plus 1 other (2/N) for the mean.
    """
    n = need_tensor(call, "self").numel
    return OpCost(Cost(mults=2 * n, adds=n, other=1 if _reduction(call) == 1 else 0))


@FORMULAS.register("smooth_l1_loss")
def smooth_l1_loss(call: OpCall, counting: str) -> OpCost:
    """``smooth_l1_loss(x, y, reduction, beta)``: ``z = |x − y|``,
    ``z < β ? 0.5·z²/β : z − 0.5·β``.

    forward: per element 2 adds, 2 mults, 3 other (abs, compare, division), then the
    reduction; backward: see ``smooth_l1_loss_backward``.
    """
    n = need_tensor(call, "self").numel
    red = reduction_cost(n, _reduction(call))
    return OpCost(Cost(mults=2 * n, adds=2 * n, other=3 * n) + red)


@FORMULAS.register("smooth_l1_loss_backward")
def smooth_l1_loss_backward(call: OpCall, counting: str) -> OpCost:
    """``smooth_l1_loss_backward(g, x, y, reduction, beta)``.

    forward: see ``smooth_l1_loss``; backward: ``z = x − y`` (1 add), ``|z| < β ? z/β :
    sign(z)`` (3 other: abs, compare, division or sign), ``·norm·g`` (2 mults) per element.
    """
    n = need_tensor(call, "self").numel
    return OpCost(Cost(mults=2 * n, adds=n, other=3 * n))


@FORMULAS.register("huber_loss")
def huber_loss(call: OpCall, counting: str) -> OpCost:
    """``huber_loss(x, y, reduction, delta)``: ``z = |x − y|``,
    ``z < δ ? 0.5·z² : δ·(z − 0.5·δ)``.

    forward: per element 3 mults, 2 adds, 2 other (abs, compare), then the reduction;
    backward: see ``huber_loss_backward``.
    """
    n = need_tensor(call, "self").numel
    red = reduction_cost(n, _reduction(call))
    return OpCost(Cost(mults=3 * n, adds=2 * n, other=2 * n) + red)


@FORMULAS.register("huber_loss_backward")
def huber_loss_backward(call: OpCall, counting: str) -> OpCost:
    """``huber_loss_backward(g, x, y, reduction, delta)``.

    forward: see ``huber_loss``; backward: ``z = x − y`` (1 add), ``|z| < δ ? z : δ·sign(z)``
    (3 other: abs, compare, sign; 1 mult), ``·norm·g`` (2 mults) per element.
    """
    n = need_tensor(call, "self").numel
    return OpCost(Cost(mults=3 * n, adds=n, other=3 * n))


@FORMULAS.register("binary_cross_entropy")
def bce(call: OpCall, counting: str) -> OpCost:
    """``binary_cross_entropy(p, y, weight, reduction)``:
    ``−w·(y·log p + (1 − y)·log(1 − p))`` with logs clamped at −100.

    forward: per element 2 mults, 3 adds, 5 other (2 logs, 2 clamps, negation), plus 1 mult
    with weights, then the reduction; backward: see ``binary_cross_entropy_backward``.
    """
    n = need_tensor(call, "self").numel
    w = n if tensor(call, "weight") is not None else 0
    red = reduction_cost(n, _reduction(call))
    return OpCost(Cost(mults=2 * n + w, adds=3 * n, other=5 * n) + red)


@FORMULAS.register("binary_cross_entropy_backward")
def bce_backward(call: OpCall, counting: str) -> OpCost:
    """``binary_cross_entropy_backward(g, p, y, weight, reduction)``:
    ``g·(p − y)/max((1 − p)·p, ε)``.

    forward: see ``binary_cross_entropy``; backward: per element 2 adds, 2 mults, 2 other
    (max, division), plus 1 mult with weights and 1 mult (÷N as a factor) for the mean.
    """
    n = need_tensor(call, "self").numel
    m = 2 * n + (n if tensor(call, "weight") is not None else 0)
    m += n if _reduction(call) == 1 else 0
    return OpCost(Cost(mults=m, adds=2 * n, other=2 * n))


@FORMULAS.register("binary_cross_entropy_with_logits")
def bce_logits(call: OpCall, counting: str) -> OpCost:
    """``binary_cross_entropy_with_logits(x, y, weight, pos_weight, reduction)``:
    ``(1 − y)·x − log_sigmoid(x)`` (with ``pos_weight`` the log-sigmoid term is scaled by
    ``(pw − 1)·y + 1``).

    forward: per element 1 mult, 3 adds, 4 other (log-sigmoid: min, abs, exp, log1p); with
    ``pos_weight`` 2 mults + 2 adds more; with ``weight`` 1 mult more; then the reduction;
    backward: autograd's elementwise ops (``sigmoid``, ``sub``, ``mul``).
    """
    n = need_tensor(call, "self").numel
    cost = Cost(mults=n, adds=3 * n, other=4 * n)
    if tensor(call, "pos_weight") is not None:
        cost += Cost(mults=2 * n, adds=2 * n)
    if tensor(call, "weight") is not None:
        cost += Cost(mults=n)
    return OpCost(cost + reduction_cost(n, _reduction(call)))
