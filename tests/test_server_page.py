"""The page of ``convcost serve`` (``/``, ``static/``) and ``GET /api/models``, against the real
server started on a free loopback port in a subprocess.

Without a browser: ``/`` and every static file are served with the page's CSP and name no
external URL; the model list equals what torchvision and timm list. In headless Chromium
(Playwright, as tests/test_html_report.py): the layer form's numbers (found by ``data-field``)
equal the CLI's ``--format json`` for the same layer, in both counting conventions; a bad value
is shown next to its control; the language switch changes the labels; a small torchvision model
runs and its report, JSON link and download link appear; no request leaves the server's origin
and there is no page error and no console error (a CSP violation would be one). A screenshot
of the page with a layer result is saved under ``artifacts/`` (gitignored).

Issue 25 (the page finishes the job): a batch of 2^53 + 1 is sent and shown exactly (MACs
checked against Python's integer product), on a phone-sized viewport where the result comes
first and the long number wraps only at its commas; the layer's and the model's "copy as CLI
command" / "copy as curl" are run (the CLI in-process, curl as a subprocess) and give the same
JSON as the page's result; the model report in Chinese (``?lang=zh``: the same numbers, the
headings translated); the cache header and "from the cache" instead of a time; the stale
marker, Cancel, the scroll to the report; a batch sweep and an A/B comparison whose cells equal
the API's documents for each setting; the warning before a detection model; ``hf:`` targets
answered with the right explanation.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli_run import run
from convcost.server.app import PAGE_CSP, STATIC

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

#: The layer of the browser test (conv1 of ResNet): form values and the same as CLI flags.
LAYER_FORM = {"in_channels": "3", "out_channels": "64", "input_size": "224x224", "kernel": "7",
              "stride": "2", "padding": "3"}
LAYER_FLAGS = ["--input", "3x224x224", "--out-channels", "64", "--kernel", "7", "--stride", "2",
               "--padding", "3", "--no-bias"]


# --------------------------------------------------------------------------- the server


def http(url: str, timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
    """(status, headers (lower-case names), body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``convcost serve --workers 1`` on a free port: its base URL, once healthy."""
    home = tmp_path_factory.mktemp("serve-page")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "convcost", "serve", "--port", str(port),
                                 "--workers", "1"], cwd=home, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if http(url + "/api/health", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start\n" + log.read_text()
            time.sleep(0.1)  # polling the health check, with a deadline
        yield url
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the server did not stop within 15 s of SIGINT") from None


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    code, out, err = run(args, capsys)
    assert code == 0, err
    return json.loads(out)


def json_path(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


# --------------------------------------------------------------------------- no browser

EXTERNAL = re.compile(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|"""
                      r"""@import|fetch\(\s*["'`](https?:)?//""", re.I)


def test_page_and_static_files_have_the_csp_and_no_external_url(server: str) -> None:
    status, headers, body = http(server + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == PAGE_CSP
    page = body.decode("utf-8")
    assert "<script>" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page), \
        "inline script (the CSP refuses it)"
    assert not re.search(r"\son[a-z]+\s*=", page), "inline event handler (the CSP refuses it)"
    # every file the page names is one of the static files, and each is served
    named = set(re.findall(r'(?:src|href)="/static/([^"]+)"', page))
    files = sorted(p.name for p in STATIC.iterdir() if p.is_file() and not p.name.startswith("."))
    assert named and named <= set(files)
    assert {"index.html", "app.js", "style.css"} <= set(files)
    for name in files:
        status, headers, body = http(f"{server}/static/{name}")
        assert status == 200, name
        assert headers["content-security-policy"] == PAGE_CSP, name
        assert headers["x-content-type-options"] == "nosniff"
        text = body.decode("utf-8")
        assert not EXTERNAL.search(text), (name, EXTERNAL.search(text))
        assert "http://" not in text and "https://" not in text, name
    assert http(server + "/static/..%2Fapp.py")[0] == 404
    assert http(server + "/static/nothing.js")[0] == 404


def test_models_route(server: str) -> None:
    import torchvision

    status, headers, body = http(server + "/api/models")
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(body)
    assert set(doc) == {"torchvision", "timm"}
    assert doc["torchvision"] == sorted(torchvision.models.list_models())
    assert "resnet18" in doc["torchvision"]
    try:
        import timm
    except ImportError:
        assert doc["timm"] == []
    else:
        assert doc["timm"] == sorted(timm.list_models()) and doc["timm"]
    assert json.loads(http(server + "/api/models")[2]) == doc  # cached: the same again
    spec = json.loads(http(server + "/api/openapi.json")[2])
    assert "/api/models" in spec["paths"]


# --------------------------------------------------------------------------- the browser


@dataclass
class Opened:
    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requests that left the server's origin (blob: URLs of the page's own origin and
        data: URLs stay on this machine)."""
        out = []
        for u in self.requests:
            if u.startswith("data:"):
                continue
            bare = u[len("blob:"):] if u.startswith("blob:") else u
            if not (bare == self.origin or bare.startswith(self.origin + "/")):
                out.append(u)
        return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture
def opened(browser: Any, server: str) -> Iterator[Opened]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    o = Opened(page, server)
    page.on("request", lambda req: o.requests.append(req.url))
    page.on("console", lambda m: o.errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: o.errors.append(f"page error: {e}"))
    page.goto(server + "/")
    page.wait_for_load_state("load")
    try:
        yield o
    finally:
        context.close()


def unexpected(errors: list[str]) -> list[str]:
    """The errors other than the browser's log line for an API answer of 400 (a bad value,
    which the page shows next to its control)."""
    return [e for e in errors if not e.startswith(
        "console error: Failed to load resource: the server responded with a status of 400")]


def fill_layer(page: Any, values: dict[str, str], bias: bool = False) -> None:
    for name, value in values.items():
        page.fill(f'#layer-form [name="{name}"]', value)
    page.set_checked('#layer-form [name="bias"]', bias)


def wait_value(page: Any, selector: str, value: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([s, v]) => { const e = document.querySelector(s); return e && e.dataset.value === v; }",
        arg=[selector, value], timeout=timeout)


@pytest.mark.browser
def test_layer_form(opened: Opened, capsys: pytest.CaptureFixture[str]) -> None:
    page = opened.page
    dense = cli_json(["conv", *LAYER_FLAGS, "--json"], capsys)
    skip = cli_json(["conv", *LAYER_FLAGS, "--counting", "skip-padding", "--json"], capsys)
    # every control is named after its API key and has a label
    for name in ("in_channels", "out_channels", "input_size", "kernel", "stride", "padding",
                 "dilation", "groups", "batch", "bias", "transposed", "output_padding", "dtype",
                 "counting", "input_grad"):
        control = page.locator(f'#layer-form [name="{name}"]')
        assert control.count() == 1, name
        cid = control.get_attribute("id")
        assert page.locator(f'label[for="{cid}"]').count() == 1, name

    fill_layer(page, LAYER_FORM)
    wait_value(page, '[data-field="macs"]', str(dense["macs"]))
    assert page.locator('[data-field="macs"]').count() == 1
    assert page.inner_text('[data-field="macs"]').replace(",", "") == str(dense["macs"])
    assert page.get_attribute('[data-field="output_shape"]', "data-value") == "1x64x112x112"
    # every number on the layer's side equals the CLI's JSON at its data-field path
    page.wait_for_selector('[data-field="skip-padding:forward.flops"]')
    fields = page.eval_on_selector_all(
        "#layer-result [data-field]", "es => es.map(e => [e.dataset.field, e.dataset.value])")
    paths = {f for f, _ in fields}
    for path in ("macs", "forward.flops", "forward.mults", "forward.adds",
                 "backward.grad_input.flops", "backward.grad_weight.flops",
                 "backward.total.flops", "memory.forward.total_bytes",
                 "memory.backward.grad_output", "seed_approx.forward_flops",
                 "dense:forward.flops", "skip-padding:forward.flops",
                 "skip-padding:backward.total.flops"):
        assert path in paths, path
    assert len(paths) == len(fields), "a data-field appears twice"
    for f, value in fields:
        counting, _, path = f.rpartition(":")
        doc = {"": dense, "dense": dense, "skip-padding": skip}[counting]
        want = json_path(doc, path)
        want = "x".join(map(str, want)) if isinstance(want, list) else str(want)
        assert value == want, f
    # the two conventions differ for a padded layer
    assert dense["forward"]["flops"] != skip["forward"]["flops"]
    # the derivation: the layer's HTML report in an iframe (a blob: URL of this page)
    frame = page.frame_locator("#layer-report")
    frame.locator("#step-output").wait_for(timeout=20_000)
    assert (page.get_attribute("#layer-report", "src") or "").startswith("blob:" + opened.origin)
    assert frame.locator("math").count() > 10

    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(ARTIFACTS / "serve-layer.png"))

    assert opened.errors == []
    # a bad value: the error next to its control, no alert, no page error (the browser logs
    # each 400 answer of the API as a console error "Failed to load resource": expected)
    page.on("dialog", lambda d: opened.errors.append(f"dialog: {d.message}"))
    page.fill('#layer-form [name="groups"]', "5")
    page.wait_for_selector('#f-groups[aria-invalid="true"]', timeout=20_000)
    err = page.locator("#f-groups").locator("xpath=..").locator(".error")
    assert "groups" in err.inner_text() and "divide" in err.inner_text()
    described = page.get_attribute("#f-groups", "aria-describedby") or ""
    assert err.get_attribute("id") in described.split()
    page.fill('#layer-form [name="groups"]', "1")
    page.wait_for_selector('#f-groups:not([aria-invalid])', timeout=20_000)
    assert page.locator("#layer-form .field-error").count() == 0
    # a malformed size: the error is the input size's
    page.fill('#layer-form [name="input_size"]', "224xabc")
    page.wait_for_selector('#f-input_size[aria-invalid="true"]', timeout=20_000)
    page.fill('#layer-form [name="input_size"]', "224x224")
    page.wait_for_selector('#f-input_size:not([aria-invalid])', timeout=20_000)

    # the language switch changes the labels, the page's lang and the report's language
    label = page.locator('label[for="f-in_channels"]')
    assert label.inner_text() == "Input channels"
    page.click("#lang-zh")
    assert label.inner_text() == "输入通道数"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#tab-model") == "模型"
    frame.locator("html[lang^='zh']").wait_for(state="attached", timeout=20_000)
    page.click("#lang-en")
    assert label.inner_text() == "Input channels"
    frame.locator("html[lang='en']").wait_for(state="attached", timeout=20_000)
    wait_value(page, '[data-field="macs"]', str(dense["macs"]))

    # no horizontal scroll at 1400 px
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert opened.foreign() == []
    assert unexpected(opened.errors) == []


@pytest.mark.browser
@pytest.mark.slow
def test_model_run(opened: Opened) -> None:
    page = opened.page
    page.click("#tab-model")
    assert page.is_visible("#panel-model") and not page.is_visible("#panel-layer")
    page.wait_for_selector('#model-list option[value="torchvision:resnet18"]', state="attached",
                           timeout=60_000)
    page.fill("#m-target", "torchvision:resnet18")
    page.fill("#m-inputs", "1x3x64x64")
    page.select_option("#m-mode", "inference")
    # the progress indication shows as soon as the run starts
    busy = page.evaluate("""() => {
        document.querySelector('#run').click();
        const p = document.querySelector('#progress');
        return [p.hidden, p.getAttribute('role'), p.getAttribute('aria-busy')];
    }""")
    assert busy == [False, "progressbar", "true"]
    page.wait_for_selector("#model-result", state="visible", timeout=180_000)
    assert page.is_hidden("#progress")
    assert page.locator("#model-form .error:not([hidden])").count() == 0
    json_href = page.get_attribute("#json-link", "href") or ""
    assert re.fullmatch(r"/api/results/[0-9a-f]{32}", json_href), json_href
    assert page.get_attribute("#download-link", "href") == json_href + "?format=html&download=1"
    assert page.get_attribute("#model-report", "src") == json_href + "?format=html"
    frame = page.frame_locator("#model-report")
    frame.locator("body").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => { const d = document.querySelector('#model-report').contentDocument;"
        " return d && d.body && d.body.innerText.includes('resnet18'); }", timeout=60_000)
    status, _, body = http(opened.origin + json_href)
    doc = json.loads(body)
    assert status == 200 and doc["model"] == "torchvision:resnet18"
    status, headers, _ = http(opened.origin + json_href + "?format=html&download=1")
    assert status == 200 and headers["content-disposition"].startswith("attachment")
    assert opened.errors == []
    # an error of the model form is shown next to its control
    page.fill("#m-inputs", "1x3x64xbad")
    page.click("#run")
    page.wait_for_selector('#m-inputs[aria-invalid="true"]', timeout=60_000)
    assert "inputs" in page.inner_text("#model-form .field-error")
    assert opened.foreign() == []
    assert unexpected(opened.errors) == []


@pytest.mark.browser
@pytest.mark.slow
def test_model_run_on_a_device_with_a_reserve(opened: Opened) -> None:
    page = opened.page
    page.click("#tab-model")
    page.wait_for_selector('#m-device option[value="t4"]', state="attached", timeout=60_000)
    assert page.is_disabled("#m-reserve")  # no device: nothing to reserve from
    assert page.is_disabled("#m-channels_last")  # nor a time estimate to shape
    page.fill("#m-target", "torchvision:resnet18")
    page.fill("#m-inputs", "2x3x32x32")
    page.select_option("#m-mode", "train")
    page.select_option("#m-device", "t4")
    assert page.is_enabled("#m-reserve") and page.is_enabled("#m-channels_last")
    page.fill("#m-reserve", "2GiB")
    page.check("#m-channels_last")
    page.click("#run")
    page.wait_for_selector("#model-result", state="visible", timeout=180_000)
    json_href = page.get_attribute("#json-link", "href") or ""
    status, _, body = http(opened.origin + json_href)
    memory = json.loads(body)["hardware"]["memory"]
    assert status == 200 and memory["reserve_bytes"] == 2 * 2**30
    assert json.loads(body)["hardware"]["estimate"]["memory_format"] == "channels_last"
    assert memory["usable_bytes"] == 14 * 2**30
    page.wait_for_function(
        "() => { const d = document.querySelector('#model-report').contentDocument;"
        " return d && d.querySelector('#device-memory'); }", timeout=60_000)
    # a reserve the device cannot give is an error next to the field
    page.fill("#m-reserve", "20GiB")
    page.click("#run")
    page.wait_for_selector('#m-reserve[aria-invalid="true"]', timeout=60_000)
    assert "reserve" in page.inner_text("#model-form .field-error")
    assert opened.foreign() == []
    assert unexpected(opened.errors) == []


def tiny_onnx(path: Path) -> Path:
    """A Conv+Relu graph with a symbolic batch (``input``: N x 3 x 16 x 16)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 16, 16])],
        initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.browser
@pytest.mark.slow
def test_onnx_upload(opened: Opened, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    path = tiny_onnx(tmp_path / "my tiny model.onnx")
    page = opened.page
    page.click("#tab-model")
    assert page.is_hidden("#drop")
    page.set_input_files("#m-file", str(path))  # as choosing it: the source becomes ONNX
    assert page.is_checked("#src-onnx") and page.is_visible("#drop")
    assert "my tiny model.onnx" in page.inner_text("#file-name")
    page.fill("#m-inputs", "input=2x3x16x16")
    page.select_option("#m-mode", "inference")
    page.click("#run")
    page.wait_for_selector("#model-result", state="visible", timeout=180_000)
    json_href = page.get_attribute("#json-link", "href") or ""
    status, _, body = http(opened.origin + json_href)
    doc = json.loads(body)
    assert status == 200 and doc["model"] == "my_tiny_model.onnx"  # the name, sanitised
    assert doc["mode"] == "inference"
    page.wait_for_function(
        "() => { const d = document.querySelector('#model-report').contentDocument;"
        " return d && d.body && d.body.innerText.includes('my_tiny_model.onnx'); }",
        timeout=60_000)
    assert opened.foreign() == []
    assert opened.errors == []


# --------------------------------------------------------------------------- issue 25: the page

#: MACs of LAYER_FORM at batch 1 (README: the classic layer); MACs are linear in the batch.
CLASSIC_MACS = 118_013_952
BIG_BATCH = 2**53 + 1  # 9007199254740993: a float64 rounds it to ...992


def post_json(url: str, body: Any, timeout: float = 180) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_hf_targets_are_explained(server: str) -> None:
    for target in ("hf:gpt2", "hf:org/name"):  # hf:GPT2LMHeadModel builds (issue 27)
        status, _, body = post_json(server + "/api/model", {"target": target,
                                                            "inputs": ["1x8:int64"]})
        doc = json.loads(body)
        assert status == 400 and doc["field"] == "target", (target, doc)
        assert "import and run code" not in doc["error"]
        assert "Hugging Face" in doc["error"] and "downloaded" in doc["error"]
    # an import path is still the 403 it was
    status, _, body = post_json(server + "/api/model", {"target": "os:system", "inputs": []})
    assert status == 403 and "import and run code" in json.loads(body)["error"]


@pytest.mark.slow
def test_model_report_in_chinese_and_the_cache_header(server: str) -> None:
    body = {"target": "torchvision:resnet18", "inputs": ["2x3x32x32"], "mode": "train",
            "optimizer": "sgd", "device": "t4"}
    status, headers, first = post_json(server + "/api/model", body)
    assert status == 200, first
    assert headers["x-convcost-cache"] in ("miss", "hit")  # another test may have run it
    status, headers, again = post_json(server + "/api/model", body)
    assert status == 200 and headers["x-convcost-cache"] == "hit" and again == first
    where = headers["x-convcost-result"]
    status, headers, zh = http(server + where + "?format=html&lang=zh")
    page = zh.decode()
    assert status == 200 and '<html lang="zh">' in page
    for words in ("摘要", "计算量", "内存", "各层", "前向", "反向", "参数量", "在 t4 上"):
        assert words in page, words
    en = http(server + where + "?format=html")[2].decode()
    assert '<html lang="en">' in en and "<h2>Summary</h2>" in en and "摘要" not in en
    # the numbers are the same in both: every data-value of the English report is in the Chinese
    values = re.findall(r"data-value='?\"?([0-9.e+-]+)", en)
    assert values and values == re.findall(r"data-value='?\"?([0-9.e+-]+)", page)
    status, _, err = http(server + where + "?format=html&lang=fr")
    assert status == 400 and json.loads(err)["field"] == "lang"
    status, _, err = http(server + where + "?lang=zh")
    assert status == 400 and json.loads(err)["field"] == "lang"
    status, headers, direct = post_json(server + "/api/model?format=html&lang=zh", body)
    assert status == 200 and direct.decode() == page


@pytest.mark.slow
def test_onnx_report_in_chinese(server: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    data = tiny_onnx(tmp_path / "tiny.onnx").read_bytes()
    req = urllib.request.Request(
        server + "/api/onnx?format=html&lang=zh&input=input%3D2x3x16x16&mode=inference",
        data=data, method="POST", headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=180) as r:
        page = r.read().decode()
    assert '<html lang="zh">' in page and "摘要" in page


@pytest.fixture
def narrow(browser: Any, server: str) -> Iterator[Opened]:
    """The page on a phone-sized viewport (390 × 844), in English."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    o = Opened(page, server)
    page.on("request", lambda req: o.requests.append(req.url))
    page.on("console", lambda m: o.errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: o.errors.append(f"page error: {e}"))
    page.goto(server + "/")
    page.wait_for_load_state("load")
    try:
        yield o
    finally:
        context.close()


@pytest.mark.browser
def test_exact_big_integers_and_the_phone_layout(narrow: Opened,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    page = narrow.page
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "")
            if r.url.endswith("/api/conv") else None)
    fill_layer(page, LAYER_FORM)
    wait_value(page, '[data-field="macs"]', str(CLASSIC_MACS))
    page.fill('#layer-form [name="batch"]', str(BIG_BATCH))
    want = CLASSIC_MACS * BIG_BATCH  # exact: Python integers
    wait_value(page, '[data-field="macs"]', str(want))
    assert page.inner_text('[data-field="macs"]').replace(",", "") == str(want)
    assert page.get_attribute('[data-field="output_shape"]', "data-value") == \
        f"{BIG_BATCH}x64x112x112"
    sent = [json.loads(b) for b in bodies if str(BIG_BATCH) in b]
    assert sent and all(f'"batch":{BIG_BATCH}' in b for b in bodies if str(BIG_BATCH) in b)
    # every number of the result is exact: the memory's elements are the batch's multiples
    out = page.get_attribute('[data-field="memory.forward.output"]', "data-value")
    assert out == str(BIG_BATCH * 64 * 112 * 112)
    # the phone layout: the result (with the MACs) above the form, no horizontal scroll
    macs_top = page.eval_on_selector('[data-field="macs"]', "e => e.getBoundingClientRect().top")
    form_top = page.eval_on_selector("#layer-form", "e => e.getBoundingClientRect().top")
    assert macs_top < form_top
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # the long number wraps only at its commas: each group of digits is on one line
    lines = page.eval_on_selector('[data-field="macs"]', """e => {
        const groups = [];
        for (const n of e.childNodes) {
            if (n.nodeType !== 3 || n.data === ",") continue;
            const r = document.createRange(); r.selectNodeContents(n);
            groups.push(r.getClientRects().length);
        }
        return [groups, e.getClientRects()[0].height];
    }""")
    assert lines[0] and set(lines[0]) == {1}, lines
    frame = narrow.page.frame_locator("#layer-report")
    frame.locator("#step-output").wait_for(timeout=20_000)  # the derivation, of that batch
    assert page.is_hidden("#layer-error")
    # copy as CLI command / as curl: the same document as the CLI's for this layer
    import shlex

    page.select_option("#f-counting", "skip-padding")
    page.fill('#layer-form [name="padding"]', "1:2")
    page.click("#layer-copy-cli")
    words = shlex.split(page.inner_text("#layer-command"))
    assert words[:2] == ["convcost", "conv"] and str(BIG_BATCH) in words
    doc = cli_json([*words[1:], "--json"], capsys)
    assert doc["counting"] == "skip-padding" and doc["layer"]["batch"] == BIG_BATCH
    wait_value(page, '[data-field="macs"]', str(doc["macs"]))  # what the page shows
    page.click("#layer-copy-curl")
    curl = shlex.split(page.inner_text("#layer-command"))
    got = subprocess.run(curl, capture_output=True, timeout=60, check=True)
    assert json.loads(got.stdout) == doc
    # the model tab on a phone: a report, once there, sits above the form
    page.click("#tab-model")
    page.evaluate("document.getElementById('model-result').hidden = false")
    report_top = page.eval_on_selector("#model-result", "e => e.getBoundingClientRect().top")
    model_form_top = page.eval_on_selector("#model-form", "e => e.getBoundingClientRect().top")
    assert report_top < model_form_top
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert narrow.foreign() == []
    assert unexpected(narrow.errors) == []


@pytest.mark.browser
def test_model_form_hints_warning_and_refusals(opened: Opened) -> None:
    page = opened.page
    page.click("#tab-model")
    assert "name=shape" in page.inner_text("#m-inputs-hint")
    # the Reserve placeholder: translated, and not cut off by its field
    page.select_option("#m-device", "t4", timeout=60_000)

    def placeholder_fits() -> bool:
        return bool(page.eval_on_selector("#m-reserve", """e => {
            const s = getComputedStyle(e);
            const c = document.createElement("canvas").getContext("2d");
            c.font = s.font;
            const room = e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
            return c.measureText(e.placeholder).width <= room;
        }"""))

    assert placeholder_fits()
    page.click("#lang-zh")
    assert page.get_attribute("#m-reserve", "placeholder") == "例如 2GiB"
    assert "名称=形状" in page.inner_text("#m-inputs-hint")
    assert placeholder_fits()
    page.click("#lang-en")
    # a detection model runs for real: a warning before, and the first Run only warns
    assert page.is_hidden("#real-run")
    page.fill("#m-target", "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    assert page.is_visible("#real-run") and "for real" in page.inner_text("#real-run")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/api/model" in r.url else None)
    page.click("#run")
    assert page.inner_text("#run") == "Run anyway" and sent == []
    page.fill("#m-target", "torchvision:resnet18")
    assert page.is_hidden("#real-run") and page.inner_text("#run") == "Run"
    # hf: targets get the right explanation, next to the target
    page.fill("#m-target", "hf:gpt2")
    page.click("#run")
    page.wait_for_selector('#m-target[aria-invalid="true"]', timeout=20_000)
    text = page.inner_text("#model-form .field-error")
    assert "Hugging Face" in text and "import and run code" not in text
    # a sweep of batch sizes that are not numbers is refused next to its field, unsent
    page.fill("#m-sweep", "1,x")
    page.click("#sweep-run")
    page.wait_for_selector('#m-sweep[aria-invalid="true"]')
    assert sent == [opened.origin + "/api/model"]
    assert opened.foreign() == []
    assert unexpected(opened.errors) == []


def result_doc(origin: str, page: Any) -> Any:
    href = page.get_attribute("#json-link", "href") or ""
    status, _, body = http(origin + href)
    assert status == 200
    return json.loads(body)


def wait_result(page: Any) -> None:
    page.wait_for_function("() => !document.querySelector('#model-result').hidden && "
                           "document.querySelector('#progress').hidden", timeout=180_000)


@pytest.mark.browser
@pytest.mark.slow
def test_model_tab_finishes_the_job(opened: Opened, capsys: pytest.CaptureFixture[str]) -> None:
    import shlex

    page = opened.page
    page.click("#tab-model")
    page.fill("#m-target", "torchvision:resnet18")
    page.fill("#m-inputs", "2x3x40x40")
    page.select_option("#m-mode", "train")
    page.select_option("#m-optimizer", "adamw")
    page.select_option("#m-device", "t4", timeout=60_000)
    page.fill("#m-freeze", "^layer1\\.")
    page.click("#run")
    wait_result(page)
    assert re.fullmatch(r"answered in \d+\.\d s", page.inner_text("#model-time"))
    # the finished report is scrolled into view
    page.wait_for_function("() => { const r = document.querySelector('#model-result')"
                           ".getBoundingClientRect(); "
                           "return r.top >= -2 && r.top < innerHeight / 2; }")
    doc = result_doc(opened.origin, page)
    # the same again: from the cache, with the first answer's time, not "0.0 s"
    first = page.inner_text("#model-time").split()[2]
    page.click("#run")
    page.wait_for_function("() => document.querySelector('#model-time').dataset.cached === 'true'",
                           timeout=60_000)
    assert page.inner_text("#model-time") == f"from the cache (first answered in {first} s)"
    # copy as CLI command and as curl: both give this result's JSON
    page.click("#copy-cli")
    cli = page.inner_text("#command")
    words = shlex.split(cli)
    assert words[:3] == ["convcost", "model", "torchvision:resnet18"]
    assert cli_json([*words[1:], "--json"], capsys) == doc
    page.click("#copy-curl")
    curl = shlex.split(page.inner_text("#command"))
    assert curl[0] == "curl"
    got = subprocess.run(curl, capture_output=True, timeout=120, check=True)
    assert json.loads(got.stdout) == doc
    # the report in Chinese on the Chinese page
    page.click("#lang-zh")
    page.wait_for_function("() => { const d = document.querySelector('#model-report')"
                           ".contentDocument; return d && d.documentElement.lang === 'zh' && "
                           "d.body.innerText.includes('摘要'); }", timeout=30_000)
    assert "&lang=zh" in (page.get_attribute("#download-link", "href") or "")
    page.click("#lang-en")
    # keep it as A; change the form: the report is marked stale until the next one
    page.click("#pin")
    assert page.is_hidden("#stale-note")
    page.fill("#m-inputs", "4x3x40x40")
    assert page.is_visible("#stale-note")
    assert "stale" in (page.get_attribute("#model-result", "class") or "")
    page.click("#run")
    wait_result(page)
    assert page.is_hidden("#stale-note")
    b = result_doc(opened.origin, page)
    cells = dict(page.eval_on_selector_all(
        "#compare-table [data-field]", "es => es.map(e => [e.dataset.field, e.dataset.value])"))
    assert cells["A:totals.forward.macs"] == str(doc["totals"]["forward"]["macs"])
    assert cells["B:totals.forward.macs"] == str(b["totals"]["forward"]["macs"])
    assert cells["B:memory.peak_train_bytes"] == str(b["memory"]["peak_train_bytes"])
    ratio = page.eval_on_selector_all("#compare-table tr", """rs => rs.map(r => [
        r.querySelector('th').textContent, (r.querySelector('.ratio') || {}).textContent])""")
    want = b["totals"]["forward"]["macs"] / doc["totals"]["forward"]["macs"]
    assert ["forward MACs", f"{want:.4f}"] in ratio
    # a batch sweep: one row per batch, each the analysis of that batch
    page.fill("#m-sweep", "1, 3")
    assert page.is_hidden("#stale-note")  # the sweep's sizes are not the report's settings
    page.click("#sweep-run")
    page.wait_for_selector('#sweep-table tr[data-batch="3"]', timeout=180_000)
    wait_result(page)
    sweep = dict(page.eval_on_selector_all(
        "#sweep-table [data-field]", "es => es.map(e => [e.dataset.field, e.dataset.value])"))
    for batch in (1, 3):
        _, _, body = post_json(opened.origin + "/api/model", {
            "target": "torchvision:resnet18", "inputs": [f"{batch}x3x40x40"], "mode": "train",
            "optimizer": "adamw", "device": "t4", "freeze": "^layer1\\.", "counting": "dense"})
        one = json.loads(body)
        assert sweep[f"{batch}:totals.forward.flops"] == str(one["totals"]["forward"]["flops"])
        assert sweep[f"{batch}:hardware.step_s"] == str(one["hardware"]["step_s"])
    # an error after a report: shown next to its field, the report marked stale
    page.fill("#m-inputs", "2x3x40xbad")
    assert page.is_visible("#stale-note")
    page.click("#run")
    page.wait_for_selector('#m-inputs[aria-invalid="true"]', timeout=60_000)
    assert page.is_visible("#stale-note")
    # Cancel: the page stops waiting, says so, and marks the report stale
    page.fill("#m-inputs", "5x3x40x40")
    held: list[Any] = []
    page.route("**/api/model", lambda route: held.append(route))  # held until cancelled
    page.click("#run")
    page.click("#cancel")
    page.wait_for_selector("#model-error:not([hidden])")
    assert page.inner_text("#model-error") == "cancelled"
    assert page.is_visible("#stale-note") and page.is_hidden("#progress")
    assert page.is_enabled("#run") and len(held) == 1
    page.unroute("**/api/model")
    assert opened.foreign() == []
    assert unexpected(opened.errors) == []
