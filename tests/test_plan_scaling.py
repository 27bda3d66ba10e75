"""The plan search's affine model of a step's events in the batch
(:mod:`convcost.memory.scaling`): checked against real traces at other batches, and the
fitted batch against the definition (it fits, one more does not), with real traces."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convcost.hardware.answer import fit_capacity, per_device_peak
from convcost.hardware.devices import get_device
from convcost.memory.scaling import affine_events
from convcost.model import train_memory


def _events(model: nn.Module, b: int, **kw: object) -> object:
    return train_memory(model, [(b, 3, 32, 32)], optimizer="adamw", dispatch="cuda",
                        compute_capability="8.0", **kw).events


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 32 * 32, 10))


@pytest.mark.parametrize("b", [3, 8, 37])
def test_affine_events_equal_a_trace_at_that_batch(b: int) -> None:
    m = _cnn()
    at = affine_events(_events(m, 2), 2, _events(m, 4), 4)  # type: ignore[arg-type]
    assert at is not None
    assert at(b) == _events(m, b)


def test_events_that_differ_in_structure_are_no_family() -> None:
    m = _cnn()
    e2 = _events(m, 2)
    other = _events(nn.Sequential(nn.Linear(32, 4)), 4)
    assert affine_events(e2, 2, other, 4) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        affine_events(e2, 4, e2, 2)  # type: ignore[arg-type]


def test_the_plan_fit_is_the_largest_batch_that_fits() -> None:
    """On a device with the caching allocator the plan's fit (found on modelled events)
    satisfies its definition, checked with real traces: that batch fits, one more not."""
    from dataclasses import replace

    from convcost.plan import plan

    device = replace(get_device("a100-40gb"), memory=160 * 2**20, reserve=0)
    p = plan(_cnn(), ["1x3x32x32"], device, optimizer="adamw", amp="bf16")
    best = max(c.batch for c in p.candidates)
    measure = per_device_peak(1, "ddp", device)
    capacity = fit_capacity(device)

    def need(b: int) -> float:
        return measure(train_memory(_cnn(), [(b, 3, 32, 32)], optimizer="adamw", amp="bf16",
                                    dispatch="cuda", compute_capability="8.0"))

    assert need(best) <= capacity < need(best + 1)
