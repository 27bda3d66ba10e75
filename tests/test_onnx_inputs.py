"""``--input`` is optional for an ONNX file whose inputs all have static shapes (the graph's
shapes are used), required for a symbolic dimension (the error names the input and the
dimension), and still required for a PyTorch model. A static shape cannot be changed; a
scalar (rank-0) input is written with an empty shape."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cli_run import run
from convcost.errors import SpecError
from convcost.frontends.onnx import load_onnx


def _graph(path: Path, batch: int | str, extra: tuple[str, list[Any]] | None = None) -> str:
    """Conv 3->4 (3x3, pad 1) + ReLU + GlobalAveragePool + Flatten + Gemm 4->2 on an
    input ``x`` of shape batch x 3 x 8 x 8 (``batch`` a number or a symbol)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w", (4, 3, 3, 3)), ("b", (4,)), ("fw", (2, 4)), ("fb", (2,)))]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])]
    if extra is not None:
        name, dims = extra
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        nodes.append(helper.make_node("Identity", [name], [name + "_out"], name="id"))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2])]
    if extra is not None:
        outputs.append(helper.make_tensor_value_info(extra[0] + "_out", TensorProto.FLOAT,
                                                     extra[1]))
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def static(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _graph(tmp_path_factory.mktemp("onnx") / "static.onnx", 2)


@pytest.fixture(scope="module")
def symbolic(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _graph(tmp_path_factory.mktemp("onnx") / "symbolic.onnx", "batch")


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run([*args, "--json"], capsys)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_static_graph_without_input_equals_with_its_shape(
        static: str, capsys: pytest.CaptureFixture[str]) -> None:
    without = _json(["model", static], capsys)
    given = _json(["model", static, "--input", "x=2x3x8x8"], capsys)
    assert without == given
    assert without["inputs"] == [{"name": "x", "shape": [2, 3, 8, 8], "dtype": "float32"}]
    # the numbers themselves, worked out by hand: conv 2·4·8·8 outputs × 3·3·3 MACs,
    # gemm 2·2 outputs × 4 MACs
    assert without["totals"]["forward"]["macs"] == 2 * 4 * 8 * 8 * 27 + 2 * 2 * 4
    assert without["totals"]["params"] == 4 * 27 + 4 + 2 * 4 + 2


def test_static_graph_without_input_other_commands(
        static: str, capsys: pytest.CaptureFixture[str]) -> None:
    # inference, a device, and a batch sweep all take the graph's shape
    code, out, err = run(["model", static, "--mode", "inference", "--device", "a100-80gb"],
                         capsys)
    assert code == 0, err
    assert "inputs x 2×3×8×8 float32" in out
    code, out, err = run(["model", static, "--batch", "1,4", "--format", "csv"], capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 3


def test_symbolic_graph_without_input_names_input_and_dimension(
        symbolic: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", symbolic], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1  # one line
    assert "--input" in err and "input 'x'" in err and "'batch'" in err and "dimension 0" in err
    # with the dimension set (by name or by position) it works
    assert _json(["model", symbolic, "--input", "x=2x3x8x8"], capsys)["totals"] == \
        _json(["model", symbolic, "--input", "2x3x8x8"], capsys)["totals"]


def test_symbolic_second_input_is_named(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _graph(tmp_path / "two.onnx", 2, ("mask", [2, "seq"]))
    code, _, err = run(["model", path], capsys)
    assert code == 2
    assert "input 'mask'" in err and "'seq'" in err and "dimension 1" in err
    code, _, err = run(["model", path, "--input", "mask=2x5"], capsys)
    assert code == 0, err


def test_library_needs_no_inputs_for_a_static_graph(static: str, symbolic: str) -> None:
    _, specs = load_onnx(static)
    assert [(s.shape, s.dtype) for s in specs] == [((2, 3, 8, 8), "float32")]
    with pytest.raises(SpecError) as info:
        load_onnx(symbolic)
    assert info.value.field == "inputs"
    assert "input 'x'" in str(info.value) and "'batch'" in str(info.value)


def test_pytorch_model_still_requires_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "torchvision:resnet18"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--input" in err and "required" in err


def test_compare_takes_onnx_entries_like_model(static: str, symbolic: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """compare loads an ONNX entry as `convcost model` does: its inputs by graph name, none
    needed for a static graph; numbers equal the single analyses'."""
    single = _json(["model", static, "--json"], capsys)
    code, out, err = run(["compare", static, f"{symbolic} --input x=2x3x8x8", "--format",
                          "json"], capsys)
    assert code == 0, err
    entries = json.loads(out)["compare"]
    assert len(entries) == 2
    for e in entries:
        assert e["totals"]["forward"] == single["totals"]["forward"]
    assert [e["inputs"][0]["name"] for e in entries] == ["x", "x"]
    # without shapes, the symbolic entry is a clean error naming the input and dimension
    code, out, err = run(["compare", static, symbolic], capsys)
    assert code == 2 and out == "" and "symbolic ('batch')" in err and "--input" in err


# ------------------------------------------------- a static shape cannot be changed


def test_static_shape_given_another_is_one_line_naming_both(
        static: str, symbolic: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The static graph's x is 2x3x8x8: another shape is an error naming the input and both
    shapes (the graph would not run at it); a symbolic dimension can still be set."""
    for given, shape in (("3x3x8x8", "3x3x8x8"), ("x=2x3x9x8", "2x3x9x8")):
        code, out, err = run(["model", static, "--input", given], capsys)
        assert code == 2 and out == "" and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("convcost model: error: --input")
        assert f"input 'x' as 2x3x8x8, not {shape}" in err
    with pytest.raises(SpecError, match=r"input 'x' as 2x3x8x8, not 1x3x8x8"):
        load_onnx(static, ["1x3x8x8"])
    _, specs = load_onnx(symbolic, ["5x3x8x8"])  # batch is symbolic: any value
    assert specs[0].shape == (5, 3, 8, 8)
    with pytest.raises(SpecError, match=r"as batchx3x8x8, not 5x3x4x4"):
        load_onnx(symbolic, ["5x3x4x4"])


# ------------------------------------------------------------ scalar (rank-0) inputs


@pytest.fixture(scope="module")
def scalar(tmp_path_factory: pytest.TempPathFactory) -> str:
    """y = Conv(x) · Cast(flag): x N×3×8×8 float, flag a rank-0 bool (a graph's switch)."""
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Cast", ["flag"], ["f"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["c", "f"], ["y"], name="mul")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8]),
                     helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])],
        initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("onnx") / "scalar.onnx"
    onnx.save(model, str(path))
    return str(path)


#: the scalar graph at batch 2, by hand: conv 2·4·8·8 outputs × 27 MACs; the Mul one
#: multiplication per element of c (2·4·8·8)
SCALAR_MACS = 2 * 4 * 64 * 27
SCALAR_MULTS = SCALAR_MACS + 2 * 4 * 64


@pytest.mark.parametrize("flag", [[], ["--input", "flag="], ["--input", "flag=:bool"],
                                  ["--input", ":bool"]])
def test_scalar_input_by_empty_shape(scalar: str, flag: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A rank-0 input needs no --input (its shape is static); written, it is an empty shape,
    by name or in order."""
    doc = _json(["model", scalar, "--input", "2x3x8x8", *flag, "--mode", "inference"], capsys)
    assert doc["inputs"][1] == {"name": "flag", "shape": [], "dtype": "bool"}
    assert doc["totals"]["forward"]["macs"] == SCALAR_MACS
    assert doc["totals"]["forward"]["mults"] == SCALAR_MULTS


@pytest.mark.parametrize("flag,needle", [("flag=2", "rank 0 (scalar), not 1"),
                                         ("flag=:int64", "declares bool")])
def test_scalar_input_errors(scalar: str, flag: str, needle: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", scalar, "--input", "2x3x8x8", "--input", flag], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "--input" in err and needle in err


def test_scalar_input_in_a_sweep_and_the_api(scalar: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A batch sweep leaves the scalar as it is; the library takes ``""`` and ``":bool"``."""
    from convcost.model.onnx import analyze_onnx

    code, out, err = run(["model", scalar, "--input", "2x3x8x8", "--input", "flag=",
                          "--batch", "1,2", "--mode", "inference", "--format", "csv"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["forward_MACs"]) for r in rows] == [SCALAR_MACS // 2, SCALAR_MACS]
    for flag in ("", ":bool"):
        r = analyze_onnx(scalar, {"x": "2x3x8x8", "flag": flag}, mode="inference")
        assert r.totals.forward.macs == SCALAR_MACS


def test_scalar_input_through_the_server_parser(scalar: str) -> None:
    """The server's ONNX route reads ``input=flag=:bool`` with the same parser (its worker's
    entry point, in this process: no server started)."""
    from convcost.server.requests import onnx_params, run_analysis

    for query in ([("input", "x=2x3x8x8"), ("input", "flag=:bool"), ("mode", "inference")],
                  [("input", "x=2x3x8x8"), ("mode", "inference")]):
        outcome = run_analysis(onnx_params(query), scalar)
        doc = json.loads(outcome.json)
        assert doc["inputs"][1]["shape"] == [] and doc["inputs"][1]["dtype"] == "bool"
        assert doc["totals"]["forward"]["macs"] == SCALAR_MACS


def test_scalar_input_in_a_batch_fit(scalar: str) -> None:
    """The batch search grows every input's batch but the scalar's (it has none): the batch
    found fits and the next does not, by the peaks of the two training steps themselves."""
    from convcost.fit import fit_batch
    from convcost.model import train_memory
    from convcost.spec import InputSpec

    module, specs = load_onnx(scalar, ["2x3x8x8"])
    capacity = 100_000
    b = fit_batch(module, specs, capacity).batch

    def peak(n: int) -> int:
        mem = train_memory(module, [InputSpec((n, 3, 8, 8)), InputSpec((), "bool")])
        return max(mem.peak, mem.steady_peak)

    assert b >= 1 and peak(b) <= capacity < peak(b + 1)
