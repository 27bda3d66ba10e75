"""Predicted vs measured CUDA caching-allocator peaks of real training loops, and ``--fit``'s
batch vs the real largest batch (issue 14).

For each model and batch: a training loop of three steps (``zero_grad(set_to_none=True)``,
forward, ``out.sum().backward()`` with ``out`` and the loss held to the step's end,
``optimizer.step()``, the same input every step, the
optimizer's default implementation: foreach on CUDA) runs in a fresh Python process on the
GPU, which reports ``torch.cuda.max_memory_allocated()`` / ``max_memory_reserved()``, the
device's total memory (``get_device_properties().total_memory``) and the memory used
outside PyTorch's allocator (``mem_get_info``: total - free - reserved: the CUDA context
and the libraries). convcost predicts the same loop without running it
(:func:`convcost.hardware.device_memory.device_memory` with the foreach optimizer, as
``convcost model … --device`` does). Goals: allocated within 1 %, reserved within 5 %.

With ``--bisect``: the real largest batch (bisection, one fresh process per probe; an
out-of-memory error means "does not fit") against ``fit_on`` (``convcost model … --fit``).
Goal: equal, or one below; never above.

Run on a CUDA machine (the device's preset name given, e.g. ``--device h200``)::

    .venv/bin/python benchmarks/allocator_vs_real.py --device h200
    .venv/bin/python benchmarks/allocator_vs_real.py --device h200 --models resnet50 --bisect

Without a GPU, ``--predict-only`` prints the predictions alone (what the GPU run is
compared with). ``--capacity-gib X`` caps what PyTorch may reserve on the GPU
(``torch.cuda.set_per_process_memory_fraction``) and predicts for a device of X GiB with no
reserve: the allocator's out-of-memory behaviour and ``--fit`` checked at small batches, in
seconds per probe. Record the figures in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

DEFAULT_MODELS = ("resnet18", "resnet50", "vit_b_16")
IMAGE = 224


def worker(model_name: str, batch: int, optimizer: str, capacity: int = 0) -> dict[str, Any]:
    """One real training loop on the GPU in this (fresh) process; ``capacity`` (bytes, 0:
    the whole GPU) caps what the caching allocator may reserve
    (``torch.cuda.set_per_process_memory_fraction``: a smaller GPU, so that the real largest
    batch is found in seconds)."""
    import torch
    import torchvision

    torch.backends.cudnn.benchmark = False
    if capacity:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(capacity / total)
    model = torchvision.models.get_model(model_name, weights=None).cuda()
    x = torch.randn(batch, 3, IMAGE, IMAGE, device="cuda")
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer | None = {
        "none": lambda: None,
        "sgd": lambda: torch.optim.SGD(params, lr=0.01),
        "momentum": lambda: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        "adam": lambda: torch.optim.Adam(params, lr=1e-3),
        "adamw": lambda: torch.optim.AdamW(params, lr=1e-3),
    }[optimizer]()
    try:
        for _ in range(3):
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            else:
                model.zero_grad(set_to_none=True)
            out = model(x)  # held to the step's end, as a training loop holds it
            loss = out.sum()
            loss.backward()
            if opt is not None:
                opt.step()
            del out, loss
        torch.cuda.synchronize()
    except torch.OutOfMemoryError:
        return {"oom": True}
    free, total = torch.cuda.mem_get_info()
    return {
        "oom": False,
        "allocated": torch.cuda.max_memory_allocated(),
        "reserved": torch.cuda.max_memory_reserved(),
        "total_memory": torch.cuda.get_device_properties(0).total_memory,
        "outside_allocator": total - free - torch.cuda.memory_reserved(),
        "name": torch.cuda.get_device_name(0),
    }


def measure(model_name: str, batch: int, optimizer: str, capacity: int = 0) -> dict[str, Any]:
    """:func:`worker` in a fresh process (the allocator and the cuBLAS workspace start
    empty, as the prediction assumes)."""
    out = subprocess.run([sys.executable, __file__, "--worker", model_name, str(batch),
                          optimizer, str(capacity)], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {"oom": None, "error": out.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def predict(model_name: str, batch: int, optimizer: str, device: Any) -> Any:
    """convcost's prediction of the same loop on ``device``."""
    import torch
    import torchvision

    from convcost.hardware.device_memory import device_memory
    from convcost.model import analyze

    with torch.device("meta"):
        model = torchvision.models.get_model(model_name, weights=None)
    r = analyze(model, [f"{batch}x3x{IMAGE}x{IMAGE}"], mode="train", optimizer=optimizer,
                optimizer_foreach=device.arch != "cpu")
    assert r.memory.train_events is not None
    return device_memory(r.memory.train_events, device)


def real_largest(model_name: str, optimizer: str, start: int,
                 capacity: int = 0) -> tuple[int, int]:
    """(largest batch that runs, probes) by doubling from ``start`` and bisecting."""
    probes = 0

    def runs(b: int) -> bool:
        nonlocal probes
        probes += 1
        return measure(model_name, b, optimizer, capacity).get("oom") is False

    lo, hi = 0, 0
    b = max(start, 1)
    if runs(b):
        lo = b
        step = max(1, b // 8)
        while True:
            if not runs(lo + step):
                hi = lo + step
                break
            lo, step = lo + step, step * 2
    else:
        hi = b
        while lo == 0 and hi > 1:
            m = hi // 2
            if runs(m):
                lo = m
            else:
                hi = m
    while hi - lo > 1:
        m = (lo + hi) // 2
        if runs(m):
            lo = m
        else:
            hi = m
    return lo, probes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="h200", help="convcost preset of the GPU")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batches", default="8,64")
    ap.add_argument("--optimizer", default="adamw")
    ap.add_argument("--bisect", action="store_true",
                    help="also find the real largest batch and compare with --fit")
    ap.add_argument("--predict-only", action="store_true", help="no GPU: predictions only")
    ap.add_argument("--capacity-gib", type=float, default=0.0,
                    help="cap what PyTorch may reserve (a smaller GPU: set_per_process_memory_"
                    "fraction); the prediction uses a device of that memory and no reserve")
    ap.add_argument("--worker", nargs=4, metavar=("MODEL", "BATCH", "OPTIMIZER", "CAPACITY"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.worker[2],
                                int(a.worker[3]))))
        return 0
    import torch

    from convcost.hardware.devices import get_device
    from convcost.units import nbytes

    device = get_device(a.device)
    capacity = int(a.capacity_gib * 2**30)
    if capacity:
        from dataclasses import replace

        device = replace(device, name=f"{device.name}-capped", memory=capacity, reserve=0)
    if not a.predict_only and not torch.cuda.is_available():
        print("no CUDA device: give --predict-only for the predictions alone", file=sys.stderr)
        return 2
    print(f"device preset {device.name}: memory {nbytes(device.memory)}, reserve "
          f"{nbytes(device.reserve_bytes)}, usable {nbytes(device.usable_bytes)}; optimizer "
          f"{a.optimizer} (foreach), 3 steps, {IMAGE}x{IMAGE} images")
    print(f"{'model':12s} {'batch':>5s}  {'live':>10s}  {'alloc pred':>10s} {'alloc real':>10s} "
          f"{'ratio':>6s}  {'resv pred':>10s} {'resv real':>10s} {'ratio':>6s}  s")
    errors_a: list[float] = []
    errors_r: list[float] = []
    for name in a.models.split(","):
        for b in (int(x) for x in a.batches.split(",")):
            t = time.perf_counter()
            p = predict(name, b, a.optimizer, device)
            real = None if a.predict_only else measure(name, b, a.optimizer, capacity)
            dt = time.perf_counter() - t
            if real is None or real.get("oom") is not False:
                what = "-" if real is None else ("OOM" if real.get("oom") else "error")
                print(f"{name:12s} {b:5d}  {nbytes(p.live):>10s}  {nbytes(p.allocated):>10s} "
                      f"{what:>10s} {'':>6s}  {nbytes(p.reserved):>10s} {what:>10s}        "
                      f"{dt:.0f}")
                continue
            ra, rr = p.allocated / real["allocated"], p.reserved / real["reserved"]
            errors_a.append(abs(ra - 1))
            errors_r.append(abs(rr - 1))
            print(f"{name:12s} {b:5d}  {nbytes(p.live):>10s}  {nbytes(p.allocated):>10s} "
                  f"{nbytes(real['allocated']):>10s} {ra:6.3f}  {nbytes(p.reserved):>10s} "
                  f"{nbytes(real['reserved']):>10s} {rr:6.3f}  {dt:.0f}")
            print(f"{'':12s}        GPU {real['name']}: total_memory "
                  f"{nbytes(real['total_memory'])}, outside the allocator "
                  f"{nbytes(real['outside_allocator'])} -> reserve "
                  f"{nbytes(device.memory - real['total_memory'] + real['outside_allocator'])}"
                  f" (preset: {nbytes(device.reserve_bytes)})")
    if errors_a:
        print(f"max |pred/real - 1|: allocated {max(errors_a):.2%} (goal 1%), reserved "
              f"{max(errors_r):.2%} (goal 5%)")
    if a.bisect:
        from convcost.hardware.answer import fit_on

        for name in a.models.split(","):
            import torchvision

            with torch.device("meta"):
                model = torchvision.models.get_model(name, weights=None)
            t = time.perf_counter()
            fit = fit_on(device, model, [f"1x3x{IMAGE}x{IMAGE}"], optimizer=a.optimizer,
                         optimizer_foreach=True)
            t_fit = time.perf_counter() - t
            if a.predict_only:
                print(f"{name}: --fit {fit.batch} ({t_fit:.0f} s)")
                continue
            real_b, probes = real_largest(name, a.optimizer, fit.batch, capacity)
            verdict = ("equal" if real_b == fit.batch else "one below" if real_b == fit.batch + 1
                       else "ABOVE (would fail)" if fit.batch > real_b else "below")
            print(f"{name}: --fit {fit.batch} ({t_fit:.0f} s), real largest {real_b} "
                  f"({probes} probes): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
