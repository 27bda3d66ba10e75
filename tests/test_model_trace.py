"""Whole-model analysis (convcost.analyze): costs per module against independent oracles.

Oracles: the single-layer calculator (itself checked against brute force in
test_conv_exact.py), torchvision's published ``meta["_ops"]`` (GMACs), PyTorch's
``FlopCounterMode`` where it is right (ungrouped networks), and the exact rule that a
convolution needing both gradients has backward MACs = 2 × forward MACs.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

torch = importlib.import_module("torch")
torchvision = importlib.import_module("torchvision")

import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

from convcost import analyze, analyze_conv, conv_spec  # noqa: E402
from convcost.cost import BackwardCost, Cost  # noqa: E402
from convcost.errors import ConvCostError, SpecError, TraceError  # noqa: E402
from convcost.model import InputSpec, ModelResult  # noqa: E402
from convcost.model.results import FUNCTIONAL  # noqa: E402
from shared import TorchvisionAnalysis, TorchvisionOps  # noqa: E402

ZERO = Cost()


def leaf_sum(r: ModelResult) -> tuple[Cost, Cost, Cost, Cost, int]:
    fwd = gi = gw = gb = ZERO
    saved = 0
    for row in r.layers:
        if row.leaf:
            fwd = fwd + row.forward
            gi = gi + row.backward.grad_input
            gw = gw + row.backward.grad_weight
            gb = gb + row.backward.grad_bias
            saved += row.saved_bytes
    return fwd, gi, gw, gb, saved


# --------------------------------------------------------------------------- single layers

SINGLE = [
    # (module factory, input shape, conv_spec kwargs)
    (lambda: nn.Conv2d(3, 8, 3, padding=1), (2, 3, 9, 9),
     dict(in_channels=3, out_channels=8, input_size=(9, 9), kernel=3, padding=1)),
    (lambda: nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), bias=False), (3, 4, 11, 8),
     dict(in_channels=4, out_channels=6, input_size=(11, 8), kernel=(3, 2), stride=2,
          padding=(1, 0), bias=False)),
    (lambda: nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), (1, 8, 10, 10),
     dict(in_channels=8, out_channels=8, input_size=(10, 10), kernel=3, padding=2, dilation=2,
          groups=4)),
    (lambda: nn.Conv2d(6, 6, 5, padding=2, groups=6, bias=False), (2, 6, 7, 7),
     dict(in_channels=6, out_channels=6, input_size=(7, 7), kernel=5, padding=2, groups=6,
          bias=False)),
    (lambda: nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1), (2, 4, 5, 5),
     dict(in_channels=4, out_channels=6, input_size=(5, 5), kernel=4, stride=2, padding=1,
          transposed=True)),
    (lambda: nn.ConvTranspose2d(4, 8, 3, stride=2, padding=1, output_padding=1, groups=2,
                                bias=False), (1, 4, 6, 6),
     dict(in_channels=4, out_channels=8, input_size=(6, 6), kernel=3, stride=2, padding=1,
          output_padding=1, groups=2, bias=False, transposed=True)),
    (lambda: nn.Conv1d(3, 5, 4, stride=3, padding=2), (2, 3, 20),
     dict(in_channels=3, out_channels=5, input_size=(20,), kernel=4, stride=3, padding=2)),
    (lambda: nn.Conv3d(2, 3, 3, padding=1, bias=False), (1, 2, 4, 5, 6),
     dict(in_channels=2, out_channels=3, input_size=(4, 5, 6), kernel=3, padding=1,
          bias=False)),
]


@pytest.mark.parametrize("counting", ["dense", "skip-padding"])
@pytest.mark.parametrize("case", range(len(SINGLE)))
def test_single_layer_equals_calculator(case: int, counting: str) -> None:
    make, shape, kw = SINGLE[case]
    torch.manual_seed(0)
    r = analyze(make(), shape, counting=counting)
    # The network's only layer: its input does not require grad, so no grad-input.
    ref = analyze_conv(conv_spec(batch=shape[0], input_grad=False, **kw), counting)
    assert r.totals.forward == ref.forward
    assert r.totals.forward.macs == ref.macs
    row = r.layers[0]
    assert row.leaf and row.name == ""
    assert row.backward.grad_input == ZERO
    assert row.backward.grad_weight == ref.backward.grad_weight
    assert row.backward.grad_bias == ref.backward.grad_bias
    assert r.totals.backward.total == ref.backward.total
    assert row.output_shape == ref.output_shape
    assert r.unsupported_ops == ()


def test_second_conv_has_grad_input() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 3, stride=2, groups=2))
    r = analyze(m, (2, 3, 12, 12))
    first = analyze_conv(conv_spec(3, 8, (12, 12), 3, padding=1, batch=2, input_grad=False))
    second = analyze_conv(conv_spec(8, 4, (12, 12), 3, stride=2, groups=2, batch=2))
    a, b = r.layer("0"), r.layer("1")
    assert a.forward == first.forward and b.forward == second.forward
    assert a.backward.grad_input == ZERO
    assert b.backward.grad_input == second.backward.grad_input != ZERO
    assert b.backward.grad_weight == second.backward.grad_weight
    assert b.backward.grad_bias == second.backward.grad_bias
    assert a.backward == first.backward
    # grouped conv needing both gradients: backward MACs = 2 × forward MACs
    assert b.backward.total.macs == 2 * b.forward.macs


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 3, 3, 3))
        self.b = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.w, self.b, stride=2, padding=1)


def test_functional_conv_counted_like_module() -> None:
    r = analyze(Functional(), (2, 3, 10, 10))
    ref = analyze_conv(conv_spec(3, 6, (10, 10), 3, stride=2, padding=1, batch=2,
                                 input_grad=False))
    assert r.totals.forward == ref.forward
    assert r.totals.backward.grad_weight == ref.backward.grad_weight
    assert r.totals.backward.grad_bias == ref.backward.grad_bias
    mod = analyze(nn.Conv2d(3, 6, 3, stride=2, padding=1), (2, 3, 10, 10))
    assert (mod.totals.forward, mod.totals.backward) == (r.totals.forward, r.totals.backward)


# --------------------------------------------------------------------------- freezing


def test_frozen_layers_have_no_grad_weight() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                      nn.Conv2d(8, 4, 1))
    full = analyze(m, (1, 3, 16, 16))
    r = analyze(m, (1, 3, 16, 16), freeze=r"^0\.")
    assert r.layer("0").backward == BackwardCost(ZERO, ZERO, ZERO)
    assert r.layer("0").trainable_params == 0 and r.layer("0").params == 8 * 3 * 9 + 8
    # Nothing before layer 2 needs a gradient any more, so it has no grad-input either.
    two = r.layer("2").backward
    assert two.grad_input == ZERO != full.layer("2").backward.grad_input
    assert (two.grad_weight, two.grad_bias) == (full.layer("2").backward.grad_weight,
                                                full.layer("2").backward.grad_bias)
    assert r.totals.trainable_params == full.totals.params - (8 * 3 * 9 + 8)
    assert r.memory.grads_bytes == full.memory.grads_bytes - 4 * (8 * 3 * 9 + 8)
    # Freezing the middle layer: no grad-weight there, but it still passes grad-input on.
    mid = analyze(m, (1, 3, 16, 16), freeze=r"^2\.")
    row = mid.layer("2")
    assert row.backward.grad_weight == ZERO and row.backward.grad_bias == ZERO
    assert row.backward.grad_input == full.layer("2").backward.grad_input != ZERO
    # Everything frozen: nothing requires grad, so a real backward raises (issue 27)
    with pytest.raises(RuntimeError, match="does not require grad"):
        m.requires_grad_(False)
        m(torch.randn(1, 3, 16, 16)).sum().backward()
    m.requires_grad_(True)
    with pytest.raises(SpecError, match=r"^freeze: got '\.'; matches every trainable"):
        analyze(m, (1, 3, 16, 16), freeze=".")
    # ...unless an input requires a gradient: then only grad-input is computed
    r = analyze(m, (1, 3, 16, 16), freeze=".", input_grad=True)
    assert r.totals.backward.grad_weight == ZERO != r.totals.backward.grad_input


# --------------------------------------------------------------------------- inputs


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(2, 4, 1)
        self.emb = nn.Embedding(10, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor, *, ids: torch.Tensor,
                scale: float = 1.0) -> torch.Tensor:
        return (self.a(x) + self.b(y)) * scale + self.emb(ids).sum()


def test_several_positional_and_keyword_inputs() -> None:
    m = TwoInputs()
    r = analyze(m, [(2, 3, 8, 8), torch.zeros(2, 2, 8, 8)],
                kwargs={"ids": InputSpec((2, 5), "int64"), "scale": 0.5})
    assert [(n, s.shape, s.dtype) for n, s in r.inputs] == [
        ("arg0", (2, 3, 8, 8), "float32"), ("arg1", (2, 2, 8, 8), "float32"),
        ("ids", (2, 5), "int64")]
    ca = analyze_conv(conv_spec(3, 4, (8, 8), 3, padding=1, batch=2, input_grad=False))
    cb = analyze_conv(conv_spec(2, 4, (8, 8), 1, batch=2, input_grad=False))
    assert r.layer("a").forward == ca.forward and r.layer("b").forward == cb.forward
    assert r.layer("a").backward == ca.backward and r.layer("b").backward == cb.backward
    assert r.memory.inputs_bytes == 4 * (2 * 3 * 8 * 8 + 2 * 2 * 8 * 8) + 8 * 2 * 5
    # shapes as strings, with a dtype suffix
    r2 = analyze(m, ["2x3x8x8", "2x2x8x8"], kwargs={"ids": InputSpec((2, 5), "int64")})
    assert r2.totals == analyze(m, [(2, 3, 8, 8), (2, 2, 8, 8)],
                                kwargs={"ids": InputSpec((2, 5), "int64")}).totals
    assert analyze(nn.Embedding(10, 4), "3x7:int64").inputs[0][1].dtype == "int64"


class ControlFlow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(3))
        self.down = nn.Conv2d(4, 4, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, blk in enumerate(self.blocks):
            if i % 2 == 0:
                x = x + blk(x)
        while x.shape[-1] > 4:  # shapes are known: this loop runs on fake tensors
            x = self.down(x)
        return x


def test_python_control_flow() -> None:
    r = analyze(ControlFlow(), (1, 4, 16, 16))
    assert r.layer("blocks.0").calls == 1 and r.layer("blocks.1").calls == 0
    assert r.layer("blocks.2").calls == 1 and r.layer("down").calls == 2
    assert r.layer("blocks.1").forward == ZERO
    d1 = analyze_conv(conv_spec(4, 4, (16, 16), 2, stride=2))
    d2 = analyze_conv(conv_spec(4, 4, (8, 8), 2, stride=2))
    assert r.layer("down").forward == d1.forward + d2.forward
    assert r.layer("down").output_shape == (1, 4, 8, 8)  # the first call's output


def test_data_dependent_model_is_reported() -> None:
    class Peek(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Sequential(nn.Identity(), Reader())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    class Reader(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if float(x.sum()) > 0 else x

    with pytest.raises(TraceError) as ei:
        analyze(Peek(), (1, 3))
    msg = str(ei.value)
    assert "'inner.1' (Reader)" in msg and "forward" in msg and "\n" not in msg
    assert ei.value.__cause__ is not None


def test_failing_model_names_module() -> None:
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.Flatten(), nn.Linear(7, 2)))
    with pytest.raises(TraceError, match=r"module '1\.1' \(Linear\) failed during forward"):
        analyze(m, (1, 3, 8, 8))
    # hooks are gone: the model still runs normally afterwards
    assert not any(mod._forward_hooks or mod._forward_pre_hooks for mod in m.modules())


# --------------------------------------------------------------------------- unsupported


@torch.library.custom_op("convcost_test::mystery", mutates_args=())
def _mystery(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@_mystery.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def test_op_without_formula_is_reported() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _mystery(_mystery(self.c(x)))

    r = analyze(M(), (1, 3, 4, 4), mode="inference")
    assert dict(r.unsupported_ops) == {"convcost_test::mystery.default": 2}
    assert r.to_dict()["unsupported_ops"] == {"convcost_test::mystery.default": 2}
    assert r.totals.forward == analyze_conv(conv_spec(3, 3, (4, 4), 1)).forward


@torch.library.custom_op("convcost_test::scaled_relu", mutates_args=())
def _scaled_relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x) * 2


@_scaled_relu.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _scaled_relu_decomposition(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x) * 2


def test_op_without_formula_counted_through_its_decomposition() -> None:
    from torch._decomp import register_decomposition

    op = torch.ops.convcost_test.scaled_relu.default
    register_decomposition(op)(_scaled_relu_decomposition)

    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _scaled_relu(self.c(x))

    class Plain(Custom):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.c(x)) * 2

    r = analyze(Custom(), (1, 3, 4, 4), mode="inference")
    assert r.unsupported_ops == ()
    assert dict(r.decomposed_ops) == {"convcost_test::scaled_relu.default": 1}
    plain = analyze(Plain(), (1, 3, 4, 4), mode="inference")
    assert r.totals == plain.totals and r.totals.forward.other > 0
    # the op's own output is the memory; the decomposition's temporary (relu's) is not
    assert r.memory.temporaries_bytes == plain.memory.temporaries_bytes - 4 * 3 * 4 * 4


# --------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize("kw,field", [
    (dict(mode="training"), "mode"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(mode="inference", optimizer="adam"), "optimizer"),
    (dict(dtype="int8"), "dtype"),
    (dict(dtype="float17"), "dtype"),
    (dict(amp="fp8"), "amp"),
    (dict(counting="sparse"), "counting"),
    (dict(freeze="(unclosed"), "freeze"),
])
def test_bad_arguments(kw: dict[str, str], field: str) -> None:
    with pytest.raises(SpecError) as ei:
        analyze(nn.Conv2d(3, 3, 1), (1, 3, 4, 4), **kw)  # type: ignore[arg-type]
    assert ei.value.field == field
    msg = str(ei.value)
    assert msg.startswith(f"{field}: got ") and "\n" not in msg
    assert repr(list(kw.values())[-1]) in msg


@pytest.mark.parametrize("inputs,field", [
    ((1, 0, 4), "inputs"),
    ("1x3xfour", "inputs"),
    ([], "inputs"),
    ([(1, 3, 4, 4), 2.5], "inputs[1]"),
    (((1, 3), "float99"), "inputs.dtype"),
])
def test_bad_inputs(inputs: object, field: str) -> None:
    with pytest.raises(SpecError) as ei:
        analyze(nn.Conv2d(3, 3, 1), inputs)
    assert ei.value.field == field


def test_not_a_module() -> None:
    with pytest.raises(SpecError, match="model: got 'function'"):
        analyze(lambda x: x, (1, 3))
    assert issubclass(TraceError, ConvCostError)


# --------------------------------------------------------------------------- hierarchy


def test_rows_are_hierarchical_and_leaves_add_up(
        torchvision_analysis: TorchvisionAnalysis) -> None:
    with torch.device("meta"):  # the same architecture, for its parameter count
        m = torchvision.models.resnet18()
    r = torchvision_analysis("resnet18", (2, 3, 64, 64))
    names = [row.name for row in r.layers]
    assert names[0] == "" and "layer1" in names and "layer1.0" in names
    assert "layer1.0.conv1" in names and f"layer1.0.{FUNCTIONAL}" in names
    assert max(row.depth for row in r.layers) == 4  # layer2.0.downsample.0
    fwd, gi, gw, gb, saved = leaf_sum(r)
    assert fwd == r.totals.forward
    assert (gi, gw, gb) == (r.totals.backward.grad_input, r.totals.backward.grad_weight,
                            r.totals.backward.grad_bias)
    assert saved == r.memory.saved_activations_bytes
    root = r.layers[0]
    assert root.forward == r.totals.forward and root.backward == r.totals.backward
    assert root.params == r.totals.params == sum(p.numel() for p in m.parameters())
    # a block row includes its children and its own (functional) ops
    block = r.layer("layer1.0")
    parts = [row for row in r.layers if row.name.startswith("layer1.0.") and row.depth == 3]
    assert block.forward == sum((p.forward for p in parts), ZERO)
    d = r.to_dict()
    assert set(d) >= {"model", "inputs", "mode", "dtype", "counting", "totals", "memory",
                      "layers", "unsupported_ops"}
    assert set(d["totals"]) >= {"params", "trainable_params", "forward", "backward"}
    assert set(d["totals"]["forward"]) >= {"macs", "mults", "adds", "flops"}
    assert set(d["memory"]) >= {"params_bytes", "buffers_bytes", "inputs_bytes", "grads_bytes",
                                "optimizer_bytes", "saved_activations_bytes",
                                "peak_train_bytes", "peak_inference_bytes"}
    assert set(d["layers"][1]) >= {"name", "type", "output_shape", "params", "forward",
                                   "backward", "saved_bytes"}
    assert set(d["layers"][1]["backward"]) >= {"grad_input", "grad_weight", "grad_bias"}


def test_meta_device_model_same_as_cpu(torchvision_analysis: TorchvisionAnalysis) -> None:
    with torch.device("meta"):
        meta = torchvision.models.resnet18()
    a = analyze(meta, (1, 3, 64, 64))
    b = torchvision_analysis("resnet18", (1, 3, 64, 64))  # built on the CPU
    assert a.totals == b.totals and a.memory == b.memory and a.layers == b.layers


def test_dtype_and_amp(torchvision_analysis: TorchvisionAnalysis) -> None:
    m = torchvision.models.resnet18()
    base = torchvision_analysis("resnet18", (2, 3, 64, 64))
    half = analyze(m, (2, 3, 64, 64), dtype="bf16")
    assert half.dtype == "bfloat16" and half.totals == base.totals
    assert half.memory.params_bytes * 2 == base.memory.params_bytes
    amp = analyze(m, (2, 3, 64, 64), amp="bf16")
    assert amp.amp == "bfloat16" and amp.totals.forward.macs == base.totals.forward.macs
    assert amp.memory.params_bytes == base.memory.params_bytes  # weights stay float32
    # autocast saves bfloat16 copies of the conv/linear weights for the backward pass
    matmul_weights = sum(mod.weight.numel() for mod in m.modules()
                         if isinstance(mod, (nn.Conv2d, nn.Linear)))
    assert amp.memory.saved_activations_bytes >= 2 * matmul_weights
    assert amp.memory.peak_train_bytes != base.memory.peak_train_bytes
    assert next(m.parameters()).dtype == torch.float32  # the model is not modified


def test_import_convcost_does_not_import_torch() -> None:
    code = "import sys, convcost; convcost.analyze; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- real models


def test_resnet18_matches_flop_counter() -> None:
    """Ungrouped network: forward + backward MACs × 2 = FlopCounterMode's total."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    m = torchvision.models.resnet18()
    r = analyze(m, (2, 3, 96, 96))
    with FakeTensorMode(allow_non_fake_inputs=True) as fm:
        fake = fm.from_tensor
        params = {n: nn.Parameter(fake(p)) for n, p in m.named_parameters()}
        buffers = {n: fake(b) for n, b in m.named_buffers()}
        x = torch.empty(2, 3, 96, 96)
        counter = FlopCounterMode(display=False)
        with counter:
            out = torch.func.functional_call(m, {**params, **buffers}, (x,))
            out.sum().backward()
    assert counter.get_total_flops() == 2 * (r.totals.forward.macs + r.totals.backward.total.macs)


@pytest.mark.parametrize("name", [pytest.param("mobilenet_v2", marks=pytest.mark.slow),
                                  "resnext50_32x4d"])
def test_grouped_backward_is_twice_forward(name: str,
                                           torchvision_analysis: TorchvisionAnalysis) -> None:
    with torch.device("meta"):  # the same architecture, for its modules
        m = torchvision.models.get_model(name)
    r = torchvision_analysis(name, (1, 3, 64, 64))
    convs = {n for n, mod in m.named_modules() if isinstance(mod, nn.Conv2d)}
    grouped = 0
    for row in r.layers:
        if row.name in convs:
            if row.name == "features.0.0" or row.name == "conv1":  # the first layer
                assert row.backward.grad_input == ZERO
                assert row.backward.total.macs == row.forward.macs
            else:
                assert row.backward.total.macs == 2 * row.forward.macs, row.name
                grouped += dict(m.named_modules())[row.name].groups > 1
    assert grouped > 0


def _check_ops(name: str, torchvision_ops: TorchvisionOps) -> None:
    # the model at its weights' crop size, in inference mode, and the weights' meta["_ops"]
    r, gmacs = torchvision_ops(name)
    # _ops is GMACs rounded to 3 decimals
    assert abs(r.totals.forward.macs / 1e9 - gmacs) <= 0.0005 + 1e-9, (
        name, r.totals.forward.macs, gmacs, dict(r.unsupported_ops))


REPRESENTATIVE = ["resnet50", "mobilenet_v2", "vit_b_16", "convnext_tiny", "efficientnet_b0",
                  "regnet_y_400mf", "resnext50_32x4d", "densenet121", "swin_t", "inception_v3"]


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_forward_macs_match_torchvision_metadata(name: str,
                                                 torchvision_ops: TorchvisionOps) -> None:
    _check_ops(name, torchvision_ops)


def _classification_models() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


@pytest.mark.sweep
@pytest.mark.slow
@pytest.mark.parametrize("name", _classification_models())
def test_forward_macs_sweep_all_classification_models(name: str,
                                                      torchvision_ops: TorchvisionOps) -> None:
    """Every torchvision classification model (about 80; a minute on 2 cores)."""
    _check_ops(name, torchvision_ops)
