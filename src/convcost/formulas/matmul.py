"""The matrix-product family: mm, addmm, bmm, baddbmm, addbmm, mv, addmv, dot.

Convention: an output element that is the sum of ``k`` products costs ``k`` multiplications
(``k`` MACs) and ``k − 1`` additions. The ``add*`` variants ``beta·self + alpha·(A @ B)``
add one addition per output element for ``self`` (none when ``beta == 0``), one
multiplication per output element when ``alpha ≠ 1`` and one more when ``beta ∉ {0, 1}``.
``self`` is broadcast, so it costs no arithmetic of its own.

``linear``, ``matmul`` and ``einsum`` never reach the dispatcher: they are composite and
arrive as ``mm``/``addmm``/``bmm`` plus views, so they need no formula here. The backward of
every op here is computed by autograd with these same ops (``mm`` for both gradients of
``mm``/``addmm``, ``bmm`` for ``bmm``, ``sum`` for the bias gradient).
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import is_one, is_zero, need_tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def products(outputs: int, k: int) -> Cost:
    """``outputs`` dot products of length ``k``: ``outputs·k`` mults/MACs, ``outputs·(k−1)``
    adds."""
    return Cost(mults=outputs * k, adds=outputs * max(k - 1, 0), macs=outputs * k)


def scaled_add(outputs: int, call: OpCall) -> Cost:
    """Cost of ``beta·self + alpha·P`` on top of the product ``P`` (see the module doc)."""
    beta = call.arg("beta", 1)
    alpha = call.arg("alpha", 1)
    extra = Cost()
    if not is_zero(beta):
        extra += Cost(adds=outputs)
        if not is_one(beta):
            extra += Cost(mults=outputs)
    if not is_one(alpha):
        extra += Cost(mults=outputs)
    return extra


@FORMULAS.register("mm", "_int_mm")
def mm(call: OpCall, counting: str) -> OpCost:
    """``mm(A[n,k], B[k,m])``.

    forward: per output element (``n·m``) ``k`` mults (MACs) and ``k − 1`` adds;
    backward: autograd runs ``mm`` twice (grad_A = G·Bᵀ, grad_B = Aᵀ·G), each counted here.
    """
    a, b = need_tensor(call, "self"), need_tensor(call, "mat2")
    return OpCost(products(a.shape[0] * b.shape[1], a.shape[1]))


@FORMULAS.register("addmm", "addmm_", "_addmm_activation")
def addmm(call: OpCall, counting: str) -> OpCost:
    """``addmm(self, A[n,k], B[k,m], beta=1, alpha=1)`` = ``beta·self + alpha·A@B``.

    forward: per output element ``k`` mults (MACs) and ``k − 1`` adds, plus 1 add for
    ``self`` (0 if beta = 0), plus 1 mult if alpha ≠ 1, plus 1 mult if beta ∉ {0, 1};
    ``_addmm_activation`` adds the activation: 1 other (relu) or the GELU count
    (3 mults, 1 add, 1 other) per element; backward: ``mm`` ×2 and ``sum`` for ``self``.
    """
    a, b = need_tensor(call, "mat1"), need_tensor(call, "mat2")
    n = a.shape[0] * b.shape[1]
    cost = products(n, a.shape[1]) + scaled_add(n, call)
    if call.name.startswith("_addmm_activation"):
        cost += Cost(mults=3 * n, adds=n, other=n) if call.arg("use_gelu") else Cost(other=n)
    return OpCost(cost)


@FORMULAS.register("bmm")
def bmm(call: OpCall, counting: str) -> OpCost:
    """``bmm(A[b,n,k], B[b,k,m])``.

    forward: per output element (``b·n·m``) ``k`` mults (MACs) and ``k − 1`` adds;
    backward: ``bmm`` ×2 (G·Bᵀ and Aᵀ·G).
    """
    a, b = need_tensor(call, "self"), need_tensor(call, "mat2")
    return OpCost(products(a.shape[0] * a.shape[1] * b.shape[2], a.shape[2]))


@FORMULAS.register("baddbmm", "baddbmm_")
def baddbmm(call: OpCall, counting: str) -> OpCost:
    """``baddbmm(self, A[b,n,k], B[b,k,m], beta=1, alpha=1)``.

    forward: as ``bmm`` per output element, plus 1 add for ``self`` (0 if beta = 0), 1 mult
    if alpha ≠ 1, 1 mult if beta ∉ {0, 1}; backward: ``bmm`` ×2 and ``sum`` for ``self``.
    """
    a, b = need_tensor(call, "batch1"), need_tensor(call, "batch2")
    n = a.shape[0] * a.shape[1] * b.shape[2]
    return OpCost(products(n, a.shape[2]) + scaled_add(n, call))


@FORMULAS.register("addbmm", "addbmm_")
def addbmm(call: OpCall, counting: str) -> OpCost:
    """``addbmm(self, A[b,n,k], B[b,k,m], beta=1, alpha=1)`` = ``beta·self + alpha·Σ_b A_b@B_b``.

    forward: per output element (``n·m``) ``b·k`` mults (MACs) and ``b·k − 1`` adds, plus the
    ``self``/alpha/beta terms of ``addmm``; backward: autograd's ``bmm``/``mm`` ops.
    """
    a, b = need_tensor(call, "batch1"), need_tensor(call, "batch2")
    n = a.shape[1] * b.shape[2]
    return OpCost(products(n, a.shape[0] * a.shape[2]) + scaled_add(n, call))


@FORMULAS.register("mv")
def mv(call: OpCall, counting: str) -> OpCost:
    """``mv(A[n,k], x[k])``.

    forward: per output element (``n``) ``k`` mults (MACs), ``k − 1`` adds; backward: autograd's
    ``mv``/outer-product ops.
    """
    a = need_tensor(call, "self")
    return OpCost(products(a.shape[0], a.shape[1]))


@FORMULAS.register("addmv", "addmv_")
def addmv(call: OpCall, counting: str) -> OpCost:
    """``addmv(self, A[n,k], x[k], beta=1, alpha=1)``.

    forward: as ``mv`` plus the ``self``/alpha/beta terms of ``addmm`` per output element;
    backward: autograd's ``mv``/outer-product ops.
    """
    a = need_tensor(call, "mat")
    n = a.shape[0]
    return OpCost(products(n, a.shape[1]) + scaled_add(n, call))


@FORMULAS.register("dot", "vdot")
def dot(call: OpCall, counting: str) -> OpCost:
    """``dot(x[k], y[k])``.

    forward: ``k`` mults (MACs), ``k − 1`` adds (one output); backward: two ``mul``.
    """
    return OpCost(products(1, need_tensor(call, "self").shape[0]))
