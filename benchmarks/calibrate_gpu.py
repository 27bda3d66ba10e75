"""Calibrate this CUDA GPU (``convcost calibrate --target cuda``'s measurement): GEMM and
convolution FLOP/s per dtype, copy bandwidth, tiny-kernel device time, per-op host time.
Prints every timed shape and the resulting timing constants, and writes the device TOML.

    .venv/bin/python benchmarks/calibrate_gpu.py [--base h200] [--output gpu.toml] [--quick]

``--output`` defaults to ``$OUT/calibrated-gpu.toml`` when ``$OUT`` is set, else
``calibrated-gpu.toml`` here.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from convcost.hardware.calibrate import device_from_measurements, measure_cuda
from convcost.hardware.devices import device_to_toml, get_device


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=None, help="preset of this GPU (e.g. h200, a100-80gb)")
    p.add_argument("--name", default="this-gpu")
    p.add_argument("--output", default=os.path.join(os.environ.get("OUT", "."),
                                                    "calibrated-gpu.toml"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="GEMM sizes 1024, 4096 only")
    a = p.parse_args()
    if not torch.cuda.is_available():
        print("calibrate_gpu: CUDA is not available", file=sys.stderr)
        return 2
    base = get_device(a.base) if a.base else None
    sizes = (1024, 4096) if a.quick else (1024, 2048, 4096, 8192)
    m = measure_cuda(sizes, repeats=a.repeats)
    print(f"{m.device_name}, torch {m.torch_version}, {m.sms} SMs, "
          f"L2 {m.l2_bytes / 2**20:.0f} MiB, {m.memory / 2**30:.1f} GiB, arch {m.arch or '?'}")
    for r in m.runs:
        print(f"  {r.kind:4} {r.key:4} {r.shape:>24}  {r.flops / 1e12:8.2f} TFLOP/s")
    print(f"  copy {m.copy_bytes / 2**20:.0f} MiB: {m.bandwidth / 1e9:.0f} GB/s")
    for d in m.depthwise:
        print(f"  depthwise {d.key} {d.shape}: forward {d.forward_bytes / 1e6:.0f} MB in "
              f"{d.forward_s * 1e3:.3f} ms, backward {d.backward_bytes / 1e6:.0f} MB in "
              f"{d.backward_s * 1e3:.3f} ms")
    dev = device_from_measurements(m, a.name, base)
    for k, v in dev.timing.items():
        print(f"  {k:26} {v:.4g}")
    Path(a.output).write_text(device_to_toml(dev))
    print(f"-> {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
