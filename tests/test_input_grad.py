"""Inputs that require a gradient (``analyze(..., input_grad=True)``, ``InputSpec(...,
requires_grad=True)``, ``--input SHAPE:grad``, ``--input-grad``): what a block inside a network
sees. The backward then computes the inputs' gradients (grad-input), memory holds them
(gradients), and 2·MACs equal PyTorch's ``FlopCounterMode`` on real tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torchvision
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cli_run import run
from convcost import InputSpec, analyze
from convcost.errors import SpecError
from convcost.frontends.torch_trace import trace_model
from convcost.memory.model import run_memory
from convcost.model.onnx import analyze_onnx
from convcost.model.results import ModelResult
from convcost.spec import parse_input, parse_input_text, resize_shape


def real_flops(model: nn.Module, *inputs: torch.Tensor) -> tuple[int, int]:
    """(forward, forward + backward) FLOPs of ``FlopCounterMode`` on real tensors, every
    input requiring a gradient."""
    xs = [x.clone().requires_grad_(True) for x in inputs]
    with FlopCounterMode(display=False) as mode:
        out = model(*xs)
        fwd = mode.get_total_flops()
        out.sum().backward()
    return fwd, mode.get_total_flops()


def two_macs(r: ModelResult) -> tuple[int, int]:
    """(2·forward MACs, 2·(forward + backward) MACs) of a convcost analysis."""
    f, b = r.totals.forward.macs, r.totals.backward.total.macs
    return 2 * f, 2 * (f + b)


# --------------------------------------------------------------------------- PyTorch's cases


class MmExpandBmm(nn.Module):
    """PyTorch's ``test_backward``: mm -> unsqueeze/expand -> bmm, constants as buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w1", torch.randn(5, 6))
        self.register_buffer("w2", torch.randn(7, 6, 7))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a = torch.mm(a, self.w1)
        a = a.unsqueeze(0).expand(7, 4, 6)
        return torch.bmm(a, self.w2)


class SelfMm(nn.Module):
    """PyTorch's ``test_backward_reset``: ``a.mm(a.t())`` (both operands the input)."""

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a.mm(a.t())


def test_mm_expand_bmm_backward() -> None:
    m = MmExpandBmm()
    fwd, total = real_flops(m, torch.randn(4, 5))
    assert (fwd, total) == (2592, 5184)
    r = analyze(m, (4, 5), input_grad=True)
    assert two_macs(r) == (fwd, total)
    assert r.totals.backward.grad_weight.macs == 0  # only buffers: all of it is grad-input
    assert r.totals.backward.grad_input.macs == r.totals.backward.total.macs == 1296
    # without input gradient there is no backward at all (nothing requires grad)
    assert analyze(m, (4, 5)).totals.backward.total.macs == 0


def test_self_mm_backward() -> None:
    m = SelfMm()
    fwd, total = real_flops(m, torch.randn(4, 5))
    assert (fwd, total) == (160, 480)
    r = analyze(m, InputSpec((4, 5), requires_grad=True))
    assert two_macs(r) == (fwd, total)
    assert r.totals.backward.grad_input.macs == 160


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("kernel", [1, 2])
def test_conv_backward_is_twice_forward(kernel: int, transposed: bool) -> None:
    torch.manual_seed(0)
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    m = cls(4, 6, kernel, bias=False)
    x = torch.randn(2, 4, 9, 9)
    fwd, total = real_flops(m, x)
    assert total - fwd == 2 * fwd  # PyTorch: grad-input and grad-weight each cost a forward
    r = analyze(m, tuple(x.shape), input_grad=True)
    assert two_macs(r) == (fwd, total)
    b = r.totals.backward
    assert 2 * b.grad_input.macs == 2 * b.grad_weight.macs == fwd


def test_resnet18_input_requires_grad() -> None:
    m = torchvision.models.resnet18()
    fwd, total = real_flops(m, torch.randn(1, 3, 224, 224))
    assert total == 10_884_440_064
    r = analyze(m, (1, 3, 224, 224), input_grad=True)
    assert two_macs(r) == (fwd, total)
    # the first layer has a grad-input now (it had none without input_grad)
    conv1 = r.layer("conv1").backward.grad_input.macs
    assert conv1 == r.layer("conv1").forward.macs == 118_013_952
    assert analyze(m, (1, 3, 224, 224)).layer("conv1").backward.grad_input.macs == 0


# --------------------------------------------------------------------------- memory


def block() -> nn.Module:
    """A small transformer block (a ``package.module:factory`` target too)."""
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                      batch_first=True)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.GELU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


@pytest.mark.parametrize("factory,shape", [(block, (2, 16, 32)), (small_cnn, (4, 3, 8, 8))])
@pytest.mark.parametrize("optimizer", ["none", "sgd"])
def test_memory_equals_real_cpu_step(factory: object, shape: tuple[int, ...],
                                     optimizer: str) -> None:
    m = factory()  # type: ignore[operator]
    r = analyze(m, shape, input_grad=True, optimizer=optimizer)
    real = trace_model(m, [InputSpec(shape)], mode="train", optimizer=optimizer, real=True,
                       input_grad=True)
    assert len(real.input_grads) == 1 and real.input_requires_grad == (True,)
    assert r.memory.peak_train_bytes == run_memory(real).peak
    # the input's gradient is under gradients, beside the parameters' ones
    input_bytes = 4 * int(np.prod(shape))
    plain = analyze(m, shape, optimizer=optimizer)
    assert r.memory.grads_bytes == plain.memory.grads_bytes + input_bytes
    assert r.memory.grads_bytes == r.memory.params_bytes + input_bytes
    assert r.memory.peak_train_bytes is not None and plain.memory.peak_train_bytes is not None
    assert r.memory.peak_train_bytes >= plain.memory.peak_train_bytes
    for p in m.parameters():
        p.grad = None


def test_non_floating_inputs_never_require_grad() -> None:
    class Embed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.lin = nn.Linear(8, 8)

        def forward(self, ids: torch.Tensor, x: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
            return self.lin(self.emb(ids) + x) * mask.unsqueeze(-1)

    m = Embed()
    r = analyze(m, ["2x5:int64", (2, 5, 8)], kwargs={"mask": InputSpec((2, 5), "bool")},
                input_grad=True)
    assert r.input_requires_grad == (False, True, False)
    doc = r.to_dict()
    assert [i["requires_grad"] for i in doc["inputs"]] == [False, True, False]
    assert doc["input_grad"] is True and list(doc)[list(doc).index("mode") + 1] == "input_grad"
    assert r.memory.grads_bytes == r.memory.params_bytes + 2 * 5 * 8 * 4
    with pytest.raises(SpecError) as e:
        analyze(m, ["2x5:int64:grad", (2, 5, 8)], kwargs={"mask": InputSpec((2, 5), "bool")})
    assert e.value.field == "inputs[0].requires_grad" and "int64" in str(e.value)
    with pytest.raises(SpecError) as e:
        analyze(m, ["2x5:int64", (2, 5, 8)],
                kwargs={"mask": InputSpec((2, 5), "bool", requires_grad=True)})
    assert e.value.field == "kwargs['mask'].requires_grad"


class TwoLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a(x) * self.b(y)


def test_per_input_and_errors() -> None:
    m = TwoLinear()
    both = analyze(m, [(5, 4), (5, 3)], input_grad=True)
    one = analyze(m, [InputSpec((5, 4), requires_grad=True), (5, 3)])
    none = analyze(m, [(5, 4), (5, 3)])
    assert one.input_requires_grad == (True, False) and not none.input_grad
    assert none.to_dict()["input_grad"] is False
    assert none.totals.backward.grad_input.macs == 0
    assert one.totals.backward.grad_input.macs == 5 * 4 * 2  # only x's gradient
    assert both.totals.backward.grad_input.macs == 5 * 4 * 2 + 5 * 3 * 2
    assert one.layer("a").backward.grad_input.macs == 40
    assert one.layer("b").backward.grad_input.macs == 0
    with pytest.raises(SpecError) as e:
        analyze(m, [(5, 4), (5, 3)], mode="inference", input_grad=True)
    assert e.value.field == "input_grad"
    with pytest.raises(SpecError) as e:
        analyze(m, ["5x4:grad", (5, 3)], mode="inference")
    assert e.value.field == "inputs[0].requires_grad"


def test_text_forms() -> None:
    assert parse_input_text("x", "8x197x768:grad") == ((8, 197, 768), None, True)
    assert parse_input_text("x", "2x8:float32:grad") == ((2, 8), "float32", True)
    assert parse_input_text("x", "2x8:int64") == ((2, 8), "int64", False)
    assert parse_input("x", "2x8:GRAD") == InputSpec((2, 8), "float32", True)
    assert resize_shape("8x3x32x32:grad", 2, 16) == "2x3x16x16:grad"
    with pytest.raises(SpecError):
        parse_input_text("x", "2x8:float32:grad:int64")


# --------------------------------------------------------------------------- CLI and ONNX


TARGET = "test_input_grad:block"


def test_cli_input_grad(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["model", TARGET, "--input", "2x16x32", "--input-grad", "--json"],
                       capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["input_grad"] is True and doc["inputs"][0]["requires_grad"] is True
    code, out2, _ = run(["model", TARGET, "--input", "src=2x16x32:float32:grad", "--json"],
                        capsys)
    assert code == 0
    doc2 = json.loads(out2)
    assert doc2["inputs"][0]["requires_grad"] is True
    assert doc2["totals"] == doc["totals"]
    api = analyze(block(), (2, 16, 32), input_grad=True)
    assert doc["totals"]["backward"]["macs"] == api.totals.backward.total.macs
    code, out3, _ = run(["model", TARGET, "--input", "2x16x32", "--json"], capsys)
    plain = json.loads(out3)
    assert plain["input_grad"] is False and "requires_grad" not in plain["inputs"][0]
    code, out, _ = run(["model", TARGET, "--input", "2x16x32:grad"], capsys)
    assert code == 0 and "(requires grad)" in out
    code, _, err = run(["model", TARGET, "--input", "2x16x32", "--input-grad", "--mode",
                        "inference"], capsys)
    assert code == 2 and "--input-grad" in err and "--mode train" in err
    code, _, err = run(["model", TARGET, "--input", "2x16x32", "--input",
                        "src_mask=16x16:bool:grad"], capsys)
    assert code == 2 and "--input" in err and "bool" in err


def test_cli_compare_and_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare", TARGET, f"{TARGET} --input-grad", "--input", "2x16x32",
                        "--json"], capsys)
    assert code == 0
    entries = json.loads(out)["compare"]
    assert [e["input_grad"] for e in entries] == [False, True]
    code, out, _ = run(["model", TARGET, "--input", "2x16x32:grad", "--batch", "1,2",
                        "--json"], capsys)
    assert code == 0
    rows = json.loads(out)["sweep"]
    assert [row["input_grad"] for row in rows] == [True, True]
    assert [row["inputs"][0]["shape"][0] for row in rows] == [1, 2]


def _onnx_matmul(path: Path) -> str:
    w = numpy_helper.from_array(np.ones((8, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return str(path)


def test_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _onnx_matmul(tmp_path / "mm.onnx")
    plain = analyze_onnx(path, ["x=3x8"])
    flag = analyze_onnx(path, ["x=3x8"], input_grad=True)
    suffix = analyze_onnx(path, ["x=3x8:grad"])
    assert plain.totals.backward.grad_input.macs == 0
    assert flag.totals.backward.grad_input.macs == suffix.totals.backward.grad_input.macs == 96
    assert flag.inputs[0][0] == "x" and flag.input_requires_grad == (True,)
    assert suffix.memory.grads_bytes == plain.memory.grads_bytes + 3 * 8 * 4
    code, out, _ = run(["model", path, "--input", "x=3x8:grad", "--json"], capsys)
    assert code == 0 and json.loads(out)["inputs"][0]["requires_grad"] is True
