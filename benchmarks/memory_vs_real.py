"""Predicted training-step memory against a real CPU step (and the GPU when there is one).

For each model and batch size:

* ``predicted`` — ``convcost.analyze(...).memory.peak_train_bytes`` (fake tensors, nothing
  computed);
* ``live`` — the same step run for real on the CPU, instrumented the same way (every tensor
  storage followed from the op that made it to its release): the peak of the bytes of all
  live tensor storages, sampled after every op. Goal: predicted within 2 %;
* ``alloc`` — the C allocator's bytes in use (glibc ``mallinfo2``: ``uordblks + hblkhd``),
  sampled after every op of that real step; its peak above the level before the step, plus
  the parameters and buffers that were already allocated. It also holds library workspaces
  (oneDNN), so it is somewhat above the live tensor bytes. Goal: predicted within 8 %;
* ``cuda`` — where ``torch.cuda.is_available()``: ``torch.cuda.max_memory_allocated`` of
  the same step on the GPU (uninstrumented; cuDNN kernels may save other tensors).

The loss is the sum of the outputs (as in the analysis). Run::

    .venv/bin/python benchmarks/memory_vs_real.py                  # six models, batch 1 and 8
    .venv/bin/python benchmarks/memory_vs_real.py --models resnet18 --batches 1,32 --optimizer adam
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import sys
import time

import torch
import torchvision

from convcost.frontends.torch_trace import trace_model
from convcost.model import analyze
from convcost.spec import InputSpec

DEFAULT_MODELS = ("resnet18", "resnet50", "mobilenet_v2", "vgg11", "convnext_tiny", "vit_b_16")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo() -> ctypes._CFuncPtr | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = _MallInfo2
    return fn  # type: ignore[no-any-return]


def in_use(fn: ctypes._CFuncPtr) -> int:
    """Bytes the C allocator has handed out: small blocks in use + mmapped blocks."""
    m = fn()
    return int(m.uordblks + m.hblkhd)


def measure_cpu(model: torch.nn.Module, shape: tuple[int, ...], optimizer: str) -> tuple[int, int]:
    """(peak live tensor bytes, allocator peak) of one real CPU training step."""
    mi = _mallinfo()
    gc.collect()
    state_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    state_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
    samples: list[int] = []

    def sample() -> None:
        if mi is not None:
            samples.append(in_use(mi))

    base = in_use(mi) if mi is not None else 0
    from convcost.memory.model import run_memory

    trace = trace_model(model, [InputSpec(shape, "float32")], mode="train", optimizer=optimizer,
                        real=True, on_sample=sample)
    live = run_memory(trace).peak
    alloc = (max(samples) - base + state_bytes) if samples else 0
    for p in model.parameters():
        p.grad = None
    return live, alloc


def measure_cuda(model: torch.nn.Module, shape: tuple[int, ...], optimizer: str) -> int:
    """``torch.cuda.max_memory_allocated`` of one uninstrumented step on the GPU."""
    dev = torch.device("cuda")
    model = model.to(dev)
    x = torch.randn(shape, device=dev)
    opt = None
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=0.01, foreach=False)
    elif optimizer == "momentum":
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, foreach=False)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW(params, foreach=False)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    model.train()
    out = model(x)  # the output and the loss are held to the step's end, as in a loop
    loss = out.sum()
    loss.backward()
    if opt is not None:
        opt.step()
    del out, loss
    torch.cuda.synchronize()
    peak = int(torch.cuda.max_memory_allocated())
    model.to("cpu")
    for p in model.parameters():
        p.grad = None
    del x, opt
    torch.cuda.empty_cache()
    return peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--optimizer", default="none",
                    choices=("none", "sgd", "momentum", "adam", "adamw"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    mi = _mallinfo()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, optimizer "
          f"{args.optimizer}, mallinfo2 {'yes' if mi else 'no'}, cuda {'yes' if cuda else 'no'}")
    head = (f"{'model':14} {'batch':>5} {'predicted MB':>13} {'live MB':>10} {'ratio':>7} "
            f"{'alloc MB':>10} {'ratio':>7}")
    if cuda:
        head += f" {'cuda MB':>10} {'ratio':>7}"
    head += f" {'analyse s':>9} {'real s':>7}"
    print(head)
    worst_live = worst_alloc = 0.0
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None)
        for b in (int(x) for x in args.batches.split(",")):
            shape = (b, 3, args.size, args.size)
            t0 = time.perf_counter()
            pred_r = analyze(model, shape, optimizer=args.optimizer)
            t1 = time.perf_counter()
            pred = pred_r.memory.peak_train_bytes or 0
            live, alloc = measure_cpu(model, shape, args.optimizer)
            t2 = time.perf_counter()
            r_live = pred / live
            r_alloc = pred / alloc if alloc else float("nan")
            worst_live = max(worst_live, abs(r_live - 1))
            if alloc:
                worst_alloc = max(worst_alloc, abs(r_alloc - 1))
            line = (f"{name:14} {b:5d} {pred / 1e6:13.1f} {live / 1e6:10.1f} {r_live:7.4f} "
                    f"{alloc / 1e6:10.1f} {r_alloc:7.4f}")
            if cuda:
                cm = measure_cuda(model, shape, args.optimizer)
                line += f" {cm / 1e6:10.1f} {pred / cm:7.4f}"
            line += f" {t1 - t0:9.2f} {t2 - t1:7.2f}"
            print(line, flush=True)
        del model
        gc.collect()
    print(f"worst |ratio - 1|: live {worst_live:.4f} (goal 0.02), alloc {worst_alloc:.4f} "
          "(goal 0.08)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
