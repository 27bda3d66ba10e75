"""``convcost calibrate``: measure this machine's CPU (matmul FLOP/s per dtype, copy
bandwidth) or CUDA GPU (GEMM and convolution FLOP/s per dtype, copy bandwidth, kernel and
host overheads) with PyTorch and write it as a device TOML file for ``--devices-file``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import count

if TYPE_CHECKING:
    from ..hardware.devices import DeviceSpec

NAME = "calibrate"
HELP = "measure this machine's CPU or CUDA GPU and write a device TOML file"
DESCRIPTION = (
    "Measure this machine with PyTorch and write it as a device for --devices-file. "
    "CPU: matmul FLOP/s (fp32, bf16, fp64) and copy bandwidth. CUDA GPU: GEMM and "
    "convolution FLOP/s per dtype (fp32, tf32, fp16, bf16), device-to-device copy bandwidth, "
    "the device time of a tiny kernel and the host time to issue an op; with --base PRESET "
    "they become that preset's efficiencies (its peaks kept), otherwise the achieved rates "
    "are the peaks."
)
EPILOG: str | None = None

TARGETS = ("auto", "cpu", "cuda")


def add_arguments(cal: argparse.ArgumentParser) -> None:
    """The options of ``convcost calibrate``."""
    cal.add_argument("--output", default="convcost-devices.toml", metavar="TOML")
    cal.add_argument("--name", default=None,
                     help="device name in the file (default this-cpu or this-gpu)")
    cal.add_argument("--target", choices=TARGETS, default="auto",
                     help="what to measure (default auto: cuda when CUDA is available, else cpu)")
    cal.add_argument("--base", default=None, metavar="DEVICE",
                     help="cuda: the preset of this GPU; its peaks and bandwidth are kept and "
                     "the measurements written as efficiencies against them")
    cal.add_argument("--size", type=count, default=None,
                     help="matmul size n (n×n·n×n; cpu default 2048; cuda: the one square "
                     "GEMM size instead of 1024, 2048, 4096, 8192)")


def run(a: argparse.Namespace) -> str:
    """Measure, write the TOML file, say what was measured."""
    import torch

    from ..errors import SpecError
    from ..hardware.devices import PRESETS, device_to_toml
    from .common import check_output

    if a.size is not None and a.size < 64:
        raise SpecError("size", a.size, "must be at least 64")
    cuda = torch.cuda.is_available()
    target = a.target if a.target != "auto" else ("cuda" if cuda else "cpu")
    if target == "cuda" and not cuda:
        raise SpecError("--target", a.target, "CUDA is not available here "
                        "(torch.cuda.is_available() is False); use --target cpu or auto")
    base: DeviceSpec | None = None
    if a.base is not None:
        from ..hardware.devices import get_device

        try:
            base = get_device(a.base)
        except SpecError as e:
            raise SpecError("--base", a.base, e.allowed) from None
        if target != "cuda":
            raise SpecError("--base", a.base, f"only calibrates a CUDA GPU, but the target is "
                            f"cpu (--target {a.target}); drop --base or use --target cuda")
        if base.name == "cpu" or base.arch == "cpu":
            raise SpecError("--base", a.base, "must be a GPU preset: "
                            + ", ".join(k for k, d in PRESETS.items()
                                        if k != "cpu" and d.arch != "cpu"))
    check_output(a.output)  # before measuring, which takes seconds
    from pathlib import Path

    from ..hardware import calibrate

    name = a.name or ("this-gpu" if target == "cuda" else "this-cpu")
    if target == "cuda":
        sizes = (a.size,) if a.size is not None else calibrate.CUDA_GEMM_SIZES
        dev = calibrate.calibrate_cuda(name, base=base, sizes=sizes)
        summary = _cuda_summary(dev, base)
    else:
        import sys

        def progress(what: str) -> None:
            print(f"convcost calibrate: measuring {what}", file=sys.stderr, flush=True)

        dev = calibrate.calibrate_cpu(name, size=a.size or 2048, progress=progress)
        summary = (
            f"fp32 {dev.peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 "
            f"{dev.peak['bf16'] / 1e9:.1f} GFLOP/s, fp64 {dev.peak['fp64'] / 1e9:.1f} GFLOP/s, "
            f"copy {dev.bandwidth / 1e9:.1f} GB/s"
        )
    try:
        Path(a.output).write_text(device_to_toml(dev))
    except OSError as e:
        raise SpecError("output", a.output, f"cannot be written ({e.strerror or e})") from e
    return f"{name}: {summary} -> {a.output}\n"


def _cuda_summary(dev: DeviceSpec, base: DeviceSpec | None) -> str:
    """One line: what was measured on the GPU (achieved TFLOP/s, or efficiencies against
    ``base``; bandwidth; kernel and host µs)."""
    t = dev.timing
    parts = []
    for kind in ("gemm", "conv"):
        rates = [(k, t[f"{kind}_efficiency.{k}"]) for k in dev.peak
                 if f"{kind}_efficiency.{k}" in t]
        if base:
            parts.append(f"{kind} " + " ".join(f"{k} {e:.0%}" for k, e in rates))
        else:
            parts.append(f"{kind} " + " ".join(f"{k} {e * dev.peak[k] / 1e12:.1f}"
                                               for k, e in rates) + " TFLOP/s")
    bw = t["bandwidth_efficiency"] * dev.bandwidth
    parts.append(f"copy {bw / 1e9:.0f} GB/s" + (f" ({t['bandwidth_efficiency']:.0%})"
                                                  if base else ""))
    if "depthwise_efficiency" in t:
        parts.append(f"depthwise {t['depthwise_efficiency']:.0%} / weight gradient "
                     f"{t['depthwise_wgrad_efficiency']:.0%} of it")
    if "kernel_us" in t:
        parts.append(f"kernel {t['kernel_us']:.2f} µs")
    classes = [c for c in ("library", "blas", "kernel", "none", "module")
               if f"host_us.{c}" in t]
    host = "/".join(f"{t[f'host_us.{c}']:.1f}" for c in classes)
    parts.append(f"host {'/'.join(classes)} {host} µs")
    vs = f"efficiencies vs {base.name} peaks, " if base else ""
    return f"{dev.description}: {vs}" + ", ".join(parts)
