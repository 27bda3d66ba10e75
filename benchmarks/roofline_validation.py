"""How well does the roofline predict real convolution time? CPU here, GPU where available.

Calibrates this CPU (``convcost calibrate``'s measurement: matmul FLOP/s, copy bandwidth),
then for several convolution layers — compute-bound (large channel counts) and
memory-bound (depthwise, 1×1 with few channels) — runs the forward and the backward for
real, and prints measured time, the roofline prediction from convcost's exact FLOPs and
bytes, and their ratio. With CUDA available (``--gpu``), the same is done for every
convolution of resnet50 on the GPU against a device preset (``--device``, default h100-sxm).

    .venv/bin/python benchmarks/roofline_validation.py [--repeats 5] [--gpu --device h100-sxm]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import convcost
from convcost.hardware.calibrate import calibrate_cpu
from convcost.hardware.devices import DeviceSpec, get_device
from convcost.hardware.roofline import roofline

# (name, batch, c_in, c_out, size, kernel, stride, groups)
LAYERS = [
    ("3x3 64→64 56² b8 (compute)", 8, 64, 64, 56, 3, 1, 1),
    ("3x3 256→256 14² b16 (compute)", 16, 256, 256, 14, 3, 1, 1),
    ("7x7/2 3→64 224² b4 (stem)", 4, 3, 64, 224, 7, 2, 1),
    ("1x1 64→256 56² b8", 8, 64, 256, 56, 1, 1, 1),
    ("1x1 16→16 112² b8 (memory)", 8, 16, 16, 112, 1, 1, 1),
    ("dw 3x3 256 28² b16 (memory)", 16, 256, 256, 28, 3, 1, 256),
    ("dw 3x3 96 112² b8 (memory)", 8, 96, 96, 112, 3, 1, 96),
]


def timed(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def predicted(model: nn.Module, shape: tuple[int, ...], dev: DeviceSpec) -> tuple[float, float]:
    """Roofline seconds of the convolution forward and backward ops of a one-layer model."""
    r = convcost.analyze(model, shape)
    conv = [o for o in r.ops if o.name.startswith("convolution")]
    fwd = sum(roofline(o.cost.flops, o.read + o.written, dev, o.dtype).time
              for o in conv if o.phase == "forward")
    bwd = sum(roofline(o.cost.flops, o.read + o.written, dev, o.dtype).time
              for o in conv if o.phase == "backward")
    return fwd, bwd


def measure_layer(conv: nn.Module, x: torch.Tensor, repeats: int,
                  sync: Callable[[], None]) -> tuple[float, float]:
    """Forward, and backward (forward + weight gradient, minus forward). The input needs no
    gradient, as in convcost's analysis of a one-layer model (its first layer)."""
    y = conv(x)
    gy = torch.ones_like(y)
    fwd = timed(lambda: conv(x), repeats, sync)

    def backward() -> object:
        return torch.autograd.grad(conv(x), (conv.weight,), gy)

    both = timed(backward, repeats, sync)
    return fwd, max(both - fwd, 0.0)


def cpu(repeats: int) -> None:
    dev = calibrate_cpu(size=1024, repeats=3)
    print(f"calibrated CPU: fp32 {dev.peak['fp32'] / 1e9:.1f} GFLOP/s, copy "
          f"{dev.bandwidth / 1e9:.1f} GB/s (ridge {dev.peak['fp32'] / dev.bandwidth:.1f} FLOP/B)")
    print(f"{'layer':34s} {'pass':8s} {'measured':>10s} {'predicted':>10s} {'ratio':>7s}")
    ratios = []
    for name, n, ci, co, s, k, st, g in LAYERS:
        conv = nn.Conv2d(ci, co, k, st, k // 2, groups=g, bias=False)
        shape = (n, ci, s, s)
        p_f, p_b = predicted(conv, shape, dev)
        m_f, m_b = measure_layer(conv, torch.randn(shape), repeats, lambda: None)
        for pass_, m, p in (("forward", m_f, p_f), ("backward", m_b, p_b)):
            ratios.append(m / p)
            print(f"{name:34s} {pass_:8s} {m * 1e3:8.2f}ms {p * 1e3:8.2f}ms {m / p:7.2f}")
    print(f"measured/predicted: median {statistics.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f} (1.00 = the roofline exactly; "
          f"> 1: slower than the roofline bound)")


def gpu(device: str, repeats: int) -> None:
    import torchvision

    dev = get_device(device)
    model = torchvision.models.resnet50(weights=None).cuda()
    sync = torch.cuda.synchronize
    print(f"GPU {torch.cuda.get_device_name()} against preset {dev.name}")
    # input shape of every convolution of resnet50 at 224², from one forward pass
    shapes: dict[str, tuple[int, ...]] = {}
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    handles = [
        m.register_forward_hook(
            lambda mod, inp, out, n=n: shapes.__setitem__(n, tuple(inp[0].shape)))
        for n, m in convs.items()
    ]
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224, device="cuda"))
    for h in handles:
        h.remove()
    seen = set()
    for name, m in convs.items():
        key = (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.groups, shapes[name])
        if key in seen:
            continue
        seen.add(key)
        shape = (64, *shapes[name][1:])
        layer = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                          groups=m.groups, bias=False)
        p_f, p_b = predicted(layer, shape, dev)
        m_f, m_b = measure_layer(layer.cuda(), torch.randn(shape, device="cuda"), repeats, sync)
        print(f"{name:24s} fwd {m_f * 1e3:7.3f}/{p_f * 1e3:7.3f} ms = {m_f / p_f:5.2f}   "
              f"bwd {m_b * 1e3:7.3f}/{p_b * 1e3:7.3f} ms = {m_b / p_b:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--device", default="h100-sxm")
    a = ap.parse_args()
    cpu(a.repeats)
    if a.gpu or torch.cuda.is_available():
        if torch.cuda.is_available():
            gpu(a.device, a.repeats)
        else:
            print("no CUDA device: GPU comparison skipped")


if __name__ == "__main__":
    main()
