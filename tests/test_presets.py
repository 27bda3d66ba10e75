"""Accelerator presets: keys, sources, sane ordering, and hand-copied datasheet figures.

The figures in ``DATASHEET`` are typed here from the vendor documents named in each preset's
``sources`` (dense peaks in TFLOP/s, bandwidth in GB/s, memory in GB), so a typo in
``hardware/device_presets.json`` fails a test.
"""

from __future__ import annotations

import math

import pytest

from cli_run import run
from convcost.hardware.devices import GB, PEAK_KEYS, PRESETS, DeviceSpec, T

PRESET_NAMES = list(PRESETS)

#: (device, field) -> the vendor figure; field is a peak key, "bandwidth" or "memory".
DATASHEET: dict[tuple[str, str], float] = {
    # NVIDIA V100 datasheet, SXM2 16 GB
    ("v100-16gb", "fp32"): 15.7,
    ("v100-16gb", "fp16"): 125,
    ("v100-16gb", "memory"): 16,
    # NVIDIA V100 datasheet, PCIe
    ("v100-pcie", "fp64"): 7,
    ("v100-pcie", "fp32"): 14,
    ("v100-pcie", "fp16"): 112,
    ("v100-pcie", "bandwidth"): 900,
    # NVIDIA A40 datasheet
    ("a40", "fp32"): 37.4,
    ("a40", "tf32"): 74.8,
    ("a40", "bf16"): 149.7,
    ("a40", "bandwidth"): 696,
    # NVIDIA L40S datasheet
    ("l40s", "fp32"): 91.6,
    ("l40s", "fp16"): 362.05,
    ("l40s", "fp8"): 733,
    ("l40s", "bandwidth"): 864,
    # AMD Instinct MI250X specifications
    ("mi250x", "fp64"): 95.7,
    ("mi250x", "bf16"): 383.0,
    ("mi250x", "memory"): 128,
    ("mi250x", "bandwidth"): 3200,
}


def _value(d: DeviceSpec, key: str) -> float:
    if key == "bandwidth":
        return d.bandwidth / GB
    if key == "memory":
        return d.memory / 2**30  # vendor GB = GiB
    return d.peak[key] / T


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_peak_keys_known(name: str) -> None:
    d = PRESETS[name]
    assert d.name == name
    assert set(d.peak) <= set(PEAK_KEYS), set(d.peak) - set(PEAK_KEYS)
    assert "fp32" in d.peak


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_every_field_has_a_source(name: str) -> None:
    d = PRESETS[name]
    fields = [f"peak.{k}" for k in d.peak] + ["bandwidth", "memory"]
    for f in fields:
        assert d.sources.get(f, "").strip(), f"{name}: {f} has no source"


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_numbers_positive_and_ordered(name: str) -> None:
    d = PRESETS[name]
    for k, v in d.peak.items():
        assert math.isfinite(v) and v > 0, k
    assert d.bandwidth > 0 and d.memory > 0
    p = d.peak
    if "fp16" in p:
        assert p["fp16"] >= p["fp32"]
    if "bf16" in p:
        assert p["bf16"] >= p["fp32"]
    if "tf32" in p:
        assert p["tf32"] >= p["fp32"]
    if "fp64" in p:
        assert p["fp64"] <= p["fp32"]
    if "fp8" in p and "fp16" in p:
        assert p["fp8"] >= p["fp16"]


@pytest.mark.parametrize(("name", "key"), list(DATASHEET))
def test_new_presets_match_datasheet(name: str, key: str) -> None:
    assert name in PRESETS
    assert _value(PRESETS[name], key) == pytest.approx(DATASHEET[name, key], rel=1e-9)


def test_new_presets_have_a_datasheet_row() -> None:
    new = {"v100-16gb", "v100-pcie", "a40", "l40s", "mi250x"}
    assert new <= set(PRESETS)
    for name in new:
        assert sum(1 for n, _ in DATASHEET if n == name) >= 2, name


def test_devices_command_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["devices"], capsys)
    assert code == 0 and err == ""
    first_cells = {line.split()[0] for line in out.splitlines() if line.strip()}
    for name in PRESETS:
        assert name in first_cells, name
