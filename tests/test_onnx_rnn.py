"""ONNX ``LSTM`` and ``GRU`` (issue 27 item 8): lowered into per-step torch ops.

References independent of convcost: ONNX's own reference implementation
(``onnx.reference.ReferenceEvaluator``) for the numbers the lowering computes, a hand count
of the gate products, and PyTorch's ``nn.LSTM``/``nn.GRU`` exported with ``torch.onnx.export``
and analysed directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn

from cli_run import run
from convcost import analyze
from convcost.frontends.onnx.lowering import lowering_table
from convcost.frontends.onnx.node import OnnxNodeError, OnnxOp
from convcost.model.onnx import analyze_onnx

T, B, I, H = 5, 2, 3, 4  # noqa: E741 - the usual letters


def rnn_arrays(op: str, dirs: int, peep: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Random W, R, B, initial_h (initial_c, P for LSTM) for ``dirs`` directions."""
    rng = np.random.default_rng(seed)
    g = (4 if op == "LSTM" else 3) * H

    def rnd(*s: int) -> np.ndarray:
        return rng.standard_normal(s).astype(np.float32) * 0.5

    out = {"W": rnd(dirs, g, I), "R": rnd(dirs, g, H), "B": rnd(dirs, 2 * g),
           "h0": rnd(dirs, B, H)}
    if op == "LSTM":
        out["c0"] = rnd(dirs, B, H)
        if peep:
            out["P"] = rnd(dirs, 3 * H)
    return out


def rnn_model(op: str, arrays: dict[str, np.ndarray], x_shape: tuple[int, ...],
              layout: int, seq: np.ndarray | None = None, add: bool = True,
              **attrs: Any) -> Any:
    """x -> Add(x, 0) (unless not ``add``) -> op(x1, W, R, B, [seq], [h0][, [c0], [P]]) -> y,
    yh[, yc]; the initial states (when in ``arrays``) are initializers in the layout's
    order."""
    arr = dict(arrays)
    if layout == 1:
        for k in ("h0", "c0"):
            if k in arr:
                arr[k] = np.ascontiguousarray(arr[k].transpose(1, 0, 2))
    names = ["x1" if add else "x", "W", "R", "B", "seq" if seq is not None else "",
             "h0" if "h0" in arr else ""]
    outs = ["y", "yh"]
    if op == "LSTM":
        names += ["c0" if "c0" in arr else "", "P" if "P" in arr else ""]
        outs.append("yc")
    inits = [numpy_helper.from_array(v, k) for k, v in arr.items()]
    inits.append(numpy_helper.from_array(np.zeros((1,), np.float32), "zero"))
    if seq is not None:
        inits.append(numpy_helper.from_array(seq, "seq"))
    nodes = [helper.make_node("Add", ["x", "zero"], ["x1"], name="add")] if add else []
    nodes += [helper.make_node(op, names, outs, name="rnn", hidden_size=H, layout=layout,
                              **attrs)]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT,
                                       [f"{o}{k}" for k in range(4 if o == "y" else 3)])
         for o in outs],
        initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


def lowered(op: str, arrays: dict[str, np.ndarray], x: np.ndarray, layout: int,
            **attrs: Any) -> list[np.ndarray]:
    """What convcost's lowering computes on real tensors (every output wanted)."""
    outs = ("y", "yh", "yc") if op == "LSTM" else ("y", "yh")
    node = OnnxOp(0, op, "", "rnn", (), outs, dict(hidden_size=H, layout=layout, **attrs),
                  14, used=frozenset(outs))
    arr = dict(arrays)
    if layout == 1:
        for k in ("h0", "c0"):
            if k in arr:
                arr[k] = np.ascontiguousarray(arr[k].transpose(1, 0, 2))
    xs: list[Any] = [torch.from_numpy(x), *(torch.from_numpy(arr[k]) for k in "WRB"), None,
                     torch.from_numpy(arr["h0"])]
    if op == "LSTM":
        xs += [torch.from_numpy(arr["c0"]), torch.from_numpy(arr["P"]) if "P" in arr else None]
    impl = lowering_table().get(op)
    assert impl is not None
    return [o.detach().numpy() for o in impl(node, xs, False)]


CASES = [("LSTM", d, lay, {}) for d in ("forward", "reverse", "bidirectional")
         for lay in (0, 1)] + \
        [("LSTM", "bidirectional", 1, {"peep": True})] + \
        [("GRU", d, lay, {"linear_before_reset": lbr}) for d in ("forward", "bidirectional")
         for lay in (0, 1) for lbr in (0, 1)] + [("GRU", "reverse", 0, {})]


@pytest.mark.parametrize("op,direction,layout,extra", CASES)
def test_numerics_equal_onnx_reference(op: str, direction: str, layout: int,
                                       extra: dict[str, Any]) -> None:
    extra = dict(extra)
    dirs = 2 if direction == "bidirectional" else 1
    arrays = rnn_arrays(op, dirs, bool(extra.pop("peep", False)))
    x_shape = (T, B, I) if layout == 0 else (B, T, I)
    x = np.random.default_rng(1).standard_normal(x_shape).astype(np.float32)
    model = rnn_model(op, arrays, x_shape, layout, direction=direction, **extra)
    ref = ReferenceEvaluator(model).run(None, {"x": x})
    got = lowered(op, arrays, x, layout, direction=direction, **extra)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def analysed(tmp_path: Path, op: str, direction: str = "forward", mode: str = "inference",
             **attrs: Any) -> Any:
    dirs = 2 if direction == "bidirectional" else 1
    m = rnn_model(op, rnn_arrays(op, dirs, False), (T, B, I), 0, direction=direction,
                  **attrs)
    path = tmp_path / f"{op}.onnx"
    onnx.save(m, str(path))
    return analyze_onnx(path, (T, B, I), mode=mode)


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_forward_macs_hand_count(op: str, tmp_path: Path) -> None:
    """Per step, direction and batch element: gates·H·(I + H) MACs (4 for LSTM, 3 for
    GRU); nothing else in the graph multiplies-and-adds."""
    gates = 4 if op == "LSTM" else 3
    r = analysed(tmp_path, op, "bidirectional")
    assert r.unsupported_ops == ()
    assert r.totals.forward.macs == 2 * T * B * gates * H * (I + H)
    assert r.layer("rnn").forward.macs == 2 * T * B * gates * H * (I + H)


def test_train_mode_books_weight_gradients(tmp_path: Path) -> None:
    """∂W and ∂R: one product per forward product (Σ_t dgatesᵀ·x and Σ_t dgatesᵀ·h), so the
    ∂weight MACs equal the forward matmul MACs; ∂input (dgates·W for x, dgates·R for h)
    the same again but for the first step's h (zeros: no gradient). X is the graph input
    (``input_grad``) and no initial state is given, so no parameter is added before the
    node."""
    arrays = {k: v for k, v in rnn_arrays("LSTM", 1, False).items() if k in "WRB"}
    path = tmp_path / "t.onnx"
    onnx.save(rnn_model("LSTM", arrays, (T, B, I), 0, add=False), str(path))
    r = analyze_onnx(path, (T, B, I), mode="train", input_grad=True)
    fwd = T * B * 4 * H * (I + H)
    back = r.layer("rnn").backward
    assert back.grad_weight.macs == fwd
    assert back.grad_input.macs == fwd - B * 4 * H * H


def export(m: nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False, opset_version=14)


@pytest.mark.parametrize("kind,bidirectional", [("LSTM", False), ("LSTM", True),
                                                ("GRU", True)])
def test_exported_from_pytorch_same_forward(kind: str, bidirectional: bool,
                                            tmp_path: Path) -> None:
    """nn.LSTM / nn.GRU exported to ONNX: the same forward cost as analysing the module
    (mults, adds, MACs and other: for LSTM those of mkldnn_rnn_layer's formula; GRU exports
    linear_before_reset=1, PyTorch's own cell, which PyTorch runs as mm/add/sigmoid/tanh)."""
    torch.manual_seed(0)
    cls = nn.LSTM if kind == "LSTM" else nn.GRU
    m = cls(I, H, bidirectional=bidirectional)
    x = torch.randn(T, B, I)
    path = tmp_path / "m.onnx"
    export(m, x, path)
    assert kind in {n.op_type for n in onnx.load(str(path)).graph.node}
    ours = analyze_onnx(path, (T, B, I))
    theirs = analyze(m, x)
    assert ours.unsupported_ops == ()
    assert ours.totals.forward.macs == theirs.totals.forward.macs
    assert ours.totals.forward == theirs.totals.forward


@pytest.mark.parametrize("input_grad", [False, True])
def test_exported_gru_train_split_same_as_pytorch(input_grad: bool, tmp_path: Path) -> None:
    """PyTorch runs nn.GRU as per-step mm/add/sigmoid/tanh on CPU: the exported graph's
    ∂input and ∂weight MACs are the module's (with and without the input's gradient). The
    LSTM's fused kernel always computes ∂x and ∂h0; the unrolled graph only what autograd
    needs: (T − 1)·B·4H·H for the recurrence, T·B·4H·I more for ∂x."""
    torch.manual_seed(0)
    m = nn.GRU(I, H)
    x = torch.randn(T, B, I)
    path = tmp_path / "g.onnx"
    export(m, x, path)
    ours = analyze_onnx(path, (T, B, I), mode="train", input_grad=input_grad).totals.backward
    theirs = analyze(m, x, mode="train", input_grad=input_grad).totals.backward
    assert ours.grad_input.macs == theirs.grad_input.macs
    assert ours.grad_weight.macs == theirs.grad_weight.macs == T * B * 3 * H * (I + H)
    lstm = nn.LSTM(I, H)
    export(lstm, x, path)
    back = analyze_onnx(path, (T, B, I), mode="train", input_grad=input_grad).totals.backward
    assert back.grad_weight.macs == T * B * 4 * H * (I + H)
    assert back.grad_input.macs == (T - 1) * B * 4 * H * H + input_grad * T * B * 4 * H * I


@pytest.mark.parametrize("attrs,field", [
    (dict(activations=["Relu", "Tanh", "Tanh"]), "activations"),
    (dict(clip=1.0), "clip"),
    (dict(input_forget=1), "input_forget"),
])
def test_refused_attributes_name_node_and_attribute(attrs: dict[str, Any], field: str,
                                                    tmp_path: Path) -> None:
    with pytest.raises(OnnxNodeError) as e:
        analysed(tmp_path, "LSTM", **attrs)
    msg = str(e.value)
    assert "'rnn' (LSTM)" in msg and field in msg and "\n" not in msg


def test_short_sequence_lens_refused_full_accepted(tmp_path: Path) -> None:
    arrays = rnn_arrays("GRU", 1, False)
    for seq, ok in ((np.full(B, T, np.int32), True), (np.array([T, 2], np.int32), False)):
        path = tmp_path / "s.onnx"
        onnx.save(rnn_model("GRU", arrays, (T, B, I), 0, seq=seq), str(path))
        if ok:
            assert analyze_onnx(path, (T, B, I)).totals.forward.macs == \
                T * B * 3 * H * (I + H)
        else:
            with pytest.raises(OnnxNodeError, match="sequence_lens"):
                analyze_onnx(path, (T, B, I))


def test_cli_names_node_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gru.onnx"
    onnx.save(rnn_model("GRU", rnn_arrays("GRU", 1, False), (T, B, I), 0), str(path))
    code, out, err = run(["model", str(path), "--input", f"{T}x{B}x{I}", "--mode", "train"],
                         capsys)
    assert code == 0, err
    assert "GRU" in out
    code, out, err = run(["model", str(path), "--input", f"{T}x{B}x{I}"], capsys)
    assert code == 0, err
    assert "GRU" in out


def test_cli_refused_attribute_is_one_line_exit_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clip.onnx"
    onnx.save(rnn_model("LSTM", rnn_arrays("LSTM", 1, False), (T, B, I), 0, clip=2.0),
              str(path))
    code, out, err = run(["model", str(path), "--input", f"{T}x{B}x{I}"], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "clip" in lines[0] and "'rnn'" in lines[0], err
