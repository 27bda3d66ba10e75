"""The CUDA dispatch path: a step traced on fake CUDA tensors, with the kernels CUDA PyTorch
would pick on the device the analysis is for (:class:`CudaPath`).

What changes against the CPU path, and who decides it:

* **PyTorch itself**, because the tensors are on ``cuda``: ``dropout`` runs the fused
  ``native_dropout`` and keeps a ``bool`` mask (``is_fused_kernel_acceptable`` in
  ``aten/src/ATen/native/Dropout.cpp``: a CUDA input and 0 < p < 1); batch norm goes to
  ``cudnn_batch_norm`` when cuDNN takes it (``_select_batch_norm_backend`` in
  ``aten/src/ATen/native/Normalization.cpp``), saving ``save_mean``, ``save_invstd`` and a
  reserve buffer; every op without a CPU/CUDA difference runs as on the CPU path.
* **This module**, where PyTorch asks the GPU: ``scaled_dot_product_attention`` picks its
  kernel from the device's properties, which fake tensors lack, so PyTorch falls back to
  the math path. :mod:`.sdpa` makes PyTorch's choice from the compute capability and calls
  that kernel. CUDA autocast (``torch.autocast("cuda")`` turns itself off without a GPU) is
  switched on through the same low-level calls the context manager makes, so CUDA's cast
  lists apply (e.g. ``softmax``, ``layer_norm`` and losses in float32).
* The optimizer's implementation (foreach on CUDA, PyTorch's default for CUDA tensors in
  ``torch/optim/optimizer.py::_default_to_fused_or_foreach``; fused when asked for) is chosen
  by the caller and recorded here.

The backward runs on :mod:`.engine` (PyTorch's C++ engine needs a real device for CUDA
tensors). An op whose fake CUDA kernel fails is run on fake CPU tensors, its results moved
back, and reported (:attr:`CudaPath.fallbacks`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    UnsupportedOperatorException,
)
from torch.overrides import TorchFunctionMode

from . import sdpa

#: What the fake run calls the device.
DEVICE = "cuda"


@dataclass(frozen=True)
class CudaTarget:
    """The GPU the CUDA path makes its choices for: compute capability (``(9, 0)``) and
    whether it is an AMD GPU (ROCm's kernel set)."""

    capability: tuple[int, int]
    rocm: bool = False


@dataclass
class CudaPath:
    """The choices made during one run (kernel family -> names chosen) and the ops that
    fell back to the CPU's fake kernel."""

    target: CudaTarget
    chosen: dict[str, list[str]] = field(default_factory=dict)
    fallbacks: dict[str, int] = field(default_factory=dict)

    def choose(self, family: str, name: str) -> None:
        names = self.chosen.setdefault(family, [])
        if name not in names:
            names.append(name)

    def backends(self) -> tuple[tuple[str, str], ...]:
        out = [(k, "+".join(v)) for k, v in self.chosen.items()]
        if self.fallbacks:
            out.append(("cpu_fallback", ", ".join(f"{op} ×{n}"
                                                   for op, n in self.fallbacks.items())))
        return tuple(out)

    def run(self, func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """``func`` on the fake CUDA tensors; when its fake CUDA kernel fails (an op with no
        fake CUDA implementation), on fake CPU copies, its results moved back to ``cuda``,
        and the op counted in :attr:`fallbacks`. Ops that mutate their arguments, and errors
        that a real run would raise too (data-dependent shapes, dtype rules), are not
        retried."""
        try:
            return func(*args, **kwargs)
        except (DataDependentOutputException, DynamicOutputShapeException):
            raise
        except (RuntimeError, NotImplementedError) as exc:
            if func._schema.is_mutable or not _device_failure(exc):
                raise
        moved = pytree.tree_map_only(torch.Tensor, lambda t: t.to("cpu"), (args, kwargs))
        out = func(*moved[0], **moved[1])
        name = str(func).removeprefix("aten.")
        self.fallbacks[name] = self.fallbacks.get(name, 0) + 1
        return pytree.tree_map_only(torch.Tensor, lambda t: t.to(DEVICE), out)

    def observe(self, name: str) -> None:
        """Record the kernels PyTorch itself picked, from the op names it ran."""
        if name.startswith("cudnn_batch_norm") and not name.endswith("backward.default"):
            # ROCm builds run MIOpen's batch norm under the same rules; this CUDA build
            # traces cuDNN's, whose saved statistics have the same shapes.
            self.choose("batch_norm", "miopen (traced as cudnn)" if self.target.rocm
                        else "cudnn")
        elif name.startswith(("native_batch_norm", "_native_batch_norm_legit",
                              "_batch_norm_with_update", "_batch_norm_no_update")):
            self.choose("batch_norm", "native")
        elif name == "native_dropout.default":
            self.choose("dropout", "native_dropout")


def _device_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the op cannot run on a fake CUDA tensor without a GPU (no fake
    kernel, or a CUDA runtime call), rather than that its arguments are wrong."""
    if isinstance(exc, UnsupportedOperatorException):
        return True
    text = str(exc)
    return any(k in text for k in ("CUDA", "cuda", "meta", "hasPrimaryContext",
                                   "no driver", "not implemented"))


def attention(path: CudaPath, func: Any, args: Sequence[Any],
              kwargs: Mapping[str, Any]) -> Any:
    """One ``scaled_dot_product_attention(*args, **kwargs)`` call on the CUDA path: the kernel
    :mod:`.sdpa` picks, or ``func`` itself (the math path; tensors not on CUDA)."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
             "enable_gqa")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    q, k, v = bound["query"], bound["key"], bound["value"]
    mask = bound.get("attn_mask")
    p = float(bound.get("dropout_p", 0.0))
    causal = bool(bound.get("is_causal", False))
    gqa = bool(bound.get("enable_gqa", False))
    if not all(isinstance(t, torch.Tensor) and t.device.type == DEVICE for t in (q, k, v)):
        return func(*args, **kwargs)
    if torch.is_autocast_enabled(DEVICE):
        # The composite is on CUDA autocast's lower-precision list (every floating
        # argument cast to the autocast dtype); the kernels it calls are not, so the
        # cast the dispatcher would make is made here, as autocast makes it (_to_copy).
        low = torch.get_autocast_dtype(DEVICE)
        q, k, v = (x.to(low) if x.is_floating_point() else x for x in (q, k, v))
        if isinstance(mask, torch.Tensor) and mask.is_floating_point():
            mask = mask.to(low)
    if not q.dtype == k.dtype == v.dtype:
        return func(*args, **kwargs)  # PyTorch refuses it (validate_sdpa_input)
    t = path.target
    backend = sdpa.choose(sdpa.query_of(q, k, v, mask, p, causal, gqa), t.capability, t.rocm)
    path.choose("sdpa", backend)
    if backend == "math":
        return func(*args, **kwargs)
    return sdpa.run(backend, q, k, v, mask, p, causal, bound.get("scale"))


class SdpaChoice(TorchFunctionMode):
    """Sends the ``scaled_dot_product_attention`` calls a torch-function mode sees (calls
    made outside another torch function) to :func:`attention`."""

    def __init__(self, path: CudaPath) -> None:
        super().__init__()
        self.path = path

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = dict(kwargs or {})
        if func is not torch._C._nn.scaled_dot_product_attention:
            return func(*args, **kwargs)
        return attention(self.path, func, args, kwargs)


@contextlib.contextmanager
def sdpa_choice(path: CudaPath) -> Iterator[None]:
    """Every ``scaled_dot_product_attention`` of the run goes to :func:`attention`: calls
    through ``torch.nn.functional.scaled_dot_product_attention`` (transformers, timm, and
    ``F.multi_head_attention_forward``, which a torch-function mode does not see into: it is
    itself a torch function) by replacing that attribute for the run, and direct calls of
    ``torch._C._nn.scaled_dot_product_attention`` through :class:`SdpaChoice`."""
    import torch.nn.functional as functional

    own = functional.scaled_dot_product_attention

    def replaced(*args: Any, **kwargs: Any) -> Any:
        return attention(path, own, args, kwargs)

    functional.scaled_dot_product_attention = replaced
    try:
        with SdpaChoice(path):
            yield
    finally:
        functional.scaled_dot_product_attention = own


@contextlib.contextmanager
def cuda_autocast(dtype: torch.dtype) -> Iterator[None]:
    """``torch.autocast("cuda", dtype)`` without a GPU: the enter/exit steps of
    ``torch.amp.autocast_mode.autocast`` for the CUDA device (enable, dtype, nesting, the
    cast cache cleared at the outermost exit)."""
    enabled = torch.is_autocast_enabled(DEVICE)
    prev = torch.get_autocast_dtype(DEVICE)
    cache = torch.is_autocast_cache_enabled()
    torch.set_autocast_enabled(DEVICE, True)
    torch.set_autocast_dtype(DEVICE, dtype)
    torch.autocast_increment_nesting()
    torch.set_autocast_cache_enabled(True)
    try:
        yield
    finally:
        if torch.autocast_decrement_nesting() == 0:
            torch.clear_autocast_cache()
        torch.set_autocast_enabled(DEVICE, enabled)
        torch.set_autocast_dtype(DEVICE, prev)
        torch.set_autocast_cache_enabled(cache)


@contextlib.contextmanager
def quiet_autocast_warning() -> Iterator[None]:
    """A model's own ``torch.autocast("cuda", enabled=False)`` region warns that CUDA is
    not available; it still does what it should (autocast off), so the warning is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CUDA is not available.*autocast")
        warnings.filterwarnings("ignore", message=".*is not available.*Disabling")
        yield
