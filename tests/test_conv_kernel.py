"""The numeric conv kernel (``formulas.conv.conv_numbers``) against the explanation's terms.

The layer calculator and the PyTorch/ONNX conv ops read their numbers from the kernel; the
``--explain`` and HTML reports render the terms (``conv_terms``). Both are written from the
same derivation but separately, so this property test pins that every number of the kernel
equals the evaluated term of the same name, over random layers (1-D/2-D/3-D, groups,
dilation, stride, symmetric/asymmetric/``same``/``valid`` padding, bias, batch, transposed,
input-grad on/off) and both countings. The brute-force tests in ``test_conv_exact.py``
check the kernel's numbers (through ``analyze_conv``) against explicit loops.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convcost import ConvSpec, SpecError, analyze_conv, conv_spec
from convcost.formulas.conv import MEMORY_BACKWARD, MEMORY_FORWARD, ConvNumbers, conv_numbers
from convcost.formulas.conv_terms import ConvTerms, conv_terms

COUNTINGS = ("dense", "skip-padding")


@st.composite
def layers(draw: st.DrawFn) -> ConvSpec:
    """A valid layer, larger than the brute force could enumerate (no loops here)."""
    ndim = draw(st.sampled_from([1, 2, 3]))
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    cin = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 4))
    size = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    mode = draw(st.sampled_from(["symmetric", "asymmetric", "same", "valid"]))
    padding: Any
    if mode == "symmetric":
        padding = [draw(st.integers(0, 5)) for _ in range(ndim)]
    elif mode == "asymmetric":
        padding = [(draw(st.integers(0, 5)), draw(st.integers(0, 5))) for _ in range(ndim)]
    elif mode == "same" and not transposed:
        padding, stride = "same", (1,) * ndim  # 'same' needs stride 1
    else:
        padding = "valid"
    output_padding: Any = 0
    if transposed:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                               for s, d in zip(stride, dilation, strict=True))
    try:
        return conv_spec(
            in_channels=cin, out_channels=cout, input_size=size, kernel=kernel, stride=stride,
            padding=padding, dilation=dilation, groups=groups, batch=draw(st.integers(1, 3)),
            bias=draw(st.booleans()), transposed=transposed, output_padding=output_padding,
            input_grad=draw(st.booleans()),
        )
    except SpecError:
        assume(False)
        raise  # unreachable


def _assert_kernel_equals_terms(spec: ConvSpec, n: ConvNumbers, t: ConvTerms) -> None:
    where = f"{t.counting} {spec}"
    assert n.output_size == tuple(x.value for x in t.section("output").terms), where
    assert n.macs == t.value("forward.macs"), where
    assert (n.forward.mults, n.forward.adds, n.forward.macs) == (
        t.value("forward.mults"), t.value("forward.adds"), t.value("forward.macs")), where
    for part in ("grad_input", "grad_weight", "grad_bias"):
        cost = getattr(n.backward, part)
        assert (cost.mults, cost.adds) == (t.value(f"{part}.mults"), t.value(f"{part}.adds")), \
            f"{part}: {where}"
        assert cost.flops == t.value(f"{part}.flops"), f"{part}: {where}"
    # MACs are carried by the products of each computation (none for grad-bias)
    assert n.backward.grad_weight.macs == n.macs
    assert n.backward.grad_input.macs == (n.macs if spec.input_grad else 0)
    assert n.backward.grad_bias.macs == 0
    total = n.backward.total
    assert (total.mults, total.adds, total.flops) == (
        t.value("backward.mults"), t.value("backward.adds"), t.value("backward.flops")), where
    for key, names, entries in (("memory_forward", MEMORY_FORWARD, n.memory_forward),
                                ("memory_backward", MEMORY_BACKWARD, n.memory_backward)):
        assert tuple(name for name, _ in entries) == names
        for name, elements in entries:
            assert elements == t.value(f"{key}.{name}"), f"{key}.{name}: {where}"
        total_elements = sum(e for _, e in entries)
        assert total_elements == t.value(f"{key}.total_elements"), where
        assert total_elements * spec.element_bytes == t.value(f"{key}.total_bytes"), where
    assert 2 * n.macs == t.value("approx.forward_flops")
    assert 4 * n.macs == t.value("approx.backward_flops")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=layers())
def test_kernel_numbers_equal_evaluated_terms(spec: ConvSpec) -> None:
    for counting in COUNTINGS:
        _assert_kernel_equals_terms(spec, conv_numbers(spec, counting),
                                    conv_terms(spec, counting))


@pytest.mark.parametrize("counting", COUNTINGS)
def test_layer_result_reads_the_kernel_and_builds_terms_lazily(counting: str) -> None:
    spec = conv_spec(3, 8, (11, 9), 3, stride=2, padding=(1, 2), dilation=(1, 2), groups=1,
                     batch=2)
    r = analyze_conv(spec, counting)
    n = conv_numbers(spec, counting)
    assert (r.macs, r.forward, r.backward) == (n.macs, n.forward, n.backward)
    assert r.memory_forward.entries == n.memory_forward
    assert r.memory_backward.entries == n.memory_backward
    assert "terms" not in vars(r)  # not built until asked for
    _assert_kernel_equals_terms(spec, n, r.terms)
    assert r.terms is r.terms  # built once
    assert r == analyze_conv(spec, counting)  # the cached terms are not part of equality


def test_kernel_rejects_an_unknown_counting() -> None:
    with pytest.raises(SpecError, match=r"^counting: got 'sparse'; allowed: dense, skip-padding$"):
        conv_numbers(conv_spec(1, 1, 5, 3), "sparse")
