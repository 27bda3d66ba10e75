"""``convcost calibrate``: measure this machine's CPU (matmul FLOP/s per dtype, copy
bandwidth) with PyTorch and write it as a device TOML file for ``--devices-file``."""

from __future__ import annotations

import argparse

from .common import count

NAME = "calibrate"
HELP = "measure this machine's CPU and write a device TOML file"
DESCRIPTION = ("Measure this CPU's matmul FLOP/s (fp32, bf16, fp64) and copy bandwidth "
               "with PyTorch, and write them as a device for --devices-file.")
EPILOG: str | None = None


def add_arguments(cal: argparse.ArgumentParser) -> None:
    """The options of ``convcost calibrate``."""
    cal.add_argument("--output", default="convcost-devices.toml", metavar="TOML")
    cal.add_argument("--name", default="this-cpu")
    cal.add_argument("--size", type=count, default=2048, help="matmul size n (n×n·n×n)")


def run(a: argparse.Namespace) -> str:
    """Measure, write the TOML file, say what was measured."""
    from ..errors import SpecError
    from .common import check_output

    if a.size < 64:
        raise SpecError("size", a.size, "must be at least 64")
    check_output(a.output)  # before measuring, which takes seconds
    from pathlib import Path

    from ..hardware.calibrate import calibrate_cpu
    from ..hardware.devices import device_to_toml

    dev = calibrate_cpu(a.name, size=a.size)
    try:
        Path(a.output).write_text(device_to_toml(dev))
    except OSError as e:
        raise SpecError("output", a.output, f"cannot be written ({e.strerror or e})") from e
    return (
        f"{a.name}: fp32 {dev.peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 "
        f"{dev.peak['bf16'] / 1e9:.1f} GFLOP/s, fp64 {dev.peak['fp64'] / 1e9:.1f} GFLOP/s, "
        f"copy {dev.bandwidth / 1e9:.1f} GB/s -> {a.output}\n"
    )
