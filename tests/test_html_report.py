"""HTML report, SVG charts and plot files; the HTML pages are opened in real headless Chromium.

Browser checks: the page loads nothing but itself (every other request is blocked and
recorded), logs no console error (a CSP violation would be one) and no page error, every
chart has one mark per layer, the per-layer table sorts, filters and collapses, and a
screenshot is saved under ``artifacts/`` (gitignored) as a test artefact.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from playwright.sync_api import Browser, Page, sync_playwright

from convcost.errors import SpecError
from convcost.expr import FloorDiv, Term, Var, add, latex_mathml, mul, sub
from convcost.hardware.answer import Hardware
from convcost.hardware.devices import get_device
from convcost.hardware.step import StepTime, step_time
from convcost.layer import conv_cost
from convcost.memory.timeline import CATEGORIES
from convcost.model import ModelResult, analyze
from convcost.renderers import svg
from convcost.renderers.html import conv_html, model_html
from convcost.renderers.svg import plots
from images import assert_not_blank, assert_png_of_svg, png_pixels
from shared import TorchvisionAnalysis

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SVG_NS = "{http://www.w3.org/2000/svg}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def resnet18(torchvision_analysis: TorchvisionAnalysis) -> tuple[ModelResult, StepTime]:
    result = torchvision_analysis("resnet18", "2x3x64x64", optimizer="sgd",
                                  name="torchvision:resnet18")
    return result, step_time(result, get_device("h100-sxm"))


@pytest.fixture(scope="module")
def tiny_inference() -> ModelResult:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 5))
    return analyze(model, "2x3x8x8", mode="inference", name="tiny")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@dataclass
class Opened:
    page: Page
    url: str
    requests: list[str]
    blocked: list[str]
    errors: list[str]


def _open(browser: Browser, path: Path) -> Opened:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    url = path.resolve().as_uri()
    opened = Opened(page, url, [], [], [])

    def route(r: Any) -> None:
        if r.request.url == url:
            r.continue_()
        else:
            opened.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("request", lambda req: opened.requests.append(req.url))
    page.on("console", lambda m: opened.errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: opened.errors.append(f"page error: {e}"))
    page.goto(url)
    page.wait_for_load_state("load")
    return opened


@pytest.fixture(scope="module")
def model_page(browser: Browser, resnet18: tuple[ModelResult, StepTime],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opened]:
    result, step = resnet18
    path = tmp_path_factory.mktemp("html") / "resnet18.html"
    path.write_text(model_html(result, Hardware(step=step)), encoding="utf-8")
    opened = _open(browser, path)
    yield opened
    opened.page.close()


def _leaves(result: ModelResult) -> list[str]:
    return [row.name for row in result.layers if row.leaf]


def _visible_paths(page: Page) -> list[str]:
    return list(page.evaluate(
        "Array.from(document.querySelectorAll('#layer-table tbody tr'))"
        ".filter(r => r.getClientRects().length > 0).map(r => r.dataset.path)"))


def _column(page: Page, col: int) -> list[str]:
    return list(page.evaluate(
        f"Array.from(document.querySelectorAll('#layer-table tbody tr'))"
        f".map(r => r.cells[{col}].dataset.value)"))


def _header_index(page: Page, label: str) -> int:
    labels = page.eval_on_selector_all("#layer-table thead th", "ths => ths.map(t => t.innerText)")
    return [re.sub(r"[ ▲▼]+$", "", x) for x in labels].index(label)


# --------------------------------------------------------------------------- model page


@pytest.mark.browser
def test_model_page_is_offline_and_error_free(model_page: Opened) -> None:
    assert model_page.requests == [model_page.url]
    assert model_page.blocked == []
    assert model_page.errors == []
    page = model_page.page
    csp = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert csp is not None and "default-src 'none'" in csp
    html = page.content()
    assert "http://" not in html and "https://" not in html


@pytest.mark.browser
def test_model_page_summary(model_page: Opened, resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    text = model_page.page.inner_text("#summary")
    assert "torchvision:resnet18" in text and "2×3×64×64" in text and "h100-sxm" in text
    assert "MACs are multiply-accumulates" in text and "FLOPs count every scalar" in text
    for label in ("parameters", "gradients", "saved activations", "peak, training step"):
        assert label in text
    exact_total = model_page.page.get_attribute("#compute tr:nth-child(2) td:nth-child(3)",
                                                "data-value")
    assert exact_total == str(result.totals.forward.flops)
    assert model_page.page.locator("#unsupported").count() == 0


@pytest.mark.browser
def test_flops_chart_has_one_group_per_leaf_layer(model_page: Opened,
                                                  resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    groups = model_page.page.eval_on_selector_all(
        "#flops-figure svg g.layer", "gs => gs.map(g => g.dataset.layer)")
    assert groups == _leaves(result)
    series = set(model_page.page.eval_on_selector_all(
        "#flops-figure svg .mark", "ms => ms.map(m => m.dataset.series)"))
    assert series == {"forward", "grad_input", "grad_weight"}
    conv1 = model_page.page.locator('#flops-figure rect.mark[data-layer="conv1"]')
    # conv1 reads the model input, which needs no gradient: forward and grad-weight only
    assert conv1.count() == 2
    box = model_page.page.locator("#flops-figure svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200


@pytest.mark.browser
def test_roofline_has_one_circle_per_timed_leaf_layer(
        model_page: Opened, resnet18: tuple[ModelResult, StepTime]) -> None:
    result, step = resnet18
    leaves = set(_leaves(result))
    expected = [lt.name for lt in step.layers if lt.name in leaves
                and lt.forward_s + lt.backward_s > 0 and lt.forward_flops + lt.backward_flops > 0
                and lt.forward_bytes + lt.backward_bytes > 0]
    assert len(expected) > 10
    circles = model_page.page.eval_on_selector_all(
        "#roofline-figure svg circle.mark", "cs => cs.map(c => c.dataset.layer)")
    assert circles == expected
    titles = model_page.page.locator("#roofline-figure svg circle.mark > title")
    assert titles.count() == len(expected)


@pytest.mark.browser
def test_memory_chart_has_category_areas_and_peak(
        model_page: Opened, resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    tl = result.memory.train_timeline
    assert tl is not None
    present = [c for j, c in enumerate(CATEGORIES) if any(r[j] for r in tl.rows)]
    areas = model_page.page.eval_on_selector_all(
        "#memory-figure svg path.mark.area", "ps => ps.map(p => p.dataset.series)")
    assert areas == present and {"parameters", "gradients", "activations"} <= set(areas)
    peak = model_page.page.locator("#memory-figure svg g.peak")
    assert peak.count() == 1
    assert peak.get_attribute("data-value") == str(result.memory.peak_train_bytes)
    phases = set(model_page.page.eval_on_selector_all(
        "#memory-figure rect.phase", "rs => rs.map(r => r.dataset.phase)"))
    assert {"forward", "backward", "optimizer"} <= phases


@pytest.mark.browser
def test_table_sorts_by_clicking_a_numeric_header(model_page: Opened,
                                                  resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    page = model_page.page
    col = _header_index(page, "fwd FLOPs")
    header = page.locator("#layer-table thead th").nth(col).locator("button")
    header.click()
    values = [int(v) for v in _column(page, col)]
    assert values == sorted(values, reverse=True) and values[0] == result.totals.forward.flops
    header.click()
    values = [int(v) for v in _column(page, col)]
    assert values == sorted(values)
    page.locator("#layer-table thead th").nth(0).locator("button").click()
    assert page.eval_on_selector_all("#layer-table tbody tr", "rs => rs.map(r => r.dataset.path)") \
        == [row.name for row in result.layers]


@pytest.mark.browser
def test_table_shows_exact_numbers_on_hover(model_page: Opened,
                                            resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    page = model_page.page
    col = _header_index(page, "fwd FLOPs")
    cell = page.locator('#layer-table tr[data-path="layer1.0.conv1"] td').nth(col)
    cell.hover()
    assert cell.get_attribute("title") == f"{result.layer('layer1.0.conv1').forward.flops:,}"
    saved = page.locator('#layer-table tr[data-path="layer1.0.bn1"] td').nth(
        _header_index(page, "saved"))
    saved.hover()
    assert saved.get_attribute("title") == f"{result.layer('layer1.0.bn1').saved_bytes:,} B"


@pytest.mark.browser
def test_table_filter_hides_non_matching_rows(model_page: Opened,
                                              resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    page = model_page.page
    page.fill("#layer-filter", "bn")
    expected = [row.name for row in result.layers
                if "bn" in row.name.lower() or "bn" in row.type.lower()]
    assert _visible_paths(page) == expected and 0 < len(expected) < len(result.layers)
    assert page.inner_text("#layer-count").startswith(f"{len(expected)} of")
    page.fill("#layer-filter", "BatchNorm")
    assert all(result.layer(p).type == "BatchNorm2d" for p in _visible_paths(page))
    page.fill("#layer-filter", "")
    assert len(_visible_paths(page)) == len(result.layers)


@pytest.mark.browser
def test_table_collapses_a_parent(model_page: Opened,
                                  resnet18: tuple[ModelResult, StepTime]) -> None:
    result, _ = resnet18
    page = model_page.page
    all_paths = [row.name for row in result.layers]
    below = [p for p in all_paths if p.startswith("layer2.")]
    assert below
    page.click('#layer-table tr[data-path="layer2"] td:nth-child(2)')
    visible = _visible_paths(page)
    assert "layer2" in visible and not set(below) & set(visible)
    assert visible == [p for p in all_paths if p not in below]
    # a collapsed child stays collapsed when its parent is expanded again
    page.click('#layer-table tr[data-path="layer2"] td:nth-child(2)')
    page.click('#layer-table tr[data-path="layer3.0"] td:nth-child(2)')
    visible = _visible_paths(page)
    assert set(below) <= set(visible)
    assert not [p for p in visible if p.startswith("layer3.0.")]
    page.click("#collapse-all")
    assert _visible_paths(page) == [row.name for row in result.layers if row.depth <= 1]
    page.click("#expand-all")
    assert len(_visible_paths(page)) == len(all_paths)
    assert model_page.errors == []


@pytest.mark.browser
def test_model_page_screenshot(model_page: Opened) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "html-model-resnet18.png"
    model_page.page.evaluate("window.scrollTo(0, 0)")
    model_page.page.screenshot(path=str(shot), full_page=True)
    # the whole page (1400 px wide viewport, scale 1), not blank
    size = model_page.page.evaluate("[document.documentElement.scrollWidth, "
                                    "document.documentElement.scrollHeight]")
    pixels = png_pixels(shot)
    assert [pixels.shape[1], pixels.shape[0]] == size and size[0] == 1400 and size[1] > 1000
    assert_not_blank(pixels)
    assert model_page.errors == []


# --------------------------------------------------------------------------- one layer


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_conv_page(browser: Browser, tmp_path: Path, lang: str) -> None:
    r = conv_cost(in_channels=3, out_channels=64, input_size=(224, 224), kernel=7, stride=2,
                  padding=3, bias=False)
    path = tmp_path / f"conv-{lang}.html"
    path.write_text(conv_html(r, lang), encoding="utf-8")
    opened = _open(browser, path)
    page = opened.page
    try:
        assert opened.requests == [opened.url] and opened.blocked == []
        assert opened.errors == []
        maths = page.locator("math")
        assert maths.count() > 20
        assert page.locator("math mfrac").count() > 0 and page.locator("math msub").count() > 0
        box = maths.first.bounding_box()
        assert box is not None and box["height"] > 5 and box["width"] > 5
        # the explanation's sections in the text explanation's order, with its sentences
        ids = page.eval_on_selector_all("section.step", "ss => ss.map(s => s.id)")
        assert ids == ["step-output", "step-taps", "step-forward", "step-memory_forward",
                       "step-memory_backward", "step-grad_input", "step-grad_weight",
                       "step-backward", "step-approx"]
        text = page.inner_text("#explanation")
        assert ("802,816" in text) and ("-802,816" in text)
        marks = page.eval_on_selector_all(
            "#chart svg .mark", "ms => ms.map(m => m.dataset.layer + '/' + m.dataset.series)")
        assert "forward/approx" in marks and "backward/approx" in marks
        assert "grad_weight/mults" in marks
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"html-conv-{lang}.png"), full_page=True)
    finally:
        page.close()


def test_conv_page_math_matches_the_terms() -> None:
    r = conv_cost(in_channels=8, out_channels=8, input_size=(17, 9), kernel=3, stride=2,
                  padding=((1, 2), (0, 1)), dilation=2, groups=4)
    page = conv_html(r)
    # every formula term is shown, with its exact value
    for sec in r.terms.sections:
        for t in sec.terms:
            assert f"<mn>{t.value:,}</mn>" in page
    assert "<mo>⌊</mo>" in page and "<msub><mi>δ</mi><mi>h</mi></msub>" in page
    assert "<msubsup><mi>p</mi><mi>h</mi><mi>b</mi></msubsup>" in page


def test_model_page_shows_unsupported_ops_and_inference_mode(tiny_inference: ModelResult) -> None:
    import cli_models

    result = analyze(cli_models.unsupported(), "2x8", name="unsupported")
    assert result.unsupported_ops
    page = model_html(result)
    alert = page[page.index('id="unsupported"'):]
    assert "NOT in any total" in alert and result.unsupported_ops[0][0] in alert
    assert page.index('id="unsupported"') < page.index('id="summary"')
    page = model_html(tiny_inference)
    assert 'id="unsupported"' not in page and 'id="roofline-figure"' not in page
    assert "bwd ∂input" not in page and 'id="flops-figure"' in page
    assert page.count('<tr class="d') == len(tiny_inference.layers)


# --------------------------------------------------------------------------- size


@pytest.mark.slow
def test_resnet50_report_stays_under_2_mb() -> None:
    model = torchvision.models.resnet50(weights=None)
    result = analyze(model, "32x3x224x224", optimizer="sgd", name="torchvision:resnet50")
    page = model_html(result, Hardware(step=step_time(result, get_device("h100-sxm"))))
    assert len(result.layers) > 150
    assert page.count("<tr class=\"d") == len(result.layers)
    assert len(page.encode("utf-8")) < 2 * 1024 * 1024


# --------------------------------------------------------------------------- SVG charts


def _parse(doc: str) -> ET.Element:
    root = ET.fromstring(doc)
    assert root.tag == f"{SVG_NS}svg" and root.get("viewBox")
    assert root.find(f"{SVG_NS}title") is not None
    return root


def _marks(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "mark" in (e.get("class") or "").split()]


def test_svg_flops_chart(resnet18: tuple[ModelResult, StepTime],
                         tiny_inference: ModelResult) -> None:
    result, _ = resnet18
    root = _parse(svg.flops_chart(result))
    groups = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "layer"]
    assert [g.get("data-layer") for g in groups] == _leaves(result)
    for g, row in zip(groups, (row for row in result.layers if row.leaf)):
        values = {m.get("data-series"): int(m.get("data-value", "")) for m in _marks(g)}
        b = row.backward
        expected = {"forward": row.forward.flops, "grad_input": b.grad_input.flops,
                    "grad_weight": b.grad_weight.flops + b.grad_bias.flops}
        assert values == {k: v for k, v in expected.items() if v}
    inf = _parse(svg.flops_chart(tiny_inference))
    assert {m.get("data-series") for m in _marks(inf)} == {"forward"}
    assert len([g for g in inf.iter(f"{SVG_NS}g") if g.get("class") == "layer"]) \
        == len(_leaves(tiny_inference))


def test_svg_memory_chart_thins_long_timelines_but_keeps_the_peak(
        resnet18: tuple[ModelResult, StepTime], tiny_inference: ModelResult) -> None:
    totals = [(i * 7919) % 1000 for i in range(5000)]
    totals[3217] = 5000
    keep = svg.downsample(totals, 100)
    assert 3217 in keep and keep[0] == 0 and keep[-1] == 4999 and len(keep) <= 102
    assert svg.downsample([1, 2, 3], 100) == [0, 1, 2]
    result, _ = resnet18
    root = _parse(svg.memory_chart(result))
    peaks = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "peak"]
    assert len(peaks) == 1 and peaks[0].get("data-value") == str(result.memory.peak_train_bytes)
    inf = _parse(svg.memory_chart(tiny_inference))
    peaks = [g for g in inf.iter(f"{SVG_NS}g") if g.get("class") == "peak"]
    assert peaks[0].get("data-value") == str(tiny_inference.memory.peak_inference_bytes)
    assert {m.get("data-series") for m in _marks(inf)} <= set(CATEGORIES)


def test_svg_roofline_and_conv_charts(resnet18: tuple[ModelResult, StepTime]) -> None:
    result, step = resnet18
    root = _parse(svg.roofline_chart(result, step))
    circles = [m for m in _marks(root) if m.tag == f"{SVG_NS}circle"]
    assert circles and {c.get("data-series") for c in circles} <= {"compute", "memory"}
    assert all(c.find(f"{SVG_NS}title") is not None for c in circles)
    r = conv_cost(in_channels=3, out_channels=8, input_size=(9, 9), kernel=3, padding=1)
    marks = _marks(_parse(svg.conv_chart(r)))
    got = {(m.get("data-layer"), m.get("data-series")): int(m.get("data-value", "")) for m in marks}
    assert len(marks) == 12  # 5 passes × (mults, adds) + 2 approximations
    assert got["forward", "mults"] == r.forward.mults and got["forward", "adds"] == r.forward.adds
    assert got["forward", "approx"] == r.seed_forward_flops
    assert got["backward", "approx"] == r.seed_backward_flops
    assert got["grad_bias", "adds"] == r.backward.grad_bias.adds


# --------------------------------------------------------------------------- plot files


def test_plots_write_svg_and_png(resnet18: tuple[ModelResult, StepTime], tmp_path: Path) -> None:
    result, step = resnet18
    written = plots(result, Hardware(step=step), tmp_path / "fig.svg")
    assert [p.name for p in written] == ["fig-flops.svg", "fig-memory.svg", "fig-roofline.svg",
                                          "fig-time.svg"]
    for p in written:
        _parse(p.read_text(encoding="utf-8"))
    written = plots(result, None, tmp_path / "fig.png")
    assert [p.name for p in written] == ["fig-flops.png", "fig-memory.png"]
    for p, chart in zip(written, (svg.flops_chart(result), svg.memory_chart(result))):
        assert_png_of_svg(p, chart)
    layer = conv_cost(in_channels=3, out_channels=4, input_size=(8, 8), kernel=3)
    conv = svg.conv_plot(layer, tmp_path / "layer.png")
    assert conv == [tmp_path / "layer.png"]
    assert_png_of_svg(conv[0], svg.conv_chart(layer))


@pytest.mark.parametrize("name", ["fig.pdf", "fig", "missing-dir/fig.svg"])
def test_plots_reject_bad_paths(resnet18: tuple[ModelResult, StepTime], tmp_path: Path,
                                name: str) -> None:
    result, _ = resnet18
    with pytest.raises(SpecError, match=r"^plot: ") as err:
        plots(result, None, tmp_path / name)
    assert err.value.field == "plot"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- MathML


def test_mathml_rendering_of_expressions() -> None:
    assert latex_mathml("h_{out}") == "<msub><mi>h</mi><mi>out</mi></msub>"
    assert latex_mathml(r"\delta_h") == "<msub><mi>δ</mi><mi>h</mi></msub>"
    assert latex_mathml("p^{b}_h") == "<msubsup><mi>p</mi><mi>h</mi><mi>b</mi></msubsup>"
    assert latex_mathml(r"F_{fwd}^{\approx}") == \
        "<msubsup><mi>F</mi><mi>fwd</mi><mo>≈</mo></msubsup>"
    assert latex_mathml(r"|\partial Y|") == "<mrow><mo>|</mo><mi>∂</mi><mi>Y</mi><mo>|</mo></mrow>"
    assert latex_mathml(r"\mathrm{MACs}") == "<mi>MACs</mi>"
    h = Var("h", "h", 224)
    k = Var("k_h", "k_h", 7)
    s = Var("s_h", "s_h", 2)
    p = Var("p_h", "p_h", 3)
    e = add(FloorDiv(sub(add(h, mul(2, p)), k), s), 1)
    assert e.render("plain") == "⌊(h + 2·p_h − k_h)/s_h⌋ + 1"
    assert e.render("plain", numeric=True) == "⌊(224 + 2·3 − 7)/2⌋ + 1"
    ml = e.render("mathml")
    assert ml.startswith("<mrow><mrow><mo>⌊</mo><mfrac>") and "<mo>·</mo>" in ml
    assert "<msub><mi>k</mi><mi>h</mi></msub>" in ml and "<mo>−</mo>" in ml
    num = e.render("mathml", numeric=True)
    assert "<mn>224</mn>" in num and "<mn>7</mn>" in num
    t = Term("h_out", "h_out", "h_{out}", e)
    steps = t.steps("mathml")
    assert steps[0] == "<msub><mi>h</mi><mi>out</mi></msub>" and steps[-1] == "<mn>112</mn>"
    assert t.render("plain") == ("h_out = ⌊(h + 2·p_h − k_h)/s_h⌋ + 1 = ⌊(224 + 2·3 − 7)/2⌋ + 1"
                                 " = 112")
    # well-formed XML in every style of every conv term
    r = conv_cost(in_channels=4, out_channels=6, input_size=(9,), kernel=3, stride=2, padding=1,
                  transposed=True, output_padding=1)
    for sec in r.terms.sections:
        for term in sec.terms:
            ET.fromstring(f"<math>{term.render('mathml')}</math>")
