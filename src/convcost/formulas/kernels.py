"""How an op runs on a GPU, for the execution-time estimate (no torch, no device here).

:func:`launch` describes one counted op by what a GPU does for it in eager PyTorch:

* ``library`` ops call cuBLAS or cuDNN: convolutions (forward, and backward as a data-gradient
  and a weight-gradient GEMM), the matmul family, attention, and the batch norms PyTorch hands
  to cuDNN (:func:`cudnn_batch_norm`: no GEMM, they stream their bytes like a kernel op).
  Each is described by the GEMMs it runs (:class:`Gemm`: ``batch`` independent M×N×K
  products; a convolution as an implicit GEMM with M = batch·output positions, N = output
  channels / groups, K = input channels / groups · kernel volume, ``batch`` = groups).
* ``kernel`` ops launch their own kernels (elementwise, reductions, normalisation, pooling,
  copies and casts): they stream their bytes. ``extra_read`` is what known kernels read
  beyond each argument once (either kind): training-mode batch norm reads its input twice
  (statistics, then normalisation), and its backward reads the input and the output
  gradient twice (reduction, then the elementwise pass) — see ``batch_norm_collect_statistics``
  / ``batch_norm_transform_input`` and ``batch_norm_backward_reduce`` /
  ``batch_norm_backward_elemt`` in ``aten/src/ATen/native/cuda/Normalization.cuh``.
  ``reread`` (:class:`Reread`) is what a kernel reads again row by row, which the GPU's L2
  may serve: layer norm forward reads each row twice (``vectorized_layer_norm_kernel``, one
  128-thread block per row: Welford statistics, then the normalisation reads ``X`` again;
  the fallback for rows not a multiple of 4 runs ``RowwiseMomentsCUDAKernel`` then
  ``LayerNormForwardCUDAKernel``, a second kernel reading ``X`` again —
  ``aten/src/ATen/native/cuda/layer_norm_kernel.cu``); softmax / log-softmax over the last
  dimension of more than 1,024 elements (or 4,096 bytes) runs ``cunn_SoftMaxForward``, one
  block per row reading it three times (max, sum of exponentials, the written result;
  ``aten/src/ATen/native/cuda/SoftMax.cu``, PyTorch 2.1; up to 1,024 columns
  ``softmax_warp_forward`` reads once). The estimate decides from the device's L2 whether a
  reread comes from DRAM (:func:`convcost.hardware.estimate.reread_bytes`).
* ``none`` ops launch no kernel (views, metadata, allocation): only the host dispatches them.

Which ops launch nothing is decided by the caller from the bytes and FLOPs (an op that moves
no byte and does no arithmetic launches nothing).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..ops import OpCall, TensorMeta
from .registry import bare_name

#: Ops that call cuDNN for a convolution (forward or backward).
CONV_OPS = frozenset({
    "convolution", "_convolution", "conv2d", "conv1d", "conv3d", "cudnn_convolution",
    "convolution_backward", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "cudnn_convolution_transpose", "convcost_onnx::conv", "convcost_onnx::conv_backward",
})

#: Backward convolutions: the data and the weight gradient (and a bias-gradient reduction).
CONV_BACKWARD_OPS = frozenset({"convolution_backward", "convcost_onnx::conv_backward"})

#: Ops that call cuBLAS (one GEMM or a batch of them).
MATMUL_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "addbmm",
                        "_addmm_activation"})

#: Fused attention kernels: two batched GEMMs (Q·Kᵀ and P·V) forward, four backward.
ATTENTION_OPS = frozenset({
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention", "_flash_attention_forward",
    "_efficient_attention_forward", "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward", "_flash_attention_backward",
    "_efficient_attention_backward",
})


class Gemm(NamedTuple):
    """``batch`` independent products of an M×K by a K×N matrix (``conv``: an implicit GEMM
    of a convolution, run by cuDNN; ``depthwise``: one input channel per group; ``wgrad``:
    a convolution's weight gradient, whose K runs over every output position)."""

    m: int
    n: int
    k: int
    batch: int = 1
    conv: bool = False
    depthwise: bool = False
    wgrad: bool = False

    @property
    def flops(self) -> int:
        """2·M·N·K·batch (a multiply-add counts two)."""
        return 2 * self.m * self.n * self.k * self.batch


class Reread(NamedTuple):
    """Bytes a row-wise kernel reads again (``nbytes`` in all) over ``rows`` rows, each row
    passing ``row_bytes`` through the L2 between its first and its last read; ``threads``
    per block of one block per row (0: the reread is a later kernel's, after every row)."""

    nbytes: int
    rows: int
    row_bytes: int
    threads: int = 0


class Launch(NamedTuple):
    """What one op asks of a GPU: ``kind`` (``library``, ``kernel`` or ``none``), the GEMMs
    of a library op, the kernels it launches, bytes its kernels read beyond each argument
    once (``extra_read``), and bytes they read again that an L2 may serve (``reread``)."""

    kind: str
    gemms: tuple[Gemm, ...] = ()
    kernels: int = 1
    extra_read: int = 0
    reread: Reread | None = None


KERNEL = Launch("kernel")


def _nbytes(t: Any) -> int:
    from .traffic import nbytes

    return nbytes(t) if isinstance(t, TensorMeta) else 0


def _prod(xs: Any) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


def _conv_gemms(call: OpCall, backward: bool) -> tuple[Gemm, ...]:
    """Implicit GEMMs of a convolution (forward) or of its gradients (backward)."""
    x = call.arg("input", call.arg("x"))  # convcost_onnx::conv names them x, w, b, grad, mask
    w = call.arg("weight", call.arg("w"))
    if not isinstance(x, TensorMeta) or not isinstance(w, TensorMeta) or len(x.shape) < 3:
        return ()
    transposed = bool(call.arg("transposed", False))
    g = int(call.arg("groups", 1) or 1)
    kvol = _prod(w.shape[2:])
    if transposed:  # weight (C_in, C_out/g, *k)
        c_in, c_out = w.shape[0], w.shape[1] * g
    else:  # weight (C_out, C_in/g, *k)
        c_out, c_in = w.shape[0], w.shape[1] * g
    n = x.shape[0]
    if backward:
        go = call.arg("grad_output", call.arg("grad"))
        out_sp = _prod(go.shape[2:]) if isinstance(go, TensorMeta) else 0
    else:
        out = call.outputs[0] if call.outputs else None
        out_sp = _prod(out.shape[2:]) if isinstance(out, TensorMeta) else 0
    in_sp = _prod(x.shape[2:])
    if not out_sp or not c_in or not c_out:
        return ()
    # MACs of the forward product (per group): the transposed convolution's forward is the
    # data gradient of the convolution it transposes.
    cin_g, cout_g = c_in // g, c_out // g
    macs = n * (in_sp if transposed else out_sp) * cin_g * cout_g * kvol  # per group
    dw = cin_g == 1
    pos_out = n * out_sp
    pos_in = n * in_sp

    def gemm(m: int, nn: int, wgrad: bool = False) -> Gemm:
        k = max(1, macs // max(1, m * nn))
        return Gemm(m, nn, k, g, True, dw, wgrad)

    if not backward:
        return (gemm(pos_out, cout_g),)
    mask = call.arg("output_mask", call.arg("mask", (True, True, True)))
    gemms: list[Gemm] = []
    if mask[0]:  # data gradient: every input position, C_in/g outputs
        gemms.append(gemm(pos_in, cin_g))
    if len(mask) > 1 and mask[1]:  # weight gradient: C_out/g × C_in/g·k, K = positions
        gemms.append(gemm(cout_g, cin_g * kvol, wgrad=True))
    return tuple(gemms)


def _matmul_gemms(call: OpCall) -> tuple[Gemm, ...]:
    base = bare_name(call.name)
    out = call.outputs[0] if call.outputs else None
    if not isinstance(out, TensorMeta) or not out.shape:
        return ()
    if base in ("mm", "addmm", "_addmm_activation"):
        a = call.arg("mat1") if base != "mm" else call.arg("self")
        if not isinstance(a, TensorMeta) or len(a.shape) != 2:
            return ()
        return (Gemm(a.shape[0], out.shape[-1], a.shape[1]),)
    if base in ("bmm", "baddbmm", "addbmm"):
        a = call.arg("batch1") if base != "bmm" else call.arg("self")
        if not isinstance(a, TensorMeta) or len(a.shape) != 3:
            return ()
        return (Gemm(a.shape[1], out.shape[-1], a.shape[2], a.shape[0]),)
    a = call.arg("self") if base == "matmul" else call.arg("input")
    if not isinstance(a, TensorMeta) or not a.shape:
        return ()
    k = a.shape[-1]
    m = _prod(out.shape[:-1])
    return (Gemm(m, out.shape[-1], k),)


def _attention_gemms(call: OpCall, backward: bool) -> tuple[Gemm, ...]:
    q, k = call.arg("query"), call.arg("key")
    if not isinstance(q, TensorMeta) or not isinstance(k, TensorMeta) or len(q.shape) < 3:
        return ()
    b = _prod(q.shape[:-2])
    lq, d, lk = q.shape[-2], q.shape[-1], k.shape[-2]
    fw = (Gemm(lq, lk, d, b), Gemm(lq, d, lk, b))
    if not backward:
        return fw
    # recompute Q·Kᵀ, then dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q
    return (fw[0], Gemm(lk, d, lq, b), Gemm(lq, lk, d, b), Gemm(lq, d, lk, b),
            Gemm(lk, d, lq, b))


#: Threads per block of ``vectorized_layer_norm_kernel`` (``num_threads()`` = 4 warps,
#: aten/src/ATen/native/cuda/thread_constants.h) and the vector width its rows need.
LAYER_NORM_THREADS = 128
LAYER_NORM_VEC = 4
#: Columns up to which PyTorch's softmax runs the one-pass ``softmax_warp_forward`` (and
#: bytes per row: ``dim_size <= 1024 && dim_size*sizeof(scalar_t) <= 4096`` in SoftMax.cu).
SOFTMAX_WARP_COLS = 1024
SOFTMAX_WARP_BYTES = 4096
SOFTMAX_MAX_THREADS = 1024


def _itemsize(t: TensorMeta) -> int:
    return _nbytes(t) // t.numel if t.numel else 0


def _layer_norm(call: OpCall) -> Launch:
    """``native_layer_norm``: a second read of the input (see the module doc)."""
    x = call.arg("input")
    shape = call.arg("normalized_shape")
    if not isinstance(x, TensorMeta) or not x.numel or not isinstance(shape, (tuple, list)):
        return KERNEL
    n = _prod(shape)
    if n <= 0 or x.numel % n:
        return KERNEL
    rows = x.numel // n
    size = _itemsize(x)
    out = call.outputs[0] if call.outputs else None
    out_size = _itemsize(out) if isinstance(out, TensorMeta) else size
    if x.dtype in ("float32", "float16", "bfloat16") and n % LAYER_NORM_VEC == 0:
        # one block per row: the row read, then read again and written
        return Launch("kernel", (), 1, 0,
                      Reread(_nbytes(x), rows, n * (size + out_size), LAYER_NORM_THREADS))
    return Launch("kernel", (), 2, 0, Reread(_nbytes(x), rows, n * size))


def softmax_block_threads(cols: int, itemsize: int) -> int:
    """Threads per block of ``cunn_SoftMaxForward`` (``SoftMax_getBlockSize`` in
    aten/src/ATen/native/cuda/SoftMax.cu, ILP = 16 bytes per vector load)."""
    ilp = max(1, 16 // max(1, itemsize))
    top = min(cols // ilp, SOFTMAX_MAX_THREADS)
    if ilp > 1:
        top //= 2
    block = 1
    while block < top:
        block *= 2
    return max(block, 32)


def _softmax(call: OpCall) -> Launch:
    """``_softmax`` / ``_log_softmax`` over the last dimension: ``cunn_SoftMaxForward``
    reads each row three times above 1,024 columns (see the module doc)."""
    x = call.arg("self")
    if not isinstance(x, TensorMeta) or not x.shape or not x.numel:
        return KERNEL
    dim = call.arg("dim", -1)
    if not isinstance(dim, int):
        return KERNEL
    if dim % len(x.shape) != len(x.shape) - 1:
        return KERNEL  # cunn_SpatialSoftMaxForward: not modelled
    cols = x.shape[-1]
    size = _itemsize(x)
    if cols <= SOFTMAX_WARP_COLS and cols * size <= SOFTMAX_WARP_BYTES:
        return KERNEL
    out = call.outputs[0] if call.outputs else None
    out_size = _itemsize(out) if isinstance(out, TensorMeta) else size
    return Launch("kernel", (), 1, 0, Reread(2 * _nbytes(x), x.numel // cols,
                                             cols * (size + out_size),
                                             softmax_block_threads(cols, size)))


#: Tensors of one list per multi-tensor (``_foreach_``) kernel launch (PyTorch's
#: ``multi_tensor_apply`` for depth-2/3 lists: aten/src/ATen/native/cuda/MultiTensorApply.cuh).
FOREACH_TENSORS_PER_LAUNCH = 64


def launch(call: OpCall) -> Launch:
    """How ``call`` runs on a GPU (see the module doc)."""
    base = bare_name(call.name)
    if base.startswith("_foreach_"):
        first = call.args[0] if call.args else ()
        n = sum(isinstance(t, TensorMeta) for t in first) if isinstance(first, tuple) else 1
        return Launch("kernel", (), max(1, -(-n // FOREACH_TENSORS_PER_LAUNCH)))
    if base in CONV_OPS:
        backward = base in CONV_BACKWARD_OPS
        gemms = _conv_gemms(call, backward)
        if not gemms:
            return KERNEL
        extra_kernels = 0
        if backward:
            mask = call.arg("output_mask", call.arg("mask", (True, True, True)))
            extra_kernels = 1 if len(mask) > 2 and mask[2] else 0  # bias gradient: a reduction
        elif isinstance(call.arg("bias", call.arg("b")), TensorMeta):
            extra_kernels = 1  # cuDNN adds the bias in its own kernel
        return Launch("library", gemms, len(gemms) + extra_kernels)
    if base in MATMUL_OPS:
        gemms = _matmul_gemms(call)
        return Launch("library", gemms, 1) if gemms else KERNEL
    if base in ATTENTION_OPS:
        gemms = _attention_gemms(call, base.endswith("backward"))
        return Launch("library", gemms, 1) if gemms else KERNEL
    if base in ("native_batch_norm", "_native_batch_norm_legit", "cudnn_batch_norm",
                "_batch_norm_with_update", "native_batch_norm_backward",
                "cudnn_batch_norm_backward", "batch_norm_backward"):
        training = base.endswith("backward") or bool(call.arg("training", True))
        if base == "_native_batch_norm_legit" and "running_mean" in call:
            training = bool(call.arg("training", True))
        kind = "library" if cudnn_batch_norm(call, training) else "kernel"
        if not training:
            return Launch(kind, (), 1)
        if base.endswith("backward"):
            extra = _nbytes(call.arg("input")) + _nbytes(call.arg("grad_out",
                                                                     call.arg("grad_output")))
        else:
            extra = _nbytes(call.arg("input"))
        return Launch(kind, (), 2, extra)
    if base == "native_layer_norm":
        return _layer_norm(call)
    if base in ("_softmax", "_log_softmax"):
        return _softmax(call)
    return KERNEL


#: cuDNN's smallest batch-norm epsilon (``CUDNN_BN_MIN_EPSILON``): PyTorch runs its own
#: kernels below it.
CUDNN_BN_MIN_EPSILON = 1e-5


def cudnn_batch_norm(call: OpCall, training: bool) -> bool:
    """Whether PyTorch on a CUDA GPU hands this batch norm to cuDNN (a library call on the
    host, like a convolution) rather than to its own kernels: the conditions of
    ``_select_batch_norm_backend`` / ``_batch_norm_impl_index`` in
    ``aten/src/ATen/native/Normalization.cpp`` — input float32, or float16 with float32
    weights (never bfloat16); an affine weight and bias; running statistics in evaluation
    mode; a spatial input (3 dimensions or more) of at most 880,801 samples in training and
    65,535 in evaluation; epsilon at least cuDNN's minimum."""
    x = call.arg("input")
    w = call.arg("weight")
    if not isinstance(x, TensorMeta) or not isinstance(w, TensorMeta) or len(x.shape) < 3:
        return False
    if "bias" in call and not isinstance(call.arg("bias"), TensorMeta):
        return False
    if x.dtype not in ("float32", "float16") or w.dtype != "float32":
        return False
    if not training and not isinstance(call.arg("running_mean"), TensorMeta):
        return False
    eps = call.arg("eps", CUDNN_BN_MIN_EPSILON)
    if isinstance(eps, (int, float)) and eps < CUDNN_BN_MIN_EPSILON:
        return False
    return x.shape[0] <= (880_801 if training else 65_535)
