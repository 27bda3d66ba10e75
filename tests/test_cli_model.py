"""CLI of the whole-model analysis: outputs, formats, and every kind of bad input."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from cli_run import run
from convcost.units import shape, si
from shared import R18, CliRun


def test_json_keys(r18_json: dict[str, Any]) -> None:
    d = r18_json
    for key in ("model", "inputs", "mode", "dtype", "counting", "totals", "memory", "layers",
                "unsupported_ops"):
        assert key in d
    assert set(d["totals"]) >= {"params", "trainable_params", "forward", "backward"}
    for p in ("forward", "backward"):
        assert set(d["totals"][p]) >= {"macs", "mults", "adds", "flops"}
    assert set(d["memory"]) >= {"params_bytes", "buffers_bytes", "inputs_bytes", "grads_bytes",
                                "optimizer_bytes", "saved_activations_bytes",
                                "peak_train_bytes", "peak_inference_bytes"}
    row = d["layers"][1]
    assert set(row) >= {"name", "type", "output_shape", "params", "forward", "backward",
                        "saved_bytes"}
    assert set(row["backward"]) >= {"grad_input", "grad_weight", "grad_bias"}
    assert d["unsupported_ops"] == {}
    assert d["model"] == "torchvision:resnet18" and d["mode"] == "train"


def test_leaf_rows_sum_to_totals(r18_json: dict[str, Any]) -> None:
    d = r18_json
    leaves = [r for r in d["layers"] if r["leaf"]]
    for key in ("macs", "mults", "adds", "flops"):
        assert sum(r["forward"][key] for r in leaves) == d["totals"]["forward"][key]
        assert (sum(r["backward"]["total"][key] for r in leaves)
                == d["totals"]["backward"][key])
    assert sum(r["params"] for r in leaves) == d["totals"]["params"] == 11_689_512


def test_first_conv_matches_single_layer_cli(r18_json: dict[str, Any],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    conv1 = next(r for r in r18_json["layers"] if r["name"] == "conv1")
    code, out, _ = run(["conv", "--input", "3x64x64", "--batch", "2", "--out-channels", "64",
                        "--kernel", "7", "--stride", "2", "--padding", "3", "--no-bias",
                        "--no-input-grad", "--json"], capsys)
    assert code == 0
    layer = json.loads(out)
    assert conv1["forward"]["macs"] == layer["macs"]
    assert conv1["forward"]["flops"] == layer["forward"]["flops"]
    assert conv1["backward"]["grad_weight"]["flops"] == layer["backward"]["grad_weight"]["flops"]
    assert conv1["backward"]["grad_input"]["flops"] == 0  # the first layer: no grad-input


def test_table_depth_and_formats(cli_once: CliRun, r18_json: dict[str, Any]) -> None:
    code, out, _ = cli_once([*R18, "--depth", "1"])
    assert code == 0
    assert "layer1" in out and "layer1.0" not in out and "fwd FLOPs" in out
    code, out, _ = cli_once([*R18, "--depth", "2", "--format", "markdown"])
    assert code == 0 and "| module |" in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| module |"))
    assert lines[head + 1].startswith("|:---|")
    cells = [[c.strip() for c in line.strip("|").split("|")]
             for line in lines[head + 2:] if line.startswith("| ")]
    # one row per module to depth 2, root first, in the JSON run's order, but no row for a
    # functional part without cost (the root's torch.flatten): 19 of resnet18's 20 modules
    def shown(r: dict[str, Any]) -> bool:
        free = r["forward"]["flops"] == r["backward"]["total"]["flops"] == 0
        return r["depth"] <= 2 and not (r["type"] == "functional" and free)

    expected = [r for r in r18_json["layers"] if shown(r)]
    assert len(cells) == len(expected) == 19
    assert [row[0].replace("&nbsp;", "") for row in cells] == \
        ["(model)"] + [r["name"].rsplit(".", 1)[-1] for r in expected[1:]]
    # conv1's row: its output shape, parameters and exact forward FLOPs from the JSON run
    conv1 = next(r for r in r18_json["layers"] if r["name"] == "conv1")
    assert cells[1][:5] == ["conv1", "Conv2d", shape(conv1["output_shape"]),
                            si(conv1["params"]), si(conv1["forward"]["flops"])]
    assert cells[1][4] == "38.40 M"  # 38,404,096 FLOPs
    code, out, _ = cli_once([*R18, "--format", "csv", "--depth", "3"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["name"] == "" and rows[0]["type"] == "ResNet"
    assert max(int(r["depth"]) for r in rows) == 3
    assert all(r["forward_flops"].isdigit() for r in rows)


def test_inference_mode_and_optimizer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*R18, "--mode", "inference", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["mode"] == "inference" and d["totals"]["backward"]["flops"] == 0
    code, out, _ = run([*R18, "--optimizer", "adam", "--json"], capsys)
    d2 = json.loads(out)
    # Adam keeps two moments per parameter element (plus a step counter per parameter)
    assert d2["memory"]["optimizer_bytes"] >= 2 * d2["memory"]["params_bytes"]


def test_freeze(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*R18, "--freeze", r"^(conv1|bn1|layer1)\.", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    conv1 = next(r for r in d["layers"] if r["name"] == "conv1")
    assert conv1["backward"]["grad_weight"]["flops"] == 0
    assert d["totals"]["trainable_params"] < d["totals"]["params"]


def test_import_path_target_with_keyword_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "cli_models:two_inputs", "--input", "2x3x8x8",
                          "--input", "2x5:int64", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert [i["shape"] for i in d["inputs"]] == [[2, 3, 8, 8], [2, 5]]
    code, out, err = run(["model", "cli_models:two_inputs", "--input", "2x3x8x8",
                          "--input", "ids=2x5:int64", "--json"], capsys)
    assert code == 0, err


def test_unsupported_op_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["model", "cli_models:unsupported", "--input", "4x8"], capsys)
    assert code == 0
    assert "UNSUPPORTED" in out and "qr" in out
    code, out, _ = run(["model", "cli_models:unsupported", "--input", "4x8", "--json"], capsys)
    assert any("qr" in op for op in json.loads(out)["unsupported_ops"])


BAD = [
    (["model", "torchvision:resnet9000", "--input", "1x3x8x8"], "TARGET"),
    (["model", "resnet18", "--input", "1x3x8x8"], "TARGET"),
    (["model", "no_such_module_xyz:build", "--input", "1x3x8x8"], "TARGET"),
    (["model", "cli_models:missing", "--input", "1x3x8x8"], "TARGET"),
    (["model", "cli_models:broken", "--input", "1x3x8x8"], "TARGET"),
    (["model", "cli_models:not_a_module", "--input", "1x3x8x8"], "TARGET"),
    (["model", "torchvision:resnet18", "--input", "1x3xAx8"], "--input"),
    (["model", "torchvision:resnet18", "--input", "0x3x8x8"], "--input"),
    (["model", "torchvision:resnet18", "--input", "1x3x8x8:float99"], "--input"),
    (["model", "torchvision:resnet18", "--input", "1-x=1x3"], "--input"),
    (["model", "torchvision:resnet18"], "--input"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--mode", "eval"], "--mode"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--optimizer", "lion"],
     "--optimizer"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--dtype", "int3"], "--dtype"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--amp", "fp8"], "--amp"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--freeze", "(("], "--freeze"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--depth", "-1"], "--depth"),
    (["model", "torchvision:resnet18", "--input", "1x3x64x64", "--mode", "inference",
      "--optimizer", "sgd"], "--optimizer"),
    (["model", "torchvision:resnet18", "--input", "1x3x2x2"], "model"),
]


@pytest.mark.parametrize(("args", "needle"), BAD)
def test_bad_input(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(args, capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.slow
def test_timm_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "timm:resnet18", "--input", "1x3x64x64", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["totals"]["params"] == 11_689_512  # same architecture as torchvision's resnet18
    code, out, err = run(["model", "timm:not_a_model", "--input", "1x3x32x32"], capsys)
    assert code == 2 and "TARGET" in err


def test_json_ops_and_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*R18, "--json", "--ops", "--timeline", "--device", "h100-sxm"], capsys)
    assert code == 0, err
    d = json.loads(out)
    ops = d["ops"]
    # every counted op is listed once: their FLOPs add up to the phase totals
    assert sum(o["flops"] for o in ops if o["phase"] == "forward") == \
        d["totals"]["forward"]["flops"]
    assert sum(o["flops"] for o in ops if o["phase"] == "backward") == \
        d["totals"]["backward"]["flops"]
    conv = ops[0]
    assert conv["op"] == "convolution.default" and conv["module"] == "conv1"
    # bytes: input 2·3·64·64 + weight 64·3·7·7 floats read, output 2·64·32·32 written
    assert conv["bytes_read"] == (2 * 3 * 64 * 64 + 64 * 3 * 7 * 7) * 4
    assert conv["bytes_written"] == 2 * 64 * 32 * 32 * 4
    assert conv["time_s"] == max(conv["flops"] / 67e12, (conv["bytes_read"]
                                                          + conv["bytes_written"]) / 3.35e12)
    tl = d["memory"]["timeline"]["train"]
    assert len(tl["rows"]) == len(tl["labels"]) and max(map(sum, tl["rows"])) == \
        d["memory"]["peak_train_bytes"]
