"""Sweeps, comparisons, terminal tables and notebook views."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cli_run import run
from shared import R18, CliRun, TorchvisionAnalysis


@pytest.mark.slow
def test_sweep_rows_equal_single_analyses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*R18, "--batch", "1,4", "--resolution", "64,96", "--json"], capsys)
    assert code == 0, err
    sweep = json.loads(out)["sweep"]
    assert [(s["batch"], s["resolution"]) for s in sweep] == [(1, 64), (1, 96), (4, 64),
                                                               (4, 96)]
    for s in sweep:
        b, res = s["batch"], s["resolution"]
        _, single, _ = run(["model", "torchvision:resnet18", "--input", f"{b}x3x{res}x{res}",
                            "--json"], capsys)
        d = json.loads(single)
        assert s["totals"] == d["totals"] and s["memory"] == d["memory"]
        assert s["inputs"][0]["shape"] == [b, 3, res, res]
    # MACs are linear in the batch for a fixed resolution (FLOPs are affine: batch-norm
    # statistics have per-channel terms that do not grow with the batch)
    assert sweep[2]["totals"]["forward"]["macs"] == 4 * sweep[0]["totals"]["forward"]["macs"]


@pytest.mark.slow
def test_sweep_table_one_row_per_setting(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*R18, "--batch", "1,2,3"], capsys)
    assert code == 0
    rows = [line for line in out.splitlines() if line[:1].isdigit()]
    assert [r.split()[0] for r in rows] == ["1", "2", "3"]
    code, out, _ = run([*R18, "--resolution", "64,96", "--format", "csv"], capsys)
    assert [r["resolution"] for r in csv.DictReader(io.StringIO(out))] == ["64", "96"]
    code, out, _ = run([*R18, "--batch", "2", "--format", "markdown"], capsys)
    assert out.startswith("| batch |")


@pytest.mark.parametrize(("args", "flag"), [
    (["--batch", "0"], "--batch"),
    (["--batch", "1,x"], "--batch"),
    (["--resolution", "-3"], "--resolution"),
    (["--batch", "2", "--fit", "--device", "h100-sxm"], "--fit"),
])
def test_sweep_bad_input(args: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run([*R18, *args], capsys)
    assert code == 2 and flag in err and len(err.strip().splitlines()) == 1


def test_resolution_needs_spatial_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["model", "cli_models:unsupported", "--input", "4x8", "--resolution",
                        "16"], capsys)
    assert code == 2 and "--resolution" in err


@pytest.mark.slow
def test_compare_two_entries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["compare", "torchvision:resnet18", "torchvision:resnet18 --amp bf16",
                          "--input", "2x3x64x64", "--json"], capsys)
    assert code == 0, err
    a, b = json.loads(out)["compare"]
    assert a["label"] == "torchvision:resnet18" and b["amp"] == "bfloat16"
    assert a["totals"] == b["totals"]  # autocast changes dtypes, not the arithmetic
    assert a["memory"]["params_bytes"] == b["memory"]["params_bytes"]  # fp32 master weights
    code, out, _ = run(["compare", "torchvision:resnet18", "torchvision:mobilenet_v2",
                        "--input", "2x3x64x64"], capsys)
    assert code == 0 and "B / A" in out and "A: torchvision:resnet18" in out


def test_compare_entry_inputs_override_shared(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["compare", "torchvision:resnet18 --input 4x3x64x64",
                          "torchvision:resnet18", "--input", "2x3x64x64", "--format", "csv"],
                         capsys)
    assert code == 0, err
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(out))}
    fwd = rows["forward MACs"]
    a, b = (int(v) for k, v in fwd.items() if k not in ("metric", "B / A"))
    assert a == 2 * b


@pytest.mark.parametrize(("args", "needle"), [
    (["compare", "torchvision:resnet18", "--input", "2x3x64x64"], "ENTRY"),
    (["compare", "torchvision:resnet18", "'unclosed", "--input", "2x3x64x64"], "ENTRY"),
    (["compare", "torchvision:resnet18", "torchvision:nope", "--input", "2x3x64x64"], "TARGET"),
    (["compare", "torchvision:resnet18", "torchvision:resnet18 --fit", "--input", "2x3x64x64",
      "--device", "h100-sxm"], "ENTRY"),
])
def test_compare_bad_input(args: list[str], needle: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(args, capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_unknown_flag_outside_compare(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*LAYER_ARGS, "--bogus"], capsys)
    assert code == 2 and "--bogus" in err


LAYER_ARGS = ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3"]


def test_rich_table_has_colour_and_same_cells() -> None:
    from convcost.renderers.terminal import rich_table
    from convcost.renderers.text import text_table

    header, rows = ["name", "value", "bound"], [["a", "1.00 G", "compute"], ["b", "2", "memory"]]
    coloured = rich_table(header, rows, "", (0,))
    plain = text_table(header, rows, "", (0,))
    assert "\x1b[" in coloured and "\x1b[" not in plain
    for cell in ("1.00 G", "compute", "memory"):
        assert cell in coloured and cell in plain


def test_piped_output_has_no_colour(cli_once: CliRun) -> None:
    code, out, _ = cli_once([*R18, "--depth", "1"])
    assert code == 0 and "\x1b[" not in out
    assert "fwd FLOPs" in out and "(model)" in out  # the table is there, in plain text


def test_notebook_views(torchvision_analysis: TorchvisionAnalysis) -> None:
    import convcost

    r = torchvision_analysis("resnet18", (2, 3, 64, 64))
    df = r.to_pandas()
    assert df.loc["conv1", "forward_macs"] == r.layer("conv1").forward.macs
    assert df.loc["", "forward_flops"] == r.totals.forward.flops
    html = r._repr_html_()
    assert html.startswith("<div") and "<table" in html and "layer1" in html
    c = convcost.conv_cost(in_channels=3, out_channels=8, input_size=(8, 8), kernel=3)
    cdf = c.to_pandas()
    assert cdf.loc["forward", "mults"] == c.forward.mults
    assert cdf.loc["backward", "flops"] == c.backward.total.flops
    assert "<table" in c._repr_html_()


def test_compare_tables_show_the_sharding_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """Entries that differ by --devices/--strategy: the tables have the JSON's per-device
    and communication rows (issue 27), not only the rows both entries share."""
    tiny = "robust_models:tiny --input 2x2x4x4"
    args = ["compare", tiny, f"{tiny} --devices 2 --strategy zero2", "--optimizer", "adam"]
    code, out, err = run([*args, "--format", "csv"], capsys)
    assert code == 0, err
    rows = {r["metric"]: list(r.values())[1:3] for r in csv.DictReader(io.StringIO(out))}
    # tiny: conv 2·3·9 + 3 = 57 and linear 3·2 + 2 = 8 parameters, fp32: 260 B; ZeRO-2
    # shards gradients and Adam's two moments over 2 devices: 130 B and 2·260 / 2 = 260 B
    assert rows["devices"] == ["1", "2"]
    assert rows["sharding strategy"] == ["None", "zero2"]
    assert float(rows["params per device"][1]) == 260
    assert float(rows["grads per device"][1]) == 130
    # the JSON says the same
    code, out, _ = run([*args, "--json"], capsys)
    dist = json.loads(out)["compare"][1]["distributed"]
    assert dist["grads_bytes_per_device"] == 130 and dist["interconnect"] == "nvlink4"
    for fmt, needle in (("table", "sharding strategy"), ("markdown", "| sharding strategy |")):
        code, out, _ = run([*args, "--format", fmt], capsys)
        assert code == 0 and needle in out and "communication per step" in out
