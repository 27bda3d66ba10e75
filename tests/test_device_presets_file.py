"""The presets' data file (``convcost/hardware/device_presets.json``): it is packaged, it
validates, a corrupted copy fails with one line naming the preset and the field (by the same
rules as a user devices file), and a few figures the other preset tests do not cover match
the documents its sources name.

Figures typed here by hand: NVIDIA H100 datasheet (PCIe), NVIDIA L4 datasheet, AMD Instinct
MI300X data sheet (dense = "with sparsity" / 2); reported totals as quoted in the sources.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from convcost.errors import SpecError
from convcost.hardware.devices import (
    GIB,
    HBM_PRESETS,
    MEMORY_IS_BINARY,
    MIB,
    PRESETS,
    REPORTED_TOTAL,
    T,
    load_devices,
    load_preset_file,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGED = files("convcost.hardware").joinpath("device_presets.json")
ROOT = Path(__file__).resolve().parents[1]


def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGED.read_text(encoding="utf-8"))
    return data


def test_file_is_package_data() -> None:
    assert PACKAGED.is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "hardware/*.json" in pyproject["tool"]["setuptools"]["package-data"]["convcost"]


def test_packaged_file_validates_and_is_the_presets(tmp_path: Path) -> None:
    copied = tmp_path / "presets.json"
    copied.write_text(PACKAGED.read_text(encoding="utf-8"), encoding="utf-8")
    for loaded in (load_preset_file(), load_preset_file(copied)):
        assert list(loaded.devices) == list(PRESETS)
        assert loaded.devices == PRESETS
        assert loaded.reported_total == REPORTED_TOTAL
        assert loaded.hbm == HBM_PRESETS
        assert loaded.memory_is_binary == MEMORY_IS_BINARY
    assert set(REPORTED_TOTAL) <= set(PRESETS) and HBM_PRESETS <= set(PRESETS)


def test_references_expand() -> None:
    refs = _data()["references"]
    h200 = PRESETS["h200"]
    assert h200.sources["sms"] == refs["HOPPER_SMS"] + refs["H200_NOTE"]
    assert PRESETS["a40"].sources["clock_mhz"].startswith(refs["TECHPOWERUP"] + " NVIDIA A40")
    assert h200.sources["memory"] == (f"{h200.sources['bandwidth']} (the vendor's GB read as "
                                      f"GiB: {MEMORY_IS_BINARY})")
    assert all("{" not in s for d in PRESETS.values() for s in d.sources.values())


# -------------------------------------------------------------------- corrupted copies

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    *parents, last = path.split("/")

    def mutate(data: dict[str, Any]) -> None:
        t = data
        for p in parents:
            t = t[p]
        t[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    *parents, last = path.split("/")

    def mutate(data: dict[str, Any]) -> None:
        t = data
        for p in parents:
            t = t[p]
        del t[last]

    return mutate


#: (mutation, the field the error names, what it says)
CORRUPTIONS: list[tuple[Mutation, str, str]] = [
    (_set("device/h200/bandwith_gbps", 4800), "device.h200.bandwith_gbps", "unknown key"),
    (_set("device/t4/memory_gb", 16), "device.t4.memory_gb", "unknown key"),
    (_set("device/t4/reserve_mib", 1), "device.t4.reserve_mib", "unknown key"),
    (_set("oops", 1), "oops", "unknown key"),
    (_delete("device/t4/bandwidth_gbps"), "device.t4.bandwidth_gbps", "is required"),
    (_delete("device/a40/description"), "device.a40.description", "is required"),
    (_delete("device/l4/source"), "device.l4.source", "is required"),
    (_delete("device/a40/sources/sms"), "device.a40.sources.sms", "is required"),
    (_delete("device/t4/sources/timing.bandwidth_efficiency"),
     "device.t4.sources.timing.bandwidth_efficiency", "is required"),
    (_set("device/a40/sources/timing.kernel_us", "x"), "device.a40.sources.timing.kernel_us",
     "not a field of this preset"),
    (_delete("references/MEMORY_IS_BINARY"), "references.MEMORY_IS_BINARY", "is required"),
    (_set("device/h100-sxm/sms", "132"), "device.h100-sxm.sms", "must be an integer"),
    (_set("device/h100-sxm/sms", 132.5), "device.h100-sxm.sms", "must be an integer"),
    (_set("device/rtx4090/description", 4090), "device.rtx4090.description", "must be a string"),
    (_set("device/l4/bandwidth_gbps", "300"), "device.l4.bandwidth_gbps", "must be a number"),
    (_set("device/h200/hbm", "yes"), "device.h200.hbm", "must be true or false"),
    (_set("device/a10/sources", "datasheet"), "device.a10.sources", "must be an object"),
    # checked by the parser of user devices files
    (_set("device/l4/peak_tflops/fp16", "121"), "device.l4.peak_tflops.fp16",
     "must be a positive number"),
    (_set("device/l4/peak_tflops/fp4", 1), "device.l4.peak_tflops.fp4", "allowed keys"),
    (_delete("device/l4/peak_tflops/fp32"), "device.l4.peak_tflops", "at least fp32"),
    (_set("device/v100/bandwidth_gbps", -900), "device.v100.bandwidth_gbps",
     "must be a positive number"),
    (_set("device/v100/arch", "pascal"), "device.v100.arch", "allowed"),
    # sources and references
    (_set("device/t4/sources/clock_mhz", "x"), "device.t4.sources.clock_mhz",
     "not a field of this preset"),
    (_set("device/t4/sources/sms", 40), "device.t4.sources.sms", "must be a string"),
    (_set("device/h200/sources/l2", "{HOPPER_L3}"), "device.h200.sources.l2",
     "unknown reference"),
    (_set("device/h200/source", "datasheet {x"), "device.h200.source", "brace"),
    # reported totals
    (_set("device/t4/reported_total/by", "nvml"), "device.t4.reported_total.by", "'cuda'"),
    (_set("device/t4/reported_total/gb", 14), "device.t4.reported_total.gb", "unknown key"),
    (_delete("device/t4/reported_total/gib"), "device.t4.reported_total.gib/mib/bytes",
     "exactly one"),
    (_set("device/mi300x/reported_total/bytes", 1.5e11), "device.mi300x.reported_total.bytes",
     "positive integer"),
    (_set("device/t4/reported_total/gib", 17), "device.t4.reported_total.gib",
     "must not exceed memory"),
    (_set("device/cpu/hbm", True), "device.cpu.arch", "no reserve"),
]


@pytest.mark.parametrize(("mutate", "field", "says"), CORRUPTIONS,
                         ids=[f"{f}:{s}" for _, f, s in CORRUPTIONS])
def test_corrupted_copy_names_preset_and_field(
    tmp_path: Path, mutate: Mutation, field: str, says: str
) -> None:
    data = copy.deepcopy(_data())
    mutate(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_preset_file(bad)
    msg = str(e.value)
    assert "\n" not in msg
    assert e.value.field == f"{bad}: {field}", msg
    assert msg.startswith(f"{bad}: {field}: got ")
    assert says in msg


@pytest.mark.parametrize(("text", "says"), [
    ('{"device": {"t4": {}}, "device": {}}', "a key appears twice"),
    ('{"device": ', "is not valid JSON"),
    ("[]", "must be a JSON object"),
])
def test_unreadable_copy(tmp_path: Path, text: str, says: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=says) as e:
        load_preset_file(bad)
    assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_same_rule_as_a_user_devices_file(tmp_path: Path) -> None:
    data = _data()
    data["device"]["v100"]["bandwidth_gbps"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    toml = tmp_path / "devices.toml"
    toml.write_text("[device.v100]\nbandwidth_gbps = 0\nmemory_gib = 32\n"
                    "[device.v100.peak_tflops]\nfp32 = 15.7\n")
    with pytest.raises(SpecError) as preset_err:
        load_preset_file(bad)
    with pytest.raises(SpecError) as user_err:
        load_devices(toml)
    assert str(preset_err.value).removeprefix(str(bad)) == (
        str(user_err.value).removeprefix(str(toml)))


# ------------------------------------------------------------- figures against documents

#: (device, peak key) -> dense TFLOP/s from the vendor document its source names.
DATASHEET: dict[tuple[str, str], float] = {
    ("h100-pcie", "fp32"): 51,  # H100 datasheet, PCIe
    ("h100-pcie", "bf16"): 756.5,  # 1,513 with sparsity / 2
    ("h100-pcie", "fp8"): 1513,  # 3,026 with sparsity / 2
    ("l4", "fp32"): 30.3,  # L4 datasheet
    ("l4", "bf16"): 121,  # 242 with sparsity / 2
    ("l4", "fp8"): 242.5,  # 485 with sparsity / 2
    ("mi300x", "fp32"): 163.4,  # MI300X data sheet, matrix FP32
    ("mi300x", "bf16"): 1307.4,  # dense
    ("mi300x", "fp8"): 2614.9,  # dense
}


@pytest.mark.parametrize(("name", "key"), list(DATASHEET))
def test_datasheet_peaks(name: str, key: str) -> None:
    assert PRESETS[name].peak[key] == pytest.approx(DATASHEET[name, key] * T, rel=1e-12)


def test_reported_totals_and_reserves() -> None:
    # rocm-smi 'VRAM Total Memory (B): 206141652992'; 192 GiB physical
    mi = PRESETS["mi300x"]
    assert REPORTED_TOTAL["mi300x"][:2] == (206141652992, "smi")
    assert mi.reserve == 192 * GIB - 206141652992 + 768 * MIB + 512 * MIB
    # 'GPU 0 has a total capacity of 14.56 GiB' (Tesla T4)
    assert REPORTED_TOTAL["t4"][:2] == (int(14.56 * GIB), "cuda")
    assert PRESETS["t4"].usable_bytes == int(14.56 * GIB) - 512 * MIB
    # HBM without a reported total: no ECC share
    assert "b200" in HBM_PRESETS and "b200" not in REPORTED_TOTAL
    assert PRESETS["b200"].reserve == 768 * MIB + 512 * MIB
    # GDDR without a reported total: the default rule (reserve -1)
    assert PRESETS["a40"].reserve == -1 and "a40" not in HBM_PRESETS


# ------------------------------------------------- unknown keys, reserve (issue 27 item 6)

_USER = ("[device.mygpu]\nbandwidth_gbps = 100\nmemory_gib = 1\n{extra}\n"
         "[device.mygpu.peak_tflops]\nfp32 = 10\n")


@pytest.mark.parametrize(("extra", "field", "hint"), [
    ("reserve_mb = 100", "device.mygpu.reserve_mb", "reserve_mib"),
    ("clock_mhzz = 1000", "device.mygpu.clock_mhzz", "clock_mhz"),
    ("[interconnect.mylink]\nbandwidth_gbps = 10\nlatency = 3", "interconnect.mylink.latency",
     "latency_us"),
    ("[devices.other]\nmemory_gib = 1", "devices", "device"),
])
def test_user_file_refuses_unknown_keys(tmp_path: Path, extra: str, field: str,
                                        hint: str) -> None:
    toml = tmp_path / "devices.toml"
    toml.write_text(_USER.format(extra=extra) if "[" not in extra else
                    _USER.format(extra="") + extra + "\n")
    with pytest.raises(SpecError) as e:
        load_devices(toml)
    assert e.value.field == f"{toml}: {field}"
    assert f"did you mean {hint}" in str(e.value) and "allowed keys" in str(e.value)


def test_presets_file_refuses_unknown_keys_too(tmp_path: Path) -> None:
    data = _data()
    data["device"]["t4"]["clock_mhzz"] = 1590
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SpecError, match=r"device\.t4\.clock_mhzz.*unknown key"):
        load_preset_file(bad)


@pytest.mark.parametrize("reserve", [1024, 4096])
def test_reserve_at_least_the_memory_is_refused_at_load(tmp_path: Path, reserve: int) -> None:
    toml = tmp_path / "devices.toml"
    toml.write_text(_USER.format(extra=f"reserve_mib = {reserve}"))  # 1 GiB = 1024 MiB
    with pytest.raises(SpecError) as e:
        load_devices(toml)
    assert e.value.field == f"{toml}: device.mygpu.reserve_mib" and e.value.value == reserve
    assert "1024 MiB" in str(e.value) and "--reserve" not in str(e.value)
    toml.write_text(_USER.format(extra="reserve_mib = 1000"))
    assert load_devices(toml)["mygpu"].usable_bytes == 24 * 2**20  # 1024 - 1000 MiB
