"""Measured vs predicted step time on a real CUDA GPU (the time model's check on a device).

For a few torchvision models and batch sizes, runs real training steps (forward, sum of the
outputs as the loss, backward, SGD with momentum) and eval-mode inference forwards on random
data already on the GPU, times them with CUDA events after warm-up, and prints the measured
time next to convcost's estimate and roofline for the same step on ``--device`` (a preset, or
a device of ``--devices-file`` such as the one ``convcost calibrate`` writes; default: the
preset named by ``--device``), with measured / predicted. Without CUDA it says so and exits.

    .venv/bin/python benchmarks/step_time_vs_real.py --device h200 \
        [--devices-file calibrated.toml] [--models resnet50,efficientnet_b0] [--batches 1,32,128]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from typing import Any

import torch


def measure(model: Any, x: torch.Tensor, train: bool, amp: bool, steps: int) -> float:
    """Median seconds of one step (CUDA events), after 5 warm-up steps."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) if train else None
    times = []
    for i in range(steps + 5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            if train:
                out = model(x)
                loss = out.float().sum()
        if train:
            assert opt is not None
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                model(x)
        end.record()
        torch.cuda.synchronize()
        if i >= 5:
            times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="h200")
    ap.add_argument("--devices-file", default=None)
    ap.add_argument("--models", default="resnet50,efficientnet_b0,resnet18")
    ap.add_argument("--batches", default="1,32,128")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--amp", action="store_true", help="autocast to float16")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--layouts", default="contiguous",
                    help="comma list of memory layouts to run each case in: contiguous (NCHW, "
                    "PyTorch's default) and/or channels_last (NHWC); the estimate is told which")
    a = ap.parse_args()
    layouts = a.layouts.split(",")
    if not set(layouts) <= {"contiguous", "channels_last"}:
        ap.error(f"--layouts: {a.layouts!r}; allowed: contiguous, channels_last")
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (this script runs on a GPU machine)")
        sys.exit(0)
    import torchvision

    from convcost import analyze
    from convcost.hardware.devices import get_device, load_devices
    from convcost.hardware.step import step_time

    extra = load_devices(a.devices_file) if a.devices_file else None
    dev = get_device(a.device, extra)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = True
    print(f"GPU {torch.cuda.get_device_name()} (torch {torch.__version__}) against "
          f"{dev.name}; amp={a.amp} tf32={a.tf32}")
    print(f"{'model':16s} {'mode':9s} {'layout':13s} {'batch':>5s} {'measured':>10s} "
          f"{'estimate':>10s} "
          f"{'ratio':>6s} {'roofline':>10s} {'ratio':>6s} host-bound")
    ratios = []
    for name in a.models.split(","):
        for mode in ("train", "inference"):
            for b, layout in ((int(x), lay) for x in a.batches.split(",") for lay in layouts):
                fmt = (torch.channels_last if layout == "channels_last"
                       else torch.contiguous_format)
                model = torchvision.models.get_model(name, weights=None).cuda()
                model = model.to(memory_format=fmt)
                model.train(mode == "train")
                x = torch.randn(b, 3, 224, 224, device="cuda").to(memory_format=fmt)
                try:
                    real = measure(model, x, mode == "train", a.amp, a.steps)
                except torch.cuda.OutOfMemoryError:
                    print(f"{name:16s} {mode:9s} {layout:13s} {b:5d} out of memory")
                    continue
                r = analyze(torchvision.models.get_model(name, weights=None), (b, 3, 224, 224),
                            mode=mode, amp="fp16" if a.amp else None,
                            optimizer="momentum" if mode == "train" else "none")
                st = step_time(r, dev, tf32=a.tf32, channels_last=layout == "channels_last")
                assert st.estimate is not None
                est = st.estimate.step_s
                ratios.append(real / est)
                print(f"{name:16s} {mode:9s} {layout:13s} {b:5d} {real * 1e3:8.2f}ms "
                      f"{est * 1e3:8.2f}ms "
                      f"{real / est:6.2f} {st.step_s * 1e3:8.2f}ms {real / st.step_s:6.2f} "
                      f"{st.estimate.host_bound}")
                del model, x
                torch.cuda.empty_cache()
    if ratios:
        gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        within = sum(1 for x in ratios if 0.75 <= x <= 1.25) / len(ratios)
        print(f"measured / estimate: geometric mean {gm:.2f}, within ±25 %: {within:.0%} "
              f"({len(ratios)} cases)")


if __name__ == "__main__":
    main()
