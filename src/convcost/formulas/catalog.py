"""The default formula registry, built explicitly from the formula modules, and the public
entry points for counting ops convcost has no formula for.

Each module of :data:`FORMULA_MODULES` declares its formulas on its own ``FORMULAS``
registry; :func:`default_registry` merges them once (an op declared by two modules is an
error) and keeps the result. :func:`register_formula` adds a user's formula to it;
:func:`formula_registry` derives the registry of one analysis from per-analysis overrides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from types import ModuleType
from typing import overload

from ..ops import Formula
from . import (
    activation,
    attention,
    conv_ops,
    detection,
    dropout,
    elementwise,
    loss,
    matmul,
    movement,
    norm,
    onnx_conv,
    optim,
    pool,
    reduce,
    resample,
    rnn,
    transformer_ops,
    zero,
)
from .registry import FormulaRegistry

#: Every module whose ``FORMULAS`` make up the default registry.
FORMULA_MODULES: tuple[ModuleType, ...] = (
    conv_ops, matmul, attention, elementwise, activation, reduce, norm, pool, resample,
    movement, dropout, loss, optim, rnn, zero, onnx_conv, detection,
    transformer_ops,
)


@cache
def default_registry() -> FormulaRegistry:
    """The registry of every built-in formula and the zero-cost set (built on first use and
    shared afterwards; :func:`register_formula` adds to it)."""
    registry = FormulaRegistry()
    for module in FORMULA_MODULES:
        own: FormulaRegistry = module.FORMULAS
        registry.include(own)
    return registry


@overload
def register_formula(names: str | Sequence[str], formula: Formula, *,
                     replace: bool = False) -> Formula: ...


@overload
def register_formula(names: str | Sequence[str], formula: None = None, *,
                     replace: bool = False) -> Callable[[Formula], Formula]: ...


def register_formula(
    names: str | Sequence[str],
    formula: Formula | None = None,
    *,
    replace: bool = False,
) -> Formula | Callable[[Formula], Formula]:
    """Count ops ``names`` with ``formula`` in every later analysis (the default registry).

    ``names`` is one op name or several, as convcost reports them in
    ``ModelResult.unsupported_ops``: ``"mylib::myop.default"`` (one overload of a
    ``torch.library`` op ``mylib::myop``), ``"mylib::myop"`` (every overload),
    ``"add.Tensor"``/``"add"`` for aten ops (``aten::`` may be written).

    ``formula(call, counting) -> OpCost``: ``call`` is a :class:`~convcost.ops.OpCall` whose
    arguments are named by the op's schema (``call["x"]``, ``call.arg("alpha", 1)``;
    tensors are :class:`~convcost.ops.TensorMeta` with ``shape``, ``dtype``, ``numel``) and
    whose ``outputs`` are the result tensors; ``counting`` is ``"dense"`` or
    ``"skip-padding"``. It returns exact integer counts: ``OpCost(Cost(mults=, adds=,
    macs=, other=))`` (conventions in :mod:`convcost.cost`), optionally split into
    ``parts`` ``grad_input``/``grad_weight``/``grad_bias`` for a backward op.

    Without ``formula`` this is a decorator. An op that already has a formula (built-in
    or registered) or is zero-cost raises :class:`~convcost.errors.SpecError` unless
    ``replace=True``. To count an op differently in one analysis only, pass
    ``analyze(..., formulas={name: formula})`` instead.
    """
    registry = default_registry()

    def deco(fn: Formula) -> Formula:
        registry.add(names, fn, replace=replace)
        return fn

    if formula is None:
        return deco
    return deco(formula)


def formula_registry(
    formulas: Mapping[str, Formula] | FormulaRegistry | None = None,
) -> FormulaRegistry:
    """The registry of one analysis: the default registry, with ``formulas`` (op name ->
    formula, or a registry) winning over it. ``None``: the default registry itself.

    Raises :class:`~convcost.errors.SpecError` naming ``formulas`` for a bad mapping.
    """
    if formulas is None:
        return default_registry()
    return default_registry().with_overrides(formulas)
