"""Measure this machine's CPU (matmul throughput, copy bandwidth) and describe it as a device.

Uses PyTorch on the CPU. The measured figures are *achieved* rates, the best of several runs,
not vendor peaks; they are what a roofline of this machine should use.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from functools import partial

from .devices import DeviceSpec


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def calibrate_cpu(
    name: str = "this-cpu", size: int = 1024, copy_mib: int = 256, repeats: int = 5
) -> DeviceSpec:
    """Measure fp32 (and bf16) matmul FLOP/s and copy bandwidth; return a :class:`DeviceSpec`.

    Matmul FLOPs of an n×n by n×n product are counted exactly: n³ multiplications and
    n²·(n − 1) additions. Copy bandwidth counts bytes read plus bytes written.
    """
    import torch

    peaks: dict[str, float] = {}
    flops = size**3 + size**2 * (size - 1)
    for key, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp64", torch.float64)):
        a = torch.randn(size, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        peaks[key] = flops / _best(partial(torch.matmul, a, b), repeats)
    n = copy_mib * 2**20 // 4
    src = torch.ones(n, dtype=torch.float32)
    dst = torch.empty_like(src)
    bw = 2 * src.nbytes / _best(lambda: dst.copy_(src), repeats)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    how = (
        f"measured by `convcost calibrate` on {time.strftime('%Y-%m-%d')} "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads)"
    )
    return DeviceSpec(
        name=name,
        description=f"{platform.processor() or platform.machine()} CPU, "
        f"{os.cpu_count()} logical cores (measured)",
        peak={k: v for k, v in peaks.items()},
        bandwidth=bw,
        memory=mem,
        sources={
            **{f"peak.{k}": f"{how}: {size}×{size} matmul" for k in peaks},
            "bandwidth": f"{how}: {copy_mib} MiB copy, read + write bytes",
            "memory": "physical memory reported by the OS",
        },
    )
