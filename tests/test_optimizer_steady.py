"""The optimizer step of a training loop's later steps (``totals.optimizer``, the time model)
and of its first step (``totals.optimizer_first_step``).

Hand counts per parameter element (convcost builds each optimizer as ``foreach=False``,
PyTorch's single-tensor path on CPU; scalar hyper-parameters are Python numbers):

* sgd (lr 0.01): ``p.add_(g, alpha=−lr)``: 1 mult, 1 add — every step.
* momentum (SGD, μ = 0.9, no dampening): first step ``buf = clone(g)`` (no arithmetic),
  ``p.add_(buf, alpha=−lr)``: 1 mult, 1 add; later steps ``buf.mul_(μ)`` (1 mult),
  ``buf.add_(g)`` (1 add), ``p.add_(buf, alpha=−lr)`` (1 mult, 1 add): 2 mults, 2 adds.
* adam (weight decay 0): every step, the first included (its moments start at zero but are
  computed the same way): ``m.lerp_(g, 1 − β1)`` 1 mult 2 adds; ``v.mul_(β2)`` 1 mult;
  ``v.addcmul_(g, g, 1 − β2)`` 2 mults 1 add; ``sqrt(v)`` 1 other; ``/ sqrt(bc2)`` 1 other;
  ``+ ε`` 1 add; ``p.addcdiv_(m, denom, −step)`` 1 mult 1 add 1 other: 5 mults, 5 adds,
  3 other; plus the step counter ``step += 1``: 1 add per parameter tensor.
* adamw (weight decay 0.01): Adam's count plus ``p.mul_(1 − lr·wd)``: 1 mult.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

torch = importlib.import_module("torch")

from torch import nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from convcost import analyze  # noqa: E402
from convcost.cost import Cost  # noqa: E402
from convcost.formulas.catalog import default_registry  # noqa: E402
from convcost.frontends.torch_trace import op_call, trace_model  # noqa: E402
from convcost.model import InputSpec, ModelResult  # noqa: E402
from convcost.ops import OpCall  # noqa: E402
from convcost.view.model import compute_rows  # noqa: E402

OPTIMIZERS = ("none", "sgd", "momentum", "adam", "adamw")


def tiny() -> nn.Module:
    # parameters: 4·3 + 3 + 3·2 + 2 = 23 elements in 4 tensors
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


N, TENSORS = 23, 4
FIRST = {
    "none": Cost(),
    "sgd": Cost(mults=N, adds=N),
    "momentum": Cost(mults=N, adds=N),
    "adam": Cost(mults=5 * N, adds=5 * N + TENSORS, other=3 * N),
    "adamw": Cost(mults=6 * N, adds=5 * N + TENSORS, other=3 * N),
}
LATER = {**FIRST, "momentum": Cost(mults=2 * N, adds=2 * N)}


def _real_optimizer(name: str, params: list[Any]) -> Any:
    # the same optimizers as convcost's --optimizer choices
    if name in ("sgd", "momentum"):
        return torch.optim.SGD(params, lr=0.01, momentum=0.9 if name == "momentum" else 0,
                               foreach=False)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=1e-3, foreach=False)


class _Calls(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Every aten (and profiler) op a real run dispatches, as convcost records it."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.calls: list[OpCall] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.namespace != "prim":
            self.calls.append(op_call(func, args, kwargs, out))
        return out


def _cost(calls: list[OpCall]) -> Cost:
    reg = default_registry()
    total = Cost()
    for c in calls:
        formula = reg.lookup(c.name)
        assert formula is not None, c.name
        total = total + formula(c, "dense").cost
    return total


def _real_steps(name: str) -> tuple[list[OpCall], list[OpCall]]:
    """The ops of steps 1 and 2 of a real (non-fake) CPU training loop."""
    torch.manual_seed(0)
    m = tiny()
    opt = _real_optimizer(name, list(m.parameters()))
    steps = []
    for _ in range(2):
        m(torch.randn(2, 4)).sum().backward()
        rec = _Calls()
        with rec:
            opt.step()
        steps.append(rec.calls)
    return steps[0], steps[1]


@pytest.fixture(scope="module")
def results() -> dict[str, ModelResult]:
    return {o: analyze(tiny(), (2, 4), optimizer=o) for o in OPTIMIZERS}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_later_and_first_step_match_hand_counts(name: str,
                                                results: dict[str, ModelResult]) -> None:
    t = results[name].totals
    assert t.optimizer == LATER[name]
    assert t.optimizer_first_step == FIRST[name]
    assert t.first_step_optimizer == FIRST[name]


@pytest.mark.parametrize("name", OPTIMIZERS[1:])
def test_counts_match_a_real_cpu_loop(name: str, results: dict[str, ModelResult]) -> None:
    first, second = _real_steps(name)
    assert _cost(first) == FIRST[name]
    assert _cost(second) == LATER[name]
    # the op rows of the analysis are the real later step's ops, in order
    r = results[name]
    rows = [o.name for o in r.ops if o.phase == "optimizer"]
    assert rows == [c.name for c in second]


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_real_and_fake_runs_record_the_same_later_step(name: str) -> None:
    fake = trace_model(tiny(), [InputSpec((2, 4))], optimizer=name)
    real = trace_model(tiny(), [InputSpec((2, 4))], optimizer=name, real=True)
    names = [op.call.name for op in fake.steady_optimizer]
    assert names and names == [op.call.name for op in real.steady_optimizer]
    assert all(op.phase == "optimizer" and not op.reads and not op.writes
               for op in fake.steady_optimizer)
    # the first step stays in the run (and its memory); the later step is recorded apart
    first = [op.call.name for op in fake.ops if op.phase == "optimizer"]
    assert first and ("clone.default" in first) == (name == "momentum")
    assert ("mul_.Tensor" in names) and "clone.default" not in names


def test_no_later_step_without_optimizer_or_in_inference() -> None:
    assert trace_model(tiny(), [InputSpec((2, 4))]).steady_optimizer == ()
    assert trace_model(tiny(), [InputSpec((2, 4))], mode="inference",
                       optimizer="sgd").steady_optimizer == ()


def test_frozen_parameters_are_not_updated(results: dict[str, ModelResult]) -> None:
    # freezing the first Linear leaves 3·2 + 2 = 8 elements: momentum later 2 mults 2 adds each
    r = analyze(tiny(), (2, 4), optimizer="momentum", freeze=r"^0\.")
    assert r.totals.optimizer == Cost(mults=16, adds=16)
    assert r.totals.optimizer_first_step == Cost(mults=8, adds=8)


def test_json_keeps_every_key_and_adds_the_first_step(results: dict[str, ModelResult]) -> None:
    d = results["momentum"].to_dict()["totals"]
    assert set(d) == {"params", "trainable_params", "forward", "backward", "backward_split",
                      "optimizer", "optimizer_first_step", "recompute"}
    assert d["optimizer"] == {"macs": 0, "mults": 46, "adds": 46, "other": 0, "flops": 92}
    assert d["optimizer_first_step"]["flops"] == 46
    none = results["none"].to_dict()["totals"]
    assert none["optimizer"]["flops"] == none["optimizer_first_step"]["flops"] == 0


def test_time_model_uses_the_later_step(results: dict[str, ModelResult]) -> None:
    from convcost.hardware.devices import DeviceSpec
    from convcost.hardware.step import step_time

    r = results["momentum"]
    opt = [o for o in r.ops if o.phase == "optimizer"]
    assert sum(o.cost.flops for o in opt) == r.totals.optimizer.flops == 4 * N
    dev = DeviceSpec("toy", "toy", {"fp32": 1e9}, 1e9, 10**9)
    st = step_time(r, dev)
    assert st.optimizer_s == pytest.approx(sum(x.time for o, x in st.ops
                                               if o.phase == "optimizer"))
    assert st.optimizer_s > 0


def _text(r: ModelResult) -> str:
    from convcost.renderers import render

    return render(r, "table")


def test_reports_show_the_first_step_only_where_it_differs(
        results: dict[str, ModelResult]) -> None:
    from convcost.renderers import render

    mom, adam = results["momentum"], results["adam"]
    # 92 FLOPs per later step, 46 in the first
    assert "optimizer FLOPs 92 per step after the first (first step 46)" in _text(mom)
    assert "optimizer FLOPs 303\n" in _text(adam)  # 115 mults + 119 adds + 69 other
    assert "first step" not in _text(adam)
    assert [n for n, _ in compute_rows(mom)][-2:] == ["optimizer step",
                                                      "  first step (state created)"]
    assert compute_rows(mom)[-1][1] == FIRST["momentum"]
    assert [n for n, _ in compute_rows(adam)][-1] == "optimizer step"
    md = render(mom, "markdown")
    assert "per step after the first (first step 46)" in md
    html = render(mom, "html")
    assert "first step (state created)" in html
    assert "first step" not in render(adam, "html")
