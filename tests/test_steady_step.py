"""A later optimizer step recorded once per distinct parameter gives exactly the records of
recording every parameter (``torch_trace.optimizer.DEDUPLICATE_STEADY_STEP``), for the
per-parameter optimizers; foreach steps are recorded whole."""

from __future__ import annotations

from typing import Any

import pytest
import torchvision

import convcost.frontends.torch_trace.optimizer as tt_optimizer
from convcost.frontends.hf import load_hf
from convcost.model import analyze

TINY: dict[str, Any] = dict(num_hidden_layers=3, hidden_size=64, intermediate_size=128,
                            num_attention_heads=4, num_key_value_heads=2, vocab_size=256)


def _both(monkeypatch: pytest.MonkeyPatch, model: Any, inputs: Any,
          **options: Any) -> tuple[Any, Any]:
    out = []
    for dedup in (False, True):
        monkeypatch.setattr(tt_optimizer, "DEDUPLICATE_STEADY_STEP", dedup)
        out.append(analyze(model, inputs, mode="train", **options))
    return out[0], out[1]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_resnet_steady_step_records_are_identical(monkeypatch: pytest.MonkeyPatch,
                                                  optimizer: str) -> None:
    full, dedup = _both(monkeypatch, torchvision.models.resnet18(), "2x3x32x32",
                        optimizer=optimizer)
    assert full.totals == dedup.totals and full.layers == dedup.layers
    assert [o.to_dict() for o in full.ops] == [o.to_dict() for o in dedup.ops]
    assert full.totals.optimizer.flops > 0 or optimizer == "sgd"


def test_llama_steady_step_with_amp(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load_hf("LlamaForCausalLM", TINY)
    full, dedup = _both(monkeypatch, model, "1x32:int64", optimizer="adamw", amp="bf16")
    assert [o.to_dict() for o in full.ops] == [o.to_dict() for o in dedup.ops]
    assert full.totals == dedup.totals


def test_foreach_step_is_recorded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    full, dedup = _both(monkeypatch, torchvision.models.resnet18(), "2x3x32x32",
                        optimizer="adamw", optimizer_foreach=True)
    assert [o.to_dict() for o in full.ops] == [o.to_dict() for o in dedup.ops]
    assert any(o.name.startswith("_foreach_") for o in dedup.ops)
    assert dedup.optimizer_foreach and dedup.to_dict()["optimizer_foreach"] is True
