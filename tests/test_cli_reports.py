"""CLI wiring of the HTML report and the plot files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cli_run import run
from convcost.layer import conv_cost
from convcost.renderers import svg
from images import assert_not_blank, assert_png_of_svg, png_pixels
from shared import R18, TorchvisionAnalysis

SVG_NS = "{http://www.w3.org/2000/svg}"
LAYER = ["conv", "--input", "3x32x32", "--out-channels", "8", "--kernel", "3", "--padding", "1"]


def test_model_html_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.html"
    code, out, err = run([*R18, "--device", "h100-sxm", "--format", "html", "--output",
                          str(out_file), "--plot", str(tmp_path / "r.svg")], capsys)
    assert code == 0, err
    assert out == ""  # the report went to the file
    html = out_file.read_text()
    assert html.startswith("<!DOCTYPE html>") and "torchvision:resnet18" in html
    assert "http://" not in html and "https://" not in html
    for chart in ("flops", "memory", "roofline"):
        doc = (tmp_path / f"r-{chart}.svg").read_text()
        assert doc.lstrip().startswith("<svg") or doc.lstrip().startswith("<?xml")
        # that chart, of this model
        root = ET.fromstring(doc)
        assert root.get("class") == f"chart {chart}-chart"
        assert "torchvision:resnet18" in root.findtext(f"{SVG_NS}title", "")


def test_model_png_plot_without_device(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       torchvision_analysis: TorchvisionAnalysis) -> None:
    code, _, err = run([*R18, "--plot", str(tmp_path / "p.png")], capsys)
    assert code == 0, err
    # the PNG is the FLOPs chart of the same model and input (its size: one bar per layer)
    same = torchvision_analysis("resnet18", (2, 3, 64, 64))
    assert_png_of_svg(tmp_path / "p-flops.png", svg.flops_chart(same))
    assert_not_blank(png_pixels(tmp_path / "p-memory.png"))
    assert not (tmp_path / "p-roofline.png").exists()  # no device, no roofline


def test_conv_html_to_stdout_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*LAYER, "--format", "html", "--lang", "zh"], capsys)
    assert code == 0, err
    assert "<math" in out and "输出尺寸" in out
    code, _, err = run([*LAYER, "--plot", str(tmp_path / "c.png")], capsys)
    assert code == 0, err
    assert [p.name for p in tmp_path.glob("c*.png")] == ["c.png"]
    layer = conv_cost(in_channels=3, out_channels=8, input_size=(32, 32), kernel=3, padding=1)
    assert_png_of_svg(tmp_path / "c.png", svg.conv_chart(layer))


def test_output_writes_any_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "layer.json"
    code, out, _ = run([*LAYER, "--json", "--output", str(target)], capsys)
    assert code == 0 and out == "" and '"macs"' in target.read_text()


@pytest.mark.parametrize(("args", "flag"), [
    ([*LAYER, "--plot", "x.gif"], "--plot"),
    ([*LAYER, "--plot", "/no/such/dir/x.svg"], "--plot"),
    ([*LAYER, "--json", "--output", "/no/such/dir/x.json"], "--output"),
    ([*R18, "--plot", "x.jpg"], "--plot"),
    ([*R18, "--batch", "1,2", "--format", "html"], "--format"),
    ([*R18, "--batch", "1,2", "--plot", "x.svg"], "--plot"),
    (["compare", "torchvision:resnet18", "torchvision:resnet18 --format html", "--input",
      "2x3x64x64"], "ENTRY"),
])
def test_bad_report_options(args: list[str], flag: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(args, capsys)
    assert code == 2 and flag in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
