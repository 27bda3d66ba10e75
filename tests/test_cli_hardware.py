"""CLI of the hardware answers: `devices`, `calibrate`, and `model --device/--fit/--devices`."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torchvision
from torch import nn

from cli_run import run
from convcost.cli import main
from convcost.hardware.devices import PRESETS, load_devices
from convcost.hardware.roofline import ASSUMPTIONS
from convcost.model import analyze, train_peak
from shared import R18, CliRun

# a small CNN built by this module (a package.module:factory target); fast to analyse
SMALL = ["model", "test_cli_hardware:small_cnn", "--input", "2x3x16x16"]


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def run_json(args: list[str]) -> dict[str, Any]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*args, "--json"]) == 0
    doc: dict[str, Any] = json.loads(buf.getvalue())
    return doc


USER_DEVICES = """
[device.tiny]
description = "a 0.5 GB test card"
bandwidth_gbps = 100
memory_gb = 0.5
reserve_mib = 0

[device.tiny.peak_tflops]
fp32 = 10
bf16 = 40

[device.tiny.sources]
"peak.fp32" = "made up for tests"

[device.crumb]
description = "1 kB: nothing fits"
bandwidth_gbps = 1
memory_gb = 0.000001
reserve_mib = 0

[device.crumb.peak_tflops]
fp32 = 1

[interconnect.slow]
bandwidth_gbps = 1
latency_us = 100
"""


@pytest.fixture(scope="module")
def devices_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    p = tmp_path_factory.mktemp("hw") / "devices.toml"
    p.write_text(USER_DEVICES)
    return str(p)


# ------------------------------------------------------------------------------- devices


def test_devices_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["devices"], capsys)
    assert code == 0 and err == ""
    for name in PRESETS:
        assert name in out
    assert "fp32 TF/s" in out and "GB/s" in out and "Dense peaks" in out
    h100 = next(line for line in out.splitlines() if line.startswith("h100-sxm"))
    for cell in ("67", "494.5", "989.5", "1979", "3350", "80", "132", "50"):
        assert cell in h100.split(), cell  # … SMs and L2 MiB of the Hopper whitepaper
    assert "SMs" in out and "L2 MiB" in out
    t4 = next(line for line in out.splitlines() if line.startswith("t4"))
    assert "-" in t4.split()  # no bf16 on a T4


def test_devices_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["devices", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert set(d) == set(PRESETS)
    h = d["h100-sxm"]
    assert h["peak_tflops"]["bf16"] == 989.5  # 1979 sparse / 2
    assert h["bandwidth_gbps"] == 3350 and h["memory_gib"] == 80
    assert h["memory_bytes"] == 80 * 2**30 == h["usable_bytes"] + h["reserve_bytes"]
    assert 0 < h["reserve_bytes"] < 4 * 2**30
    assert h["sources"]["bandwidth"] and h["sources"]["peak.bf16"]
    assert d["mi300x"]["memory_gib"] == 192
    assert d["a100-80gb"]["bandwidth_gbps"] == 2039


def test_devices_file_adds_user_device(devices_file: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["devices", "--devices-file", devices_file], capsys)
    assert code == 0
    assert "tiny" in out and "a 0.5 GB test card" in out and "h100-sxm" in out
    code, out, _ = run(["devices", "--devices-file", devices_file, "--json"], capsys)
    d = json.loads(out)
    assert d["tiny"]["peak_tflops"] == {"fp32": 10, "bf16": 40}
    assert d["tiny"]["bandwidth_gbps"] == 100 and d["tiny"]["memory_gb"] == 0.5
    assert d["tiny"]["sources"] == {"peak.fp32": "made up for tests"}
    assert set(d) == {*PRESETS, "tiny", "crumb"}


# ------------------------------------------------------------------------------- calibrate


def test_calibrate_writes_a_device_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "me.toml"
    code, out, err = run(["calibrate", "--target", "cpu", "--size", "128", "--name", "test-cpu",
                          "--output", str(out_file)], capsys)
    assert code == 0
    assert all(x.startswith("convcost calibrate: measuring ") for x in err.splitlines())
    assert "test-cpu" in out and str(out_file) in out and "GFLOP/s" in out
    devs = load_devices(out_file)
    assert set(devs) == {"test-cpu"}
    dev = devs["test-cpu"]
    for key in ("fp32", "bf16", "fp64"):
        assert dev.peak[key] > 0
        assert "128×128 matmul" in dev.sources[f"peak.{key}"]
    assert dev.bandwidth > 0 and dev.memory > 0
    assert "calibrate" in dev.sources["bandwidth"]
    # the file is usable as --devices-file
    code, out, _ = run(["devices", "--devices-file", str(out_file)], capsys)
    assert code == 0 and "test-cpu" in out


# ------------------------------------------------------------------------------- model --device


@pytest.fixture
def r18_h100(cli_once: CliRun) -> dict[str, Any]:
    code, out, err = cli_once([*R18, "--device", "h100-sxm", "--json"])
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_model_device_json(r18_h100: dict[str, Any]) -> None:
    h = r18_h100["hardware"]
    assert h["device"] == "h100-sxm"
    assert h["assumptions"] == ASSUMPTIONS
    assert h["dtype"] == "float32"
    assert h["peak_flops"] == 67e12 and h["bandwidth"] == 3.35e12
    assert h["step_s"] == pytest.approx(h["forward_s"] + h["backward_s"] + h["optimizer_s"])
    assert h["optimizer_s"] == 0  # --optimizer none
    assert h["samples_per_s"] == pytest.approx(2 / h["step_s"])  # batch 2
    t = r18_h100["totals"]
    assert h["model_flops"] == t["forward"]["flops"] + t["backward"]["flops"]
    assert h["mfu"] == pytest.approx(h["model_flops"] / (h["step_s"] * 67e12))
    assert h["mfu_recompute"] == pytest.approx(
        h["model_flops"] / ((h["step_s"] + h["forward_s"]) * 67e12))
    assert h["hfu_recompute"] == pytest.approx(
        (h["model_flops"] + t["forward"]["flops"]) / ((h["step_s"] + h["forward_s"]) * 67e12))
    assert 0 < h["mfu"] <= 1


def test_model_device_layers_add_up(r18_h100: dict[str, Any]) -> None:
    h = r18_h100["hardware"]
    layers = h["layers"]
    assert set(layers) == {row["name"] for row in r18_h100["layers"]}
    assert layers[""]["forward_s"] == pytest.approx(h["forward_s"], rel=1e-12)
    assert layers[""]["backward_s"] == pytest.approx(h["backward_s"], rel=1e-12)
    leaves = [row["name"] for row in r18_h100["layers"] if row["leaf"]]
    assert math.fsum(layers[n]["forward_s"] for n in leaves) == pytest.approx(h["forward_s"])
    assert math.fsum(layers[n]["backward_s"] for n in leaves) == pytest.approx(h["backward_s"])
    for name, lt in layers.items():
        assert lt["bound"] in ("compute", "memory"), name
        b = lt["forward_bytes"] + lt["backward_bytes"]
        # each op's time ≥ its bytes / bandwidth, so a layer's time ≥ its bytes / bandwidth
        assert lt["forward_s"] + lt["backward_s"] >= b / 3.35e12 * (1 - 1e-12), name
    # conv1 (no bias): 2·64·32·32 = 131,072 outputs × 147 products = 19,267,584 mults and
    # 131,072 × 146 = 19,136,512 adds → 38,404,096 FLOPs; compute-bound on an H100
    conv1 = next(r for r in r18_h100["layers"] if r["name"] == "conv1")
    assert conv1["forward"]["flops"] == 38_404_096
    assert layers["conv1"]["bound"] == "compute"
    assert layers["conv1"]["forward_s"] >= 38_404_096 / 67e12 * (1 - 1e-12)


@pytest.mark.slow
def test_model_fit_on_user_device(devices_file: str) -> None:
    d = run_json([*R18, "--device", "tiny", "--devices-file", devices_file, "--fit"])
    f = d["fit"]
    assert f["device"] == "tiny" and f["capacity_bytes"] == 500_000_000  # 0.5 GB, no reserve
    assert f["basis"] == "reserved" and f["reserve_bytes"] == 0
    b = f["batch"]
    assert b >= 1
    # independently: the caching allocator replay of a training loop at batch b stays within
    # the 0.5 GB, at b + 1 it runs out; its reserved peak is what the fit reports
    from convcost.hardware.device_memory import device_memory

    tiny = load_devices(devices_file)["tiny"]
    model = torchvision.models.resnet18(weights=None)

    def on_tiny(batch: int) -> Any:
        r = analyze(model, [f"{batch}x3x64x64"], mode="train")
        return device_memory(r.memory.train_events, tiny)

    at_b, at_next = on_tiny(b), on_tiny(b + 1)
    assert at_b.fits and at_b.reserved <= 500_000_000 and not at_next.fits
    assert f["peak_bytes"] == at_b.reserved and f["clearance_bytes"] == 500_000_000 - at_b.reserved
    assert f["next_peak_bytes"] == max(at_next.allocated, 500_000_001)
    # the allocator never holds less than the live tensors
    assert train_peak(model, f"{b}x3x64x64") <= at_b.allocated <= at_b.reserved
    assert d["hardware"]["device"] == "tiny" and d["hardware"]["peak_flops"] == 10e12


def test_model_fit_nothing_fits(devices_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [*SMALL, "--device", "crumb", "--devices-file", devices_file, "--fit"]
    f = run_json(args)["fit"]
    assert f["batch"] == 0 and f["capacity_bytes"] == 1000  # 1e-6 GB
    # not even the first 512-byte block of the first 2 MiB segment fits: the allocated peak
    # (at least the live tensors, each rounded up to 512 bytes) is what it needs
    assert f["next_peak_bytes"] >= train_peak(small_cnn(), "1x3x16x16") > 1000
    code, out, _ = run(args, capsys)
    assert code == 0 and "not even batch 1 fits crumb" in out


def test_model_zero3_per_device_states() -> None:
    d = run_json([*R18, "--devices", "4", "--strategy", "zero3"])
    m, s = d["memory"], d["distributed"]
    assert m["params_bytes"] == 46_758_048  # 11,689,512 parameters × 4 B
    assert m["grads_bytes"] == 46_758_048  # every parameter trainable
    assert s["strategy"] == "zero3" and s["devices"] == 4 and s["interconnect"] == "nvlink4"
    assert s["params_bytes_per_device"] == 11_689_512  # 46,758,048 / 4
    assert s["grads_bytes_per_device"] == 11_689_512
    assert s["optimizer_bytes_per_device"] == 0  # --optimizer none
    # all-gather params twice + reduce-scatter grads: 3/4 × 3 × 46,758,048 = 105,205,608
    assert s["comm_bytes_per_step"] == pytest.approx(105_205_608)
    # over NVLink 4 (450e9 B/s, 3 µs): bytes/bandwidth + 3 phases × 3 steps × 3 µs
    assert s["comm_time_s"] == pytest.approx(105_205_608 / 450e9 + 27e-6)
    assert s["peak_bytes_per_device"] < max(m["peak_train_bytes"], m["peak_train_steady_bytes"])
    assert "hardware" not in d  # no --device: no roofline


def test_model_ddp_peak_is_single_device_peak(devices_file: str) -> None:
    d = run_json([*SMALL, "--optimizer", "adam", "--devices", "2", "--strategy", "ddp",
                  "--interconnect", "slow", "--devices-file", devices_file])
    m, s = d["memory"], d["distributed"]
    assert s["peak_bytes_per_device"] == max(m["peak_train_bytes"], m["peak_train_steady_bytes"])
    assert s["params_bytes_per_device"] == m["params_bytes"]
    assert s["optimizer_bytes_per_device"] == m["optimizer_bytes"] > 0
    # all-reduce over 2: 2 × 1/2 × G = G bytes, over 1e9 B/s + 2 phases × 1 step × 100 µs
    assert s["comm_bytes_per_step"] == pytest.approx(m["grads_bytes"])
    assert s["comm_time_s"] == pytest.approx(m["grads_bytes"] / 1e9 + 200e-6)
    assert s["interconnect"] == "slow"


def test_model_table_shows_hardware_lines(devices_file: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*SMALL, "--device", "tiny", "--devices-file", devices_file, "--fit",
                          "--devices", "2", "--strategy", "zero2"], capsys)
    assert code == 0 and err == ""
    starts = [line.split()[0] for line in out.splitlines() if line.strip()]
    for word in ("device", "roofline", "fit", "sharded", "assumes"):
        assert word in starts, word
    assert "MFU" in out and "zero2 over 2 devices" in out and "largest batch on tiny" in out
    assert "time fwd" in out and "bound" in out


def test_model_markdown_with_device(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*SMALL, "--device", "h100-sxm", "--format", "markdown"], capsys)
    assert code == 0
    assert "- roofline" in out and "- device" in out and "assumes" in out


def test_model_markdown_table_is_rectangular(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run([*SMALL, "--device", "h100-sxm", "--format", "markdown"], capsys)
    rows = [line for line in out.splitlines() if line.startswith("|")]
    widths = {line.count("|") for line in rows}
    assert len(widths) == 1, widths


def test_model_csv_with_device(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*SMALL, "--device", "h100-sxm", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    header = rows[0]
    for col in ("forward_s", "backward_s", "forward_bytes", "backward_bytes"):
        assert col in header
    assert all(len(r) == len(header) for r in rows)
    recs = [dict(zip(header, r)) for r in rows[1:]]
    root = next(r for r in recs if r["name"] == "")
    leaves = [r for r in recs if r["leaf"] == "1"]
    assert math.fsum(float(r["forward_s"]) for r in leaves) == pytest.approx(
        float(root["forward_s"]))
    assert sum(int(r["forward_bytes"]) for r in leaves) == int(root["forward_bytes"])
    code, out, _ = run([*SMALL, "--format", "csv"], capsys)
    assert "forward_s" not in out.splitlines()[0]  # no device, no time columns


# ------------------------------------------------------------------------------- bad input


def _bad_toml(tmp: Path) -> str:
    p = tmp / "bad.toml"
    p.write_text("[device.x\nfp32 = ")
    return str(p)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([*SMALL, "--device", "nope"], "--device"),
        ([*SMALL, "--fit"], "--fit"),
        ([*SMALL, "--devices", "0"], "--devices"),
        ([*SMALL, "--devices", "-3"], "--devices"),
        ([*SMALL, "--devices", "two"], "--devices"),
        ([*SMALL, "--devices", "2", "--interconnect", "nope"], "--interconnect"),
        ([*SMALL, "--interconnect", "nope"], "--interconnect"),
        ([*SMALL, "--strategy", "zero9"], "--strategy"),
        ([*SMALL, "--devices-file", "/nonexistent/devices.toml"], "--devices-file"),
        ([*SMALL, "--devices-file", "BAD"], "--devices-file"),
        ([*SMALL, "--device", "h100-sxm", "--fit", "--mode", "inference"], "--fit"),
        ([*SMALL, "--devices", "2", "--mode", "inference"], "--devices"),
        (["devices", "--devices-file", "/nonexistent/devices.toml"], "--devices-file"),
        (["devices", "--devices-file", "BAD"], "--devices-file"),
        (["calibrate", "--size", "1"], "--size"),
        (["calibrate", "--size", "big"], "--size"),
    ],
)
def test_bad_input(args: list[str], needle: str, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    args = [_bad_toml(tmp_path) if a == "BAD" else a for a in args]
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_bad_device_lists_user_devices(devices_file: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*SMALL, "--device", "nope", "--devices-file", devices_file], capsys)
    assert code == 2 and "--device" in err and "tiny" in err and "h100-sxm" in err


def test_bad_device_table_in_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "zero.toml"
    p.write_text("[device.z]\nbandwidth_gbps = 1\nmemory_gb = 0\n[device.z.peak_tflops]\n"
                 "fp32 = 1\n")
    code, out, err = run([*SMALL, "--device", "z", "--devices-file", str(p)], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(p) in lines[0] and "device.z.memory_gb" in lines[0]
    assert "positive" in lines[0]


def test_calibrate_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "out.toml"
    code, _, err = run(["calibrate", "--target", "cpu", "--size", "64", "--output",
                        str(target)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--output" in err and "Traceback" not in err
