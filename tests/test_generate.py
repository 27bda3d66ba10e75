"""Generation with the KV cache (``--mode generate``): the predicted cache bytes and forward
MACs against a real ``model.generate`` of a tiny Llama, and the flag errors."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from cli_run import run

torch = importlib.import_module("torch")
transformers = pytest.importorskip("transformers")

from convcost.errors import SpecError  # noqa: E402
from convcost.frontends.targets import build_target  # noqa: E402
from convcost.model.generate import analyze_generation  # noqa: E402

TINY: dict[str, Any] = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                            num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
TINY_ARGS = [x for k, v in TINY.items() for x in ("--model-arg", f"{k}={v}")]
MATMULS = ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear")


def _real(batch: int, prompt: int, new: int) -> tuple[Any, int, int]:
    """The tiny Llama on the CPU, the bytes of the cache ``generate`` returns and the
    forward MACs (PyTorch's FLOP counter / 2) of the whole generation."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_target("hf:LlamaForCausalLM", {**TINY, "attn_implementation": "eager"},
                         meta=False).model.eval()
    torch.manual_seed(0)
    ids = torch.randint(3, 100, (batch, prompt))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                             min_new_tokens=new, do_sample=False,
                             return_dict_in_generate=True, pad_token_id=0)
    assert out.sequences.shape == (batch, prompt + new)
    cache = out.past_key_values
    nbytes = sum(t.numel() * t.element_size() for layer in cache.layers
                 for t in (layer.keys, layer.values))
    return model, nbytes, counter.get_total_flops() // 2


@pytest.mark.parametrize("batch,prompt,new", [(2, 7, 6), (1, 5, 3), (3, 4, 1)])
def test_cache_bytes_and_macs_match_a_real_generate(batch: int, prompt: int, new: int) -> None:
    model, cache_bytes, macs = _real(batch, prompt, new)
    g = analyze_generation(model, batch=batch, prompt_len=prompt, new_tokens=new)
    assert g.kv_cache_final_bytes == cache_bytes
    assert g.decode_steps == new - 1
    assert g.extrapolated == (new - 1 > 3)

    def matmul_macs(result: Any) -> int:
        return sum(o.cost.macs for o in result.ops
                   if o.name.split(".")[0] in MATMULS)

    # every MAC convcost counts is in a matmul-family op here
    assert g.prefill.totals.forward.macs == matmul_macs(g.prefill)
    for s in g.steps:
        assert s.result.totals.forward.macs == matmul_macs(s.result)
    assert g.total.macs == macs
    # cache growth: one position per decode step
    assert g.kv_cache_final_bytes - g.kv_cache_prefill_bytes == (new - 1) * g.kv_cache_token_bytes
    assert g.peak_bytes >= g.params_bytes + g.kv_cache_final_bytes


def test_extrapolation_equals_tracing_every_step() -> None:
    model = build_target("hf:LlamaForCausalLM", TINY).model
    g = analyze_generation(model, batch=2, prompt_len=9, new_tokens=8)
    every = analyze_generation(model, batch=2, prompt_len=9, new_tokens=8, exhaustive=True)
    assert g.extrapolated and not every.extrapolated
    assert [s.cache_len for s in g.steps] == [9, 12, 15]
    assert len(every.steps) == 7
    assert g.decode == every.decode
    assert g.decode_bytes_moved == every.decode_bytes_moved
    assert g.kv_cache_final_bytes == every.kv_cache_final_bytes
    assert g.peak_bytes == every.peak_bytes


def test_non_causal_model_is_a_spec_error() -> None:
    model = torch.nn.Linear(3, 3)
    with pytest.raises(SpecError, match=r"^model: "):
        analyze_generation(model, prompt_len=4, new_tokens=2)


def test_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["model", "hf:LlamaForCausalLM", *TINY_ARGS, "--mode", "generate",
            "--prompt-len", "6", "--new-tokens", "5", "--batch", "2"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    assert "prefill:" in out and "KV cache:" in out and "extrapolated" in out
    code, out, err = run([*base, "--json", "--device", "h100-sxm"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["kind"] == "generation" and d["batch"] == 2 and d["decode_steps"] == 4
    assert d["decode"]["time_s"] > 0 and d["prefill"]["time_s"] > 0
    assert d["memory"]["kv_cache_final_bytes"] == 2 * 2 * 2 * 2 * 10 * 16 * 4


@pytest.mark.parametrize("extra,flag", [
    (["--mode", "generate", "--new-tokens", "4"], "--prompt-len"),
    (["--mode", "generate", "--prompt-len", "4"], "--new-tokens"),
    (["--mode", "inference", "--prompt-len", "4", "--input", "1x4:int64"], "--prompt-len"),
    (["--new-tokens", "4", "--input", "1x4:int64"], "--new-tokens"),
    (["--mode", "generate", "--prompt-len", "4", "--new-tokens", "2", "--optimizer", "adamw"],
     "--optimizer"),
    (["--mode", "generate", "--prompt-len", "4", "--new-tokens", "2", "--format", "csv"],
     "--format"),
    (["--mode", "generate", "--prompt-len", "4", "--new-tokens", "2", "--device",
      "a100-80gb", "--channels-last"], "--channels-last"),
    (["--mode", "generate", "--prompt-len", "4", "--new-tokens", "2", "--device",
      "cpu", "--dispatch", "cuda"], "--dispatch"),
])
def test_cli_flag_errors(extra: list[str], flag: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "hf:LlamaForCausalLM", *TINY_ARGS, *extra], capsys)
    assert code == 2 and out == ""
    assert flag in err and len(err.strip().splitlines()) == 1


def test_cli_non_causal_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["model", "torchvision:resnet18", "--mode", "generate",
                          "--prompt-len", "4", "--new-tokens", "2"], capsys)
    assert code == 2 and "--mode" in err and len(err.strip().splitlines()) == 1


def test_cuda_path_generation_counts_as_the_cpu_path(capsys: pytest.CaptureFixture[str]) -> None:
    """With a GPU device generation is traced on the CUDA path (the KV cache on fake CUDA
    tensors): the same MACs and cache bytes as the CPU path, CUDA's SDPA choice reported;
    ``--dispatch cpu`` forces the CPU path."""
    base = ["model", "hf:LlamaForCausalLM", *TINY_ARGS, "--mode", "generate",
            "--prompt-len", "6", "--new-tokens", "4", "--json", "--device", "a100-80gb"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    cuda = json.loads(out)
    code, out, err = run([*base, "--dispatch", "cpu"], capsys)
    assert code == 0, err
    cpu = json.loads(out)
    assert (cuda["dispatch"], cuda["compute_capability"]) == ("cuda", "8.0")
    assert cuda["backends"]["sdpa"] in ("flash", "efficient", "cudnn", "math")
    assert cpu["dispatch"] == "cpu" and cpu["backends"] == {}
    assert cuda["total_forward"] == cpu["total_forward"]
    assert cuda["memory"] == cpu["memory"]
