"""Memory of a training step: lifetimes, categories, peaks (pure parts and against real runs)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys

import pytest

from convcost.frontends.dataflow import backward_targets
from convcost.frontends.records import OpRecord, ParamGrad
from convcost.memory.timeline import CATEGORIES, Life, build_timeline, category_bytes
from convcost.ops import OpCall
from shared import TorchvisionAnalysis

# --------------------------------------------------------------------------- pure arithmetic


def test_timeline_by_hand() -> None:
    # sample:            0    1    2    3    4
    # parameters (10):   x    x    x    x    x
    # activations (5):        x    x
    # temporaries (7):             x    x
    # gradients (3):                    x    x
    lives = [
        Life(10, "parameters", 0, None),
        Life(5, "activations", 1, 3),
        Life(7, "temporaries", 2, 4),
        Life(3, "gradients", 3, None),
        Life(0, "temporaries", 1, 2),  # empty storages change nothing
    ]
    t = build_timeline(lives, 5)
    assert t.totals == [10, 15, 22, 20, 13]
    assert t.peak == 22 and t.peak_index == 2
    assert t.at(2) == {"parameters": 10, "buffers": 0, "inputs": 0, "gradients": 0,
                       "optimizer_state": 0, "activations": 5, "temporaries": 7}
    assert category_bytes(lives)["temporaries"] == 7
    d = t.to_dict()
    assert d["categories"] == list(CATEGORIES) and d["peak_bytes"] == 22
    assert build_timeline([], 0).peak == 0


def test_timeline_freed_in_same_sample_is_never_live() -> None:
    t = build_timeline([Life(4, "temporaries", 2, 2), Life(1, "inputs", 0, None)], 3)
    assert t.totals == [1, 1, 1]


def _op(name: str, phase: str, reads: tuple[int, ...], writes: tuple[int, ...]) -> OpRecord:
    return OpRecord(OpCall(name, ()), phase, "", reads, writes)


def test_backward_split_by_data_flow() -> None:
    # Linear layer backward: grad_out (10) -> mm -> grad_x (11);
    # mm -> 12 -> t (view, same storage) -> weight.grad; sum -> 13 -> view -> bias.grad;
    # an extra copy (14 -> 15) on the way into another weight's grad.
    ops = [
        _op("addmm.default", "forward", (1, 2, 3), (4,)),
        _op("ones_like.default", "loss", (4,), (10,)),
        _op("mm.default", "backward", (10, 2), (11,)),
        _op("mm.default", "backward", (10, 1), (12,)),
        _op("t.default", "backward", (12,), (12,)),
        _op("sum.dim_IntList", "backward", (10,), (13,)),
        _op("view.default", "backward", (13,), (13,)),
        _op("mul.Tensor", "backward", (11, 10), (14,)),
        _op("clone.default", "backward", (14,), (15,)),
        _op("relu.default", "backward", (11,), (16,)),
    ]
    grads = [ParamGrad(12, "fc.weight", False), ParamGrad(13, "fc.bias", True),
             ParamGrad(15, "other.weight", False)]
    assert backward_targets(ops, grads) == [
        "", "", "grad_input", "grad_weight", "grad_weight", "grad_bias", "grad_bias",
        "grad_weight", "grad_weight", "grad_input"]


def test_backward_split_computing_reader_does_not_pass_its_label() -> None:
    # conv1 -> relu: relu's backward (20 -> 21) feeds only conv1's weight gradient (22), a
    # computing op. The ReLU's backward computes its own input's gradient: grad_input.
    ops = [
        _op("threshold_backward.default", "backward", (20, 5), (21,)),
        _op("convolution_backward.default", "backward", (21, 6, 7), (22,)),
    ]
    grads = [ParamGrad(22, "conv1.weight", False)]
    assert backward_targets(ops, grads, free=[False, False]) == ["grad_input", "grad_weight"]
    # A free reader (a copy into .grad) passes its label on.
    ops = [
        _op("mm.default", "backward", (20, 5), (21,)),
        _op("clone.default", "backward", (21,), (22,)),
    ]
    assert backward_targets(ops, grads, free=[False, True]) == ["grad_weight", "grad_weight"]


def test_backward_split_mixed_op_is_grad_input() -> None:
    # A norm backward writing grad-input (31) and the weight's grad (32) in one op: the
    # op, and the mm that only feeds it, carry the gradient towards the input.
    ops = [
        _op("mm.default", "backward", (1, 2), (30,)),
        _op("native_layer_norm_backward.default", "backward", (30, 3), (31, 32)),
        _op("mm.default", "backward", (31, 4), (33,)),
    ]
    assert backward_targets(ops, [ParamGrad(32, "ln.weight", False)]) == ["grad_input"] * 3


def test_backward_split_accumulation_into_grad() -> None:
    # A shared weight: its second gradient (21) is added in place into .grad (20).
    ops = [
        _op("mm.default", "backward", (1, 2), (20,)),
        _op("mm.default", "backward", (1, 3), (21,)),
        _op("add_.Tensor", "backward", (20, 21), (20,)),
    ]
    assert backward_targets(ops, [ParamGrad(20, "w", False)]) == ["grad_weight"] * 3


# --------------------------------------------------------------------------- against torch

torch = importlib.import_module("torch")
torchvision = importlib.import_module("torchvision")

from torch import nn  # noqa: E402

from convcost import analyze  # noqa: E402
from convcost.frontends.torch_trace import trace_model  # noqa: E402
from convcost.memory.model import run_memory  # noqa: E402
from convcost.spec import InputSpec  # noqa: E402


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(16), nn.GELU(),
        nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(32, 10),
    )


@pytest.mark.parametrize("optimizer", ["none", "sgd", "momentum", "adam", "adamw"])
def test_predicted_peak_equals_real_cpu_step(optimizer: str) -> None:
    m = small_cnn()
    shape = (4, 3, 32, 32)
    r = analyze(m, shape, optimizer=optimizer)
    real = trace_model(m, [InputSpec(shape)], mode="train", optimizer=optimizer, real=True)
    mem = run_memory(real)
    pred = r.memory.peak_train_bytes
    assert pred is not None
    # Adam's step counters are made by torch.tensor(), which a real run creates below the
    # dispatcher (4 bytes per parameter tensor the fake run sees and the real one does not).
    slack = 4 * len(list(m.parameters())) if optimizer.startswith("adam") else 0
    assert mem.peak <= pred <= mem.peak + slack
    for p in m.parameters():
        assert p.grad is not None and p.requires_grad
        p.grad = None


def test_categories_add_up() -> None:
    m = small_cnn()
    n_params = sum(p.numel() for p in m.parameters())
    n_buffers = sum(b.numel() * b.element_size() for b in m.buffers())
    r = analyze(m, (4, 3, 32, 32), optimizer="adam")
    mem = r.memory
    assert mem.params_bytes == 4 * n_params
    assert mem.buffers_bytes == n_buffers
    assert mem.inputs_bytes == 4 * 4 * 3 * 32 * 32
    assert mem.grads_bytes == 4 * n_params
    # Adam: two moments per parameter plus one float32 step counter per parameter tensor
    assert mem.optimizer_bytes == 2 * 4 * n_params + 4 * len(list(m.parameters()))
    assert mem.saved_activations_bytes == sum(row.saved_bytes for row in r.layers if row.leaf)
    assert mem.saved_activations_bytes > 0
    t = mem.train_timeline
    assert t is not None
    assert t.peak == mem.peak_train_bytes
    start = t.at(0)
    assert start["parameters"] == mem.params_bytes and start["inputs"] == mem.inputs_bytes
    assert start["gradients"] == start["activations"] == start["optimizer_state"] == 0
    end = t.at(len(t.rows) - 1)
    assert end["gradients"] == mem.grads_bytes and end["optimizer_state"] == mem.optimizer_bytes
    assert end["activations"] == 0  # everything saved is released by the backward pass
    peak = t.at(t.peak_index)
    assert sum(peak.values()) == mem.peak_train_bytes
    # A later step starts with the optimizer state already allocated.
    assert mem.peak_train_steady_bytes is not None
    assert mem.peak_train_bytes <= mem.peak_train_steady_bytes
    assert mem.peak_train_steady_bytes <= mem.peak_train_bytes + mem.optimizer_bytes
    assert mem.peak_inference_bytes < mem.peak_train_bytes
    d = r.to_dict(timeline=True)["memory"]["timeline"]
    assert len(d["train"]["rows"]) == len(t.rows) and d["inference"]["peak_bytes"] > 0
    json.dumps(d)


def test_frozen_parameters_have_no_gradient_memory() -> None:
    m = small_cnn()
    r = analyze(m, (2, 3, 32, 32), optimizer="momentum", freeze=r"^[0-4]\.")
    trainable = sum(p.numel() for n, p in m.named_parameters()
                    if not re.match(r"[0-4]\.", n))
    assert r.memory.grads_bytes == 4 * trainable
    assert r.memory.optimizer_bytes == 4 * trainable  # one momentum buffer each


def test_inference_mode_memory() -> None:
    m = small_cnn()
    r = analyze(m, (2, 3, 32, 32), mode="inference")
    assert r.memory.peak_train_bytes is None and r.memory.grads_bytes == 0
    assert r.memory.saved_activations_bytes == 0
    assert r.memory.peak_inference_bytes >= r.memory.params_bytes + r.memory.inputs_bytes
    assert r.totals.backward.total.flops == 0


def test_real_resnet18_step_matches(torchvision_analysis: TorchvisionAnalysis) -> None:
    m = torchvision.models.resnet18()
    shape = (2, 3, 64, 64)
    pred = torchvision_analysis("resnet18", shape).memory.peak_train_bytes
    real = run_memory(trace_model(m, [InputSpec(shape)], mode="train", real=True)).peak
    assert pred == real


_RSS = """
import resource, sys, torchvision
from convcost import analyze
m = torchvision.models.resnet18()
analyze(m, (1, 3, 224, 224))  # warm up imports and caches
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = analyze(m, (int(sys.argv[1]), 3, int(sys.argv[2]), int(sys.argv[2])))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, r.memory.peak_train_bytes)
"""


@pytest.mark.slow
def test_analyser_memory_does_not_grow_with_batch() -> None:
    """Fake tensors: batch 64 at 512×512 (a ~60 GB step) costs the analyser no more memory."""
    out = {}
    for batch, size in ((1, 224), (64, 512)):
        res = subprocess.run([sys.executable, "-c", _RSS, str(batch), str(size)],
                             capture_output=True, text=True, check=True)
        grew_kib, peak = res.stdout.split()
        out[batch] = (int(grew_kib), int(peak))
    assert out[64][1] > 50 * out[1][1]  # what it would take for real
    assert out[64][0] < 64 * 1024  # KiB: the analysis of the huge step grew RSS < 64 MiB
