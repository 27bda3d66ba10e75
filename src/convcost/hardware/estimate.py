"""Execution-time estimate of a step on a GPU: every op's device time and the host time to
issue it, played through an asynchronous launch queue.

The roofline (:mod:`convcost.hardware.roofline`) is a bound: every op at the dtype's peak
FLOP/s or the peak bandwidth, nothing else. This model adds what a real eager-PyTorch step
pays, each part with a physical reason (the README's "Time model" section lists them with
their sources):

* **Host time per op** (``host_us.<class>``, :mod:`convcost.hardware.stacks`): the Python →
  dispatcher → launch path of eager PyTorch, per op, whether or not the op launches a
  kernel, by class: a cuDNN convolution (``library``: descriptors, heuristics), another
  library call (``blas``: cuBLAS, attention, cuDNN batch norm), an op launching its own
  kernel (``kernel``), one launching none (``none``); plus ``module`` for each
  ``nn.Module`` the forward enters. The values belong to a software stack (``--stack``:
  PyTorch version, CUDA, host CPU), overridden by the device's own ``timing``. The host
  issues ops in order while the GPU runs earlier ones; an op starts on the device when it
  has been issued *and* the previous op has finished (:func:`play`). A step whose host time
  exceeds its device time is *host-bound* (batch-1 inference).
* **A fixed device cost per kernel** (``kernel_us``): launch, ramp-up and tail of a kernel.
* **GEMM-like ops** (convolution as an implicit GEMM, the matmul family, attention;
  :class:`~convcost.formulas.kernels.Gemm`): output tiles spread over the device's SMs in
  waves (wave quantization), the best of a few tile shapes and split-K factors, the tensor
  core used for fp16/bf16 (tf32 only with ``tf32``) with dimensions padded to its alignment,
  at an achievable fraction of the dtype's peak (``gemm_efficiency``/``conv_efficiency``);
  a smaller tile reuses each operand less and runs at a proportionally lower rate.
  Depthwise convolutions take the better of that and a direct kernel that streams its bytes.
  TF32 is allowed, not forced: an fp32 convolution with ``tf32`` takes the better of the TF32
  tensor cores (with the layout conversion below) and the fp32 CUDA cores, as cuDNN's
  benchmark mode picks the fastest kernel (on GeForce Ada the two peaks are equal).
* **Which ops are library calls** on the host: convolutions, the matmul family, attention, and
  the batch norms PyTorch hands to cuDNN (fp32 or fp16 inputs with fp32 weights: see
  :func:`~convcost.formulas.kernels.cudnn_batch_norm`); they pay ``host_us.library`` (a
  convolution) or ``host_us.blas``.
* **Memory layout of tensor-core convolutions**: cuDNN's tensor-core convolution kernels
  work on channels-last (NHWC) tensors. A model in PyTorch's default contiguous (NCHW)
  layout pays, for every tensor-core convolution call, a layout conversion of each tensor
  the call reads or writes: one read and one write of its bytes at the achievable
  bandwidth, in two more kernels (``channels_last=False``, the default). Depthwise
  convolutions (direct CUDA-core kernels) and fp32 on the CUDA cores convert nothing.
* **Every other op** streams the exact bytes it reads and writes (plus what known kernels
  read again: training-mode batch norm) at an achievable fraction of the peak bandwidth
  (``bandwidth_efficiency``: the device's own where it was measured, else its arch's).
* **Rows read again** (:class:`~convcost.formulas.kernels.Reread`: layer norm forward's
  second read of each row, softmax's second and third over more than 1,024 columns) cost
  DRAM traffic only where the rows in flight do not fit in the L2 (:func:`reread_bytes`):
  one block per row, as many blocks resident as the SMs hold threads.
* **The optimizer**: per-parameter kernels as recorded, or PyTorch's foreach
  implementation (the default on CUDA since PyTorch 2.0): one multi-tensor launch per
  op per group of tensors.

Not modelled (said in every output): overlap of kernels (one stream), cuDNN's algorithm
choice (e.g. Winograd), kernel fusion, caches between ops, data loading and host-to-device
copies, clocks below boost (power or thermal limits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..formulas.kernels import Gemm, Reread

if TYPE_CHECKING:
    from ..model import ModelResult, OpRow
    from .devices import DeviceSpec

ESTIMATE_ASSUMPTIONS = (
    "per-op host dispatch and per-kernel launch costs; GEMMs in tiles and waves over the SMs "
    "at an achievable fraction of peak; other ops stream their bytes at an achievable "
    "fraction of peak bandwidth; one stream, no overlap between kernels, no fusion, no "
    "cuDNN algorithm choice (e.g. Winograd), no data loading, datasheet boost clocks (or the "
    "clock measured under load where the device has one)"
)

#: Where each default constant comes from (README "Time model" says more).
SOURCES: dict[str, str] = {
    "bandwidth_efficiency": (
        "achievable fraction of peak DRAM bandwidth by a streaming kernel: V100 750 of "
        "900 GB/s (Jia et al., Dissecting the NVIDIA Volta GPU Architecture via "
        "Microbenchmarking, 2018), T4 220 of 320 GB/s (Jia et al., Dissecting the NVidia "
        "Turing T4 GPU via Microbenchmarking, 2019), A100-80GB 1.80 of 2.04 TB/s, confirmed "
        "by Nsight Compute at 88 % (NVIDIA developer forum, 'Trouble to reach peak "
        "bandwidth of A100'); Ada (RTX 4090) 921 of 1,008 GB/s by a read kernel "
        "(xytpai/nvbench global_memory_bandwidth.cu; clpeak issue #106 reports 921 GB/s "
        "too; the same nvbench table has A100-40GB at 1,379 of 1,555, the A100 figure "
        "above); other HBM parts take the A100 figure, other GDDR parts the T4's. Where a "
        "device has been measured, its preset's timing.bandwidth_efficiency replaces the "
        "arch default (v100-pcie 0.91, t4 0.75, l4 0.78: NeuSight's elementwise kernels of "
        "at least 1 ms, tuning half of benchmarks/kernels_vs_measured.py; each with its "
        "source in device_presets.json)"),
    "kernel_us": (
        "device time of a minimal kernel back to back (launch, ramp-up, tail): a few "
        "microseconds on NVIDIA GPUs; fitted (benchmarks/fit_time_model.py) on the tuning "
        "rows; measure yours with `convcost calibrate`"),
    "host_us": (
        "host time of eager PyTorch per op (Python, dispatcher, launch) and per module "
        "entered, by class, from the software stack (hardware/stacks.json, each constant "
        "with its source; the batch norms PyTorch hands to cuDNN are library calls, per "
        "_batch_norm_impl_index / _select_batch_norm_backend in "
        "aten/src/ATen/native/Normalization.cpp); measure yours with "
        "`convcost calibrate --target cuda`"),
    "gemm_efficiency": (
        "fraction of the dense peak a large cuBLAS GEMM reaches: 0.8 on tensor cores, 0.9 "
        "on CUDA cores (assumed; the published rows are convolution-bound and cannot fit "
        "it); measure yours with `convcost calibrate`"),
    "conv_efficiency": (
        "fraction of the dense peak a large cuDNN convolution reaches, per kernel class "
        "(fp16/bf16 tensor cores, tf32 tensor cores, fp32 CUDA cores): fitted on the tuning "
        "rows. The fp32 value 1.0 absorbs cuDNN's Winograd/FFT algorithms, which do fewer "
        "multiplications than counted; measure yours with `convcost calibrate`. With TF32 "
        "allowed, a convolution takes the faster of the TF32 and the fp32 kernels (cuDNN's "
        "benchmark mode times both; PyTorch's allow_tf32 permits TF32, it does not force "
        "it)"),
    "depthwise_efficiency": (
        "fraction of the achievable bandwidth a depthwise convolution's forward or "
        "data-gradient kernel reaches (a stencil: bandwidth-bound, gathering with poor "
        "locality): fitted on the tuning rows (EfficientNet)"),
    "depthwise_wgrad_efficiency": (
        "the same for a depthwise convolution's weight gradient, a reduction of every "
        "output position into a few weights (cuDNN and PyTorch's native kernels reduce in "
        "stages): fitted on the tuning rows (EfficientNet training)"),
    "tiles": (
        "output tiles of 256×128, 128×128, 128×64 and 64×64 with split-K up to 16 (the "
        "shapes cuBLAS/CUTLASS kernels use); a tile's rate scales with its operand reuse "
        "tm·tn/(tm+tn) relative to 128×128; wave quantization as in NVIDIA's Matrix "
        "Multiplication Background User's Guide"),
    "alignment": (
        "tensor cores need K and N in multiples of 16 bytes of the dtype (8 fp16/bf16 "
        "elements, 4 tf32, 16 int8/fp8); other sizes are padded (NVIDIA Matrix "
        "Multiplication Background User's Guide, 'Tensor Core Requirements')"),
    "layout": (
        "cuDNN's tensor-core convolution kernels work on NHWC tensors and convert NCHW "
        "operands on the way in and the result on the way out (ptrblck, PyTorch forums, "
        "'NCHW layout as default for a new accelerator device': 'cudnn can internally "
        "transpose your NCHW data to NHWC'; PyTorch's channels_last tutorial; MosaicML "
        "Composer's Channels Last method card: about 30 % faster ResNet-50 on V100/A100); "
        "modelled as one read and one write of the call's bytes at the achievable "
        "bandwidth in two extra kernels: no fitted constant"),
    "reread": (
        "a row a kernel reads again (layer norm forward: vectorized_layer_norm_kernel, one "
        "128-thread block per row, reads X for its statistics and again to normalise, "
        "aten/src/ATen/native/cuda/layer_norm_kernel.cu; softmax over more than 1,024 "
        "columns: cunn_SoftMaxForward, one block per row of SoftMax_getBlockSize threads, "
        "reads the row for the max, for the sum of exponentials and for the result, "
        "aten/src/ATen/native/cuda/SoftMax.cu, PyTorch 2.1) comes from the L2 when every "
        "row in flight (SMs x resident blocks, each row's bytes read and written) fits in "
        "it, else from DRAM; resident threads per SM from the CUDA C++ Programming Guide, "
        "'Technical Specifications per Compute Capability' (2,048 on 7.0/8.0/9.0/10.0, "
        "1,024 on 7.5, 1,536 on 8.6/8.9): no fitted constant"),
    "load_clock": (
        "GeForce cards sustain clocks above their datasheet boost clock while power and "
        "temperature allow; a preset with a cited measurement of its clock under load "
        "(timing.load_clock_mhz, e.g. the RTX 4090's 2,744 MHz against 2,520 MHz in "
        "ComputerBase's review) has its compute peaks scaled by that ratio in the estimate; "
        "the roofline keeps the datasheet peaks"),
    "foreach": (
        "PyTorch's multi_tensor_apply launches a kernel per group of at most 64 tensors "
        "(depth 2–3) or 320 chunks of 65,536 elements (aten/src/ATen/native/cuda/"
        "MultiTensorApply.cuh)"),
}

#: Defaults per architecture family: achievable bandwidth fraction (see ``SOURCES``).
BANDWIDTH_EFFICIENCY: dict[str, float] = {
    "volta": 750 / 900, "turing": 220 / 320, "ampere": 1.80 / 2.04, "hopper": 1.80 / 2.04,
    "blackwell": 1.80 / 2.04, "ada": 921 / 1008, "cdna2": 1.80 / 2.04, "cdna3": 1.80 / 2.04,
    "cpu": 1.0, "": 1.80 / 2.04,
}

#: Most threads resident on one SM, per compute capability (CUDA C++ Programming Guide,
#: "Technical Specifications per Compute Capability": maximum number of resident threads
#: per SM; see ``SOURCES["reread"]``). GA10x (8.6) and Ada (8.9) hold 1,536, the A100 (8.0)
#: 2,048. A compute capability not listed, AMD and unknown parts: :data:`THREADS_DEFAULT`.
THREADS_PER_SM: dict[str, int] = {
    "7.0": 2048, "7.2": 2048, "7.5": 1024, "8.0": 2048, "8.6": 1536, "8.7": 2048,
    "8.9": 1536, "9.0": 2048, "10.0": 2048, "12.0": 1536,
}
THREADS_DEFAULT = 2048


def threads_per_sm(device: DeviceSpec) -> int:
    """Most threads resident on one of ``device``'s SMs (by its compute capability)."""
    from .dispatch import compute_capability

    return THREADS_PER_SM.get(compute_capability(device), THREADS_DEFAULT)


def reread_bytes(r: Reread | None, device: DeviceSpec) -> int:
    """DRAM bytes of ``r`` on ``device``: none when the rows in flight fit in its L2 (one
    block of ``r.threads`` per row, as many resident per SM as its threads allow; a reread
    by a later kernel needs every row to fit), else all of them. A device of unknown L2
    (0) serves nothing from it; a CPU rereads from its caches (0)."""
    if r is None or not r.nbytes or device.arch == "cpu":
        return 0
    rows = r.rows
    if r.threads and device.sms > 0:
        per_sm = max(1, threads_per_sm(device) // r.threads)
        rows = min(rows, device.sms * per_sm)
    return 0 if rows * r.row_bytes <= device.l2_bytes else r.nbytes


#: Kernel-class constants (device-independent defaults; a device's ``timing`` overrides).
#: Efficiencies are fractions of the dense peak; ``tensor`` = tensor-core dtypes (fp16,
#: bf16, tf32, fp8, int8), ``simt`` = fp32/fp64 on the CUDA cores.
CLASS_DEFAULTS: dict[str, float] = {
    "gemm_efficiency.tensor": 0.80,
    "gemm_efficiency.simt": 0.90,
    "conv_efficiency.tensor": 0.55,
    "conv_efficiency.tf32": 0.40,
    "conv_efficiency.simt": 1.00,
    "depthwise_efficiency": 0.20,
    "depthwise_wgrad_efficiency": 0.075,
    "kernel_us": 1.0,
}

#: The constants of :data:`CLASS_DEFAULTS` fitted by ``benchmarks/fit_time_model.py`` on the
#: tuning rows of the published table (never on a held-out row); the host constants of the
#: ``pytorch-1.9`` stack were fitted on the same rows (``hardware/stacks.json``).
FITTED: tuple[str, ...] = ("conv_efficiency.tensor", "conv_efficiency.tf32",
                           "conv_efficiency.simt", "depthwise_efficiency",
                           "depthwise_wgrad_efficiency", "kernel_us")

TENSOR_KEYS = frozenset({"fp16", "bf16", "tf32", "fp8", "int8"})
ALIGN = {"fp16": 8, "bf16": 8, "tf32": 4, "fp8": 16, "int8": 16}
#: (tile M, tile N) shapes; the rate of each is its operand reuse relative to 128×128.
TILES: tuple[tuple[int, int], ...] = ((256, 128), (128, 256), (128, 128), (128, 64),
                                      (64, 128), (64, 64))
SPLIT_K: tuple[int, ...] = (1, 2, 4, 8, 16)
MIN_K_PER_SPLIT = 64
FOREACH_TENSORS = 64
FOREACH_CHUNK = 65536
FOREACH_BLOCKS = 320


def _reuse(tm: int, tn: int) -> float:
    return tm * tn / (tm + tn)


TILE_RATE = {t: min(1.0, _reuse(*t) / _reuse(128, 128)) for t in TILES}


class Constants(NamedTuple):
    """The constants of the estimate for one device (seconds, fractions)."""

    gemm_efficiency: Mapping[str, float]
    conv_efficiency: Mapping[str, float]
    bandwidth_efficiency: float
    depthwise_efficiency: float
    depthwise_wgrad_efficiency: float
    kernel_s: float
    host_s: Mapping[str, float]
    origin: Mapping[str, str]
    stack: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (microseconds for the times)."""
        return {
            "gemm_efficiency": dict(self.gemm_efficiency),
            "conv_efficiency": dict(self.conv_efficiency),
            "bandwidth_efficiency": self.bandwidth_efficiency,
            "depthwise_efficiency": self.depthwise_efficiency,
            "depthwise_wgrad_efficiency": self.depthwise_wgrad_efficiency,
            "kernel_us": self.kernel_s * 1e6,
            "host_us": {k: v * 1e6 for k, v in self.host_s.items()},
            "stack": self.stack,
            "origin": dict(self.origin),
        }


def constants(device: DeviceSpec) -> Constants:
    """The estimate's constants for ``device``: its own ``timing`` values where it has them
    (measured by ``convcost calibrate`` or set in a devices file), else the defaults of its
    architecture and kernel class (``origin`` says which, per constant)."""
    t = device.timing
    origin: dict[str, str] = {}

    def pick(key: str, default: float) -> float:
        if key in t:
            origin[key] = "device"
            return t[key]
        origin[key] = "default"
        return default

    from .devices import PEAK_KEYS

    def cls(kind: str, k: str) -> float:
        own = CLASS_DEFAULTS.get(f"{kind}.{k}")
        return own if own is not None else CLASS_DEFAULTS[
            f"{kind}.tensor" if k in TENSOR_KEYS else f"{kind}.simt"]

    gemm = {k: pick(f"gemm_efficiency.{k}", cls("gemm_efficiency", k)) for k in PEAK_KEYS}
    conv = {k: pick(f"conv_efficiency.{k}", cls("conv_efficiency", k)) for k in PEAK_KEYS}
    bw = pick("bandwidth_efficiency", BANDWIDTH_EFFICIENCY.get(device.arch,
                                                               BANDWIDTH_EFFICIENCY[""]))
    dw = pick("depthwise_efficiency", CLASS_DEFAULTS["depthwise_efficiency"])
    dw_wgrad = pick("depthwise_wgrad_efficiency", CLASS_DEFAULTS["depthwise_wgrad_efficiency"])
    kernel = pick("kernel_us", CLASS_DEFAULTS["kernel_us"]) * 1e-6
    from .stacks import HOST_CLASSES, get_stack

    stack = get_stack(device.stack, "stack")
    host = {}
    for c in HOST_CLASSES:
        host[c] = pick(f"host_us.{c}", stack.host_us[c]) * 1e-6
        if origin[f"host_us.{c}"] == "default":
            origin[f"host_us.{c}"] = f"stack {stack.name}"
    return Constants(gemm, conv, bw, dw, dw_wgrad, kernel, host, origin, stack.name)


def gemm_time(g: Gemm, peak: float, efficiency: float, sms: int, bandwidth: float,
              align: int = 1) -> float:
    """Seconds of the GEMMs ``g`` (compute only) at ``peak`` FLOP/s × ``efficiency`` on
    ``sms`` SMs: the best over :data:`TILES` and :data:`SPLIT_K` of
    waves × time of one tile's work on one SM, plus a split-K reduction at ``bandwidth``.

    ``align`` pads N and K (and M unless the GEMM is a convolution's) to a multiple (tensor
    cores). ``sms`` 0: no quantization, the padded FLOPs at the achievable rate."""
    def up(x: int) -> int:
        return -(-x // align) * align

    m = g.m if g.conv else up(g.m)
    n, k = up(g.n), up(g.k)
    rate = peak * efficiency
    if sms <= 0:
        return 2 * m * n * k * g.batch / rate
    per_sm = rate / sms
    best = math.inf
    for tm, tn in TILES:
        tiles = -(-m // tm) * -(-n // tn) * g.batch
        tile_rate = per_sm * TILE_RATE[(tm, tn)]
        for s in SPLIT_K:
            if s > 1 and k // s < MIN_K_PER_SPLIT:
                break
            waves = -(-tiles * s // sms)
            t = waves * 2 * tm * tn * -(-k // s) / tile_rate
            if s > 1:  # partial sums in fp32 written and read back once
                t += 2 * 4 * m * n * g.batch * s / bandwidth
            best = min(best, t)
    return best


class OpTime(NamedTuple):
    """Estimated host seconds to issue one op and device seconds to run it, and the
    seconds it adds to the step (``wall_s``: its share of the played timeline)."""

    host_s: float
    device_s: float
    wall_s: float


#: Kernels a layout conversion adds to a tensor-core convolution call in NCHW (the
#: operands into NHWC, the result back).
LAYOUT_KERNELS = 2
#: Architectures whose convolutions the layout part describes (cuDNN on NVIDIA GPUs; not
#: the CPU's oneDNN, nor MIOpen on AMD GPUs, whose layouts are not modelled).
LAYOUT_ARCHS = frozenset({"volta", "turing", "ampere", "ada", "hopper", "blackwell", ""})


def converts_layout(device: DeviceSpec) -> bool:
    """Whether the estimate on ``device`` models the NCHW ↔ NHWC conversion around
    tensor-core convolutions (NVIDIA GPUs and devices of unknown architecture), so that
    ``channels_last`` changes it."""
    return device.arch in LAYOUT_ARCHS


def layout_refusal(device: DeviceSpec) -> str:
    """Why ``channels_last`` has no effect on ``device`` (one where :func:`converts_layout`
    is false), for the error that names the option."""
    return (f"has no effect on {device.name} (arch {device.arch}): the memory layout is "
            "modelled for cuDNN on NVIDIA GPUs")


def op_device_time(o: OpRow, device: DeviceSpec, c: Constants, tf32: bool,
                   channels_last: bool = False) -> float:
    """Device seconds of one op (0 when it launches no kernel). ``channels_last``: the
    model's tensors are NHWC, so tensor-core convolutions convert no layout."""
    lc = o.launch
    nbytes = o.read + o.written + lc.extra_read + reread_bytes(lc.reread, device)
    bw = device.bandwidth * c.bandwidth_efficiency
    stream = nbytes / bw
    if lc.kind != "library" and nbytes == 0 and o.cost.flops == 0:
        return 0.0
    simt_peak = device.peak["fp32"] * c.gemm_efficiency["fp32"]
    if lc.kind != "library" or not lc.gemms:
        return lc.kernels * c.kernel_s + max(stream, o.cost.flops / simt_peak)
    choice = device.peak_choice(o.dtype, tf32)
    key = choice.key
    align = ALIGN.get(key, 1)
    total = 0.0
    layout = 0.0
    for g in lc.gemms:
        eff = (c.conv_efficiency if g.conv else c.gemm_efficiency)[key]
        t = gemm_time(g, choice.flops, eff, device.sms, bw, align)
        direct = math.inf
        if g.depthwise:  # a direct kernel: CUDA-core arithmetic, bytes streamed
            dw_eff = c.depthwise_wgrad_efficiency if g.wgrad else c.depthwise_efficiency
            direct = max(g.flops / simt_peak, stream / len(lc.gemms) / dw_eff)
        if g.conv and key == "tf32":  # TF32 is allowed, not forced: cuDNN may stay on fp32
            direct = min(direct, gemm_time(g, device.peak["fp32"], c.conv_efficiency["fp32"],
                                           device.sms, bw))
        # NCHW operands into NHWC and the result back: each byte read and written once
        convert = (LAYOUT_KERNELS * c.kernel_s + 2 * stream
                   if g.conv and key in TENSOR_KEYS and not channels_last
                   and device.arch in LAYOUT_ARCHS else 0.0)
        if direct < t + convert:
            t = direct
        else:
            layout = max(layout, convert)
        total += t
    # never below the op's own counted FLOPs at the peak, nor its bytes at the bandwidth
    return lc.kernels * c.kernel_s + max(total, stream, o.cost.flops / choice.flops) + layout


def host_class(o: OpRow) -> str:
    """The op's host class (:data:`~convcost.hardware.stacks.HOST_CLASSES`): ``library`` for
    a cuDNN convolution, ``blas`` for another library call (cuBLAS GEMMs, attention, cuDNN's
    batch norm), ``kernel`` for an op launching its own kernel, ``none`` for one launching
    nothing."""
    lc = o.launch
    if lc.kind == "library":
        return "library" if any(g.conv for g in lc.gemms) else "blas"
    if o.read + o.written + lc.extra_read == 0 and o.cost.flops == 0:
        return "none"
    return "kernel"


def op_host_time(o: OpRow, c: Constants) -> float:
    """Host seconds to issue one op (by :func:`host_class`; module calls not included)."""
    return c.host_s[host_class(o)]


def modules_entered(prev: str, module: str) -> int:
    """How many modules a forward enters between an op of module path ``prev`` and the next
    op, of module path ``module`` (``""``: the model itself): the components of ``module``
    past the longest prefix the two share (a module called twice with no other module's op
    between the calls counts once)."""
    a = prev.split(".") if prev else []
    b = module.split(".") if module else []
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    return len(b) - common


def play(times: list[tuple[float, float]]) -> list[float]:
    """The asynchronous launch queue: ops issued in order, each taking ``host`` seconds of
    the host, running ``device`` seconds on the GPU once issued and once the previous op has
    finished. Returns each op's share of the timeline (the seconds by which it moves the
    end of the last finished work); the shares sum to the step's time."""
    host_t = 0.0
    dev_end = 0.0
    shares = []
    for host, dev in times:
        host_t += host
        end = max(host_t, dev_end) + dev  # an op with no device work may still idle the GPU
        shares.append(end - dev_end)
        dev_end = end
    return shares


@dataclass(frozen=True)
class Estimate:
    """The estimated step: seconds per phase (shares of the played timeline, summing to
    ``step_s``), total host and device seconds, ``host_bound`` when the host's time exceeds
    the device's; per-op times (``ops``, in the order of ``result.ops``). ``backward_s``
    includes the recomputation of activation-checkpointed modules (phase ``recompute``);
    ``recompute_s`` is that part of it."""

    forward_s: float
    backward_s: float
    optimizer_s: float
    host_s: float
    device_s: float
    batch: int
    ops: tuple[OpTime, ...]
    constants: Constants
    foreach: bool
    recompute_s: float = 0.0
    channels_last: bool = False
    phases: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    classes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @property
    def step_s(self) -> float:
        """Forward + backward + optimizer."""
        return self.forward_s + self.backward_s + self.optimizer_s

    @property
    def samples_per_s(self) -> float:
        """Batch / step time."""
        return self.batch / self.step_s if self.step_s else float("inf")

    @property
    def host_bound(self) -> bool:
        """True when issuing the ops takes longer than running them."""
        return self.host_s > self.device_s

    def to_dict(self) -> dict[str, Any]:
        """``hardware.estimate`` of the JSON report."""
        return {
            "forward_s": self.forward_s,
            "backward_s": self.backward_s,
            "recompute_s": self.recompute_s,
            "optimizer_s": self.optimizer_s,
            "step_s": self.step_s,
            "samples_per_s": self.samples_per_s,
            "host_s": self.host_s,
            "device_s": self.device_s,
            "host_bound": self.host_bound,
            "optimizer_kernels": "foreach" if self.foreach else "per-parameter",
            "memory_format": "channels_last" if self.channels_last else "contiguous",
            "stack": self.constants.stack,
            "breakdown": {"phases": {k: dict(v) for k, v in self.phases.items()},
                          "op_classes": {k: dict(v) for k, v in self.classes.items()}},
            "assumptions": ESTIMATE_ASSUMPTIONS,
            "constants": self.constants.to_dict(),
        }


def _foreach_groups(opt: list[int], ops: tuple[OpRow, ...]) -> list[list[int]]:
    """Optimizer op indices grouped as PyTorch's foreach implementation issues them: the
    k-th op of every parameter together (ops recorded per parameter, in order). Ops that
    move nothing (profiler markers, metadata) stay apart; a sequence that does not split
    evenly into parameters stays per op."""
    work = [i for i in opt if ops[i].read + ops[i].written or ops[i].cost.flops]
    counts: dict[str, int] = {}
    for i in work:
        counts[ops[i].name] = counts.get(ops[i].name, 0) + 1
    n_params = min(counts.values()) if counts else 0
    if n_params == 0 or len(work) % n_params:
        return [[i] for i in work]
    per = len(work) // n_params
    groups = [[work[p * per + j] for p in range(n_params)] for j in range(per)]
    if any(len({ops[i].name for i in g}) != 1 for g in groups):  # not one op per parameter
        return [[i] for i in work]
    return groups


def under_load(device: DeviceSpec) -> DeviceSpec:
    """``device`` with its compute peaks at the clock it sustains under load
    (``timing["load_clock_mhz"]``, a measurement with its source) instead of the datasheet
    boost ``clock_mhz``; ``device`` itself when it has no such measurement. Bandwidth is the
    memory's and does not change."""
    load = device.timing.get("load_clock_mhz")
    if not load or not device.clock_mhz:
        return device
    from dataclasses import replace

    scale = load / device.clock_mhz
    return replace(device, peak={k: v * scale for k, v in device.peak.items()})


def estimate(result: ModelResult, device: DeviceSpec, tf32: bool = False,
             foreach: bool = True, channels_last: bool = False,
             stack: str | None = None) -> Estimate:
    """The estimated step of ``result`` on ``device`` (see the module doc). ``tf32``: fp32
    matrix work on TF32 tensor cores. ``foreach``: the optimizer runs PyTorch's foreach
    (multi-tensor) kernels, the default on CUDA since PyTorch 2.0; ``False``: one kernel per
    parameter and op, as recorded. ``channels_last``: the model and its inputs are in
    ``torch.channels_last`` (NHWC); the default, PyTorch's contiguous NCHW, adds a layout
    conversion to every tensor-core convolution. ``stack``: the software stack of the host
    constants (:mod:`convcost.hardware.stacks`; default: the device's, else the default
    stack)."""
    from .stacks import with_stack

    device = under_load(with_stack(device, stack))
    c = constants(device)
    ops = result.ops
    times = [(op_host_time(o, c), op_device_time(o, device, c, tf32, channels_last))
             for o in ops]
    opt = [i for i, o in enumerate(ops) if o.phase == "optimizer"]
    if foreach and opt:
        for group in _foreach_groups(opt, ops):
            nbytes = sum(ops[i].read + ops[i].written for i in group)
            elems = sum(ops[i].written for i in group) // 4 or 1
            launches = max(-(-len(group) // FOREACH_TENSORS),
                           -(-elems // (FOREACH_CHUNK * FOREACH_BLOCKS)),
                           sum(ops[i].launch.kernels for i in group) if len(group) == 1 else 1)
            flops = sum(ops[i].cost.flops for i in group)
            dev = launches * c.kernel_s + max(
                nbytes / (device.bandwidth * c.bandwidth_efficiency),
                flops / (device.peak["fp32"] * c.gemm_efficiency["fp32"]))
            times[group[0]] = (c.host_s["kernel"], dev)
            for i in group[1:]:
                times[i] = (0.0, 0.0)
    order = sorted(range(len(ops)), key=lambda i: ops[i].index)
    cls = [host_class(o) for o in ops]
    for i in opt if foreach else []:
        cls[i] = "kernel"
    module_s = [0.0] * len(ops)
    prev: str | None = None
    for i in order:  # each module the forward (or a recomputation) enters: Python's call
        o = ops[i]
        if o.phase in ("forward", "recompute"):
            n = (1 + modules_entered("", o.module) if prev is None
                 else modules_entered(prev, o.module))
            prev = o.module
            if n:
                module_s[i] = n * c.host_s["module"]
                times[i] = (times[i][0] + module_s[i], times[i][1])
    shares_in_order = play([times[i] for i in order])
    shares = [0.0] * len(ops)
    for i, s in zip(order, shares_in_order):
        shares[i] = s
    phase = {"forward": 0.0, "backward": 0.0, "recompute": 0.0, "optimizer": 0.0}
    phases: dict[str, dict[str, float]] = {}
    classes: dict[str, dict[str, float]] = {}
    for i, (o, s) in enumerate(zip(ops, shares)):
        phase[o.phase] = phase.get(o.phase, 0.0) + s
        (h, d) = times[i]
        p = phases.setdefault(o.phase, {"host_s": 0.0, "device_s": 0.0, "wall_s": 0.0})
        p["host_s"] += h
        p["device_s"] += d
        p["wall_s"] += s
        k = classes.setdefault(cls[i], {"ops": 0, "host_s": 0.0, "device_s": 0.0})
        k["ops"] += 1 if h or d or not (foreach and o.phase == "optimizer") else 0
        k["host_s"] += h - module_s[i]
        k["device_s"] += d
    if any(module_s):
        classes["module"] = {"ops": round(sum(module_s) / c.host_s["module"]),
                             "host_s": sum(module_s),
                             "device_s": 0.0}
    batch = result.inputs[0][1].shape[0] if result.inputs and result.inputs[0][1].shape else 1
    return Estimate(
        forward_s=phase["forward"],
        backward_s=phase["backward"] + phase["recompute"],
        optimizer_s=phase["optimizer"],
        host_s=sum(h for h, _ in times),
        device_s=sum(d for _, d in times),
        batch=batch,
        ops=tuple(OpTime(h, d, s) for (h, d), s in zip(times, shares)),
        constants=c,
        foreach=foreach,
        recompute_s=phase["recompute"],
        channels_last=channels_last,
        phases=phases,
        classes=classes,
    )
