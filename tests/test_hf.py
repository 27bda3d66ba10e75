"""Hugging Face transformers targets (``hf:…``): building from configs offline, and the
analysis of transformer models against real runs; the transformer-op formulas."""

from __future__ import annotations

import importlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest

torch = importlib.import_module("torch")
transformers = pytest.importorskip("transformers")

from convcost import analyze  # noqa: E402
from convcost.errors import SpecError  # noqa: E402
from convcost.formulas.catalog import default_registry  # noqa: E402
from convcost.frontends.hf import load_hf  # noqa: E402
from convcost.frontends.targets import build_target  # noqa: E402
from convcost.frontends.torch_trace import op_call, trace_model  # noqa: E402
from convcost.memory.model import run_memory  # noqa: E402
from convcost.spec import InputSpec  # noqa: E402

SMALL: dict[str, Any] = dict(num_hidden_layers=2, hidden_size=256, intermediate_size=512,
                             num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)
TINY: dict[str, Any] = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                            num_attention_heads=4, num_key_value_heads=2, vocab_size=256)


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails the test."""
    def fail(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", fail)


# --------------------------------------------------------------------------- building


def test_architecture_defaults_on_meta() -> None:
    model, where = load_hf("LlamaForCausalLM", {})
    assert where == "meta"
    assert next(model.parameters()).device.type == "meta"
    assert model.config.hidden_size == 4096 and model.config.num_hidden_layers == 32
    assert type(model).__name__ == "LlamaForCausalLM"


def test_overrides_set_config_fields() -> None:
    model, where = load_hf("LlamaForCausalLM", SMALL)
    assert where == "meta"
    assert len(model.model.layers) == 2 and model.config.hidden_size == 256
    assert model.config._attn_implementation == "sdpa"
    assert model.config.head_dim == 64  # derived fields follow the overrides


def test_bad_override_names_the_key() -> None:
    with pytest.raises(SpecError, match=r"model_args.*num_hiden_layers.*num_hidden_layers"):
        load_hf("LlamaForCausalLM", {"num_hiden_layers": 3})
    with pytest.raises(SpecError, match="attn_implementation"):
        load_hf("LlamaForCausalLM", {"attn_implementation": "flash"})


@pytest.mark.parametrize(("key", "value"), [("hidden_size", 66), ("hidden_size", 64.5),
                                          ("num_hidden_layers", "two")])
def test_value_transformers_refuses_names_the_key(key: str, value: Any) -> None:
    try:  # transformers' own config refuses it (the reference)
        transformers.LlamaConfig(**{key: value})
        pytest.fail("transformers accepted it")
    except Exception as ref:  # a strict-dataclass error (or a plain ValueError)
        assert isinstance(ref.__cause__ or ref, (ValueError, TypeError))
    with pytest.raises(SpecError) as e:
        load_hf("LlamaForCausalLM", {key: value})
    assert e.value.field == f"model_args.{key}" and e.value.value == value
    assert "\n" not in str(e.value) and "LlamaConfig refuses it" in str(e.value)
    if value == 66:
        assert "attention heads (32)" in str(e.value)
    # with two overrides, the one refused is named
    with pytest.raises(SpecError) as e:
        load_hf("LlamaForCausalLM", {"vocab_size": 100, key: value})
    assert e.value.field == f"model_args.{key}"


def test_unknown_architecture_suggests_close_matches() -> None:
    with pytest.raises(SpecError, match=r"did you mean.*LlamaForCausalLM") as e:
        load_hf("LlamaForCausalLm", {})
    assert "\n" not in str(e.value)


def test_uncached_hub_id_is_one_line_and_offline() -> None:
    with pytest.raises(SpecError, match="local Hugging Face cache") as e:
        load_hf("convcost-tests/surely-not-cached-model", {})
    assert "\n" not in str(e.value) and str(e.value).startswith("target: ")


def test_local_directory_and_config_file(tmp_path: Path) -> None:
    transformers.LlamaConfig(**SMALL, architectures=["LlamaForCausalLM"]).save_pretrained(tmp_path)
    model, where = load_hf(str(tmp_path), {"num_hidden_layers": 1})
    assert where == "meta" and type(model).__name__ == "LlamaForCausalLM"
    assert len(model.model.layers) == 1 and model.config.hidden_size == 256
    other = tmp_path / "other.json"
    fields = json.loads((tmp_path / "config.json").read_text())
    fields.pop("architectures")
    other.write_text(json.dumps(fields))
    model, _ = load_hf(str(other), {})
    assert model.config.hidden_size == 256 and hasattr(model, "lm_head")  # a causal-LM head


def test_build_target_dispatches_on_cpu() -> None:
    built = build_target("hf:BertModel", {"num_hidden_layers": 1, "hidden_size": 64,
                                          "num_attention_heads": 2, "intermediate_size": 128},
                         meta=False)
    assert built.device == "cpu"
    assert next(built.model.parameters()).device.type == "cpu"


# --------------------------------------------------------------------------- analysis


ARCHS: dict[str, dict[str, Any]] = {
    "LlamaForCausalLM": SMALL,
    "MistralForCausalLM": SMALL,
    "Qwen2ForCausalLM": SMALL,
    "MixtralForCausalLM": dict(SMALL, num_local_experts=4, num_experts_per_tok=2),
    "GPT2LMHeadModel": dict(n_layer=2, n_embd=256, n_head=4, vocab_size=1000),
    "BertModel": dict(num_hidden_layers=2, hidden_size=256, intermediate_size=512,
                      num_attention_heads=4, vocab_size=1000),
}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_architectures_train_with_every_op_counted(arch: str) -> None:
    model, where = load_hf(arch, ARCHS[arch])
    assert where == "meta"
    r = analyze(model, "1x128:int64", mode="train", optimizer="adamw", amp="bf16")
    assert r.unsupported_ops == ()
    assert r.memory.peak_train_bytes is not None and r.totals.forward.macs > 0


def test_mixtral_grouped_mm_counts_as_batched_mm() -> None:
    args = dict(ARCHS["MixtralForCausalLM"])
    batched = analyze(load_hf("MixtralForCausalLM", args)[0], "1x64:int64",
                      mode="train", dtype="bfloat16")
    grouped = analyze(load_hf("MixtralForCausalLM",
                              dict(args, experts_implementation="grouped_mm"))[0],
                      "1x64:int64", mode="train", dtype="bfloat16")
    assert grouped.unsupported_ops == ()
    assert grouped.totals.forward.macs == batched.totals.forward.macs


def tiny_llama(attn: str = "sdpa") -> Any:
    torch.manual_seed(0)
    model, where = load_hf("LlamaForCausalLM", dict(TINY, attn_implementation=attn), meta=False)
    assert where == "cpu"
    return model


def test_tiny_llama_training_peak_matches_a_real_step() -> None:
    model = tiny_llama()
    pred = analyze(model, "1x32:int64", mode="train", optimizer="adamw").memory.peak_train_bytes
    real = run_memory(trace_model(model, [InputSpec((1, 32), "int64")], mode="train",
                                  optimizer="adamw", real=True)).peak
    assert pred is not None
    assert abs(pred - real) <= 0.02 * real, (pred, real)


def _macs(r: Any, fam: tuple[str, ...]) -> int:
    """Forward MACs of the ops whose names start with one of ``fam``."""
    return sum(o.cost.macs for o in r.ops if o.phase == "forward" and o.name.startswith(fam))


def test_tiny_llama_forward_macs_equal_the_flop_counter() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    model = tiny_llama("eager").eval()
    r = analyze(model, "1x32:int64", mode="inference")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randint(0, 256, (1, 32)))
    assert 2 * _macs(r, ("mm", "addmm", "bmm", "baddbmm")) == counter.get_total_flops()
    assert r.totals.forward.macs == _macs(r, ("mm", "addmm", "bmm", "baddbmm"))
    assert r.unsupported_ops == ()
    # sdpa on the CPU (which FlopCounterMode does not count) does the eager bmm's products
    fused = analyze(tiny_llama().eval(), "1x32:int64", mode="inference")
    assert _macs(fused, ("_scaled_dot_product",)) == _macs(r, ("bmm",)) > 0
    assert fused.totals.forward.macs == r.totals.forward.macs


@pytest.mark.slow
def test_7b_llama_analysis_completes() -> None:
    model, _ = load_hf("LlamaForCausalLM", {})
    r = analyze(model, "1x512:int64", mode="train", optimizer="adamw", amp="bf16")
    assert r.unsupported_ops == ()
    assert r.memory.peak_train_bytes is not None
    assert r.memory.peak_train_bytes > 16 * 6_700_000_000  # weights, grads, two moments


# --------------------------------------------------------------------------- formulas


def _formula_cost(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    out = func(*args, **kwargs)
    call = op_call(func, args, kwargs, out)
    formula = default_registry().lookup(call.name)
    assert formula is not None, call.name
    return out, formula(call, "dense").cost


def test_grouped_mm_rows_in_groups_against_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(24, 16, generator=g).bfloat16()
    b = torch.randn(3, 16, 8, generator=g).bfloat16()
    offs = torch.tensor([5, 13, 24], dtype=torch.int32)
    out, cost = _formula_cost(torch.ops.aten._grouped_mm.default, (a, b), {"offs": offs})
    start, macs, adds = 0, 0, 0
    for i, end in enumerate(offs.tolist()):
        ref = a[start:end].float() @ b[i].float()
        torch.testing.assert_close(out[start:end].float(), ref, atol=0.1, rtol=0.02)
        rows, k = end - start, a.shape[1]
        macs += rows * k * b.shape[2]
        adds += rows * (k - 1) * b.shape[2]
        start = end
    assert cost.macs == cost.mults == macs and cost.adds == adds


def test_grouped_mm_contraction_in_groups_against_brute_force() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(16, 24, generator=g).bfloat16()  # the weight gradient: Xᵀ·G per group
    b = torch.randn(24, 8, generator=g).bfloat16()
    offs = torch.tensor([5, 13, 24], dtype=torch.int32)
    out, cost = _formula_cost(torch.ops.aten._grouped_mm.default, (a, b), {"offs": offs})
    assert tuple(out.shape) == (3, 16, 8)
    start, macs, adds = 0, 0, 0
    for i, end in enumerate(offs.tolist()):
        ref = a[:, start:end].float() @ b[start:end].float()
        torch.testing.assert_close(out[i].float(), ref, atol=0.1, rtol=0.02)
        macs += 16 * (end - start) * 8
        adds += 16 * (end - start - 1) * 8
        start = end
    assert cost.macs == macs and cost.adds == adds


def test_histc_counts_per_element() -> None:
    x = torch.tensor([0.0, 1.0, 1.0, 3.0, 2.0])
    out, cost = _formula_cost(torch.ops.aten.histc.default, (x,),
                              {"bins": 4, "min": 0, "max": 3})
    assert out.tolist() == [1.0, 2.0, 1.0, 1.0]
    n = x.numel()  # one subtract, scale, increment and two range checks per element
    assert (cost.adds, cost.mults, cost.other, cost.macs) == (2 * n, n, 2 * n, 0)
    _, auto = _formula_cost(torch.ops.aten.histc.default, (x,), {"bins": 4})
    assert auto.other == 2 * n + 2 * (n - 1)  # the range found from the data first
