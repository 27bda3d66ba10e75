"""Activation-checkpointing what-if (``analyze(..., checkpoint=REGEX)``, ``--checkpoint``):
memory against a real checkpointed CPU step, recomputation FLOPs against the forward of the
checkpointed modules and against PyTorch's FLOP counter, errors."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

from cli_run import run
from convcost import analyze
from convcost.cost import Cost
from convcost.errors import SpecError
from convcost.frontends.torch_trace import trace_model
from convcost.hardware.devices import PRESETS
from convcost.hardware.step import step_time
from convcost.memory.model import run_memory
from convcost.model import train_peak
from convcost.spec import InputSpec
from convcost.view.model import summary_lines

RESNET_BLOCKS = r"layer[1-4]\.\d+$"
STACK_BLOCKS = r"blocks\.\d+$"


class Block(nn.Module):
    """A pre-norm MLP block with a residual (what a transformer layer's MLP half is)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class Stack(nn.Module):
    """Embedding-free block stack with a head."""

    def __init__(self, d: int = 32, n: int = 4) -> None:
        super().__init__()
        self.inp = nn.Linear(d, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(n))
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def small_stack() -> nn.Module:
    """CLI target (``test_checkpoint:small_stack``)."""
    torch.manual_seed(0)
    return Stack()


class _Checkpointed(nn.Module):
    """What a training script does by hand: the wrapped module under non-reentrant
    checkpointing."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any) -> Any:
        return checkpoint(self.inner, *args, use_reentrant=False)


def _wrap_by_hand(model: nn.Module, pattern: str) -> nn.Module:
    """A copy of ``model`` whose matching submodules are wrapped in :class:`_Checkpointed`."""
    m = copy.deepcopy(model)
    rx = re.compile(pattern)
    for path in [p for p, _ in m.named_modules() if p and rx.search(p)]:
        parent_path, _, leaf = path.rpartition(".")
        parent = m.get_submodule(parent_path) if parent_path else m
        setattr(parent, leaf, _Checkpointed(getattr(parent, leaf)))
    return m


def _real_step_flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    torch.manual_seed(0)
    x = torch.randn(shape)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


CASES = [
    pytest.param(lambda: torchvision.models.resnet18(), (4, 3, 64, 64), RESNET_BLOCKS,
                 id="resnet18"),
    pytest.param(small_stack, (8, 16, 32), STACK_BLOCKS, id="block-stack"),
]


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize(("make", "shape", "pattern"), CASES)
@pytest.mark.parametrize("optimizer", ["none", "adam"])
def test_checkpointed_peak_equals_real_step(make: Any, shape: tuple[int, ...], pattern: str,
                                            optimizer: str) -> None:
    m = make()
    plain = analyze(m, shape, optimizer=optimizer)  # type: ignore[arg-type]
    r = analyze(m, shape, optimizer=optimizer, checkpoint=pattern)  # type: ignore[arg-type]
    real = trace_model(make(), [InputSpec(shape)], mode="train", optimizer=optimizer,
                       checkpoint=re.compile(pattern), real=True)
    real_peak = run_memory(real).peak
    pred = r.memory.peak_train_bytes
    assert pred is not None and plain.memory.peak_train_bytes is not None
    assert abs(pred - real_peak) <= 0.02 * real_peak
    assert pred == real_peak  # the same step, op for op: exact
    # with Adam the peak is in the optimizer step, which checkpointing does not change
    assert pred <= plain.memory.peak_train_bytes
    if optimizer == "none":
        assert pred < plain.memory.peak_train_bytes
    assert r.memory.saved_activations_bytes < plain.memory.saved_activations_bytes
    # the same counts of the passes themselves; recomputation apart
    assert r.totals.forward == plain.totals.forward
    assert r.totals.backward == plain.totals.backward
    assert plain.totals.recompute == Cost() and r.totals.recompute.flops > 0


def test_checkpoint_saves_memory_at_a_larger_batch() -> None:
    m = small_stack()
    plain = train_peak(m, (64, 16, 32))
    ck = train_peak(m, (64, 16, 32), checkpoint=STACK_BLOCKS)
    assert ck < 0.7 * plain


def test_model_is_not_modified() -> None:
    m = small_stack()
    before = {n: type(mod).forward for n, mod in m.named_modules()}
    analyze(m, (2, 16, 32), checkpoint=STACK_BLOCKS)
    assert all("forward" not in mod.__dict__ for mod in m.modules())
    assert {n: type(mod).forward for n, mod in m.named_modules()} == before
    assert torch.equal(m(torch.ones(2, 16, 32)), m(torch.ones(2, 16, 32)))


# --------------------------------------------------------------------------- FLOPs


def test_recompute_is_the_forward_of_the_checkpointed_blocks() -> None:
    """ResNet blocks end in a ReLU that saves its output, so PyTorch recomputes each block
    whole: recompute = the blocks' forward, exactly (every count)."""
    r = analyze(torchvision.models.resnet18(), (2, 3, 64, 64), checkpoint=RESNET_BLOCKS)
    rx = re.compile(RESNET_BLOCKS)
    fwd = Cost()
    for row in r.layers:
        if rx.search(row.name):
            fwd = fwd + row.forward
    assert r.totals.recompute == fwd
    rec = [o for o in r.ops if o.phase == "recompute"]
    assert rec and all(rx.search(o.module) or re.search(RESNET_BLOCKS[:-1] + r"\.", o.module)
                       for o in rec)
    # calls are not doubled by the recomputation
    assert r.layer("layer1.0.conv1").calls == 1


def test_block_stack_recompute_stops_early() -> None:
    """A block ending in a Linear + residual: nothing after fc1's GELU is needed by the
    backward, so PyTorch (early stop, its default) does not recompute fc2 and the add."""
    r = analyze(small_stack(), (8, 16, 32), checkpoint=STACK_BLOCKS)
    fwd = Cost()
    for row in r.layers:
        if re.search(STACK_BLOCKS, row.name):
            fwd = fwd + row.forward
    assert 0 < r.totals.recompute.macs < fwd.macs
    fc2 = sum(row.forward.macs for row in r.layers if row.name.endswith("fc2"))
    assert r.totals.recompute.macs == fwd.macs - fc2


@pytest.mark.parametrize(("make", "shape", "pattern"), CASES)
def test_recompute_matches_flop_counter(make: Any, shape: tuple[int, ...],
                                        pattern: str) -> None:
    """Checkpointed step − plain step, both real and by hand, in FlopCounterMode's units
    (2 per MAC of convolutions and matrix products) = 2 × the predicted recompute MACs."""
    m = make()
    r = analyze(m, shape, checkpoint=pattern)
    plain = _real_step_flops(m, shape)
    ck = _real_step_flops(_wrap_by_hand(m, pattern), shape)
    assert ck - plain == 2 * r.totals.recompute.macs
    assert plain == 2 * (r.totals.forward.macs + r.totals.backward.total.macs)


# --------------------------------------------------------------------------- reports


def test_json_view_and_time() -> None:
    r = analyze(small_stack(), (8, 16, 32), checkpoint=STACK_BLOCKS)
    d = r.to_dict()
    assert d["checkpoint"] == STACK_BLOCKS
    assert d["totals"]["recompute"]["flops"] == r.totals.recompute.flops > 0
    assert json.loads(json.dumps(d))["totals"]["recompute"]["macs"] == r.totals.recompute.macs
    text = "\n".join(str(x) for x in summary_lines(r))
    assert "recompute FLOPs" in text
    plain = analyze(small_stack(), (8, 16, 32))
    assert plain.to_dict()["checkpoint"] is None
    assert "recompute" not in "\n".join(str(x) for x in summary_lines(plain))
    st = step_time(r, PRESETS["a100-80gb"])  # type: ignore[arg-type]
    assert st.recompute_s > 0 and st.backward_s > st.recompute_s
    per_phase = sum(t.wall_s for t in st.estimate.ops) if st.estimate else 0.0
    assert st.estimate is not None and st.estimate.recompute_s > 0
    assert st.estimate.step_s == pytest.approx(per_phase)


# --------------------------------------------------------------------------- errors


def test_errors() -> None:
    m = small_stack()
    with pytest.raises(SpecError, match="checkpoint") as e:
        analyze(m, (2, 16, 32), checkpoint=r"^layer\d$")
    assert "matches no module" in str(e.value)
    with pytest.raises(SpecError, match="checkpoint") as e:
        analyze(m, (2, 16, 32), mode="inference", checkpoint=STACK_BLOCKS)
    assert "training step" in str(e.value)
    with pytest.raises(SpecError, match="checkpoint"):
        analyze(m, (2, 16, 32), checkpoint="blocks[")


@pytest.mark.parametrize("pattern", ["blocks[", "^nothing$"])
def test_cli_bad_checkpoint(pattern: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "test_checkpoint:small_stack", "--input", "2x16x32",
                          "--checkpoint", pattern], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--checkpoint" in lines[0], err


def test_cli_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["model", "test_checkpoint:small_stack", "--input", "2x16x32",
                        "--checkpoint", STACK_BLOCKS, "--format", "json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["checkpoint"] == STACK_BLOCKS and d["totals"]["recompute"]["flops"] > 0
