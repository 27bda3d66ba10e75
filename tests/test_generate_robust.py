"""Generation (issue 27): the KV cache under autocast and with sliding windows against real
``generate()`` runs on the CPU, the position limit against a real run's IndexError,
encoder-decoder models refused, ``analyze_generation(device=…)``, and the result's views
(``render``, ``to_pandas``, ``_repr_html_``)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

torch = importlib.import_module("torch")
transformers = pytest.importorskip("transformers")

from convcost import render  # noqa: E402
from convcost.errors import SpecError  # noqa: E402
from convcost.frontends.positions import position_limit  # noqa: E402
from convcost.frontends.targets import build_target  # noqa: E402
from convcost.hardware.devices import PRESETS  # noqa: E402
from convcost.hardware.generation import generation_time  # noqa: E402
from convcost.model.generate import GenerationResult, analyze_generation  # noqa: E402
from convcost.view.generation import generation_lines  # noqa: E402

LLAMA: dict[str, Any] = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                             num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
GPT2: dict[str, Any] = dict(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=16)
MISTRAL: dict[str, Any] = {**LLAMA, "sliding_window": 5}


def _cpu(target: str, args: dict[str, Any]) -> Any:
    return build_target(target, {**args, "attn_implementation": "eager"},
                        meta=False).model.eval()


def _real(model: Any, batch: int, prompt: int, new: int, amp: bool = False) -> tuple[int, int]:
    """A real greedy ``generate()`` on the CPU (under bf16 autocast with ``amp``): the bytes
    of the cache's key and value tensors it returns, and its forward MACs (PyTorch's FLOP
    counter / 2)."""
    from contextlib import nullcontext

    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    ids = torch.randint(3, 100, (batch, prompt))
    counter = FlopCounterMode(display=False)
    cast = torch.autocast("cpu", torch.bfloat16) if amp else nullcontext()
    with torch.no_grad(), cast, counter:
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                             min_new_tokens=new, do_sample=False,
                             return_dict_in_generate=True, pad_token_id=0)
    cache = getattr(out, "cache", None) or out.past_key_values
    nbytes = sum(t.nbytes for layer in cache.layers for t in (layer.keys, layer.values))
    return nbytes, counter.get_total_flops() // 2


# ------------------------------------------------------------ the KV cache under autocast


@pytest.mark.slow
@pytest.mark.parametrize("target,args", [("hf:LlamaForCausalLM", LLAMA),
                                         ("hf:GPT2LMHeadModel", GPT2)])
def test_amp_cache_bytes_equal_a_real_autocast_generate(target: str,
                                                        args: dict[str, Any]) -> None:
    """Under CPU bf16 autocast Llama's keys stay fp32 (RoPE's cos/sin promote them) while
    its values are bf16; GPT-2's are both bf16. The cache convcost traces must be the one
    ``generate()`` builds, after the prefill and at the end."""
    model = _cpu(target, args)
    prefill, _ = _real(model, 2, 4, 1, amp=True)
    final, _ = _real(model, 2, 4, 4, amp=True)
    g = analyze_generation(model, batch=2, prompt_len=4, new_tokens=4, amp="bf16")
    assert (g.kv_cache_prefill_bytes, g.kv_cache_final_bytes) == (prefill, final)
    assert g.kv_cache_token_bytes == (final - prefill) // 3
    if target == "hf:LlamaForCausalLM":
        # by hand: 2 layers x batch 2 x 2 KV heads x 16 head dims x (4 B keys + 2 B values)
        assert g.kv_cache_token_bytes == 2 * 2 * 2 * 16 * (4 + 2) == 768
        # the last step (cache length 6) appends to each layer's cache: torch.cat writes
        # batch 2 x 2 heads x 7 positions x 16 of fp32 keys and of bf16 values
        last = g.steps[-1]
        assert last.cache_len == 6
        cats = sorted((o.dtype, o.written) for o in last.result.ops
                      if o.name == "cat.default" and o.written in (1792, 896))
        assert cats == ([("bfloat16", 2 * 2 * 7 * 16 * 2)] * 2
                        + [("float32", 2 * 2 * 7 * 16 * 4)] * 2)
    else:
        # 2 layers x batch 2 x 32 channels x (2 B + 2 B)
        assert g.kv_cache_token_bytes == 2 * 2 * 32 * 4 == 512


# ------------------------------------------------------------ sliding-window caches


@pytest.mark.slow
def test_sliding_window_cache_follows_a_real_mistral_generate() -> None:
    """A Mistral with ``sliding_window=5``: ``DynamicSlidingWindowLayer`` keeps the last
    ``window - 1 = 4`` positions. Each traced step's cache bytes equal the cache a real
    ``generate()`` of that many tokens returns, and the MACs of the whole generation equal
    the real run's; the extrapolated totals (cut where the window fills) equal tracing every
    step."""
    model = _cpu("hf:MistralForCausalLM", MISTRAL)
    every = analyze_generation(model, batch=2, prompt_len=3, new_tokens=9, exhaustive=True)
    assert every.sliding_windows == ((5, 2),)
    for s in every.steps:  # the step at cache length L is the (L - 3 + 2)-th new token
        assert s.cache_bytes == _real(model, 2, 3, s.cache_len - 3 + 2)[0], s.cache_len
    final, macs = _real(model, 2, 3, 9)
    # by hand: 4 positions x 2 layers x batch 2 x 2 heads x 16 x (4 + 4) B
    assert every.kv_cache_final_bytes == final == 4 * 2 * 2 * 2 * 16 * 8
    assert every.total.macs == macs
    quick = analyze_generation(model, batch=2, prompt_len=3, new_tokens=9)
    assert quick.extrapolated and [s.cache_len for s in quick.steps] == [3, 4, 5, 7, 10]
    assert quick.decode == every.decode
    assert quick.decode_bytes_moved == every.decode_bytes_moved


def test_gemma2_alternating_window_and_full_layers() -> None:
    """Gemma2 alternates sliding-window and full-attention layers (its defaults): the cache
    at the end equals a real ``generate()``'s."""
    args = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                num_attention_heads=2, num_key_value_heads=1, head_dim=16, vocab_size=100,
                sliding_window=4)
    model = _cpu("hf:Gemma2ForCausalLM", args)
    g = analyze_generation(model, prompt_len=3, new_tokens=5)
    assert g.sliding_windows == ((4, 1),) and g.cache_layers == 2
    assert g.kv_cache_final_bytes == _real(model, 1, 3, 5)[0]


def test_mistral_with_its_default_window_generates() -> None:
    model = build_target("hf:MistralForCausalLM", LLAMA).model
    g = analyze_generation(model, prompt_len=6, new_tokens=3)
    assert g.sliding_windows == ((4096, 2),)
    # no window is full: the cache grows one position per step as a full one
    assert g.kv_cache_final_bytes - g.kv_cache_prefill_bytes == 2 * g.kv_cache_token_bytes


# ------------------------------------------------------------ position limits


def test_gpt2_position_limit_is_a_real_runs_index_error() -> None:
    model = _cpu("hf:GPT2LMHeadModel", GPT2)
    assert position_limit(model) == ("n_positions", 16)
    _real(model, 1, 10, 7)  # 10 + 7 - 1 = 16 positions: runs
    with pytest.raises(IndexError):
        _real(model, 1, 10, 8)  # 17 positions
    analyze_generation(model, prompt_len=10, new_tokens=7)
    with pytest.raises(SpecError, match=r"^new_tokens: got 8; .*n_positions = 16.*at most 7"):
        analyze_generation(model, prompt_len=10, new_tokens=8)
    with pytest.raises(SpecError, match=r"^prompt_len: got 17; "):
        analyze_generation(model, prompt_len=17, new_tokens=1)
    with pytest.raises(IndexError):
        with torch.no_grad():
            model(torch.zeros(1, 17, dtype=torch.long))


def test_which_architectures_have_a_position_limit() -> None:
    def limit(target: str, **args: Any) -> Any:
        return position_limit(build_target(target, args).model)

    assert limit("hf:OPTForCausalLM", num_hidden_layers=1, hidden_size=16, ffn_dim=32,
                 num_attention_heads=2, vocab_size=100, word_embed_proj_dim=16,
                 max_position_embeddings=20) == ("max_position_embeddings", 20)
    assert limit("hf:BertForMaskedLM", num_hidden_layers=1, hidden_size=16,
                 intermediate_size=32, num_attention_heads=2, vocab_size=100,
                 max_position_embeddings=24) == ("max_position_embeddings", 24)
    assert limit("hf:LlamaForCausalLM", **LLAMA) is None  # RoPE: none


def test_opt_position_limit_counts_its_offset() -> None:
    """OPT's table has 2 rows more than ``max_position_embeddings`` (positions start at 2):
    a real run of 5 + 4 - 1 = 8 positions works, 9 is an IndexError."""
    model = _cpu("hf:OPTForCausalLM", dict(
        num_hidden_layers=1, hidden_size=16, ffn_dim=32, num_attention_heads=2,
        vocab_size=100, word_embed_proj_dim=16, max_position_embeddings=8))
    _real(model, 1, 5, 4)
    with pytest.raises(IndexError):
        _real(model, 1, 5, 5)
    analyze_generation(model, prompt_len=5, new_tokens=4)
    with pytest.raises(SpecError, match=r"^new_tokens: .*max_position_embeddings = 8"):
        analyze_generation(model, prompt_len=5, new_tokens=5)


def test_encoder_decoder_generation_is_refused() -> None:
    model = build_target("hf:T5ForConditionalGeneration", dict(
        num_layers=1, d_model=16, d_ff=32, num_heads=2, d_kv=8, vocab_size=100)).model
    with pytest.raises(SpecError, match=r"^model: .*encoder-decoder"):
        analyze_generation(model, prompt_len=4, new_tokens=2)


# ------------------------------------------------------------ the API: device, errors


@pytest.fixture(scope="module")
def llama() -> Any:
    return build_target("hf:LlamaForCausalLM", LLAMA).model


def test_device_argument_gives_the_cli_estimate(llama: Any) -> None:
    g = analyze_generation(llama, prompt_len=5, new_tokens=3, device="h100-sxm")
    assert g.timing is not None and g.timing.device == "h100-sxm"
    assert g.prefill.dispatch == "cuda"  # a GPU device traces on its dispatch path
    again = generation_time(g, PRESETS["h100-sxm"])
    assert g.timing.decode_s == pytest.approx(again.decode_s)
    assert g.timing.memory is not None and g.timing.memory.fits
    d = json.loads(render(g, "json"))
    assert d["device"] == "h100-sxm" and d["decode"]["time_s"] == pytest.approx(again.decode_s)
    mem = d["hardware"]["memory"]
    # by hand: 86,848 float32 parameters + the 64 B rotary buffer
    assert mem["weights_bytes"] == 86_848 * 4 + 64
    assert mem["usable_bytes"] == mem["capacity_bytes"] - mem["reserve_bytes"]
    assert mem["fits"] is True


@pytest.mark.parametrize("kwargs,field", [
    (dict(device=123), "device"),
    (dict(device="no-such-gpu"), "device"),
    (dict(stack="pytorch-2.4"), "stack"),
    (dict(tf32=True), "tf32"),
    (dict(prompt_len=0), "prompt_len"),
    (dict(new_tokens=2.5), "new_tokens"),
])
def test_api_errors_name_the_argument(llama: Any, kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"prompt_len": 4, "new_tokens": 2, **kwargs}
    with pytest.raises(SpecError) as e:
        analyze_generation(llama, **args)
    assert e.value.field == field and "--" not in str(e.value)


# ------------------------------------------------------------ views


@pytest.fixture(scope="module")
def gen() -> tuple[GenerationResult, int]:
    model = _cpu("hf:LlamaForCausalLM", LLAMA)
    return analyze_generation(model, batch=2, prompt_len=5, new_tokens=6), _real(model, 2, 5, 6)[1]


def test_to_pandas_rows_add_up_to_a_real_generate(gen: tuple[GenerationResult, int]) -> None:
    g, real_macs = gen
    df = g.to_pandas()
    assert list(df.index) == ["prefill", "decode step at cache length 5",
                              "decode step at cache length 7",
                              "decode step at cache length 9", "decode, all 5 steps"]
    assert df.loc["prefill", "macs"] + df.loc["decode, all 5 steps", "macs"] == real_macs
    assert df.loc["decode, all 5 steps", "kv_cache_bytes_after"] == g.kv_cache_final_bytes
    assert df["time_s"].isna().all()


def test_render_formats_and_notebook(gen: tuple[GenerationResult, int]) -> None:
    g, _ = gen
    assert render(g, "table") == g.render() == "\n".join(generation_lines(g, None)) + "\n"
    assert json.loads(g.render("json"))["kind"] == "generation"
    md = g.render("markdown")
    assert md.startswith("**") and "| phase | macs |" in md and "decode, all 5 steps" in md
    html = g._repr_html_()
    assert html.startswith("<div class='convcost'>") and "<table" in html and "KV cache" in html
    with pytest.raises(SpecError, match=r"^format: "):
        g.render("csv")


def test_device_argument_and_a_forced_cpu_path(llama: Any) -> None:
    g = analyze_generation(llama, prompt_len=5, new_tokens=2, device="a100-80gb",
                           dispatch="cpu")
    assert g.prefill.dispatch == "cpu" and g.timing is not None
    with pytest.raises(SpecError) as e:
        analyze_generation(llama, prompt_len=5, new_tokens=2, device="cpu", dispatch="cuda")
    assert e.value.field == "dispatch"
