"""Fit the kernel-class constants of the execution-time estimate on the tuning rows.

Re-derives :data:`convcost.hardware.estimate.CLASS_DEFAULTS` (the entries named in
``FITTED``) from the published table: coordinate descent over a grid, minimising the sum of
squared log(published / predicted) over the *tuning* rows of
``benchmarks/published_throughput.py``, excluding the four TensorFlow rows (the model is of
eager PyTorch). Held-out rows are never read by the objective; their figures are printed
only after the fit. The host constants keep their assumed ratios (library 2.5×, none 0.3×
an op launching its own kernel) and only their scale is fitted.

    .venv/bin/python benchmarks/fit_time_model.py
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import published_throughput as pt

from convcost import analyze
from convcost.hardware import estimate as est_model
from convcost.hardware.devices import get_device

GRID: dict[str, list[float]] = {
    "host_us.kernel": [20, 30, 35, 40, 45, 50, 60],
    "kernel_us": [1, 2, 3, 4, 6],
    "conv_efficiency.tensor": [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8],
    "conv_efficiency.tf32": [0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
    "conv_efficiency.simt": [0.7, 0.8, 0.9, 0.95, 1.0],
    "depthwise_efficiency": [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7],
    "depthwise_wgrad_efficiency": [0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5],
}


def tensorflow(row: dict[str, Any]) -> bool:
    """The A100-40GB inference rows come from NVIDIA's TensorFlow README."""
    return "TensorFlow" in row["source"]


def main() -> None:
    rows = json.loads(pt.DATA.read_text())
    results = []
    cache: dict[tuple[Any, ...], Any] = {}
    for row in rows:
        train = row["mode"] == "train"
        amp = "fp16" if row["precision"] == "amp-fp16" else None
        key = (row["model"], row["mode"], amp, row["batch_per_gpu"], row["image_size"])
        if key not in cache:
            size = row["image_size"]
            cache[key] = analyze(pt.builder(row["model"])(), (row["batch_per_gpu"], 3, size,
                                                               size),
                                 mode="train" if train else "inference", amp=amp,
                                 optimizer="momentum" if train else "none", name=row["model"])
        results.append((row, cache[key]))

    def ratios(which: str) -> list[float]:
        out = []
        for row, r in results:
            if (which == "held-out") != pt.held_out(row) or (which == "fit" and tensorflow(row)):
                continue
            dev = get_device(pt.GPUS[row["gpu"]])
            dev = replace(dev, stack=pt.STACK, timing={**dev.timing, **host})
            est = est_model.estimate(r, dev,
                             tf32=row["precision"] == "tf32", foreach=False,
                             channels_last=pt.channels_last(row))
            out.append(row["throughput_img_s"] / est.samples_per_s)
        return out

    host: dict[str, float] = {}  # the pytorch-1.9 stack's host constants, as device timing

    def setv(key: str, v: float) -> None:
        if key == "host_us.kernel":  # the stack's assumed ratios (hardware/stacks.json)
            host.update({"host_us.kernel": v, "host_us.library": 2.5 * v,
                         "host_us.blas": 2.5 * v, "host_us.none": 0.3 * v})
        else:
            est_model.CLASS_DEFAULTS[key] = v

    def loss() -> float:
        return sum(math.log(x) ** 2 for x in ratios("fit"))

    for sweep in range(3):
        for key, values in GRID.items():
            scores = []
            for v in values:
                setv(key, v)
                scores.append((loss(), v))
            best = min(scores)
            setv(key, best[1])
        print(f"sweep {sweep}: loss {best[0]:.3f}  " + ", ".join(
            f"{k}={est_model.CLASS_DEFAULTS[k]:g}" for k in est_model.FITTED)
            + f", host_us.kernel={host.get('host_us.kernel', 30):g}")
    for label in ("fit", "tuning", "held-out"):
        print("  " + pt.summary(f"{label} rows", ratios(label)))


if __name__ == "__main__":
    main()
