"""The CUDA dispatch path (issue 23): a step traced on fake CUDA tensors with the kernels CUDA
PyTorch would pick, on a machine without a GPU.

Expected saved bytes are derived by hand from PyTorch's kernel sources (the shapes and dtypes
each kernel's autograd node saves, ``tools/autograd/derivatives.yaml``, and the outputs its meta
kernel declares, ``torch/_meta_registrations.py``), written as literals with their arithmetic.
The Python copy of the autograd engine (the CUDA path's backward) is checked against PyTorch's
own engine on the CPU path: the same ops, in the same order, from the same modules, and the same
memory peak.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

import convcost
from convcost.errors import SpecError
from convcost.frontends.torch_trace import trace_model
from convcost.frontends.torch_trace.cuda import CudaTarget
from convcost.frontends.torch_trace.sdpa import Query, choose
from convcost.memory.model import run_memory
from convcost.spec import InputSpec
from shared import CliRun


class Attention(nn.Module):
    """``scaled_dot_product_attention`` of its three inputs ((B, H, S, D), or (B, S, H, D)
    transposed to it, the layout projections give)."""

    def __init__(self, dropout: float = 0.0, causal: bool = True, bshd: bool = False) -> None:
        super().__init__()
        self.dropout, self.causal, self.bshd = dropout, causal, bshd

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.bshd:
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout,
                                              is_causal=self.causal)


def _attention(m: nn.Module, shape: tuple[int, ...], dtype: str, cc: str) -> convcost.ModelResult:
    x = [InputSpec(shape, dtype, requires_grad=True)] * 3
    return convcost.analyze(m, x, dispatch="cuda", compute_capability=cc)


def _op_names(r: convcost.ModelResult) -> set[str]:
    return {o.name for o in r.ops}


# --------------------------------------------------------------------------- targets


def test_dropout_saves_a_bool_mask_on_the_cuda_path() -> None:
    """Linear -> Dropout(0.1) -> Linear on 64x1024 fp32: CUDA's native_dropout keeps a bool
    mask, 64*1024*1 = 65,536 B; the CPU kernel a mask in the input's dtype, 64*1024*4 =
    262,144 B."""
    m = nn.Sequential(nn.Linear(1024, 1024), nn.Dropout(0.1), nn.Linear(1024, 1024))
    cuda = convcost.analyze(m, (64, 1024), dispatch="cuda")
    cpu = convcost.analyze(m, (64, 1024))
    assert cuda.layer("1").saved_bytes == 65_536
    assert cpu.layer("1").saved_bytes == 262_144
    assert (cuda.dispatch, cpu.dispatch) == ("cuda", "cpu")
    assert dict(cuda.backends)["dropout"] == "native_dropout"
    assert cpu.backends == ()


def test_flash_attention_saves_output_logsumexp_and_rng_state() -> None:
    """bf16, B 2, H 4, S 128, D 64, dropout 0.1, causal, compute capability 9.0: cuDNN refuses
    the dropout (not a multiple of 1/16), flash takes it. Its node saves the output
    (2*4*128*64*2 = 131,072 B), the float32 logsumexp (B, H, S): 2*4*128*4 = 4,096 B, the
    RNG state (2 x uint64 = 16 B) and an unused uint64 scalar (8 B), besides q, k, v, which are
    the inputs: 135,192 B. No bernoulli over B*H*S*S."""
    r = _attention(Attention(0.1), (2, 4, 128, 64), "bfloat16", "9.0")
    assert dict(r.backends)["sdpa"] == "flash"
    assert r.memory.saved_activations_bytes == 131_072 + 4_096 + 16 + 8
    names = _op_names(r)
    assert "_scaled_dot_product_flash_attention.default" in names
    assert "_scaled_dot_product_flash_attention_backward.default" in names
    assert not any("bernoulli" in n or "softmax" in n for n in names)


def test_memory_efficient_attention_saves_padded_logsumexp() -> None:
    """fp32 on compute capability 8.0: flash needs half precision, the memory-efficient kernel
    takes fp32. S 100: output 2*4*100*64*4 = 204,800 B; logsumexp (B, H, ceil(S/32)*32) fp32 =
    2*4*128*4 = 4,096 B; the philox seed and offset, int64 scalars, 16 B: 208,912 B."""
    r = _attention(Attention(), (2, 4, 100, 64), "float32", "8.0")
    assert dict(r.backends)["sdpa"] == "efficient"
    assert r.memory.saved_activations_bytes == 204_800 + 4_096 + 16
    assert "_scaled_dot_product_efficient_attention_backward.default" in _op_names(r)


def test_cudnn_attention_needs_the_projection_layout() -> None:
    """On 9.0 cuDNN comes first, but only for q, k, v laid out as (B, S, H, D) transposed (or
    packed QKV): contiguous (B, H, S, D) inputs go to flash. cuDNN saves the output (131,072 B),
    a float32 logsumexp (B, H, S, 1): 4,096 B, and the philox seed and offset (16 B)."""
    cudnn = _attention(Attention(bshd=True), (2, 128, 4, 64), "bfloat16", "9.0")
    assert dict(cudnn.backends)["sdpa"] == "cudnn"
    assert cudnn.memory.saved_activations_bytes == 131_072 + 4_096 + 16
    flash = _attention(Attention(), (2, 4, 128, 64), "bfloat16", "9.0")
    assert dict(flash.backends)["sdpa"] == "flash"
    # before 9.0 flash comes first; on 7.0 (V100) bf16 has no fused kernel: the math path
    assert dict(_attention(Attention(bshd=True), (2, 128, 4, 64), "bfloat16",
                           "8.0").backends)["sdpa"] == "flash"
    assert dict(_attention(Attention(), (2, 4, 128, 64), "bfloat16", "7.0").backends)[
        "sdpa"] == "math"


@pytest.mark.parametrize(("q", "dtype", "cc", "want"), [
    # head dim 257: no fused kernel takes it in half precision but memory-efficient's
    # alignment (multiple of 8) fails too -> math
    (((2, 4, 64, 257),) * 3, "float16", (8, 0), "math"),
    # a mask rules flash out; memory-efficient takes masks
    (((2, 4, 64, 64),) * 3, "float16", (8, 0), "efficient"),
    # GQA without enable_gqa: heads differ -> math
    (((2, 8, 64, 64), (2, 2, 64, 64), (2, 2, 64, 64)), "float16", (8, 0), "math"),
    # head dim 224 training on sm 8.6 refuses flash (backward limit); efficient takes it
    (((2, 4, 64, 224),) * 3, "float16", (8, 6), "efficient"),
])
def test_sdpa_rules(q: tuple[tuple[int, ...], ...], dtype: str, cc: tuple[int, int],
                    want: str) -> None:
    """Single filters of sdp_utils.cpp (the cases are built so that one filter decides)."""
    def strides(s: tuple[int, ...]) -> tuple[int, ...]:
        return (s[1] * s[2] * s[3], s[2] * s[3], s[3], 1)

    mask = want == "efficient" and q[0][3] == 64
    p = Query(q[0], q[1], q[2], dtype, (strides(q[0]), strides(q[1]), strides(q[2])), mask,
              0.0, False, False, True)
    assert choose(p, cc) == want


def test_cudnn_batch_norm_saves_statistics_and_reserve() -> None:
    """BatchNorm2d(8) on 4x8x16x16 fp32, training: cudnn_batch_norm saves save_mean and
    save_invstd (8 float32 each: 32 + 32 B) and a reserve buffer (cuDNN's reserve for plain
    batch norm; 0 B as PyTorch's fake kernel declares it); bf16 input is never cuDNN's
    (_select_batch_norm_backend), so it runs PyTorch's native kernel."""
    bn = nn.BatchNorm2d(8)
    r = convcost.analyze(bn, InputSpec((4, 8, 16, 16), "float32", requires_grad=True),
                         dispatch="cuda")
    assert dict(r.backends)["batch_norm"] == "cudnn"
    assert r.memory.saved_activations_bytes == 32 + 32
    assert {"cudnn_batch_norm.default", "cudnn_batch_norm_backward.default"} <= _op_names(r)
    half = convcost.analyze(bn, "4x8x16x16:grad", dispatch="cuda", dtype="bfloat16")
    assert dict(half.backends)["batch_norm"] == "native"


def test_fused_adamw_state() -> None:
    """AdamW(fused=True) on Linear(64, 64): one _fused_adamw_ per step; state exp_avg and
    exp_avg_sq per parameter (2 * (64*64 + 64) * 4 = 33,280 B) and a float32 step tensor per
    parameter on the device (2 * 4 = 8 B): 33,288 B."""
    r = convcost.analyze(nn.Linear(64, 64), (8, 64), dispatch="cuda", optimizer="adamw",
                         optimizer_fused=True)
    assert r.optimizer_fused and dict(r.backends)["optimizer"] == "fused"
    assert r.memory.optimizer_bytes == 2 * (64 * 64 + 64) * 4 + 2 * 4
    assert "_fused_adamw_.default" in _op_names(r)
    assert r.unsupported_ops == ()


def test_same_cnn_has_equal_counts_on_both_paths() -> None:
    """Convolutions, cuDNN batch norm and the rest count the same arithmetic on both paths."""
    import torchvision

    m = torchvision.models.resnet18()
    cpu = convcost.analyze(m, (2, 3, 64, 64))
    cuda = convcost.analyze(m, (2, 3, 64, 64), dispatch="cuda")
    assert cuda.totals.forward == cpu.totals.forward
    assert cuda.totals.backward == cpu.totals.backward
    assert cuda.unsupported_ops == () and cuda.decomposed_ops == ()


def test_gpt2_bf16_with_attention_dropout_runs_a_fused_kernel_and_saves_less() -> None:
    """The issue's target: on an H100 preset a bf16 GPT-2 step with attention dropout traces a
    fused SDPA kernel, no bernoulli over B*H*T*T, and saves less than the CPU path."""
    from transformers import GPT2Config, GPT2LMHeadModel

    g = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=128, n_head=4, n_positions=256,
                                   vocab_size=1000, attn_pdrop=0.1))
    cpu = convcost.analyze(g, "2x256:int64", dtype="bfloat16")
    cuda = convcost.analyze(g, "2x256:int64", dtype="bfloat16", dispatch="cuda",
                            compute_capability="9.0")
    assert dict(cuda.backends)["sdpa"] == "flash"
    assert not any("bernoulli" in o.name for o in cuda.ops)
    assert any("bernoulli" in o.name for o in cpu.ops)
    assert cuda.memory.saved_activations_bytes < cpu.memory.saved_activations_bytes
    # the same forward arithmetic; flash's backward recomputes QK^T (its own algorithm)
    assert cuda.totals.forward.macs == cpu.totals.forward.macs


# --------------------------------------------------------------------------- the engine


def _run_records(trace: object) -> list[tuple[object, ...]]:
    return [(o.call, o.phase, o.module, o.reads, o.writes, o.accumulates)
            for o in trace.ops]  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", ["resnet18-sgd", "checkpoint", "vit-amp"])
def test_python_engine_runs_what_pytorchs_engine_runs(case: str) -> None:
    """On the CPU path both engines can run: the same ops from the same modules in the same
    order, the same saved storages, the same peak (the Python engine releases a node's saved
    tensors when the node dies, right after it has run)."""
    import torchvision

    kw: dict[str, object] = {}
    if case == "resnet18-sgd":
        m: nn.Module = torchvision.models.resnet18()
        x = [InputSpec((2, 3, 64, 64), "float32")]
        kw = {"optimizer": "sgd"}
    elif case == "checkpoint":
        m = torchvision.models.resnet18()
        x = [InputSpec((2, 3, 64, 64), "float32")]
        kw = {"checkpoint": re.compile(r"layer\d$")}
    else:
        m = torchvision.models.VisionTransformer(32, 16, 2, 4, 64, 128)
        x = [InputSpec((2, 3, 32, 32), "float32")]
        kw = {"amp": torch.bfloat16}
    theirs = trace_model(m, x, **kw)  # type: ignore[arg-type]
    ours = trace_model(m, x, python_engine=True, **kw)  # type: ignore[arg-type]
    assert _run_records(ours) == _run_records(theirs)
    assert ours.saved == theirs.saved
    assert [s.alloc for s in ours.storages] == [s.alloc for s in theirs.storages]
    a, b = run_memory(ours), run_memory(theirs)
    assert (a.peak, a.steady_peak) == (b.peak, b.steady_peak)


# --------------------------------------------------------------------------- interface


def test_dispatch_arguments_are_checked() -> None:
    m = nn.Linear(4, 4)
    with pytest.raises(SpecError, match="dispatch: got 'gpu'"):
        convcost.analyze(m, (2, 4), dispatch="gpu")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="compute_capability: got '9'"):
        convcost.analyze(m, (2, 4), dispatch="cuda", compute_capability="9")
    with pytest.raises(SpecError, match=r"compute_capability.*no effect without dispatch"):
        convcost.analyze(m, (2, 4), compute_capability="9.0")
    with pytest.raises(SpecError, match=r"optimizer_fused.*no effect"):
        convcost.analyze(m, (2, 4), optimizer_fused=True)
    r = convcost.analyze(m, (2, 4), dispatch="cuda")
    d = r.to_dict()
    assert (d["dispatch"], d["compute_capability"]) == ("cuda", "9.0")
    assert convcost.analyze(m, (2, 4)).to_dict()["dispatch"] == "cpu"


def test_cli_dispatch(cli_once: CliRun) -> None:
    import json

    def run(args: tuple[str, ...]) -> tuple[int, str, str]:
        return cli_once(list(args))

    code, out, err = run(("model", "torchvision:resnet18", "--input", "2x3x64x64",
                          "--device", "a100-80gb", "--json"))
    assert code == 0, err
    d = json.loads(out)
    assert d["dispatch"] == "cuda" and d["compute_capability"] == "8.0"
    assert d["backends"]["batch_norm"] == "cudnn"
    code, out, err = run(("model", "torchvision:resnet18", "--input", "2x3x64x64",
                          "--device", "a100-80gb", "--dispatch", "cpu", "--depth", "0"))
    assert code == 0, err
    assert "dispatch  cpu (forced)" in out
    code, out, err = run(("model", "torchvision:resnet18", "--input", "2x3x64x64",
                          "--device", "h100-sxm", "--depth", "0"))
    assert "dispatch  cuda (fake CUDA tensors through PyTorch's CUDA dispatch, compute " \
           "capability 9.0): batch_norm cudnn" in out
    code, out, err = run(("model", "torchvision:resnet18", "--input", "2x3x64x64",
                          "--device", "cpu", "--dispatch", "cuda"))
    assert code == 2 and err.count("\n") == 1 and "--dispatch: got 'cuda'" in err


# --------------------------------------------------------------------------- coverage


#: One classifier per torchvision family (every block type and op the families use): the
#: default run. ``pytest --full-sweep`` (or CONVCOST_FULL_SWEEP=1) traces all of them (about
#: 80 models, 2.5 minutes on 2 cores).
FAMILIES = ("alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s",
            "googlenet", "inception_v3", "maxvit_t", "mnasnet0_5", "mobilenet_v2",
            "mobilenet_v3_small", "regnet_x_400mf", "regnet_y_400mf", "resnet18",
            "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_1", "swin_t", "swin_v2_t",
            "vgg11_bn", "vit_b_32", "wide_resnet50_2")


def _classification_models(full: bool) -> list[str]:
    import torchvision

    every = sorted(torchvision.models.list_models(module=torchvision.models))
    return every if full else [n for n in every if n in FAMILIES]


@pytest.mark.sweep
@pytest.mark.slow
def test_every_torchvision_classifier_traces_on_the_cuda_path(full_sweep: bool) -> None:
    """Torchvision classification models (one per family, or all about 80 with
    ``--full-sweep``): one training step traced on the CUDA
    path (batch 2; forward and backward: the optimizer's ops are the same for every model and
    are covered above) runs every op on fake CUDA tensors (no CPU
    fallback) and every op it records has a formula or a decomposition into ops that have
    one (what ``analyze`` would report as unsupported). The arithmetic's independence of the
    path is checked on whole analyses above (resnet18, the transformers architectures)."""
    from convcost.formulas.catalog import formula_registry
    from convcost.frontends.targets import build_target
    from convcost.model import summarize

    registry = formula_registry(None)
    failed = []
    names = _classification_models(full_sweep)
    assert full_sweep or len(names) == len(FAMILIES)  # a renamed model fails, not vanishes
    for name in names:
        size = 299 if name == "inception_v3" else 224
        m = build_target(f"torchvision:{name}", {}).model  # on the meta device
        trace = trace_model(m, [InputSpec((2, 3, size, size), "float32")],
                            cuda=CudaTarget((9, 0)), needs_formula=registry.missing)
        missing = summarize(trace, registry=registry).unsupported_ops
        backends = dict(trace.backends)
        if missing or "cpu_fallback" in backends or trace.dispatch != "cuda":
            failed.append((name, missing, backends))
    assert failed == []


HF_CASES = [
    ("GPT2LMHeadModel", {"n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 256}),
    ("LlamaForCausalLM", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                          "num_attention_heads": 4, "num_key_value_heads": 2,
                          "vocab_size": 256}),
    ("MistralForCausalLM", {"num_hidden_layers": 2, "hidden_size": 64,
                            "intermediate_size": 128, "num_attention_heads": 4,
                            "num_key_value_heads": 2, "vocab_size": 256}),
    ("Qwen2ForCausalLM", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                          "num_attention_heads": 4, "num_key_value_heads": 2,
                          "vocab_size": 256}),
    ("MixtralForCausalLM", {"num_hidden_layers": 2, "hidden_size": 64,
                            "intermediate_size": 128, "num_attention_heads": 4,
                            "num_key_value_heads": 2, "vocab_size": 256,
                            "num_local_experts": 4}),
    ("OPTForCausalLM", {"num_hidden_layers": 2, "hidden_size": 64, "ffn_dim": 128,
                        "num_attention_heads": 4, "vocab_size": 256,
                        "word_embed_proj_dim": 64}),
    ("BloomModel", {"n_layer": 2, "hidden_size": 64, "n_head": 4, "vocab_size": 256}),
    ("BertModel", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                   "num_attention_heads": 4, "vocab_size": 256}),
    ("RobertaModel", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                      "num_attention_heads": 4, "vocab_size": 256}),
    ("DistilBertModel", {"n_layers": 2, "dim": 64, "hidden_dim": 128, "n_heads": 4,
                         "vocab_size": 256}),
    ("T5ForConditionalGeneration", {"num_layers": 2, "d_model": 64, "d_ff": 128,
                                    "num_heads": 4, "d_kv": 16, "vocab_size": 256}),
    ("ViTModel", {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                  "num_attention_heads": 4, "image_size": 32, "patch_size": 8}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "args"), HF_CASES, ids=[a for a, _ in HF_CASES])
def test_transformers_architectures_trace_on_the_cuda_path(arch: str,
                                                           args: dict[str, object]) -> None:
    """Decoders (GPT-2, Llama, Mistral, Qwen2, OPT, BLOOM), the MoE Mixtral, encoders (BERT,
    RoBERTa, DistilBERT), the encoder-decoder T5 and ViT: a bf16-AMP training step with AdamW
    on the CUDA path has no unsupported op and the CPU path's forward MACs."""
    from convcost.frontends.hf import load_hf

    model, _ = load_hf(arch, args)
    if arch.startswith("T5"):
        pos: list[object] = []
        kw: dict[str, object] | None = {"input_ids": InputSpec((2, 32), "int64"),
                                        "decoder_input_ids": InputSpec((2, 16), "int64")}
    else:
        pos, kw = ["2x3x32x32" if arch == "ViTModel" else "2x32:int64"], None
    cuda = convcost.analyze(model, pos, kwargs=kw, dispatch="cuda", amp="bf16",
                            optimizer="adamw", optimizer_foreach=True)
    cpu = convcost.analyze(model, pos, kwargs=kw, amp="bf16", mode="inference")
    assert cuda.unsupported_ops == ()
    assert "cpu_fallback" not in dict(cuda.backends)
    assert cuda.totals.forward.macs == cpu.totals.forward.macs


def test_an_op_without_a_fake_cuda_kernel_falls_back_alone_and_is_reported() -> None:
    """An op whose fake kernel refuses CUDA tensors runs on fake CPU copies, its result is
    moved back to the CUDA device (the next ops run on CUDA), and the report names it."""
    from convcost.ops import OpCost

    lib = "convcost_test_fallback"

    @torch.library.custom_op(f"{lib}::double", mutates_args=())  # type: ignore[misc]
    def double(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @double.register_fake  # type: ignore[misc]
    def _(x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cuda":
            raise NotImplementedError("no CUDA kernel for double")
        return torch.empty_like(x)

    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(double(x))

    def cost(call: object, counting: str) -> OpCost:
        return OpCost(convcost.Cost(mults=2 * 8))

    r = convcost.analyze(M(), (2, 4), mode="inference", dispatch="cuda",
                         formulas={f"{lib}::double.default": cost})
    assert dict(r.backends)["cpu_fallback"] == f"{lib}.double.default ×1"
    assert r.unsupported_ops == ()
    assert r.totals.forward.mults == 16 + 0  # relu: comparisons only


def test_checkpointed_regions_recompute_under_the_steps_autocast() -> None:
    """PyTorch recomputes a checkpointed region under the forward's autocast state through
    torch.amp.autocast("cuda"), which turns itself off without a GPU; the CUDA path switches
    it on again, so the recomputation is the forward again (same MACs, bf16 convolutions)."""
    import torchvision

    m = torchvision.models.resnet18()
    r = convcost.analyze(m, (2, 3, 64, 64), dispatch="cuda", amp="bf16",
                         checkpoint=r"layer4\.1$")
    assert r.totals.recompute.macs == r.layer("layer4.1").forward.macs > 0


def test_multihead_attention_reaches_the_fused_kernel() -> None:
    """nn.MultiheadAttention calls SDPA from inside F.multi_head_attention_forward, itself a
    torch function (a torch-function mode does not see nested calls): a ViT block in bf16
    autocast on 8.0 runs flash, and saves what the CPU path's flash kernel saves plus flash's
    RNG state (16 B) and its unused scalar (8 B)."""
    import torchvision

    m = torchvision.models.VisionTransformer(32, 16, 1, 4, 64, 128)
    cpu = convcost.analyze(m, (2, 3, 32, 32), amp="bf16")
    cuda = convcost.analyze(m, (2, 3, 32, 32), amp="bf16", dispatch="cuda",
                            compute_capability="8.0")
    assert dict(cuda.backends)["sdpa"] == "flash"
    path = "encoder.layers.encoder_layer_0.self_attention"
    assert cuda.layer(path).saved_bytes == cpu.layer(path).saved_bytes + 16 + 8
