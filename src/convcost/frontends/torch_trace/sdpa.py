"""Which ``scaled_dot_product_attention`` kernel CUDA PyTorch runs, chosen the way PyTorch
chooses it, from the device's compute capability instead of a live GPU.

On fake tensors PyTorch cannot query the device, so its own choice
(``_fused_sdp_choice``) falls back to the math path: batched matmuls, a softmax and, with
dropout, a B×H×L×S bernoulli mask, none of which a GPU runs. :func:`choose` applies the rules
of ``aten/src/ATen/native/transformers/cuda/sdp_utils.cpp`` (``select_sdp_backend``,
``can_use_flash_attention``, ``can_use_mem_efficient_attention``,
``can_use_cudnn_attention``, read at pytorch/pytorch commit 001f694aef6f, a 2026 snapshot of
the main branch: the installed wheel, 2.14.1+cu130 with cuDNN 9.24, ships no C++ sources, so
functions are named rather than lines) and the generic checks of ``sdp_utils_cpp.h``;
:func:`run` then calls the kernel the composite ``scaled_dot_product_attention`` would call
(``aten/src/ATen/native/transformers/attention.cpp``),
so autograd saves what that kernel saves: the output and a float32 logsumexp (flash, cuDNN,
memory-efficient), the RNG seed and offset with dropout; never the probabilities.

Rules kept (each a filter of PyTorch's; a backend is taken when all of its filters pass):

* order: cuDNN, flash, memory-efficient, math when cuDNN is preferred (cuDNN > 9.15 on
  compute capability 9.x or 10.x, CUDA 13 builds: ``check_prefer_cudnn_attention``);
  otherwise flash, memory-efficient, math, cuDNN (``Context::sDPPriorityOrder``);
* every fused backend: 4-D dense inputs, last-dimension stride 1, non-empty sequences, the
  same batch size, and the same number of heads unless ``enable_gqa``;
* flash: no ``attn_mask``; head dims equal and ≤ 256; compute capability 8.0-12.1; fp16 or
  bf16; ``is_causal`` only with equal query and key lengths; on 8.6-8.9 and 12.x, training
  with head dim in (192, 224], or in (224, 256] with dropout, is refused;
* memory-efficient: compute capability 5.0-12.1; head dims divisible by the GEMM
  alignment (4 fp32 / 8 half on tensor-core archs, 1 before 8.0 in fp32); fp16, fp32 and, from
  8.0, bf16;
* cuDNN: compute capability 8.0-12.1; fp16 or bf16; dropout a multiple of 1/16; batch and
  heads ≤ 65,535; head dims multiples of 8 and ≤ 128 (≤ 256 on 9.0 and 10.x); key length ≠ 1;
  query length ≠ 1 with dropout; q, k, v in the (B, H, S, D) memory layout that comes from
  transposing (B, S, H, D), or packed QKV; in training on 9.0/10.x, head dims ≤ 128, 192/128 or
  256/256.

ROCm (AMD presets): AOTriton's flash and memory-efficient kernels, no cuDNN; flash and
memory-efficient take fp16/bf16 (memory-efficient also fp32) with head dims ≤ 256; the
architecture check is assumed to pass (AOTriton supports gfx90a and gfx942).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BACKENDS = ("flash", "efficient", "cudnn", "math")


@dataclass(frozen=True)
class Query:
    """What the choice depends on: shapes (B, H, S, D), dtypes, strides, the call's flags."""

    q: tuple[int, ...]
    k: tuple[int, ...]
    v: tuple[int, ...]
    dtype: str
    strides: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    mask: bool
    dropout: float
    causal: bool
    gqa: bool
    grad: bool


def _sm_in(cc: tuple[int, int], lo: tuple[int, int], hi: tuple[int, int]) -> bool:
    return lo <= cc <= hi


def _common(p: Query) -> bool:
    if len(p.q) != 4 or len(p.k) != 4 or len(p.v) != 4:
        return False
    if any(s[-1] != 1 for s, shape in zip(p.strides, (p.q, p.k, p.v)) if shape[-1] > 1):
        return False
    if p.q[2] == 0 or p.k[2] == 0:
        return False
    if not (p.q[0] == p.k[0] == p.v[0]):
        return False
    if p.k[1] != p.v[1]:
        return False
    if p.q[1] != p.k[1] and not (p.gqa and p.q[1] % p.k[1] == 0):
        return False
    return True


def _half(p: Query) -> bool:
    return p.dtype in ("float16", "bfloat16")


def can_flash(p: Query, cc: tuple[int, int], rocm: bool) -> bool:
    if p.mask or not _common(p):
        return False
    d = p.q[3]
    if not (d == p.k[3] == p.v[3] and d <= 256):
        return False
    if rocm:
        return _half(p)
    if not _sm_in(cc, (8, 0), (12, 1)):
        return False
    if p.grad and (_sm_in(cc, (8, 6), (8, 9)) or _sm_in(cc, (12, 0), (12, 1))):
        if not (d <= 192 or (p.dropout == 0 and d > 224)):
            return False
    if p.causal and p.q[2] != p.k[2]:
        return False
    allowed = ("float16", "bfloat16") if cc >= (8, 0) else ("float16",)
    return p.dtype in allowed


def _gemm_alignment(p: Query, cc: tuple[int, int]) -> int:
    half = _half(p)
    tensor_cores = cc >= (8, 0) or (cc >= (7, 0) and half)
    n = 4 if cc >= (8, 0) else 1
    if tensor_cores:
        n = max(n, 128 // (16 if half else 32))
    return n


def can_efficient(p: Query, cc: tuple[int, int], rocm: bool) -> bool:
    if not _common(p):
        return False
    dq, dv = p.q[3], p.v[3]
    if rocm:
        return dq <= 256 and dv <= 256 and p.dtype in ("float16", "bfloat16", "float32")
    if not _sm_in(cc, (5, 0), (12, 1)):
        return False
    a = _gemm_alignment(p, cc)
    if not (dq == p.k[3] and dq % a == 0 and dv % a == 0 and dq > 0 and dv > 0):
        return False
    allowed = ("float16", "float32", "bfloat16") if cc >= (8, 0) else ("float16", "float32")
    return p.dtype in allowed


def _cudnn_layout(p: Query) -> bool:
    def ok(shape: tuple[int, ...], stride: tuple[int, ...], packed: int) -> bool:
        _, h, s, d = shape
        return stride == (s * packed * h * d, d, packed * h * d, 1)
    q, k, v = p.strides
    plain = ok(p.q, q, 1) and ok(p.k, k, 1) and ok(p.v, v, 1)
    packed_v = ok(p.v, v, 3)
    return plain or packed_v


def can_cudnn(p: Query, cc: tuple[int, int], rocm: bool) -> bool:
    if rocm or not _common(p) or not _half(p) or not _sm_in(cc, (8, 0), (12, 1)):
        return False
    if p.dropout * 16.0 != math.floor(p.dropout * 16.0):
        return False
    b, h, s_q, d_qk = p.q
    s_k, d_v = p.k[2], p.v[3]
    if b > 65535 or h > 65535:
        return False
    sm9x = cc == (9, 0) or cc[0] == 10
    limit = 256 if sm9x else 128
    if d_qk > limit or d_v > limit or d_qk % 8 or d_v % 8:
        return False
    if s_k == 1 or (p.dropout != 0 and s_q == 1):
        return False
    backward_dims = (d_qk <= 128 and d_v <= 128) or (d_qk, d_v) in ((192, 128), (256, 256))
    if p.grad and sm9x and not backward_dims:
        return False
    return _cudnn_layout(p)


def choose(p: Query, cc: tuple[int, int], rocm: bool = False) -> str:
    """The backend PyTorch picks: ``"flash"``, ``"efficient"``, ``"cudnn"`` or ``"math"``."""
    prefer_cudnn = not rocm and (cc[0] in (9, 10))
    order = (("cudnn", "flash", "efficient", "math") if prefer_cudnn
             else ("flash", "efficient", "math", "cudnn"))
    tests = {"flash": can_flash, "efficient": can_efficient, "cudnn": can_cudnn}
    for name in order:
        if name == "math" or tests[name](p, cc, rocm):
            return name
    return "math"


def query_of(q: Any, k: Any, v: Any, attn_mask: Any, dropout_p: float, is_causal: bool,
             enable_gqa: bool) -> Query:
    """The :class:`Query` of one call (tensors: anything with shape/stride/dtype)."""
    import torch

    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    return Query(tuple(q.shape), tuple(k.shape), tuple(v.shape),
                 str(q.dtype).removeprefix("torch."),
                 (tuple(q.stride()), tuple(k.stride()), tuple(v.stride())),
                 attn_mask is not None, float(dropout_p), bool(is_causal), bool(enable_gqa),
                 grad)


def run(backend: str, q: Any, k: Any, v: Any, attn_mask: Any, dropout_p: float,
        is_causal: bool, scale: float | None) -> Any:
    """Call the kernel ``backend`` as the composite ``scaled_dot_product_attention`` does on
    CUDA (attention.cpp): flash pads the head dim to a multiple of 8 and slices the output
    back; memory-efficient and cuDNN take a boolean mask converted to an additive one."""
    import torch
    from torch.nn.functional import pad as pad_last

    aten = torch.ops.aten
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = torch.where(attn_mask.logical_not(), float("-inf"), 0.0).to(q.dtype)
    if backend == "flash":
        d = q.shape[-1]
        og_scale = scale if scale is not None else 1.0 / math.sqrt(d)
        pad = (-d) % 8
        if pad:
            q, k, v = (pad_last(t, (0, pad)) for t in (q, k, v))
        out = aten._scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal, False,
                                                       scale=og_scale)[0]
        return out[..., :d] if pad else out
    if backend == "efficient":
        return aten._scaled_dot_product_efficient_attention(
            q, k, v, attn_mask, grad, dropout_p, is_causal, scale=scale)[0]
    if backend == "cudnn":
        return aten._scaled_dot_product_cudnn_attention(
            q, k, v, attn_mask, grad, dropout_p, is_causal, False, scale=scale)[0]
    raise ValueError(backend)
