"""The one presentation layer: ``render()`` in every format on synthetic results (no model is
run), its errors (they name the parameter), the CLI's flag mapping, and the import footprint
of ``convcost conv``."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from convcost.cli.common import flag_error
from convcost.cost import BackwardCost, Cost
from convcost.errors import SpecError
from convcost.hardware.answer import Hardware
from convcost.hardware.devices import catalog, get_device
from convcost.hardware.step import step_time
from convcost.layer import ConvResult, conv_cost
from convcost.memory.timeline import Timeline
from convcost.model.results import LayerRow, ModelMemory, ModelResult, ModelTotals, OpRow
from convcost.ops import TensorMeta
from convcost.renderers import REGISTRY, render, to_frame, write_plots
from convcost.spec import (
    parse_int_list,
    parse_layer_input,
    parse_padding,
    resize_shape,
    split_inputs,
)
from convcost.study import CompareEntry, Comparison, Sweep, SweepRow

# --------------------------------------------------------------------------- synthetic results

FC_FWD = Cost(mults=117_211_136, adds=117_000_000, macs=117_211_136)
ACT_FWD = Cost(other=80)
FC_BWD = BackwardCost(Cost(mults=1_000, adds=900, macs=1_000), Cost(mults=2_000, adds=1_800,
                                                                     macs=2_000),
                      Cost(adds=80))
ACT_BWD = BackwardCost(Cost(mults=80), Cost(), Cost())


def _model(mode: str = "train", unsupported: bool = True) -> ModelResult:
    """A two-layer model (fc, act) written by hand: no torch, no trace."""
    train = mode == "train"
    zero = BackwardCost(Cost(), Cost(), Cost())
    fc_b, act_b = (FC_BWD, ACT_BWD) if train else (zero, zero)
    root_b = BackwardCost(fc_b.grad_input + act_b.grad_input,
                          fc_b.grad_weight + act_b.grad_weight, fc_b.grad_bias + act_b.grad_bias)
    layers = (
        LayerRow("", "Net", 0, False, 1, (8, 10), 1010, 1010, FC_FWD + ACT_FWD, root_b, 3520),
        LayerRow("fc", "Linear", 1, True, 1, (8, 10), 1010, 1010, FC_FWD, fc_b, 3200),
        LayerRow("act", "ReLU", 1, True, 1, (8, 10), 0, 0, ACT_FWD, act_b, 320),
    )
    ops = [OpRow(0, "aten.addmm.default", "forward", "fc", "", FC_FWD, 4360, 320),
           OpRow(1, "aten.relu.default", "forward", "act", "", ACT_FWD, 320, 320)]
    if train:
        ops += [OpRow(2, "aten.threshold_backward.default", "backward", "act", "grad_input",
                      ACT_BWD.grad_input, 640, 320),
                OpRow(3, "aten.mm.default", "backward", "fc", "split", FC_BWD.total, 4680,
                      4360)]
    rows = tuple((4040, 0, 320, 0, 0, 320 * min(i, 2), 40 * i) for i in range(len(ops) + 1))
    timeline = Timeline(rows, ("", *(f"{o.phase}:{o.module}:{o.name}" for o in ops)))
    memory = ModelMemory(4040, 0, 320, 4040 if train else 0, 0, 3520, 640,
                         9000 if train else None, 9000 if train else None, 5000,
                         train_timeline=timeline if train else None,
                         inference_timeline=timeline)
    totals = ModelTotals(1010, 1010, FC_FWD + ACT_FWD, root_b, Cost())
    return ModelResult("synthetic", (("x", TensorMeta((8, 101), "float32")),), mode, "float32",
                       None, "none", None, "dense", totals, memory, layers,
                       (("aten.mystery.default", 2),) if unsupported else (), ops=tuple(ops))


@pytest.fixture(scope="module")
def model() -> ModelResult:
    return _model()


@pytest.fixture(scope="module")
def hw(model: ModelResult) -> Hardware:
    return Hardware(step=step_time(model, get_device("h100-sxm")))


@pytest.fixture(scope="module")
def layer() -> ConvResult:
    return conv_cost(in_channels=3, out_channels=64, input_size=(224, 224), kernel=7, stride=2,
                     padding=3, bias=False)


def _formats(subject: str) -> list[str]:
    return [name for name, f in REGISTRY.items() if subject in f.options]


# --------------------------------------------------------------------------- every format


def test_registry_covers_every_format() -> None:
    assert set(REGISTRY) == {"table", "rich", "markdown", "csv", "json", "html", "notebook",
                             "svg"}
    assert _formats("layer") == ["table", "rich", "markdown", "json", "html", "notebook", "svg"]
    assert _formats("model") == list(REGISTRY)


@pytest.mark.parametrize("fmt", _formats("model"))
def test_render_model_every_format(fmt: str, model: ModelResult, hw: Hardware) -> None:
    out = render(model, fmt, hardware=hw)
    assert isinstance(out, str) and out
    if fmt == "json":
        d = json.loads(out)
        assert d["totals"]["forward"]["flops"] == 234_211_216  # 117,211,136 + 117,000,000 + 80
        assert d["hardware"]["device"] == "h100-sxm"
    elif fmt == "csv":
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(out))}
        assert rows["fc"]["forward_flops"] == "234211136"  # exact, never 234.21 M
        assert rows["fc"]["output_shape"] == "8x10" and rows["fc"]["leaf"] == "1"
        assert float(rows["fc"]["forward_s"]) > 0
    elif fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and 'id="roofline-figure"' in out
        assert out.count('<tr class="d') == 3
    elif fmt == "svg":
        assert ET.fromstring(out).get("class") == "chart flops-chart"
    elif fmt == "notebook":
        assert out.startswith("<div class='convcost'>") and "234.21 M" in out
    else:  # table, rich, markdown
        assert "234.21 M" in out and "time fwd" in out and "UNSUPPORTED" in out
        assert ("\x1b[" in out) == (fmt == "rich")


@pytest.mark.parametrize("fmt", _formats("layer"))
def test_render_layer_every_format(fmt: str, layer: ConvResult) -> None:
    out = render(layer, fmt)
    assert isinstance(out, str) and out
    if fmt == "json":
        assert json.loads(out)["forward"]["adds"] == 117_211_136
    elif fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and "<math" in out
    elif fmt == "svg":
        assert ET.fromstring(out).get("class") == "chart conv-chart"
    else:
        assert "117,211,136" in out


def test_render_layer_options(layer: ConvResult) -> None:
    assert "⌊(224 + 2·3 − 7)/2⌋ + 1" in render(layer, "table", explain=True)
    assert "$$" in render(layer, "markdown", explain=True, lang="zh")
    assert "前向" in render(layer, "table", lang="zh")
    assert "输出尺寸" in render(layer, "html", lang="zh")


def test_render_inference_model_blanks_backward(hw: Hardware) -> None:
    r = _model("inference", unsupported=False)
    table = render(r, "table")
    assert "UNSUPPORTED" not in table and "training step" not in table
    fc = next(line for line in table.splitlines() if line.startswith("fc "))
    # params, forward FLOPs, (no backward columns), saved, share
    assert fc.split() == ["fc", "Linear", "8×10", "1.01", "k", "234.21", "M", "3.12", "KiB",
                          "100.0%"]
    assert "bwd ∂input" not in render(r, "html")


def test_depth_and_json_options(model: ModelResult, hw: Hardware) -> None:
    assert "fc " not in render(model, "table", depth=0)
    assert [r["name"] for r in csv.DictReader(io.StringIO(render(model, "csv", depth=0)))] \
        == [""]
    d = json.loads(render(model, "json", ops=True, timeline=True))
    assert d["ops"][0]["op"] == "aten.addmm.default"
    assert d["memory"]["timeline"]["train"] is not None and "hardware" not in d
    d = json.loads(render(model, "json", ops=True, hardware=hw))
    assert d["ops"][0]["bound"] in ("compute", "memory")


def test_svg_charts(model: ModelResult, hw: Hardware) -> None:
    for chart in ("flops", "memory", "roofline"):
        root = ET.fromstring(render(model, "svg", chart=chart, hardware=hw))
        assert root.get("class") == f"chart {chart}-chart"


def test_studies_and_devices(model: ModelResult, hw: Hardware) -> None:
    small = _model("inference", unsupported=False)
    sweep = Sweep((SweepRow(1, None, model, hw), SweepRow(2, 64, small, Hardware())))
    table = render(sweep, "table")
    assert table.startswith("convcost sweep: synthetic — train")
    rows = list(csv.DictReader(io.StringIO(render(sweep, "csv"))))
    assert [(r["batch"], r["resolution"]) for r in rows] == [("1", "-"), ("2", "64")]
    assert rows[0]["forward_FLOPs"] == "234211216"
    assert render(sweep, "markdown").startswith("| batch | resolution |")
    assert [s["batch"] for s in json.loads(render(sweep, "json"))["sweep"]] == [1, 2]

    cmp = Comparison((CompareEntry("A model", model, Hardware()),
                      CompareEntry("B model", small, Hardware())))
    table = render(cmp, "table")
    assert table.startswith("A: A model\nB: B model\n") and "B / A" in table
    metric = {r["metric"]: r for r in csv.DictReader(io.StringIO(render(cmp, "csv")))}
    assert metric["forward MACs"]["B / A"] == "1.000"
    assert metric["peak training step"]["B model"] == "None"  # as sweeps have always written it
    assert len(json.loads(render(cmp, "json"))["compare"]) == 2

    devices = catalog()
    assert "h100-sxm" in render(devices, "table")
    assert "h100-sxm" in json.loads(render(devices, "json"))


def test_notebook_hooks_on_synthetic_results(model: ModelResult, layer: ConvResult) -> None:
    pytest.importorskip("pandas")
    html = model._repr_html_()
    assert html == render(model, "notebook") and "fc" in html
    df = model.to_pandas()
    assert df.loc["fc", "forward_mults"] == 117_211_136
    assert list(to_frame(layer).index) == ["forward", "grad_input", "grad_weight", "grad_bias",
                                           "backward"]
    assert "<table" in layer._repr_html_()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("subject", "fmt", "options", "field"), [
    ("layer", "csv", {}, "format"),
    ("layer", "pdf", {}, "format"),
    ("model", "nope", {}, "format"),
    ("model", "table", {"lang": "zh"}, "lang"),
    ("model", "json", {"depth": 1}, "depth"),
    ("model", "table", {"depth": -1}, "depth"),
    ("layer", "table", {"lang": "fr"}, "lang"),
    ("layer", "json", {"explain": True}, "explain"),
    ("layer", "html", {"hardware": None}, "hardware"),
    ("model", "svg", {"chart": "pie"}, "chart"),
    ("model", "svg", {"chart": "roofline"}, "hardware"),
])
def test_bad_format_or_option_names_the_parameter(subject: str, fmt: str,
                                                  options: dict[str, object], field: str,
                                                  model: ModelResult, layer: ConvResult) -> None:
    result = layer if subject == "layer" else model
    with pytest.raises(SpecError) as err:
        render(result, fmt, **options)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: got ") and "\n" not in str(err.value)


def test_render_unknown_result() -> None:
    with pytest.raises(SpecError, match=r"^result: got 'object'"):
        render(object(), "table")


def test_write_plots(layer: ConvResult, model: ModelResult, hw: Hardware,
                     tmp_path: Path) -> None:
    written = write_plots(model, tmp_path / "m.svg", hardware=hw)
    assert [p.name for p in written] == ["m-flops.svg", "m-memory.svg", "m-roofline.svg",
                                          "m-time.svg"]
    assert write_plots(layer, tmp_path / "c.svg") == [tmp_path / "c.svg"]
    for bad in ("x.gif", "no/such/dir/x.svg"):
        with pytest.raises(SpecError, match=r"^plot: "):
            write_plots(layer, tmp_path / bad)
    with pytest.raises(SpecError, match=r"^result: "):
        write_plots(catalog(), tmp_path / "d.svg")


# --------------------------------------------------------------------------- text parsing


def test_spec_parsers() -> None:
    assert parse_layer_input("input_size", "3x224x224") == (3, (224, 224))
    assert parse_padding("padding", "1:2x0") == [(1, 2), (0, 0)]
    assert parse_padding("padding", " Same ") == "same"
    assert parse_int_list("batch", "1,8,64") == [1, 8, 64] and parse_int_list("batch", None) == []
    assert split_inputs("inputs", ["8x3", "mask=8x3:bool"]) == (["8x3"], {"mask": "8x3:bool"})
    assert resize_shape("8x3x224x224:bf16", 2, 96) == "2x3x96x96:bf16"
    assert resize_shape("8x16x100", None, 50) == "8x16x50"


@pytest.mark.parametrize(("call", "field"), [
    (lambda: parse_layer_input("input_size", "3"), "input_size"),
    (lambda: parse_layer_input("input_size", "3xa"), "input_size"),
    (lambda: parse_padding("padding", "1:2:3"), "padding"),
    (lambda: parse_int_list("resolution", "0"), "resolution"),
    (lambda: parse_int_list("batch", "1,x"), "batch"),
    (lambda: split_inputs("inputs", ["1=2x3"]), "inputs"),
    (lambda: split_inputs("inputs", []), "inputs"),
    (lambda: resize_shape("4x8", None, 16), "resolution"),
    (lambda: resize_shape("4xq", 1, None), "inputs"),
])
def test_spec_parser_errors_name_the_field(call: object, field: str) -> None:
    with pytest.raises(SpecError) as err:
        call()  # type: ignore[operator]
    assert err.value.field == field


@pytest.mark.parametrize(("field", "flag"), [
    ("inputs[0].dtype", "--input"), ("input_size", "--input"), ("target", "TARGET"),
    ("device", "--device"), ("devices_file", "--devices-file"), ("plot", "--plot"),
    ("format", "--format"), ("--fit", "--fit"), ("ENTRY", "ENTRY"),
])
def test_only_the_cli_maps_parameters_to_flags(field: str, flag: str) -> None:
    e = flag_error(SpecError(field, "x", "why"))
    assert isinstance(e, SpecError) and e.field == flag and str(e) == f"{flag}: got 'x'; why"


# --------------------------------------------------------------------------- start-up


@pytest.mark.parametrize("extra", [[], ["--json"], ["--format", "markdown", "--explain"],
                                   ["--explain", "--lang", "zh"]])
def test_conv_imports_only_what_it_uses(extra: list[str]) -> None:
    code = (
        "import sys\nfrom convcost.cli import main\n"
        f"assert main(['conv', '--input', '3x8x8', '--out-channels', '4', '--kernel', '3', "
        f"*{extra!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m in ('torch', 'rich', 'convcost.model', "
        "'convcost.renderers.html', 'convcost.renderers.terminal', 'convcost.renderers.svg', "
        "'convcost.hardware', 'convcost.memory', 'convcost.frontends', 'convcost.study'))\n"
        "print(bad, file=sys.stderr)\nassert bad == [], bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_python_dash_m_and_version() -> None:
    r = subprocess.run([sys.executable, "-m", "convcost", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("convcost ")
