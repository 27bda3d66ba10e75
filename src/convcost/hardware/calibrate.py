"""Measure this machine's CPU (matmul throughput, copy bandwidth) and describe it as a device.

Uses PyTorch on the CPU (:func:`calibrate_cpu`) or on a CUDA GPU (:func:`calibrate_cuda`).
The measured figures are *achieved* rates, the best of several runs, not vendor peaks; on a
GPU they become the constants of the execution-time estimate (``DeviceSpec.timing``):
efficiencies against a preset's peaks, the per-kernel device time and the per-op host time.
:func:`device_from_measurements` is the pure part (numbers -> device), testable without a GPU.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

from ..errors import SpecError
from .devices import DeviceSpec


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


#: The smallest matmul size the CPU calibration starts from, and the time one product must
#: take before the size stops doubling (so a slow dtype is timed on a small product).
CPU_START_SIZE = 128
CPU_MIN_PRODUCT_S = 0.05


def _cpu_matmul_rate(dtype: Any, most: int, repeats: int) -> tuple[float, int]:
    """Best FLOP/s of an n×n by n×n matmul in ``dtype`` and the n used: n doubles from
    :data:`CPU_START_SIZE` up to ``most`` while one product takes under
    :data:`CPU_MIN_PRODUCT_S` (a CPU without bf16 arithmetic runs it 1,000× slower than
    fp32: its size is set by its speed, not by ``most``)."""
    import torch

    n = min(CPU_START_SIZE, most)
    while True:
        a = torch.randn(n, n, dtype=dtype)
        b = torch.randn(n, n, dtype=dtype)
        torch.matmul(a, b)  # warm-up
        t0 = time.perf_counter()
        torch.matmul(a, b)
        once = time.perf_counter() - t0
        if once >= CPU_MIN_PRODUCT_S or 2 * n > most:
            break
        n *= 2
    flops = n**3 + n**2 * (n - 1)
    return flops / _best(partial(torch.matmul, a, b), repeats), n


def calibrate_cpu(
    name: str = "this-cpu", size: int = 1024, copy_mib: int = 256, repeats: int = 5,
    progress: Callable[[str], None] | None = None,
) -> DeviceSpec:
    """Measure fp32, bf16 and fp64 matmul FLOP/s and copy bandwidth; return a
    :class:`DeviceSpec`.

    Matmul FLOPs of an n×n by n×n product are counted exactly: n³ multiplications and
    n²·(n − 1) additions; each dtype's n is sized to its speed, up to ``size``
    (:func:`_cpu_matmul_rate`; the sources say which n). Copy bandwidth counts bytes read
    plus bytes written. ``progress`` gets one line per measurement as it starts.
    """
    import torch

    peaks: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for key, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp64", torch.float64)):
        if progress is not None:
            progress(f"{key} matmul")
        peaks[key], sizes[key] = _cpu_matmul_rate(dtype, size, repeats)
    if progress is not None:
        progress(f"copy bandwidth ({copy_mib} MiB)")
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
            **{f"peak.{k}": f"{how}: {sizes[k]}×{sizes[k]} matmul" for k in peaks},
            "bandwidth": f"{how}: {copy_mib} MiB copy, read + write bytes",
            "memory": "physical memory reported by the OS",
        },
    )


# ------------------------------------------------------------------------------------ CUDA

#: GEMM dtypes measured on a CUDA device: peak key -> torch dtype name. ``fp32`` runs with
#: TF32 off, ``tf32`` is fp32 inputs with TF32 tensor cores allowed.
CUDA_GEMM_KEYS: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16")

#: ``host_us`` op classes measured (the ``host_us.<class>`` keys of
#: :data:`~.devices.TIMING_KEYS`; :data:`convcost.hardware.stacks.HOST_CLASSES`).
HOST_CLASSES: tuple[str, ...] = ("library", "blas", "kernel", "none", "module")


class Run(NamedTuple):
    """One timed shape: ``kind`` (``gemm`` or ``conv``), the peak ``key`` it ran in
    (``fp32``, ``tf32``, ``fp16``, ``bf16``), the ``shape`` in words (``M×N×K`` for a GEMM,
    ``N×C×H×W k3 →Cout`` for a convolution) and the achieved ``flops`` in FLOP/s (a
    multiply-add counts as 2)."""

    kind: str
    key: str
    shape: str
    flops: float


class DepthwiseRun(NamedTuple):
    """One timed depthwise convolution in one dtype: its ``shape`` in words, the bytes its
    forward call reads and writes (``forward_bytes``: input, weight, output) and its
    seconds, and the same for its backward call with both gradients (``backward_bytes``:
    output gradient, input and weight read, input and weight gradients written)."""

    key: str
    shape: str
    forward_bytes: int
    forward_s: float
    backward_bytes: int
    backward_s: float


class CudaMeasurements(NamedTuple):
    """What :func:`measure_cuda` measured on one GPU — the input of
    :func:`device_from_measurements`.

    ``runs``: every timed GEMM and convolution (:class:`Run`, FLOP/s); ``bandwidth``: the
    device-to-device copy rate in B/s (bytes read plus written) over a copy of
    ``copy_bytes`` bytes; ``kernel_us``: device time of one tiny kernel in µs (back to back
    in a CUDA graph; ``None`` when graphs could not be used); ``host_us``: host time in µs
    to issue one op of each class of :data:`HOST_CLASSES`; ``sms``, ``l2_bytes``,
    ``memory`` (bytes): the device properties (0 when unknown); ``arch``: architecture
    family (``""`` when unknown); ``device_name``, ``torch_version``, ``date``
    (``YYYY-MM-DD``): where and when, for the sources; ``depthwise``: timed depthwise
    convolutions (:class:`DepthwiseRun`), empty when none could be run.
    """

    device_name: str
    torch_version: str
    date: str
    runs: tuple[Run, ...]
    bandwidth: float
    copy_bytes: int
    kernel_us: float | None
    host_us: dict[str, float]
    sms: int
    l2_bytes: int
    memory: int
    arch: str = ""
    depthwise: tuple[DepthwiseRun, ...] = ()


def best_rates(runs: Sequence[Run], kind: str) -> dict[str, tuple[float, str]]:
    """Per peak key, the best achieved FLOP/s of the ``kind`` runs and that run's shape."""
    best: dict[str, tuple[float, str]] = {}
    for r in runs:
        if r.kind == kind and r.flops > 0 and r.flops > best.get(r.key, (0.0, ""))[0]:
            best[r.key] = (r.flops, r.shape)
    return best


def _shapes(runs: Sequence[Run], kind: str, key: str) -> str:
    return ", ".join(r.shape for r in runs if r.kind == kind and r.key == key)


def device_from_measurements(
    m: CudaMeasurements, name: str = "this-gpu", base: DeviceSpec | None = None
) -> DeviceSpec:
    """The :class:`DeviceSpec` of measurements ``m`` (no GPU needed: a pure function).

    With ``base`` (the preset of the same GPU): its peaks (FLOP/s), bandwidth (B/s), clock
    and their sources are kept, and the measurements become the ``timing`` efficiencies:
    ``gemm_efficiency.<key>`` = best achieved GEMM FLOP/s / base peak, ``conv_efficiency.<key>``
    likewise for convolutions, ``bandwidth_efficiency`` = achieved copy B/s / base
    bandwidth, each capped at 1.0. A measured key the base has no peak for gets the achieved
    rate as its peak (efficiency 1.0, the source says so). Without ``base``: the peaks are the
    best achieved GEMM rates and the bandwidth the achieved copy rate, so ``gemm_efficiency``
    and ``bandwidth_efficiency`` are 1.0 and ``conv_efficiency`` is the convolution rate over
    that achieved GEMM peak. ``kernel_us`` (µs) and ``host_us.*`` (µs) are the measured
    values; every measured figure has a ``sources`` entry (``timing.<key>`` for the timing).
    """
    how = (f"measured by `convcost calibrate` on {m.date} (torch {m.torch_version}, "
           f"{m.device_name})")
    gemm = best_rates(m.runs, "gemm")
    conv = best_rates(m.runs, "conv")
    if "fp32" not in gemm and base is None:
        raise SpecError("runs", sorted(gemm), "needs an fp32 GEMM measurement (the fp32 peak)")
    peak: dict[str, float] = dict(base.peak) if base else {}
    sources: dict[str, str] = dict(base.sources) if base else {}
    timing: dict[str, float] = {}
    against = f"the {base.name} preset's" if base else "the measured"
    for key, (rate, shape) in gemm.items():
        grid = _shapes(m.runs, "gemm", key)
        if key not in peak:
            peak[key] = rate
            sources[f"peak.{key}"] = (
                f"{how}: best achieved {key} GEMM FLOP/s (2·M·N·K/time), at {shape}, of "
                f"{grid} — an achieved rate, not a vendor peak"
                + (f" ({base.name} has no {key} peak)" if base else ""))
        timing[f"gemm_efficiency.{key}"] = min(1.0, rate / peak[key])
        sources[f"timing.gemm_efficiency.{key}"] = (
            f"{how}: best achieved {key} GEMM {rate / 1e12:.4g} TFLOP/s at {shape} "
            f"(of {grid}) / {against} {key} peak {peak[key] / 1e12:.4g} TFLOP/s, capped at 1")
    for key, (rate, shape) in conv.items():
        ref = peak.get(key)
        if ref is None:
            continue  # no GEMM rate and no base peak to compare with
        timing[f"conv_efficiency.{key}"] = min(1.0, rate / ref)
        sources[f"timing.conv_efficiency.{key}"] = (
            f"{how}: best achieved {key} conv2d (cudnn.benchmark) {rate / 1e12:.4g} TFLOP/s "
            f"(2·MACs/time) at {shape} (of {_shapes(m.runs, 'conv', key)}) / {against} "
            f"{key} peak {ref / 1e12:.4g} TFLOP/s, capped at 1")
    copy = f"{m.copy_bytes / 2**20:.0f} MiB device-to-device copy, bytes read + written / time"
    if base:
        bandwidth = base.bandwidth
        timing["bandwidth_efficiency"] = min(1.0, m.bandwidth / bandwidth)
        sources["timing.bandwidth_efficiency"] = (
            f"{how}: {copy} = {m.bandwidth / 1e9:.4g} GB/s / the {base.name} preset's "
            f"bandwidth {bandwidth / 1e9:.4g} GB/s, capped at 1")
    else:
        bandwidth = m.bandwidth
        sources["bandwidth"] = f"{how}: {copy} (an achieved rate, not a vendor peak)"
        timing["bandwidth_efficiency"] = 1.0
        sources["timing.bandwidth_efficiency"] = (
            f"{how}: 1.0, as the bandwidth is the achieved copy rate itself")
    _depthwise(m, bandwidth * timing["bandwidth_efficiency"], how, timing, sources)
    if m.kernel_us is not None:
        timing["kernel_us"] = m.kernel_us
        sources["timing.kernel_us"] = (
            f"{how}: device time per tiny kernel (in-place add on a small tensor), many "
            "back to back replayed from a CUDA graph (no host overhead), CUDA events")
    ops = {"library": "a tiny 3x3 convolution (cuDNN)", "blas": "a tiny torch.mm (cuBLAS)",
           "kernel": "a tiny in-place add", "none": "a view (x.view(-1))",
           "module": "an empty nn.Module (nn.Identity) called"}
    for cls, us in m.host_us.items():
        timing[f"host_us.{cls}"] = us
        sources[f"timing.host_us.{cls}"] = (
            f"{how}: wall time per op of {ops.get(cls, cls)} issued eagerly many times in a "
            "loop, then one synchronize (the host-bound issue rate)")
    if m.memory:
        sources["memory"] = f"{how}: torch.cuda.get_device_properties(0).total_memory"
    if m.sms:
        sources["sms"] = f"{how}: torch.cuda.get_device_properties(0).multi_processor_count"
    if m.l2_bytes:
        sources["l2"] = f"{how}: torch.cuda.get_device_properties(0).L2_cache_size"
    if not base:
        sources["timing"] = (f"{how}: peaks and bandwidth are achieved rates (no --base "
                             "preset), so the GEMM and bandwidth efficiencies are 1.0")
    desc = (f"{base.description}, calibrated on this {m.device_name}" if base
            else f"{m.device_name} (measured)")
    return DeviceSpec(
        name=name,
        description=desc,
        peak=peak,
        bandwidth=bandwidth,
        memory=m.memory or (base.memory if base else 0),
        sources=sources,
        sms=m.sms or (base.sms if base else 0),
        clock_mhz=base.clock_mhz if base else 0.0,
        l2_bytes=m.l2_bytes or (base.l2_bytes if base else 0),
        arch=(base.arch if base and base.arch else m.arch),
        timing=timing,
    )


def _depthwise(m: CudaMeasurements, bw: float, how: str, timing: dict[str, float],
               sources: dict[str, str]) -> None:
    """``depthwise_efficiency`` and ``depthwise_wgrad_efficiency`` from ``m.depthwise`` as the
    estimate uses them, ``bw`` being the achievable bandwidth (B/s): the forward streams its
    bytes at ``bw × depthwise_efficiency``; the backward gives each of its two gradients
    half of its bytes, the data gradient at the forward's efficiency and the weight
    gradient at its own (solved for). The mean over the dtypes measured, each capped at 1."""
    fwd: list[float] = []
    wgrad: list[float] = []
    for r in m.depthwise:
        if r.forward_s <= 0 or r.backward_s <= 0:
            continue
        e = min(1.0, r.forward_bytes / (r.forward_s * bw))
        fwd.append(e)
        half = r.backward_bytes / 2 / bw
        left = r.backward_s - half / e  # the weight gradient's share of the measured time
        wgrad.append(1.0 if left <= 0 else min(1.0, half / left))
    if not fwd:
        return
    runs = ", ".join(f"{r.key} {r.shape}" for r in m.depthwise)
    timing["depthwise_efficiency"] = sum(fwd) / len(fwd)
    timing["depthwise_wgrad_efficiency"] = sum(wgrad) / len(wgrad)
    sources["timing.depthwise_efficiency"] = (
        f"{how}: depthwise conv2d forward (cudnn.benchmark), bytes read + written / time / "
        f"the achievable bandwidth {bw / 1e9:.4g} GB/s, mean over {runs}")
    sources["timing.depthwise_wgrad_efficiency"] = (
        f"{how}: depthwise convolution_backward (both gradients) less its data gradient at "
        f"the forward's efficiency, half its bytes / that time / {bw / 1e9:.4g} GB/s, mean "
        f"over {runs}")


#: A depthwise convolution :func:`measure_cuda` times (batch, channels, height = width,
#: square kernel; stride 1, padding kernel // 2): an EfficientNet-like stage.
CUDA_DEPTHWISE: tuple[int, int, int, int] = (64, 256, 56, 3)


def _depthwise_runs(keys: Sequence[str], dtypes: dict[str, Any],
                    repeats: int) -> tuple[DepthwiseRun, ...]:
    """Time :data:`CUDA_DEPTHWISE` forward and backward (both gradients) in fp32 and fp16
    (those of ``keys``); a dtype whose run fails (memory, an unsupported kernel) is left out."""
    import torch
    from torch.nn.functional import conv2d

    n, c, hw, k = CUDA_DEPTHWISE
    runs: list[DepthwiseRun] = []
    for key in (kk for kk in ("fp32", "fp16") if kk in keys):
        dt = dtypes[key]
        try:
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=dt)
            w = torch.randn(c, 1, k, k, device="cuda", dtype=dt)
            y = conv2d(x, w, padding=k // 2, groups=c)
            fwd = _cuda_seconds(partial(conv2d, x, w, padding=k // 2, groups=c), repeats)
            bwd = _cuda_seconds(partial(
                torch.ops.aten.convolution_backward, y, x, w, None, [1, 1],
                [k // 2, k // 2], [1, 1], False, [0, 0], c, [True, True, False]), repeats)
            item = x.element_size()
            act = x.numel() * item
            wb = w.numel() * item
            runs.append(DepthwiseRun(key, f"{n}×{c}×{hw}×{hw} k{k} depthwise",
                                     2 * act + wb, fwd, 3 * act + 2 * wb, bwd))
        except (RuntimeError, torch.cuda.OutOfMemoryError):
            pass
        finally:
            x = w = y = torch.empty(0)
            torch.cuda.empty_cache()
    return tuple(runs)


#: Default square GEMM sizes n (an n×n by n×n product) of :func:`calibrate_cuda`; skinny
#: shapes (small N or K) are added at the largest n.
CUDA_GEMM_SIZES: tuple[int, ...] = (1024, 2048, 4096, 8192)

#: Default convolutions of :func:`calibrate_cuda`: (batch, channels in, channels out,
#: height = width, square kernel), stride 1, padding kernel // 2.
CUDA_CONVS: tuple[tuple[int, int, int, int, int], ...] = (
    (64, 256, 256, 56, 3),
    (128, 256, 256, 56, 3),
    (128, 256, 256, 56, 1),
    (256, 256, 256, 56, 1),
)


def _cuda_seconds(fn: Callable[[], object], repeats: int, min_s: float = 2e-3) -> float:
    """Best device seconds per call of ``fn`` (CUDA events; calls repeated back to back in
    each timed window so that it lasts at least ``min_s`` seconds)."""
    import torch

    fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
    end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
    start.record()
    fn()
    end.record()
    end.synchronize()
    once = max(start.elapsed_time(end) / 1e3, 1e-7)
    inner = max(1, min(1000, math.ceil(min_s / once)))
    best = float("inf")
    for _ in range(repeats):
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3 / inner)
    return best


def _host_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Best wall µs per op of ``fn`` issued ``n`` times in a loop, then one synchronize."""
    import torch

    fn()
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def _kernel_us(repeats: int, kernels: int = 200) -> float | None:
    """Device µs per tiny kernel: ``kernels`` in-place adds captured in a CUDA graph and
    replayed (no host overhead); ``None`` when graph capture fails."""
    import torch

    x = torch.zeros(1024, device="cuda")
    try:
        side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                x.add_(1)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(kernels):
                x.add_(1)
        return _cuda_seconds(graph.replay, repeats) / kernels * 1e6
    except RuntimeError:
        return None


def _arch(props: Any, hip: bool) -> str:
    """Architecture family (:data:`~.devices.ARCHS`) of CUDA device properties."""
    if hip:
        gcn = str(getattr(props, "gcnArchName", ""))
        return "cdna2" if gcn.startswith("gfx90a") else "cdna3" if gcn.startswith("gfx94") else ""
    cc = (int(props.major), int(props.minor))
    if cc[0] == 7:
        return "turing" if cc >= (7, 5) else "volta"
    if cc[0] == 8:
        return "ada" if cc >= (8, 9) else "ampere"
    return {9: "hopper", 10: "blackwell", 11: "blackwell", 12: "blackwell"}.get(cc[0], "")


def measure_cuda(
    sizes: Sequence[int] = CUDA_GEMM_SIZES,
    convs: Sequence[tuple[int, int, int, int, int]] = CUDA_CONVS,
    repeats: int = 5,
    copy_mib: int = 1024,
) -> CudaMeasurements:
    """Measure CUDA device 0 (see :class:`CudaMeasurements` for the units).

    GEMMs (``torch.mm``, FLOPs = 2·M·N·K) in fp32 with TF32 off, tf32 (TF32 allowed; on
    NVIDIA compute capability ≥ 8), fp16 and bf16 (where supported): the squares of
    ``sizes`` and skinny shapes at the largest; convolutions ``convs``
    (``torch.nn.functional.conv2d`` with ``cudnn.benchmark``, FLOPs = 2·MACs) per dtype; a
    ``copy_mib`` MiB device-to-device copy; the device time of a tiny kernel (CUDA graph) and
    the host time to issue a tiny mm, add and view. Each figure is the best of ``repeats``
    timed windows; a shape that does not fit in memory is skipped. The TF32 and
    ``cudnn.benchmark`` settings are restored afterwards.
    """
    import torch
    from torch.nn.functional import conv2d

    if not torch.cuda.is_available():
        raise SpecError("torch.cuda", "not available", "measuring a GPU needs CUDA (or ROCm)")
    hip = bool(torch.version.hip)
    props = torch.cuda.get_device_properties(0)
    torch.cuda.set_device(0)
    ampere = not hip and props.major >= 8  # TF32 and bf16 tensor cores
    dtypes = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
              "bf16": torch.bfloat16}
    supported = {"fp32": True, "tf32": ampere, "fp16": True, "bf16": ampere or hip}
    keys = [k for k in CUDA_GEMM_KEYS if supported[k]]
    big = max(sizes)
    gemms = [(n, n, n) for n in sizes] + [(big, big, 256), (big, 256, big), (big, 64, big)]
    runs: list[Run] = []
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark)
    try:
        torch.backends.cudnn.benchmark = True
        for key in keys:
            torch.backends.cuda.matmul.allow_tf32 = key == "tf32"
            torch.backends.cudnn.allow_tf32 = key == "tf32"
            dt = dtypes[key]
            for M, N, K in gemms:
                try:
                    a = torch.randn(M, K, device="cuda", dtype=dt)
                    b = torch.randn(K, N, device="cuda", dtype=dt)
                    c = torch.empty(M, N, device="cuda", dtype=dt)
                    t = _cuda_seconds(partial(torch.mm, a, b, out=c), repeats)
                    runs.append(Run("gemm", key, f"{M}×{N}×{K}", 2 * M * N * K / t))
                except torch.cuda.OutOfMemoryError:
                    pass
                finally:
                    a = b = c = torch.empty(0)
                    torch.cuda.empty_cache()
            for batch, cin, cout, hw, k in convs:
                try:
                    x = torch.randn(batch, cin, hw, hw, device="cuda", dtype=dt)
                    w = torch.randn(cout, cin, k, k, device="cuda", dtype=dt)
                    t = _cuda_seconds(partial(conv2d, x, w, padding=k // 2), repeats)
                    macs = batch * cout * hw * hw * cin * k * k
                    runs.append(Run("conv", key, f"{batch}×{cin}×{hw}×{hw} k{k} →{cout}",
                                    2 * macs / t))
                except torch.cuda.OutOfMemoryError:
                    pass
                finally:
                    x = w = torch.empty(0)
                    torch.cuda.empty_cache()
        depthwise = _depthwise_runs(keys, dtypes, repeats)
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved
    n = min(copy_mib * 2**20, props.total_memory // 16) // 4
    src = torch.ones(n, device="cuda")
    dst = torch.empty_like(src)
    bandwidth = 2 * src.nbytes / _cuda_seconds(partial(dst.copy_, src), repeats)
    copy_bytes = src.nbytes
    del src, dst
    torch.cuda.empty_cache()
    v = torch.zeros(16, device="cuda")
    mat = torch.zeros(16, 16, device="cuda")
    img = torch.zeros(1, 4, 8, 8, device="cuda")
    conv = torch.nn.Conv2d(4, 4, 3, padding=1).cuda().requires_grad_(False)
    ident = torch.nn.Identity()
    host = {"library": _host_us(partial(conv, img), 2000, repeats),
            "blas": _host_us(partial(torch.mm, mat, mat), 5000, repeats),
            "kernel": _host_us(partial(v.add_, 1), 5000, repeats),
            "none": _host_us(partial(v.view, -1), 20000, repeats),
            "module": _host_us(partial(ident, v), 20000, repeats)}
    import torch.version as tv

    return CudaMeasurements(
        device_name=torch.cuda.get_device_name(0),
        torch_version=str(torch.__version__) + (f" HIP {tv.hip}" if hip else
                                                f" CUDA {tv.cuda}"),
        date=time.strftime("%Y-%m-%d"),
        runs=tuple(runs),
        bandwidth=bandwidth,
        copy_bytes=copy_bytes,
        kernel_us=_kernel_us(repeats),
        host_us=host,
        sms=int(props.multi_processor_count),
        l2_bytes=int(getattr(props, "L2_cache_size", 0) or 0),
        memory=int(props.total_memory),
        arch=_arch(props, hip),
        depthwise=depthwise,
    )


def calibrate_cuda(
    name: str = "this-gpu",
    base: DeviceSpec | None = None,
    sizes: Sequence[int] = CUDA_GEMM_SIZES,
    convs: Sequence[tuple[int, int, int, int, int]] = CUDA_CONVS,
    repeats: int = 5,
) -> DeviceSpec:
    """Measure CUDA device 0 (:func:`measure_cuda`: GEMM and convolution FLOP/s per dtype,
    copy B/s, tiny-kernel device µs, per-op host µs) and return it as a device
    (:func:`device_from_measurements`): with ``base`` (the preset of this GPU) the preset's
    peaks with measured efficiencies, otherwise the achieved rates as peaks."""
    return device_from_measurements(measure_cuda(sizes, convs, repeats), name, base)
