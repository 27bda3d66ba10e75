"""`convcost calibrate` on a CUDA GPU: the pure part (measurements -> device) with synthetic
numbers, the CLI's --target/--base checks, the CPU path, and (where CUDA exists) a real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from cli_run import run
from convcost.errors import SpecError
from convcost.hardware import calibrate
from convcost.hardware.calibrate import (
    CudaMeasurements,
    DepthwiseRun,
    Run,
    calibrate_cuda,
    device_from_measurements,
)
from convcost.hardware.devices import (
    PRESETS,
    TIMING_KEYS,
    DeviceSpec,
    device_to_toml,
    load_devices,
)

H200 = PRESETS["h200"]
T = 1e12


def fake(**changes: Any) -> CudaMeasurements:
    """Measurements as a real H200 might give them (FLOP/s, B/s, µs, bytes)."""
    m = CudaMeasurements(
        device_name="NVIDIA H200",
        torch_version="2.x CUDA 12",
        date="2025-01-01",
        runs=(
            Run("gemm", "fp32", "1024×1024×1024", 30 * T),
            Run("gemm", "fp32", "8192×8192×8192", 50 * T),
            Run("gemm", "tf32", "8192×8192×8192", 370 * T),
            Run("gemm", "fp16", "8192×8192×8192", 700 * T),
            Run("gemm", "fp16", "8192×64×8192", 100 * T),
            Run("gemm", "bf16", "8192×8192×8192", 1200 * T),  # above the preset: capped
            Run("conv", "fp32", "64×256×56×56 k3 →256", 40 * T),
            Run("conv", "fp16", "64×256×56×56 k3 →256", 500 * T),
        ),
        bandwidth=4.0e12,
        copy_bytes=2**30,
        kernel_us=1.5,
        host_us={"library": 6.0, "kernel": 4.0, "none": 0.5},
        sms=132,
        l2_bytes=60 * 2**20,
        memory=150_000_000_000,
        arch="hopper",
        # a depthwise conv moving 1 GB forward in 0.5 ms and 1.5 GB backward in 1.5 ms
        depthwise=(DepthwiseRun("fp32", "64×256×56×56 k3 depthwise", 10**9, 5e-4,
                                15 * 10**8, 1.5e-3),),
    )
    return m._replace(**changes)


def test_efficiencies_against_base() -> None:
    dev = device_from_measurements(fake(), "me", base=H200)
    assert dev.peak == H200.peak and dev.bandwidth == H200.bandwidth
    t = dev.timing
    assert t["gemm_efficiency.fp32"] == pytest.approx(50 / 67)  # best run, not the small one
    assert t["gemm_efficiency.tf32"] == pytest.approx(370 / 494.5)
    assert t["gemm_efficiency.fp16"] == pytest.approx(700 / 989.5)
    assert t["gemm_efficiency.bf16"] == 1.0  # capped
    assert t["conv_efficiency.fp32"] == pytest.approx(40 / 67)
    assert t["conv_efficiency.fp16"] == pytest.approx(500 / 989.5)
    assert t["bandwidth_efficiency"] == pytest.approx(4.0 / 4.8)
    assert t["kernel_us"] == 1.5
    assert (t["host_us.library"], t["host_us.kernel"], t["host_us.none"]) == (6.0, 4.0, 0.5)
    assert set(t) <= set(TIMING_KEYS)
    assert (dev.sms, dev.l2_bytes, dev.memory, dev.arch) == (132, 60 * 2**20, 150e9, "hopper")
    # depthwise at the achievable 4 TB/s: forward 1 GB in 0.5 ms = 2 TB/s, so 0.5; the
    # backward's data-gradient half (0.75 GB) at 0.5 takes 0.375 ms, leaving 1.125 ms for
    # the weight gradient's 0.75 GB: 0.75e9 / 4e12 / 1.125e-3 = 1/6
    assert t["depthwise_efficiency"] == pytest.approx(0.5)
    assert t["depthwise_wgrad_efficiency"] == pytest.approx(1 / 6)
    # the preset's sources stay for what is kept; every measured figure has its own
    assert dev.sources["peak.fp16"] == H200.sources["peak.fp16"]
    for key in [*(f"timing.{k}" for k in t), "memory", "sms", "l2"]:
        assert "convcost calibrate" in dev.sources[key] and "2025-01-01" in dev.sources[key]
        assert "NVIDIA H200" in dev.sources[key]
    assert "8192×8192×8192" in dev.sources["timing.gemm_efficiency.fp32"]
    assert "h200" in dev.sources["timing.bandwidth_efficiency"]


def test_without_base_the_achieved_rates_are_the_peaks() -> None:
    dev = device_from_measurements(fake(), "me")
    assert dev.peak == {"fp32": 50 * T, "tf32": 370 * T, "fp16": 700 * T, "bf16": 1200 * T}
    assert dev.bandwidth == 4.0e12
    t = dev.timing
    assert all(t[f"gemm_efficiency.{k}"] == 1.0 for k in dev.peak)
    assert t["bandwidth_efficiency"] == 1.0
    assert t["conv_efficiency.fp32"] == pytest.approx(40 / 50)
    assert t["conv_efficiency.fp16"] == pytest.approx(500 / 700)
    assert t["depthwise_efficiency"] == pytest.approx(0.5)  # the bandwidth is the same 4 TB/s
    for key in [*(f"peak.{k}" for k in dev.peak), "bandwidth", "memory",
                *(f"timing.{k}" for k in t)]:
        assert "convcost calibrate" in dev.sources[key], key
    assert "not a vendor peak" in dev.sources["peak.fp32"]
    assert "1.0" in dev.sources["timing"]


def test_base_without_a_measured_key_and_no_graphs() -> None:
    base = PRESETS["v100"]  # no tf32 or bf16 peak
    dev = device_from_measurements(fake(kernel_us=None, arch="volta"), "me", base=base)
    assert dev.peak["tf32"] == 370 * T and dev.timing["gemm_efficiency.tf32"] == 1.0
    assert "v100 has no tf32 peak" in dev.sources["peak.tf32"]
    assert dev.peak["fp16"] == base.peak["fp16"]
    assert "kernel_us" not in dev.timing and "timing.kernel_us" not in dev.sources


def test_needs_fp32_without_base() -> None:
    runs = tuple(r for r in fake().runs if r.key != "fp32")
    with pytest.raises(SpecError, match="fp32"):
        device_from_measurements(fake(runs=runs))


@pytest.mark.parametrize("base", [None, H200])
def test_toml_round_trip(base: DeviceSpec | None, tmp_path: Path) -> None:
    dev = device_from_measurements(fake(), "my gpu", base=base)
    p = tmp_path / "d.toml"
    p.write_text(device_to_toml(dev))
    back = load_devices(p)["my gpu"]
    assert back == dev


# ------------------------------------------------------------------------------------ CLI


def one_line(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_target_cuda_without_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line(*run(["calibrate", "--target", "cuda", "--output", str(tmp_path / "d.toml")],
                  capsys), "--target", "CUDA")
    assert not (tmp_path / "d.toml").exists()


@pytest.mark.parametrize("target", ["cuda", "cpu"])
def test_unknown_base(target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    one_line(*run(["calibrate", "--target", target, "--base", "h2000",
                   "--output", str(tmp_path / "d.toml")], capsys), "--base", "h2000", "h200")


def test_base_with_cpu_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line(*run(["calibrate", "--target", "cpu", "--base", "h200",
                   "--output", str(tmp_path / "d.toml")], capsys), "--base", "cpu")
    assert not (tmp_path / "d.toml").exists()


def test_base_must_be_a_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    one_line(*run(["calibrate", "--target", "cuda", "--base", "cpu",
                   "--output", str(tmp_path / "d.toml")], capsys), "--base", "GPU")


def test_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    one_line(*run(["calibrate", "--target", "tpu"], capsys), "--target")


def test_cpu_path_writes_a_loadable_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "me.toml"
    code, out, err = run(["calibrate", "--target", "cpu", "--size", "64",
                          "--output", str(out_file)], capsys)
    assert code == 0
    assert err.splitlines() == [f"convcost calibrate: measuring {w}" for w in
                                ("fp32 matmul", "bf16 matmul", "fp64 matmul",
                                 "copy bandwidth (256 MiB)")]
    assert out.startswith("this-cpu: fp32 ") and "GFLOP/s" in out and str(out_file) in out
    dev = load_devices(out_file)["this-cpu"]
    assert dev.peak["fp32"] > 0 and "64×64 matmul" in dev.sources["peak.fp32"]


@pytest.mark.parametrize("base", [None, "h200"])
def test_cuda_path_with_fake_measurements(base: str | None, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, object] = {}

    def measure(sizes: object, convs: object, repeats: int) -> CudaMeasurements:
        seen["sizes"] = sizes
        return fake()

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(calibrate, "measure_cuda", measure)
    out_file = tmp_path / "gpu.toml"
    args = ["calibrate", "--size", "256", "--output", str(out_file)]  # --target auto
    code, out, err = run([*args, *(["--base", base] if base else [])], capsys)
    assert code == 0 and err == "", err
    assert seen["sizes"] == (256,)
    assert out.startswith("this-gpu: ") and str(out_file) in out and len(out.splitlines()) == 1
    for needle in ("gemm", "conv", "copy", "kernel 1.50 µs", "host library/kernel/none",
                   "depthwise 50% / weight gradient 17% of it"):
        assert needle in out, needle
    if base:
        assert "vs h200" in out and "gemm fp32 75%" in out
    else:
        assert "fp32 50.0" in out and "TFLOP/s" in out
    dev = load_devices(out_file)["this-gpu"]
    assert dev.timing["kernel_us"] == 1.5
    assert (dev.peak["fp16"] == pytest.approx(H200.peak["fp16"] if base else 700 * T))


# ---------------------------------------------------------------------------- on a GPU


def test_measure_cuda_needs_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SpecError, match="CUDA"):
        calibrate.measure_cuda()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_calibration(tmp_path: Path) -> None:
    base = PRESETS["h100-sxm"]  # any GPU preset: efficiencies are capped at 1
    dev = calibrate_cuda("real", base=base, sizes=(1024, 2048),
                         convs=((16, 64, 64, 28, 3),), repeats=2)
    t = dev.timing
    assert set(t) <= set(TIMING_KEYS)
    assert 0 < t["gemm_efficiency.fp32"] <= 1 and 0 < t["conv_efficiency.fp16"] <= 1
    assert 0 < t["bandwidth_efficiency"] <= 1
    assert 0 < t["host_us.none"] < t["host_us.kernel"] < 1000
    assert 0 < t.get("kernel_us", 1) < 100
    assert 0 < t["depthwise_efficiency"] <= 1 and 0 < t["depthwise_wgrad_efficiency"] <= 1
    assert dev.sms > 0 and dev.memory > 0
    p = tmp_path / "d.toml"
    p.write_text(device_to_toml(dev))
    assert load_devices(p)["real"].timing == t
    own = calibrate_cuda("own", sizes=(1024,), convs=((16, 64, 64, 28, 3),), repeats=2)
    assert own.timing["gemm_efficiency.fp32"] == 1.0 and own.peak["fp32"] > 1e11


def test_no_depthwise_run_sets_no_depthwise_constant() -> None:
    t = device_from_measurements(fake(depthwise=()), "me", base=H200).timing
    assert "depthwise_efficiency" not in t and "depthwise_wgrad_efficiency" not in t
    # a backward no slower than its data gradient alone: the weight gradient capped at 1
    quick = DepthwiseRun("fp16", "s", 10**9, 5e-4, 15 * 10**8, 3e-4)
    t = device_from_measurements(fake(depthwise=(quick,)), "me", base=H200).timing
    assert t["depthwise_wgrad_efficiency"] == 1.0


def test_cpu_matmul_size_follows_the_dtypes_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27 item 7: a 2048³ bf16 product on a CPU without bf16 took minutes. The size
    doubles from 128 only while one product takes under CPU_MIN_PRODUCT_S, up to the cap."""
    import torch

    from convcost.hardware import calibrate

    monkeypatch.setattr(calibrate, "CPU_MIN_PRODUCT_S", 0.0)  # every product is "slow"
    assert calibrate._cpu_matmul_rate(torch.float32, 1024, 1)[1] == 128
    monkeypatch.setattr(calibrate, "CPU_MIN_PRODUCT_S", float("inf"))  # never slow: the cap
    assert calibrate._cpu_matmul_rate(torch.float32, 512, 1)[1] == 512
    assert calibrate._cpu_matmul_rate(torch.float32, 64, 1)[1] == 64
