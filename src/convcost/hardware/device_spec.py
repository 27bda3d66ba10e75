"""The device record (:class:`DeviceSpec`), its units and keys, and the default reserve.

Throughputs are *dense* peaks (vendor "with sparsity" figures halved) in FLOP/s, counting a
fused multiply-add as two operations — the same convention as convcost's ``flops``
(one multiplication plus one addition per MAC). Bandwidth is bytes/s, capacity bytes.
A dtype a device has no fast path for is absent from ``peak``; :meth:`DeviceSpec.peak_choice`
(and :meth:`DeviceSpec.peak_for`) then falls back to the fp32 rate and says so.

Everything here is re-exported by :mod:`convcost.hardware.devices`, the module to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

T = 1e12
GB = 1e9
MIB = 2**20
GIB = 2**30

#: dtype keys of ``DeviceSpec.peak``.
PEAK_KEYS: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

#: Keys of ``DeviceSpec.timing``: the constants of the execution-time estimate
#: (:mod:`convcost.hardware.estimate`) that a device may set for itself (a calibrated device,
#: a ``[device.NAME.timing]`` table); keys absent take the defaults of the device's ``arch``.
#: ``gemm_efficiency.<peak key>``: fraction of that dense peak a large GEMM reaches;
#: ``conv_efficiency.<peak key>``: the same for a large convolution (implicit GEMM);
#: ``bandwidth_efficiency``: fraction of peak bandwidth a streaming kernel reaches;
#: ``kernel_us``: device time of the smallest kernel (launch to completion, back to back);
#: ``load_clock_mhz``: the GPU clock measured under sustained load, when it differs from the
#: datasheet boost ``clock_mhz`` (GeForce cards boost above it): the estimate scales the
#: compute peaks by ``load_clock_mhz / clock_mhz`` (the roofline keeps the datasheet's);
#: ``host_us.library`` / ``blas`` / ``kernel`` / ``none`` / ``module``: host time to issue
#: one cuDNN convolution, one library call without an algorithm search (cuBLAS, attention,
#: cuDNN batch norm), one op launching its own kernel, one launching none, and to enter one
#: ``nn.Module`` (:mod:`convcost.hardware.stacks`; absent keys take the device's stack).
TIMING_KEYS: tuple[str, ...] = (
    *(f"gemm_efficiency.{k}" for k in PEAK_KEYS),
    *(f"conv_efficiency.{k}" for k in PEAK_KEYS),
    "bandwidth_efficiency",
    "depthwise_efficiency",
    "depthwise_wgrad_efficiency",
    "kernel_us",
    "load_clock_mhz",
    "host_us.library",
    "host_us.blas",
    "host_us.kernel",
    "host_us.none",
    "host_us.module",
)

#: Architecture families (``DeviceSpec.arch``): they select the default constants of the
#: execution-time estimate.
ARCHS: tuple[str, ...] = ("volta", "turing", "ampere", "ada", "hopper", "blackwell", "cdna2",
                          "cdna3", "cpu")

#: convcost dtype name -> device peak key.
DTYPE_TO_PEAK: dict[str, str] = {
    "float64": "fp64",
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float8_e4m3fn": "fp8",
    "float8_e4m3fnuz": "fp8",
    "float8_e5m2": "fp8",
    "float8_e5m2fnuz": "fp8",
    "int8": "int8",
}


#: Device memory the CUDA context takes before the first tensor, with lazy kernel loading
#: (PyTorch's default since 1.13; CUDA's own since 12.2): 426 MiB measured with PyTorch
#: 2.10 + CUDA 13.0 on an RTX 6000 Ada (github.com/unslothai/unsloth-zoo/pull/1053: "
#: torch.cuda.mem_get_info(0) | 426 MiB"), "around 400MB" (NVIDIA's ptrblck,
#: github.com/pytorch/pytorch/issues/109888); rounded up to 512 MiB for the cuBLAS and cuDNN
#: handles' own device state, whose size is not documented.
CONTEXT_RESERVE = 512 * MIB

#: How far ``nvidia-smi``'s (or ``rocm-smi``'s) total exceeds the total CUDA reports to
#: PyTorch, at most, over the devices where both are cited: H100 81559 MiB vs 79.11 GiB
#: (551 MiB), A100 80 GB 81920 MiB vs 79.25 GiB (768 MiB), A100 40 GB 40960 MiB vs 39.50 GiB
#: (512 MiB), T4 15360 MiB vs 14.75 GiB (256 MiB). Used where only the smi total is cited.
SMI_GAP = 768 * MIB


def default_reserve(memory: int, hbm: bool = False) -> int:
    """The reserve assumed for a GPU whose reported total is not known: 1/16 of its memory
    (what ECC takes on GDDR boards such as the T4 and L40S; nothing for ``hbm``),
    :data:`SMI_GAP` and :data:`CONTEXT_RESERVE` — on the safe side for every device with a
    cited total. A user device without ``reserve_mib`` gets the GDDR rule."""
    return (0 if hbm else memory // 16) + SMI_GAP + CONTEXT_RESERVE


@dataclass(frozen=True)
class PeakChoice:
    """The peak FLOP/s a roofline uses for one compute dtype on one device.

    ``flops`` is FLOP/s; ``key`` the device's peak key (``fp32``, ``bf16``, ``tf32``…);
    ``dtype`` the dtype that peak is for: the compute dtype itself, ``"tf32"``, or
    ``"float32"`` when the device has no peak for the compute dtype (the fallback), in which
    case ``note`` says so (``"t4 has no bfloat16 peak: the float32 peak is used"``);
    otherwise ``note`` is ``None``.
    """

    flops: float
    key: str
    dtype: str
    note: str | None


@dataclass(frozen=True)
class DeviceSpec:
    """One accelerator: dense peak FLOP/s per dtype, memory bandwidth (B/s), capacity (B).

    ``sources`` maps each field (``peak.fp16``, ``bandwidth``, ``memory``, ``sms``,
    ``clock_mhz``, ``l2``) to where the number comes from.

    For the execution-time estimate (:mod:`convcost.hardware.estimate`): ``sms`` is the
    number of streaming multiprocessors (NVIDIA) or compute units (AMD) that GEMM tiles are
    spread over (0: unknown, then no wave quantization is modelled); ``clock_mhz`` the boost
    clock; ``l2_bytes`` the last-level cache; ``arch`` the architecture family
    (:data:`ARCHS`, selects default kernel constants; ``""``: unknown); ``timing`` the
    device's own values of the constants in :data:`TIMING_KEYS` (e.g. measured by
    ``convcost calibrate``); ``stack`` the software stack whose host constants the
    estimate uses where ``timing`` has none (:mod:`convcost.hardware.stacks`; ``""``: the
    default stack).

    Memory: ``memory`` is the device's total memory in bytes as the hardware has it (GPU
    vendors' "GB" of HBM and GDDR are binary gigabytes, GiB); ``reserve`` the bytes of it a
    PyTorch program cannot allocate tensors in — the memory the driver keeps, the CUDA context
    and the libraries' own allocations (-1: :func:`default_reserve`; 0 on a CPU);
    ``cudnn_workspace`` a cuDNN convolution workspace to assume
    per convolution call (bytes, 0: not modelled). See
    :mod:`convcost.hardware.device_memory`.
    """

    name: str
    description: str
    peak: dict[str, float]
    bandwidth: float
    memory: int
    sources: dict[str, str] = field(default_factory=dict)
    sms: int = 0
    clock_mhz: float = 0.0
    l2_bytes: int = 0
    arch: str = ""
    timing: dict[str, float] = field(default_factory=dict)
    reserve: int = -1
    cudnn_workspace: int = 0
    stack: str = ""

    @property
    def reserve_bytes(self) -> int:
        """Bytes of ``memory`` a PyTorch program cannot use for tensors (``reserve``, or the
        default of the device's ``arch``; never more than ``memory``)."""
        if self.reserve >= 0:
            r = self.reserve
        elif self.arch == "cpu":
            r = 0
        else:
            r = default_reserve(self.memory)
        return min(r, self.memory)

    @property
    def usable_bytes(self) -> int:
        """Bytes PyTorch's allocator can reserve: ``memory - reserve_bytes``."""
        return self.memory - self.reserve_bytes

    def peak_for(self, dtype: str, tf32: bool = False) -> tuple[float, str]:
        """Peak FLOP/s for ``dtype`` and the key used (fp32 fallback when unsupported)."""
        c = self.peak_choice(dtype, tf32)
        return c.flops, c.key

    def peak_choice(self, dtype: str, tf32: bool = False) -> PeakChoice:
        """The peak a roofline uses for work in ``dtype`` (``tf32``: fp32 matrix work on
        TF32 tensor cores): the dtype's own, or the fp32 peak when the device has none for
        it — then :attr:`PeakChoice.note` says so."""
        key = DTYPE_TO_PEAK.get(dtype, dtype)
        if key == "fp32" and tf32:
            if "tf32" in self.peak:
                return PeakChoice(self.peak["tf32"], "tf32", "tf32", None)
            return PeakChoice(self.peak["fp32"], "fp32", "float32",
                              f"{self.name} has no tf32 peak: the float32 peak is used")
        if key in self.peak:
            return PeakChoice(self.peak[key], key, dtype, None)
        return PeakChoice(self.peak["fp32"], "fp32", "float32",
                          f"{self.name} has no {dtype} peak: the float32 peak is used")

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready form (the TOML file format of user devices)."""
        return {
            "name": self.name,
            "description": self.description,
            "peak_tflops": {k: v / T for k, v in self.peak.items()},
            "bandwidth_gbps": self.bandwidth / GB,
            "memory_gb": self.memory / GB,
            "memory_bytes": self.memory,
            "memory_gib": self.memory / GIB,
            "reserve_bytes": self.reserve_bytes,
            "usable_bytes": self.usable_bytes,
            "cudnn_workspace_bytes": self.cudnn_workspace,
            "sms": self.sms or None,
            "clock_mhz": self.clock_mhz or None,
            "l2_mib": self.l2_bytes / MIB if self.l2_bytes else None,
            "arch": self.arch or None,
            "timing": dict(self.timing),
            "stack": self.stack or None,
            "sources": dict(self.sources),
        }
