"""``convcost serve`` against hostile pages and requests (issue 25): DNS rebinding (Host),
redirects that would echo the Host, framing, ``model_args`` naming files, JSON nested
1,000 deep, 1,500-digit numbers, a huge layer's HTML report, clients that go away or
stall mid-body, too many uploads, native (C++) error text, and the OpenAPI document
checked by schemathesis.

Each case asserts a 4xx or an exact 200 (the exact numbers from the closed formula written
out here, not from the server), never a 500; after each, the server still answers the
classic layer (3x224x224, 64 filters 7x7, stride 2, padding 3: 64 * 3 * 112 * 112 * 49 =
118,013,952 MACs); at the end its log holds no traceback and its RSS is under 200 MiB.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_run import run
from test_server import Server, start

CLASSIC = {"in_channels": 3, "out_channels": 64, "input_size": [224, 224], "kernel": 7,
           "stride": 2, "padding": 3}
CLASSIC_MACS = 64 * 3 * 112 * 112 * 49
assert CLASSIC_MACS == 118_013_952


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker, a 1 s read timeout, one upload at a time, one extra Host name; the server
    and its worker each under a 10 GiB address-space limit (a worker with PyTorch loaded maps
    about 4 GiB), so a case the server fails to bound fails here instead of exhausting the
    machine."""
    yield from start(tmp_path_factory.mktemp("hostile"), "--workers", "1", "--timeout", "60",
                     "--read-timeout", "1", "--max-uploads", "1",
                     "--allowed-host", "convcost.test", address_space_gib=10)


def raw(server: Server, data: bytes, wait: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as written on a fresh connection: (status, headers, body)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                got = s.recv(65536)
            except TimeoutError:
                break
            if not got:
                break
            chunks.append(got)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def still_answers(server: Server) -> None:
    """The classic layer, exactly, and no 500 or traceback in the log so far."""
    status, doc, _ = server.post("/api/conv", CLASSIC)
    assert status == 200, doc
    assert doc["forward"]["macs"] == CLASSIC_MACS
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]


def one_line_error(body: bytes) -> dict[str, Any]:
    doc = json.loads(body)
    assert set(doc) == {"error", "field"}, doc
    assert "\n" not in doc["error"] and "Traceback" not in doc["error"]
    return doc  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- origin


@pytest.mark.parametrize(("host", "status"), [
    ("evil.example", 421), ("evil.example:{port}", 421), ("127.0.0.1.evil.example", 421),
    ("localhost.evil.example:{port}", 421), ("127.0.0.2", 421), ("localhost:x", 400),
    ("", 400), ("localhost", 200), ("localhost:{port}", 200), ("127.0.0.1:{port}", 200),
    ("[::1]:{port}", 200), ("LOCALHOST", 200), ("convcost.test:{port}", 200),
])
def test_host_allow_list(hostile: Server, host: str, status: int) -> None:
    port = hostile.url.rsplit(":", 1)[1]
    line = f"Host: {host.format(port=port)}\r\n".encode() if host else b""
    version = b"1.1" if host else b"1.0"  # HTTP/1.1 without a Host is h11's to refuse
    got, _, body = raw(hostile, b"GET /api/health HTTP/" + version + b"\r\n" + line
                       + b"Connection: close\r\n\r\n")
    assert got == status, body
    if status != 200:
        assert one_line_error(body)["field"] == "Host"
    still_answers(hostile)


def test_rebound_page_cannot_post(hostile: Server) -> None:
    """A rebinding page's POST (its own name in Host) gets 421 before the body is read."""
    body = json.dumps(CLASSIC).encode()
    got, _, answer = raw(hostile, b"POST /api/conv HTTP/1.1\r\nHost: evil.example\r\n"
                         b"Content-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert got == 421 and b"macs" not in answer
    got, _, _ = raw(hostile, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nHost: "
                    b"evil.example\r\nConnection: close\r\n\r\n")
    assert got == 400
    still_answers(hostile)


@pytest.mark.parametrize("host", ["localhost", "convcost.test:1234"])
def test_redirect_never_echoes_the_host(hostile: Server, host: str) -> None:
    got, headers, _ = raw(hostile, f"GET /api/health/?x=1 HTTP/1.1\r\nHost: {host}\r\n"
                          "Connection: close\r\n\r\n".encode())
    assert got == 307 and headers["location"] == "/api/health?x=1"
    got, headers, _ = raw(hostile, b"GET //convcost.test/api/health/ HTTP/1.1\r\n"
                          b"Host: localhost\r\nConnection: close\r\n\r\n")
    assert got in (307, 404)
    if got == 307:
        assert headers["location"].startswith("/") and not headers["location"].startswith("//")
    still_answers(hostile)


def test_frame_ancestors(hostile: Server) -> None:
    _, headers, _ = hostile.request("GET", "/")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    _, headers, _ = hostile.request("POST", "/api/conv?format=html", json.dumps(CLASSIC).encode())
    assert "frame-ancestors 'self'" in headers["content-security-policy"]
    still_answers(hostile)


# --------------------------------------------------------------------------- model_args


@pytest.mark.parametrize("args", [
    {"checkpoint_path": "{path}"}, {"pretrained_cfg_overlay": {"file": "{path}"}},
    {"pretrained_cfg": {"file": "{path}"}}, {"file": "{path}"}, {"cache_dir": "{dir}"},
    {"weights_path": "{path}"}, {"config_file": "{path}"}, {"model_dir": "{dir}"},
    {"hub_url": "file://{path}"}, {"global_pool": "{path}"}, {"drop_rate": "{path}"},
    {"block_args": ["{path}"]}, {"pretrained": True}, {"weights": "DEFAULT"},
    {"act_layer": "weights.pth"}, {"act_layer": "..x"},
])
def test_model_args_never_name_a_file(hostile: Server, tmp_path: Path,
                                      args: dict[str, Any]) -> None:
    """Refused (400, field model_args, the text naming model_args.<key>) before anything
    is built, with the same answer whether the path exists (a state dict) or not."""
    existing = tmp_path / "state.pth"
    existing.write_bytes(b"PK\x03\x04 not really a state dict")
    answers = []
    for path in (existing, tmp_path / "missing.pth"):
        text = json.dumps(args).replace("{path}", str(path)).replace("{dir}", str(path.parent))
        status, _, body = hostile.request("POST", "/api/model", json.dumps({
            "target": "timm:resnet18", "inputs": ["1x3x32x32"],
            "model_args": json.loads(text)}).encode())
        doc = one_line_error(body)
        assert status == 400 and doc["field"] == "model_args", doc
        assert doc["error"].startswith("model_args." + next(iter(args))), doc
        answers.append((status, doc["error"].replace(str(path), "PATH")))
    assert answers[0] == answers[1]
    still_answers(hostile)


@pytest.mark.parametrize(("args", "key"), [
    ({"num_classes": 2**64}, "num_classes"), ({"num_classes": -2**31 - 1}, "num_classes"),
    ({"drop_rate": 1e300}, "drop_rate"), ({"act_layer": "a" * 129}, "act_layer"),
    ({"depths": list(range(65))}, "depths"), ({"a": [[[[1]]]]}, "a"),
    ({f"k{i}": 1 for i in range(65)}, None),
])
def test_model_args_are_bounded(hostile: Server, args: dict[str, Any], key: str | None) -> None:
    status, _, body = hostile.request("POST", "/api/model", json.dumps({
        "target": "timm:resnet18", "inputs": ["1x3x32x32"], "model_args": args}).encode())
    doc = one_line_error(body)
    assert status == 400 and doc["field"] == "model_args", doc
    assert doc["error"].startswith(f"model_args.{key}" if key else "model_args:"), doc
    still_answers(hostile)


def test_native_error_text_is_one_clean_line(hostile: Server) -> None:
    """The C++ trace PyTorch puts in a message (here its own, for nn.Linear(2, 2**64)) is
    cut to its first line, without paths or addresses; 2**64 itself never reaches torch."""
    from convcost.server.bounds import clean_native

    native = ("empty(): argument 'size' failed to unpack the object at pos 1 with error "
              "\"Overflow when unpacking long long\nException raised from THPUtils_unpackLong "
              "at /__w/pytorch/pytorch/torch/csrc/utils/python_numbers.h:79 (most recent call "
              "first):\nframe #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x9d "
              "(0x7f2109eb460d in /work/.venv/lib/python3.11/site-packages/torch/lib/libc10.so)")
    assert clean_native(native) == ("empty(): argument 'size' failed to unpack the object at "
                                    "pos 1 with error \"Overflow when unpacking long long")
    assert clean_native("raised at /usr/lib/x86_64/libfoo.so (0x7f2109eb460d)") \
        == "raised at … (…)"
    status, _, body = hostile.request("POST", "/api/model", json.dumps({
        "target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
        "model_args": {"num_classes": 2**64}}).encode())
    doc = one_line_error(body)
    assert status == 400 and "frame #" not in doc["error"] and "0x" not in doc["error"]
    assert "/" not in doc["error"]
    still_answers(hostile)


# --------------------------------------------------------------------------- no 500


@pytest.mark.parametrize("body", [
    b"[" * 1000 + b"]" * 1000,
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({**CLASSIC, "kernel": 7}).encode()[:-1] + b', "stride": ' + b"[" * 1000
    + b"]" * 1000 + b"}",
    b'{"target": "timm:resnet18", "inputs": ["1x3x8x8"], "model_args": {"a": '
    + b"[" * 1000 + b"]" * 1000 + b"}}",
    json.dumps(CLASSIC).encode().replace(b'"kernel": 7', b'"kernel": NaN'),
])
def test_deep_or_non_json(hostile: Server, body: bytes) -> None:
    path = "/api/model" if b"target" in body else "/api/conv"
    status, _, answer = hostile.request("POST", path, body)
    assert status == 422, answer
    assert one_line_error(answer)["field"] == "body"
    still_answers(hostile)


def test_huge_numbers_in_the_api_and_the_cli(hostile: Server,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """1,500-digit sizes are refused by the stated bound (below 10**30) in the API and the
    CLI alike; a 5,000-digit JSON number (over Python's 4,300) is refused as JSON; a layer
    at the bound (29-digit sizes, batch and channels, 3-D) is counted exactly."""
    big = "9" * 1500
    body = json.dumps(CLASSIC).replace("[224, 224]", f"[{big}, {big}]").encode()
    status, _, answer = hostile.request("POST", "/api/conv", body)
    assert status == 400 and one_line_error(answer)["field"] == "input_size"
    code, _, err = run(["conv", "--input", f"3x{big}x{big}", "--out-channels", "64",
                        "--kernel", "7", "--json"], capsys)
    assert code == 2 and "10**30" in err and len(err.strip().splitlines()) == 1
    status, _, answer = hostile.request("POST", "/api/conv", json.dumps(CLASSIC).replace(
        "3,", "9" * 5000 + ",", 1).encode())
    assert status == 422 and one_line_error(answer)["field"] == "body"
    n = 10**29 - 1
    layer = {"in_channels": n, "out_channels": n, "input_size": [n, n, n], "kernel": 1,
             "batch": n}
    status, doc, _ = hostile.post("/api/conv", layer)
    assert status == 200, doc
    assert doc["forward"]["macs"] == n ** 6  # batch * out * in * D*H*W * 1
    code, out, _ = run(["conv", "--input", f"{n}x{n}x{n}x{n}", "--out-channels", str(n),
                        "--kernel", "1", "--batch", str(n), "--json"], capsys)
    assert code == 0 and json.loads(out)["forward"]["macs"] == n ** 6
    still_answers(hostile)


@pytest.mark.parametrize(("path", "body"), [
    ("/api/model", {"target": "torchvision:resnet18", "inputs": ["1x3x" + "9" * 1000 + "x8"]}),
    ("/api/model", {"target": "torchvision:resnet18", "inputs": [f"1x3x{2**63}x8"]}),
    ("/api/onnx?input=x=1x3x" + "9" * 1000, None),
])
def test_huge_model_input_sizes(hostile: Server, path: str, body: Any) -> None:
    """A model input over PyTorch's 64-bit sizes is refused before any worker sees it."""
    data, ctype = ((json.dumps(body).encode(), "application/json") if body is not None
                   else (b"onnx", "application/octet-stream"))
    status, _, answer = hostile.request("POST", path, data, ctype)
    assert status == 400 and "2**63" in one_line_error(answer)["error"], answer
    still_answers(hostile)


def test_huge_layer_html_report(hostile: Server) -> None:
    """The HTML report of a layer at the bound: 200, with the exact count written out."""
    n = 10**29 - 1
    layer = {"in_channels": n, "out_channels": n, "input_size": [n, n, n], "kernel": 1,
             "batch": n}
    status, headers, html = hostile.request("POST", "/api/conv?format=html&lang=zh",
                                            json.dumps(layer).encode())
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert f"{n ** 6:,}".encode() in html
    still_answers(hostile)


def test_si_of_numbers_beyond_a_float() -> None:
    """units.si and nbytes write integers past a float's range exactly (rounded half up),
    where n / scale used to raise OverflowError."""
    from convcost.units import nbytes, si

    assert si(10**400) == "1" + "0" * 385 + ".00 P"
    assert si(-(10**400) - 5 * 10**12) == "-1" + "0" * 385 + ".01 P"  # 0.005 up
    assert nbytes(3 * 2**1100) == f"{3 * 2**1060}.00 TiB"
    assert si(118_013_952) == "118.01 M"  # the float path as before


# --------------------------------------------------------------------------- slow clients


def test_client_going_away_mid_body(hostile: Server) -> None:
    for path, ctype in (("/api/conv", "application/json"),
                        ("/api/onnx", "application/octet-stream")):
        host, port = hostile.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {ctype}\r\n"
                      "Content-Length: 100000\r\n\r\n".encode() + b"{" * 100)
        time.sleep(0.3)
    still_answers(hostile)  # and no traceback in the log


def test_stalled_body_gets_408(hostile: Server) -> None:
    """A client that sends part of a body and stops gets 408 after --read-timeout (1 s)."""
    for path, ctype in (("/api/conv", "application/json"),
                        ("/api/onnx", "application/octet-stream")):
        t0 = time.monotonic()
        got, _, body = raw(hostile, f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
                           f"Content-Type: {ctype}\r\nContent-Length: 100000\r\n"
                           "Connection: close\r\n\r\n".encode() + b"{" * 10)
        assert got == 408, body
        assert one_line_error(body)["field"] == "body"
        assert time.monotonic() - t0 < 8
    still_answers(hostile)


def test_too_many_uploads_get_503(hostile: Server) -> None:
    """With --max-uploads 1, a second upload while one is being sent gets 503."""
    host, port = hostile.url.removeprefix("http://").split(":")
    stop = threading.Event()

    def trickle() -> None:  # an upload that keeps its slot: a chunk every 0.3 s
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /api/onnx HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                      b"application/octet-stream\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.is_set():
                s.sendall(b"\0" * 100)
                time.sleep(0.3)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(1.0)
        status, _, body = hostile.request("POST", "/api/onnx", b"\0" * 1000,
                                          "application/octet-stream")
        assert status == 503, body
        assert "--max-uploads" in one_line_error(body)["error"]
    finally:
        stop.set()
        t.join(10)
    time.sleep(0.5)
    status, _, body = hostile.request("POST", "/api/onnx", b"", "application/octet-stream")
    assert status == 400, body  # the slot is free again: an empty upload is refused as such
    assert "empty" in one_line_error(body)["error"]
    still_answers(hostile)


def test_server_rss_after_the_hostile_cases(hostile: Server) -> None:
    """Last in the module: the server process (not its workers) stays under 200 MiB."""
    status_file = Path(f"/proc/{hostile.proc.pid}/status")
    if not status_file.exists():
        pytest.skip("no /proc")
    still_answers(hostile)
    rss_kib = next(int(line.split()[1]) for line in status_file.read_text().splitlines()
                   if line.startswith("VmRSS:"))
    assert rss_kib < 200 * 1024, rss_kib


# --------------------------------------------------------------------------- OpenAPI


@pytest.mark.parametrize(("flags", "field"), [
    (["--allowed-host", "evil.example:80"], "--allowed-host"),
    (["--allowed-host", "[::1"], "--allowed-host"), (["--allowed-host", "a b"], "--allowed-host"),
    (["--max-uploads", "0"], "--max-uploads"), (["--read-timeout", "nan"], "--read-timeout"),
])
def test_serve_flags_are_checked(flags: list[str], field: str) -> None:
    """Refused with exit 2 and one line before the server starts (a subprocess, so a
    flag that wrongly passes cannot hang the test run)."""
    from test_server import ROOT

    proc = subprocess.run([sys.executable, "-m", "convcost", "serve", "--port", "0", *flags],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert proc.returncode == 2 and field in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_host_names_of_the_config() -> None:
    from convcost.cli.serve import allowed_host_name
    from convcost.server import ServerConfig
    from convcost.server.app import host_name

    names = ServerConfig(host="0.0.0.0", allowed_hosts=("Box.local", "fe80::1")).host_names
    assert names == {"localhost", "127.0.0.1", "[::1]", "0.0.0.0", "box.local", "[fe80::1]"}
    assert [host_name(h) for h in ("[fe80::1]:8000", "Box.Local:8000", "a:b", "[::1", ":80")] \
        == ["[fe80::1]", "box.local", None, None, None]
    assert [allowed_host_name(h) for h in ("box.local", "10.0.0.2", "fe80::1", "[fe80::1]",
                                           "box:80", "[fe80::1", "", "-x", "a/b")] \
        == [True, True, True, True, False, False, False, False, False]


SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
# value rules the schema cannot express (an unknown model, a layer whose output is empty,
# cross-field rules) answer 400; 422 (a wrong JSON type) is never allowed for valid data
expected-statuses = ["200", "307", "400", "403", "404", "503", "504"]
"""


@pytest.mark.slow
def test_schemathesis_finds_no_failure(hostile: Server, tmp_path: Path) -> None:
    """schemathesis --checks all, 25 examples per operation (about 30-60 s here)."""
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is not installed (pip install 'convcost[dev]')")
    hostile.request("GET", "/api/models", timeout=120)  # its first answer may take seconds
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    proc = subprocess.run(
        [st, "--config-file", str(config), "run", hostile.url + "/api/openapi.json",
         "--checks", "all", "--max-examples", "25", "--seed", "25", "--no-color",
         "--generation-database", "none", "--workers", "1", "--request-timeout", "60",
         "--max-response-time", "60"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    still_answers(hostile)
