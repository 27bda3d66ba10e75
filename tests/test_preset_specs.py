"""Preset SM count / boost clock / L2 / arch, and the new presets' peaks, against figures
typed here by hand from the vendor documents named in each preset's ``sources``.

``SPECS`` is copied from: NVIDIA A100 whitepaper Table 3 (A100, V100 SXM2), Hopper
whitepaper / "Hopper Architecture In-Depth" (H100), Volta whitepaper Table 1 (V100),
Turing whitepaper Table 1 (RTX 2080 Ti), GA102 whitepaper Appendix A (RTX 3090), Ada
whitepaper Appendix A (RTX 4090), RTX Blackwell whitepaper Table 3 (RTX 5090), AMD MI200
launch table (MI250X), AMD ROCm MI300 microarchitecture page (MI300X).
"""

from __future__ import annotations

import pytest

from convcost.hardware.devices import ARCHS, GB, MIB, PRESETS, T

KIB = 1024

#: device -> (sms, boost clock MHz, L2 bytes, arch); None: no vendor figure found yet.
SPECS: dict[str, tuple[int | None, float | None, int | None, str]] = {
    "h200": (132, 1980, 50 * MIB, "hopper"),
    "h100-sxm": (132, 1980, 50 * MIB, "hopper"),
    "h100-pcie": (114, None, 50 * MIB, "hopper"),
    "a100-40gb": (108, 1410, 40960 * KIB, "ampere"),
    "a100-80gb": (108, 1410, 40960 * KIB, "ampere"),
    # NVIDIA A100 datasheet, 80 GB PCIe: the same GA100 part as the SXM cards
    "a100-80gb-pcie": (108, 1410, 40960 * KIB, "ampere"),
    "l4": (58, 2040, 48 * MIB, "ada"),  # spec database (L2: TechPowerUp, AD104 48 MB)
    "t4": (40, None, 4 * MIB, "turing"),  # 2,560 CUDA cores / 64; L2: TU104's 4 MB
    "v100": (80, 1530, 6144 * KIB, "volta"),
    "v100-16gb": (80, 1530, 6144 * KIB, "volta"),
    "v100-pcie": (80, None, 6144 * KIB, "volta"),
    "a40": (84, 1740, None, "ampere"),  # TechPowerUp database
    "l40s": (142, 2520, None, "ada"),  # TechPowerUp database
    "a10": (72, 1695, 6 * MIB, "ampere"),  # TechPowerUp database
    "a30": (56, 1440, 24 * MIB, "ampere"),  # TechPowerUp database
    "b200": (148, 1980, None, "blackwell"),  # spec database (hmc-tech.com)
    "rtx3080": (68, 1710, 5 * MIB, "ampere"),
    "rtx4080": (76, 2505, 64 * MIB, "ada"),
    "rtx-a6000": (84, 1800, 6144 * KIB, "ampere"),  # GA102 whitepaper v2 Table 3
    "rtx6000-ada": (142, 2505, None, "ada"),
    "mi250x": (220, 1700, None, "cdna2"),
    "rtx2080ti": (68, 1545, 5632 * KIB, "turing"),
    "rtx3090": (82, 1695, 6144 * KIB, "ampere"),
    "rtx4090": (128, 2520, 73728 * KIB, "ada"),
    "rtx5090": (170, 2407, None, "blackwell"),
    "mi300x": (304, None, 8 * 4 * MIB, "cdna3"),
}

#: Fields left at 0 because no vendor document (or reproduction of one) was found for them.
#: Shrink this as sources turn up; a preset may not gain a figure without leaving this set.
UNSOURCED: set[tuple[str, str]] = {
    (name, f)
    for name, spec in SPECS.items()
    for f, v in zip(("sms", "clock_mhz", "l2"), spec[:3])
    if v is None
}

#: New presets' peaks (TFLOP/s, dense, FP32-accumulate tensor rates), GB/s, GB.
NEW_PRESETS: dict[str, dict[str, float]] = {
    # Turing whitepaper Table 1, RTX 2080 Ti reference clocks
    "rtx2080ti": {"fp32": 13.4, "fp16": 53.8, "int8": 215.2, "bandwidth": 616, "memory": 11},
    # GA102 whitepaper Appendix A, RTX 3090
    "rtx3090": {"fp32": 35.6, "fp16": 71, "bandwidth": 936, "memory": 24},
    # RTX Blackwell whitepaper Table 3, RTX 5090 (dense; FP32-accumulate tensor rows)
    "rtx5090": {
        "fp32": 104.8,
        "fp16": 209.5,
        "bf16": 209.5,
        "fp8": 419,
        "int8": 838,
        "bandwidth": 1792,
        "memory": 32,
    },
}

NEW_PRESETS.update({
    # NVIDIA A100 Tensor Core GPU datasheet, 80 GB PCIe column (dense; 1,935 GB/s)
    "a100-80gb-pcie": {"fp32": 19.5, "tf32": 156, "fp16": 312, "bf16": 312, "int8": 624,
                       "bandwidth": 1935, "memory": 80},
    # NVIDIA A10 datasheet (dense)
    "a10": {"fp32": 31.2, "tf32": 62.5, "fp16": 125, "bf16": 125, "int8": 250,
            "bandwidth": 600, "memory": 24},
    # NVIDIA A30 datasheet (dense)
    "a30": {"fp32": 10.3, "fp16": 165, "bf16": 165, "int8": 330, "bandwidth": 933,
            "memory": 24},
    # NVIDIA HGX B200 (per GPU; sparse halved)
    "b200": {"fp64": 37, "fp32": 75, "tf32": 1100, "fp16": 2250, "bf16": 2250, "fp8": 4500,
             "int8": 4500, "bandwidth": 7700, "memory": 180},
    # GA102 whitepaper v2 (RTX 3080, RTX A6000 Table 3), Ada whitepaper v2.1 (RTX 4080),
    # RTX 6000 Ada datasheet (FP8 with sparsity halved)
    "rtx3080": {"fp32": 29.8, "int8": 238, "bandwidth": 760, "memory": 10},
    "rtx4080": {"fp32": 48.7, "int8": 389.9, "bandwidth": 716.8, "memory": 16},
    "rtx-a6000": {"fp32": 38.7, "tf32": 77.4, "fp16": 154.8, "bf16": 154.8, "int8": 309.7,
                  "bandwidth": 768, "memory": 48},
    "rtx6000-ada": {"fp32": 91.1, "fp8": 728.5, "bandwidth": 960, "memory": 48},
})

#: FP32 lanes per SM as the whitepapers state them ("FP32 Cores / SM" / "CUDA Cores / SM").
FP32_LANES_PER_SM: dict[str, int] = {
    "v100": 64,  # A100 whitepaper Table 3: V100 64 FP32 cores / SM
    "v100-16gb": 64,
    "a100-40gb": 64,  # Table 3: A100 64 FP32 cores / SM
    "a100-80gb": 64,
    "a100-80gb-pcie": 64,
    "h100-sxm": 128,  # Hopper whitepaper: 128 FP32 cores / SM
    "h200": 128,
    "rtx2080ti": 64,  # Turing Table 1: CUDA Cores / SM 64
    "rtx3090": 128,  # GA102 Appendix A: CUDA Cores / SM 128
    "rtx4090": 128,  # Ada Appendix A: CUDA Cores / SM 128
    "rtx5090": 128,  # RTX Blackwell Table 3: 21760 CUDA cores / 170 SMs
    # the database SM counts and clocks are checked against the vendors' FP32 peaks
    "a10": 128,  # GA102: 128 CUDA cores / SM
    "a30": 64,  # GA100: 64 FP32 cores / SM
    "a40": 128,
    "l40s": 128,  # AD102
    "l4": 128,  # AD104
    "b200": 128,
    "rtx3080": 128,
    "rtx4080": 128,
    "rtx-a6000": 128,
    "rtx6000-ada": 128,
}

GPU_PRESETS = [n for n in PRESETS if n != "cpu"]


def test_every_preset_has_a_spec_row() -> None:
    assert set(GPU_PRESETS) == set(SPECS)


def test_cpu_preset() -> None:
    assert PRESETS["cpu"].arch == "cpu"


@pytest.mark.parametrize("name", GPU_PRESETS)
def test_preset_specs_match_documents(name: str) -> None:
    d = PRESETS[name]
    sms, clock, l2, arch = SPECS[name]
    assert d.arch == arch
    assert d.arch in ARCHS
    assert d.sms == (sms or 0)
    assert d.clock_mhz == pytest.approx(clock or 0.0)
    assert d.l2_bytes == (l2 or 0)


@pytest.mark.parametrize("name", GPU_PRESETS)
@pytest.mark.parametrize("field", ["sms", "clock_mhz", "l2"])
def test_preset_spec_present_and_cited(name: str, field: str) -> None:
    d = PRESETS[name]
    value = {"sms": d.sms, "clock_mhz": d.clock_mhz, "l2": d.l2_bytes}[field]
    if (name, field) in UNSOURCED:
        assert value == 0, f"{name}.{field} set but listed as unsourced"
        assert field not in d.sources
        return
    assert value > 0, f"{name}.{field} missing"
    assert d.sources.get(field, "").strip(), f"{name}: {field} has no source"


@pytest.mark.parametrize(("name", "key"), [(n, k) for n, row in NEW_PRESETS.items() for k in row])
def test_new_preset_figures(name: str, key: str) -> None:
    d = PRESETS[name]
    if key == "bandwidth":
        got = d.bandwidth / GB
    elif key == "memory":
        got = d.memory / 2**30  # vendor GB = GiB
    else:
        got = d.peak[key] / T
    assert got == pytest.approx(NEW_PRESETS[name][key], rel=1e-9)


@pytest.mark.parametrize("name", list(FP32_LANES_PER_SM))
def test_fp32_peak_is_sms_times_clock_times_lanes(name: str) -> None:
    d = PRESETS[name]
    expected = d.sms * d.clock_mhz * 1e6 * FP32_LANES_PER_SM[name] * 2
    assert d.peak["fp32"] == pytest.approx(expected, rel=0.02)


def test_amd_cu_counts_cover_every_die() -> None:
    # MI250X: 110 CUs on each of the 2 GCDs; MI300X: 38 active CUs on each of the 8 XCDs.
    assert PRESETS["mi250x"].sms == 2 * 110
    assert PRESETS["mi300x"].sms == 8 * 38
