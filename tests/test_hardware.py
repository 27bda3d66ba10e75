"""Hardware: device presets and TOML files, roofline, ZeRO sharding, traffic, step time, fit.

Every expected value is a literal with its arithmetic in a comment, or is recomputed here
from the inputs of the formula (never by calling the formula under test).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from torch import nn

from convcost.errors import SpecError
from convcost.fit import fit_batch
from convcost.formulas.catalog import default_registry as load_formulas
from convcost.formulas.traffic import traffic
from convcost.hardware.devices import (
    DTYPE_TO_PEAK,
    PEAK_KEYS,
    PRESETS,
    DeviceSpec,
    device_to_toml,
    get_device,
    load_devices,
    load_hardware,
)
from convcost.hardware.distributed import (
    INTERCONNECTS,
    Interconnect,
    distributed_step,
    get_interconnect,
    shard,
    sharded_peak,
)
from convcost.hardware.roofline import ASSUMPTIONS, Roofline, mfu, roofline
from convcost.hardware.step import step_time
from convcost.memory.model import RunMemory
from convcost.memory.timeline import CATEGORIES, Timeline
from convcost.model import ModelResult, analyze, train_peak
from convcost.ops import OpCall, TensorMeta

T = 1e12
G = 1e9

# ------------------------------------------------------------------------------- presets

REQUIRED = ("h200", "h100-sxm", "h100-pcie", "a100-40gb", "a100-80gb", "l4", "t4", "v100",
            "rtx4090", "mi300x", "cpu")


def test_required_presets_exist() -> None:
    assert set(REQUIRED) <= set(PRESETS)
    for name, dev in PRESETS.items():
        assert dev.name == name


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_complete(name: str) -> None:
    dev = PRESETS[name]
    assert dev.peak["fp32"] > 0
    assert dev.bandwidth > 0
    assert dev.memory > 0
    assert set(dev.peak) <= set(PEAK_KEYS)
    assert all(v > 0 for v in dev.peak.values())
    assert dev.description
    for key in [*(f"peak.{k}" for k in dev.peak), "bandwidth", "memory"]:
        assert isinstance(dev.sources.get(key), str) and dev.sources[key].strip(), key


def test_published_numbers() -> None:
    # bandwidths and capacities from the vendors' datasheets, in bytes/s and bytes
    assert PRESETS["h100-sxm"].bandwidth == 3.35e12  # 3.35 TB/s HBM3
    assert PRESETS["h100-sxm"].memory == 80 * 2**30  # 80 GB of HBM3 = 80 GiB
    assert PRESETS["h200"].bandwidth == 4.8e12  # 4.8 TB/s HBM3e
    assert PRESETS["h200"].memory == 141 * 2**30  # 141 GB (GiB)
    assert PRESETS["h100-pcie"].bandwidth == 2.0e12  # 2 TB/s
    assert PRESETS["a100-80gb"].bandwidth == 2.039e12  # 2,039 GB/s
    assert PRESETS["a100-40gb"].bandwidth == 1.555e12  # 1,555 GB/s
    assert PRESETS["mi300x"].memory == 192 * 2**30  # 192 GB HBM3 = 8 x 24 GiB
    assert PRESETS["mi300x"].bandwidth == 5.3e12  # 5.3 TB/s
    assert PRESETS["l4"].bandwidth == 300e9  # 300 GB/s
    assert PRESETS["rtx4090"].bandwidth == 1008e9  # 1,008 GB/s
    assert PRESETS["v100"].bandwidth == 900e9  # 900 GB/s
    # dense peaks, FLOP/s
    assert PRESETS["a100-80gb"].peak["fp32"] == pytest.approx(19.5e12, rel=1e-12)
    assert PRESETS["a100-80gb"].peak["tf32"] == 156e12  # 312 with sparsity / 2
    assert PRESETS["a100-80gb"].peak["bf16"] == 312e12  # 624 with sparsity / 2
    assert PRESETS["t4"].peak["fp32"] == pytest.approx(8.1e12, rel=1e-12)
    assert PRESETS["t4"].peak["fp16"] == 65e12
    assert PRESETS["v100"].peak["fp32"] == pytest.approx(15.7e12, rel=1e-12)
    assert PRESETS["v100"].peak["fp16"] == 125e12


def test_dense_is_half_of_sparse() -> None:
    h = PRESETS["h100-sxm"].peak
    # datasheet "with sparsity" figures: bf16/fp16 1,979 TF, fp8/int8 3,958, tf32 989
    assert h["bf16"] == 989.5e12  # 1979 / 2
    assert h["fp16"] == 989.5e12  # 1979 / 2
    assert h["fp8"] == 1979e12  # 3958 / 2
    assert h["int8"] == 1979e12  # 3958 / 2
    assert h["tf32"] == 494.5e12  # 989 / 2
    assert h["fp32"] == 67e12  # not a tensor-core figure: as published
    # H200 has the same compute as H100 SXM
    assert PRESETS["h200"].peak == h


def test_get_device() -> None:
    assert get_device("H100-SXM") is PRESETS["h100-sxm"]
    assert get_device("  t4 ") is PRESETS["t4"]
    mine = DeviceSpec("mine", "mine", {"fp32": 1e12}, 1e9, 10**9)
    assert get_device("mine", {"mine": mine}) is mine
    with pytest.raises(SpecError, match=r"^device: .*'nope'.*h100-sxm"):
        get_device("nope")


# ------------------------------------------------------------------------------- peak_for


def test_peak_for_dtype_mapping() -> None:
    h = PRESETS["h100-sxm"]
    assert h.peak_for("float32") == (67e12, "fp32")
    assert h.peak_for("float64") == (67e12, "fp64")
    assert h.peak_for("float16") == (989.5e12, "fp16")
    assert h.peak_for("bfloat16") == (989.5e12, "bf16")
    assert h.peak_for("float8_e4m3fn") == (1979e12, "fp8")
    assert h.peak_for("float8_e5m2") == (1979e12, "fp8")
    assert h.peak_for("int8") == (1979e12, "int8")
    assert set(DTYPE_TO_PEAK.values()) <= set(PEAK_KEYS)


def test_peak_for_tf32_flag() -> None:
    h = PRESETS["h100-sxm"]
    assert h.peak_for("float32", tf32=True) == (494.5e12, "tf32")
    # tf32 only changes fp32 matrix work
    assert h.peak_for("bfloat16", tf32=True) == (989.5e12, "bf16")
    assert h.peak_for("float64", tf32=True) == (67e12, "fp64")
    # a device without TF32 units keeps the fp32 rate
    v = PRESETS["v100"]
    assert v.peak_for("float32", tf32=True)[1] == "fp32"
    assert v.peak_for("float32", tf32=True)[0] == pytest.approx(15.7e12, rel=1e-12)


def test_peak_for_falls_back_to_fp32() -> None:
    t4 = PRESETS["t4"]  # Turing: no bf16, no fp8, no fp64 entry
    assert t4.peak_for("bfloat16")[1] == "fp32"
    assert t4.peak_for("bfloat16")[0] == pytest.approx(8.1e12, rel=1e-12)
    assert t4.peak_for("float8_e4m3fn")[1] == "fp32"
    assert t4.peak_for("float64")[1] == "fp32"
    assert t4.peak_for("int64")[1] == "fp32"  # not a compute dtype at all
    assert PRESETS["v100"].peak_for("bfloat16")[1] == "fp32"


# ------------------------------------------------------------------------------- TOML


def _write(tmp_path: Path, text: str, name: str = "dev.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_toml_round_trip_presets(tmp_path: Path, name: str) -> None:
    dev = PRESETS[name]
    loaded = load_devices(_write(tmp_path, device_to_toml(dev)))
    assert loaded == {name: dev}


def test_toml_round_trip_all_in_one_file(tmp_path: Path) -> None:
    text = "\n".join(device_to_toml(d) for d in PRESETS.values())
    assert load_devices(_write(tmp_path, text)) == PRESETS


def test_toml_user_device(tmp_path: Path) -> None:
    p = _write(tmp_path, """
[device.lab-gpu]
description = "our lab card"
bandwidth_gbps = 1500
memory_gb = 48

[device.lab-gpu.peak_tflops]
fp32 = 40
bf16 = 160

[device.lab-gpu.sources]
"peak.fp32" = "measured"
""")
    d = load_devices(p)["lab-gpu"]
    assert d == DeviceSpec(
        "lab-gpu", "our lab card",
        {"fp32": 40e12, "bf16": 160e12},  # TFLOP/s × 1e12
        1500e9,  # GB/s × 1e9
        48_000_000_000,  # GB × 1e9
        {"peak.fp32": "measured"},
    )
    assert d.peak_for("float16") == (40e12, "fp32")  # no fp16 given: fp32 fallback
    assert get_device("LAB-GPU", load_devices(p)) == d


def _device_toml(**fields: str) -> str:
    base = {"bandwidth_gbps": "100", "memory_gb": "1"}
    base.update(fields)
    peaks = base.pop("peaks", "fp32 = 1")
    body = "\n".join(f"{k} = {v}" for k, v in base.items() if v is not None and v != "DROP")
    return f"[device.x]\n{body}\n\n[device.x.peak_tflops]\n{peaks}\n"


def test_toml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^devices_file: .*no such file"):
        load_devices(tmp_path / "absent.toml")
    with pytest.raises(SpecError, match=r"^devices_file: .*no such file"):
        load_devices(tmp_path)  # a directory


def test_toml_invalid(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^devices_file: .*not valid TOML"):
        load_devices(_write(tmp_path, "[device.x\nfp32 = "))


def test_toml_not_text(tmp_path: Path) -> None:
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00\x81 binary")
    with pytest.raises(SpecError, match=r"^devices_file: .*not a text file"):
        load_devices(p)


def test_toml_no_tables(tmp_path: Path) -> None:
    for text in ("", "device = 5\n", "[device]\n"):
        with pytest.raises(SpecError, match=r"needs at least one \[device\.NAME\]"):
            load_devices(_write(tmp_path, text))
    # a top-level key that is neither table is named first (issue 27: unknown keys)
    with pytest.raises(SpecError, match=r"x: got 'x'; unknown key; allowed keys: device"):
        load_devices(_write(tmp_path, "x = 1\n"))


def test_toml_device_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"device\.x.*must be a table"):
        load_devices(_write(tmp_path, "[device]\nx = 5\n"))


def test_toml_missing_fp32(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"device\.x\.peak_tflops.*at least fp32"):
        load_devices(_write(tmp_path, _device_toml(peaks="bf16 = 100")))
    no_peaks = "[device.x]\nbandwidth_gbps = 100\nmemory_gb = 1\n"
    with pytest.raises(SpecError, match=r"device\.x\.peak_tflops.*at least fp32"):
        load_devices(_write(tmp_path, no_peaks))


def test_toml_unknown_peak_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"peak_tflops\.fp4.*allowed keys: fp64, fp32"):
        load_devices(_write(tmp_path, _device_toml(peaks="fp32 = 1\nfp4 = 9")))


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"bandwidth_gbps": "-1"}, "bandwidth_gbps"),
        ({"bandwidth_gbps": "0"}, "bandwidth_gbps"),
        ({"bandwidth_gbps": "true"}, "bandwidth_gbps"),
        ({"bandwidth_gbps": '"fast"'}, "bandwidth_gbps"),
        ({"memory_gb": "0"}, "memory_gb"),
        ({"memory_gb": "-80"}, "memory_gb"),
        ({"memory_gb": "false"}, "memory_gb"),
        ({"peaks": "fp32 = 0"}, "peak_tflops.fp32"),
        ({"peaks": "fp32 = -5"}, "peak_tflops.fp32"),
        ({"peaks": "fp32 = true"}, "peak_tflops.fp32"),
        ({"peaks": "fp32 = 1\nbf16 = -1"}, "peak_tflops.bf16"),
    ],
)
def test_toml_bad_numbers(tmp_path: Path, fields: dict[str, str], key: str) -> None:
    with pytest.raises(SpecError, match=rf"device\.x\.{re.escape(key)}.*must be a positive"):
        load_devices(_write(tmp_path, _device_toml(**fields)))


@pytest.mark.parametrize("key", ["bandwidth_gbps", "memory_gb"])
def test_toml_missing_bandwidth_or_memory(tmp_path: Path, key: str) -> None:
    with pytest.raises(SpecError, match=rf"device\.x\.{key}.*is required"):
        load_devices(_write(tmp_path, _device_toml(**{key: "DROP"})))


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize("key", ["bandwidth_gbps", "memory_gb", "peak_tflops.fp32"])
def test_toml_non_finite_numbers(tmp_path: Path, key: str, value: str) -> None:
    fields = {"peaks": f"fp32 = {value}"} if key.startswith("peak") else {key: value}
    with pytest.raises(SpecError, match=rf"device\.x\.{re.escape(key)}"):
        load_devices(_write(tmp_path, _device_toml(**fields)))


def test_toml_interconnects(tmp_path: Path) -> None:
    p = _write(tmp_path, """
[interconnect.roce]
description = "RoCE 200G"
bandwidth_gbps = 25
latency_us = 8
source = "our cluster"

[interconnect.plain]
bandwidth_gbps = 12.5
""")
    devices, links = load_hardware(p)
    assert devices == {}  # interconnects alone are a valid file
    assert links["roce"] == Interconnect("roce", "RoCE 200G", 25e9, 8e-6, "our cluster")
    plain = links["plain"]
    assert plain.bandwidth == 12.5e9  # 12.5 GB/s
    assert plain.latency == pytest.approx(5e-6)  # default 5 µs
    assert plain.description == "plain" and plain.source == str(p)
    assert get_interconnect("roce", links) is links["roce"]
    assert get_interconnect("nvlink4", links) is INTERCONNECTS["nvlink4"]


def test_toml_devices_and_interconnects_together(tmp_path: Path) -> None:
    text = device_to_toml(PRESETS["l4"]) + "\n[interconnect.eth]\nbandwidth_gbps = 1.25\n"
    devices, links = load_hardware(_write(tmp_path, text))
    assert devices == {"l4": PRESETS["l4"]}
    assert links["eth"].bandwidth == 1.25e9


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("interconnect = 5\n", r"interconnect.*must be a table of tables"),
        ("[interconnect]\nfoo = 5\n", r"interconnect\.foo.*must be a table"),
        ("[interconnect.foo]\nlatency_us = 1\n", r"interconnect\.foo\.bandwidth_gbps.*positive"),
        ("[interconnect.foo]\nbandwidth_gbps = 0\n", r"foo\.bandwidth_gbps.*positive"),
        ("[interconnect.foo]\nbandwidth_gbps = -3\n", r"foo\.bandwidth_gbps.*positive"),
        ("[interconnect.foo]\nbandwidth_gbps = true\n", r"foo\.bandwidth_gbps.*positive"),
        ("[interconnect.foo]\nbandwidth_gbps = 1\nlatency_us = -1\n", r"foo\.latency_us"),
        ("[interconnect.foo]\nbandwidth_gbps = 1\nlatency_us = \"x\"\n", r"foo\.latency_us"),
    ],
)
def test_toml_interconnect_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        load_hardware(_write(tmp_path, text))


@pytest.mark.parametrize("text", ["bandwidth_gbps = nan", "bandwidth_gbps = inf",
                                  "bandwidth_gbps = 1\nlatency_us = nan"])
def test_toml_interconnect_non_finite(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError, match=r"interconnect\.foo\."):
        load_hardware(_write(tmp_path, f"[interconnect.foo]\n{text}\n"))


def test_get_interconnect_unknown() -> None:
    with pytest.raises(SpecError, match=r"^interconnect: .*'nope'.*nvlink4"):
        get_interconnect("nope")


def test_interconnect_presets() -> None:
    assert INTERCONNECTS["nvlink4"].bandwidth == 450e9  # 900 GB/s bidirectional / 2
    assert INTERCONNECTS["nvlink3"].bandwidth == 300e9  # 600 GB/s bidirectional / 2
    assert INTERCONNECTS["ib-ndr"].bandwidth == 50e9  # 400 Gb/s / 8
    assert INTERCONNECTS["ib-hdr"].bandwidth == 25e9  # 200 Gb/s / 8
    for link in INTERCONNECTS.values():
        assert link.bandwidth > 0 and link.latency >= 0 and link.source


@pytest.mark.parametrize(
    "spec",
    [
        DeviceSpec("my gpu", "space in the name", {"fp32": 1e12}, 1e9, 10**9),
        DeviceSpec("gpu", 'a "quoted" description', {"fp32": 1e12}, 1e9, 10**9),
        DeviceSpec("gpu", "backslash C:\\new", {"fp32": 1e12}, 1e9, 10**9),
    ],
    ids=["space-in-name", "quote-in-description", "backslash"],
)
def test_toml_round_trip_needs_quoting(tmp_path: Path, spec: DeviceSpec) -> None:
    assert load_devices(_write(tmp_path, device_to_toml(spec))) == {spec.name: spec}


# ------------------------------------------------------------------------------- roofline

TOY = DeviceSpec("toy", "toy", {"fp32": 1e14}, 1e12, 10**10)


def test_roofline_compute_bound() -> None:
    r = roofline(10**12, 10**9, TOY, "float32")
    assert r.time == pytest.approx(0.01)  # max(1e12/1e14 = 0.01, 1e9/1e12 = 0.001)
    assert r.bound == "compute"
    assert r.intensity == pytest.approx(1000)  # 1e12 / 1e9
    assert r.ridge == pytest.approx(100)  # 1e14 / 1e12
    assert r.attainable == 1e14  # min(1e14, 1000 × 1e12 = 1e15)


def test_roofline_memory_bound() -> None:
    r = roofline(10**10, 10**9, TOY, "float32")
    assert r.time == pytest.approx(0.001)  # max(1e10/1e14 = 1e-4, 1e9/1e12 = 1e-3)
    assert r.bound == "memory"
    assert r.intensity == pytest.approx(10)  # 1e10 / 1e9
    assert r.attainable == pytest.approx(1e13)  # min(1e14, 10 × 1e12)


def test_roofline_at_the_ridge_and_edges() -> None:
    r = Roofline(100 * 10**6, 10**6, 1e14, 1e12)  # intensity = ridge = 100
    assert r.time == pytest.approx(1e-6)  # 1e8/1e14 = 1e-6 = 1e6/1e12
    assert r.attainable == pytest.approx(1e14)
    no_bytes = Roofline(10**6, 0, 1e14, 1e12)
    assert no_bytes.intensity == math.inf
    assert no_bytes.bound == "compute"
    assert no_bytes.attainable == 1e14
    assert no_bytes.time == pytest.approx(1e-8)  # 1e6 / 1e14
    no_flops = Roofline(0, 10**6, 1e14, 1e12)
    assert no_flops.intensity == 0 and no_flops.bound == "memory"
    assert no_flops.time == pytest.approx(1e-6)  # 1e6 / 1e12
    assert Roofline(0, 0, 1e14, 1e12).time == 0


def test_roofline_dtype_and_tf32() -> None:
    h = PRESETS["h100-sxm"]
    # 989.5e12 FLOPs in bf16 on H100 SXM: 1 s compute; 1 byte is nothing
    assert roofline(989_500_000_000_000, 1, h, "bfloat16").time == pytest.approx(1.0)
    # the same FLOPs in fp32: 989.5 / 67 s; with TF32: 989.5 / 494.5 s
    assert roofline(989_500_000_000_000, 1, h, "float32").time == pytest.approx(989.5 / 67)
    assert roofline(989_500_000_000_000, 1, h, "float32", tf32=True).time == pytest.approx(
        989.5 / 494.5)


def test_mfu_definition() -> None:
    # 3e12 model FLOPs in 0.1 s on a 1e14 FLOP/s device: 3e12 / (0.1 × 1e14) = 0.3
    assert mfu(3 * 10**12, 0.1, TOY, "float32") == pytest.approx(0.3)
    # over two devices: 3e12 / (0.1 × 1e14 × 2) = 0.15
    assert mfu(3 * 10**12, 0.1, TOY, "float32", devices=2) == pytest.approx(0.15)
    # bf16 on H100 SXM: 989.5e12 FLOPs in 2 s → 0.5
    assert mfu(989_500_000_000_000, 2.0, PRESETS["h100-sxm"], "bfloat16") == pytest.approx(0.5)


def test_assumptions_are_stated() -> None:
    for words in ("dense", "peak", "bandwidth", "no overlap"):
        assert words in ASSUMPTIONS


# ------------------------------------------------------------------------------- ZeRO

# Rajbhandari et al. 2020 (ZeRO), Figure 1: Ψ = 7.5B parameters, N_d = 64, K = 12,
# mixed-precision Adam: fp16 parameters 2Ψ, fp16 gradients 2Ψ, optimizer states KΨ.
PSI = 7_500_000_000
P2 = 2 * PSI  # 15e9 bytes
G2 = 2 * PSI  # 15e9 bytes
OK = 12 * PSI  # 90e9 bytes
ND = 64


def test_zero_paper_table() -> None:
    per_device = {s: shard(s, ND, P2, G2, OK).model_states for s in ("ddp", "zero1", "zero2",
                                                                      "zero3")}
    # the paper's figure, GB per device (1 GB = 1e9 bytes), at its rounding
    assert round(per_device["ddp"] / 1e9, 1) == 120.0
    assert round(per_device["zero1"] / 1e9, 1) == 31.4
    assert round(per_device["zero2"] / 1e9, 1) == 16.6
    assert round(per_device["zero3"] / 1e9, 1) == 1.9


def test_zero_formulas_exact() -> None:
    # baseline: (2 + 2 + K)Ψ = 16 × 7.5e9
    assert shard("ddp", ND, P2, G2, OK).model_states == pytest.approx(120_000_000_000)
    # P_os: 2Ψ + 2Ψ + KΨ/N_d = 15e9 + 15e9 + 90e9/64 = 30e9 + 1.40625e9
    s1 = shard("zero1", ND, P2, G2, OK)
    assert (s1.params, s1.grads) == (15e9, 15e9)
    assert s1.optimizer == pytest.approx(1_406_250_000)
    assert s1.model_states == pytest.approx(31_406_250_000)
    # P_os+g: 2Ψ + (2 + K)Ψ/N_d = 15e9 + 105e9/64 = 15e9 + 1.640625e9
    s2 = shard("zero2", ND, P2, G2, OK)
    assert s2.params == 15e9
    assert s2.grads == pytest.approx(234_375_000)  # 15e9 / 64
    assert s2.model_states == pytest.approx(16_640_625_000)
    # P_os+g+p: (2 + 2 + K)Ψ/N_d = 120e9 / 64
    s3 = shard("zero3", ND, P2, G2, OK)
    assert s3.params == pytest.approx(234_375_000)  # 15e9 / 64
    assert s3.model_states == pytest.approx(1_875_000_000)


def test_fsdp_equals_zero3() -> None:
    a = shard("fsdp", 8, 1000, 1000, 6000, activations=77)
    b = shard("zero3", 8, 1000, 1000, 6000, activations=77)
    assert (a.params, a.grads, a.optimizer, a.activations, a.comm_bytes) == (
        b.params, b.grads, b.optimizer, b.activations, b.comm_bytes)
    assert a.params == 125 and a.optimizer == 750  # 1000/8, 6000/8
    assert a.total == pytest.approx(125 + 125 + 750 + 77)


def test_activations_are_not_sharded() -> None:
    for s in ("ddp", "zero1", "zero2", "zero3", "fsdp"):
        st = shard(s, 4, 400, 400, 1600, activations=1000)
        assert st.activations == 1000
        assert st.total == pytest.approx(st.params + st.grads + st.optimizer + 1000)
    # one device: nothing changes
    one = shard("zero3", 1, 400, 400, 1600)
    assert (one.params, one.grads, one.optimizer, one.comm_bytes) == (400, 400, 1600, 0)


def test_zero_communication_volume() -> None:
    # DDP ring all-reduce of the gradients: 2(N−1)/N · G = 2 × 63/64 × 15e9
    ddp = shard("ddp", ND, P2, G2, OK).comm_bytes
    assert ddp == pytest.approx(29_531_250_000)
    # ZeRO-1/2: reduce-scatter G + all-gather P = 63/64 × 30e9, the same as DDP when P == G
    assert shard("zero1", ND, P2, G2, OK).comm_bytes == pytest.approx(29_531_250_000)
    assert shard("zero2", ND, P2, G2, OK).comm_bytes == pytest.approx(29_531_250_000)
    # ZeRO-3: all-gather P twice + reduce-scatter G = 63/64 × 45e9 = 1.5 × DDP
    z3 = shard("zero3", ND, P2, G2, OK).comm_bytes
    assert z3 == pytest.approx(44_296_875_000)
    assert z3 == pytest.approx(1.5 * ddp)
    assert shard("fsdp", ND, P2, G2, OK).comm_bytes == pytest.approx(44_296_875_000)
    # P ≠ G (e.g. fp32 params, half the model frozen): ZeRO-2 sends (N−1)/N·(G + P)
    assert shard("zero2", 4, 800, 400, 0).comm_bytes == pytest.approx(900)  # 3/4 × 1200
    assert shard("ddp", 4, 800, 400, 0).comm_bytes == pytest.approx(600)  # 2 × 3/4 × 400


LINK = Interconnect("test", "test link", 100e9, 1e-6, "made up")


def test_comm_time() -> None:
    # DDP, 4 devices, 1e9 B of gradients: 1.5e9 B / 100e9 B/s + 2 phases × 3 steps × 1 µs
    assert shard("ddp", 4, 1e9, 1e9, 0).comm_time(LINK) == pytest.approx(0.015 + 6e-6)
    # ZeRO-1: 3/4 × 2e9 = 1.5e9 B, 2 phases
    assert shard("zero1", 4, 1e9, 1e9, 0).comm_time(LINK) == pytest.approx(0.015 + 6e-6)
    # ZeRO-3: 3/4 × 3e9 = 2.25e9 B / 100e9 + 3 phases × 3 steps × 1 µs
    assert shard("zero3", 4, 1e9, 1e9, 0).comm_time(LINK) == pytest.approx(0.0225 + 9e-6)
    for s in ("ddp", "zero1", "zero2", "zero3", "fsdp"):
        assert shard(s, 1, 1e9, 1e9, 1e9).comm_time(LINK) == 0.0
    # NVLink 4, 8 devices, DDP of 1e9 B: 1.75e9 / 450e9 + 2 × 7 × 3 µs
    nv = INTERCONNECTS["nvlink4"]
    assert shard("ddp", 8, 1e9, 1e9, 0).comm_time(nv) == pytest.approx(1.75e9 / 450e9 + 42e-6)


@pytest.mark.parametrize("devices", [0, -2, 2.0, True, "4"])
def test_shard_bad_devices(devices: object) -> None:
    with pytest.raises(SpecError, match=r"^devices: "):
        shard("ddp", devices, 1, 1, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["zero4", "DDP", "", "deepspeed"])
def test_bad_strategy(strategy: str) -> None:
    with pytest.raises(SpecError, match=r"^strategy: .*allowed: ddp, zero1, zero2, zero3, fsdp"):
        shard(strategy, 2, 1, 1, 1)
    with pytest.raises(SpecError, match=r"^strategy: "):
        sharded_peak(Timeline(((1, 0, 0, 0, 0, 0, 0),)), strategy, 2)


# ------------------------------------------------------------------------------- sharded_peak


def _row(**bytes_by_category: int) -> tuple[int, ...]:
    assert set(bytes_by_category) <= set(CATEGORIES)
    return tuple(bytes_by_category.get(c, 0) for c in CATEGORIES)


def test_categories_order() -> None:
    assert CATEGORIES == ("parameters", "buffers", "inputs", "gradients", "optimizer_state",
                          "activations", "temporaries")


BASE = {"parameters": 100, "buffers": 10, "inputs": 20}
FIRST = Timeline((
    _row(**BASE),  # 130
    _row(**BASE, activations=450, temporaries=30),  # 610: the forward's end
    _row(**BASE, gradients=100, optimizer_state=400, temporaries=50),  # 680: optimizer step
    _row(**BASE, gradients=100, optimizer_state=400),  # 630
))


def test_sharded_peak_ddp_is_the_plain_peak() -> None:
    peak, at = sharded_peak(FIRST, "ddp", 4)
    assert peak == 680 == FIRST.peak  # 100+10+20+100+400+50
    assert at == {"parameters": 100, "buffers": 10, "inputs": 20, "gradients": 100,
                  "optimizer_state": 400, "activations": 0, "temporaries": 50}


def test_sharded_peak_moves_to_another_sample() -> None:
    # zero1 over 4: sample 2 becomes 100+10+20+100+400/4+50 = 380 < sample 1's 610
    peak, at = sharded_peak(FIRST, "zero1", 4)
    assert peak == 610
    assert at["activations"] == 450 and at["optimizer_state"] == 0 and at["temporaries"] == 30
    # zero2 over 4: sample 2 = 130 + 100/4 + 400/4 + 50 = 305; sample 1 still 610
    assert sharded_peak(FIRST, "zero2", 4)[0] == 610
    # zero3 over 4: sample 1 = 100/4 + 10 + 20 + 450 + 30 = 535; sample 2 = 25+30+25+100+50 = 230
    peak, at = sharded_peak(FIRST, "zero3", 4)
    assert peak == pytest.approx(535)
    assert at == {"parameters": 25, "buffers": 10, "inputs": 20, "gradients": 0,
                  "optimizer_state": 0, "activations": 450, "temporaries": 30}
    assert sharded_peak(FIRST, "fsdp", 4) == sharded_peak(FIRST, "zero3", 4)


def test_sharded_peak_stays_when_states_dominate() -> None:
    # zero1 over 2: sample 2 = 130 + 100 + 400/2 + 50 = 480 < 610; over 1 device: the plain peak
    assert sharded_peak(FIRST, "zero1", 2)[0] == 610
    assert sharded_peak(FIRST, "zero3", 1)[0] == 680
    big_state = Timeline((
        _row(parameters=1000, activations=100),  # ddp 1100; zero1/2 1100; zero3 350
        _row(parameters=1000, gradients=1000, optimizer_state=4000),  # ddp 6000
    ))
    assert sharded_peak(big_state, "ddp", 4)[0] == 6000
    assert sharded_peak(big_state, "zero1", 4)[0] == 3000  # 1000 + 1000 + 4000/4
    assert sharded_peak(big_state, "zero2", 4)[0] == 2250  # 1000 + 250 + 1000
    # zero3 over 4: sample 0 = 250 + 100 = 350; sample 1 = 250 + 250 + 1000 = 1500
    assert sharded_peak(big_state, "zero3", 4)[0] == 1500
    # zero3 over 100: sample 0 = 10 + 100 = 110; sample 1 = 10 + 10 + 40 = 60: peak moves
    peak, at = sharded_peak(big_state, "zero3", 100)
    assert peak == pytest.approx(110) and at["activations"] == 100


def test_sharded_peak_empty_timeline() -> None:
    assert sharded_peak(Timeline(()), "zero3", 4) == (0.0, dict.fromkeys(CATEGORIES, 0.0))


def test_sharded_peak_bad_devices() -> None:
    with pytest.raises(SpecError, match=r"^devices: "):
        sharded_peak(FIRST, "zero1", 0)


def test_distributed_step() -> None:
    steady = Timeline((
        _row(**BASE, optimizer_state=400),  # 530
        _row(**BASE, optimizer_state=400, activations=450, temporaries=30),  # 1010
    ))
    d = distributed_step([FIRST, steady], "zero1", 4, 100, 100, 400, LINK)
    # zero1/4: FIRST peaks at 610; steady sample 1 = 130 + 400/4 + 450 + 30 = 710
    assert d.peak_bytes == pytest.approx(710)
    assert d.at_peak["optimizer_state"] == 100
    assert (d.states.params, d.states.grads, d.states.optimizer) == (100, 100, 100)
    # comm: 3/4 × (100 + 100) = 150 B over 100e9 B/s + 2 × 3 × 1 µs
    assert d.states.comm_bytes == pytest.approx(150)
    assert d.comm_time == pytest.approx(150 / 100e9 + 6e-6)
    j = d.to_dict()
    assert j["strategy"] == "zero1" and j["devices"] == 4 and j["interconnect"] == "test"
    assert j["peak_bytes_per_device"] == pytest.approx(710)
    assert j["model_states_bytes_per_device"] == pytest.approx(300)


# ------------------------------------------------------------------------------- traffic


def tm(shape: tuple[int, ...], dtype: str = "float32") -> TensorMeta:
    return TensorMeta(shape, dtype)


@pytest.fixture(scope="module", autouse=True)
def _formulas() -> None:
    load_formulas()  # the zero-cost table (views) is filled by the formula catalog


def test_traffic_mm() -> None:
    call = OpCall("mm.default", (tm((2, 3)), tm((3, 4))), outputs=(tm((2, 4)),))
    assert traffic(call) == (72, 32)  # read (6 + 12) × 4, written 8 × 4


def test_traffic_dtypes() -> None:
    # half precision: (6 + 12) × 2 read, 8 × 2 written
    assert traffic(OpCall("mm.default", (tm((2, 3), "bfloat16"), tm((3, 4), "bfloat16")),
                          outputs=(tm((2, 4), "bfloat16"),))) == (36, 16)
    # comparison of int64 tensors gives bool: read 2 × 5 × 8, written 5 × 1
    assert traffic(OpCall("eq.Tensor", (tm((5,), "int64"), tm((5,), "int64")),
                          outputs=(tm((5,), "bool"),))) == (80, 5)
    # float64 + int32 + int8 + float8
    assert traffic(OpCall("add.Tensor", (tm((3,), "float64"), tm((3,), "int32")),
                          outputs=(tm((3,), "float64"),))) == (36, 24)  # 24 + 12, 24
    assert traffic(OpCall("mul.Tensor", (tm((7,), "int8"), tm((7,), "float8_e4m3fn")),
                          outputs=(tm((7,), "float8_e4m3fn"),))) == (14, 7)


def test_traffic_views_move_nothing() -> None:
    for name in ("view.default", "t.default", "reshape.default"):
        call = OpCall(name, (tm((2, 3)), [6]), outputs=(tm((6,)),))
        assert traffic(call) == (0, 0), name


def test_traffic_embedding_reads_gathered_rows() -> None:
    # table 1000 × 64 fp32 (256,000 B) is not read whole: indices 2×5 int64 = 80 B,
    # gathered rows 10 × 64 × 4 = 2,560 B; written 2,560 B
    call = OpCall("embedding.default", (tm((1000, 64)), tm((2, 5), "int64")),
                  outputs=(tm((2, 5, 64)),))
    assert traffic(call) == (80 + 2560, 2560)
    # index_select(self 100×8 fp32, 0, index 3 int64): 3×8×4 = 96 + 3×8 = 24
    sel = OpCall("index_select.default", (tm((100, 8)), 0, tm((3,), "int64")),
                 outputs=(tm((3, 8)),))
    assert traffic(sel) == (120, 96)


def test_traffic_lists_kwargs_inplace_and_missing_outputs() -> None:
    # cat([2×3, 4×3]) fp32: read 24 + 48, written 72
    cat = OpCall("cat.default", ((tm((2, 3)), tm((4, 3))), 0), outputs=(tm((6, 3)),))
    assert traffic(cat) == (72, 72)
    # in-place add_: reads target and other (40 B each), writes the target
    add_ = OpCall("add_.Tensor", (tm((10,)), tm((10,))), outputs=(tm((10,)),))
    assert traffic(add_) == (80, 40)
    # tensor kwargs are read too; a None output writes nothing
    kw = OpCall("addcmul_.default", (tm((4,)), tm((4,))), kwargs=(("tensor2", tm((4,))),),
                outputs=(tm((4,)), None))
    assert traffic(kw) == (48, 16)


# ------------------------------------------------------------------------------- step time


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
    )


# peak 1e9 FLOP/s fp32, 4e9 bf16, 8e9 tf32; 1e9 B/s: ridge 1 FLOP/B for fp32, so the
# convolutions are compute-bound and ReLU (1 FLOP per 8 bytes) memory-bound
DEV = DeviceSpec("toy", "toy", {"fp32": 1e9, "bf16": 4e9, "tf32": 8e9}, 1e9, 10**9)
PEAK = {"float32": 1e9, "bfloat16": 4e9}


@pytest.fixture(scope="module")
def fp32_result() -> ModelResult:
    return analyze(small_cnn(), (2, 3, 8, 8), optimizer="sgd")


@pytest.fixture(scope="module")
def bf16_result() -> ModelResult:
    return analyze(small_cnn(), (2, 3, 8, 8), optimizer="sgd", amp="bf16")


def test_op_traffic_in_model(fp32_result: ModelResult) -> None:
    conv1 = next(o for o in fp32_result.ops if o.phase == "forward" and o.module == "0")
    assert conv1.name.startswith("convolution")
    # reads input 2·3·8·8·4 = 1536 + weight 8·3·3·3·4 = 864 + bias 8·4 = 32; writes 2·8·8·8·4
    assert (conv1.read, conv1.written) == (1536 + 864 + 32, 4096)
    assert conv1.dtype == "float32"


def _check_step(result: ModelResult, tf32: bool = False) -> None:
    st = step_time(result, DEV, tf32)
    assert [o for o, _ in st.ops] == list(result.ops)
    by_phase: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
    for o, r in st.ops:
        peak = 8e9 if (tf32 and o.dtype == "float32") else PEAK[o.dtype]
        expected = max(o.cost.flops / peak, (o.read + o.written) / 1e9)
        assert r.time == pytest.approx(expected, rel=1e-12, abs=0), o
        assert r.peak == peak and r.bandwidth == 1e9
        by_phase[o.phase].append(expected)
    assert st.forward_s == pytest.approx(math.fsum(by_phase["forward"]), rel=1e-12)
    assert st.backward_s == pytest.approx(math.fsum(by_phase["backward"]), rel=1e-12)
    assert st.optimizer_s == pytest.approx(math.fsum(by_phase["optimizer"]), rel=1e-12)
    assert st.optimizer_s > 0  # SGD's parameter updates
    assert st.step_s == pytest.approx(st.forward_s + st.backward_s + st.optimizer_s)
    assert st.samples_per_s == pytest.approx(2 / st.step_s)  # batch 2
    # the root layer covers every forward/backward op; leaves add up to it
    root = next(lt for lt in st.layers if lt.name == "")
    assert root.forward_s == pytest.approx(st.forward_s, rel=1e-12)
    assert root.backward_s == pytest.approx(st.backward_s, rel=1e-12)
    leaves = {row.name for row in result.layers if row.leaf}
    assert math.fsum(lt.forward_s for lt in st.layers if lt.name in leaves) == pytest.approx(
        st.forward_s, rel=1e-12)
    assert math.fsum(lt.backward_s for lt in st.layers if lt.name in leaves) == pytest.approx(
        st.backward_s, rel=1e-12)
    # model FLOPs: forward + backward op FLOPs (optimizer excluded)
    fwd = sum(o.cost.flops for o in result.ops if o.phase == "forward")
    bwd = sum(o.cost.flops for o in result.ops if o.phase == "backward")
    assert (st.forward_flops, st.model_flops) == (fwd, fwd + bwd)
    assert fwd == result.totals.forward.flops and bwd == result.totals.backward.total.flops


def test_step_time_fp32(fp32_result: ModelResult) -> None:
    _check_step(fp32_result)
    st = step_time(fp32_result, DEV)
    assert st.dtype == "float32" and st.peak == 1e9 and st.batch == 2
    bounds = {r.bound for o, r in st.ops if o.cost.flops}
    assert bounds == {"compute", "memory"}
    # conv1 forward: 2·(2·8·8·8)·27 = 55,296 FLOPs / 1e9 > 6,528 B / 1e9
    conv1 = next(lt for lt in st.layers if lt.name == "0")
    assert conv1.forward_flops == 55_296 and conv1.forward_bytes == 2432 + 4096
    assert conv1.forward_s == pytest.approx(55_296e-9)
    assert conv1.bound(DEV, "float32") == "compute"
    relu = next(lt for lt in st.layers if lt.name == "1")
    # forward reads 4096 B, writes 4096 B, 1,024 FLOPs: memory-bound, 8,192e-9 s
    assert relu.forward_s == pytest.approx(8192e-9)
    assert relu.bound(DEV, "float32") == "memory"
    # MFU = model FLOPs / (step × peak), recomputed
    mf = st.model_flops
    assert st.mfu == pytest.approx(mf / (st.step_s * 1e9))
    assert st.mfu_recompute == pytest.approx(mf / ((st.step_s + st.forward_s) * 1e9))
    assert st.hfu_recompute == pytest.approx((mf + st.forward_flops)
                                             / ((st.step_s + st.forward_s) * 1e9))
    assert 0 < st.mfu_recompute < st.mfu <= 1
    d = st.to_dict()
    assert d["step_s"] == pytest.approx(d["forward_s"] + d["backward_s"] + d["optimizer_s"])
    assert d["assumptions"] == ASSUMPTIONS and d["peak_flops"] == 1e9
    assert set(d["layers"]) == {row.name for row in fp32_result.layers}


def test_step_time_tf32(fp32_result: ModelResult) -> None:
    _check_step(fp32_result, tf32=True)


def test_step_time_amp_bf16(bf16_result: ModelResult) -> None:
    _check_step(bf16_result)
    st = step_time(bf16_result, DEV)
    assert st.dtype == "bfloat16" and st.peak == 4e9
    convs = [(o, r) for o, r in st.ops if o.name.startswith("convolution")]
    assert convs and all(o.dtype == "bfloat16" and r.peak == 4e9 for o, r in convs)
    # SGD updates the fp32 master parameters at the fp32 rate
    opt = [(o, r) for o, r in st.ops if o.phase == "optimizer" and o.cost.flops]
    assert opt and all(o.dtype == "float32" and r.peak == 1e9 for o, r in opt)
    assert st.mfu == pytest.approx(st.model_flops / (st.step_s * 4e9))


def test_step_time_inference() -> None:
    r = analyze(small_cnn(), (2, 3, 8, 8), mode="inference")
    st = step_time(r, DEV)
    assert st.backward_s == 0 and st.optimizer_s == 0 and st.step_s == st.forward_s > 0
    assert st.forward_s == pytest.approx(math.fsum(x.time for _, x in st.ops))


def test_mfu_with_tf32_never_exceeds_one(fp32_result: ModelResult) -> None:
    fast_memory = DeviceSpec("cb", "compute-bound", {"fp32": 1e9, "tf32": 8e9}, 1e18, 10**9)
    st = step_time(fp32_result, fast_memory, tf32=True)
    assert st.mfu <= 1.0


# ------------------------------------------------------------------------------- fit


def fit_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def _peak(model: nn.Module, b: int, **options: object) -> int:
    return train_peak(model, [(b, 3, 16, 16)], **options)


def test_fit_batch_between_two_batches() -> None:
    m = fit_cnn()
    p10, p11 = _peak(m, 10, optimizer="adam"), _peak(m, 11, optimizer="adam")
    assert p10 < p11
    capacity = (p10 + p11) // 2
    f = fit_batch(m, ["1x3x16x16"], capacity, optimizer="adam")
    # checked independently: batch fits, batch + 1 does not
    assert _peak(m, f.batch, optimizer="adam") <= capacity
    assert _peak(m, f.batch + 1, optimizer="adam") > capacity
    assert f.batch == 10  # the peak grows with the batch, so the boundary is unique
    assert (f.peak_bytes, f.next_peak_bytes, f.capacity) == (p10, p11, capacity)
    assert (10, p10) in f.probes and (11, p11) in f.probes
    # capacity exactly the peak of batch 10 still fits it (≤)
    assert fit_batch(m, ["1x3x16x16"], p10, optimizer="adam").batch == 10
    d = f.to_dict()
    assert d["batch"] == 10 and d["capacity_bytes"] == capacity


def test_fit_batch_not_even_one() -> None:
    m = fit_cnn()
    p1 = _peak(m, 1)
    f = fit_batch(m, [(4, 3, 16, 16)], p1 - 1)
    assert (f.batch, f.peak_bytes, f.next_peak_bytes) == (0, 0, p1)
    assert fit_batch(m, [(4, 3, 16, 16)], p1).batch >= 1
    with pytest.raises(SpecError, match="capacity"):
        fit_batch(m, [(4, 3, 16, 16)], 0)


def test_fit_batch_custom_measure() -> None:
    # measure = the largest input bytes live at any sample: batch × 3·16·16·4 = 3,072 × batch
    col = CATEGORIES.index("inputs")
    calls: list[RunMemory] = []

    def inputs_bytes(mem: RunMemory) -> float:
        calls.append(mem)
        return float(max(row[col] for row in mem.timeline.rows))

    capacity = 3072 * 37 + 100  # batch 37 fits (113,664 B), 38 (116,736 B) does not
    f = fit_batch(fit_cnn(), ["2x3x16x16"], capacity, measure=inputs_bytes)
    assert f.batch == 37
    assert (f.peak_bytes, f.next_peak_bytes) == (113_664, 116_736)
    assert calls and all(p == 3072 * b for b, p in f.probes)
