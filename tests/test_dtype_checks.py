"""Inputs whose dtype a real run refuses are refused by the analysis too
(:mod:`convcost.frontends.kernel_checks`), and nothing a real run accepts is refused.

Every rule is checked against the real CPU kernels: each case below runs once on real
tensors and once the way the tracer runs it (fake tensors, the check in the dispatch), and
the expected verdict is written out by hand for both — so the rule cannot drift from the
kernel without a test failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import torchvision
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

from cli_run import run
from convcost import analyze
from convcost.errors import TraceError
from convcost.frontends.kernel_checks import RULES, KernelRuleError, check_call

H, B, S, D, L = torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64
aten = torch.ops.aten


def t(dtype: torch.dtype, *shape: int) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.rand(*shape).add_(0.5).to(dtype)  # positive: valid running variances
    return torch.ones(*shape, dtype=dtype)


class _Checker(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """The tracer's check, alone: records which ruled ops it saw."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if str(func) in RULES:
            self.seen.add(str(func))
        check_call(func, args, kwargs)
        return func(*args, **kwargs)


SEEN: set[str] = set()


def rule_error(fn: Callable[[], Any]) -> KernelRuleError | None:
    """Run ``fn`` as the tracer would: fake tensors, the check before every op."""
    checker = _Checker()
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), checker:
            fn()
    except KernelRuleError as e:
        return e
    finally:
        SEEN.update(checker.seen)
    return None


def real_error(fn: Callable[[], Any]) -> Exception | None:
    """Run ``fn`` for real on CPU tensors."""
    try:
        fn()
    except (RuntimeError, NotImplementedError) as e:
        return e
    return None


def bn(x: torch.dtype, w: torch.dtype | None, b: torch.dtype | None,
       stats: torch.dtype | None, training: bool) -> Callable[[], Any]:
    return lambda: F.batch_norm(t(x, 2, 3, 4, 4), None if stats is None else t(stats, 3),
                                None if stats is None else t(stats, 3),
                                None if w is None else t(w, 3), None if b is None else t(b, 3),
                                training=training)


# (family, case, the call, True when a real run raises). The verdicts are written by hand
# from running each call on real CPU tensors (PyTorch 2.x); the test re-runs both sides.
CASES: list[tuple[str, str, Callable[[], Any], bool]] = [
    # convolution: input, weight and bias of one dtype
    ("conv", "f16 input, f32 weight", lambda: F.conv2d(t(H, 1, 3, 8, 8), t(S, 4, 3, 3, 3)), True),
    ("conv", "f64 input, f32 weight", lambda: F.conv1d(t(D, 1, 3, 8), t(S, 4, 3, 3)), True),
    ("conv", "int64 input, f32 weight",
     lambda: F.conv2d(t(L, 1, 3, 8, 8), t(S, 4, 3, 3, 3)), True),
    # the CPU kernel casts a bias of another dtype (F.conv2d refuses it before dispatching:
    # test_conv_bias_of_another_dtype)
    ("conv", "f32 input and weight, f16 bias (the op itself)",
     lambda: aten.convolution(t(S, 1, 3, 8, 8), t(S, 4, 3, 3, 3), t(H, 4), [1, 1], [0, 0],
                              [1, 1], False, [0, 0], 1), False),
    ("conv", "f32 input, f16 weight and bias (the op itself)",
     lambda: aten.convolution(t(S, 1, 3, 8, 8), t(H, 4, 3, 3, 3), t(H, 4), [1, 1], [0, 0],
                              [1, 1], False, [0, 0], 1), True),
    ("conv", "transposed f16 input, f32 weight",
     lambda: F.conv_transpose2d(t(H, 1, 3, 8, 8), t(S, 3, 4, 3, 3)), True),
    ("conv", "3-D bf16 input, f32 weight",
     lambda: F.conv3d(t(B, 1, 3, 4, 4, 4), t(S, 4, 3, 3, 3, 3)), True),
    ("conv", "_convolution f64 input, f32 weight",
     lambda: aten._convolution(t(D, 1, 3, 8, 8), t(S, 4, 3, 3, 3), None, [1, 1], [0, 0],
                               [1, 1], False, [0, 0], 1, False, False, True, True), True),
    ("conv", "all f32", lambda: F.conv2d(t(S, 1, 3, 8, 8), t(S, 4, 3, 3, 3), t(S, 4)), False),
    ("conv", "all f16", lambda: F.conv2d(t(H, 1, 3, 8, 8), t(H, 4, 3, 3, 3), t(H, 4)), False),
    ("conv", "all bf16", lambda: F.conv2d(t(B, 1, 3, 8, 8), t(B, 4, 3, 3, 3), t(B, 4)), False),
    ("conv", "_convolution all f64",
     lambda: aten._convolution(t(D, 1, 3, 8, 8), t(D, 4, 3, 3, 3), None, [1, 1], [0, 0],
                               [1, 1], False, [0, 0], 1, False, False, True, True), False),
    # matrix products: every operand (and the added term) of one dtype
    ("matmul", "linear f64 input, f32 weight",
     lambda: F.linear(t(D, 2, 3), t(S, 4, 3), t(S, 4)), True),
    ("matmul", "linear 3-D f64 input, f32 weight, no bias",
     lambda: F.linear(t(D, 2, 5, 3), t(S, 4, 3)), True),
    ("matmul", "linear f32, f16 bias", lambda: F.linear(t(S, 2, 3), t(S, 4, 3), t(H, 4)), True),
    ("matmul", "mm f64 @ f32", lambda: torch.mm(t(D, 2, 3), t(S, 3, 4)), True),
    ("matmul", "mm int64 @ f32", lambda: torch.mm(t(L, 2, 3), t(S, 3, 4)), True),
    ("matmul", "addmm f64 self", lambda: torch.addmm(t(D, 4), t(S, 2, 3), t(S, 3, 4)), True),
    ("matmul", "bmm f64 @ f32", lambda: torch.bmm(t(D, 2, 2, 3), t(S, 2, 3, 4)), True),
    ("matmul", "matmul 3-D f64 @ 2-D f32", lambda: torch.matmul(t(D, 2, 2, 3), t(S, 3, 4)), True),
    ("matmul", "baddbmm f64 batch1",
     lambda: torch.baddbmm(t(S, 2, 2, 4), t(D, 2, 2, 3), t(S, 2, 3, 4)), True),
    ("matmul", "addbmm f64 batch1",
     lambda: torch.addbmm(t(S, 2, 4), t(D, 2, 2, 3), t(S, 2, 3, 4)), True),
    ("matmul", "mv f64 @ f32", lambda: torch.mv(t(D, 2, 3), t(S, 3)), True),
    ("matmul", "addmv f64 mat", lambda: torch.addmv(t(S, 2), t(D, 2, 3), t(S, 3)), True),
    ("matmul", "dot f64 . f32", lambda: torch.dot(t(D, 3), t(S, 3)), True),
    ("matmul", "linear all f32", lambda: F.linear(t(S, 2, 3), t(S, 4, 3), t(S, 4)), False),
    ("matmul", "linear all f16", lambda: F.linear(t(H, 2, 5, 3), t(H, 4, 3), t(H, 4)), False),
    ("matmul", "bmm all bf16", lambda: torch.bmm(t(B, 2, 2, 3), t(B, 2, 3, 4)), False),
    ("matmul", "baddbmm all f64",
     lambda: torch.baddbmm(t(D, 2, 2, 4), t(D, 2, 2, 3), t(D, 2, 3, 4)), False),
    ("matmul", "addbmm all f32",
     lambda: torch.addbmm(t(S, 2, 4), t(S, 2, 2, 3), t(S, 2, 3, 4)), False),
    ("matmul", "addmv all f64", lambda: torch.addmv(t(D, 2), t(D, 2, 3), t(D, 3)), False),
    ("matmul", "mv all f16", lambda: torch.mv(t(H, 2, 3), t(H, 3)), False),
    ("matmul", "dot all bf16", lambda: torch.dot(t(B, 3), t(B, 3)), False),
    # batch norm: parameters and statistics of the input's dtype, or a f16/bf16 input
    # with every one of them f32
    ("norm", "batch norm f64 input, f32 params (train)", bn(D, S, S, S, True), True),
    ("norm", "batch norm f64 input, f32 params (eval)", bn(D, S, S, S, False), True),
    ("norm", "batch norm f32 input, f16 params", bn(S, H, H, None, True), True),
    ("norm", "batch norm f16 input, f16 weight, f32 bias", bn(H, H, S, None, True), True),
    ("norm", "batch norm bf16 input, f32 weight, bf16 bias", bn(B, S, B, None, True), True),
    ("norm", "batch norm bf16 input, bf16 params, f32 statistics", bn(B, B, B, S, False), True),
    ("norm", "batch norm int64 input, f32 params", bn(L, S, S, None, True), True),
    ("norm", "batch norm f16 input, f32 params (train)", bn(H, S, S, S, True), False),
    ("norm", "batch norm bf16 input, f32 params (eval)", bn(B, S, S, S, False), False),
    ("norm", "batch norm bf16 input, no params", bn(B, None, None, None, True), False),
    ("norm", "batch norm all f64", bn(D, D, D, D, True), False),
    ("norm", "instance norm f64 input, f32 params",
     lambda: F.instance_norm(t(D, 2, 3, 4), weight=t(S, 3), bias=t(S, 3)), True),
    ("norm", "_native_batch_norm_legit f64 input",
     lambda: aten._native_batch_norm_legit(t(D, 2, 3, 4), t(S, 3), t(S, 3), t(S, 3), t(S, 3),
                                           True, 0.1, 1e-5), True),
    ("norm", "_native_batch_norm_legit.no_stats f64 input",
     lambda: aten._native_batch_norm_legit.no_stats(t(D, 2, 3, 4), t(S, 3), t(S, 3), True,
                                                    0.1, 1e-5), True),
    ("norm", "_native_batch_norm_legit_no_training f64 input",
     lambda: aten._native_batch_norm_legit_no_training(t(D, 2, 3, 4), t(S, 3), t(S, 3),
                                                       t(S, 3), t(S, 3), 0.1, 1e-5), True),
    ("norm", "_native_batch_norm_legit_functional f64 input",
     lambda: aten._native_batch_norm_legit_functional(t(D, 2, 3, 4), t(S, 3), t(S, 3),
                                                      t(S, 3), t(S, 3), True, 0.1, 1e-5), True),
    ("norm", "_native_batch_norm_legit f16 input, f32 params",
     lambda: aten._native_batch_norm_legit(t(H, 2, 3, 4), t(S, 3), t(S, 3), t(S, 3), t(S, 3),
                                           True, 0.1, 1e-5), False),
    ("norm", "_native_batch_norm_legit_no_training bf16 input, f32 params",
     lambda: aten._native_batch_norm_legit_no_training(t(B, 2, 3, 4), t(S, 3), t(S, 3),
                                                       t(S, 3), t(S, 3), 0.1, 1e-5), False),
    # layer norm and group norm: the same rule (weight and bias)
    ("norm", "layer norm f64 input, f32 params",
     lambda: F.layer_norm(t(D, 2, 3), (3,), t(S, 3), t(S, 3)), True),
    ("norm", "layer norm f32 input, bf16 params",
     lambda: F.layer_norm(t(S, 2, 3), (3,), t(B, 3), t(B, 3)), True),
    ("norm", "layer norm f16 input, f16 weight, f32 bias",
     lambda: F.layer_norm(t(H, 2, 3), (3,), t(H, 3), t(S, 3)), True),
    ("norm", "layer norm bf16 input, f32 weight, bf16 bias",
     lambda: F.layer_norm(t(B, 2, 3), (3,), t(S, 3), t(B, 3)), True),
    ("norm", "layer norm f16 input, f32 params",
     lambda: F.layer_norm(t(H, 2, 3), (3,), t(S, 3), t(S, 3)), False),
    ("norm", "layer norm bf16 input, f32 params",
     lambda: F.layer_norm(t(B, 2, 3), (3,), t(S, 3), t(S, 3)), False),
    ("norm", "layer norm f16 input, no params", lambda: F.layer_norm(t(H, 2, 3), (3,)), False),
    ("norm", "group norm f64 input, f32 params",
     lambda: F.group_norm(t(D, 2, 4, 3), 2, t(S, 4), t(S, 4)), True),
    ("norm", "group norm f32 input, f64 params",
     lambda: F.group_norm(t(S, 2, 4, 3), 2, t(D, 4), t(D, 4)), True),
    ("norm", "group norm bf16 input, f32 weight, bf16 bias",
     lambda: F.group_norm(t(B, 2, 4, 3), 2, t(S, 4), t(B, 4)), True),
    ("norm", "group norm f16 input, f32 params",
     lambda: F.group_norm(t(H, 2, 4, 3), 2, t(S, 4), t(S, 4)), False),
    ("norm", "group norm all f32", lambda: F.group_norm(t(S, 2, 4, 3), 2, t(S, 4), t(S, 4)),
     False),
    # integer indices to an embedding are what it takes
    ("embedding", "int64 indices, f32 table", lambda: F.embedding(t(L, 2, 3), t(S, 5, 4)), False),
    ("embedding", "int32 indices, f32 table",
     lambda: F.embedding(t(torch.int32, 2, 3), t(S, 5, 4)), False),
]


@pytest.mark.parametrize(("family", "case", "fn", "raises"), CASES,
                         ids=[f"{f}: {c}" for f, c, _, _ in CASES])
def test_rule_matches_the_real_kernel(family: str, case: str, fn: Callable[[], Any],
                                      raises: bool) -> None:
    real = real_error(fn)
    assert (real is not None) == raises, f"real CPU run of {case}: {real}"
    ours = rule_error(fn)
    assert (ours is not None) == raises, f"convcost's check of {case}: {ours}"
    if ours is not None:
        assert "(a real run raises)" in str(ours)


def test_every_rule_is_verified() -> None:
    # every op with a rule was reached by at least one case checked against a real run
    for _, _, fn, _ in CASES:
        rule_error(fn)
    assert set(RULES) <= SEEN, sorted(set(RULES) - SEEN)


def test_messages_name_the_op_and_the_dtypes() -> None:
    e = rule_error(lambda: F.conv2d(t(H, 1, 3, 8, 8), t(S, 4, 3, 3, 3)))
    assert str(e) == ("aten.convolution: input dtype float16 and weight dtype float32 differ "
                      "(a real run raises)")
    e = rule_error(lambda: F.linear(t(D, 2, 3), t(S, 4, 3), t(S, 4)))
    assert str(e) == ("aten.addmm: mat1 dtype float64 and mat2 dtype float32 differ "
                      "(a real run raises)")
    e = rule_error(bn(D, S, S, S, True))
    assert str(e) == (
        "aten.native_batch_norm: input dtype float64 with weight float32, bias float32, "
        "running_mean float32, running_var float32: mixed dtypes need a float16 or bfloat16 "
        "input and float32 parameters (a real run raises)")


# ----------------------------------------------------------------------- whole models


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None)


def test_resnet18_float16_input_is_refused_naming_conv1(resnet18: nn.Module) -> None:
    with pytest.raises(TraceError) as info:
        analyze(resnet18, "1x3x64x64:float16")
    e = info.value
    assert (e.module, e.module_type, e.phase) == ("conv1", "Conv2d", "forward")
    assert str(e) == ("model: cannot be analysed: module 'conv1' (Conv2d) failed during "
                      "forward: aten.convolution: input dtype float16 and weight dtype float32 "
                      "differ (a real run raises)")
    assert isinstance(e.__cause__, KernelRuleError)
    # a real run of the same step refuses it too
    # (the message depends on the CPU kernel PyTorch picks: oneDNN's or its own)
    with pytest.raises(RuntimeError, match="expected scalar type Half but found Float|"
                       r"Input type \(torch.HalfTensor\) and weight type"):
        resnet18.eval()(torch.randn(1, 3, 64, 64, dtype=torch.float16))


def test_resnet18_float16_input_inference_too(resnet18: nn.Module) -> None:
    with pytest.raises(TraceError, match="module 'conv1'"):
        analyze(resnet18, "1x3x64x64:float16", mode="inference")


def test_resnet18_converted_to_float16_is_fine(resnet18: nn.Module) -> None:
    r = analyze(resnet18, "1x3x64x64:float16", dtype="float16")
    assert r.dtype == "float16" and r.totals.forward.flops > 0
    real = torchvision.models.resnet18(weights=None).to(torch.float16).eval()
    with torch.no_grad():  # the converted model runs for real
        assert real(torch.randn(1, 3, 64, 64, dtype=torch.float16)).dtype == torch.float16


def test_resnet18_amp_with_float32_input_is_fine(resnet18: nn.Module) -> None:
    for amp in ("bf16", "fp16"):
        r = analyze(resnet18, "1x3x64x64", amp=amp)
        assert r.totals.backward.total.flops > 0
    dtype = torch.bfloat16
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):  # autocast's casts, for real
        assert resnet18.eval()(torch.randn(1, 3, 64, 64)).dtype == dtype


def test_linear_float64_input_on_float32_model() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(TraceError) as info:
        analyze(model, "3x4:float64")
    e = info.value
    assert (e.module, e.module_type, e.phase) == ("0", "Linear", "forward")
    assert e.reason == ("aten.addmm: mat1 dtype float64 and mat2 dtype float32 differ "
                        "(a real run raises)")
    with pytest.raises(RuntimeError, match="same dtype"):
        model(torch.randn(3, 4, dtype=torch.float64))
    # the whole model converted: fine, for real and for convcost
    assert analyze(model, "3x4:float64", dtype="float64").totals.forward.macs == 3 * (32 + 16)


def test_embedding_with_int64_input_is_fine() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    r = analyze(model, "2x5:int64")
    assert r.totals.forward.macs == 2 * 5 * 4 * 2
    assert model(torch.ones(2, 5, dtype=torch.int64)).shape == (2, 5, 2)


def test_norm_rule_in_a_model() -> None:
    model = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 2))
    with pytest.raises(TraceError, match=r"module '0' \(LayerNorm\).*aten.native_layer_norm"):
        analyze(model, "2x4:float64")
    with pytest.raises(RuntimeError, match="mixed dtype"):
        model(torch.randn(2, 4, dtype=torch.float64))


def test_conv_bias_of_another_dtype() -> None:
    # F.conv2d checks the bias dtype before dispatching, on fake tensors as on real ones
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    model[0].bias.data = model[0].bias.data.to(torch.float16)
    with pytest.raises(TraceError, match=r"module '0' \(Conv2d\).*bias type"):
        analyze(model, "1x3x8x8")
    with pytest.raises(RuntimeError, match="bias type"):
        model(torch.randn(1, 3, 8, 8))


def test_cli_names_conv1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "torchvision:resnet18", "--input", "1x3x64x64:float16"],
                         capsys)
    assert code == 2 and out == ""
    assert "module 'conv1' (Conv2d) failed during forward: aten.convolution: input dtype " \
           "float16 and weight dtype float32 differ (a real run raises)" in err
    code, out, err = run(["model", "torchvision:resnet18", "--input", "1x3x64x64:float16",
                          "--dtype", "float16", "--json"], capsys)
    assert code == 0, err


# ----------------------------------------------------------------------- devices (documented)


class _TwoDevices(nn.Module):
    """Parameters on two devices: ``a`` on the CPU, ``b`` on meta; ``move`` names a device
    in forward."""

    def __init__(self, move: bool) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4, device="meta")
        self.move = move

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        return self.b(y.to("meta") if self.move else y)


def test_parameters_on_several_devices_are_analysed_as_one_device() -> None:
    # the documented limit: every fake tensor is on the CPU, so this is not refused...
    r = analyze(_TwoDevices(move=False), "2x4")
    assert r.totals.forward.macs == 2 * 16 * 2
    # ...though a real run is
    with pytest.raises(RuntimeError, match="device"):
        _TwoDevices(move=False)(torch.randn(2, 4))


def test_forward_naming_a_device_fails_naming_the_module() -> None:
    with pytest.raises(TraceError, match=r"module 'b' \(Linear\) failed during forward: .*device"):
        analyze(_TwoDevices(move=True), "2x4")
