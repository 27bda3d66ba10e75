"""Fit one constant per GPU — ``timing.gemm_efficiency.fp32``, the achievable share of the
datasheet fp32 peak for cuBLAS' SIMT sgemm — on the **tuning** half of NeuSight's kernel
latencies, and score it on the held-out half.

Why a per-device constant: at ≥ 2 ms NeuSight's fp32 ``nn.Linear``/``torch.bmm`` calls reach
0.98 of peak on the V100 PCIe but 0.75 on the H100 SXM, 0.40 on the T4 and 0.30 on the L4
(``benchmarks/README.md``, NeuSight finding 3). The physical reasons belong to the parts,
not to a model: the T4 (70 W) and L4 (72 W) cannot hold their boost clock under sustained
FFMA load, the L4's datasheet fp32 rate counts Ada's second FP32/INT32 datapath that sgemm
does not fill, and PyTorch 2.1's cuBLAS runs sm80 SIMT kernels on the H100. One
``gemm_efficiency.simt`` of 0.9 cannot serve them.

How: for each GPU, a grid over the efficiency (0.20–1.00 by 0.01) set as a device timing
override; the value minimising the median |log(measured / predicted)| of ``+call``
(``kernels_vs_measured.py``: kernels plus the measurement hosts' call overhead) over the
tuning rows of ``linear`` and ``bmm`` measured at ≥ 0.3 ms. Prints the fitted value, the
tuning and held-out median |error| before and after. Only the GPUs whose fitted value moves
the tuning error by more than 2 points are worth a preset change; the presets record the
value and this script as their source.

Run: ``.venv/bin/python benchmarks/fit_fp32_gemm.py`` (needs ``data/neusight_kernels.csv``;
about a minute here).
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import replace
from typing import Any

import kernels_vs_measured as kvm

from convcost.hardware.estimate import constants, estimate

MIN_MS = 0.3
GRID = [round(0.20 + 0.01 * i, 2) for i in range(81)]


def main() -> int:
    if not kvm.DATA.exists():
        print(f"{kvm.DATA} is missing (see data/neusight_kernels.md)", file=sys.stderr)
        return 2
    predictor = kvm.Predictor()
    rows = [r for r in kvm.load_rows() if kvm.PRESET.get(r.gpu)]
    base = kvm.with_overheads([kvm.Scored(r, p) for r in rows
                               if (p := predictor.predict(r)) is not None])
    gemm = [s for s in base if s.row.cls in ("linear", "bmm") and s.row.latency_ms >= MIN_MS]
    print(f"fp32 SIMT GEMM efficiency per GPU, fitted on the tuning half of NeuSight's "
          f"linear+bmm rows ≥ {MIN_MS} ms (+call)")
    print(f"{'gpu':16} {'preset':16} {'now':>5} {'fit':>5}  {'tuning err now → fit':>22}  "
          f"{'held-out err now → fit':>24}")
    for gpu, preset in kvm.PRESET.items():
        if not preset:
            continue
        mine = [s for s in gemm if s.row.gpu == gpu]
        if not mine:
            continue
        device = predictor.device(gpu)
        now = constants(device).gemm_efficiency["fp32"]

        def err(eff: float, part: str, device: Any = device,
                mine: list[Any] = mine) -> float:
            dev = replace(device, timing={**device.timing, "gemm_efficiency.fp32": eff})
            errs = []
            for s in mine:
                if s.row.part != part:
                    continue
                est = estimate(predictor.trace(s.row.op, s.row.shape, dev), dev, tf32=kvm.TF32)
                pred = sum(t.device_s for t in est.ops) + s.overhead_s
                errs.append(abs(math.log(s.row.latency_ms * 1e-3 / pred)))
            return statistics.median(errs)

        fit = min(GRID, key=lambda e: err(e, "tuning"))

        def pct(x: float) -> str:
            return f"{100 * (math.exp(x) - 1):5.1f}%"

        print(f"{gpu:16} {preset:16} {now:5.2f} {fit:5.2f}  "
              f"{pct(err(now, 'tuning')):>10} → {pct(err(fit, 'tuning')):>8}  "
              f"{pct(err(now, 'held-out')):>12} → {pct(err(fit, 'held-out')):>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
