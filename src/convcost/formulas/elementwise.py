"""Elementwise arithmetic, math functions and comparisons (with in-place and ``_foreach_``
variants; a ``_foreach_`` op costs the same per element of every tensor in its list).

Per produced element: an addition or subtraction is 1 add, a multiplication 1 mult, and every
other scalar operation — division, comparison, select, exp/log/sqrt/trig, abs, negation,
rounding — 1 other. Broadcast operands cost nothing extra. These ops are their own
backward: autograd differentiates them with other ops of this module, each counted on its own.
Integer tensors (e.g. an optimizer's step counter) are counted the same way.
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import elements, is_one
from .pointwise import per_element
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


@FORMULAS.register(
    "add", "add_", "sub", "sub_", "rsub",
    "_foreach_add", "_foreach_add_", "_foreach_sub", "_foreach_sub_",
)
def add(call: OpCall, counting: str) -> OpCost:
    """``add``/``sub``/``rsub`` (``x ± alpha·y``).

    forward: 1 add per element, plus 1 mult when ``alpha ≠ 1``; backward: identity / ``neg`` /
    ``mul`` by alpha and ``sum`` for broadcast operands (separate ops).
    """
    n = elements(call)
    return OpCost(Cost(adds=n, mults=0 if is_one(call.arg("alpha", 1)) else n))


FORMULAS.register("mul", "mul_", "_foreach_mul", "_foreach_mul_")(per_element(
    "mul", "forward: 1 mult per element; backward: 1 mult per element for each operand's "
    "gradient (separate ``mul`` ops).", mults=1))


@FORMULAS.register("div", "div_", "_foreach_div", "_foreach_div_")
def div(call: OpCall, counting: str) -> OpCost:
    """``div`` (``x / y``).

    forward: 1 other (division) per element, plus 1 other (rounding) with ``rounding_mode``;
    backward: ``div`` for x, ``mul``/``div``/``neg`` for y (separate ops).
    """
    n = elements(call)
    return OpCost(Cost(other=2 * n if call.arg("rounding_mode") else n))


@FORMULAS.register("pow", "pow_", "_foreach_pow", "_foreach_pow_")
def pow_(call: OpCall, counting: str) -> OpCost:
    """``pow(x, e)``.

    forward: with a scalar exponent, PyTorch's special cases: e = 2: 1 mult; e = 3: 2 mults;
    e = ±0.5, −1: 1 other (sqrt, rsqrt, reciprocal); e = −2: 1 mult + 1 other; e = 1: 0;
    any other exponent (or a tensor exponent, or ``scalar ** tensor``): 1 other (pow) per
    element; backward: ``pow``/``mul`` ops.
    """
    n = elements(call)
    e = call.arg("exponent")
    if isinstance(e, (int, float)) and not isinstance(e, bool) and call.name.startswith("pow"):
        table = {2: Cost(mults=1), 3: Cost(mults=2), 0.5: Cost(other=1), -0.5: Cost(other=1),
                 -1: Cost(other=1), -2: Cost(mults=1, other=1), 1: Cost()}
        if e in table:
            return OpCost(table[e] * n)
    return OpCost(Cost(other=n))


@FORMULAS.register("addcmul", "addcmul_", "_foreach_addcmul", "_foreach_addcmul_")
def addcmul(call: OpCall, counting: str) -> OpCost:
    """``addcmul(x, t1, t2, value)`` = ``x + value·t1·t2`` (optimizers).

    forward: 1 mult + 1 add per element, plus 1 mult when ``value ≠ 1``; backward: ``mul``
    ops.
    """
    n = elements(call)
    value = call.arg("value", call.arg("scalars", 1))
    return OpCost(Cost(mults=n if is_one(value) else 2 * n, adds=n))


@FORMULAS.register("addcdiv", "addcdiv_", "_foreach_addcdiv", "_foreach_addcdiv_")
def addcdiv(call: OpCall, counting: str) -> OpCost:
    """``addcdiv(x, t1, t2, value)`` = ``x + value·t1/t2`` (Adam's update).

    forward: 1 other (division) + 1 add per element, plus 1 mult when ``value ≠ 1``;
    backward: ``div``/``mul`` ops.
    """
    n = elements(call)
    value = call.arg("value", call.arg("scalars", 1))
    return OpCost(Cost(mults=0 if is_one(value) else n, adds=n, other=n))


FORMULAS.register("lerp", "lerp_", "_foreach_lerp", "_foreach_lerp_")(per_element(
    "lerp", "``lerp(x, end, w)`` = ``x + w·(end − x)``. forward: 2 adds + 1 mult per element; "
    "backward: ``mul``/``sub`` ops.", mults=1, adds=2))


@FORMULAS.register("clamp", "clamp_")
def clamp(call: OpCall, counting: str) -> OpCost:
    """``clamp(x, min, max)`` (scalar or tensor bounds).

    forward: 1 comparison (other) per element for each bound given; backward: ``where`` /
    comparison ops.
    """
    bounds = sum(1 for k in ("min", "max") if call.arg(k) is not None)
    return OpCost(Cost(other=bounds * elements(call)))


FORMULAS.register(
    "neg", "neg_", "_foreach_neg", "_foreach_neg_",
    "reciprocal", "reciprocal_", "_foreach_reciprocal", "_foreach_reciprocal_",
    "sqrt", "sqrt_", "_foreach_sqrt", "_foreach_sqrt_",
    "rsqrt", "rsqrt_", "_foreach_rsqrt", "_foreach_rsqrt_",
    "exp", "exp_", "_foreach_exp", "_foreach_exp_", "exp2", "exp2_",
    "expm1", "expm1_", "_foreach_expm1", "_foreach_expm1_",
    "log", "log_", "_foreach_log", "_foreach_log_", "log2", "log2_", "_foreach_log2",
    "_foreach_log2_", "log10", "log10_", "_foreach_log10", "_foreach_log10_",
    "log1p", "log1p_", "_foreach_log1p", "_foreach_log1p_",
    "sin", "sin_", "_foreach_sin", "_foreach_sin_", "cos", "cos_", "_foreach_cos",
    "_foreach_cos_", "tan", "tan_", "_foreach_tan", "_foreach_tan_",
    "asin", "asin_", "acos", "acos_", "atan", "atan_", "sinh", "sinh_", "cosh", "cosh_",
    "asinh", "asinh_", "acosh", "acosh_", "atanh", "atanh_",
    "erf", "erf_", "_foreach_erf", "_foreach_erf_", "erfc", "erfc_", "erfinv", "erfinv_",
    "lgamma", "lgamma_", "digamma", "digamma_",
    "abs", "abs_", "_foreach_abs", "_foreach_abs_",
    "sign", "sign_", "_foreach_sign", "_foreach_sign_", "sgn", "sgn_", "signbit",
    "floor", "floor_", "ceil", "ceil_", "round", "round_", "trunc", "trunc_", "frac", "frac_",
    "_foreach_floor", "_foreach_floor_", "_foreach_ceil", "_foreach_ceil_",
    "_foreach_round", "_foreach_round_", "_foreach_trunc", "_foreach_trunc_",
    "_foreach_frac", "_foreach_frac_",
    "isnan", "isinf", "isfinite", "isneginf", "isposinf", "nan_to_num", "nan_to_num_",
    "logical_not", "logical_not_", "bitwise_not", "bitwise_not_",
)(per_element(
    "unary_function", "Unary math (neg, reciprocal, sqrt, rsqrt, exp, log, trig, erf, abs, "
    "sign, rounding, isnan, logical_not, ...). forward: 1 other per element; backward: "
    "autograd's elementwise ops (e.g. ``sqrt``: ``div``; ``exp``: ``mul``).", other=1))

FORMULAS.register(
    "eq", "eq_", "ne", "ne_", "lt", "lt_", "le", "le_", "gt", "gt_", "ge", "ge_",
    "logical_and", "logical_and_", "logical_or", "logical_or_", "logical_xor",
    "logical_xor_", "bitwise_and", "bitwise_and_", "bitwise_or", "bitwise_or_",
    "bitwise_xor", "bitwise_xor_",
    "maximum", "minimum", "fmax", "fmin", "_foreach_maximum", "_foreach_maximum_",
    "_foreach_minimum", "_foreach_minimum_",
    "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "_foreach_clamp_min",
    "_foreach_clamp_min_", "_foreach_clamp_max", "_foreach_clamp_max_",
    "where", "masked_fill", "masked_fill_",
    "atan2", "atan2_", "copysign", "copysign_", "remainder", "remainder_", "fmod", "fmod_",
)(per_element(
    "binary_compare", "Comparisons, logical ops, max/min of two tensors, one-sided clamps, "
    "selects (where, masked_fill) and one-op binary functions (atan2, copysign, remainder, "
    "fmod). forward: 1 other per element; backward: ``where``/comparison ops.", other=1))

FORMULAS.register("floor_divide", "floor_divide_")(per_element(
    "floor_divide", "forward: 2 other per element (divide, floor); backward: none (integer "
    "valued).", other=2))

FORMULAS.register("hypot", "hypot_")(per_element(
    "hypot", "``sqrt(x² + y²)``. forward: 2 mults, 1 add, 1 other (sqrt) per element; "
    "backward: autograd's elementwise ops.", mults=2, adds=1, other=1))

FORMULAS.register("logaddexp")(per_element(
    "logaddexp", "``m + log1p(exp(−|x − y|))``. forward: 2 adds, 3 other (max, exp of the "
    "difference's negative magnitude, log1p) per element; backward: autograd's elementwise "
    "ops.", adds=2, other=3))

FORMULAS.register("xlogy", "xlogy_")(per_element(
    "xlogy", "``x·log(y)`` (0 where x = 0). forward: 1 mult, 2 other (log, compare) per "
    "element; backward: autograd's elementwise ops.", mults=1, other=2))
