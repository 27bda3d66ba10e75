"""A step's memory on a device: live tensors, the caching allocator's allocated and reserved
peaks, the usable capacity, ``--reserve``, and ``--fit``/``--plan`` on the reserved peak."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from cli_run import run
from convcost.errors import SpecError
from convcost.hardware.answer import answer, fit_on
from convcost.hardware.device_memory import device_memory
from convcost.hardware.devices import (
    PRESETS,
    REPORTED_TOTAL,
    DeviceSpec,
    default_reserve,
    load_devices,
)
from convcost.memory.allocator import CUBLAS_WORKSPACE, round_size, simulate
from convcost.model import analyze
from convcost.server.requests import model_params, run_analysis
from convcost.spec import parse_bytes

MiB = 2**20
#: A GPU with 24 MiB and no reserve: small enough that tiny models fill it.
TOY = DeviceSpec("toy-gpu", "toy GPU", {"fp32": 1e13}, 1e12, 24 * MiB, sms=4, arch="ampere",
                 reserve=0)


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def _events(batch: int, optimizer: str = "momentum") -> object:
    r = analyze(cnn(), [f"{batch}x3x32x32"], mode="train", optimizer=optimizer)
    return r


def test_replay_live_peak_equals_the_timeline() -> None:
    r = _events(4)
    m = r.memory
    p = simulate(m.train_events)
    # SGD with momentum: every optimizer state is a device tensor, so the replay's live
    # peak over the loop is the later steps' timeline peak
    assert p.live == max(m.peak_train_bytes, m.peak_train_steady_bytes)
    assert p.reserved >= p.allocated >= p.live
    lives = [lf for lf in m.train_events.lives if lf.nbytes]
    assert p.allocated >= max(m.peak_train_bytes, m.peak_train_steady_bytes)
    assert p.allocated <= sum(round_size(lf.nbytes) for lf in lives) + p.cublas_workspace


def test_hardware_memory_json_and_reserve_flag(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["model", "torchvision:resnet18", "--input", "2x3x64x64", "--optimizer", "adamw",
            "--device", "a100-80gb", "--json"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    m = json.loads(out)["hardware"]["memory"]
    dev = PRESETS["a100-80gb"]
    assert m["capacity_bytes"] == 80 * 2**30 == m["usable_bytes"] + m["reserve_bytes"]
    assert m["reserve_bytes"] == dev.reserve_bytes
    assert m["reserved_peak_bytes"] >= m["allocated_peak_bytes"] >= m["live_peak_bytes"] > 0
    assert m["fits"] and m["clearance_bytes"] == m["usable_bytes"] - m["reserved_peak_bytes"]
    a = m["allocator"]
    assert a["cublas_workspace_bytes"] == CUBLAS_WORKSPACE["ampere"] == 8_519_680
    assert a["reserved_peak_bytes"] == m["reserved_peak_bytes"] and a["steps"] == 3
    code, out, err = run([*args, "--reserve", "3GiB"], capsys)
    assert code == 0, err
    m3 = json.loads(out)["hardware"]["memory"]
    assert m3["reserve_bytes"] == 3 * 2**30 and m3["usable_bytes"] == 77 * 2**30
    assert m3["reserved_peak_bytes"] == m["reserved_peak_bytes"]
    # text: the three numbers side by side with the usable capacity
    code, out, _ = run([*args[:-1], "--reserve", "3GiB"], capsys)
    assert "memory    on a100-80gb: live tensors" in out and "allocated" in out
    assert "of usable 77.00 GiB (80.00 GiB - 3.00 GiB reserve): fits, clears by" in out


def test_cpu_device_has_no_allocator(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "torchvision:resnet18", "--input", "2x3x32x32",
                          "--optimizer", "sgd", "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    m = json.loads(out)["hardware"]["memory"]
    assert m["allocator"] is None and m["reserve_bytes"] == 0
    assert m["live_peak_bytes"] == m["allocated_peak_bytes"] == m["reserved_peak_bytes"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--reserve", "1GiB"], "--reserve: got '1GiB'; has no effect without --device"),
    (["--device", "t4", "--reserve", "16GiB"], "must be less than t4's memory"),
    (["--device", "t4", "--reserve=-1GiB"], "a size such as 1.5GiB"),
    (["--device", "t4", "--reserve", "2 parsecs"], "a size such as 1.5GiB"),
])
def test_reserve_errors(flags: list[str], message: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["model", "torchvision:resnet18", "--input", "1x3x32x32", *flags], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_parse_bytes() -> None:
    assert parse_bytes("r", "1.5GiB") == 3 * 2**29
    assert parse_bytes("r", "800 MiB") == 800 * MiB
    assert parse_bytes("r", "2GB") == 2 * 10**9 and parse_bytes("r", "2gb") == 2 * 10**9
    assert parse_bytes("r", "4096") == 4096 and parse_bytes("r", "0") == 0
    for bad in ("", "GiB", "1.2.3GiB", "1e3", "-5", "nan", "٣GiB"):
        with pytest.raises(SpecError, match=r"^r: "):
            parse_bytes("r", bad)


def test_device_file_memory_keys(tmp_path: Path) -> None:
    f = tmp_path / "d.toml"
    f.write_text('[device.g]\nbandwidth_gbps = 100\nmemory_gib = 16\nreserve_mib = 700\n'
                 'cudnn_workspace_mib = 4\narch = "ampere"\n[device.g.peak_tflops]\nfp32 = 10\n'
                 '[device.h]\nbandwidth_gbps = 100\nmemory_gb = 16\n[device.h.peak_tflops]\n'
                 'fp32 = 10\n')
    devs = load_devices(f)
    g, h = devs["g"], devs["h"]
    assert (g.memory, g.reserve_bytes, g.usable_bytes, g.cudnn_workspace) == (
        16 * 2**30, 700 * MiB, 16 * 2**30 - 700 * MiB, 4 * MiB)
    assert h.memory == 16 * 10**9 and h.reserve_bytes == default_reserve(16 * 10**9)
    for body, key in (('memory_gb = 16\nmemory_gib = 16\n', "memory_gb"),
                      ('memory_gib = 16\nreserve_mib = -1\n', "reserve_mib"),
                      ('memory_gib = 16\ncudnn_workspace_mib = "x"\n', "cudnn_workspace_mib")):
        f.write_text(f'[device.x]\nbandwidth_gbps = 1\n{body}[device.x.peak_tflops]\nfp32 = 1\n')
        with pytest.raises(SpecError, match=key):
            load_devices(f)


def test_presets_cite_their_reserve() -> None:
    for name, d in PRESETS.items():
        if d.arch == "cpu":
            assert d.reserve_bytes == 0
            continue
        # a cited reported total leaves a small reserve; the default rule is on the safe side
        limit = d.memory // 8 if name in REPORTED_TOTAL else d.memory // 4
        assert 0 < d.reserve_bytes < limit, name
        assert d.sources.get("reserve"), name
        assert d.usable_bytes == d.memory - d.reserve_bytes
    # the reported totals are below the physical memory and the reserve covers the gap
    h = PRESETS["h100-sxm"]
    assert h.memory - h.reserve_bytes == int(79.11 * 2**30) - 512 * MiB


def test_fit_on_a_gpu_uses_the_reserved_peak() -> None:
    found = fit_on(TOY, cnn(), ["1x3x32x32"], optimizer="momentum")
    assert found.basis == "reserved" and found.capacity == TOY.usable_bytes == 24 * MiB
    b = found.batch
    assert b >= 1

    def on_toy(batch: int) -> object:
        r = analyze(cnn(), [f"{batch}x3x32x32"], mode="train", optimizer="momentum")
        return device_memory(r.memory.train_events, TOY)

    at_b, at_next = on_toy(b), on_toy(b + 1)
    assert at_b.fits and not at_next.fits  # type: ignore[attr-defined]
    assert found.peak_bytes == at_b.reserved <= 24 * MiB  # type: ignore[attr-defined]
    assert found.clearance == 24 * MiB - found.peak_bytes
    # the live tensors alone would allow at least as large a batch
    live = fit_on(replace(TOY, arch="cpu"), cnn(), ["1x3x32x32"], optimizer="momentum")
    assert live.basis == "live" and live.batch >= b


def test_answer_and_server_show_device_memory() -> None:
    r = analyze(cnn(), ["2x3x32x32"], mode="train", optimizer="sgd")
    hw = answer(r, TOY)
    assert hw.memory is not None and hw.memory.fits and hw.memory.capacity == 24 * MiB
    assert hw.to_dict()["hardware"]["memory"]["usable_bytes"] == 24 * MiB
    p = model_params({"target": "torchvision:resnet18", "inputs": ["2x3x32x32"],
                      "device": "t4", "reserve": "2GiB"}, False)
    out = run_analysis(p)
    assert out.status == 200, out
    assert json.loads(out.json)["hardware"]["memory"]["reserve_bytes"] == 2 * 2**30
    with pytest.raises(SpecError, match=r"^reserve: .*without device"):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "reserve": "2GiB"}, False)
    with pytest.raises(SpecError, match=r"^reserve: .*less than t4"):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "device": "t4", "reserve": "20GiB"}, False)


def test_sharded_steps_have_no_allocator_replay() -> None:
    r = analyze(cnn(), ["2x3x32x32"], mode="train", optimizer="adamw")
    assert answer(r, TOY, devices=2, strategy="ddp").memory is not None
    hw = answer(r, TOY, devices=2, strategy="zero2")
    assert hw.memory is None and hw.distributed is not None
    assert "memory" not in hw.to_dict()["hardware"]
    found = fit_on(TOY, cnn(), ["1x3x32x32"], devices=2, strategy="zero3", optimizer="adamw")
    assert found.basis == "live" and found.capacity == TOY.usable_bytes


def test_html_and_markdown_show_the_three_peaks() -> None:
    from convcost.renderers import render

    r = analyze(cnn(), ["2x3x32x32"], mode="train", optimizer="sgd")
    hw = answer(r, TOY)
    assert hw.memory is not None
    page = render(r, "html", hardware=hw)
    table = page.split('id="device-memory"')[1].split("</table>")[0]
    for label in ("live tensors", "allocated (max_memory_allocated)",
                  "reserved (max_memory_reserved)", "usable", "toy-gpu memory"):
        assert label in table
    assert f"data-value='{hw.memory.reserved}'" in table
    md = render(r, "markdown", hardware=hw)
    assert "memory    on toy-gpu: live tensors" in md and "reserved" in md


def test_default_reserve_depends_on_the_memory_kind() -> None:
    # no reported total for these: HBM costs no ECC capacity, GDDR 1/16
    b200, a10 = PRESETS["b200"], PRESETS["a10"]
    assert b200.reserve_bytes == 768 * MiB + 512 * MiB == default_reserve(b200.memory, hbm=True)
    assert a10.reserve_bytes == a10.memory // 16 + 1280 * MiB == default_reserve(a10.memory)


def test_a_tight_fit_says_the_cache_was_emptied() -> None:
    from convcost.hardware.answer import Hardware
    from convcost.memory.allocator import StepEvents
    from convcost.memory.timeline import Life
    from convcost.renderers.cells import text
    from convcost.view.model import device_memory_lines

    # a 30 MiB temporary, freed, then 36 MiB: on 40 MiB the cached 30 MiB segment must go
    ev = StepEvents((Life(30 * MiB, "temporaries", 1, 2), Life(36 * MiB, "activations", 2, 3)),
                    samples=3)
    dev = replace(TOY, memory=40 * MiB)
    dm = device_memory(ev, dev, training=False)
    assert dm.fits and dm.peaks is not None and dm.peaks.cache_releases == 1
    assert dm.reserved == 36 * MiB and dm.clearance == 4 * MiB
    out = text(device_memory_lines(Hardware(memory=dm))[0])
    assert "fits (the allocator empties its cache 1 time to make room), clears by 4.00 MiB" in out
    roomy = text(device_memory_lines(Hardware(memory=device_memory(
        ev, replace(TOY, memory=80 * MiB), training=False)))[0])
    assert "fits, clears by" in roomy and "empties" not in roomy


def test_server_assumes_the_presets_interconnect() -> None:
    """Issue 27: without ``interconnect``, several T4s (PCIe cards, no NVLink) communicate
    over PCIe 3 on the server as on the CLI, not NVLink 4."""
    p = model_params({"target": "torchvision:resnet18", "inputs": ["2x3x32x32"],
                      "device": "t4", "devices": 2, "strategy": "ddp"}, False)
    d = json.loads(run_analysis(p).json)
    assert d["distributed"]["interconnect"] == "pcie3"
