"""The ``--fit --plan`` planner (:mod:`convcost.plan`): hand-checkable searches on a toy
device whose memory binds, the blocks it finds, and the CLI's JSON and errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from cli_run import run
from convcost.hardware.devices import DeviceSpec, device_to_toml
from convcost.model import analyze
from convcost.plan import Plan, candidate_batches, checkpoint_choices, plan, repeated_blocks

#: Host-bound toy GPU (10 µs per kernel launch): the step time hardly grows with the batch,
#: so the largest batch that fits is the fastest and memory is the binding constraint.
TOY = DeviceSpec("toy", "toy GPU", {"fp32": 1e13, "fp16": 1e14}, 1e12, 4 * 10**6, sms=4,
                 arch="cpu",  # live-tensor fit: no caching allocator (see test_fit_allocator.py)
                 timing={"bandwidth_efficiency": 0.5, "kernel_us": 2.0, "host_us.library": 20.0,
                         "host_us.kernel": 10.0, "host_us.none": 1.0})
SHAPE = "1x64x64"


class Block(nn.Module):
    """A pre-norm MLP block with a residual."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.fc2(torch.relu(self.fc1(self.norm(x))))
        return out


class Stack(nn.Module):
    """Four blocks in a ModuleList between two linears (and a Sequential of mixed types)."""

    def __init__(self, d: int = 64, n: int = 4) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(d, d), nn.ReLU())
        self.blocks = nn.ModuleList(Block(d) for _ in range(n))
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for b in self.blocks:
            x = b(x)
        out: torch.Tensor = self.head(x)
        return out


def stack() -> nn.Module:
    """CLI target (``test_plan:stack``)."""
    torch.manual_seed(0)
    return Stack()


@pytest.fixture(scope="module")
def toy_plan() -> Plan:
    return plan(stack(), [SHAPE], TOY, optimizer="sgd")


def _peak(batch: int, amp: str | None, pattern: str | None) -> int:
    r = analyze(stack(), [f"{batch}x64x64"], mode="train", optimizer="sgd", amp=amp,
                checkpoint=pattern)
    m = r.memory
    return max(m.peak_train_bytes or 0, m.peak_train_steady_bytes or 0)


def test_repeated_blocks() -> None:
    assert repeated_blocks(Stack()) == [f"blocks.{i}" for i in range(4)]
    two = nn.Sequential(nn.Sequential(Block(8), Block(8)), nn.Sequential(Block(8), Block(8),
                                                                          Block(8)))
    # the blocks of every same-type container (a ResNet's layer1…layer4), not the stages
    assert repeated_blocks(two) == ["0.0", "0.1", "1.0", "1.1", "1.2"]
    assert repeated_blocks(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) == []


def test_choices_and_batches() -> None:
    blocks = [f"b.{i}" for i in range(8)]
    got = [(c.label, c.blocks) for c in checkpoint_choices(blocks)]
    assert got == [("none", 0), ("every block (8 of 8)", 8), ("every 2nd block (4 of 8)", 4),
                   ("every 4th block (2 of 8)", 2)]
    assert checkpoint_choices(blocks)[3].pattern == r"^(?:b\.0|b\.4)$"
    assert [c.blocks for c in checkpoint_choices(["a", "b"])] == [0, 2, 1]  # 4th = 2nd
    assert [c.label for c in checkpoint_choices([])] == ["none"]
    assert candidate_batches(19) == [2, 4, 8, 16, 19]
    assert candidate_batches(100) == [8, 16, 32, 64, 100]
    assert candidate_batches(64) == [8, 16, 32, 64]
    assert candidate_batches(0) == []


def test_memory_binds_and_the_chosen_is_fastest(toy_plan: Plan) -> None:
    p, c = toy_plan, toy_plan.chosen
    assert p.searched == len(p.candidates) and c in p.candidates
    assert c.fits and c.peak_bytes <= TOY.memory
    best = max(x.samples_per_s for x in p.candidates if x.fits)
    assert c.samples_per_s == best
    assert [r.samples_per_s for r in p.runners_up] == sorted(
        (r.samples_per_s for r in p.runners_up), reverse=True)
    assert len(p.runners_up) == 5 and all(r.samples_per_s <= best for r in p.runners_up)
    # checked independently: the chosen peak, and one more sample no longer fits
    assert _peak(c.batch, c.amp, c.checkpoint.pattern) == c.peak_bytes
    assert _peak(c.batch + 1, c.amp, c.checkpoint.pattern) > TOY.memory
    assert c.samples_per_s == pytest.approx(c.batch / c.step_s)
    assert p.to_dict()["searched"] == p.searched


def test_batches_reach_the_exact_fit(toy_plan: Plan) -> None:
    from convcost.hardware.answer import fit_on

    pairs = {(x.checkpoint.pattern, x.amp) for x in toy_plan.candidates}
    assert len(pairs) == 8  # 4 checkpointing choices × (none, fp16: the toy has no bf16)
    for pattern, amp in pairs:
        top = max(x.batch for x in toy_plan.candidates
                  if (x.checkpoint.pattern, x.amp) == (pattern, amp))
        found = fit_on(TOY, stack(), [SHAPE], optimizer="sgd", amp=amp, checkpoint=pattern)
        assert top == found.batch


def test_checkpointing_buys_a_bigger_faster_batch(toy_plan: Plan) -> None:
    c = toy_plan.chosen
    assert c.checkpoint.pattern is not None
    plain = [x for x in toy_plan.candidates if x.checkpoint.pattern is None and x.fits]
    assert c.batch > max(x.batch for x in plain)
    assert c.samples_per_s > max(x.samples_per_s for x in plain)


def test_explicit_values_fix_dimensions_and_devices() -> None:
    p = plan(stack(), [SHAPE], TOY, devices=4, amp="fp16", checkpoint=r"blocks\.\d+$",
             optimizer="adamw")
    assert {x.amp for x in p.candidates} == {"fp16"}
    assert {x.checkpoint.label for x in p.candidates} == {"given"}
    assert [x.strategy for x in p.candidates[:4]] == ["ddp", "zero1", "zero2", "zero3"]
    c = p.chosen
    assert c.fits and c.comm_s > 0
    assert c.samples_per_s == pytest.approx(4 * c.batch / c.step_s)
    # the batches were fitted under zero3: some ddp candidates do not fit, and none is chosen
    assert any(not x.fits for x in p.candidates if x.strategy == "ddp")


def test_nothing_fits() -> None:
    from convcost.errors import SpecError

    with pytest.raises(SpecError, match="no searched configuration fits"):
        plan(stack(), [SHAPE], replace(TOY, memory=1000))


def _devices_file(tmp_path: Path) -> str:
    f = tmp_path / "toy.toml"
    f.write_text(device_to_toml(TOY))
    return str(f)


def test_cli_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["model", "test_plan:stack", "--input", SHAPE, "--optimizer", "sgd", "--device",
            "toy", "--devices-file", _devices_file(tmp_path), "--fit", "--plan",
            "--amp", "fp16"]
    code, out, err = run([*base, "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)["plan"]
    assert set(d) >= {"chosen", "runners_up", "searched"}
    assert d["chosen"]["amp"] == "fp16" and d["chosen"]["peak_bytes"] <= TOY.memory
    assert len(d["runners_up"]) == 5 and d["searched"] > 5
    code, out, err = run(base, capsys)
    assert code == 0, err
    assert "plan for toy" in out and "runners-up:" in out and "margin" in out


@pytest.mark.parametrize("extra", [
    ["--device", "toy"],  # no --fit
    ["--fit"],  # no --device
    ["--fit", "--device", "toy", "--mode", "inference"],
    ["--fit", "--device", "toy", "--format", "csv"],
    ["--fit", "--device", "toy", "--batch", "1,2"],
])
def test_cli_errors(extra: list[str], tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "test_plan:stack", "--input", SHAPE, "--plan",
                          "--devices-file", _devices_file(tmp_path), *extra], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--plan" in lines[0], err


def test_progress_is_reported_per_pair(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 27: the plan search reports its progress: one call per (checkpointing, AMP)
    pair as it starts, then "done"; the CLI prints them on stderr."""
    calls: list[tuple[str, int, int]] = []
    plan(stack(), [SHAPE], TOY, optimizer="sgd", checkpoint=r"blocks\.0$", amp="fp16",
         progress=lambda *c: calls.append(c))
    assert calls == [("checkpoint given, amp fp16", 0, 1), ("done", 1, 1)]
