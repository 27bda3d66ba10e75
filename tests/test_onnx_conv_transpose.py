"""ConvTranspose with an ``output_shape`` above its natural size (the ONNX spec's negative
implicit padding): counted as onnxruntime runs it.

onnxruntime (1.32, CPU) pads nothing then and extends the output at the end: the natural
result sits at the beginning and the extra elements get only the bias; it refuses more than
``stride - 1`` elements past the natural size without output padding. The references here
are independent of convcost's formulas: an impulse response worked out by hand, a loop over
every multiply-add of the layer (brute force), and onnxruntime itself when it is installed.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from cli_run import run
from convcost.cost import Cost
from convcost.frontends.onnx.lowering import lowering_table
from convcost.frontends.onnx.node import OnnxNodeError, OnnxOp
from convcost.model.onnx import analyze_onnx


def graph(x: tuple[int, ...], w: np.ndarray, b: np.ndarray | None, **attrs: Any) -> Any:
    """x -> Add(x, 0) -> ConvTranspose (the Add makes the conv's input need a gradient)."""
    nd = len(x) - 2
    zero = np.zeros((1, x[1]) + (1,) * nd, np.float32)
    inits = [numpy_helper.from_array(zero, "p"), numpy_helper.from_array(w, "w")]
    ins = ["x1", "w"]
    if b is not None:
        inits.append(numpy_helper.from_array(b, "b"))
        ins.append("b")
    nodes = [helper.make_node("Add", ["x", "p"], ["x1"], name="add"),
             helper.make_node("ConvTranspose", ins, ["y"], name="conv", **attrs)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     list(x))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                         [f"d{i}" for i in range(len(x))])],
                          initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def lowered(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, **attrs: Any) -> np.ndarray:
    """What convcost's ConvTranspose lowering computes on real tensors."""
    op = OnnxOp(0, "ConvTranspose", "", "conv", ("x", "w", "b"), ("y",), attrs, 17)
    xs = [torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b)]
    impl = lowering_table().get("ConvTranspose")
    assert impl is not None
    out: torch.Tensor = impl(op, xs, False)
    return out.detach().numpy()


def test_impulse_response_by_hand() -> None:
    """Length 3, kernel 3 of ones, stride 2: natural length 7. An impulse at input 0 covers
    outputs 0..2; output_shape 8 adds one element at the end with the bias alone."""
    x = np.zeros((1, 1, 3), np.float32)
    x[0, 0, 0] = 1
    w = np.ones((1, 1, 3), np.float32)
    b = np.array([10], np.float32)
    y = lowered(x, w, b, strides=[2], output_shape=[8])
    assert y[0, 0].tolist() == [11, 11, 11, 10, 10, 10, 10, 10]
    # below the natural size (total padding 3, NOTSET: the larger half first) it crops
    assert lowered(x, w, b, strides=[2], output_shape=[4])[0, 0].tolist() == [11, 10, 10, 10]
    # SAME_UPPER with a target (3·2 = 6) below natural: the smaller half first
    assert lowered(x, w, b, strides=[2], auto_pad="SAME_UPPER")[0, 0].tolist() == \
        [11, 11, 11, 10, 10, 10]


# (input shape, weight shape, attributes): above, below and at the natural size, SAME with a
# negative total (clamped, as onnxruntime does), output padding, dilation, groups, 1-D
ORT_CASES = [
    ((1, 2, 3, 3), (2, 3, 3, 2), dict(strides=[2, 3], output_shape=[8, 7])),
    ((1, 2, 3, 4), (2, 3, 3, 3), dict(strides=[3, 2], output_shape=[11, 9])),
    ((2, 4, 3, 3), (4, 1, 2, 2), dict(strides=[3, 3], group=4, output_shape=[9, 6])),
    ((1, 1, 3), (1, 2, 3), dict(strides=[3], output_padding=[1], output_shape=[11])),
    ((1, 1, 4), (1, 1, 3), dict(strides=[2], dilations=[2], output_shape=[12])),
    ((1, 2, 3, 3), (2, 2, 1, 1), dict(strides=[2, 3], auto_pad="SAME_UPPER")),
    ((1, 2, 3, 3), (2, 2, 3, 3), dict(strides=[2, 2], auto_pad="SAME_LOWER",
                                      output_shape=[8, 5])),
]


@pytest.mark.parametrize("xs,ws,attrs", ORT_CASES)
def test_lowering_equals_onnxruntime(xs: tuple[int, ...], ws: tuple[int, ...],
                                     attrs: dict[str, Any]) -> None:
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[1] * attrs.get("group", 1)).astype(np.float32)
    sess = ort.InferenceSession(graph(xs, w, b, **attrs).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {"x": x})
    got = lowered(x, w, b, **attrs)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def brute_force(n: int, ci: int, co: int, size: tuple[int, ...], k: tuple[int, ...],
                s: tuple[int, ...], begin: tuple[int, ...], out: tuple[int, ...],
                counting: str) -> dict[str, Cost]:
    """Every multiply-add of a transposed convolution (groups 1, dilation 1), by loops:
    input element (b, i, p) times weight (i, o, q) lands on output (b, o, p·s + q - begin);
    ``dense`` counts every product (the GEMM), ``skip-padding`` those landing inside the
    output. Additions: products minus destinations that receive one, plus a bias add per
    output element that receives a product; grad-bias sums every output element."""
    prods = []
    for b, i, o in itertools.product(range(n), range(ci), range(co)):
        for p in itertools.product(*(range(v) for v in size)):
            for q in itertools.product(*(range(v) for v in k)):
                y = tuple(pp * ss + qq - bb for pp, ss, qq, bb in zip(p, s, q, begin))
                inside = all(0 <= v < m for v, m in zip(y, out))
                if counting == "dense" or inside:
                    prods.append(((b, o, y), inside, (b, i, p), (i, o, q)))
    macs = n * ci * co * int(np.prod(size)) * int(np.prod(k))
    total = len(prods)
    dest = {d for d, *_ in prods}
    inside_dest = {d for d, inside, *_ in prods if inside}
    fwd = Cost(total, total - len(dest) + len(inside_dest), macs)
    gi = Cost(total, total - len({x for *_, x, _ in prods}), macs)
    gw = Cost(total, total - len({w for *_, w in prods}), macs)
    gb = Cost(0, n * co * int(np.prod(out)) - co)
    return {"forward": fwd, "grad_input": gi, "grad_weight": gw, "grad_bias": gb}


@pytest.mark.parametrize("counting", ["dense", "skip-padding"])
def test_counts_equal_brute_force(counting: str, tmp_path: Path) -> None:
    """2×3 channels, input 3×3, kernel 3×2, stride 2×3: natural 7×8. output_shape 8×6
    extends the height by one (negative total padding) and crops the width by two (one at
    each end)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    m = graph((1, 2, 3, 3), w, np.zeros(3, np.float32), strides=[2, 3], output_shape=[8, 6])
    path = str(tmp_path / "t.onnx")
    onnx.save(m, path)
    row = analyze_onnx(path, counting=counting).layer("conv")
    ref = brute_force(1, 2, 3, (3, 3), (3, 2), (2, 3), (0, 1), (8, 6), counting)
    assert row.output_shape == (1, 3, 8, 6)
    assert row.forward == ref["forward"]
    assert row.backward.grad_input == ref["grad_input"]
    assert row.backward.grad_weight == ref["grad_weight"]
    assert row.backward.grad_bias == ref["grad_bias"]


def test_above_what_onnxruntime_accepts_is_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Natural length 7 (stride 2): onnxruntime runs 8, refuses 9 (that is the output of a
    longer input); so does convcost, naming the node and the bound."""
    w = np.ones((1, 1, 3), np.float32)
    path = str(tmp_path / "far.onnx")
    onnx.save(graph((1, 1, 3), w, None, strides=[2], output_shape=[9]), path)
    code, out, err = run(["model", path], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert "output_shape [9]" in err and "above 8" in err and "'conv'" in err
    with pytest.raises(OnnxNodeError):
        lowered(np.zeros((1, 1, 3), np.float32), w, None, strides=[2], output_shape=[9])


@pytest.mark.parametrize("shape", [[8, 8], [0], [1, 1, 8, 8]])
def test_output_shape_of_the_wrong_length_or_size(shape: list[int]) -> None:
    """1-D layer: one spatial size, or three with batch and channels; each at least 1."""
    x = np.zeros((1, 1, 3), np.float32)
    w = np.ones((1, 1, 3), np.float32)
    with pytest.raises(OnnxNodeError, match=r"output_shape .*give 1 spatial sizes"):
        lowered(x, w, None, strides=[2], output_shape=shape)
    assert lowered(x, w, None, strides=[2], output_shape=[1, 1, 8]).shape == (1, 1, 8)
