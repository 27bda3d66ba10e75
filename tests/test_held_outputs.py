"""A training step holds the model's outputs and the loss to its end (issue 23).

A training loop writes ``out = model(x); loss = f(out); loss.backward(); opt.step()``: the
variables ``out`` and ``loss`` keep the outputs and the loss alive through the backward and
the optimizer step. For a classifier that is a few KB of logits; for a segmentation model it
is the full-resolution ``out`` (and ``aux``) map, N × classes × H × W floats, and the
prediction was that much below a real step (lraspp_mobilenet_v3_large at 2×3×256×256:
172,163,776 B predicted, 175,929,488 B real; deeplabv3_mobilenet_v3_large 231,427,544 B vs
242,437,592 B — 2 × 21 × 256 × 256 × 4 = 11,010,048 B, its ``out``).

Oracles: hand-derived timelines, and a real CPU training step measured by
:mod:`real_loop`, which shares nothing with convcost's tracer.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from convcost import analyze
from convcost.frontends.records import OpRecord, StorageRecord, Trace
from convcost.frontends.targets import load_target
from convcost.memory.model import held_outputs, run_memory
from convcost.ops import OpCall
from real_loop import training_step_peak

# --------------------------------------------------------------------------- by hand


def _op(name: str, phase: str, reads: tuple[int, ...], writes: tuple[int, ...]) -> OpRecord:
    return OpRecord(OpCall(name, ()), phase, "", reads, writes)


def _trace(mode: str = "train") -> Trace:
    # sid nbytes origin       alloc free  phase     what
    #  0   100   parameter      0   -               a weight
    #  1    10   input          0   -               the input
    #  2    20   op (forward)   1   7               hidden, saved, freed after its backward
    #  3     7   op (forward)   2   4               the output: freed once the loss exists
    #  4     1   op (loss)      3   7               the loss: freed after the backward
    #  5     1   op (loss)      4   7               the backward's seed (ones_like)
    #  6    30   op (backward)  6   -               the weight's gradient
    storages = (
        StorageRecord(0, 100, "parameter", 0, None, ""),
        StorageRecord(1, 10, "input", 0, None, ""),
        StorageRecord(2, 20, "op", 1, 7, "forward"),
        StorageRecord(3, 7, "op", 2, 4, "forward"),
        StorageRecord(4, 1, "op", 3, 7, "loss"),
        StorageRecord(5, 1, "op", 4, 7, "loss"),
        StorageRecord(6, 30, "op", 6, None, "backward"),
    )
    ops = (
        _op("mm.default", "forward", (0, 1), (2,)),          # sample 1
        _op("relu.default", "forward", (2,), (3,)),          # sample 2
        _op("sum.default", "loss", (3,), (4,)),              # sample 3
        _op("ones_like.default", "loss", (4,), (5,)),        # sample 4
        _op("expand.default", "loss", (5,), (5,)),           # sample 5: the sum's backward
        _op("mm.default", "backward", (5, 2), (6,)),         # sample 6
        _op("add_.Tensor", "optimizer", (0, 6), (0,)),       # sample 7
    )
    return Trace(mode=mode, ops=ops, storages=storages, saved=((2, ""),), param_grads=(),
                 modules=(), inputs=())


def test_the_output_and_the_loss_live_to_the_end_of_the_step() -> None:
    trace = _trace()
    # the output (read by the loss's sum) and the loss (what the seed is made from); not the
    # seed itself, which the sum's backward reads in phase loss
    assert held_outputs(trace) == {3, 4}
    # sample: 0 params + input = 110; 1 +hidden 20; 2 +output 7; 3 +loss 1; 4 +seed 1 (the
    # output stays: 139, not 132); 5 the same; 6 +grad 30; 7 hidden and seed freed (the
    # loss stays: 169 - 21 = 148, not 141)
    assert run_memory(trace).timeline.totals == [110, 130, 137, 138, 139, 139, 169, 148]
    assert run_memory(trace).peak == 169  # 162 if the output were freed at sample 4


def test_an_output_that_is_the_loss_is_held_and_inference_holds_nothing() -> None:
    storages = (StorageRecord(0, 4, "input", 0, None, ""),
                StorageRecord(1, 4, "op", 1, 3, "forward"),
                StorageRecord(2, 4, "op", 2, 3, "loss"))
    ops = (_op("sum.default", "forward", (0,), (1,)), _op("ones_like.default", "loss", (1,), (2,)),
           _op("expand.default", "loss", (2,), (2,)))
    scalar = Trace("train", ops, storages, (), (), (), ())
    assert held_outputs(scalar) == {1}
    assert held_outputs(_trace("inference")) == frozenset()


# --------------------------------------------------------------------------- real steps


def test_a_small_networks_logits_are_held_as_in_a_real_step() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    for shape in ((2, 8), (64, 8)):
        pred = analyze(m, shape).memory.peak_train_bytes
        assert pred == training_step_peak(m, torch.randn(shape)), shape


SEGMENTATION = torchvision.models.list_models(module=torchvision.models.segmentation)


def _momentum(params: list[nn.Parameter]) -> torch.optim.Optimizer:
    # analyze's optimizer="momentum": torch.optim.SGD(lr=0.01, momentum=0.9), per parameter
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False)


@pytest.mark.slow
@pytest.mark.parametrize("name, model_args, optimizer", [
    *[pytest.param(n, {}, "none", id=n) for n in SEGMENTATION],
    # two outputs, out and aux
    pytest.param("fcn_resnet50", {"aux_loss": True}, "none", id="fcn_resnet50-aux"),
    pytest.param("deeplabv3_mobilenet_v3_large", {"aux_loss": True}, "none",
                 id="deeplabv3_mobilenet_v3_large-aux"),
    # held through the optimizer step too
    pytest.param("lraspp_mobilenet_v3_large", {}, "momentum", id="lraspp-momentum"),
])
def test_every_segmentation_model_peak_is_a_real_steps(name: str, model_args: dict[str, Any],
                                                       optimizer: Any) -> None:
    # batch 2 (DeepLabV3's pooling branch normalises a 1×1 map: batch 1 cannot train) at
    # 32×32, the smallest size that runs every model; the gap before the fix was the bytes
    # of the outputs (2 × 21 × 32 × 32 × 4 = 172,032 B each)
    model = load_target(f"torchvision:{name}", model_args)
    shape = (2, 3, 32, 32)
    pred = analyze(model, shape, optimizer=optimizer).memory.peak_train_bytes
    torch.manual_seed(0)
    real = training_step_peak(model, torch.randn(shape),
                              _momentum if optimizer == "momentum" else None)
    assert pred == real


@pytest.mark.parametrize("hold", [True, False])
def test_hold_output_both_ways_equal_a_real_step(hold: bool,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 27: ``hold_output`` (CLI ``--hold-output/--no-hold-output``). Held, the loop is
    ``out = model(x); loss = f(out)``; not held, ``loss = f(model(x))`` and the output dies
    once the loss exists. Both peaks equal a real CPU step written each way."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 512))
    shape = (16, 8)
    r = analyze(m, shape, hold_output=hold)
    assert r.hold_output is hold and r.to_dict()["hold_output"] is hold
    real = training_step_peak(m, torch.randn(shape), hold_output=hold)
    assert r.memory.peak_train_bytes == real
    from cli_run import run

    code, out, _ = run(["model", "test_held_outputs:tiny_mlp", "--input", "16x8",
                        *([] if hold else ["--no-hold-output"])], capsys)
    assert code == 0 and ("output is not held" in out) is (not hold)


def tiny_mlp() -> nn.Module:
    """CLI target for the test above."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 512))


def test_hold_output_needs_a_training_step(capsys: pytest.CaptureFixture[str]) -> None:
    from cli_run import run
    from convcost.errors import SpecError

    with pytest.raises(SpecError, match=r"^hold_output: "):
        analyze(nn.Linear(2, 2), (1, 2), mode="inference", hold_output=False)
    code, _, err = run(["model", "test_held_outputs:tiny_mlp", "--input", "16x8",
                        "--mode", "inference", "--no-hold-output"], capsys)
    assert code == 2 and "--no-hold-output" in err and "Traceback" not in err
