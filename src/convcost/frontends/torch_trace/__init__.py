"""PyTorch front end: run a model once on fake tensors and record every aten op.

How one run works (:func:`trace_model`, :mod:`.run`):

* The model's parameters and buffers are replaced, for the duration of the run only, by
  fake tensors of the same shapes, strides and dtypes (``FakeTensorMode``: no data, nothing
  computed, nothing allocated), so time and memory of the analysis do not depend on batch
  size or resolution. The model object itself is not changed.
* A ``TorchDispatchMode`` sees every aten op below autograd: forward ops, the backward ops
  the autograd engine runs, and the optimizer's ops. Each becomes an
  :class:`~convcost.ops.OpCall` (:mod:`.meta`: :func:`op_call`, :func:`op_name`,
  :func:`signature`).
* Module forward pre/post hooks and tags on autograd nodes say which module each op belongs
  to, in the forward and in the backward (:mod:`.attribution`).
* Every tensor storage is followed from the op that produced it until it is freed
  (:mod:`.storages`); ``saved_tensors_hooks`` say which storages autograd saved.
* Ops without a formula are also run through their PyTorch decomposition, for counting
  only (:mod:`.decompose`).

Training step (``mode="train"``): forward, loss, backward (:mod:`.run`), then
``optimizer.step()`` of a real ``torch.optim`` optimizer and a later step recorded apart
(:mod:`.optimizer`; its switch ``DEDUPLICATE_STEADY_STEP`` is read there and only there, so
patch it on that module). Inference (``mode="inference"``): ``model.eval()`` and a forward
under ``torch.no_grad()``. Activation checkpointing (``checkpoint=PATTERN``, training
only): :mod:`.checkpointing`.
"""

from __future__ import annotations

from .attribution import LOSS_TAG, MODULE_KEY
from .checkpointing import checkpointed_paths
from .meta import dtype_name, op_call, op_name, signature, torch_dtype
from .run import trace_model

__all__ = [
    "LOSS_TAG",
    "MODULE_KEY",
    "checkpointed_paths",
    "dtype_name",
    "op_call",
    "op_name",
    "signature",
    "torch_dtype",
    "trace_model",
]
