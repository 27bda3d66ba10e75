"""Hugging Face models on fake tensors get the attention masks a real run builds, and the
attention implementation transformers itself picks; expected values come from real CPU runs
(plain PyTorch: ``saved_tensors_hooks`` and a dispatch mode, nothing of convcost)."""

from __future__ import annotations

import importlib
import socket
from typing import Any

import pytest

torch = importlib.import_module("torch")
transformers = pytest.importorskip("transformers")

from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from convcost import analyze  # noqa: E402
from convcost.errors import SpecError  # noqa: E402
from convcost.frontends import hf_masks  # noqa: E402
from convcost.frontends.hf import attention_implementation, load_hf  # noqa: E402
from convcost.frontends.torch_trace import trace_model  # noqa: E402
from convcost.spec import InputSpec  # noqa: E402

SEQ = 192
BATCH = 2
#: Tiny configs without dropout (with dropout, CPU SDPA takes its math path, which builds its
#: own causal mask whatever it is given) and without a cache, so that transformers asks
#: whether the positions hold packed sequences: the question fake tensors cannot answer.
CONFIGS: dict[str, dict[str, Any]] = {
    "GPT2LMHeadModel": dict(n_layer=2, n_embd=64, n_head=4, vocab_size=256, use_cache=False,
                            attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0),
    "LlamaForCausalLM": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                             num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
                             use_cache=False),
    "BertModel": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                      num_attention_heads=4, vocab_size=256, attention_probs_dropout_prob=0.0,
                      hidden_dropout_prob=0.0),
}
_SDPA_OPS = ("_scaled_dot_product", "scaled_dot_product")


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", fail)


class _SdpaCalls(TorchDispatchMode):
    """Records, for every SDPA kernel call, whether it got a mask and ``is_causal``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.__name__.startswith(_SDPA_OPS) and "backward" not in func.__name__:
            bound = dict(zip([a.name for a in func._schema.arguments], args)) | kwargs
            self.calls.append((bound.get("attn_mask") is not None,
                               bool(bound.get("is_causal", False))))
        return func(*args, **kwargs)


def _real_run(model: Any, inputs: dict[str, Any]) -> tuple[int, list[tuple[bool, bool]]]:
    """Bytes of the activations a real training forward saves for the backward (each storage
    once; parameters, buffers and inputs excluded) and its SDPA calls."""
    own = {t.untyped_storage().data_ptr()
           for t in [*model.parameters(), *model.buffers(), *inputs.values()]}
    saved: dict[int, int] = {}

    def pack(t: Any) -> Any:
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            saved[s.data_ptr()] = s.nbytes()
        return t

    model.train()
    calls = _SdpaCalls()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), calls:
        out = model(**inputs)
    del out
    return sum(saved.values()), calls.calls


def _traced_sdpa_calls(model: Any, specs: dict[str, InputSpec]) -> list[tuple[bool, bool]]:
    trace = trace_model(model, [], specs, mode="train")
    calls = []
    for op in trace.ops:
        if op.phase == "forward" and op.call.name.startswith(_SDPA_OPS):
            named = dict(op.call.named())
            calls.append((named.get("attn_mask") is not None, bool(named.get("is_causal"))))
    return calls


@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "padding-mask"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_saved_activations_equal_a_real_forward(arch: str, attn: str, padded: bool) -> None:
    torch.manual_seed(0)
    model, where = load_hf(arch, dict(CONFIGS[arch], attn_implementation=attn), meta=False)
    assert where == "cpu" and attention_implementation(model) == attn
    inputs = {"input_ids": torch.randint(0, 256, (BATCH, SEQ))}
    specs = {"input_ids": InputSpec((BATCH, SEQ), "int64")}
    if padded:  # the second sequence is right-padded: a real run needs the mask
        mask = torch.ones(BATCH, SEQ, dtype=torch.int64)
        mask[1, SEQ // 3:] = 0
        inputs["attention_mask"] = mask
        specs["attention_mask"] = InputSpec((BATCH, SEQ), "int64")
    real_saved, real_calls = _real_run(model, inputs)
    r = analyze(model, [], kwargs=specs, mode="train")
    assert r.memory.saved_activations_bytes == real_saved
    assert r.unsupported_ops == ()
    if attn == "sdpa":
        assert len(real_calls) == 2  # one per layer
        if not padded and arch != "BertModel":  # what a real run without padding does
            assert real_calls == [(False, True)] * 2
        assert _traced_sdpa_calls(model, specs) == real_calls


def test_without_the_correction_fake_tensors_materialise_the_mask() -> None:
    """The cause: transformers cannot read fake position ids, so it assumes packing and
    builds a (b, 1, s, s) mask; a real run of the same positions finds none."""
    masking = importlib.import_module("transformers.masking_utils")
    positions = torch.arange(SEQ).unsqueeze(0).expand(BATCH, -1)
    assert masking.find_packed_sequence_indices(positions) is None
    with FakeTensorMode():
        fake = torch.empty(BATCH, SEQ, dtype=torch.int64)
        assert masking.find_packed_sequence_indices(fake) is not None
        with hf_masks.real_masks():
            assert masking.find_packed_sequence_indices(fake) is None
    with hf_masks.real_masks():  # real tensors: transformers' own answer
        packed = torch.tensor([[0, 1, 2, 0, 1, 2]])
        found = masking.find_packed_sequence_indices(packed)
        assert found is not None and found.tolist() == [[0, 0, 0, 1, 1, 1]]
    assert not hf_masks.corrected()


def test_the_correction_lives_only_while_the_model_runs() -> None:
    model, _ = load_hf("LlamaForCausalLM", CONFIGS["LlamaForCausalLM"])
    reference = transformers.LlamaForCausalLM
    assert "forward" not in vars(model) and type(model).forward is reference.forward
    seen: list[bool] = []
    handle = model.model.layers[0].register_forward_pre_hook(
        lambda m, a: seen.append(hf_masks.corrected()))
    assert not hf_masks.corrected()
    analyze(model, f"1x{SEQ}:int64", mode="inference")
    assert seen == [True] and not hf_masks.corrected()

    def boom(m: Any, a: Any) -> None:
        raise RuntimeError("boom")

    handle.remove()
    handle = model.model.layers[0].register_forward_pre_hook(boom)
    with pytest.raises(Exception, match="boom"):
        analyze(model, f"1x{SEQ}:int64", mode="inference")
    handle.remove()
    assert not hf_masks.corrected()  # removed although the forward raised


# --------------------------------------------------------------------------- attention


def test_transformers_default_attention_is_used() -> None:
    bloom, where = load_hf("BloomModel", {"n_layer": 2})  # no SDPA in transformers' BLOOM
    assert where == "meta" and attention_implementation(bloom) == "eager"
    r = analyze(bloom, "1x16:int64", mode="inference")
    assert r.unsupported_ops == () and r.totals.forward.macs > 0
    llama, _ = load_hf("LlamaForCausalLM", CONFIGS["LlamaForCausalLM"])
    assert attention_implementation(llama) == "sdpa"
    eager, _ = load_hf("LlamaForCausalLM", dict(CONFIGS["LlamaForCausalLM"],
                                                attn_implementation="eager"))
    assert attention_implementation(eager) == "eager"


def test_bloom_cli_inference(capsys: pytest.CaptureFixture[str]) -> None:
    from cli_run import run

    code, out, err = run(["model", "hf:BloomModel", "--model-arg", "n_layer=2", "--input",
                          "1x16:int64", "--mode", "inference"], capsys)
    assert code == 0, err
    assert "BloomModel" in out


@pytest.mark.parametrize("value", ["flash_attention_2", "flex_attention", "paged|eager",
                                   "kernels-community/flash-attn"])
def test_untraceable_attention_is_refused_in_one_line(value: str) -> None:
    with pytest.raises(SpecError, match=r"attn_implementation.*cannot follow.*eager") as e:
        load_hf("LlamaForCausalLM", {"attn_implementation": value})
    assert "\n" not in str(e.value) and value in str(e.value)


def test_unknown_attention_is_refused() -> None:
    with pytest.raises(SpecError, match=r"model_args.*attn_implementation='flash'.*sdpa, eager"):
        load_hf("LlamaForCausalLM", {"attn_implementation": "flash"})
    with pytest.raises(SpecError, match="attn_implementation"):
        load_hf("BloomModel", {"attn_implementation": "sdpa"})  # transformers refuses it
