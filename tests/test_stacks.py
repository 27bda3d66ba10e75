"""Software stacks of the time estimate (hardware/stacks.json): their data file, ``--stack``
/ ``stack=``, module calls on the host, the devices file's and calibration's overrides, and
the time of ``generate()``'s loop (hand-derived from the stack's counts)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from torch import nn

import convcost.hardware
from cli_run import run
from convcost import analyze
from convcost.errors import SpecError
from convcost.hardware.devices import PRESETS, DeviceSpec, device_to_toml, load_devices
from convcost.hardware.estimate import estimate, modules_entered
from convcost.hardware.stacks import HOST_CLASSES, get_stack, parse_stack, stacks, with_stack

DATA = Path(convcost.hardware.__file__).parent / "stacks.json"
#: A toy GPU with round host constants of its own except the module call's.
TOY = DeviceSpec("toy", "toy GPU", {"fp32": 1e13}, 1e12, 10**10, sms=4, arch="ampere",
                 timing={"kernel_us": 2.0, "host_us.library": 20.0, "host_us.blas": 20.0,
                         "host_us.kernel": 10.0, "host_us.none": 1.0})


def test_every_stack_has_every_constant_with_a_source() -> None:
    raw = json.loads(DATA.read_text())
    assert raw["default"] in raw["stacks"] and len(raw["stacks"]) >= 2
    for name, st in stacks().items():
        assert set(st.host_us) == set(HOST_CLASSES)
        for k in HOST_CLASSES:
            assert len(st.sources[f"host_us.{k}"]) > 20, (name, k)
    # the 2021 stack is the constants the project fitted to PyTorch 1.9 before stacks existed
    old = get_stack("pytorch-1.9").host_us
    assert old == {"library": 75.0, "blas": 75.0, "kernel": 30.0, "none": 9.0, "module": 0.0}


@pytest.mark.parametrize("edit,field", [
    (lambda s: s["stacks"]["pytorch-2.4"]["host_us"].pop("module"), "host_us"),
    (lambda s: s["stacks"]["pytorch-2.4"]["host_us"].update(kernel=-1), "host_us.kernel"),
    (lambda s: s["stacks"]["pytorch-2.4"].update(colour="red"), "colour"),
    (lambda s: s["stacks"]["pytorch-2.4"]["sources"].pop("host_us.none"), "sources"),
    (lambda s: s["stacks"]["pytorch-2.4"].update(generate_sync_per_step="yes"),
     "generate_sync_per_step"),
])
def test_a_broken_stacks_file_names_the_field(edit: Any, field: str) -> None:
    data = json.loads(DATA.read_text())
    edit(data)
    with pytest.raises(SpecError, match=field):
        for name, t in data["stacks"].items():
            parse_stack(name, t)


def test_unknown_stack_is_refused() -> None:
    with pytest.raises(SpecError, match=r"allowed: pytorch-2\.4, pytorch-1\.9"):
        with_stack(PRESETS["a100-80gb"], "pytorch-0.4")


def test_modules_entered_counts_path_components_past_the_common_prefix() -> None:
    assert modules_entered("", "layer1.0.conv1") == 3
    assert modules_entered("layer1.0.bn1", "layer1.0.conv2") == 1
    assert modules_entered("layer1.0.relu", "layer1.1.conv1") == 2
    assert modules_entered("layer1.0.conv1", "layer1.0") == 0  # back in the parent's own op


def test_module_calls_cost_host_time_in_the_forward_only() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    r = analyze(model, (2, 8), mode="inference")
    dev = replace(TOY, timing={**TOY.timing, "host_us.module": 3.0})
    e = estimate(r, dev)
    # root + Linear, then ReLU: 3 module calls; ops: addmm (blas 20), relu (kernel 10), and
    # the views/transposes of nn.Linear (none 1 each)
    none = sum(1 for o in r.ops if o.read + o.written == 0 and not o.cost.flops)
    assert e.classes["module"]["ops"] == 3
    assert e.host_s == pytest.approx((3 * 3 + 20 + 10 + none * 1) * 1e-6)
    t = analyze(model, (2, 8), mode="train", optimizer="sgd")
    et = estimate(t, dev)
    assert et.classes["module"]["ops"] == 3  # the backward enters no module
    assert set(et.phases) >= {"forward", "backward", "optimizer"}
    assert sum(p["wall_s"] for p in et.phases.values()) == pytest.approx(et.step_s)


def test_stack_sets_the_host_constants_the_device_does_not() -> None:
    r = analyze(nn.ReLU(), (1, 8), mode="inference")
    old, new = get_stack("pytorch-1.9"), get_stack("pytorch-2.4")
    bare = replace(TOY, timing={"kernel_us": 2.0})
    # one ReLU op (kernel) and the model itself entered once
    for st in (old, new):
        e = estimate(r, bare, stack=st.name)
        assert e.host_s == pytest.approx((st.host_us["kernel"] + st.host_us["module"]) * 1e-6)
        assert e.constants.stack == st.name
        assert e.constants.origin["host_us.kernel"] == f"stack {st.name}"
    # the device's own value wins over the stack's
    e = estimate(r, TOY, stack="pytorch-1.9")
    assert e.constants.host_s["kernel"] == pytest.approx(10e-6)
    assert e.constants.origin["host_us.kernel"] == "device"
    assert e.constants.host_s["module"] == 0.0  # pytorch-1.9's


def test_devices_file_stack_round_trips_and_is_checked(tmp_path: Path) -> None:
    f = tmp_path / "d.toml"
    f.write_text(device_to_toml(replace(TOY, stack="pytorch-1.9")))
    assert load_devices(f)["toy"].stack == "pytorch-1.9"
    f.write_text(device_to_toml(TOY).replace('arch = "ampere"',
                                             'arch = "ampere"\nstack = "tensorflow"'))
    with pytest.raises(SpecError, match=r"device\.toy\.stack"):
        load_devices(f)


def test_cli_stack_flag(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["model", "torchvision:resnet18", "--input", "1x3x64x64", "--mode", "inference",
            "--device", "a100-80gb", "--json"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    new = json.loads(out)["hardware"]["estimate"]
    code, out, err = run([*base, "--stack", "pytorch-1.9"], capsys)
    assert code == 0, err
    old = json.loads(out)["hardware"]["estimate"]
    assert new["stack"] == "pytorch-2.4" and old["stack"] == "pytorch-1.9"
    assert old["host_s"] > new["host_s"]
    b = new["breakdown"]
    assert b["phases"]["forward"]["host_s"] == pytest.approx(new["host_s"])
    assert sum(c["host_s"] for c in b["op_classes"].values()) == pytest.approx(new["host_s"])
    code, out, err = run([*base, "--stack", "nope"], capsys)
    assert code == 2 and "--stack" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(["model", "torchvision:resnet18", "--input", "1x3x64x64",
                          "--stack", "pytorch-1.9"], capsys)
    assert code == 2 and "--stack" in err and "--device" in err
