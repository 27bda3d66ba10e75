"""Exactness of the single-layer calculator.

Expected values come from the brute-force counter in ``bruteforce.py`` (explicit loops over
every product), from set-based enumeration of the tap geometry, or are literals with their
arithmetic written out. None is computed with the package's own formulas.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bruteforce import (
    COMPUTATIONS,
    CONVENTIONS,
    brute_force,
    brute_output_size,
    product_count,
)
from convcost import ConvSpec, SpecError, analyze_conv, conv_spec
from convcost.formulas.taps import dim_taps
from convcost.layer import ConvResult

# Products the brute force may enumerate per example; keeps the whole file fast.
MAX_PRODUCTS = 6000


# ---------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------

SIZE_LIMITS = {  # ndim -> (max spatial size, max kernel, max padding per side)
    1: (7, 3, 4),
    2: (5, 3, 3),
    3: (4, 2, 2),
}


@st.composite
def spec_kwargs(draw: st.DrawFn, ndim: int, transposed: bool) -> dict[str, Any]:
    """Keyword arguments of a tiny, possibly invalid, layer (filtered by ``tiny_specs``)."""
    max_size, max_k, max_pad = SIZE_LIMITS[ndim]
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    cin = groups * draw(st.integers(1, max(1, 4 // groups)))
    cout = groups * draw(st.integers(1, max(1, 4 // groups)))
    size = tuple(draw(st.integers(1, max_size)) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, max_k)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    mode = draw(st.sampled_from(["symmetric", "asymmetric", "same", "valid"]))
    padding: Any
    if mode == "symmetric":
        padding = [draw(st.integers(0, max_pad)) for _ in range(ndim)]
    elif mode == "asymmetric":
        padding = [
            (draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))) for _ in range(ndim)
        ]
    elif mode == "same":
        if transposed:
            padding = "valid"
        else:
            padding = "same"
            stride = (1,) * ndim  # 'same' needs stride 1
    else:
        padding = "valid"
    output_padding: tuple[int, ...] = (0,) * ndim
    if transposed:
        output_padding = tuple(
            draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(stride, dilation, strict=True)
        )
    return dict(
        in_channels=cin,
        out_channels=cout,
        input_size=size,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        batch=draw(st.integers(1, 2)),
        bias=draw(st.booleans()),
        transposed=transposed,
        output_padding=output_padding,
        input_grad=draw(st.booleans()),
    )


@st.composite
def tiny_specs(draw: st.DrawFn, ndim: int, transposed: bool) -> ConvSpec:
    """A valid layer small enough for the brute force."""
    kwargs = draw(spec_kwargs(ndim, transposed))
    try:
        spec = conv_spec(**kwargs)
    except SpecError:
        assume(False)
        raise  # unreachable
    assume(product_count(spec) <= MAX_PRODUCTS)
    return spec


def _assert_matches(spec: ConvSpec, counting: str, res: ConvResult, bf: Any) -> None:
    where = f"{counting} {spec}"
    assert res.output_shape == (spec.batch, spec.out_channels, *bf.output_size), where
    assert res.macs == bf.macs, where
    c = bf.counts[counting]
    got = {
        "forward": res.forward,
        "grad_input": res.backward.grad_input,
        "grad_weight": res.backward.grad_weight,
        "grad_bias": res.backward.grad_bias,
    }
    for name in COMPUTATIONS:
        assert (got[name].mults, got[name].adds) == c[name], f"{name}: {where}"
        assert got[name].flops == sum(c[name]), f"{name}: {where}"
    total_m = sum(c[n][0] for n in ("grad_input", "grad_weight", "grad_bias"))
    total_a = sum(c[n][1] for n in ("grad_input", "grad_weight", "grad_bias"))
    assert (res.backward.total.mults, res.backward.total.adds) == (total_m, total_a), where
    assert res.forward.macs == bf.macs
    assert res.backward.grad_weight.macs == bf.macs
    assert res.backward.grad_input.macs == (bf.macs if spec.input_grad else 0)
    assert res.seed_forward_flops == 2 * bf.macs
    assert res.seed_backward_flops == 4 * bf.macs


# ---------------------------------------------------------------------------------------
# Worked example (issue #2) as literals
# ---------------------------------------------------------------------------------------


def test_worked_example_dense() -> None:
    # batch 1, 3x224x224, 64 out, kernel 7, stride 2, padding 3, no bias, dense.
    r = analyze_conv(
        conv_spec(3, 64, (224, 224), 7, stride=2, padding=3, bias=False), "dense"
    )
    # out = floor((224 + 2*3 - 7) / 2) + 1 = floor(223/2) + 1 = 112
    assert r.output_shape == (1, 64, 112, 112)
    # MACs = 64 * 3 * 7*7 * 112*112 = 9408 * 12544 = 118,013,952
    assert r.macs == 118_013_952
    assert r.forward.mults == 118_013_952
    # forward adds = MACs - 64*112*112 = 118,013,952 - 802,816 = 117,211,136
    assert r.forward.adds == 117_211_136
    assert r.forward.flops == 118_013_952 + 117_211_136
    # grad-input: padded positions o*2 + k, o in 0..111, k in 0..6 cover 0..228: R = 229;
    # adds = MACs - 3*229*229 = 118,013,952 - 157,323 = 117,856,629
    assert r.backward.grad_input.mults == 118_013_952
    assert r.backward.grad_input.adds == 117_856_629
    # grad-weight adds = MACs - 64*3*7*7 = 118,013,952 - 9,408 = 118,004,544
    assert r.backward.grad_weight.mults == 118_013_952
    assert r.backward.grad_weight.adds == 118_004_544
    # no bias -> no grad-bias work
    assert (r.backward.grad_bias.mults, r.backward.grad_bias.adds) == (0, 0)
    # approximations: 2*MACs and 4*MACs
    assert r.seed_forward_flops == 236_027_904
    assert r.seed_backward_flops == 472_055_808
    # memory: input 3*224*224 = 150,528; weight 9,408; output 802,816
    assert r.memory_forward.to_dict() == {
        "input": 150_528,
        "weight": 9_408,
        "bias": 0,
        "output": 802_816,
        "total_elements": 962_752,  # 150,528 + 9,408 + 802,816
        "total_bytes": 3_851_008,  # x 4 bytes (float32)
    }
    # backward: 2*150,528 + 2*9,408 + 802,816 = 1,122,688
    assert r.memory_backward.total_elements == 1_122_688
    assert r.memory_backward.total_bytes == 4 * 1_122_688


def test_worked_example_skip_padding() -> None:
    # Skip-padding products of the worked example: channels factor out of the tap count.
    small = conv_spec(1, 1, (224, 224), 7, stride=2, padding=3, bias=False)
    big = conv_spec(3, 64, (224, 224), 7, stride=2, padding=3, bias=False)
    s = analyze_conv(small, "skip-padding")
    b = analyze_conv(big, "skip-padding")
    assert b.forward.mults == 3 * 64 * s.forward.mults
    # In-bounds taps per dim: each output o reads k with 0 <= 2o - 3 + k < 224.
    taps = sum(1 for o in range(112) for k in range(7) if 0 <= 2 * o - 3 + k < 224)
    assert taps == 112 * 7 - 3 - 1 - 2  # o=0 loses k=0,1,2; o=1 loses k=0; o=111 loses k=5,6
    # 64 * 3 * 778 * 778 = 192 * 605,284 = 116,214,528
    assert b.forward.mults == 116_214_528
    # every output keeps at least one tap: adds = mults - 64*112*112 = 115,411,712
    assert b.forward.adds == 115_411_712


# ---------------------------------------------------------------------------------------
# The brute force itself, on a case small enough to do by hand
# ---------------------------------------------------------------------------------------


def test_bruteforce_hand_case() -> None:
    # inputs {A, B, C}, weight {i, j}: out {Ai + Bj, Bi + Cj} -> 4 products, 2 adds.
    # grad_input {Di, Dj + Ei, Ej} -> 4 products, 1 add; grad_weight {AD + BE, BD + CE} ->
    # 4 products, 2 adds; with bias: +2 forward adds, grad-bias D + E -> 1 add.
    bf = brute_force(conv_spec(1, 1, 3, 2, bias=True))
    assert bf.output_size == (2,)
    for conv in CONVENTIONS:
        assert bf.counts[conv] == {
            "forward": (4, 4),
            "grad_input": (4, 1),
            "grad_weight": (4, 2),
            "grad_bias": (0, 1),
        }
    # Padding 1 each side (input 0 A B C 0), kernel 2: 4 outputs, 8 taps, 2 on padding.
    bf = brute_force(conv_spec(1, 1, 3, 2, padding=1, bias=False))
    assert bf.output_size == (4,)
    assert bf.counts["dense"]["forward"] == (8, 4)
    # padded grad-input positions 0..4 -> 8 - 5 = 3 adds
    assert bf.counts["dense"]["grad_input"] == (8, 3)
    # skip: out 0 gets only B-tap? no: out0 = 0*i + A*j, out3 = C*i + 0*j -> 6 products,
    # 4 outputs -> 2 adds; grad_input A,B,C each get 2 -> 3 adds; weight i,j 3 each -> 4.
    assert bf.counts["skip-padding"]["forward"] == (6, 2)
    assert bf.counts["skip-padding"]["grad_input"] == (6, 3)
    assert bf.counts["skip-padding"]["grad_weight"] == (6, 4)
    # Transposed of {A, B} with {i, j}, stride 1: {Ai, Aj + Bi, Bj} -> 4 products, 1 add.
    bf = brute_force(conv_spec(1, 1, 2, 2, transposed=True, bias=False))
    assert bf.output_size == (3,)
    assert bf.counts["dense"]["forward"] == (4, 1)
    assert bf.counts["dense"]["grad_input"] == (4, 2)


# ---------------------------------------------------------------------------------------
# Closed forms == brute force, exactly
# ---------------------------------------------------------------------------------------


def _check_against_bruteforce(spec: ConvSpec) -> None:
    bf = brute_force(spec)
    for counting in CONVENTIONS:
        _assert_matches(spec, counting, analyze_conv(spec, counting), bf)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_conv_matches_bruteforce(ndim: int, data: st.DataObject) -> None:
    _check_against_bruteforce(data.draw(tiny_specs(ndim, transposed=False)))


@pytest.mark.parametrize("ndim", [1, 2, 3])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_conv_transpose_matches_bruteforce(ndim: int, data: st.DataObject) -> None:
    _check_against_bruteforce(data.draw(tiny_specs(ndim, transposed=True)))


@pytest.mark.parametrize(
    "kwargs",
    [
        # 'same' with an even kernel: the extra padding element goes at the end.
        dict(in_channels=2, out_channels=2, input_size=(5, 4), kernel=(4, 2), padding="same"),
        # 'same' with dilation
        dict(in_channels=1, out_channels=2, input_size=6, kernel=3, dilation=2, padding="same"),
        # padding larger than the kernel reach: border outputs read only padding
        dict(in_channels=1, out_channels=1, input_size=3, kernel=2, padding=[(5, 4)], stride=2),
        dict(in_channels=2, out_channels=2, input_size=(2, 3), kernel=2, padding=4, groups=2),
        # stride larger than the kernel reach: some inputs never read
        dict(in_channels=1, out_channels=1, input_size=7, kernel=2, stride=3, bias=True),
        # transposed with output_padding >= stride (allowed because < dilation)
        dict(in_channels=2, out_channels=2, input_size=3, kernel=2, stride=1, dilation=3,
             output_padding=2, transposed=True, groups=2),
        # transposed, padding cropping more than the kernel reach on one side
        dict(in_channels=1, out_channels=2, input_size=(4, 3), kernel=2, stride=2,
             padding=[(3, 0), (0, 2)], transposed=True, output_padding=1, batch=2),
        # transposed with stride > dilation*(kernel-1)+1: output positions nobody writes
        dict(in_channels=1, out_channels=1, input_size=3, kernel=1, stride=3,
             output_padding=2, transposed=True),
        # 3-D depthwise with everything on
        dict(in_channels=3, out_channels=3, input_size=(3, 2, 3), kernel=(2, 1, 2),
             stride=(2, 1, 1), dilation=(1, 1, 2), padding=[(1, 0), 1, (0, 2)], groups=3,
             batch=2),
        # first layer: no input gradient
        dict(in_channels=2, out_channels=1, input_size=(3, 3), kernel=2, input_grad=False),
    ],
)
def test_corner_cases_match_bruteforce(kwargs: dict[str, Any]) -> None:
    _check_against_bruteforce(conv_spec(**kwargs))


# ---------------------------------------------------------------------------------------
# Per-dimension tap geometry against set-based enumeration (no brute force over layers)
# ---------------------------------------------------------------------------------------


def _taps_by_sets(
    in_len: int, out_len: int, kernel: int, stride: int, dilation: int, pad_begin: int
) -> tuple[int, int, int, int, int]:
    taps = 0
    reached: set[int] = set()
    out_valid: set[int] = set()
    kernel_valid: set[int] = set()
    in_valid: set[int] = set()
    for o in range(out_len):
        for k in range(kernel):
            reached.add(o * stride + k * dilation)
            i = o * stride - pad_begin + k * dilation
            if 0 <= i < in_len:
                taps += 1
                out_valid.add(o)
                kernel_valid.add(k)
                in_valid.add(i)
    return taps, len(reached), len(out_valid), len(kernel_valid), len(in_valid)


@settings(max_examples=300, deadline=None)
@given(
    in_len=st.integers(1, 400),
    kernel=st.integers(1, 12),
    stride=st.integers(1, 9),
    dilation=st.integers(1, 9),
    pad_begin=st.integers(0, 150),
    pad_end=st.integers(0, 150),
    free_out=st.one_of(st.none(), st.integers(1, 300)),
)
@example(in_len=3, kernel=2, stride=1, dilation=1, pad_begin=100, pad_end=100, free_out=None)
@example(in_len=1, kernel=3, stride=5, dilation=7, pad_begin=30, pad_end=0, free_out=None)
@example(in_len=10, kernel=3, stride=2, dilation=2, pad_begin=0, pad_end=0, free_out=200)
def test_dim_taps_matches_set_enumeration(
    in_len: int,
    kernel: int,
    stride: int,
    dilation: int,
    pad_begin: int,
    pad_end: int,
    free_out: int | None,
) -> None:
    if free_out is None:
        # the conv's own output length (counted, not computed by formula)
        padded = in_len + pad_begin + pad_end
        out_len = sum(1 for o in range(padded) if o * stride + dilation * (kernel - 1) < padded)
        assume(out_len >= 1)
    else:
        # transposed layers use the conv view with an output length given from outside
        out_len = free_out
    got = dim_taps(in_len, out_len, kernel, stride, dilation, pad_begin)
    want = _taps_by_sets(in_len, out_len, kernel, stride, dilation, pad_begin)
    assert (got.taps, got.reached, got.out_valid, got.kernel_valid, got.in_valid) == want


def test_dim_taps_all_in_padding() -> None:
    # Padding so large that no tap reaches the input: every in-bounds count is zero, but the
    # dense geometry (positions reached in the padded input) is still complete.
    t = dim_taps(in_len=2, out_len=3, kernel=2, stride=1, dilation=1, pad_begin=50)
    assert (t.taps, t.out_valid, t.kernel_valid, t.in_valid) == (0, 0, 0, 0)
    assert t.reached == 4  # o + k for o in 0..2, k in 0..1 -> {0, 1, 2, 3}


# ---------------------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), ndim=st.integers(1, 3))
def test_transposed_forward_is_conv_grad_input(data: st.DataObject, ndim: int) -> None:
    kw = data.draw(spec_kwargs(ndim, transposed=True))
    kw.update(bias=False, input_grad=True)
    try:
        tspec = conv_spec(**kw)
        cspec = conv_spec(
            in_channels=tspec.out_channels,
            out_channels=tspec.in_channels,
            input_size=tspec.output_size,
            kernel=tspec.kernel,
            stride=tspec.stride,
            padding=tspec.padding,
            dilation=tspec.dilation,
            groups=tspec.groups,
            batch=tspec.batch,
            bias=False,
        )
    except SpecError:
        assume(False)
        raise
    # With output_padding >= stride the conv of the transposed output has more outputs
    # than the transposed layer had inputs; then they are not adjoint shapes.
    assume(cspec.output_size == tspec.input_size)
    for counting in CONVENTIONS:
        t = analyze_conv(tspec, counting)
        c = analyze_conv(cspec, counting)
        assert t.macs == c.macs
        assert t.forward == c.backward.grad_input
        assert t.backward.grad_input == c.forward
        assert t.backward.grad_weight == c.backward.grad_weight


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), ndim=st.integers(1, 3), transposed=st.booleans(), batch=st.integers(2, 6))
def test_costs_linear_in_batch(
    data: st.DataObject, ndim: int, transposed: bool, batch: int
) -> None:
    kw = data.draw(spec_kwargs(ndim, transposed))
    kw["batch"] = 1
    try:
        one = conv_spec(**kw)
    except SpecError:
        assume(False)
        raise
    kw["batch"] = batch
    many = conv_spec(**kw)
    kw["batch"] = batch + 1
    more = conv_spec(**kw)
    for counting in CONVENTIONS:
        r1, rb, rb1 = (analyze_conv(s, counting) for s in (one, many, more))
        # forward and grad-input: products and destinations both carry the batch
        assert rb.macs == batch * r1.macs
        assert rb.forward == r1.forward * batch
        assert rb.backward.grad_input == r1.backward.grad_input * batch
        # grad-weight and grad-bias sum over the batch into batch-free destinations:
        # mults are linear, adds are affine (one fewer add per destination, once).
        assert rb.backward.grad_weight.mults == batch * r1.backward.grad_weight.mults
        for name in ("grad_weight", "grad_bias"):
            a1 = getattr(r1.backward, name).adds
            ab = getattr(rb.backward, name).adds
            ab1 = getattr(rb1.backward, name).adds
            assert ab1 - ab == (ab - a1) // (batch - 1)
            assert (ab - a1) % (batch - 1) == 0


def _reached(length: int, kernel: int, stride: int, dilation: int) -> int:
    return len({o * stride + k * dilation for o in range(length) for k in range(kernel)})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    ndim=st.integers(1, 3),
    groups=st.integers(1, 4),
    cin_g=st.integers(1, 4),
    cout_g=st.integers(1, 4),
    batch=st.integers(1, 3),
    bias=st.booleans(),
    data=st.data(),
)
def test_dense_adds_are_mults_minus_destinations(
    ndim: int, groups: int, cin_g: int, cout_g: int, batch: int, bias: bool, data: st.DataObject
) -> None:
    # Larger than the brute force can enumerate; destinations are counted per dimension.
    size = [data.draw(st.integers(1, 40)) for _ in range(ndim)]
    kernel = [data.draw(st.integers(1, 7)) for _ in range(ndim)]
    stride = [data.draw(st.integers(1, 4)) for _ in range(ndim)]
    dilation = [data.draw(st.integers(1, 4)) for _ in range(ndim)]
    padding = [(data.draw(st.integers(0, 8)), data.draw(st.integers(0, 8))) for _ in range(ndim)]
    try:
        spec = conv_spec(groups * cin_g, groups * cout_g, size, kernel, stride, padding,
                         dilation, groups=groups, batch=batch, bias=bias)
    except SpecError:
        assume(False)
        raise
    r = analyze_conv(spec, "dense")
    out = []
    for L, K, s, d, (pb, pe) in zip(size, kernel, stride, dilation, padding, strict=True):
        out.append(sum(1 for o in range(L + pb + pe) if o * s + d * (K - 1) < L + pb + pe))
    cin, cout = groups * cin_g, groups * cout_g
    macs = batch * cout * cin_g * math.prod(out) * math.prod(kernel)
    assert r.macs == macs
    fwd_dest = batch * cout * math.prod(out)
    gw_dest = cout * cin_g * math.prod(kernel)
    gi_dest = batch * cin * math.prod(
        _reached(o, K, s, d) for o, K, s, d in zip(out, kernel, stride, dilation, strict=True)
    )
    for cost in (r.forward, r.backward.grad_input, r.backward.grad_weight):
        assert cost.mults == macs
    assert r.forward.adds == macs - fwd_dest + (fwd_dest if bias else 0)
    assert r.backward.grad_weight.adds == macs - gw_dest
    assert r.backward.grad_input.adds == macs - gi_dest
    # Skipping padding never adds products.
    s = analyze_conv(spec, "skip-padding")
    assert s.forward.mults <= r.forward.mults
    assert s.macs == r.macs


DTYPE_SIZES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2": 1,
    "float8_e5m2fnuz": 1,
    "int8": 1,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    data=st.data(),
    ndim=st.integers(1, 3),
    transposed=st.booleans(),
    dtype=st.sampled_from(sorted(DTYPE_SIZES)),
    counting=st.sampled_from(CONVENTIONS),
)
def test_memory_tables(
    data: st.DataObject, ndim: int, transposed: bool, dtype: str, counting: str
) -> None:
    kw = data.draw(spec_kwargs(ndim, transposed))
    kw["dtype"] = dtype
    try:
        spec = conv_spec(**kw)
    except SpecError:
        assume(False)
        raise
    r = analyze_conv(spec, counting)
    out = brute_output_size(spec)
    N, ci, co, g = spec.batch, spec.in_channels, spec.out_channels, spec.groups
    x = N * ci * math.prod(spec.input_size)
    y = N * co * math.prod(out)
    w = ci * co // g * math.prod(spec.kernel)  # both layouts hold c_in*c_out/g*k weights
    b = co if spec.bias else 0
    gx = x if spec.input_grad else 0
    assert r.memory_forward.to_dict() == {
        "input": x, "weight": w, "bias": b, "output": y,
        "total_elements": x + w + b + y,
        "total_bytes": (x + w + b + y) * DTYPE_SIZES[dtype],
    }
    bwd = x + w + b + y + w + b + gx
    assert r.memory_backward.to_dict() == {
        "input": x, "weight": w, "bias": b, "grad_output": y, "grad_weight": w,
        "grad_bias": b, "grad_input": gx,
        "total_elements": bwd, "total_bytes": bwd * DTYPE_SIZES[dtype],
    }
    assert r.memory_forward.element_bytes == DTYPE_SIZES[dtype]
    if not spec.bias and spec.input_grad:
        # The derivation's table: cached input, weight, output grad, weight grad, input grad.
        assert r.memory_backward.total_elements == 2 * x + 2 * w + y


@pytest.mark.parametrize(
    ("dtype", "nbytes"),
    [*DTYPE_SIZES.items(), ("fp64", 8), ("double", 8), ("fp32", 4), ("half", 2), ("bf16", 2),
     ("fp8", 1), ("torch.float16", 2), ("INT8", 1)],
)
def test_dtype_aliases_bytes(dtype: str, nbytes: int) -> None:
    r = analyze_conv(conv_spec(1, 1, 4, 3, dtype=dtype, bias=False))
    # input 4, weight 3, output 2 elements
    assert r.memory_forward.total_elements == 9
    assert r.memory_forward.total_bytes == 9 * nbytes


# ---------------------------------------------------------------------------------------
# Spec validation: one test per kind of bad input
# ---------------------------------------------------------------------------------------


def _raises_naming(field: str, fn: Any, *args: Any, **kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field == field
    assert str(err).startswith(f"{field}:"), str(err)
    assert "\n" not in str(err)
    return err


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("input_size", dict(input_size=0)),
        ("input_size", dict(input_size=(5, 0))),
        ("kernel", dict(kernel=0)),
        ("stride", dict(stride=(1, 0))),
        ("dilation", dict(dilation=0)),
        ("batch", dict(batch=0)),
        ("in_channels", dict(in_channels=0)),
        ("out_channels", dict(out_channels=-1)),
        ("groups", dict(groups=0)),
        ("padding", dict(padding=-1)),
    ],
)
def test_sizes_below_one_rejected(field: str, kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = dict(in_channels=2, out_channels=2, input_size=(5, 5), kernel=3)
    base.update(kwargs)
    _raises_naming(field, conv_spec, **base)


def test_output_size_below_one_rejected() -> None:
    err = _raises_naming("input_size", conv_spec, 1, 1, (2, 8), 3)
    assert "output size" in str(err)
    # dilation makes the kernel reach 7 > 5
    _raises_naming("input_size", conv_spec, 1, 1, 5, 3, dilation=3)
    # transposed: (1-1)*1 - 2*2 + (2-1) + 1 = -2
    _raises_naming("input_size", conv_spec, 1, 1, 1, 2, padding=2, transposed=True)


def test_channels_not_divisible_by_groups_rejected() -> None:
    err = _raises_naming("groups", conv_spec, 3, 4, 8, 3, groups=2)
    assert "in_channels" in str(err)
    err = _raises_naming("groups", conv_spec, 4, 6, 8, 3, groups=4)
    assert "out_channels" in str(err)


def test_output_padding_not_smaller_than_stride_or_dilation_rejected() -> None:
    err = _raises_naming(
        "output_padding", conv_spec, 1, 1, 5, 3, stride=2, output_padding=2, transposed=True
    )
    assert "stride" in str(err)
    # allowed when smaller than the dilation
    conv_spec(1, 1, 5, 3, stride=2, dilation=3, output_padding=2, transposed=True)


def test_output_padding_on_plain_conv_rejected() -> None:
    err = _raises_naming("output_padding", conv_spec, 1, 1, 5, 3, stride=2, output_padding=1)
    assert "transposed" in str(err)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("kernel", dict(kernel=(3, 3, 3))),
        ("stride", dict(stride=(1, 2, 1))),
        ("dilation", dict(dilation=(1, 1, 1))),
        ("padding", dict(padding=[1, 1, 1])),
        ("output_padding", dict(output_padding=(1, 1, 1), stride=2, transposed=True)),
        ("input_size", dict(input_size=(4, 4, 4, 4))),
    ],
)
def test_dimension_counts_disagree_rejected(field: str, kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = dict(in_channels=1, out_channels=1, input_size=(6, 6), kernel=3)
    base.update(kwargs)
    _raises_naming(field, conv_spec, **base)


def test_dimension_counts_disagree_in_direct_construction_rejected() -> None:
    _raises_naming(
        "padding",
        ConvSpec,
        in_channels=1,
        out_channels=1,
        input_size=(6, 6),
        kernel=(3, 3),
        stride=(1, 1),
        padding=((0, 0),),
        dilation=(1, 1),
    )


def test_unknown_dtype_rejected() -> None:
    err = _raises_naming("dtype", conv_spec, 1, 1, 5, 3, dtype="float13")
    assert "float32" in str(err)


def test_same_with_stride_rejected() -> None:
    err = _raises_naming("padding", conv_spec, 1, 1, 8, 3, stride=2, padding="same")
    assert "stride" in str(err)


def test_same_with_transposed_rejected() -> None:
    err = _raises_naming("padding", conv_spec, 1, 1, 8, 3, padding="same", transposed=True)
    assert "transposed" in str(err)


def test_unknown_padding_word_rejected() -> None:
    _raises_naming("padding", conv_spec, 1, 1, 8, 3, padding="full")


def test_unknown_counting_rejected() -> None:
    err = _raises_naming("counting", analyze_conv, conv_spec(1, 1, 5, 3), "sparse")
    assert "skip-padding" in str(err)
