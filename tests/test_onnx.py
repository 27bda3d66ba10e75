"""ONNX models (convcost.frontends.onnx): the graph interpreted by torch ops, analysed by analyze().

Oracles: the PyTorch path on the same torchvision model (the ONNX file is its export), the
same op written in PyTorch (one op at a time), the single-layer calculator for (transposed)
convolutions with ONNX's padding rules, hand-worked literals, and ONNX's own reference
implementation for output shapes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import torchvision
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn

from cli_run import run
from convcost import analyze, conv_cost
from convcost.cost import Cost
from convcost.errors import ConvCostError, SpecError
from convcost.frontends.onnx import load_onnx
from convcost.model import ModelResult
from convcost.model.onnx import analyze_onnx
from shared import TorchvisionAnalysis

FLOAT = TensorProto.FLOAT


# --------------------------------------------------------------------------- helpers


def make_model(nodes: list[Any], inputs: Sequence[tuple[str, int, Sequence[Any]]],
               outputs: Sequence[str], inits: dict[str, Any] | None = None,
               opset: int = 17, domains: Sequence[str] = ()) -> Any:
    """A model of ``nodes``; the outputs' types come from ONNX shape inference (the checker
    wants a shape on every graph output)."""
    def build(outs: list[Any]) -> Any:
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in inputs],
            outs, initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in
                               (inits or {}).items()])
        m = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.opset_import.extend(helper.make_opsetid(d, 1) for d in domains)
        return m

    first = build([helper.make_value_info(o, onnx.TypeProto()) for o in outputs])
    inferred = onnx.shape_inference.infer_shapes(first)
    types = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    outs = []
    for o in outputs:
        v = types.get(o)
        if v is None or not v.type.tensor_type.HasField("shape"):
            v = helper.make_tensor_value_info(o, FLOAT, ["?"])  # unknown: any rank will do
        outs.append(v)
    return build(outs)


def save(model: Any, path: Any) -> str:
    onnx.save(model, str(path))
    return str(path)


def f32(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def ints(*v: int) -> np.ndarray:
    return np.asarray(v, dtype=np.int64)


def reference_shapes(model: Any, feeds: dict[str, tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Output shapes from ONNX's reference implementation, run on random data."""
    outs = ReferenceEvaluator(model).run(None, {k: f32(*s) for k, s in feeds.items()})
    return [tuple(o.shape) for o in outs]


def inferred_shape(model: Any, name: str = "y") -> tuple[int, ...]:
    """The shape ONNX's shape inference gives output ``name`` (static inputs only)."""
    (v,) = [o for o in model.graph.output if o.name == name]
    return tuple(d.dim_value for d in v.type.tensor_type.shape.dim)


def node_shape(r: ModelResult, name: str) -> tuple[int, ...] | None:
    return r.layer(name).output_shape


# --------------------------------------------------------------------------- real models


def export(model: Any, path: str, res: int) -> None:
    """The exporter PyTorch ships without extra packages (TorchScript-based), in training
    mode so BatchNormalization and Dropout stay what they are (an eval-mode export folds
    batch norm into the convolutions: another model)."""
    model.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, res, res),), path, dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)


OnnxFile = Callable[[str, int], str]
Both = Callable[..., tuple[ModelResult, ModelResult]]


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> OnnxFile:
    """``(NAME, RES) ->`` path of the ONNX export of torchvision model NAME (batch 1,
    RES×RES), exported once per model."""
    done: dict[str, str] = {}
    d = tmp_path_factory.mktemp("models")

    def get(name: str, res: int) -> str:
        if name not in done:
            path = str(d / f"{name}.onnx")
            export(torchvision.models.get_model(name, weights=None), path, res)
            done[name] = path
        return done[name]

    return get


@pytest.fixture(scope="module")
def both(onnx_file: OnnxFile, torchvision_analysis: TorchvisionAnalysis) -> Both:
    """``(NAME, RES, MODE="train") ->`` (ONNX analysis, PyTorch analysis) of torchvision
    model NAME at batch 1, RES×RES: the ONNX file is the model's export. Each analysis is
    made once (the PyTorch ones by the session's ``torchvision_analysis``)."""
    done: dict[tuple[str, int, str], ModelResult] = {}

    def get(name: str, res: int, mode: str = "train") -> tuple[ModelResult, ModelResult]:
        if (name, res, mode) not in done:
            done[name, res, mode] = analyze_onnx(onnx_file(name, res),
                                                 {"input": (1, 3, res, res)}, mode=mode)
        return done[name, res, mode], torchvision_analysis(name, (1, 3, res, res), mode=mode)

    return get


def bn_count(name: str) -> int:
    """BatchNorm2d modules of torchvision model NAME."""
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None)
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("name", ["resnet18",
                                  pytest.param("mobilenet_v2", marks=pytest.mark.slow)])
def test_cnn_same_totals_as_pytorch(both: Both, name: str) -> None:
    """Every count equal, except one addition per BatchNorm2d in training: PyTorch's
    module also counts its steps (``num_batches_tracked += 1``), an ONNX graph has no such
    counter (and 8 bytes less of buffers per batch norm)."""
    r, t = both(name, 64)
    nbn = bn_count(name)
    assert r.unsupported_ops == () and r.formula_errors == ()
    assert r.totals.params == t.totals.params and r.totals.trainable_params == t.totals.params
    assert r.totals.forward + Cost(adds=nbn) == t.totals.forward
    assert r.totals.backward == t.totals.backward
    assert r.memory.params_bytes == t.memory.params_bytes
    assert r.memory.grads_bytes == t.memory.grads_bytes
    assert r.memory.saved_activations_bytes == t.memory.saved_activations_bytes
    assert r.memory.buffers_bytes == t.memory.buffers_bytes - 8 * nbn
    assert r.memory.peak_train_bytes == t.memory.peak_train_bytes - 8 * nbn  # type: ignore[operator]
    assert r.inputs[0][0] == "input" and r.model.endswith(f"{name}.onnx")


def test_resnet18_inference_identical(both: Both) -> None:
    r, t = both("resnet18", 64, mode="inference")
    assert r.totals.forward == t.totals.forward
    assert r.memory.peak_inference_bytes == t.memory.peak_inference_bytes - 8 * 20


def test_resnet18_layers_named_like_pytorch(both: Both) -> None:
    """Exporter node names (/layer1/layer1.0/conv1/Conv) become the module hierarchy."""
    r, t = both("resnet18", 64)
    for a, b in (("conv1", "conv1"), ("layer1.layer1_0.conv1", "layer1.0.conv1"),
                 ("layer4.layer4_1.bn2", "layer4.1.bn2"), ("fc", "fc")):
        bn = Cost(adds=1) if "bn" in a else Cost()  # num_batches_tracked += 1
        assert r.layer(a).forward + bn == t.layer(b).forward
        assert r.layer(a).backward == t.layer(b).backward
        assert r.layer(a).params == t.layer(b).params
        assert r.layer(a).output_shape == t.layer(b).output_shape
    assert r.layer("layer1").forward + Cost(adds=4) == t.layer("layer1").forward
    assert r.layer("conv1").type == "Conv" and r.layer("fc").type == "Gemm"


@pytest.mark.slow
def test_efficientnet_b0(both: Both) -> None:
    """MACs equal. Differences, all from ops the exporter writes differently: SiLU is
    Sigmoid·x (sigmoid + mul forward, and their two backwards instead of silu_backward);
    stochastic depth is RandomUniformLike/Less/Cast/Div/Mul instead of bernoulli_/div_/mul;
    one add per BatchNorm2d (num_batches_tracked)."""
    r, t = both("efficientnet_b0", 64)
    assert r.unsupported_ops == ()
    assert r.totals.params == t.totals.params
    assert r.totals.forward.macs == t.totals.forward.macs
    assert r.totals.backward.total.macs == t.totals.backward.total.macs
    assert r.totals.backward.grad_weight == t.totals.backward.grad_weight
    assert r.totals.forward.mults == t.totals.forward.mults
    assert abs(r.totals.forward.flops / t.totals.forward.flops - 1) < 1e-4
    assert abs(r.totals.backward.total.flops / t.totals.backward.total.flops - 1) < 1e-2
    assert abs(r.memory.peak_train_bytes / t.memory.peak_train_bytes - 1) < 0.05  # type: ignore[operator]


@pytest.mark.slow
def test_vit_b_16(both: Both) -> None:
    """Forward MACs and all parameters equal. Attention: PyTorch runs fused scaled
    dot-product attention, whose backward recomputes QKᵀ (one extra 197×197×64 matmul per
    head and layer); the export writes MatMul/Softmax/MatMul, whose backward reuses the saved
    probabilities. GELU is exported as its erf formula, and the scaling as two Mul nodes,
    so mults and other ops differ."""
    r, t = both("vit_b_16", 224)
    assert r.unsupported_ops == ()
    assert r.totals.params == t.totals.params == 86_567_656
    assert r.totals.forward.macs == t.totals.forward.macs
    assert r.totals.forward.adds == t.totals.forward.adds
    recompute = 12 * 12 * 197 * 197 * 64  # layers × heads × QKᵀ products
    assert t.totals.backward.total.macs - r.totals.backward.total.macs == recompute
    assert r.totals.backward.grad_weight.macs == t.totals.backward.grad_weight.macs
    assert abs(r.memory.peak_train_bytes / t.memory.peak_train_bytes - 1) < 0.02  # type: ignore[operator]


# --------------------------------------------------------------------------- one op at a time


class Fn(nn.Module):
    """A PyTorch op with parameters (and buffers) of given shapes."""

    def __init__(self, fn: Callable[..., Any], params: dict[str, tuple[int, ...]],
                 buffers: dict[str, tuple[int, ...]] | None = None) -> None:
        super().__init__()
        for k, s in params.items():
            self.register_parameter(k, nn.Parameter(torch.ones(s)))
        for k, s in (buffers or {}).items():
            self.register_buffer(k, torch.ones(s))
        self.fn = fn

    def forward(self, x: Any) -> Any:
        return self.fn(self, x * self.s)


def N(op: str, ins: list[str], outs: list[str] | None = None, **attrs: Any) -> Any:  # noqa: N802
    return helper.make_node(op, ins, outs or ["y"], name=op.lower(), **attrs)


X = (2, 4, 8, 8)
# name -> (ONNX nodes after "x1 = x·s", initializers, PyTorch op on x1, its params,
#          its buffers, opset). Every case starts with a parameter so the op has a backward.
CASES: dict[str, tuple[Any, ...]] = {
    "Conv": ([N("Conv", ["x1", "w", "b"], pads=[1, 1, 1, 1], strides=[2, 2], dilations=[2, 2],
                group=2)], {"w": f32(6, 2, 3, 3), "b": f32(6)},
             lambda m, x: F.conv2d(x, m.w, m.b, 2, 1, 2, 2), {"w": (6, 2, 3, 3), "b": (6,)}),
    "ConvTranspose": ([N("ConvTranspose", ["x1", "w"], pads=[1, 1, 1, 1], strides=[2, 2],
                         output_padding=[1, 1])], {"w": f32(4, 3, 3, 3)},
                      lambda m, x: F.conv_transpose2d(x, m.w, None, 2, 1, 1),
                      {"w": (4, 3, 3, 3)}),
    "Gemm": ([N("Reshape", ["x1", "shape"], ["x2"]), N("Gemm", ["x2", "w", "b"], transB=1)],
             {"shape": ints(2, -1), "w": f32(5, 256), "b": f32(5)},
             lambda m, x: F.linear(x.reshape(2, -1), m.w, m.b), {"w": (5, 256), "b": (5,)}),
    "MatMul": ([N("MatMul", ["x1", "w"])], {"w": f32(8, 3)},
               lambda m, x: torch.matmul(x, m.w), {"w": (8, 3)}),
    "Einsum": ([N("Einsum", ["x1", "w"], equation="bchw,wk->bchk")], {"w": f32(8, 3)},
               lambda m, x: torch.einsum("bchw,wk->bchk", x, m.w), {"w": (8, 3)}),
    "Relu": ([N("Relu", ["x1"])], {}, lambda m, x: F.relu(x), {}),
    "Sigmoid": ([N("Sigmoid", ["x1"])], {}, lambda m, x: torch.sigmoid(x), {}),
    "Tanh": ([N("Tanh", ["x1"])], {}, lambda m, x: torch.tanh(x), {}),
    "LeakyRelu": ([N("LeakyRelu", ["x1"], alpha=0.1)], {}, lambda m, x: F.leaky_relu(x, 0.1),
                  {}),
    "PRelu": ([N("PRelu", ["x1", "w"])], {"w": f32(4, 1, 1)},
              lambda m, x: F.prelu(x, m.w.reshape(-1)), {"w": (4, 1, 1)}),
    "Elu": ([N("Elu", ["x1"])], {}, lambda m, x: F.elu(x), {}),
    "HardSigmoid": ([N("HardSigmoid", ["x1"], alpha=1 / 6)], {},
                    lambda m, x: F.hardsigmoid(x), {}),
    "HardSwish": ([N("HardSwish", ["x1"])], {}, lambda m, x: F.hardswish(x), {}),
    "Gelu": ([N("Gelu", ["x1"])], {}, lambda m, x: F.gelu(x), {}, None, 20),
    "Softplus": ([N("Softplus", ["x1"])], {}, lambda m, x: F.softplus(x), {}),
    "Mish": ([N("Mish", ["x1"])], {}, lambda m, x: F.mish(x), {}, None, 18),
    "Clip": ([N("Clip", ["x1", "lo", "hi"])], {"lo": np.float32(0), "hi": np.float32(6)},
             lambda m, x: F.relu6(x), {}),
    "Erf+Sqrt+Exp": ([N("Erf", ["x1"], ["a"]), N("Exp", ["a"], ["b"]),
                      N("Sqrt", ["b"], ["y"])], {},
                     lambda m, x: torch.sqrt(torch.exp(torch.erf(x))), {}),
    "Add+Mul+Div+Pow": ([N("Add", ["x1", "x1"], ["a"]), N("Div", ["a", "two"], ["b"]),
                         N("Pow", ["b", "two"], ["y"])], {"two": np.float32(2)},
                        lambda m, x: ((x + x) / 2.0) ** 2, {}),
    "Softmax": ([N("Softmax", ["x1"], axis=-1)], {}, lambda m, x: F.softmax(x, -1), {}),
    "LogSoftmax": ([N("LogSoftmax", ["x1"], axis=1)], {}, lambda m, x: F.log_softmax(x, 1),
                   {}),
    "BatchNormalization": (
        [N("BatchNormalization", ["x1", "g", "b", "mean", "var"])],
        {"g": f32(4), "b": f32(4), "mean": f32(4), "var": np.ones(4, np.float32)},
        lambda m, x: F.batch_norm(x, m.mean, m.var, m.g, m.b, m.training),
        {"g": (4,), "b": (4,)}, {"mean": (4,), "var": (4,)}),
    "LayerNormalization": ([N("LayerNormalization", ["x1", "g", "b"], axis=-2)],
                           {"g": f32(8, 8), "b": f32(8, 8)},
                           lambda m, x: F.layer_norm(x, (8, 8), m.g, m.b),
                           {"g": (8, 8), "b": (8, 8)}),
    "InstanceNormalization": ([N("InstanceNormalization", ["x1", "g", "b"])],
                              {"g": f32(4), "b": f32(4)},
                              lambda m, x: F.instance_norm(x, weight=m.g, bias=m.b),
                              {"g": (4,), "b": (4,)}),
    "GroupNormalization": ([N("GroupNormalization", ["x1", "g", "b"], num_groups=2)],
                           {"g": f32(4), "b": f32(4)},
                           lambda m, x: F.group_norm(x, 2, m.g, m.b), {"g": (4,), "b": (4,)},
                           None, 21),
    "MaxPool": ([N("MaxPool", ["x1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
                {}, lambda m, x: F.max_pool2d(x, 3, 2, 1), {}),
    "AveragePool": ([N("AveragePool", ["x1"], kernel_shape=[2, 2], strides=[2, 2])], {},
                    lambda m, x: F.avg_pool2d(x, 2, 2), {}),
    "GlobalAveragePool": ([N("GlobalAveragePool", ["x1"])], {},
                          lambda m, x: F.adaptive_avg_pool2d(x, 1), {}),
    "GlobalMaxPool": ([N("GlobalMaxPool", ["x1"])], {},
                      lambda m, x: F.adaptive_max_pool2d(x, 1), {}),
    "Resize-nearest": ([N("Resize", ["x1", "", "scales"], mode="nearest",
                          coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
                       {"scales": np.asarray([1, 1, 2, 2], np.float32)},
                       lambda m, x: F.interpolate(x, scale_factor=2, mode="nearest"), {}),
    "Resize-linear": ([N("Resize", ["x1", "", "", "sizes"], mode="linear")],
                      {"sizes": ints(2, 4, 12, 16)},
                      lambda m, x: F.interpolate(x, size=(12, 16), mode="bilinear"), {}),
    "Pad": ([N("Pad", ["x1", "pads"], mode="reflect")], {"pads": ints(0, 0, 1, 2, 0, 0, 3, 1)},
            lambda m, x: F.pad(x, (2, 1, 1, 3), "reflect"), {}),
    "Concat+Split": ([N("Concat", ["x1", "x1"], ["c"], axis=1),
                      N("Split", ["c", "sp"], ["y", "z"], axis=1)], {"sp": ints(3, 5)},
                     lambda m, x: torch.split(torch.cat([x, x], 1), [3, 5], 1), {}),
    "Transpose+Reshape+Flatten": ([N("Transpose", ["x1"], ["a"], perm=[0, 2, 3, 1]),
                                   N("Reshape", ["a", "shape"], ["b"]),
                                   N("Flatten", ["b"], axis=1)], {"shape": ints(0, -1, 4)},
                                  lambda m, x: x.permute(0, 2, 3, 1).reshape(2, -1, 4)
                                  .flatten(1), {}),
    "Slice+Gather+Unsqueeze": ([N("Slice", ["x1", "st", "en", "ax"], ["a"]),
                                N("Gather", ["a", "zero"], ["b"], axis=1),
                                N("Unsqueeze", ["b", "one"], ["y"])],
                               {"st": ints(1), "en": ints(7), "ax": ints(3),
                                "zero": np.int64(0), "one": ints(1)},
                               lambda m, x: x[:, :, :, 1:7][:, 0].unsqueeze(1), {}),
    "ReduceMean+ReduceSum+ReduceMax": ([N("ReduceMean", ["x1", "ax"], ["a"]),
                                        N("ReduceSum", ["x1", "ax"], ["b"], keepdims=0),
                                        N("ReduceMax", ["x1", "ax"], ["y"])],
                                       {"ax": ints(2, 3)},
                                       lambda m, x: (x.mean((2, 3), keepdim=True),
                                                     x.sum((2, 3)), x.amax((2, 3), True)),
                                       {}, None, 18),
    "Dropout": ([N("Dropout", ["x1", "ratio"])], {"ratio": np.float32(0.3)},
                lambda m, x: F.dropout(x, 0.3, m.training), {}),
    "ScatterND+GatherND": ([N("ScatterND", ["x1", "idx", "u"], ["a"], reduction="add"),
                            N("GatherND", ["a", "idx"], ["y"])],
                           {"idx": np.asarray([[1, 2], [0, 3]], np.int64), "u": f32(2, 8, 8)},
                           lambda m, x: x.index_put((torch.tensor([1, 0]), torch.tensor([2, 3])),
                                                    m.u, accumulate=True)[[1, 0], [2, 3]],
                           {"u": (2, 8, 8)}, None, 18),
}
OUTPUTS = {"Concat+Split": ["y", "z"], "ReduceMean+ReduceSum+ReduceMax": ["a", "b", "y"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_same_as_pytorch(case: str, tmp_path: Any) -> None:
    nodes, inits, fn, params, *rest = CASES[case]
    buffers = rest[0] if rest else None
    opset = rest[1] if len(rest) > 1 else 17
    s = np.ones((1, 4, 1, 1), np.float32)
    m = make_model([N("Mul", ["x", "s"], ["x1"]), *nodes], [("x", FLOAT, X)],
                   OUTPUTS.get(case, ["y"]), {"s": s, **inits}, opset)
    path = save(m, tmp_path / "m.onnx")
    module = Fn(fn, {"s": (1, 4, 1, 1), **params}, buffers)
    for mode in ("train", "inference"):
        r = analyze_onnx(path, X, mode=mode)
        t = analyze(module, X, mode=mode)
        assert r.unsupported_ops == () and r.formula_errors == ()
        assert r.totals.forward == t.totals.forward, mode
        assert r.totals.backward == t.totals.backward, mode
        assert r.totals.params == t.totals.params
    # the mapping computes what ONNX means: the same output shapes as its reference
    outputs = OUTPUTS.get(case, ["y"])
    ref = reference_shapes(m, {"x": X})
    r = analyze_onnx(path, X, mode="inference")
    assert r.layers[-1].output_shape == ref[outputs.index("y")]


# --------------------------------------------------------------------------- convolutions


def conv_graph(op: str, w: tuple[int, ...], x: tuple[int, ...], **attrs: Any) -> Any:
    """x -> Add(x, p) -> conv: the Add makes the convolution's input need a gradient."""
    p = np.zeros((1, x[1]) + (1,) * (len(x) - 2), np.float32)
    return make_model([N("Add", ["x", "p"], ["x1"]),
                       helper.make_node(op, ["x1", "w", "b"], ["y"], name="conv", **attrs)],
                      [("x", FLOAT, x)], ["y"],
                      {"p": p, "w": f32(*w), "b": f32(w[1] * attrs.get("group", 1) if
                                                      op == "ConvTranspose" else w[0])})


# (x shape, weight shape, ONNX attributes, the calculator's arguments)
CONVS = [
    ((1, 4, 9, 9), (8, 2, 3, 3), dict(group=2, dilations=[2, 1], pads=[0, 1, 2, 1]),
     dict(groups=2, dilation=(2, 1), padding=[(0, 2), (1, 1)])),
    ((2, 3, 10, 7), (6, 3, 3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER"),
     dict(stride=2, padding=[(0, 1), (1, 1)])),
    ((2, 3, 10, 7), (6, 3, 3, 2), dict(strides=[2, 1], auto_pad="SAME_LOWER"),
     dict(stride=(2, 1), padding=[(1, 0), (1, 0)])),
    ((1, 6, 11), (6, 1, 4), dict(group=6, pads=[3, 0], strides=[3]),
     dict(groups=6, stride=3, padding=[(3, 0)])),
    ((1, 2, 5, 6, 7), (4, 2, 3, 3, 3), dict(pads=[1, 0, 2, 0, 1, 1]),
     dict(padding=[(1, 0), (0, 1), (2, 1)])),
    ((1, 4, 8, 8), (4, 4, 3, 3), dict(auto_pad="VALID"), dict(padding=0)),
]


@pytest.mark.parametrize("x,w,attrs,calc", CONVS)
@pytest.mark.parametrize("counting", ["dense", "skip-padding"])
def test_conv_matches_layer_calculator(x: tuple[int, ...], w: tuple[int, ...],
                                       attrs: dict[str, Any], calc: dict[str, Any],
                                       counting: str, tmp_path: Any) -> None:
    m = conv_graph("Conv", w, x, **attrs)
    r = analyze_onnx(save(m, tmp_path / "c.onnx"), x, counting=counting)
    g = attrs.get("group", 1)
    c = conv_cost(counting, in_channels=x[1], out_channels=w[0], input_size=x[2:],
                  kernel=w[2:], batch=x[0], **calc)
    row = r.layer("conv")
    assert row.output_shape == c.output_shape == inferred_shape(m)
    assert row.forward == c.forward
    assert row.backward == c.backward
    assert row.params == w[0] * w[1] * int(np.prod(w[2:])) + w[0]
    assert g == calc.get("groups", 1)


CONV_TRANSPOSES = [
    ((1, 4, 5, 5), (4, 3, 3, 3), dict(strides=[2, 2], pads=[0, 1, 1, 0], output_padding=[1, 1]),
     dict(stride=2, padding=[(0, 1), (1, 0)], output_padding=1)),
    ((1, 4, 5, 6), (4, 2, 4, 4), dict(strides=[2, 2], group=2, auto_pad="SAME_UPPER"),
     dict(stride=2, groups=2, padding=[(1, 1), (1, 1)])),
    ((2, 3, 4, 4), (3, 5, 3, 3), dict(strides=[2, 2], output_shape=[8, 9]),
     dict(stride=2, padding=[(1, 0), (0, 0)])),
    ((1, 2, 7), (2, 2, 3), dict(dilations=[2], pads=[2, 1]),
     dict(dilation=2, padding=[(2, 1)])),
]


@pytest.mark.parametrize("x,w,attrs,calc", CONV_TRANSPOSES)
@pytest.mark.parametrize("counting", ["dense", "skip-padding"])
def test_conv_transpose_matches_layer_calculator(x: tuple[int, ...], w: tuple[int, ...],
                                                 attrs: dict[str, Any], calc: dict[str, Any],
                                                 counting: str, tmp_path: Any) -> None:
    m = conv_graph("ConvTranspose", w, x, **attrs)
    r = analyze_onnx(save(m, tmp_path / "t.onnx"), x, counting=counting)
    g = attrs.get("group", 1)
    c = conv_cost(counting, in_channels=x[1], out_channels=w[1] * g, input_size=x[2:],
                  kernel=w[2:], batch=x[0], transposed=True, **calc)
    row = r.layer("conv")
    assert row.output_shape == c.output_shape == inferred_shape(m)
    assert row.forward == c.forward
    assert row.backward == c.backward


def test_conv_literal(tmp_path: Any) -> None:
    """1×1×5×5 input, one 3×3 filter, pads (top 0, left 0, bottom 1, right 1), bias:
    output 4×4 = 16 points × 9 taps = 144 products; 16·8 = 128 additions + 16 bias adds."""
    m = make_model([N("Conv", ["x", "w", "b"], pads=[0, 0, 1, 1])], [("x", FLOAT, (1, 1, 5, 5))],
                   ["y"], {"w": f32(1, 1, 3, 3), "b": f32(1)})
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), "1x1x5x5")
    assert r.totals.forward == Cost(mults=144, adds=144, macs=144)
    # skip-padding: the bottom row and right column of outputs each miss 3 taps, the corner
    # 5: 144 − 3·3 − 3·3 − ... = 16 points: 9 full (3×3 interior), 6 edge with 6 taps, 1 with 4
    s = analyze_onnx(save(m, tmp_path / "m.onnx"), "1x1x5x5", counting="skip-padding")
    assert s.totals.forward.mults == 9 * 9 + 6 * 6 + 4


# --------------------------------------------------------------------------- literals


def literal(tmp_path: Any, nodes: list[Any], x: tuple[int, ...], inits: dict[str, Any],
            opset: int = 17, mode: str = "inference") -> ModelResult:
    m = make_model(nodes, [("x", FLOAT, x)], ["y"], inits, opset)
    return analyze_onnx(save(m, tmp_path / "lit.onnx"), x, mode=mode)


def test_gemm_literal(tmp_path: Any) -> None:
    """A[2×3]ᵀ-free, B[4×3] with transB, C[4]: 2·4 outputs × 3 products = 24 mults;
    2 additions per output (3 products) + 1 bias addition = 24 adds."""
    r = literal(tmp_path, [N("Gemm", ["x", "w", "c"], transB=1)], (2, 3),
                {"w": f32(4, 3), "c": f32(4)})
    assert r.totals.forward == Cost(mults=24, adds=24, macs=24)
    assert r.totals.params == 12 + 4
    # transA: x is [3×2], used as its transpose
    r = literal(tmp_path, [N("Gemm", ["x", "w"], transA=1)], (3, 2), {"w": f32(3, 4)})
    assert r.totals.forward == Cost(mults=24, adds=16, macs=24)


def test_matmul_literal(tmp_path: Any) -> None:
    """[2×3×4]·[4×5]: 2·3·5 = 30 outputs × 4 products; 3 additions each."""
    r = literal(tmp_path, [N("MatMul", ["x", "w"])], (2, 3, 4), {"w": f32(4, 5)})
    assert r.totals.forward == Cost(mults=120, adds=90, macs=120)


def test_pool_literals(tmp_path: Any) -> None:
    """1×2×4×4, 2×2 windows, stride 2: 2 planes × 4 outputs. Max: 3 comparisons each
    (24 other). Average: 3 additions and 1 division each (24 adds, 8 other)."""
    r = literal(tmp_path, [N("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2])],
                (1, 2, 4, 4), {})
    assert r.totals.forward == Cost(other=24)
    r = literal(tmp_path, [N("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2])],
                (1, 2, 4, 4), {})
    assert r.totals.forward == Cost(adds=24, other=8)
    r = literal(tmp_path, [N("GlobalAveragePool", ["x"])], (1, 2, 4, 4), {})
    assert r.totals.forward.adds == 2 * 15


def test_norm_literals(tmp_path: Any) -> None:
    """BatchNormalization in inference on 1×2×3×3 (n = 18, C = 2): (x − μ)·rstd·γ + β is
    2n mults and 2n adds, rstd from the running variance C adds + C other.
    LayerNormalization over the last 4 of [2×4] (R = 2 rows, n = 8): mean n − R adds + R
    other; variance n adds, n mults, n − R adds, R other; rstd R adds, R other; normalise
    2n mults, 2n adds: 24 mults, 38 adds, 6 other."""
    bn = [N("BatchNormalization", ["x", "g", "b", "m", "v"])]
    r = literal(tmp_path, bn, (1, 2, 3, 3), {"g": f32(2), "b": f32(2), "m": f32(2),
                                             "v": np.ones(2, np.float32)})
    assert r.totals.forward == Cost(mults=36, adds=38, other=2)
    assert r.totals.params == 4 and r.memory.buffers_bytes == 16  # running mean/var: buffers
    ln = [N("LayerNormalization", ["x", "g", "b"])]
    r = literal(tmp_path, ln, (2, 4), {"g": f32(4), "b": f32(4)}, mode="train")
    assert r.totals.forward == Cost(mults=24, adds=38, other=6)


# --------------------------------------------------------------------------- opsets


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_axes_as_attribute_or_input(opset: int, tmp_path: Any) -> None:
    """Squeeze/Unsqueeze/Split/ReduceMean take axes as attributes before opset 13 (18 for
    ReduceMean), as inputs after; Softmax before 13 flattens from its axis."""
    inits: dict[str, Any] = {}

    def axes(op: str, since: int, ins: list[str], out: list[str], key: str, v: list[int],
             **kw: Any) -> Any:
        if opset >= since:
            inits[f"{key}_{op}"] = ints(*v)
            return N(op, [*ins, f"{key}_{op}"], out, **kw)
        return N(op, ins, out, **{key: v}, **kw)

    nodes = [axes("Unsqueeze", 13, ["x"], ["a"], "axes", [0]),
             axes("Squeeze", 13, ["a"], ["b"], "axes", [0]),
             axes("Split", 13, ["b"], ["c", "d"], "split", [1, 3], axis=1),
             axes("ReduceMean", 18, ["d"], ["e"], "axes", [2]),
             N("Softmax", ["e"], ["y"], axis=1)]
    m = make_model(nodes, [("x", FLOAT, (2, 4, 6, 5))], ["y"], inits, opset)
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), (2, 4, 6, 5), mode="inference")
    assert r.layer("softmax").output_shape == reference_shapes(m, {"x": (2, 4, 6, 5)})[0]
    assert r.unsupported_ops == ()


def test_shape_subgraph_with_symbolic_batch(tmp_path: Any) -> None:
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape runs on concrete integers: no row,
    no cost; the batch comes from --input."""
    nodes = [N("Shape", ["x"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0),
             N("Unsqueeze", ["n", "ax"], ["n1"]), N("Concat", ["n1", "minus1"], ["shape"], axis=0),
             N("Reshape", ["x", "shape"], ["f"]), N("Gemm", ["f", "w"], transB=1)]
    m = make_model(nodes, [("x", FLOAT, ("batch", 3, 4, 4))], ["y"],
                   {"zero": np.int64(0), "ax": ints(0), "minus1": ints(-1), "w": f32(10, 48)})
    path = save(m, tmp_path / "m.onnx")
    r = analyze_onnx(path, "x=5x3x4x4")
    assert r.inputs[0][0] == "x" and r.inputs[0][1].shape == (5, 3, 4, 4)
    assert r.totals.forward == Cost(mults=5 * 10 * 48, adds=5 * 10 * 47, macs=5 * 10 * 48)
    assert {row.type for row in r.layers} == {"OnnxModule", "Reshape", "Gemm"}
    assert r.layer("reshape").output_shape == (5, 48)


def test_unsupported_op_listed_and_gradient_flows(tmp_path: Any) -> None:
    """LpPool has no mapping: it runs as a placeholder listed in unsupported_ops (its
    output shape from ONNX shape inference); the convolution before it still gets its
    backward."""
    m = make_model([N("Add", ["x", "p"], ["x1"]), N("Conv", ["x1", "w"], ["c"]),
                    N("LpPool", ["c"], ["y"], kernel_shape=[2, 2])],
                   [("x", FLOAT, (1, 3, 8, 8))], ["y"], {"p": f32(1, 3, 1, 1),
                                                         "w": f32(4, 3, 3, 3)})
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), (1, 3, 8, 8))
    assert dict(r.unsupported_ops) == {"onnx_op::LpPool.default": 1}
    assert r.layer("lppool").output_shape == (1, 4, 5, 5)
    assert r.layer("conv").backward.grad_weight.macs == 4 * 27 * 36
    assert r.layer("conv").backward.grad_input.macs == 4 * 27 * 36


def test_unknown_domain_op_without_shapes_is_an_error(tmp_path: Any) -> None:
    node = helper.make_node("Mystery", ["x"], ["y"], name="magic", domain="com.example")
    m = make_model([node], [("x", FLOAT, (1, 3))], ["y"], domains=["com.example"])
    path = save(m, tmp_path / "m.onnx")
    with pytest.raises(ConvCostError, match=r"'magic' \(Mystery\).*output shapes"):
        analyze_onnx(path, (1, 3))


def test_freeze_matches_initializer_names(onnx_file: OnnxFile,
                                          torchvision_analysis: TorchvisionAnalysis) -> None:
    r = analyze_onnx(onnx_file("resnet18", 64), (1, 3, 64, 64),
                     freeze=r"^(conv1|bn1|layer1)\.")
    t = torchvision_analysis("resnet18", (1, 3, 64, 64), freeze=r"^(conv1|bn1|layer1)\.")
    assert r.totals.trainable_params == t.totals.trainable_params
    assert r.totals.backward == t.totals.backward
    assert r.freeze == r"^(conv1|bn1|layer1)\."


# --------------------------------------------------------------------------- bad files


@pytest.fixture
def small(tmp_path: Any) -> str:
    m = make_model([N("Conv", ["x", "w"])], [("x", FLOAT, ("N", 3, 8, 8))], ["y"],
                   {"w": f32(4, 3, 3, 3)})
    return save(m, tmp_path / "small.onnx")


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(["model", *args], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_missing_file(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    err = cli_error([str(tmp_path / "nope.onnx"), "--input", "1x3x8x8"], capsys)
    assert "nope.onnx" in err and "file not found" in err


def test_truncated_file(small: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    data = open(small, "rb").read()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(data[: len(data) // 2])
    err = cli_error([str(bad), "--input", "1x3x8x8"], capsys)
    assert "cut.onnx" in err and "not" in err and "ONNX model" in err


def test_random_bytes(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "noise.onnx"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    err = cli_error([str(bad), "--input", "1x3x8x8"], capsys)
    assert "noise.onnx" in err and "ONNX model" in err


def test_not_onnx(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "readme.onnx"
    bad.write_text("# not a model\n")
    err = cli_error([str(bad), "--input", "1x3x8x8"], capsys)
    assert "readme.onnx" in err and "ONNX model" in err


@pytest.mark.parametrize("version,problem", [(5, "opset 5; convcost reads opsets 7"),
                                             (99, "opset 99, newer than")])
def test_wrong_opset(version: int, problem: str, tmp_path: Any,
                     capsys: pytest.CaptureFixture[str]) -> None:
    m = make_model([N("Relu", ["x"])], [("x", FLOAT, (1, 3))], ["y"])
    m.opset_import[0].version = version
    path = save(m, tmp_path / "op.onnx")
    err = cli_error([path, "--input", "1x3"], capsys)
    assert problem in err


def test_missing_external_data(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    m = make_model([N("Conv", ["x", "w"])], [("x", FLOAT, (1, 3, 8, 8))], ["y"],
                   {"w": f32(64, 3, 3, 3)})
    path = str(tmp_path / "ext.onnx")
    onnx.save_model(m, path, save_as_external_data=True, location="ext.data",
                    size_threshold=0)
    assert analyze_onnx(path).totals.forward.macs == 64 * 27 * 36  # reads fine with its data
    os.remove(tmp_path / "ext.data")
    err = cli_error([path, "--input", "1x3x8x8"], capsys)
    assert "ext.data" in err and "not found" in err


def test_input_errors(small: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = cli_error([small, "--input", "1x3x8x8:int64"], capsys)
    assert "--input" in err
    err = cli_error([small, "--input", "image=1x3x8x8"], capsys)
    assert "no input called 'image'" in err and "inputs are x" in err
    err = cli_error([small, "--input", "x=1x3x8"], capsys)
    assert "rank 4" in err
    with pytest.raises(SpecError, match=r"dimension 0 of input 'x'.*symbolic \('N'\)"):
        load_onnx(small)


def test_cli_json_and_symbolic_batch(small: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", small, "--input", "x=4x3x8x8", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["inputs"] == [{"name": "x", "shape": [4, 3, 8, 8], "dtype": "float32"}]
    assert d["totals"]["forward"]["macs"] == 4 * 4 * 27 * 36
    assert d["unsupported_ops"] == {}
    assert d["totals"]["trainable_params"] == 4 * 27
    # --freeze matches initializer names ("w" here; freezing it alone leaves nothing to
    # differentiate without --input-grad, test_robust_cli.py)
    code, out, _ = run(["model", small, "--input", "x=4x3x8x8", "--json", "--freeze", "^w$",
                        "--input-grad"], capsys)
    d = json.loads(out)
    assert code == 0 and d["freeze"] == "^w$" and d["totals"]["trainable_params"] == 0
    # an unnamed shape fills the (only) input; CSV and Markdown work as for PyTorch models
    code, out, _ = run(["model", small, "--input", "2x3x8x8", "--format", "csv"], capsys)
    assert code == 0 and "Conv" in out
    conv = next(r for r in csv.DictReader(io.StringIO(out)) if r["name"] == "conv")
    assert (conv["type"], conv["output_shape"], conv["forward_macs"]) == \
        ("Conv", "2x4x6x6", str(2 * 4 * 27 * 36))
    code, out, _ = run(["model", small, "--input", "2x3x8x8", "--format", "markdown"], capsys)
    assert code == 0 and "Conv" in out
    assert "\n| conv | Conv | 2×4×6×6 | 108 | " in out  # 4·3·3·3 parameters


def test_shared_symbolic_dimension(tmp_path: Any) -> None:
    """A symbolic dimension set for one input sets it for every input that names it."""
    m = make_model([N("Add", ["a", "b"])], [("a", FLOAT, ("B", 5)), ("b", FLOAT, ("B", 5))],
                   ["y"])
    module, specs = load_onnx(save(m, tmp_path / "m.onnx"), {"a": "3x5"})
    assert [s.shape for s in specs] == [(3, 5), (3, 5)]
    assert module.input_names == ["a", "b"]


def test_old_opset_attributes(tmp_path: Any) -> None:
    """Opset 9: Upsample with a scales input, Slice/Pad/Clip with attributes, Dropout with
    a ratio attribute, Softmax coercing to 2-D from its axis; opset 7: Upsample's scales
    attribute."""
    nodes = [N("Upsample", ["x", "scales"], ["a"], mode="nearest"),
             N("Slice", ["a"], ["b"], starts=[1], ends=[-1], axes=[3]),
             N("Pad", ["b"], ["c"], pads=[0, 0, 1, 0, 0, 0, 0, 2]),
             N("Clip", ["c"], ["d"], min=0.0, max=6.0),
             N("Dropout", ["d"], ["e"], ratio=0.2),
             N("Softmax", ["e"], ["y"], axis=1)]
    x = (1, 2, 3, 4)
    m = make_model(nodes, [("x", FLOAT, x)], ["y"],
                   {"scales": np.asarray([1, 1, 2, 2], np.float32)}, opset=9)
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), x)
    assert r.unsupported_ops == ()
    assert r.layer("upsample").output_shape == (1, 2, 6, 8)
    assert r.layer("pad").output_shape == (1, 2, 7, 8)
    assert r.layer("softmax").output_shape == inferred_shape(m) == (1, 2, 7, 8)
    assert r.layer("dropout").forward.mults > 0  # active in a training analysis
    m7 = make_model([N("Upsample", ["x"], scales=[1.0, 1.0, 2.0, 3.0])], [("x", FLOAT, x)],
                    ["y"], opset=7)
    r = analyze_onnx(save(m7, tmp_path / "m7.onnx"), x)
    assert r.layer("upsample").output_shape == (1, 2, 6, 12)


@pytest.mark.parametrize("opset", [10, 11, 13, 19])
def test_resize_inputs_by_opset(opset: int, tmp_path: Any) -> None:
    """Resize: (X, scales) in opset 10, (X, roi, scales[, sizes]) from 11."""
    scales = np.asarray([1, 1, 1.5, 2], np.float32)
    ins = ["x", "scales"] if opset == 10 else ["x", "roi" if opset == 11 else "", "scales"]
    m = make_model([N("Resize", ins, mode="linear")], [("x", FLOAT, (1, 2, 4, 4))], ["y"],
                   {"scales": scales, "roi": np.zeros(0, np.float32)}, opset=opset)
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), (1, 2, 4, 4), mode="inference")
    assert r.layer("resize").output_shape == inferred_shape(m) == (1, 2, 6, 8)
    assert r.totals.forward.flops > 0


def test_asymmetric_pool_literal(tmp_path: Any) -> None:
    """MaxPool 2×2, stride 2, SAME_UPPER on 5×5: output 3×3, padding (0, 1) per dimension,
    applied explicitly; 9 windows × 3 comparisons (dense: the padded −∞ counts)."""
    m = make_model([N("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2],
                      auto_pad="SAME_UPPER")], [("x", FLOAT, (1, 1, 5, 5))], ["y"])
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), (1, 1, 5, 5), mode="inference")
    assert r.layer("maxpool").output_shape == inferred_shape(m) == (1, 1, 3, 3)
    assert r.layer("maxpool").forward == Cost(other=27)


def test_graph_without_inputs_and_positional_inputs(tmp_path: Any) -> None:
    m = make_model([N("Add", ["a", "b"])], [("a", FLOAT, (2, 3)), ("b", FLOAT, ("n", 3))],
                   ["y"])
    path = save(m, tmp_path / "m.onnx")
    _, specs = load_onnx(path, ["2x3", "2x3"])  # unnamed shapes fill the inputs in order
    assert [s.shape for s in specs] == [(2, 3), (2, 3)]
    _, specs = load_onnx(path, ["b=2x3"])  # a static input needs no --input
    assert [s.shape for s in specs] == [(2, 3), (2, 3)]
    with pytest.raises(SpecError, match="more shapes than graph inputs"):
        load_onnx(path, ["2x3", "2x3", "2x3"])


def test_constant_node_without_mapping_uses_onnx_reference(tmp_path: Any) -> None:
    """Hardmax has no torch mapping; on constant inputs it is evaluated by ONNX's reference
    implementation (no row, no cost), and its result is used like any constant."""
    c = helper.make_node("Constant", [], ["c"], name="const",
                         value=numpy_helper.from_array(f32(1, 3)))
    m = make_model([c, N("Hardmax", ["c"], ["h"]), N("Mul", ["x", "h"], ["y"])],
                   [("x", FLOAT, (2, 3))], ["y"])
    r = analyze_onnx(save(m, tmp_path / "m.onnx"), (2, 3), mode="inference")
    assert r.unsupported_ops == ()
    assert [row.type for row in r.layers] == ["OnnxModule", "Mul"]
    assert r.totals.forward == Cost(mults=6)


def test_node_names_become_modules(tmp_path: Any) -> None:
    """Names that are attributes of nn.Module (``training``, ``forward``) or repeat get a
    suffix; unnamed nodes are node_<index>_<OpType>; load_target reads a static graph."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/training/Relu"),
             helper.make_node("Relu", ["a"], ["b"], name="/training/Relu"),
             helper.make_node("Relu", ["b"], ["c"], name="forward"),
             helper.make_node("Relu", ["c"], ["y"])]
    m = make_model(nodes, [("x", FLOAT, (1, 3))], ["y"])
    path = save(m, tmp_path / "m.onnx")
    from convcost.frontends.targets import is_onnx_target, load_target

    assert is_onnx_target(path) and not is_onnx_target("torchvision:resnet18")
    module = load_target(path)
    names = [n for n, _ in module.named_modules()][1:]
    assert names == ["training_1", "training_1.Relu", "training_1.Relu_1", "forward_1",
                     "node_3_Relu"]
    assert analyze(module, (1, 3)).totals.forward.other == 4 * 3


def test_checkpoint_on_an_onnx_graph_is_refused(tmp_path: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 27: ``--checkpoint`` on ONNX scopes did nothing, or (on single nodes) added
    saved inputs. Nothing calls an ONNX scope, so there is nothing to recompute: refused,
    in the API and the CLI, naming the option."""
    m = make_model([helper.make_node("Relu", ["x"], ["h"], name="/block/relu"),
                    helper.make_node("Relu", ["h"], ["y"], name="/block/relu2")],
                   [("x", FLOAT, (2, 3))], ["y"])
    path = save(m, tmp_path / "scoped.onnx")
    with pytest.raises(SpecError, match=r"^checkpoint: got 'block'; has no effect on an ONNX"):
        analyze_onnx(path, (2, 3), mode="train", checkpoint="block")
    code, _, err = run(["model", path, "--checkpoint", "block"], capsys)
    assert code == 2 and err.startswith("convcost model: error: --checkpoint: got 'block'")
