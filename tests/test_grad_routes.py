"""∂weight through a weight that is scaled, broadcast or gathered before its product (issue
27, item 4): the product that makes the gradient of a tensor computed from a parameter alone
computes the parameter's gradient, so its MACs are ∂weight, not ∂input.

Expected values by hand (a matrix product of an M×K by a K×N matrix: M·N·K MACs; for
y = x·Wᵀ, ∂x = g·W and ∂W = gᵀ·x each cost the forward's MACs). The model input never
requires grad unless ``input_grad`` is set, so then ∂input is 0.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = importlib.import_module("torch")

from torch import Tensor, nn  # noqa: E402

from convcost import analyze  # noqa: E402


class Scaled(nn.Module):
    """x (7×6) @ (2·A)ᵀ, A 5×6: 7·5·6 = 210 MACs."""

    def __init__(self) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.randn(5, 6))

    def forward(self, x: Tensor) -> Tensor:
        return x @ (2 * self.A).t()


class Broadcast(nn.Module):
    """x (2×3×4×6) @ M (3×6×5), M broadcast over the leading 2: 2·3·4·5·6 = 720 MACs."""

    def __init__(self) -> None:
        super().__init__()
        self.M = nn.Parameter(torch.randn(3, 6, 5))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.M


class Gathered(nn.Module):
    """Two of four 6×5 matrices picked from one 3-D parameter, bmm with x (2×4×6):
    2·4·5·6 = 240 MACs (as MoE experts held in one parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(4, 6, 5))

    def forward(self, x: Tensor) -> Tensor:
        idx = torch.tensor([1, 3], device=x.device)
        return torch.bmm(x, self.W[idx])


@pytest.mark.parametrize(("model", "shape", "macs"), [
    (Scaled, (7, 6), 210), (Broadcast, (2, 3, 4, 6), 720), (Gathered, (2, 4, 6), 240)])
def test_weight_gradient_through_a_router(model: Any, shape: tuple[int, ...],
                                          macs: int) -> None:
    r = analyze(model(), inputs=[shape], mode="train")
    assert r.totals.forward.macs == macs
    b = r.totals.backward
    assert (b.grad_input.macs, b.grad_weight.macs) == (0, macs)


def test_scaled_weight_with_input_gradient() -> None:
    """With the input's gradient asked for, ∂x = g·(2A) is ∂input (210) and ∂A 210."""
    r = analyze(Scaled(), inputs=[(7, 6)], mode="train", input_grad=True)
    b = r.totals.backward
    assert (b.grad_input.macs, b.grad_weight.macs) == (210, 210)


def test_a_relu_before_the_first_layer_stays_grad_input() -> None:
    """The gradient of an activation stays ∂input even when only a weight's gradient reads
    it: ReLU's backward reads its saved output, so it routes nothing."""
    m = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    r = analyze(m, inputs=[(4, 6)], mode="train")
    b = r.totals.backward
    # ∂W of both linears: 4·5·6 + 4·3·5 = 180; ∂input: the second linear's ∂x, 4·5·3 = 60
    assert (b.grad_input.macs, b.grad_weight.macs) == (60, 180)


def test_mixtral_expert_weight_gradient() -> None:
    """transformers keeps Mixtral's experts as one 3-D parameter per projection, gathered
    per expert: each expert's ∂weight and ∂input equal its forward MACs."""
    from convcost.frontends.targets import build_target

    args = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256,
            "num_local_experts": 4}
    model = build_target("hf:MixtralForCausalLM", args).model
    r = analyze(model, inputs=[((2, 16), "int64")], mode="train")
    row = r.layer("model.layers.0.mlp.experts")
    # 32 tokens × top-2 experts, each expert: gate_up 64→256 and down 128→64 per token:
    # 64 assignments × (64·256 + 128·64) = 64 × 24,576 = 1,572,864
    assert row.forward.macs == 64 * (64 * 256 + 128 * 64) == 1_572_864
    assert row.backward.grad_weight.macs == row.forward.macs
    assert row.backward.grad_input.macs == row.forward.macs


def test_onnx_gemm_with_alpha(tmp_path: Path) -> None:
    """ONNX Gemm with alpha = 2: Y = 2·X·Wᵀ, X 2×3, W 4×3: 24 MACs forward, ∂W 24."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from convcost.model.onnx import analyze_onnx

    w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, alpha=2.0)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "gemm.onnx"
    onnx.save(model, str(path))
    r = analyze_onnx(str(path), (2, 3), mode="train")
    assert r.totals.forward.macs == 24
    b = r.totals.backward
    assert (b.grad_input.macs, b.grad_weight.macs) == (0, 24)


def test_onnx_tied_embedding_stays_grad_input(tmp_path: Path) -> None:
    """An ONNX Gather of rows from a 2-D table (an embedding) tied to the output layer, as
    ``test_grad_split.test_tied_embedding_and_output_layer`` in PyTorch: ids 2×5, W 10×4,
    logits = W[ids] @ Wᵀ. ∂W[ids] = g·W is ∂input (40 outputs × 10 products = 400 MACs),
    the output layer's gᵀ·W[ids] ∂weight (400 MACs)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from convcost.model.onnx import analyze_onnx

    w = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["w", "ids"], ["h"]),
         helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
         helper.make_node("MatMul", ["h", "wt"], ["y"])], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 10])],
        initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "tied.onnx"
    onnx.save(model, str(path))
    r = analyze_onnx(str(path), "2x5:int64", mode="train")
    assert r.totals.forward.macs == 400
    b = r.totals.backward
    assert (b.grad_input.macs, b.grad_weight.macs) == (400, 400)


class ShiftThenProject(nn.Module):
    """(x + p) @ Wᵀ, p (6,) broadcast over the batch, W 5×6, x 4×6: 4·5·6 = 120 MACs. The
    sum that gives p its gradient routes ∂(x + p) = g·W into it, but x + p is an activation:
    that product (it reads W) is ∂input, 120 MACs; ∂W = gᵀ·(x + p) is ∂weight, 120."""

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.randn(6))
        self.W = nn.Parameter(torch.randn(5, 6))

    def forward(self, x: Tensor) -> Tensor:
        return (x + self.p) @ self.W.t()


def test_a_broadcast_shift_before_a_product_keeps_its_gradient_grad_input() -> None:
    r = analyze(ShiftThenProject(), inputs=[(4, 6)], mode="train")
    b = r.totals.backward
    assert r.totals.forward.macs == 120
    assert (b.grad_input.macs, b.grad_weight.macs) == (120, 120)
