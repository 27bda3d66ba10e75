"""Python API robustness (issue 27 item 10): bad arguments are one-line ValueError subclasses
naming the parameter (never AttributeError/TypeError), torch dtypes work for ``amp`` as for
``dtype``, and an unknown layer name suggests close ones."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

torch = importlib.import_module("torch")
nn = torch.nn

from convcost import analyze, render  # noqa: E402
from convcost.errors import SpecError  # noqa: E402


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3)
        self.classifier = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x: Any) -> Any:
        return self.classifier(self.features(x).flatten(1))


INPUT = (1, 3, 8, 8)


@pytest.fixture(scope="module")
def result() -> Any:
    return analyze(Net(), INPUT, mode="inference")


def one_line(e: pytest.ExceptionInfo[SpecError], field: str) -> str:
    assert isinstance(e.value, ValueError) and e.value.field == field
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{field}: got ")
    return text


@pytest.mark.parametrize("bad", [[1, 2], (1,), "x", 3])
def test_kwargs_must_be_a_mapping(bad: Any) -> None:
    with pytest.raises(SpecError) as e:
        analyze(Net(), INPUT, kwargs=bad)
    one_line(e, "kwargs")


@pytest.mark.parametrize("bad", [3, 2.5, ["0"], b"features"])
def test_freeze_must_be_a_string(bad: Any) -> None:
    # freeze=3 as the regex '3' would match parameter names with a 3 in them
    with pytest.raises(SpecError) as e:
        analyze(Net(), INPUT, mode="train", freeze=bad)
    assert "regular expression" in one_line(e, "freeze")


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_render_hardware_must_be_a_hardware(result: Any, fmt: str) -> None:
    with pytest.raises(SpecError) as e:
        render(result, fmt, hardware="h100-sxm")
    assert "convcost.Hardware" in one_line(e, "hardware")


def test_unknown_layer_names_it_and_suggests(result: Any) -> None:
    with pytest.raises(KeyError) as e:
        result.layer("featurs")
    assert isinstance(e.value, ValueError)
    text = str(e.value)
    assert text.startswith("name: got 'featurs'; ") and "did you mean features" in text
    assert "\n" not in text
    with pytest.raises(SpecError, match=r"^name: got 'nope'; .*features, classifier"):
        result.layer("nope")
    assert result.layer("features").name == "features"


@pytest.mark.parametrize(("amp", "name"), [("bf16", "bfloat16"), ("fp16", "float16")])
def test_amp_takes_torch_dtypes_like_dtype(amp: str, name: str) -> None:
    dt = getattr(torch, name)
    # PyTorch's autocast itself takes the dtype object: the reference spelling
    with torch.autocast("cpu", dtype=dt):
        pass
    by_name = analyze(Net(), INPUT, mode="inference", amp=amp)
    by_dtype = analyze(Net(), INPUT, mode="inference", amp=dt)
    assert by_dtype.amp == by_name.amp == name
    assert by_dtype.totals == by_name.totals
    assert by_dtype.memory == by_name.memory
    with pytest.raises(SpecError) as e:
        analyze(Net(), INPUT, amp=torch.int8)
    one_line(e, "amp")


# ------------------------------------------------------ nothing to differentiate (item 6)


class IntOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: Any) -> Any:
        return self.fc(x).argmax(-1)


class NoneOut(IntOut):
    def forward(self, x: Any) -> Any:
        self.fc(x)
        return None


def real_step_raises(model: Any, x: Any) -> None:
    """The usual loop's backward raises (PyTorch's own behaviour: the reference)."""
    with pytest.raises((RuntimeError, AttributeError)):
        out = model(x)
        out.sum().backward()


@pytest.mark.parametrize(("make", "needle"), [
    (IntOut, "the model's output is int64: integer tensors have no gradient"),
    (NoneOut, "the model's output (NoneType) holds no tensor"),
])
def test_output_without_gradient_is_refused(make: Any, needle: str) -> None:
    real_step_raises(make(), torch.randn(2, 3))
    with pytest.raises(SpecError) as e:
        analyze(make(), (2, 3), mode="train")
    text = one_line(e, "mode")
    assert needle in text and "nothing to differentiate" in text
    assert analyze(make(), (2, 3), mode="inference").totals.forward.macs == 2 * 3 * 3


def test_freeze_everything_is_refused() -> None:
    m = nn.Linear(3, 3)
    for p in m.parameters():
        p.requires_grad_(False)
    real_step_raises(m, torch.randn(2, 3))
    with pytest.raises(SpecError) as e:
        analyze(nn.Linear(3, 3), (2, 3), mode="train", freeze=".")
    assert "matches every trainable parameter (2)" in one_line(e, "freeze")
    # parameters the model froze itself: the same (a real step raises too)
    with pytest.raises(SpecError) as e:
        analyze(m, (2, 3), mode="train")
    assert "nothing to differentiate" in one_line(e, "mode")
    # with an input gradient there is something to differentiate: 2·3·3 MACs of grad-input
    r = analyze(nn.Linear(3, 3), (2, 3), mode="train", freeze=".", input_grad=True)
    assert r.totals.backward.grad_input.macs == 18 and r.totals.backward.grad_weight.macs == 0


def test_input_grad_without_floating_input_is_refused() -> None:
    with pytest.raises(RuntimeError, match="floating point"):  # PyTorch refuses it
        torch.zeros(2, 3, dtype=torch.int64).requires_grad_(True)
    with pytest.raises(SpecError) as e:
        analyze(nn.Embedding(5, 3), ["2x3:int64"], mode="train", input_grad=True)
    assert "no input is floating-point" in one_line(e, "input_grad")


def test_freeze_in_inference_is_refused() -> None:
    with pytest.raises(SpecError) as e:
        analyze(nn.Linear(3, 3), (2, 3), mode="inference", freeze="weight")
    assert "training step" in one_line(e, "freeze")


def test_onnx_freeze_everything_is_refused(tmp_path: Any) -> None:
    np = pytest.importorskip("numpy")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from convcost.model.onnx import analyze_onnx

    w = numpy_helper.from_array(np.zeros((4, 2, 3, 3), np.float32), "conv1.weight")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "conv1.weight"], ["y"], name="conv1")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(SpecError) as e:
        analyze_onnx(path, freeze="conv1")
    assert "matches every initializer" in one_line(e, "freeze")
    with pytest.raises(SpecError) as e:
        analyze_onnx(path, freeze="conv1", mode="inference")
    assert "training step" in one_line(e, "freeze")
    # with input gradients: grad-input only, 1·4·2·9·9 = 648 MACs (a transposed conv)
    r = analyze_onnx(path, freeze="conv1", input_grad=True)
    assert r.totals.backward.grad_weight.macs == 0
    assert r.totals.backward.grad_input.macs == 4 * 2 * 9 * 9


def test_analyze_refuses_a_sequence_past_the_position_table() -> None:
    """Issue 27 item 6 (the Python API): a GPT-2 with 8 positions runs 8 tokens and raises
    IndexError on 9 for real; analyze accepts 8 and refuses 9, naming ``inputs``."""
    import torch

    from convcost import analyze
    from convcost.errors import SpecError
    from convcost.frontends.targets import build_target

    args = {"n_layer": 1, "n_embd": 16, "n_head": 2, "vocab_size": 50, "n_positions": 8}
    real = build_target("hf:GPT2LMHeadModel", args, meta=False).model
    real(torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(IndexError):
        real(torch.zeros(1, 9, dtype=torch.long))
    model = build_target("hf:GPT2LMHeadModel", args).model
    assert analyze(model, [((1, 8), "int64")]).totals.forward.macs > 0
    with pytest.raises(SpecError, match=r"^inputs: got '1x9:int64'; a sequence of 9 tokens"):
        analyze(model, [((1, 9), "int64")])
