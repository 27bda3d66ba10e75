"""Per-op formulas of whole-model analysis (convcost.formulas.*, the default registry).

Expected values are literals with their arithmetic in comments, or come from independent
brute-force loops; convolution ops must give exactly the single-layer calculator's numbers.
Calls are built the way the tracer builds them: arguments named by the op's real schema,
defaults filled in. The coverage tests run real models on fake tensors (torch only here,
never in the formulas) and require a formula for every aten op they dispatch.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import re
from collections.abc import Callable, Iterator
from itertools import product
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcost.cost import Cost
from convcost.errors import SpecError
from convcost.formulas.catalog import default_registry
from convcost.formulas.registry import FormulaRegistry
from convcost.frontends.torch_trace import op_call, signature
from convcost.layer import analyze_conv
from convcost.ops import OpCall, OpCost, TensorMeta, bind
from convcost.spec import conv_spec

REGISTRY = default_registry()
lookup = REGISTRY.lookup
torch_mod = importlib.import_module("torch")


def T(*shape: int, dtype: str = "float32") -> TensorMeta:  # noqa: N802 - reads like a shape
    """A tensor argument of ``shape``."""
    return TensorMeta(tuple(shape), dtype)


def aten_op(name: str) -> Any:
    """``"mm.default"`` -> ``torch.ops.aten.mm.default``."""
    base, _, overload = name.partition(".")
    return getattr(getattr(torch_mod.ops.aten, base), overload or "default")


def call_of(name: str, *args: Any, out: tuple[Any, ...] = (), **kwargs: Any) -> OpCall:
    """The call of aten op ``name`` as the tracer records it (named by the real schema)."""
    return bind(name, signature(aten_op(name)), args, kwargs, out)


def run(name: str, *args: Any, out: tuple[Any, ...] = (), counting: str = "dense",
        **kwargs: Any) -> OpCost:
    f = lookup(name)
    assert f is not None, name
    return f(call_of(name, *args, out=out, **kwargs), counting)


def c(name: str, *args: Any, out: tuple[Any, ...] = (), counting: str = "dense",
      **kwargs: Any) -> Cost:
    return run(name, *args, out=out, counting=counting, **kwargs).cost


# --------------------------------------------------------------------------- registry


def test_default_registry_is_built_once() -> None:
    assert default_registry() is default_registry()
    assert len(REGISTRY.registered_ops()) > 400 and len(REGISTRY.zero_cost_ops()) > 50


def test_registering_twice_raises() -> None:
    reg = REGISTRY.copy()
    with pytest.raises(SpecError, match="names: got 'mm'"):
        reg.register("mm")(lambda c, k: OpCost(Cost()))
    with pytest.raises(SpecError, match="registered once"):
        reg.zero_cost("again", "view")
    with pytest.raises(SpecError, match="registered once"):
        reg.register("view")(lambda c, k: OpCost(Cost()))
    with pytest.raises(SpecError):  # also within one new registry, and through include()
        fresh = FormulaRegistry()
        fresh.register("a_op", "a_op")(lambda c, k: OpCost(Cost()))
    with pytest.raises(SpecError):
        reg.include(REGISTRY)
    # the default registry itself was not touched
    assert lookup("mm.default") is REGISTRY.registered_ops()["mm"]
    assert REGISTRY.zero_cost_reason("view.default") is not None


def test_every_zero_cost_name_resolves_to_zero() -> None:
    zero = REGISTRY.zero_cost_ops()
    assert len(zero) > 50
    for name, reason in zero.items():
        assert reason and REGISTRY.zero_cost_reason(name) == reason
        f = lookup(name)
        assert f is not None
        assert f(OpCall(name, (T(2, 3),)), "dense") == OpCost(Cost())
        if "." not in name:
            g = lookup(name + ".default")
            assert g is not None and g(OpCall(name, ()), "dense").cost == Cost()


def test_every_formula_is_documented() -> None:
    for name, f in REGISTRY.registered_ops().items():
        doc = f.__doc__ or ""
        assert "forward" in doc and "backward" in doc, name
        # as words of their own: naming an op such as ``threshold_backward`` is not enough
        assert re.search(r"\bforward\b", doc) and re.search(r"\bbackward\b", doc), name


def test_registered_names_are_aten_ops() -> None:
    torch = torch_mod
    importlib.import_module("convcost.frontends.onnx")  # defines the convcost_onnx:: ops
    importlib.import_module("torchvision")  # defines the torchvision:: ops (nms, roi_align)
    for name in [*REGISTRY.registered_ops(), *REGISTRY.zero_cost_ops()]:
        if "::" in name:  # other namespaces (prim::device.default, profiler::*)
            ns, _, rest = name.partition("::")
            base, _, overload = rest.partition(".")
            assert hasattr(getattr(getattr(torch.ops, ns), base), overload), name
            continue
        assert hasattr(torch.ops.aten, name), name


def test_calls_are_named_by_the_schema_with_defaults() -> None:
    # max_pool2d_with_indices(self, kernel_size, stride=[], padding=0, dilation=1, ceil_mode)
    call = call_of("max_pool2d_with_indices.default", T(1, 1, 4, 4), [2, 2])
    assert call["kernel_size"] == [2, 2] and call["padding"] == (0, 0)
    assert call.arg("ceil_mode") is False and call.names[0] == "self"
    # keyword-only arguments: given, or the schema's default
    add = call_of("add.Tensor", T(3), T(3))
    assert add.kwargs == (("alpha", 1),) and add.arg("alpha") == 1
    assert "alpha" in add and "beta" not in add and add.arg("beta", 5) == 5
    with pytest.raises(KeyError, match=r"add\.Tensor: no argument 'beta'"):
        add["beta"]
    # a positional parameter given by keyword is put in its place
    s = call_of("sum.dim_IntList", T(2, 3), dim=[1])
    assert s.args[1] == [1] and s.names[:2] == ("self", "dim") and s["keepdim"] is False
    assert s.named() == (("self", T(2, 3)), ("dim", [1]), ("keepdim", False), ("dtype", None))
    assert s.values() == (T(2, 3), [1], False, None)


# --------------------------------------------------------------------------- matmul family


def test_mm_literal() -> None:
    # [2,3] @ [3,4]: 8 outputs × 3 products = 24 mults; 8 × (3 − 1) = 16 adds.
    assert c("mm.default", T(2, 3), T(3, 4)) == Cost(mults=24, adds=16, macs=24)


def test_addmm_literal_with_alpha_beta() -> None:
    # mm part 24 mults / 16 adds; bias: +8 adds; alpha=2: +8 mults; beta=0.5: +8 mults.
    args = (T(4), T(2, 3), T(3, 4))
    assert c("addmm.default", *args) == Cost(mults=24, adds=24, macs=24)
    assert c("addmm.default", *args, alpha=2) == Cost(mults=32, adds=24, macs=24)
    assert c("addmm.default", *args, beta=0.5) == Cost(mults=32, adds=24, macs=24)
    assert c("addmm.default", *args, beta=0) == Cost(mults=24, adds=16, macs=24)


def test_batched_and_vector_products_literal() -> None:
    # bmm [5,2,3]@[5,3,4]: 40 outputs × 3 → 120 mults, 80 adds.
    assert c("bmm.default", T(5, 2, 3), T(5, 3, 4)) == Cost(mults=120, adds=80, macs=120)
    # baddbmm: + 40 bias adds.
    assert c("baddbmm.default", T(5, 2, 4), T(5, 2, 3), T(5, 3, 4)) == Cost(120, 120, 120)
    # addbmm: 8 outputs, each Σ over 5·3 = 15 products: 120 mults, 8·14 + 8 = 120 adds.
    assert c("addbmm.default", T(2, 4), T(5, 2, 3), T(5, 3, 4)) == Cost(120, 120, 120)
    # mv [3,4]·[4]: 3·4 = 12 mults, 3·3 = 9 adds; addmv + 3 adds.
    assert c("mv.default", T(3, 4), T(4)) == Cost(12, 9, 12)
    assert c("addmv.default", T(3), T(3, 4), T(4)) == Cost(12, 12, 12)
    # dot of length 7: 7 mults, 6 adds.
    assert c("dot.default", T(7), T(7)) == Cost(7, 6, 7)


def brute_products(outputs: int, k: int, bias: bool, alpha: float, beta: float) -> Cost:
    """Accumulate each output one product at a time; the first product is written, the
    rest are added; then alpha/beta/bias as ``beta·self + alpha·acc``."""
    mults = adds = 0
    for _ in range(outputs):
        started = False
        for _ in range(k):
            mults += 1
            if started:
                adds += 1
            started = True
        if alpha != 1:
            mults += 1
        if bias and beta != 0:
            if beta != 1:
                mults += 1
            adds += 1
    return Cost(mults=mults, adds=adds, macs=outputs * k)


dims = st.integers(1, 5)
scal = st.sampled_from([1, 0, 2, 0.5])


@settings(max_examples=40, deadline=None)
@given(b=dims, n=dims, k=dims, m=dims, alpha=scal, beta=scal)
def test_matmul_family_matches_brute_force(b: int, n: int, k: int, m: int, alpha: float,
                                           beta: float) -> None:
    assert c("mm.default", T(n, k), T(k, m)) == brute_products(n * m, k, False, 1, 1)
    assert c("bmm.default", T(b, n, k), T(b, k, m)) == brute_products(b * n * m, k, False, 1, 1)
    assert c("addmm.default", T(m), T(n, k), T(k, m), alpha=alpha, beta=beta) == \
        brute_products(n * m, k, True, alpha, beta)
    assert c("baddbmm.default", T(b, n, m), T(b, n, k), T(b, k, m), alpha=alpha,
             beta=beta) == brute_products(b * n * m, k, True, alpha, beta)
    assert c("addbmm.default", T(n, m), T(b, n, k), T(b, k, m), alpha=alpha, beta=beta) == \
        brute_products(n * m, b * k, True, alpha, beta)
    assert c("addmv.default", T(n), T(n, k), T(k), alpha=alpha, beta=beta) == \
        brute_products(n, k, True, alpha, beta)


# --------------------------------------------------------------------------- convolution


CONVS = [
    # (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    (T(2, 3, 9, 9), T(8, 3, 3, 3), True, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
    (T(1, 8, 10, 10), T(8, 2, 3, 3), False, [2, 2], [2, 2], [2, 2], False, [0, 0], 4),
    (T(2, 4, 5, 5), T(4, 3, 4, 4), True, [2, 2], [1, 1], [1, 1], True, [1, 1], 2),
    (T(3, 4, 17), T(6, 4, 5), True, [3], [2], [1], False, [0], 1),
    (T(1, 2, 4, 5, 6), T(4, 2, 3, 3, 3), False, [1, 2, 1], [1, 0, 1], [1, 1, 1], False,
     [0, 0, 0], 1),
    (T(4, 7, 7), T(6, 4, 3, 3), True, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),  # unbatched
]


def _spec_kwargs(x: TensorMeta, w: TensorMeta, bias: bool, stride: list[int],
                 padding: list[int], dilation: list[int], tr: bool, op: list[int],
                 g: int) -> dict[str, Any]:
    nd = len(w.shape) - 2
    batched = len(x.shape) == len(w.shape)
    return dict(
        in_channels=x.shape[1] if batched else x.shape[0],
        out_channels=w.shape[1] * g if tr else w.shape[0],
        input_size=x.shape[-nd:], kernel=w.shape[2:], stride=stride, padding=padding,
        dilation=dilation, groups=g, batch=x.shape[0] if batched else 1, bias=bias,
        transposed=tr, output_padding=op if tr else 0,
    )


@pytest.mark.parametrize("counting", ["dense", "skip-padding"])
@pytest.mark.parametrize("case", CONVS)
def test_convolution_equals_single_layer_calculator(case: tuple[Any, ...], counting: str) -> None:
    x, w, bias, s, p, d, tr, op, g = case
    ref = analyze_conv(conv_spec(**_spec_kwargs(*case)), counting)
    args = (x, w, T(w.shape[1] * g if tr else w.shape[0]) if bias else None, s, p, d, tr, op, g)
    assert c("convolution.default", *args, counting=counting) == ref.forward
    assert c("_convolution.default", *args, False, False, True, True,
             counting=counting) == ref.forward


@pytest.mark.parametrize("mask", list(product([False, True], repeat=3)))
@pytest.mark.parametrize("case", CONVS)
def test_convolution_backward_honours_output_mask(case: tuple[Any, ...],
                                                  mask: tuple[bool, bool, bool]) -> None:
    x, w, bias, s, p, d, tr, op, g = case
    kw = _spec_kwargs(*case)
    kw.update(bias=bias and mask[2], input_grad=mask[0])
    ref = analyze_conv(conv_spec(**kw)).backward
    gout = T(1)  # the formula reads shapes from input and weight
    bias_sizes = [w.shape[1] * g if tr else w.shape[0]] if bias else None
    r = run("convolution_backward.default", gout, x, w, bias_sizes, s, p, d, tr, op, g,
            list(mask))
    parts = dict(r.parts)
    assert parts["grad_input"] == (ref.grad_input if mask[0] else Cost())
    assert parts["grad_weight"] == (ref.grad_weight if mask[1] else Cost())
    assert parts["grad_bias"] == (ref.grad_bias if mask[2] and bias else Cost())
    assert r.cost == parts["grad_input"] + parts["grad_weight"] + parts["grad_bias"]
    if mask[0] and mask[1]:
        # backward MACs = 2 × forward MACs when both gradients are needed
        assert r.cost.macs == 2 * analyze_conv(conv_spec(**_spec_kwargs(*case))).macs


# --------------------------------------------------------------------------- attention


def test_sdpa_forward_literal() -> None:
    # q[1,2,3,4] k[1,2,5,4] v[1,2,5,6]: B=2, Lq=3, Lk=5, E=4, Ev=6, S=30 scores.
    # q·kᵀ: 30·4 = 120 mults, 30·3 = 90 adds; scale: 30 mults;
    # softmax, 6 rows of 5: adds 30 + 6·4 = 54, other 6·4 + 2·30 = 84;
    # P·v: 36 outputs × 5 = 180 mults, 36·4 = 144 adds.
    q, k, v = T(1, 2, 3, 4), T(1, 2, 5, 4), T(1, 2, 5, 6)
    name = "_scaled_dot_product_flash_attention_for_cpu.default"
    assert c(name, q, k, v) == Cost(mults=330, adds=288, macs=300, other=84)
    # causal mask: + one add per score
    assert c(name, q, k, v, 0.0, True) == Cost(mults=330, adds=318, macs=300, other=84)
    # dropout: + 2 mults and 1 other per score
    assert c(name, q, k, v, 0.1) == Cost(mults=390, adds=288, macs=300, other=114)


def test_sdpa_backward_literal_and_masks() -> None:
    q, k, v = T(1, 2, 3, 4), T(1, 2, 5, 4), T(1, 2, 5, 6)
    g, o, lse = T(1, 2, 3, 6), T(1, 2, 3, 6), T(1, 2, 3)
    # recompute q·kᵀ 120 mults/90 adds, scale 30 m, exp(s − lse) 30 a + 30 o;
    # dV: 2·5·6 = 60 outputs × 3 = 180 m, 120 a; dP: 30 × 6 = 180 m, 150 a;
    # D: 6 rows × 6 = 36 m, 30 a; dS: 60 m, 30 a; dQ: 24 outputs × 5 = 120 m, 96 a;
    # dK: 40 outputs × 3 = 120 m, 80 a.
    full = Cost(mults=120 + 30 + 180 + 180 + 36 + 60 + 120 + 120,
                adds=90 + 30 + 120 + 150 + 30 + 30 + 96 + 80,
                macs=120 + 180 + 180 + 120 + 120, other=30)
    r = run("_scaled_dot_product_flash_attention_for_cpu_backward.default",
            g, q, k, v, o, lse, 0.0, False)
    assert r.cost == full and r.parts == (("grad_input", full),)
    # efficient attention asking only for dV: recompute + dV
    only_v = Cost(mults=120 + 30 + 180, adds=90 + 30 + 120, macs=300, other=30)
    eff = c("_scaled_dot_product_efficient_attention_backward.default", g, q, k, v, None, o,
            lse, T(), T(), 0.0, [False, False, True, False], False)
    assert eff == only_v


def test_native_mha_fast_path_literal() -> None:
    # x[1,2,4], D = 4, H = 2 heads of 2, no mask, no weights returned.
    # q/k/v projections: 8 + 16 outputs × 4 → 32 + 64 mults, 24 + 48 adds; biases 24 adds;
    # q scale 8 mults; q·kᵀ: 8 scores × 2 → 16 m, 8 a; softmax 4 rows of 2: 12 a, 20 o;
    # P·v: 8 outputs × 2 → 16 m, 8 a; output projection 8 × 4 → 32 m, 24 a, + 8 bias adds.
    x, w = T(1, 2, 4), T(12, 4)
    r = c("_native_multi_head_attention.default", x, x, x, 4, 2, w, T(12), T(4, 4), T(4),
          None, False)
    assert r == Cost(mults=168, adds=156, macs=160, other=20)


# --------------------------------------------------------------------------- PyTorch's counter


def test_two_macs_equal_torch_flop_counter() -> None:
    torch = importlib.import_module("torch")
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    cases = [
        (aten.mm, "mm.default", (T(7, 5), T(5, 3)), ((7, 5), (5, 3))),
        (aten.addmm, "addmm.default", (T(3), T(7, 5), T(5, 3)), ((3,), (7, 5), (5, 3))),
        (aten.bmm, "bmm.default", (T(2, 7, 5), T(2, 5, 3)), ((2, 7, 5), (2, 5, 3))),
        (aten.baddbmm, "baddbmm.default", (T(2, 7, 3), T(2, 7, 5), T(2, 5, 3)),
         ((2, 7, 3), (2, 7, 5), (2, 5, 3))),
    ]
    for op, name, metas, shapes in cases:
        assert 2 * c(name, *metas).macs == flop_registry[op](*shapes)
    for case in CONVS[:5]:
        x, w, _bias, s, p, d, tr, op_, g = case
        out = analyze_conv(conv_spec(**_spec_kwargs(*case))).output_shape
        ours = c("convolution.default", x, w, None, s, p, d, tr, op_, g).macs
        assert 2 * ours == flop_registry[aten.convolution](
            x.shape, w.shape, None, s, p, d, tr, out_val=out)
        if g == 1:  # torch's counter overcounts grad-weight of grouped convs by g
            bw = c("convolution_backward.default", T(*out), x, w, None, s, p, d, tr, op_, g,
                   [True, True, False]).macs
            ref = flop_registry[aten.convolution_backward](
                out, x.shape, w.shape, None, s, p, d, tr, op_, g, [True, True, False],
                out_val=[x.shape, w.shape, None])
            assert 2 * bw == ref
    # Where torch's counter is wrong: a grouped conv's grad-weight is overcounted g times.
    x, w, _bias, s, p, d, tr, op_, g = CONVS[1]
    out = analyze_conv(conv_spec(**_spec_kwargs(*CONVS[1]))).output_shape
    parts = dict(run("convolution_backward.default", T(*out), x, w, None, s, p, d, tr, op_, g,
                     [True, True, False]).parts)
    ref = flop_registry[aten.convolution_backward](
        out, x.shape, w.shape, None, s, p, d, tr, op_, g, [True, True, False],
        out_val=[x.shape, w.shape, None])
    assert g == 4 and ref == 2 * (parts["grad_input"].macs + g * parts["grad_weight"].macs)
    q, k, v = (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)
    fwd = c("_scaled_dot_product_efficient_attention.default", T(*q), T(*k), T(*v), None, False)
    assert 2 * fwd.macs == flop_registry[aten._scaled_dot_product_efficient_attention](q, k, v)
    cpu = c("_scaled_dot_product_flash_attention_for_cpu.default", T(*q), T(*k), T(*v))
    assert cpu.macs == fwd.macs
    bwd = c("_scaled_dot_product_efficient_attention_backward.default", T(2, 3, 5, 4), T(*q),
            T(*k), T(*v), None, T(2, 3, 5, 4), T(2, 3, 5), T(), T(), 0.0,
            [True, True, True, False], False)
    ref = flop_registry[aten._scaled_dot_product_efficient_attention_backward](
        (2, 3, 5, 4), q, k, v)
    assert 2 * bwd.macs == ref


# --------------------------------------------------------------------------- elementwise


def test_elementwise_literals() -> None:
    # [2,3] + [3] broadcasts to 6 elements.
    assert c("add.Tensor", T(2, 3), T(3), out=(T(2, 3),)) == Cost(adds=6)
    assert c("add.Tensor", T(2, 3), T(3), out=(T(2, 3),), alpha=2) == Cost(adds=6, mults=6)
    assert c("sub.Tensor", T(2, 3), T(2, 3)) == Cost(adds=6)  # no output given: broadcast
    assert c("rsub.Scalar", T(4), 1, out=(T(4),)) == Cost(adds=4)
    assert c("mul_.Tensor", T(5), 0.9, out=(T(5),)) == Cost(mults=5)
    assert c("div.Tensor_mode", T(5), T(5), out=(T(5),), rounding_mode="floor") == Cost(other=10)
    assert c("div.Scalar", T(5), 4, out=(T(5),)) == Cost(other=5)
    assert c("pow.Tensor_Scalar", T(5), 2, out=(T(5),)) == Cost(mults=5)
    assert c("pow.Tensor_Scalar", T(5), 3, out=(T(5),)) == Cost(mults=10)
    assert c("pow.Tensor_Scalar", T(5), 0.5, out=(T(5),)) == Cost(other=5)
    assert c("pow.Tensor_Scalar", T(5), 1.7, out=(T(5),)) == Cost(other=5)
    assert c("pow.Scalar", 2, T(5), out=(T(5),)) == Cost(other=5)
    assert c("sqrt.default", T(3, 3), out=(T(3, 3),)) == Cost(other=9)
    assert c("where.self", T(4, dtype="bool"), T(4), T(), out=(T(4),)) == Cost(other=4)
    assert c("clamp.default", T(4), None, 6.0, out=(T(4),)) == Cost(other=4)
    assert c("clamp.default", T(4), 0.0, 6.0, out=(T(4),)) == Cost(other=8)
    # addcmul x + v·a·b: 1 mult + 1 add, + 1 mult when v ≠ 1; addcdiv: division is other.
    assert c("addcmul_.default", T(6), T(6), T(6), out=(T(6),), value=0.5) == \
        Cost(mults=12, adds=6)
    assert c("addcdiv_.default", T(6), T(6), T(6), out=(T(6),), value=-0.1) == \
        Cost(mults=6, adds=6, other=6)
    assert c("lerp_.Scalar", T(6), T(6), 0.1, out=(T(6),)) == Cost(mults=6, adds=12)


def test_foreach_ops_count_every_tensor() -> None:
    params = (T(2, 3), T(4))  # 6 + 4 = 10 elements; in-place foreach ops return nothing
    assert c("_foreach_add_.List", params, params, alpha=-0.1) == Cost(adds=10, mults=10)
    assert c("_foreach_mul_.Scalar", params, 0.9) == Cost(mults=10)
    assert c("_foreach_sqrt.default", params, out=params) == Cost(other=10)
    assert c("_foreach_addcdiv_.ScalarList", params, params, params, (0.1, 0.2)) == \
        Cost(mults=10, adds=10, other=10)
    # norms for gradient clipping: Σ x² per tensor: 6 + 4 mults, 5 + 3 adds, 2 sqrt
    assert c("_foreach_norm.Scalar", params, 2) == Cost(mults=10, adds=8, other=2)


def test_activation_literals() -> None:
    x = T(2, 5)  # 10 elements
    o = (x,)
    assert c("relu_.default", x, out=o) == Cost(other=10)
    assert c("threshold_backward.default", x, x, 0, out=o) == Cost(other=10)
    assert c("hardtanh_.default", x, 0.0, 6.0, out=o) == Cost(other=20)
    assert c("gelu.default", x, out=o) == Cost(mults=30, adds=10, other=10)
    assert c("gelu.default", x, out=o, approximate="tanh") == Cost(mults=60, adds=20, other=10)
    assert c("gelu_backward.default", x, x, out=o) == Cost(mults=70, adds=20, other=20)
    assert c("silu.default", x, out=o) == Cost(mults=10, adds=10, other=20)
    assert c("silu_backward.default", x, x, out=o) == Cost(mults=30, adds=30, other=20)
    assert c("sigmoid.default", x, out=o) == Cost(adds=10, other=20)
    assert c("sigmoid_backward.default", x, x, out=o) == Cost(mults=20, adds=10)
    assert c("tanh_backward.default", x, x, out=o) == Cost(mults=20, adds=10)
    assert c("hardswish_backward.default", x, x, out=o) == Cost(mults=20, adds=10, other=20)
    assert c("leaky_relu.default", x, 0.1, out=o) == Cost(mults=10, other=10)
    assert c("elu_backward.default", x, 1.0, 1, 1.0, True, x, out=o) == \
        Cost(mults=20, adds=10, other=10)
    # glu on [2,6] → [2,3]: 6 outputs × (1 mult, 1 add, 2 other); backward per g element.
    assert c("glu.default", T(2, 6), 1, out=(T(2, 3),)) == Cost(mults=6, adds=6, other=12)
    assert c("glu_backward.default", T(2, 3), T(2, 6), 1, out=(T(2, 6),)) == \
        Cost(mults=24, adds=12, other=12)
    r = run("_prelu_kernel_backward.default", x, x, T(1), out=(x, x))
    assert dict(r.parts)["grad_weight"] == Cost(mults=10, other=10)


# --------------------------------------------------------------------------- reductions


def test_reduction_literals() -> None:
    # sum of [2,3,4] over (1, 2) → 2 results of 12: 2·11 = 22 adds.
    assert c("sum.dim_IntList", T(2, 3, 4), [1, 2], out=(T(2),)) == Cost(adds=22)
    assert c("sum.default", T(2, 3, 4), out=(T(),)) == Cost(adds=23)
    # mean → + 2 divisions.
    assert c("mean.dim", T(2, 3, 4), [-1, -2], True, out=(T(2, 1, 1),)) == Cost(adds=22, other=2)
    # without the output, dims decide: [2,3,4] over dim 2 → 6 rows of 4 → 18 adds.
    assert c("sum.dim_IntList", T(2, 3, 4), [2]) == Cost(adds=18)
    assert c("amax.default", T(2, 3, 4), [-1], out=(T(2, 3),)) == Cost(other=18)
    assert c("max.other", T(4), T(4), out=(T(4),)) == Cost(other=4)
    # var over 6 rows of 4 (E=24, R=6): mults 24, adds 2·18 + 24 = 60, other 2·6 = 12.
    assert c("var.correction", T(6, 4), [1], out=(T(6),), correction=1) == \
        Cost(mults=24, adds=60, other=12)
    # ‖x‖₂ over rows: square 24, sum 18, sqrt 6.
    assert c("linalg_vector_norm.default", T(6, 4), 2.0, [-1], True, out=(T(6, 1),)) == \
        Cost(mults=24, adds=18, other=6)
    # cdist [1,3,4] × [1,2,4], p = 2: 6 distances × (4 diffs + 4 squares + 3 adds + sqrt).
    assert c("_cdist_forward.default", T(1, 3, 4), T(1, 2, 4), 2.0, None) == \
        Cost(mults=24, adds=42, other=6)
    # backward: 24 diffs + 24 mults, 6 divisions, accumulation 12 coordinates × (2 − 1).
    assert c("_cdist_backward.default", T(1, 3, 2), T(1, 3, 4), T(1, 2, 4), 2.0,
             T(1, 3, 2)) == Cost(mults=24, adds=36, other=6)
    # cumsum along a dim of 4 in [6,4]: 6·3 = 18 adds.
    assert c("cumsum.default", T(6, 4), -1, out=(T(6, 4),)) == Cost(adds=18)


def test_softmax_family_literals() -> None:
    x = T(2, 5)  # 2 rows of 5: E = 10, Σ(L − 1) = 8
    # softmax: adds E + 8 = 18; other 8 (max) + 10 (exp) + 10 (div) = 28
    assert c("_softmax.default", x, -1, False, out=(x,)) == Cost(adds=18, other=28)
    # log_softmax: adds 10 + 8 + 10 = 28; other 8 + 10 + 2 (log) = 20
    assert c("_log_softmax.default", x, 1, False, out=(x,)) == Cost(adds=28, other=20)
    # backward: y·(g − Σ g·y): 20 mults, 8 + 10 adds
    assert c("_softmax_backward_data.default", x, x, -1, "float32", out=(x,)) == \
        Cost(mults=20, adds=18)
    # log-softmax backward: g − exp(y)·Σg: 10 mults, 18 adds, 10 exp
    assert c("_log_softmax_backward_data.default", x, x, 1, "float32", out=(x,)) == \
        Cost(mults=10, adds=18, other=10)


# --------------------------------------------------------------------------- norms


def test_batch_norm_literals() -> None:
    x = T(2, 3, 4, 4)  # n = 96, C = 3 rows of 32
    v = T(3)
    # statistics: mults 96, adds 3·96 − 3 = 285, other 9; normalise with γ, β: 192 m, 192 a;
    # running update: 15 mults, 6 adds.
    train = Cost(mults=96 + 192 + 15, adds=285 + 192 + 6, other=9)
    assert c("native_batch_norm.default", x, v, v, v, v, True, 0.1, 1e-5) == train
    # evaluation: rstd from running var (3 adds, 3 other) + normalise.
    ev = Cost(mults=192, adds=192 + 3, other=3)
    assert c("native_batch_norm.default", x, v, v, v, v, False, 0.1, 1e-5) == ev
    assert c("_native_batch_norm_legit_no_training.default", x, v, v, v, v, 0.1, 1e-5) == ev
    # no affine, no running stats (instance-norm style): 96 m, 285 + 96 a, 9 o.
    assert c("_native_batch_norm_legit.no_stats", x, None, None, True, 0.1, 1e-5) == \
        Cost(mults=96 + 96, adds=285 + 96, other=9)


def test_batch_norm_backward_masks() -> None:
    x, v = T(2, 3, 4, 4), T(3)
    name = "native_batch_norm_backward.default"
    # n = 96, R = P = 3. x̂: 96 m + 96 a. gw: 96 m, 93 a. gb: 93 a.
    # gi (train, with γ): mults 3·96 + 96 = 384, adds 4·96 − 6 = 378, other 6.
    full = run(name, x, x, v, v, v, v, v, True, 1e-5, [True, True, True])
    parts = dict(full.parts)
    assert parts["grad_weight"] == Cost(mults=192, adds=96 + 93)
    assert parts["grad_bias"] == Cost(adds=93)
    assert parts["grad_input"] == Cost(mults=384, adds=378, other=6)
    only_input = dict(run(name, x, x, v, v, v, v, v, True, 1e-5, [True, False, False]).parts)
    assert only_input["grad_input"] == Cost(mults=384 + 96, adds=378 + 96, other=6)
    assert only_input["grad_weight"] == only_input["grad_bias"] == Cost()
    # evaluation: dx = dy·(rstd·γ): 3 adds + 3 other (rstd), 3 mults (·γ), 96 mults.
    ev = dict(run(name, x, x, v, v, v, v, v, False, 1e-5, [True, False, False]).parts)
    assert ev["grad_input"] == Cost(mults=99, adds=3, other=3)


def test_layer_and_group_norm_literals() -> None:
    x = T(2, 5, 8)  # layer norm over [8]: n = 80, R = 10
    w = T(8)
    # stats 80 m, 3·80 − 10 = 230 a, 30 o; normalise 160 m, 160 a.
    assert c("native_layer_norm.default", x, [8], w, w, 1e-5) == Cost(240, 390, 0, 30)
    r = dict(run("native_layer_norm_backward.default", x, x, [8], T(2, 5, 1), T(2, 5, 1), w, w,
                 [True, True, True]).parts)
    # gb: 80 − 8 = 72 adds; gw: x̂ (80 m, 80 a) + 80 m + 72 a; gi: 4·80 m, 4·80 − 20 a, 20 o.
    assert r["grad_bias"] == Cost(adds=72)
    assert r["grad_weight"] == Cost(mults=160, adds=152)
    assert r["grad_input"] == Cost(mults=320, adds=300, other=20)
    # group norm [2,4,3,3], 2 groups: n = 72, R = 4; no affine: normalise 72 m, 72 a.
    g = T(2, 4, 3, 3)
    assert c("native_group_norm.default", g, None, None, 2, 4, 9, 2, 1e-5) == \
        Cost(mults=144, adds=3 * 72 - 4 + 72, other=12)
    gb = dict(run("native_group_norm_backward.default", g, g, T(2, 2), T(2, 2), T(4), 2, 4, 9,
                  2, [False, True, True]).parts)
    assert gb["grad_bias"] == Cost(adds=72 - 4)  # P = C = 4
    assert gb["grad_input"] == Cost()


# --------------------------------------------------------------------------- pooling


def brute_pool(size: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
               p: tuple[int, ...], d: tuple[int, ...], out: tuple[int, ...],
               counting: str) -> tuple[int, int, int]:
    """(Σ (window taps − 1), backward contributions − destinations, outputs) by enumeration."""
    window_ops = 0
    contributions = 0
    dests: set[tuple[int, ...]] = set()
    for o in product(*(range(n) for n in out)):
        taps = 0
        for kk in product(*(range(n) for n in k)):
            pos = tuple(oi * si + ki * di for oi, si, ki, di in zip(o, s, kk, d))
            real = tuple(q - pi for q, pi in zip(pos, p))
            inside = all(0 <= r < n for r, n in zip(real, size))
            if counting == "dense" or inside:
                taps += 1
                contributions += 1
                dests.add(pos if counting == "dense" else real)
        if taps:
            window_ops += taps - 1
    return window_ops, contributions - len(dests), math.prod(out)


@settings(max_examples=60, deadline=None)
@given(nd=st.integers(1, 2), data=st.data())
def test_pools_match_brute_force(nd: int, data: st.DataObject) -> None:
    k = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(data.draw(st.integers(0, ki // 2)) for ki in k)
    size = tuple(data.draw(st.integers(ki, ki + 6)) for ki in k)
    d = (1,) * nd
    out = tuple((n + 2 * pi - ki) // si + 1 for n, pi, ki, si in zip(size, p, k, s))
    x = T(2, 3, *size)
    y = T(2, 3, *out)
    for counting in ("dense", "skip-padding"):
        ops, scatter, outs = brute_pool(size, k, s, p, d, out, counting)
        if nd == 2:
            mp = c("max_pool2d_with_indices.default", x, list(k), list(s), list(p),
                   out=(y, y), counting=counting)
            assert mp == Cost(other=6 * ops)
        ap = c(f"avg_pool{max(nd, 2)}d.default", *( (T(2, 3, 1, *size),) if nd == 1 else (x,)),
               list((1, *k) if nd == 1 else k), list((1, *s) if nd == 1 else s),
               list((0, *p) if nd == 1 else p), counting=counting)
        assert ap == Cost(adds=6 * ops, other=6 * outs)
        if nd == 2:
            bw = c("avg_pool2d_backward.default", y, x, list(k), list(s), list(p), False, True,
                   None, counting=counting)
            assert bw == Cost(adds=6 * scatter, other=6 * outs)


def brute_adaptive(size: tuple[int, ...], out: tuple[int, ...]) -> tuple[int, int]:
    """(Σ window − outputs, Σ window − covered inputs) for PyTorch's adaptive windows."""
    total = 0
    covered: set[tuple[int, ...]] = set()
    for o in product(*(range(n) for n in out)):
        ranges = [range((oi * n) // m, ((oi + 1) * n + m - 1) // m)
                  for oi, n, m in zip(o, size, out)]
        for pos in product(*ranges):
            total += 1
            covered.add(pos)
    return total - math.prod(out), total - len(covered)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 5), ow=st.integers(1, 5))
def test_adaptive_pools_match_brute_force(h: int, w: int, oh: int, ow: int) -> None:
    fwd, bwd = brute_adaptive((h, w), (oh, ow))
    x, y = T(2, 3, h, w), T(2, 3, oh, ow)
    assert c("_adaptive_avg_pool2d.default", x, [oh, ow], out=(y,)) == \
        Cost(adds=6 * fwd, other=6 * oh * ow)
    assert c("_adaptive_avg_pool2d_backward.default", y, x, out=(x,)) == \
        Cost(adds=6 * bwd, other=6 * oh * ow)
    assert c("adaptive_max_pool2d.default", x, [oh, ow], out=(y, y)) == Cost(other=6 * fwd)


def test_max_pool_literal_and_backward() -> None:
    # 4×4, kernel 3, stride 2, padding 1 → 2×2; dense 4 outputs × 8 = 32 compares;
    # skip-padding: windows of 4, 6, 6, 9 taps → 3 + 5 + 5 + 8 = 21.
    x, y = T(1, 1, 4, 4), T(1, 1, 2, 2)
    args = (x, [3, 3], [2, 2], [1, 1])
    assert c("max_pool2d_with_indices.default", *args, out=(y, y)) == Cost(other=32)
    assert c("max_pool2d_with_indices.default", *args, out=(y, y),
             counting="skip-padding") == Cost(other=21)
    assert c("max_pool2d_with_indices_backward.default", y, x, [3, 3], [2, 2], [1, 1], [1, 1],
             False, y, out=(x,)) == Cost(adds=4)


# --------------------------------------------------------------------------- resampling


def test_upsample_literals() -> None:
    x, y = T(1, 1, 2, 2), T(1, 1, 4, 4)
    # bilinear: per output 4 + 2 = 6 mults, 3 adds; 16 outputs.
    assert c("upsample_bilinear2d.default", x, [4, 4], False, out=(y,)) == Cost(96, 48)
    assert c("upsample_nearest2d.default", x, [4, 4], out=(y,)) == Cost()
    # backward 2 → 4 per dim (align_corners False): sources o = 0..3 read {0,1},{0,1},{0,1},
    # {1} → 2 distinct per dim, 4 destinations; contributions 16·4 = 64 → 60 adds;
    # mults 16 outputs × 4 taps × 2 = 128.
    assert c("upsample_bilinear2d_backward.default", y, [4, 4], [1, 1, 2, 2], False,
             out=(x,)) == Cost(mults=128, adds=60)
    # trilinear forward: 8 + 4 + 2 = 14 mults, 7 adds per output; bicubic: 20 mults, 15 adds.
    assert c("upsample_trilinear3d.default", T(1, 1, 1, 1, 1), [1, 1, 2], False,
             out=(T(1, 1, 1, 1, 2),)) == Cost(28, 14)
    assert c("upsample_bicubic2d.default", x, [4, 4], False, out=(y,)) == Cost(320, 240)


@pytest.mark.parametrize("mode,size_in,size_out", [
    ("nearest", (3, 5), (7, 4)), ("nearest", (4, 4), (8, 8)), ("nearest", (5, 6), (3, 2)),
    ("nearest-exact", (3, 5), (7, 4)), ("nearest-exact", (6, 6), (4, 9)),
])
def test_nearest_backward_destinations_match_torch(mode: str, size_in: tuple[int, int],
                                                   size_out: tuple[int, int]) -> None:
    torch = importlib.import_module("torch")
    x = torch.zeros(1, 1, *size_in, requires_grad=True)
    y = torch.nn.functional.interpolate(x, size=size_out, mode=mode)
    y.backward(torch.ones_like(y))
    assert x.grad is not None
    hit = int((x.grad != 0).sum())  # input positions that receive a gradient
    outs = size_out[0] * size_out[1]
    name = ("_upsample_nearest_exact2d_backward.default" if mode == "nearest-exact"
            else "upsample_nearest2d_backward.default")
    assert c(name, T(1, 1, *size_out), list(size_out), [1, 1, *size_in]) == \
        Cost(adds=outs - hit)


# --------------------------------------------------------------------------- the rest


def test_movement_losses_dropout_optim_literals() -> None:
    assert c("cat.default", (T(2, 3), T(4, 3)), 0, out=(T(6, 3),)) == Cost()
    assert c("clone.default", T(5), out=(T(5),)) == Cost()
    assert lookup("clone.default") is not lookup("view.default")  # copies are not views
    assert not REGISTRY.is_zero_cost("clone.default") and not REGISTRY.is_zero_cost("_to_copy")
    # reflection pad backward: 18×18 padded gradient into 16×16: 324 − 256 = 68 adds/plane.
    assert c("reflection_pad2d_backward.default", T(1, 2, 18, 18), T(1, 2, 16, 16),
             [1, 1, 1, 1]) == Cost(adds=136)
    emb = run("embedding_dense_backward.default", T(2, 5, 16), T(2, 5, dtype="int64"), 50, -1,
              False)
    assert emb.cost == Cost(adds=160) and dict(emb.parts)["grad_weight"] == emb.cost
    # accumulate x[idx] += v: 3 indexed rows × 4 columns (values [4] broadcast) = 12 adds.
    assert c("index_put.default", T(10, 4), (T(3, dtype="int64"),), T(4), True) == \
        Cost(adds=12)
    # x[:, idx] += v on [5, 6, 2]: indices (None, [4]) → 5 · 4 · 2 = 40 adds.
    assert c("index_put_.default", T(5, 6, 2), (None, T(4, dtype="int64")), T(1), True) == \
        Cost(adds=40)
    assert c("index_put.default", T(10, 4), (T(3, dtype="int64"),), T(3, 4), False) == Cost()
    # nll_loss over 8 targets, mean: 7 adds + negation + division.
    assert c("nll_loss_forward.default", T(8, 10), T(8, dtype="int64"), None, 1, -100) == \
        Cost(adds=7, other=2)
    assert c("nll_loss_backward.default", T(), T(8, 10), T(8, dtype="int64"), None, 1, -100,
             T()) == Cost(other=2)
    # mse over 12: 12 adds + 12 mults + 11 adds + 1 division.
    assert c("mse_loss.default", T(3, 4), T(3, 4), 1) == Cost(mults=12, adds=23, other=1)
    assert c("native_dropout.default", T(10), 0.5, True, out=(T(10), T(10))) == \
        Cost(mults=20, other=10)
    assert c("native_dropout.default", T(10), 0.5, False, out=(T(10), T(10))) == Cost()
    assert c("bernoulli_.float", T(10), 0.8, out=(T(10),)) == Cost(other=10)
    params = (T(3, 4), T(4))  # 16 elements
    adam = c("_fused_adamw_.default", params, params, params, params, (), (T(), T()), lr=1e-3,
             beta1=0.9, beta2=0.999, weight_decay=0.01, eps=1e-8, amsgrad=False,
             maximize=False)
    assert adam == Cost(mults=16 * 6, adds=16 * 6, other=16 * 3)
    sgd = c("_fused_sgd_.default", params, params, params, weight_decay=0.0, momentum=0.9,
            lr=0.1, dampening=0.0, nesterov=False, maximize=False, is_first_step=False)
    assert sgd == Cost(mults=16 * 2, adds=16 * 2)


def test_lstm_layer_counts() -> None:
    # T=3, B=2, I=4, H=5, G=20. Per step: x·W_ihᵀ 40×4 (160 m, 120 a), h·W_hhᵀ 40×5
    # (200 m, 160 a), + 40 adds, + 80 bias adds, + (30 m, 40 a, 80 o) per B·H = 10.
    x = T(3, 2, 4)
    step = Cost(mults=160 + 200 + 30, adds=120 + 160 + 40 + 80 + 40, macs=360, other=80)
    assert c("mkldnn_rnn_layer.default", x, T(20, 4), T(20, 5), T(20), T(20), T(2, 5),
             T(2, 5), False, [], 2, 5, 1, True, False, False, True) == step * 3


# --------------------------------------------------------------------------- real models


def record(build: Callable[[], Any], inputs: Callable[[], tuple[Any, ...]],
           train: bool = True, optimizers: tuple[Callable[[Any], Any], ...] = (),
           inner: Any = None) -> list[OpCall]:
    """Every op a forward (+ loss, backward, optimizer steps) dispatches, on fake tensors."""
    torch = torch_mod
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: list[OpCall] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            calls.append(op_call(func, args, kwargs, out))
            return out

    model = build()
    model.train(train)
    fake = FakeTensorMode()
    for mod in model.modules():  # build on CPU normally, then make every tensor fake
        for n, p in list(mod._parameters.items()):
            if p is not None:
                mod._parameters[n] = torch.nn.Parameter(fake.from_tensor(p),
                                                        requires_grad=p.requires_grad)
        for n, b in list(mod._buffers.items()):
            if b is not None:
                mod._buffers[n] = fake.from_tensor(b)
    grad = torch.enable_grad() if train else torch.no_grad()  # inference: eval + no_grad
    with fake, inner if inner is not None else contextlib.nullcontext(), grad:
        xs = inputs()
        with Record():
            out = model(*xs)
            if isinstance(out, tuple):
                out = out[0]
            if train:
                loss = torch.nn.functional.cross_entropy(
                    out, torch.zeros(out.shape[0], dtype=torch.long))
                loss.backward()
                for make in optimizers:
                    make(model.parameters()).step()
    return calls


def _misc_model() -> Any:
    nn, F = torch_mod.nn, torch_mod.nn.functional

    class Misc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.ln = nn.LayerNorm(16)
            self.lin = nn.Linear(16, 16)
            self.mha = nn.MultiheadAttention(16, 2, batch_first=True)
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.gn = nn.GroupNorm(2, 4)
            self.inorm = nn.InstanceNorm2d(4, affine=True)
            self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
            self.drop = nn.Dropout(0.1)
            self.lstm = nn.LSTM(16, 16, batch_first=True)
            self.head = nn.Linear(16, 10)

        def forward(self, tok: Any, img: Any) -> Any:
            x = self.drop(F.gelu(self.lin(self.ln(self.emb(tok)))))
            a = F.softmax(x @ x.transpose(-1, -2) / 4, dim=-1) @ x
            a = a + self.mha(a, a, a)[0] + self.lstm(a)[0]
            q = a.view(2, 5, 2, 8).transpose(1, 2)
            att = F.scaled_dot_product_attention(q, q, q, is_causal=True)
            a = a + att.transpose(1, 2).reshape(2, 5, 16)
            y = self.up(self.inorm(self.gn(self.conv(img))))
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = F.interpolate(y, scale_factor=0.5, mode="nearest")
            y = F.avg_pool2d(F.leaky_relu(y), 2) + F.adaptive_max_pool2d(y, 8)
            y = F.hardswish(F.silu(y)).mean(dim=(2, 3))
            z = self.head(a.mean(1)) + y.sum() + F.mse_loss(x, x.detach())
            return z + torch_mod.tanh(x).sum() + torch_mod.sigmoid(x).mean()

    return Misc()


def _models() -> Iterator[tuple[str, Callable[[], Any], Callable[[], tuple[Any, ...]]]]:
    tv = importlib.import_module("torchvision")
    torch = torch_mod

    def img() -> tuple[Any, ...]:
        return (torch.randn(2, 3, 32, 32),)

    yield "resnet18", lambda: tv.models.resnet18(weights=None), img
    yield "mobilenet_v2", lambda: tv.models.mobilenet_v2(weights=None), img
    yield "mobilenet_v3_small", lambda: tv.models.mobilenet_v3_small(weights=None), img
    yield "efficientnet_b0", lambda: tv.models.efficientnet_b0(weights=None), img
    yield "vit_b_16", lambda: tv.models.vit_b_16(weights=None, image_size=32), img
    yield "misc", _misc_model, lambda: (torch.randint(0, 50, (2, 5)), torch.randn(2, 3, 8, 8))

    def encoder() -> Any:
        nn = torch.nn
        layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, activation="gelu")
        return nn.Sequential(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False),
                             nn.Flatten(), nn.Linear(80, 10))

    yield "encoder", encoder, lambda: (torch.randn(2, 5, 16),)


def _check_all_covered(calls: list[OpCall]) -> None:
    missing = sorted({call.name for call in calls if lookup(call.name) is None})
    assert not missing, f"ops without a formula: {missing}"
    for call in calls:
        f = lookup(call.name)
        assert f is not None
        for counting in ("dense", "skip-padding"):
            r = f(call, counting).cost
            assert min(r.mults, r.adds, r.macs, r.other) >= 0, call


EXPECTED = {  # ops the models must reach, so that the test exercises what it claims
    True: {"convolution_backward.default", "native_batch_norm_backward.default",
           "_scaled_dot_product_flash_attention_for_cpu_backward.default",
           "native_layer_norm_backward.default", "native_group_norm_backward.default",
           "embedding_dense_backward.default", "mkldnn_rnn_layer_backward.default",
           "upsample_bilinear2d_backward.default", "max_pool2d_with_indices_backward.default",
           "gelu_backward.default", "nll_loss_backward.default", "bernoulli_.float"},
    False: {"_native_multi_head_attention.default", "_transformer_encoder_layer_fwd.default",
            "convolution.default", "native_batch_norm.default"},
}


@pytest.mark.slow
@pytest.mark.parametrize("train", [True, False])
def test_every_op_of_real_models_has_a_formula(train: bool) -> None:
    seen: set[str] = set()
    for name, build, inputs in _models():
        calls = record(build, inputs, train=train)
        assert calls, name
        _check_all_covered(calls)
        seen.update(call.name for call in calls)
    assert EXPECTED[train] <= seen, EXPECTED[train] - seen


def test_optimizer_ops_have_formulas() -> None:
    torch = torch_mod
    opt = torch.optim
    makers = (
        lambda ps: opt.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4, foreach=False),
        lambda ps: opt.SGD(ps, lr=0.1, momentum=0.9, foreach=True),
        lambda ps: opt.Adam(ps, foreach=False, amsgrad=True),
        lambda ps: opt.AdamW(ps, foreach=True),
        lambda ps: opt.AdamW(ps, fused=True),
        lambda ps: opt.SGD(ps, lr=0.1, momentum=0.9, fused=True),
    )

    def build() -> Any:
        return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(),
                                   torch.nn.Linear(8, 4))

    _check_all_covered(record(build, lambda: (torch.randn(2, 8),), optimizers=makers))


def test_resnet18_training_equals_flop_counter() -> None:
    """resnet18 is ungrouped, where FlopCounterMode is right: forward + backward total of
    ``2 · macs`` over every op equals its count."""
    tv = importlib.import_module("torchvision")
    torch = torch_mod
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    calls = record(lambda: tv.models.resnet18(weights=None),
                   lambda: (torch.randn(2, 3, 32, 32),), inner=counter)
    ours = 0
    for call in calls:
        f = lookup(call.name)
        assert f is not None
        ours += f(call, "dense").cost.macs
    assert 2 * ours == counter.get_total_flops()
