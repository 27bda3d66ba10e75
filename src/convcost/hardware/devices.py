"""Accelerator presets as data, and user devices from TOML.

Throughputs are *dense* peaks (vendor "with sparsity" figures halved) in FLOP/s, counting a
fused multiply-add as two operations — the same convention as convcost's ``flops``
(one multiplication plus one addition per MAC). Bandwidth is bytes/s, capacity bytes.
A dtype a device has no fast path for is absent from ``peak``; :meth:`DeviceSpec.peak_choice`
(and :meth:`DeviceSpec.peak_for`) then falls back to the fp32 rate and says so.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..vocab import did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

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
#: ``host_us.library`` / ``host_us.kernel`` / ``host_us.none``: host time to issue one op
#: that calls cuBLAS/cuDNN, one that launches its own kernel, one that launches none.
TIMING_KEYS: tuple[str, ...] = (
    *(f"gemm_efficiency.{k}" for k in PEAK_KEYS),
    *(f"conv_efficiency.{k}" for k in PEAK_KEYS),
    "bandwidth_efficiency",
    "depthwise_efficiency",
    "depthwise_wgrad_efficiency",
    "kernel_us",
    "host_us.library",
    "host_us.kernel",
    "host_us.none",
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
    ``convcost calibrate``).

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
            "sources": dict(self.sources),
        }


def _dev(
    name: str,
    desc: str,
    peak_tflops: dict[str, float],
    bw_gbps: float,
    mem_gib: float,
    source: str,
    *,
    sms: int = 0,
    clock_mhz: float = 0.0,
    l2_mib: float = 0.0,
    arch: str = "",
    **extra_sources: str,
) -> DeviceSpec:
    """A preset: ``source`` cites every figure unless ``extra_sources`` (keyed like
    :attr:`DeviceSpec.sources`: ``peak.fp16``, ``sms``, ``clock_mhz``, ``l2``…) cites one
    on its own. Every non-zero ``sms``/``clock_mhz``/``l2_mib`` needs its own source."""
    sources = {f"peak.{k}": source for k in peak_tflops}
    sources["bandwidth"] = source
    sources["memory"] = f"{source} (the vendor's GB read as GiB: {MEMORY_IS_BINARY})"
    sources.update(extra_sources)
    return DeviceSpec(
        name,
        desc,
        {k: v * T for k, v in peak_tflops.items()},
        bw_gbps * GB,
        int(mem_gib * GIB),
        sources,
        sms=sms,
        clock_mhz=clock_mhz,
        l2_bytes=int(l2_mib * MIB),
        arch=arch,
    )


#: Why a GPU vendor's "GB" of device memory is read as GiB.
MEMORY_IS_BINARY = (
    "DRAM and HBM dies come in binary densities (e.g. 16 Gbit = 2 GiB GDDR6 chips, 16 GiB and "
    "24 GiB HBM3 stacks), so an '80 GB' card carries 80 GiB: nvidia-smi shows 81920MiB for the "
    "A100 80GB, 32768MiB for the V100 32GB, 24576MiB for the RTX 3090 (REPORTED_TOTAL)"
)

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

#: The total memory CUDA (``torch.cuda.get_device_properties().total_memory``, the "total
#: capacity" of PyTorch's out-of-memory message) or the system tool reports, per preset:
#: ``(bytes, "cuda" | "smi", source)``. The rest of the physical memory is kept by the driver
#: (ECC on GDDR, page tables, reserved regions).
REPORTED_TOTAL: dict[str, tuple[int, str, str]] = {
    "h200": (int(139.80 * GIB), "cuda",
             "PyTorch out-of-memory messages on H200 quoted in public GitHub issues: 'GPU 5 "
             "has a total capacity of 139.80 GiB' (nvidia-smi: 143771MiB)"),
    "h100-sxm": (int(79.11 * GIB), "cuda",
                 "github.com/vllm-project/vllm/issues/27508 (H100 80GB): 'GPU 0 has a total "
                 "capacity of 79.11 GiB'; nvidia-smi 81559MiB "
                 "(github.com/NVIDIA/nccl/issues/1264)"),
    "h100-pcie": (81559 * MIB, "smi",
                  "nvidia-smi '0MiB / 81559MiB' for 'NVIDIA H100 PCIe' in public logs (the same "
                  "total as the SXM part, github.com/NVIDIA/nccl/issues/1264)"),
    "a100-80gb": (int(79.25 * GIB), "cuda",
                  "github.com/wbfwonderful/Vad-R1/issues/11 (A100 80GB): 'GPU 2 has a total "
                  "capacity of 79.25 GiB'; nvidia-smi 81920MiB (github.com/modal-labs/"
                  "modal-client/pull/2797)"),
    "a100-40gb": (int(39.50 * GIB), "cuda",
                  "github.com/TianheWu/CoSeR/issues/10 (A100 40GB): 'GPU 0 has a total "
                  "capacity of 39.50 GiB'; nvidia-smi 40960MiB (modal-client/pull/2797)"),
    "l4": (23034 * MIB, "smi", "github.com/modal-labs/modal-client/pull/2797: nvidia-smi "
                               "'L4: 23034MiB'"),
    "t4": (int(14.56 * GIB), "cuda",
           "github.com/Zheng-Chong/CatVTON/issues/133 (Tesla T4, GCP): 'GPU 0 has a total "
           "capacity of 14.56 GiB' (14.75 GiB with older drivers, github.com/hpcaitech/"
           "Open-Sora/issues/697; nvidia-smi 15360MiB: ECC takes 1/16)"),
    "v100": (int(31.74 * GIB), "cuda",
             "github.com/liucongg/ChatGLM-Finetuning/issues/73 (V100 32GB): '31.74 GiB total "
             "capacity'; nvidia-smi 32768MiB (github.com/Wan-Video/Wan2.1/issues/5)"),
    "v100-16gb": (16160 * MIB, "smi", "nvidia-smi '0MiB / 16160MiB' for Tesla V100-SXM2 16GB "
                                      "in public logs"),
    "v100-pcie": (16160 * MIB, "smi", "nvidia-smi '0MiB / 16160MiB' for Tesla V100-PCIE 16GB "
                                      "in public logs"),
    "l40s": (46068 * MIB, "smi", "github.com/modal-labs/modal-client/pull/2797: nvidia-smi "
                                 "'L40S: 46068MiB' (ECC on)"),
    "rtx2080ti": (int(10.76 * GIB), "cuda",
                  "github.com/JDAI-CV/image-captioning/issues/11 (2080 Ti): '10.76 GiB total "
                  "capacity'"),
    "rtx3080": (int(9.77 * GIB), "cuda",
                "a PyTorch out-of-memory message quoted in a public training-error report for an "
                "NVIDIA GeForce RTX 3080: '(GPU 0; 9.77 GiB total capacity; ...)'"),
    "rtx3090": (24576 * MIB, "smi", "github.com/noonghunna/club-3090/issues/445: 'NVIDIA "
                                    "GeForce RTX 3090 | 24576 MiB'"),
    "rtx4090": (int(23.64 * GIB), "cuda",
                "github.com/3DTopia/Phidias-Diffusion/issues/8 (RTX 4090): 'GPU 0 has a total "
                "capacty of 23.64 GiB'"),
    "rtx5090": (int(31.37 * GIB), "cuda",
                "github.com/Wan-Video/Wan2.1/issues/465 (RTX 5090): 'GPU 0 has a total "
                "capacity of 31.37 GiB'"),
    "mi300x": (206141652992, "smi",
               "github.com/ROCm/legacy-rocm-build/issues/4750: rocm-smi 'VRAM Total Memory (B): "
               "206141652992'"),
}


#: Presets whose memory is HBM, whose ECC is stored beside the data and costs no capacity
#: (the A100 80 GB and the V100 32 GB report their full 81920 / 32768 MiB with ECC on,
#: :data:`REPORTED_TOTAL`), unlike GDDR boards, where ECC takes 1/16 (T4: 15360 of 16384 MiB).
HBM_PRESETS = frozenset({"h200", "h100-sxm", "h100-pcie", "a100-40gb", "a100-80gb", "v100",
                         "v100-16gb", "v100-pcie", "a30", "b200", "mi250x", "mi300x"})


def default_reserve(memory: int, hbm: bool = False) -> int:
    """The reserve assumed for a GPU whose reported total is not known: 1/16 of its memory
    (what ECC takes on GDDR boards such as the T4 and L40S; nothing for ``hbm``),
    :data:`SMI_GAP` and :data:`CONTEXT_RESERVE` — on the safe side for every device with a
    cited total. A user device without ``reserve_mib`` gets the GDDR rule."""
    return (0 if hbm else memory // 16) + SMI_GAP + CONTEXT_RESERVE


def _preset_reserve(name: str, memory: int) -> tuple[int, str]:
    """A preset's reserve in bytes and where it comes from."""
    if name not in REPORTED_TOTAL:
        if name in HBM_PRESETS:
            return default_reserve(memory, hbm=True), (
                "not known for this device: 768 MiB + 512 MiB CUDA context assumed (HBM: ECC "
                "costs no capacity; convcost.hardware.devices.default_reserve)")
        return -1, ("not known for this device: 1/16 of the memory + 768 MiB + 512 MiB CUDA "
                    "context assumed (convcost.hardware.devices.default_reserve)")
    total, kind, source = REPORTED_TOTAL[name]
    gap = SMI_GAP if kind == "smi" else 0
    how = ("memory - the total CUDA reports" if kind == "cuda"
           else "memory - (the total nvidia-smi/rocm-smi reports - 768 MiB)")
    return (memory - total + gap + CONTEXT_RESERVE,
            f"{how} + 512 MiB CUDA context; total: {source}")


#: Spec-database figures (SM count, boost clock, L2) where no vendor document was found;
#: each one is checked against the vendor's FP32 peak (SMs × boost clock × FP32 FLOP/clk).
_TPU = ("TechPowerUp GPU database (as mirrored by sysrqmts.com / cputronic.com / hmc-tech.com; "
        "a spec database, not a vendor document):")

#: Where the SM count / clock / L2 figures were read (see each preset's ``sources``).
_A100_TABLE3 = (
    "NVIDIA A100 Tensor Core GPU Architecture whitepaper, Table 3 'Comparison of NVIDIA data "
    "center GPUs' (also in NVIDIA's 'NVIDIA Ampere Architecture In-Depth', "
    "https://developer.nvidia.com/blog/nvidia-ampere-architecture-in-depth/, read as reproduced "
    "in a public GitHub copy of that post)"
)
_HOPPER_SMS = (
    "NVIDIA H100 Tensor Core GPU Architecture whitepaper / 'NVIDIA Hopper Architecture "
    "In-Depth' (https://developer.nvidia.com/blog/nvidia-hopper-architecture-in-depth/): "
    "H100 SXM5 132 SMs, H100 PCIe 114 SMs (of 144 on full GH100), read as reproduced in public "
    "GitHub notes citing that post"
)
_HOPPER_L2 = (
    "NVIDIA H100 Tensor Core GPU Architecture whitepaper / 'NVIDIA Hopper Architecture "
    "In-Depth': 50 MB L2 cache (H100 SXM5 and PCIe), read as reproduced in public GitHub notes "
    "citing that post"
)
_HOPPER_CLOCK = (
    "NVIDIA H100 Tensor Core GPU Architecture whitepaper (H100 SXM5: 1.98 GHz boost for "
    "non-tensor FP32/FP64, 1.83 GHz for the tensor rates), as summarised at "
    "https://glennklockwood.com/garden/processors/h100 (footnoted to the whitepaper); "
    "132 SMs x 128 FP32 lanes x 2 x 1.98 GHz = the datasheet's 67 TFLOP/s FP32"
)
_TURING_TABLE1 = (
    "NVIDIA Turing Architecture whitepaper, Table 1 'Comparison of NVIDIA Pascal GP102 and "
    "Turing TU102' (also in NVIDIA's 'NVIDIA Turing Architecture In-Depth', "
    "https://developer.nvidia.com/blog/nvidia-turing-architecture-in-depth/, read as reproduced "
    "in a public GitHub copy of that post); reference-board (not Founders Edition) figures"
)
_GA102_APPX_A = (
    "NVIDIA Ampere GA102 GPU Architecture whitepaper, Appendix A 'GeForce RTX 3090' "
    "(https://images.nvidia.com/aem-dam/en-zz/Solutions/geforce/ampere/pdf/NVIDIA-ampere-GA102-"
    "GPU-Architecture-Whitepaper-V1.pdf), read as reproduced in public GitHub notes quoting "
    "that table (FP16 tensor rate is the FP32-accumulate row)"
)
_ADA_APPX_A = (
    "NVIDIA Ada GPU Architecture whitepaper, Appendix A 'GeForce RTX 4090 Full Specifications' "
    "(SMs 128, GPU Boost Clock 2520 MHz, L2 Cache Size 73728 KB), read as reproduced in "
    "public GitHub notes quoting that table"
)
_RTX_BLACKWELL_T3 = (
    "NVIDIA RTX Blackwell GPU Architecture whitepaper, Table 3 (GeForce RTX 5090; "
    "https://images.nvidia.com/aem-dam/Solutions/geforce/blackwell/nvidia-rtx-blackwell-gpu-"
    "architecture.pdf), read as reproduced in public GitHub notes quoting that table "
    "(dense/sparse pairs; tensor rates are the FP32-accumulate rows)"
)
_MI250X_AMD = (
    "AMD Instinct MI250X specifications (AMD MI200 launch table: 220 CUs / 14,080 stream "
    "processors over both GCDs; each compute die at 1.7 GHz), as reproduced at "
    "https://zexron.com/amd-mi250-x-aldebaran-as-mcm-with-up-to-479-teraflop-s-and-560-watt-tdp"
)
_MI300_ROCM = (
    "AMD ROCm documentation, 'AMD Instinct MI300 series microarchitecture' "
    "(https://rocm.docs.amd.com/en/docs-6.2.2/conceptual/gpu-arch/mi300.html): each XCD has 38 "
    "active CUs sharing a 4 MB L2; MI300X has 8 XCDs = 304 CUs (AMD GPU specifications table, "
    "https://rocm.docs.amd.com/en/latest/reference/gpu-specs.html: '304 (38 per XCD)', L2 "
    "'4 per XCD'). L2 here is the XCD L2 (8 x 4 MB), not the 256 MB Infinity Cache"
)

_H200_NOTE = (
    " (H200 is the H100 SXM GH100 part with HBM3e: the H200 datasheet lists the same compute "
    "rates as H100 SXM)"
)
_A100_80_NOTE = (
    " (A100 80 GB: the same 108-SM GA100 part; the A100 datasheet gives it the same compute "
    "rates as the 40 GB)"
)
_VOLTA_TABLE1 = (
    "NVIDIA Tesla V100 GPU Architecture whitepaper (Volta GV100), Table 1: Tesla V100 80 SMs, "
    "L2 Cache Size 6144 KB (the PCIe card is the same GV100 configuration), as reproduced at "
    "https://www.techrival.com/nvidia-volta-tesla-v100-cards-detailed-150w-single-slot-300w-"
    "dual-slot-gv100-powered-pcie-accelerators/"
)

def _preset(
    name: str,
    desc: str,
    peak_tflops: dict[str, float],
    bw_gbps: float,
    mem_gib: float,
    source: str,
    **kwargs: Any,
) -> DeviceSpec:
    """:func:`_dev`, plus ``cite``: sources keyed like :attr:`DeviceSpec.sources` that cannot
    go through ``_dev``'s ``**extra_sources`` because their keys (``sms``, ``clock_mhz``) are
    also its keyword arguments."""
    cite: dict[str, str] = kwargs.pop("cite", {})
    d = _dev(name, desc, peak_tflops, bw_gbps, mem_gib, source, **kwargs)
    if cite:
        d.sources.update(cite)
    if d.arch != "cpu":
        reserve, why = _preset_reserve(name, d.memory)
        d.sources["reserve"] = why
        d = replace(d, reserve=reserve)
    return d


_H100_SXM_PEAK = {
    "fp64": 67,
    "fp32": 67,
    "tf32": 494.5,
    "fp16": 989.5,
    "bf16": 989.5,
    "fp8": 1979,
    "int8": 1979,
}

PRESETS: dict[str, DeviceSpec] = {
    d.name: d
    for d in [
        _preset(
            "h200",
            "NVIDIA H200 SXM 141 GB",
            _H100_SXM_PEAK,
            4800,
            141,
            "NVIDIA H200 Tensor Core GPU datasheet (SXM; sparse tensor figures halved)",
            sms=132,
            clock_mhz=1980,
            l2_mib=50,
            arch="hopper",
            cite={
                "sms": _HOPPER_SMS + _H200_NOTE,
                "clock_mhz": _HOPPER_CLOCK + _H200_NOTE,
                "l2": _HOPPER_L2,
            },
        ),
        _preset(
            "h100-sxm",
            "NVIDIA H100 SXM5 80 GB",
            _H100_SXM_PEAK,
            3350,
            80,
            "NVIDIA H100 Tensor Core GPU datasheet (SXM; sparse tensor figures halved)",
            sms=132,
            clock_mhz=1980,
            l2_mib=50,
            arch="hopper",
            cite={
                "sms": _HOPPER_SMS,
                "clock_mhz": _HOPPER_CLOCK,
                "l2": _HOPPER_L2,
            },
        ),
        _preset(
            "h100-pcie",
            "NVIDIA H100 PCIe 80 GB",
            {
                "fp64": 51,
                "fp32": 51,
                "tf32": 378,
                "fp16": 756.5,
                "bf16": 756.5,
                "fp8": 1513,
                "int8": 1513,
            },
            2000,
            80,
            "NVIDIA H100 Tensor Core GPU datasheet (PCIe; sparse tensor figures halved)",
            sms=114,
            l2_mib=50,
            arch="hopper",
            cite={
                "sms": _HOPPER_SMS,
                "l2": _HOPPER_L2,
            },
        ),
        _preset(
            "a100-40gb",
            "NVIDIA A100 SXM4 40 GB",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156, "fp16": 312, "bf16": 312, "int8": 624},
            1555,
            40,
            "NVIDIA A100 Tensor Core GPU datasheet (40 GB SXM, dense figures)",
            sms=108,
            clock_mhz=1410,
            l2_mib=40,
            arch="ampere",
            cite={
                "sms": _A100_TABLE3 + ": A100 108 SMs",
                "clock_mhz": _A100_TABLE3 + ": GPU Boost Clock 1410 MHz",
                "l2": _A100_TABLE3 + ": L2 Cache Size 40960 KB",
            },
        ),
        _preset(
            "a100-80gb",
            "NVIDIA A100 SXM4 80 GB",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156, "fp16": 312, "bf16": 312, "int8": 624},
            2039,
            80,
            "NVIDIA A100 Tensor Core GPU datasheet (80 GB SXM, dense figures)",
            sms=108,
            clock_mhz=1410,
            l2_mib=40,
            arch="ampere",
            cite={
                "sms": _A100_TABLE3 + ": A100 108 SMs" + _A100_80_NOTE,
                "clock_mhz": _A100_TABLE3 + ": GPU Boost Clock 1410 MHz" + _A100_80_NOTE,
                "l2": _A100_TABLE3 + ": L2 Cache Size 40960 KB" + _A100_80_NOTE,
            },
        ),
        _preset(
            "l4",
            "NVIDIA L4 24 GB",
            {"fp32": 30.3, "tf32": 60, "fp16": 121, "bf16": 121, "fp8": 242.5, "int8": 242.5},
            300,
            24,
            "NVIDIA L4 Tensor Core GPU datasheet (sparse tensor figures halved)",
            sms=58,
            clock_mhz=2040,
            arch="ada",
            cite={
                "sms": "spec database https://fpsbench.com/compare/gpu/nvidia-l4-vs-nvidia-tesla-"
                "m40: 'Shading Units 7,424' = 58 SMs of 128 (the same page's 'SM Count 60' "
                "contradicts it; 58 × 2040 MHz × 256 FLOP/clk = 30.3 TFLOP/s, the datasheet's "
                "FP32 peak, 60 would give 31.3)",
                "clock_mhz": "spec database (fpsbench.com, above): 'Boost Clock 2040 MHz'",
            },
        ),
        _preset(
            "t4",
            "NVIDIA T4 16 GB",
            {"fp32": 8.1, "fp16": 65, "int8": 130},
            320,
            16,
            "NVIDIA T4 Tensor Core GPU datasheet (mixed-precision FP16/FP32 tensor rate)",
            sms=40,
            arch="turing",
            cite={
                "sms": "NVIDIA T4 announcement, 2018-09-13 (2,560 CUDA cores and 320 Turing "
                "Tensor Cores, as reported at https://www.tomshardware.co.uk/nvidia-tesla-t4-"
                "turing-gpu,news-59152.html) divided by the 64 CUDA cores and 8 Tensor Cores "
                "of a Turing SM (NVIDIA Turing GPU Architecture whitepaper): 40 SMs",
            },
        ),
        _preset(
            "v100",
            "NVIDIA V100 SXM2 32 GB",
            {"fp64": 7.8, "fp32": 15.7, "fp16": 125},
            900,
            32,
            "NVIDIA V100 Tensor Core GPU datasheet (SXM2)",
            sms=80,
            clock_mhz=1530,
            l2_mib=6,
            arch="volta",
            cite={
                "sms": _A100_TABLE3 + ": Tesla V100 SXM2 80 SMs",
                "clock_mhz": _A100_TABLE3 + ": Tesla V100 SXM2 GPU Boost Clock 1530 MHz",
                "l2": _A100_TABLE3 + ": Tesla V100 L2 Cache Size 6144 KB",
            },
        ),
        _preset(
            "v100-16gb",
            "NVIDIA V100 SXM2 16 GB",
            {"fp64": 7.8, "fp32": 15.7, "fp16": 125},
            900,
            16,
            "NVIDIA V100 Tensor Core GPU datasheet (SXM2; the datasheet lists 32/16 GB with the "
            "same rates and bandwidth)",
            sms=80,
            clock_mhz=1530,
            l2_mib=6,
            arch="volta",
            cite={
                "sms": _A100_TABLE3 + ": Tesla V100 SXM2 80 SMs",
                "clock_mhz": _A100_TABLE3 + ": Tesla V100 SXM2 GPU Boost Clock 1530 MHz",
                "l2": _A100_TABLE3 + ": Tesla V100 L2 Cache Size 6144 KB",
            },
        ),
        _preset(
            "v100-pcie",
            "NVIDIA V100 PCIe 16 GB",
            {"fp64": 7, "fp32": 14, "fp16": 112},
            900,
            16,
            "NVIDIA V100 Tensor Core GPU datasheet (PCIe; 32/16 GB, 16 GB taken as in the "
            "Tesla V100 PCIe Product Brief PB-08744-001, "
            "https://images.nvidia.com/content/tesla/pdf/Tesla-V100-PCIe-Product-Brief.pdf)",
            sms=80,
            l2_mib=6,
            arch="volta",
            cite={
                "sms": _VOLTA_TABLE1,
                "l2": _VOLTA_TABLE1,
            },
        ),
        _preset(
            "a40",
            "NVIDIA A40 48 GB",
            {"fp32": 37.4, "tf32": 74.8, "fp16": 149.7, "bf16": 149.7, "int8": 299.3},
            696,
            48,
            "NVIDIA A40 datasheet (dense figures; sparse halved), text as reproduced at "
            "https://www.ecer.com/corp/details-uuuedqa-p1bsay9-multi-display-setups-supported-by-"
            "48gb-gddr6-ecc-memory-nvidia-a40-gpu-and-vga-outputs.html",
            **{
                "peak.fp16": "NVIDIA A40 datasheet: FP16 tensor 149.7 dense (FP16 accumulate; "
                "the datasheet gives BF16 with FP32 accumulate at the same 149.7 — A40 has no "
                "half-rate FP32-accumulate limit), text as reproduced at "
                "https://www.ecer.com/corp/details-uuuedqa-p1bsay9-multi-display-setups-"
                "supported-by-48gb-gddr6-ecc-memory-nvidia-a40-gpu-and-vga-outputs.html",
            },
            sms=84,
            clock_mhz=1740,
            arch="ampere",
            cite={
                "sms": _TPU + " NVIDIA A40 PCIe: 'SM count 84' (84 SMs × 1740 MHz × 256 FLOP/clk "
                "= 37.4 TFLOP/s, the datasheet's FP32 peak)",
                "clock_mhz": _TPU + " NVIDIA A40 PCIe: 'Boost clock 1740 MHz'",
            },
        ),
        _preset(
            "l40s",
            "NVIDIA L40S 48 GB",
            {"fp32": 91.6, "tf32": 183, "fp16": 362.05, "bf16": 362.05, "fp8": 733},
            864,
            48,
            "NVIDIA L40S datasheet (L40/L40S table, dense figures; sparse halved), text as "
            "reproduced at https://www.mullet.se/product.html?product_id=355414",
            sms=142,
            clock_mhz=2520,
            arch="ada",
            cite={
                "sms": _TPU + " NVIDIA L40S: 142 SMs (142 × 2520 MHz × 256 FLOP/clk = 91.6 "
                "TFLOP/s, the datasheet's FP32 peak)",
                "clock_mhz": _TPU + " NVIDIA L40S: 'Boost clock 2520 MHz'",
            },
        ),
        _preset(
            "mi250x",
            "AMD Instinct MI250X 128 GB (OAM, both GCDs)",
            {"fp64": 95.7, "fp32": 95.7, "fp16": 383.0, "bf16": 383.0, "int8": 383.0},
            3200,
            128,
            "AMD Instinct MI250X specifications (AMD MI200 launch table: FP64/FP32 matrix "
            "95.7, FP16/BF16 383.0, INT8 383.0 TOPS, 128 GB HBM2e, 3.2 TB/s), as reproduced at "
            "https://zexron.com/amd-mi250-x-aldebaran-as-mcm-with-up-to-479-teraflop-s-and-560-"
            "watt-tdp",
            **{
                "peak.fp64": "AMD Instinct MI250X specifications: FP64 matrix peak 95.7 (vector "
                "47.9), as reproduced at https://zexron.com/amd-mi250-x-aldebaran-as-mcm-with-up-"
                "to-479-teraflop-s-and-560-watt-tdp",
                "peak.fp32": "AMD Instinct MI250X specifications: FP32 matrix peak 95.7 (vector "
                "47.9), as reproduced at https://zexron.com/amd-mi250-x-aldebaran-as-mcm-with-up-"
                "to-479-teraflop-s-and-560-watt-tdp",
            },
            sms=220,
            clock_mhz=1700,
            arch="cdna2",
            cite={
                "sms": _MI250X_AMD,
                "clock_mhz": _MI250X_AMD,
            },
        ),
        _preset(
            "rtx2080ti",
            "NVIDIA GeForce RTX 2080 Ti 11 GB (reference clocks)",
            {"fp32": 13.4, "fp16": 53.8, "int8": 215.2},
            616,
            11,
            _TURING_TABLE1 + ": RTX 2080 Ti Peak FP32 13.4, Peak FP16 Tensor TFLOPS with FP32 "
            "Accumulate 53.8 (FP16 accumulate: 107.6), Peak INT8 Tensor TOPS 215.2, 11264 MB "
            "GDDR6, 616 GB/sec",
            sms=68,
            clock_mhz=1545,
            l2_mib=5.5,
            arch="turing",
            cite={
                "sms": _TURING_TABLE1 + ": RTX 2080 Ti 68 SMs",
                "clock_mhz": _TURING_TABLE1 + ": GPU Boost Clock 1545 MHz (reference; "
                "Founders Edition 1635)",
                "l2": _TURING_TABLE1 + ": L2 Cache Size 5632 KB",
            },
        ),
        _preset(
            "rtx3090",
            "NVIDIA GeForce RTX 3090 24 GB",
            {"fp32": 35.6, "fp16": 71},
            936,
            24,
            _GA102_APPX_A + ": Peak FP32 TFLOPS (non-Tensor) 35.6, Peak FP16 Tensor TFLOPS with "
            "FP32 Accumulate 71, Memory Bandwidth 936 GB/sec, 24 GB GDDR6X",
            sms=82,
            clock_mhz=1695,
            l2_mib=6,
            arch="ampere",
            cite={
                "sms": _GA102_APPX_A + ": SMs 82",
                "clock_mhz": _GA102_APPX_A + ": GPU Boost Clock 1695 MHz",
                "l2": _GA102_APPX_A + ": L2 Cache Size 6144 KB",
            },
        ),
        _preset(
            "rtx4090",
            "NVIDIA GeForce RTX 4090 24 GB",
            {
                "fp64": 1.29,
                "fp32": 82.6,
                "tf32": 82.6,
                "fp16": 165.2,
                "bf16": 165.2,
                "fp8": 330.3,
                "int8": 660.6,
            },
            1008,
            24,
            "NVIDIA Ada Lovelace architecture whitepaper, RTX 4090 (FP32-accumulate tensor "
            "rates, dense)",
            sms=128,
            clock_mhz=2520,
            l2_mib=72,
            arch="ada",
            cite={
                "sms": _ADA_APPX_A,
                "clock_mhz": _ADA_APPX_A,
                "l2": _ADA_APPX_A,
            },
        ),
        _preset(
            "rtx5090",
            "NVIDIA GeForce RTX 5090 32 GB",
            {"fp32": 104.8, "fp16": 209.5, "bf16": 209.5, "fp8": 419, "int8": 838},
            1792,
            32,
            _RTX_BLACKWELL_T3 + ": Peak BF16 Tensor TFLOPS with FP32 Accumulate 209.5/419, "
            "Peak FP8 Tensor TFLOPS with FP32 Accumulate 419/838, 32 GB GDDR7, Memory Bandwidth "
            "1792 GB/sec",
            sms=170,
            clock_mhz=2407,
            arch="blackwell",
            cite={
                "sms": _RTX_BLACKWELL_T3 + ": SMs 170",
                "clock_mhz": _RTX_BLACKWELL_T3 + ": GPU Boost Clock 2407 MHz",
            },
            **{
                "peak.fp32": _RTX_BLACKWELL_T3 + ": Peak FP32 TFLOPS (non-Tensor) 104.8 "
                "(21760 CUDA cores x 2 x 2407 MHz)",
                "peak.fp16": _RTX_BLACKWELL_T3 + ": dense FP16 Tensor with FP32 Accumulate "
                "209.5 (the same rate as the BF16 row), as quoted in a public GitHub roofline note",
                "peak.int8": _RTX_BLACKWELL_T3 + ": Peak INT8 Tensor TOPS 838 dense",
            },
        ),
        _preset(
            "mi300x",
            "AMD Instinct MI300X 192 GB",
            {
                "fp64": 163.4,
                "fp32": 163.4,
                "tf32": 653.7,
                "fp16": 1307.4,
                "bf16": 1307.4,
                "fp8": 2614.9,
                "int8": 2614.9,
            },
            5300,
            192,
            "AMD Instinct MI300X accelerator data sheet (dense matrix figures)",
            sms=304,
            l2_mib=32,
            arch="cdna3",
            cite={
                "sms": _MI300_ROCM,
                "l2": _MI300_ROCM,
            },
        ),
        _preset(
            "a10",
            "NVIDIA A10 24 GB",
            {"fp32": 31.2, "tf32": 62.5, "fp16": 125, "bf16": 125, "int8": 250},
            600,
            24,
            "NVIDIA A10 datasheet (https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/"
            "a10/pdf/a10-datasheet.pdf; dense figures, sparse halved): FP32 31.2 TF, TF32 62.5, "
            "BF16/FP16 125, INT8 250 TOPS, 24 GB GDDR6, 600 GB/s — as reproduced in "
            "github.com/winston-zhang-orz/gpu-specs specs.md and github.com/Lightning-AI/"
            "pytorch-lightning src/lightning/fabric/utilities/throughput.py (which cites it)",
            sms=72,
            clock_mhz=1695,
            l2_mib=6,
            arch="ampere",
            cite={
                "sms": _TPU + " NVIDIA A10 PCIe: 'SM count 72' (72 × 1695 MHz × 256 FLOP/clk = "
                "31.2 TFLOP/s, the datasheet's FP32 peak)",
                "clock_mhz": _TPU + " NVIDIA A10 PCIe: 'Boost 1695 MHz'",
                "l2": _TPU + " NVIDIA A10 PCIe: 'L2 cache 6 MB'",
            },
        ),
        _preset(
            "a30",
            "NVIDIA A30 24 GB",
            {"fp32": 10.3, "fp16": 165, "bf16": 165, "int8": 330},
            933,
            24,
            "NVIDIA A30 datasheet (https://www.nvidia.com/en-us/data-center/products/a30-gpu/; "
            "dense figures): FP32 10.3 TF, BF16/FP16 tensor 165, INT8 330 TOPS, 24 GB HBM2, "
            "933 GB/s — as tabulated from the datasheets in github.com/ArthurChiao/"
            "arthurchiao.github.io _posts/2023-10-25-gpu-data-sheets.md (the TF32 and FP64 "
            "figures were not found in a copy: absent here, TF32 falls back to FP32 with a note)",
            sms=56,
            clock_mhz=1440,
            l2_mib=24,
            arch="ampere",
            cite={
                "sms": _TPU + " NVIDIA A30 PCIe: 'SM count 56' (56 × 1440 MHz × 128 FLOP/clk = "
                "10.3 TFLOP/s, the datasheet's FP32 peak)",
                "clock_mhz": _TPU + " NVIDIA A30 PCIe: 'Boost clock 1440 MHz'",
                "l2": _TPU + " NVIDIA A30 PCIe: 'Cache L2 24 MB'",
            },
        ),
        _preset(
            "b200",
            "NVIDIA B200 (HGX B200, 1000 W) 180 GB",
            {"fp64": 37, "fp32": 75, "tf32": 1100, "fp16": 2250, "bf16": 2250, "fp8": 4500,
             "int8": 4500},
            7700,
            180,
            "NVIDIA HGX B200 specifications (per GPU; sparse figures halved: TF32 2.2 PF, "
            "FP16/BF16 4.5 PF, FP8 and INT8 9 P; FP64 37 TF, FP32 75 TF, 180 GB HBM3E, 7.7 TB/s) "
            "as reproduced at https://zdszero.github.io/Computer/Artificial_Intelligence/"
            "Hardware.html; dense tensor figures as NVIDIA's Blackwell technical brief gives them "
            "(https://glennklockwood.com/garden/processors/B200). DGX B200 lists 1,440 GB for 8 "
            "GPUs (180 GB each); other sources say 192 GB (physical HBM3e)",
            sms=148,
            clock_mhz=1980,
            arch="blackwell",
            cite={
                "sms": _TPU + " NVIDIA B200: 'SMs 148' (148 × 1980 MHz × 256 FLOP/clk = 75.0 "
                "TFLOP/s, the HGX FP32 peak)",
                "clock_mhz": _TPU + " NVIDIA B200: 'Boost Clock 1.98GHz'",
            },
        ),
        _preset(
            "rtx3080",
            "NVIDIA GeForce RTX 3080 10 GB",
            {"fp32": 29.8, "int8": 238},
            760,
            10,
            "NVIDIA GeForce RTX 3080 (GA102 whitepaper v2 figures as tabulated in "
            "github.com/stillwater-sc/KPU-Simulator docs/external-knowledge/"
            "rtx_30_series_specs_table.md: 8,704 CUDA cores, boost 1,710 MHz, 10 GB GDDR6X, "
            "760 GB/s, 68 SMs, FP32 29.8 TF, INT8 238 TOPS); its FP16 tensor rate with FP32 "
            "accumulate was not found in a copy: fp16 falls back to FP32 with a note",
            sms=68,
            clock_mhz=1710,
            l2_mib=5,
            arch="ampere",
            cite={
                "sms": "github.com/stillwater-sc/KPU-Simulator rtx_30_series_specs_table.md: "
                "RTX 3080 68 SMs (68 × 1710 MHz × 256 FLOP/clk = 29.8 TFLOP/s)",
                "clock_mhz": "github.com/stillwater-sc/KPU-Simulator "
                "rtx_30_series_specs_table.md: RTX 3080 boost clock 1,710 MHz",
                "l2": _TPU + " RTX 3080: '5 MB L2 cache' (cputronic.com)",
            },
        ),
        _preset(
            "rtx4080",
            "NVIDIA GeForce RTX 4080 16 GB",
            {"fp32": 48.7, "int8": 389.9},
            716.8,
            16,
            "NVIDIA Ada GPU architecture whitepaper v2.1 figures for the RTX 4080 as reproduced "
            "in github.com/Lightning-AI/pytorch-lightning src/lightning/fabric/utilities/"
            "throughput.py (FP32 48.7 TF, INT8 389.9 TOPS) and "
            "https://www.holynerdvana.com/2022/10/nvidia-geforce-rtx-4080-specifications.html "
            "(76 SMs, boost 2505 MHz, 64 MB L2, 16 GB GDDR6X at 22.4 Gbps on 256 bits = "
            "716.8 GB/s); its FP16 tensor rate with FP32 accumulate was not found in a copy: "
            "fp16 falls back to FP32 with a note",
            sms=76,
            clock_mhz=2505,
            l2_mib=64,
            arch="ada",
            cite={
                "sms": "https://www.holynerdvana.com/2022/10/nvidia-geforce-rtx-4080-"
                "specifications.html: 'Streaming Multiprocessors 76' (76 × 2505 MHz × 256 "
                "FLOP/clk = 48.7 TFLOP/s)",
                "clock_mhz": "holynerdvana.com (above): 'Boost Clock (MHz) 2505'",
                "l2": "holynerdvana.com (above): 'L2 Cache 64'",
            },
        ),
        _preset(
            "rtx-a6000",
            "NVIDIA RTX A6000 48 GB",
            {"fp32": 38.7, "tf32": 77.4, "fp16": 154.8, "bf16": 154.8, "int8": 309.7},
            768,
            48,
            "NVIDIA GA102 whitepaper v2 (https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-"
            "gpu-architecture-whitepaper-v2.pdf) Table 3, RTX A6000, dense figures: Peak FP32 "
            "38.7, TF32 tensor 77.4, FP16/BF16 tensor with FP32 accumulate 154.8, INT8 309.7 "
            "TOPS, 768 GB/s, 48 GB GDDR6 — as reproduced in public notes quoting that table and "
            "in github.com/Lightning-AI/pytorch-lightning throughput.py",
            sms=84,
            clock_mhz=1800,
            l2_mib=6,
            arch="ampere",
            cite={
                "sms": "GA102 whitepaper v2 Table 3 (as quoted in public notes): RTX A6000 'SMs "
                "84'",
                "clock_mhz": _TPU + " RTX A6000: 'Boost clock 1800 MHz' (84 × 1800 MHz × 256 "
                "FLOP/clk = 38.7 TFLOP/s)",
                "l2": "GA102 whitepaper v2 Table 3 (as quoted): RTX A6000 'L2 Cache Size 6144 KB'",
            },
        ),
        _preset(
            "rtx6000-ada",
            "NVIDIA RTX 6000 Ada Generation 48 GB",
            {"fp32": 91.1, "fp8": 728.5},
            960,
            48,
            "NVIDIA RTX 6000 Ada Generation datasheet, as copied in github.com/atineoSE/"
            "coding-model-seeks-gpu pipeline/pipeline/sources/rtx6000ada_specs.md: "
            "'Single-precision performance 91.1 TFLOPS', 'Tensor performance 1457.0 TFLOPS' "
            "(FP8 with sparsity; halved), 48GB GDDR6, 960 GB/s; the FP16/BF16 tensor rates were "
            "not found in a vendor copy: they fall back to FP32 with a note",
            sms=142,
            clock_mhz=2505,
            arch="ada",
            cite={
                "sms": "https://www.grafikkarten.com/de/news/nvidia-rtx-6000-grafikkarte-der-"
                "ada-generation: 142 of 144 SMs active (142 × 2505 MHz × 256 FLOP/clk = 91.1 "
                "TFLOP/s)",
                "clock_mhz": _TPU + " RTX 6000 Ada: 'Boost-Takt von 2505 MHz' (cputronic.com)",
            },
        ),
        _preset(
            "cpu",
            "Generic server CPU (illustrative; run `convcost calibrate` for yours)",
            {"fp64": 1.0, "fp32": 2.0, "bf16": 2.0, "fp16": 2.0, "int8": 4.0},
            100,
            256,
            "illustrative round numbers, not a vendor figure: measure with `convcost calibrate`",
            arch="cpu",
        ),
    ]
}


def _read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(p.read_text())
        return data
    except (FileNotFoundError, IsADirectoryError):
        raise SpecError("devices_file", str(p), "no such file") from None
    except OSError as e:
        raise SpecError("devices_file", str(p), f"cannot be read ({e.strerror or e})") from e
    except tomllib.TOMLDecodeError as e:
        raise SpecError("devices_file", str(p), f"is not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise SpecError("devices_file", str(p), "is not a text file") from None


def load_devices(path: str | Path) -> dict[str, DeviceSpec]:
    """Read user devices from a TOML file.

    Format: one table per device, ``[device.NAME]`` with ``description``, ``bandwidth_gbps``,
    ``memory_gb`` (decimal GB) or ``memory_gib`` (GiB), a ``[device.NAME.peak_tflops]``
    table (keys among fp64, fp32, tf32, fp16,
    bf16, fp8, int8; fp32 required) and optionally ``sms``, ``clock_mhz``, ``l2_mib``,
    ``arch`` (one of :data:`ARCHS`), ``reserve_mib`` (memory PyTorch cannot use; default:
    :func:`default_reserve`), ``cudnn_workspace_mib`` (per convolution; default
    0), ``[device.NAME.timing]`` (keys of :data:`TIMING_KEYS`,
    e.g. ``bandwidth_efficiency = 0.85`` or ``"gemm_efficiency.fp16" = 0.8``) and
    ``[device.NAME.sources]``. The same file may define interconnects
    (:func:`load_hardware`).
    """
    return load_hardware(path)[0]


def load_hardware(path: str | Path) -> tuple[dict[str, DeviceSpec], dict[str, Any]]:
    """Devices (``[device.NAME]``) and interconnects (``[interconnect.NAME]`` with
    ``bandwidth_gbps`` per direction and ``latency_us``) of a TOML file."""
    from .distributed import load_interconnects

    data = _read_toml(path)
    tables = data.get("device", {})
    if not isinstance(tables, dict) or not (tables or data.get("interconnect")):
        raise SpecError("devices_file", str(path),
                        "needs at least one [device.NAME] or [interconnect.NAME] table")
    devices = {name: _parse_device(name, t, str(path)) for name, t in tables.items()}
    return devices, load_interconnects(data, str(path))


def _parse_device(name: str, t: Any, where: str) -> DeviceSpec:
    def num(key: str, value: Any) -> float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value <= 0):
            raise SpecError(f"{where}: device.{name}.{key}", value, "must be a positive number")
        return float(value)

    def nonneg(key: str, value: Any) -> float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise SpecError(f"{where}: device.{name}.{key}", value,
                            "must be a non-negative number")
        return float(value)

    if not isinstance(t, dict):
        raise SpecError(f"{where}: device.{name}", t, "must be a table")
    peaks = t.get("peak_tflops")
    if not isinstance(peaks, dict) or "fp32" not in peaks:
        raise SpecError(
            f"{where}: device.{name}.peak_tflops", peaks, "must be a table with at least fp32"
        )
    for k in peaks:
        if k not in PEAK_KEYS:
            raise SpecError(
                f"{where}: device.{name}.peak_tflops.{k}",
                k,
                f"allowed keys: {', '.join(PEAK_KEYS)}",
            )
    if "bandwidth_gbps" not in t:
        raise SpecError(f"{where}: device.{name}.bandwidth_gbps", None, "is required")
    mem_keys = [k for k in ("memory_gb", "memory_gib") if k in t]
    if len(mem_keys) != 1:
        raise SpecError(f"{where}: device.{name}.memory_gb", None if not mem_keys else mem_keys,
                        "is required: exactly one of memory_gb (decimal, 1e9 bytes) and "
                        "memory_gib (binary, 2**30 bytes)")
    mem_key = mem_keys[0]
    sources = t.get("sources", {})
    arch = t.get("arch", "")
    if arch not in ("", *ARCHS):
        raise SpecError(f"{where}: device.{name}.arch", arch, f"allowed: {', '.join(ARCHS)}")
    timing = t.get("timing", {})
    if not isinstance(timing, dict):
        raise SpecError(f"{where}: device.{name}.timing", timing, "must be a table")
    flat: dict[str, float] = {}
    for k, v in timing.items():
        for sub, val in (v.items() if isinstance(v, dict) else [(None, v)]):
            key = f"{k}.{sub}" if sub is not None else k
            if key not in TIMING_KEYS:
                raise SpecError(f"{where}: device.{name}.timing.{key}", key,
                                f"allowed keys: {', '.join(TIMING_KEYS)}")
            flat[key] = num(f"timing.{key}", val)
            if "efficiency" in key and flat[key] > 1:
                raise SpecError(f"{where}: device.{name}.timing.{key}", val,
                                "must be a fraction in (0, 1]")
    return DeviceSpec(
        name=name,
        description=str(t.get("description", name)),
        peak={k: num(f"peak_tflops.{k}", v) * T for k, v in peaks.items()},
        bandwidth=num("bandwidth_gbps", t["bandwidth_gbps"]) * GB,
        memory=round(num(mem_key, t[mem_key]) * (GB if mem_key == "memory_gb" else GIB)),
        sources={str(k): str(v) for k, v in sources.items()} if isinstance(sources, dict) else {},
        sms=int(num("sms", t["sms"])) if "sms" in t else 0,
        clock_mhz=num("clock_mhz", t["clock_mhz"]) if "clock_mhz" in t else 0.0,
        l2_bytes=int(num("l2_mib", t["l2_mib"]) * MIB) if "l2_mib" in t else 0,
        arch=str(arch),
        timing=flat,
        reserve=(round(nonneg("reserve_mib", t["reserve_mib"]) * MIB)
                 if "reserve_mib" in t else -1),
        cudnn_workspace=(round(nonneg("cudnn_workspace_mib", t["cudnn_workspace_mib"])
                                   * MIB) if "cudnn_workspace_mib" in t else 0),
    )


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text)


def device_to_toml(d: DeviceSpec) -> str:
    """One ``[device.NAME]`` table in the format :func:`load_devices` reads (the name and all
    strings quoted, so any name or description round-trips)."""
    key = f"device.{_q(d.name)}"
    lines = [
        f"[{key}]",
        f"description = {_q(d.description)}",
        f"bandwidth_gbps = {d.bandwidth / GB!r}",
        f"memory_gib = {d.memory / GIB!r}",
    ]
    if d.reserve >= 0:
        lines.append(f"reserve_mib = {d.reserve / MIB!r}")
    if d.cudnn_workspace:
        lines.append(f"cudnn_workspace_mib = {d.cudnn_workspace / MIB!r}")
    if d.sms:
        lines.append(f"sms = {d.sms}")
    if d.clock_mhz:
        lines.append(f"clock_mhz = {d.clock_mhz!r}")
    if d.l2_bytes:
        lines.append(f"l2_mib = {d.l2_bytes / MIB!r}")
    if d.arch:
        lines.append(f"arch = {_q(d.arch)}")
    lines += ["", f"[{key}.peak_tflops]"]
    lines += [f"{k} = {v / T!r}" for k, v in d.peak.items()]
    if d.timing:
        lines += ["", f"[{key}.timing]"]
        lines += [f"{_q(k)} = {v!r}" for k, v in d.timing.items()]
    if d.sources:
        lines += ["", f"[{key}.sources]"]
        lines += [f"{_q(k)} = {_q(v)}" for k, v in d.sources.items()]
    return "\n".join(lines) + "\n"


def get_device(name: str, extra: dict[str, DeviceSpec] | None = None) -> DeviceSpec:
    """A preset or user device by name (case-insensitive)."""
    pool = {**PRESETS, **(extra or {})}
    key = name.strip().lower()
    for k, v in pool.items():
        if k.lower() == key:
            return v
    raise SpecError("device", name,
                    f"unknown device{did_you_mean(name, pool)}; known devices: {', '.join(pool)}")


@dataclass(frozen=True)
class DeviceCatalog:
    """Devices to list, by name, in order (presets first, then a file's)."""

    devices: tuple[tuple[str, DeviceSpec], ...]

    def to_dict(self) -> dict[str, Any]:
        """``{NAME: device.to_dict()}`` in order (every number with its source)."""
        return {k: v.to_dict() for k, v in self.devices}


def catalog(devices_file: str | Path | None = None) -> DeviceCatalog:
    """The presets, followed (or overridden by name) by the devices of ``devices_file``."""
    devs = dict(PRESETS)
    if devices_file:
        devs.update(load_devices(devices_file))
    return DeviceCatalog(tuple(devs.items()))
