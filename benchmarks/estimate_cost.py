"""What the time estimate costs next to the analysis it times (issue 24's goal: the
estimate under 2 % of an analysis's time).

For a few models, one training-step analysis on the CUDA path (``analyze``), then the
estimate alone (``hardware.estimate.estimate``), the step time with its per-layer roofline
(``hardware.step.step_time``) and the whole device answer (``hardware.answer.answer``: the
caching-allocator replay too), each the best of 5. Prints seconds and each one's share of the
analysis. Run: ``.venv/bin/python benchmarks/estimate_cost.py``. The machine is shared and
noisy: compare the shares, not the seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torchvision

from convcost import analyze
from convcost.hardware.answer import answer
from convcost.hardware.devices import get_device
from convcost.hardware.estimate import estimate
from convcost.hardware.step import step_time

MODELS: list[tuple[str, Callable[[], Any], str]] = [
    ("resnet50", torchvision.models.resnet50, "32x3x224x224"),
    ("vit_b_16", torchvision.models.vit_b_16, "8x3x224x224"),
    ("mobilenet_v3_large", torchvision.models.mobilenet_v3_large, "32x3x224x224"),
]


def best(fn: Callable[[], object], n: int = 5) -> float:
    """The fastest of ``n`` calls, in seconds."""
    out = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    dev = get_device("h100-sxm")
    print(f"{'model':20} {'analyze':>9} {'estimate':>10} {'share':>7} {'step_time':>10} "
          f"{'share':>7} {'answer':>9} {'share':>7}")
    for name, build, shape in MODELS:
        model = build()
        t = time.perf_counter()
        r = analyze(model, [shape], optimizer="adamw", dispatch="cuda")
        ta = time.perf_counter() - t
        te = best(partial(estimate, r, dev))
        ts = best(partial(step_time, r, dev))
        tw = best(partial(answer, r, dev))
        print(f"{name:20} {ta:8.2f}s {te * 1e3:8.1f}ms {te / ta:7.1%} {ts * 1e3:8.1f}ms "
              f"{ts / ta:7.1%} {tw * 1e3:7.1f}ms {tw / ta:7.1%}")


if __name__ == "__main__":
    main()
