"""``convcost serve``: the real server, started on a free loopback port in a subprocess,
driven with the standard library's HTTP client only.

Oracles: the CLI's own ``--format json`` output for the same inputs (run in-process), and
the refusals of issue 12 (import-path targets never imported, uploads over the limit,
garbage, malformed JSON, path traversal), after which the server must still be healthy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_run import run

ROOT = Path(__file__).resolve().parent.parent

#: A module that leaves a marker file when imported (it must never be).
MARKER_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("imported.marker").write_text("imported")

def build():
    raise SystemExit("never called")
"""


class Server:
    """A running ``convcost serve``: its base URL and how to talk to it."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.proc = proc
        self.log = log

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = "application/json",
                timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
        """(status, headers (lower-case names), body) of one request."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type is not None and body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def post(self, path: str, doc: object, timeout: float = 120) -> tuple[int, Any, dict[str, str]]:
        """POST ``doc`` as JSON: (status, parsed JSON answer, headers)."""
        status, headers, body = self.request("POST", path, json.dumps(doc).encode(),
                                             timeout=timeout)
        return status, json.loads(body), headers

    def get(self, path: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", path)
        return status, json.loads(body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp: Path, *flags: str, address_space_gib: float | None = None) -> Iterator[Server]:
    """``convcost serve FLAGS`` in ``tmp`` (which is on its PYTHONPATH), until healthy;
    ``address_space_gib``: RLIMIT_AS of the server and of each worker it starts (inherited),
    so that a request the server fails to bound cannot take the machine's memory."""
    def limit() -> None:
        if address_space_gib is not None:
            import resource

            cap = int(address_space_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT / "src")]))
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "convcost", "serve", "--port",
                                 str(port), *flags], cwd=tmp, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=limit if address_space_gib is not None else None)
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if server.get("/api/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start\n" + log.read_text()
            time.sleep(0.1)  # polling the health check, with a deadline
        yield server
    finally:
        # as Ctrl-C in a terminal: SIGINT to the server's whole process group (its workers
        # too); it must stop within seconds, with exit 0 and no traceback
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("the server did not stop within 15 s of SIGINT") from None
        stopped = log.read_text(errors="replace")
        assert code == 0 and "KeyboardInterrupt" not in stopped, stopped[-3000:]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("serve")
    (d / "evilmod.py").write_text(MARKER_MODULE)
    return d


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Server]:
    yield from start(home, "--workers", "2", "--timeout", "120")


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker, a 2 s timeout and a 1 MiB upload limit."""
    yield from start(tmp_path_factory.mktemp("strict"), "--workers", "1", "--timeout", "2",
                     "--max-upload-mb", "1")


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    code, out, err = run(args, capsys)
    assert code == 0, err
    return json.loads(out)


# --------------------------------------------------------------------------- the API


def test_health_and_headers(server: Server) -> None:
    import convcost

    status, headers, body = server.request("GET", "/api/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "version": convcost.__version__}
    assert "connect-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_page_and_openapi(server: Server) -> None:
    status, headers, body = server.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"convcost" in body
    status, doc = server.get("/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert "/api/conv" in doc["paths"]


def test_devices_equal_the_cli(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    status, doc = server.get("/api/devices")
    assert status == 200
    assert doc == cli_json(["devices", "--json"], capsys)


LAYERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"in_channels": 3, "out_channels": 64, "input_size": [224, 224], "kernel": 7, "stride": 2,
      "padding": 3, "bias": False},
     ["--input", "3x224x224", "--out-channels", "64", "--kernel", "7", "--stride", "2",
      "--padding", "3", "--no-bias"]),
    ({"in_channels": 32, "out_channels": 32, "input_size": "56x56", "kernel": 3,
      "padding": "same", "groups": 32, "counting": "skip-padding", "dtype": "bfloat16"},
     ["--input", "32x56x56", "--out-channels", "32", "--kernel", "3", "--padding", "same",
      "--groups", "32", "--counting", "skip-padding", "--dtype", "bfloat16"]),
    ({"in_channels": 16, "out_channels": 8, "input_size": [8, 8], "kernel": 4, "stride": 2,
      "padding": 1, "transposed": True, "output_padding": 1, "batch": 4, "input_grad": False},
     ["--input", "16x8x8", "--out-channels", "8", "--kernel", "4", "--stride", "2",
      "--padding", "1", "--transposed", "--output-padding", "1", "--batch", "4",
      "--no-input-grad"]),
    ({"in_channels": 8, "out_channels": 8, "input_size": [100], "kernel": [3],
      "padding": [[2, 0]], "dilation": 2},
     ["--input", "8x100", "--out-channels", "8", "--kernel", "3", "--padding", "2:0",
      "--dilation", "2"]),
]


@pytest.mark.parametrize("i", range(len(LAYERS)))
def test_conv_equals_the_cli(server: Server, capsys: pytest.CaptureFixture[str],
                             i: int) -> None:
    body, flags = LAYERS[i]
    status, doc, _ = server.post("/api/conv", body)
    assert status == 200, doc
    assert doc == cli_json(["conv", *flags, "--json"], capsys)


def test_conv_html_report(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    body, flags = LAYERS[0]
    status, headers, html = server.request("POST", "/api/conv?format=html&lang=zh",
                                           json.dumps(body).encode())
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src 'unsafe-inline'" in headers["content-security-policy"]
    code, out, _ = run(["conv", *flags, "--format", "html", "--lang", "zh"], capsys)
    assert code == 0 and html.decode() == out


def test_sixteen_concurrent_layers(server: Server,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    expected = [cli_json(["conv", *flags, "--json"], capsys) for _, flags in LAYERS]
    answers: dict[int, Any] = {}

    def one(k: int) -> None:
        answers[k] = server.post("/api/conv", LAYERS[k % len(LAYERS)][0])

    threads = [threading.Thread(target=one, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(answers) == list(range(16))
    for k, (status, doc, _) in answers.items():
        assert status == 200 and doc == expected[k % len(LAYERS)]


@pytest.mark.slow
def test_model_equals_the_cli(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"target": "torchvision:resnet18", "inputs": ["2x3x64x64"], "optimizer": "adamw",
            "device": "a100-80gb"}
    status, doc, headers = server.post("/api/model", body)
    assert status == 200, doc
    expected = cli_json(["model", "torchvision:resnet18", "--input", "2x3x64x64",
                         "--optimizer", "adamw", "--device", "a100-80gb", "--json"], capsys)
    assert doc == expected  # every field is deterministic (no timings, no paths)
    where = headers["x-convcost-result"]
    assert where.startswith("/api/results/")
    # the cached result, again and as a report
    assert server.get(where) == (200, doc)
    status, again, headers2 = server.post("/api/model", body)
    assert (status, again, headers2["x-convcost-result"]) == (200, doc, where)
    status, h, html = server.request("GET", where + "?format=html&download=1")
    assert status == 200 and html.startswith(b"<!DOCTYPE html>")
    rid = where.rsplit("/", 1)[1]
    assert h["content-disposition"] == f'attachment; filename="convcost-{rid}.html"'
    assert h["content-security-policy"].startswith("default-src 'none'")


def tiny_onnx(path: Path, external: bool = False) -> Path:
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        onnx.save(model, str(path), save_as_external_data=True, size_threshold=0,
                  location="weights.bin")
    else:
        onnx.save(model, str(path))
    return path


@pytest.mark.slow
def test_onnx_upload_equals_the_cli(server: Server, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnx")
    path = tiny_onnx(tmp_path / "model.onnx")
    status, headers, body = server.request(
        "POST", "/api/onnx?input=input=2x3x16x16&mode=inference", path.read_bytes(),
        "application/octet-stream")
    assert status == 200, body
    monkeypatch.chdir(tmp_path)  # the CLI names the report after the target: model.onnx
    expected = cli_json(["model", "model.onnx", "--input", "input=2x3x16x16", "--mode",
                         "inference", "--json"], capsys)
    assert json.loads(body) == expected
    assert headers["x-convcost-result"].startswith("/api/results/")
    # external data is refused
    ext = tiny_onnx(tmp_path / "ext.onnx", external=True)
    status, _, body = server.request("POST", "/api/onnx?input=input=2x3x16x16",
                                     ext.read_bytes(), "application/octet-stream")
    assert status == 400 and "external data" in json.loads(body)["error"]


# --------------------------------------------------------------------------- refusals


def test_import_target_refused_and_not_imported(server: Server, home: Path) -> None:
    status, doc, _ = server.post("/api/model", {"target": "evilmod:build",
                                                "inputs": ["1x3x8x8"]})
    assert status == 403 and doc["field"] == "target"
    assert not (home / "imported.marker").exists()
    assert server.get("/api/health")[0] == 200


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/api/conv", b"{not json", 422, "body"),
    ("/api/conv", b"[1, 2]", 422, None),
    ("/api/conv", json.dumps({"in_channels": "3", "out_channels": 8, "input_size": [8, 8],
                              "kernel": 3}).encode(), 422, "in_channels"),
    ("/api/conv", json.dumps({"in_channels": 3, "out_channels": 8, "input_size": [8, 8],
                              "kernel": 3, "bias": "yes"}).encode(), 422, "bias"),
    ("/api/conv", json.dumps({"in_channels": 3, "out_channels": 8, "input_size": [8, 8],
                              "kernel": 30}).encode(), 400, None),
    ("/api/conv", json.dumps({"in_channels": 3, "out_channels": 8, "input_size": "8x8",
                              "kernel": 3, "padding": "huge"}).encode(), 400, "padding"),
    ("/api/conv", json.dumps({"in_channels": 3, "out_channels": 8, "input_size": [8, 8],
                              "kernel": 3, "nope": 1}).encode(), 400, "nope"),
    ("/api/model", json.dumps({"target": "torchvision:resnet18",
                               "inputs": "1x3x8x8"}).encode(), 422, "inputs"),
    ("/api/model", json.dumps({"target": "torchvision:resnet18", "inputs": ["1x3x8x8"],
                               "mode": "fast"}).encode(), 400, "mode"),
    ("/api/model", json.dumps({"target": "/etc/passwd", "inputs": ["1x3x8x8"]}).encode(),
     400, "target"),
])
def test_bad_requests(server: Server, path: str, body: bytes, status: int,
                      field: str | None) -> None:
    got, _, answer = server.request("POST", path, body)
    doc = json.loads(answer)
    assert got == status, doc
    assert set(doc) == {"error", "field"} and "\n" not in doc["error"]
    assert "Traceback" not in doc["error"]
    if field is not None:
        assert doc["field"] == field
    assert server.get("/api/health")[0] == 200


def test_wrong_content_type_and_method(server: Server) -> None:
    status, _, body = server.request("POST", "/api/conv", b"{}", "text/plain")
    assert status == 415
    status, _, body = server.request("POST", "/api/onnx", b"x", "application/json")
    assert status == 415
    status, _, body = server.request("GET", "/api/conv")
    assert status == 405 and "error" in json.loads(body)


def test_garbage_onnx(server: Server) -> None:
    status, _, body = server.request("POST", "/api/onnx", os.urandom(2048),
                                     "application/octet-stream")
    assert status == 400, body
    assert json.loads(body)["field"] == "body"


@pytest.mark.parametrize("path", [
    "/static/../pyproject.toml", "/static/%2e%2e/pyproject.toml", "/static/..%2fpyproject.toml",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml", "/api/results/../../etc/passwd",
    "/api/results/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static/", "/api/results/0123",
    "/nope",
])
def test_path_traversal(server: Server, path: str) -> None:
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    conn.request("GET", path)  # sent as written (urllib would not normalise it either)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 404, (path, body)
    assert b"[project]" not in body and b"root:" not in body
    assert server.get("/api/health")[0] == 200


def test_static_allow_list(server: Server) -> None:
    status, _, body = server.request("GET", "/static/index.html")
    assert status == 200 and b"convcost" in body


def test_upload_over_the_limit(strict: Server) -> None:
    host = strict.url.removeprefix("http://")
    # declared too large: refused before the body is sent
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.putrequest("POST", "/api/onnx")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(2 * 1024 * 1024))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["field"] == "body"
    conn.close()
    # no Content-Length (chunked): refused once the limit is passed
    conn = http.client.HTTPConnection(host, timeout=30)
    chunks = (b"\0" * 65536 for _ in range(64))  # 4 MiB
    try:
        conn.request("POST", "/api/onnx", body=chunks, encode_chunked=True,
                     headers={"Content-Type": "application/octet-stream"})
    except OSError:  # the server may close the connection while we still send
        pass
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    assert strict.get("/api/health")[0] == 200


@pytest.mark.slow
def test_timeout_then_recovers_and_layers_keep_answering(strict: Server) -> None:
    """A model over the 2 s timeout gets 504; layer requests answer within 2 s while it
    runs; a later small model is answered (the stuck worker was replaced)."""
    slow: dict[str, Any] = {}

    def big() -> None:
        # a detection model runs for real on the CPU (its data-dependent ops): about 4.6 s
        # here, far over the 2 s timeout (vit_h_14 on fake tensors, 1.8 s once a worker has
        # warmed up, is too close to it)
        slow["answer"] = strict.post("/api/model", {"target": "torchvision:maskrcnn_resnet50_fpn",
                                                    "inputs": ["1x3x1024x1024"],
                                                    "mode": "inference"})

    t = threading.Thread(target=big)
    t.start()
    layer = LAYERS[0][0]
    t0 = time.monotonic()
    status, _, _ = strict.post("/api/conv", layer, timeout=2)
    assert status == 200 and time.monotonic() - t0 < 2
    assert t.is_alive()  # the model was still running while the layer was answered
    t.join(120)
    status, doc, _ = slow["answer"]
    assert status == 504 and "timeout" in doc["error"]
    status, doc, _ = strict.post("/api/model", {"target": "torchvision:resnet18",
                                                "inputs": ["1x3x32x32"],
                                                "mode": "inference"}, timeout=120)
    assert status == 200, doc
    assert doc["model"] == "torchvision:resnet18"


@pytest.mark.slow
def test_identical_concurrent_models_share_one_analysis(server: Server) -> None:
    body = {"target": "torchvision:resnet18", "inputs": ["1x3x64x64"], "mode": "inference"}
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(server.post("/api/model", body)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 3
    assert all(status == 200 for status, _, _ in answers)
    assert answers[0][1] == answers[1][1] == answers[2][1]
    assert len({h["x-convcost-result"] for _, _, h in answers}) == 1
