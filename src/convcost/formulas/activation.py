"""Activation functions and their backward ops, counted per element.

Counts follow the branch-free form a vectorised kernel evaluates: a select between two
branches is one comparison (other) and both branches' arithmetic is counted once per element.
Multiplications by constants count as mults; divisions, exp/log/tanh/erf and comparisons are
other (one each). ``sigmoid(x) = 1/(1 + exp(−x))`` is 1 add + 2 other (the negation is folded
into the exponential).
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import elements, need_tensor
from .pointwise import per_element
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()

FORMULAS.register("relu", "relu_", "threshold", "threshold_", "threshold_backward")(per_element(
    "relu", "``relu(x) = max(x, 0)``, ``threshold(x, t, v)``. forward: 1 other (compare/"
    "select) per element; backward (``threshold_backward``): 1 other (select g where x > t) "
    "per element.", other=1))

FORMULAS.register("hardtanh", "hardtanh_", "hardtanh_backward")(per_element(
    "hardtanh", "``hardtanh``/``relu6`` = clamp to [min, max]. forward: 2 other (two "
    "comparisons) per element; backward (``hardtanh_backward``): 2 other per element.",
    other=2))

FORMULAS.register("leaky_relu", "leaky_relu_", "leaky_relu_backward", "rrelu_with_noise",
         "rrelu_with_noise_", "rrelu_with_noise_backward", "_prelu_kernel")(per_element(
    "leaky_relu", "``x > 0 ? x : a·x`` (leaky_relu, rrelu with its noise as a, PReLU). "
    "forward: 1 mult + 1 other per element; backward: ``g`` or ``a·g``: 1 mult + 1 other per "
    "element (random noise generation is not counted).", mults=1, other=1))


@FORMULAS.register("_prelu_kernel_backward")
def prelu_backward(call: OpCall, counting: str) -> OpCost:
    """``_prelu_kernel_backward(g, x, w)`` → (grad_input, grad_weight per element).

    forward: see ``_prelu_kernel`` (1 mult + 1 other per element); backward: grad_input
    ``x > 0 ? g : w·g`` 1 mult + 1 other, grad_weight ``x > 0 ? 0 : x·g`` 1 mult + 1 other per
    element (its reduction to the weight's shape is a separate ``sum``).
    """
    n = need_tensor(call, "grad_output").numel
    part = Cost(mults=n, other=n)
    return OpCost(part + part, (("grad_input", part), ("grad_weight", part)))


FORMULAS.register("elu", "elu_", "celu", "celu_")(per_element(
    "elu", "``scale·(x > 0 ? x : α·(exp(x·s_in) − 1))`` (elu, celu, selu). forward: 3 mults, "
    "1 add, 2 other (exp, compare) per element; backward: see ``elu_backward``.",
    mults=3, adds=1, other=2))


@FORMULAS.register("elu_backward")
def elu_backward(call: OpCall, counting: str) -> OpCost:
    """``elu_backward(g, alpha, scale, input_scale, is_result, self_or_result)``.

    forward: see ``elu``; backward: from the result ``y``: ``g·s_in·(y + α·scale)``: 2 mults,
    1 add, 1 other (compare) per element; from the input: ``g·s_in·scale·α·exp(x·s_in)``:
    3 mults, 2 other (exp, compare) per element.
    """
    n = elements(call)
    if call.arg("is_result", False):
        return OpCost(Cost(mults=2 * n, adds=n, other=n))
    return OpCost(Cost(mults=3 * n, other=2 * n))


@FORMULAS.register("gelu", "gelu_")
def gelu(call: OpCall, counting: str) -> OpCost:
    """``gelu(x, approximate)``.

    forward: exact ``0.5·x·(1 + erf(x/√2))``: 3 mults, 1 add, 1 other (erf) per element;
    ``approximate="tanh"`` ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``: 6 mults, 2 adds,
    1 other (tanh); backward: see ``gelu_backward``.
    """
    n = elements(call)
    if call.arg("approximate", "none") == "tanh":
        return OpCost(Cost(mults=6 * n, adds=2 * n, other=n))
    return OpCost(Cost(mults=3 * n, adds=n, other=n))


@FORMULAS.register("gelu_backward")
def gelu_backward(call: OpCall, counting: str) -> OpCost:
    """``gelu_backward(g, x, approximate)``.

    forward: see ``gelu``; backward: exact ``g·(Φ(x) + x·φ(x))`` with
    ``Φ = 0.5·(1 + erf(x/√2))``, ``φ = exp(−x²/2)/√(2π)``: 7 mults, 2 adds, 2 other (erf,
    exp) per element; tanh approximation (PyTorch's kernel): 12 mults, 5 adds, 1 other (tanh).
    """
    n = elements(call)
    if call.arg("approximate", "none") == "tanh":
        return OpCost(Cost(mults=12 * n, adds=5 * n, other=n))
    return OpCost(Cost(mults=7 * n, adds=2 * n, other=2 * n))


FORMULAS.register("sigmoid", "sigmoid_", "_foreach_sigmoid", "_foreach_sigmoid_")(per_element(
    "sigmoid", "``1/(1 + exp(−x))``. forward: 1 add, 2 other (exp, division) per element; "
    "backward: see ``sigmoid_backward``.", adds=1, other=2))

FORMULAS.register("sigmoid_backward")(per_element(
    "sigmoid_backward", "forward: see ``sigmoid``; backward: ``g·y·(1 − y)``: 2 mults, 1 add "
    "per element.", mults=2, adds=1))

FORMULAS.register("tanh", "tanh_", "_foreach_tanh", "_foreach_tanh_")(per_element(
    "tanh", "forward: 1 other (tanh) per element; backward: see ``tanh_backward``.", other=1))

FORMULAS.register("tanh_backward")(per_element(
    "tanh_backward", "forward: see ``tanh``; backward: ``g·(1 − y²)``: 2 mults, 1 add per "
    "element.", mults=2, adds=1))

FORMULAS.register("silu", "silu_")(per_element(
    "silu", "``x·sigmoid(x)``. forward: 1 mult, 1 add, 2 other per element; backward: see "
    "``silu_backward``.", mults=1, adds=1, other=2))

FORMULAS.register("silu_backward")(per_element(
    "silu_backward", "forward: see ``silu``; backward: ``g·s·(1 + x·(1 − s))``, "
    "``s = sigmoid(x)``: 3 mults, 3 adds, 2 other per element.", mults=3, adds=3, other=2))

FORMULAS.register("hardsigmoid", "hardsigmoid_")(per_element(
    "hardsigmoid", "``clamp(x + 3, 0, 6)/6``. forward: 1 add, 2 other (clamp), 1 mult per "
    "element; backward: see ``hardsigmoid_backward``.", mults=1, adds=1, other=2))

FORMULAS.register("hardsigmoid_backward")(per_element(
    "hardsigmoid_backward", "forward: see ``hardsigmoid``; backward: ``−3 < x < 3 ? g/6 : 0``: "
    "2 other (compares), 1 mult per element.", mults=1, other=2))

FORMULAS.register("hardswish", "hardswish_")(per_element(
    "hardswish", "``x·clamp(x + 3, 0, 6)/6``. forward: 2 mults, 1 add, 2 other per element; "
    "backward: see ``hardswish_backward``.", mults=2, adds=1, other=2))

FORMULAS.register("hardswish_backward")(per_element(
    "hardswish_backward", "forward: see ``hardswish``; backward: ``x < −3 ? 0 : x ≤ 3 ? "
    "g·(x/3 + 0.5) : g``: 2 mults, 1 add, 2 other (compares) per element.",
    mults=2, adds=1, other=2))

FORMULAS.register("mish", "mish_")(per_element(
    "mish", "``x·tanh(log1p(exp(x)))``. forward: 1 mult, 3 other per element; backward: see "
    "``mish_backward``.", mults=1, other=3))

FORMULAS.register("mish_backward")(per_element(
    "mish_backward", "forward: see ``mish``; backward: ``g·(t + x·s·(1 − t²))`` with "
    "``t = tanh(softplus(x))``, ``s = sigmoid(x)``: 4 mults, 3 adds, 5 other per element.",
    mults=4, adds=3, other=5))

FORMULAS.register("softplus")(per_element(
    "softplus", "``x·β > threshold ? x : log1p(exp(x·β))/β``. forward: 1 mult, 4 other "
    "(compare, exp, log1p, division) per element; backward: see ``softplus_backward``.",
    mults=1, other=4))

FORMULAS.register("softplus_backward")(per_element(
    "softplus_backward", "forward: see ``softplus``; backward: ``z = exp(x·β)``, "
    "``g·z/(z + 1)``: 2 mults, 1 add, 3 other (compare, exp, division) per element.",
    mults=2, adds=1, other=3))

FORMULAS.register("log_sigmoid_forward")(per_element(
    "log_sigmoid_forward", "``min(x, 0) − log1p(exp(−|x|))``. forward: 1 add, 4 other (min, "
    "abs, exp, log1p) per element; backward: see ``log_sigmoid_backward``.", adds=1, other=4))

FORMULAS.register("log_sigmoid_backward")(per_element(
    "log_sigmoid_backward", "forward: see ``log_sigmoid_forward``; backward: ``z = "
    "exp(−|x|)``, ``g·(m − s·z/(1 + z))``: 2 mults, 2 adds, 4 other (compare, abs, exp, "
    "division) per element.", mults=2, adds=2, other=4))

FORMULAS.register("softshrink")(per_element(
    "softshrink", "``x > λ ? x − λ : x < −λ ? x + λ : 0``. forward: 1 add, 2 other per "
    "element; backward (``softshrink_backward``): 2 other per element.", adds=1, other=2))

FORMULAS.register("hardshrink", "softshrink_backward", "hardshrink_backward")(per_element(
    "shrink", "``|x| > λ ? x : 0`` (hardshrink) and the shrink backwards ``|x| > λ ? g : 0``. "
    "forward: 2 other (compares) per element; backward: 2 other per element.", other=2))


@FORMULAS.register("glu")
def glu(call: OpCall, counting: str) -> OpCost:
    """``glu(x, dim)`` = ``a·sigmoid(b)``, ``a``/``b`` the halves of x.

    forward: per output element 1 mult + sigmoid (1 add, 2 other); backward: see
    ``glu_backward``.
    """
    n = elements(call)
    return OpCost(Cost(mults=n, adds=n, other=2 * n))


@FORMULAS.register("glu_backward")
def glu_backward(call: OpCall, counting: str) -> OpCost:
    """``glu_backward(g, x, dim)``.

    forward: see ``glu``; backward: per element of g: ``s = sigmoid(b)`` (1 add, 2 other),
    ``ga = g·s`` (1 mult), ``gb = g·a·s·(1 − s)`` (3 mults, 1 add): 4 mults, 2 adds, 2 other.
    """
    n = need_tensor(call, "grad_output").numel
    return OpCost(Cost(mults=4 * n, adds=2 * n, other=2 * n))
