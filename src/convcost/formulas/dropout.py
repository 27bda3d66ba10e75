"""Dropout and random number generation.

Generating random numbers is not counted as arithmetic (it is integer bit work inside the
generator). A Bernoulli draw compares a uniform number with ``p``: 1 other per element.
Dropout in training is ``x·mask·1/(1 − p)``: 2 mults per element (eager CPU autograd runs it
as ``bernoulli_`` + ``div_`` + ``mul``, each counted by its own formula).
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import elements
from .pointwise import per_element
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()

FORMULAS.register("bernoulli", "bernoulli_")(per_element(
    "bernoulli", "forward: 1 other (compare a uniform draw with p) per element; backward: "
    "none (no gradient).", other=1))

FORMULAS.register(
    "uniform_", "normal_", "normal", "exponential_", "random_", "geometric_", "cauchy_",
    "log_normal_", "rand", "randn", "randint", "rand_like", "randn_like", "randint_like",
    "randperm", "multinomial",
)(per_element(
    "random", "Random fills. forward: 0 arithmetic (generation is not counted); backward: "
    "none."))


@FORMULAS.register("native_dropout")
def native_dropout(call: OpCall, counting: str) -> OpCost:
    """``native_dropout(x, p, train)`` → (out, mask).

    forward: training: 1 other (Bernoulli draw) + 2 mults (mask, ``1/(1 − p)``) per element;
    not training: 0 (a copy); backward: see ``native_dropout_backward``.
    """
    train = call.arg("train", True)
    if train is False:
        return OpCost(Cost())
    n = elements(call)
    return OpCost(Cost(mults=2 * n, other=n))


FORMULAS.register("native_dropout_backward")(per_element(
    "native_dropout_backward", "forward: see ``native_dropout``; backward: ``g·mask·scale``: 2 "
    "mults per element.", mults=2))
