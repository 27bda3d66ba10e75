"""The attention masks a real run of a ``transformers`` model builds, kept on fake tensors
(imports torch; transformers' ``masking_utils`` only once a model runs).

transformers decides from tensor *values* whether attention needs a materialised
``(batch, 1, q, kv)`` mask or can call SDPA with ``attn_mask=None, is_causal=True``, and on a
fake tensor (``transformers.utils.is_tracing`` is true for one) it cannot read them, so it keeps
the mask. What the values would have said is known in one case, and that is the one corrected:

* ``masking_utils.find_packed_sequence_indices(position_ids)`` asks whether a row of the
  position ids holds several packed sequences. ``create_causal_mask`` (and the sliding-window,
  chunked and bidirectional variants) ask it when no ``attention_mask`` and no cache are given
  (``use_cache=False``, a config without a cache), and a yes adds the packing to the mask and
  forbids the ``is_causal`` shortcut: on fake tensors every layer then gets a materialised mask
  (SDPA saves a float copy of it for the backward: ``layers × batch × s² × itemsize`` bytes).
  The positions a model makes itself (``arange``) hold one sequence per row, and a real run
  finds no packing; so, on fake or meta tensors, the same ops run (the check is computed) and
  the answer is that of a real run, ``None``. Positions given as an input are assumed to be
  of that kind too (packing shows only in values).

Everything else is left as transformers does it. In particular a given ``attention_mask`` is
the user's mask: transformers cannot see whether it pads, keeps it, and the trace gets the
materialised mask of a padded batch (a real run with an all-ones mask drops it).

The correction is active only while a model runs: :func:`follow_real_masks` gives the model a
forward pre-hook that installs it and a forward hook that removes it (run even when the
forward raises); nested and concurrent runs share one installation, removed when the last
leaves. Real tensors always get transformers' own function.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor

_MASKING = "transformers.masking_utils"
_PACKED = "find_packed_sequence_indices"

_lock = threading.Lock()
_active = 0  # runs inside the correction, all threads together
_original: Callable[..., Any] | None = None
_local = threading.local()  # this thread's entries (a leave without an enter is ignored)


def _unreadable(t: Any) -> bool:
    """Whether ``t`` is a tensor whose values cannot be read (fake or on the meta device)."""
    return isinstance(t, FakeTensor) or (isinstance(t, torch.Tensor) and t.device.type == "meta")


def _packed_sequences(position_ids: Any) -> Any:
    """``find_packed_sequence_indices`` with a real run's answer on unreadable tensors."""
    original = _original
    if original is None:  # pragma: no cover - only called while installed
        raise RuntimeError("convcost's packed-sequence check called while not installed")
    found = original(position_ids)
    if found is None or not _unreadable(found):
        return found
    # What a real run computes before reading it: whether the last index of each row is 0.
    (found[:, -1] == 0).all()
    return None


def _enter() -> None:
    global _active, _original
    with _lock:
        if _active == 0:
            try:
                masking: Any = importlib.import_module(_MASKING)
            except ImportError:  # pragma: no cover - a transformers without masking_utils
                masking = None
            current = getattr(masking, _PACKED, None)
            if current is not None and current is not _packed_sequences:
                _original = current
                setattr(masking, _PACKED, _packed_sequences)
        _active += 1
    _local.depth = getattr(_local, "depth", 0) + 1


def _leave() -> None:
    global _active, _original
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        return
    _local.depth = depth - 1
    with _lock:
        _active -= 1
        if _active == 0 and _original is not None:
            masking: Any = importlib.import_module(_MASKING)
            if getattr(masking, _PACKED, None) is _packed_sequences:
                setattr(masking, _PACKED, _original)
            _original = None


@contextlib.contextmanager
def real_masks() -> Iterator[None]:
    """While the block runs, transformers builds on fake tensors the masks a real run builds
    (see the module docstring); restored when the last such block leaves."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _pre_hook(module: nn.Module, args: Any) -> None:
    _enter()


def _post_hook(module: nn.Module, args: Any, out: Any) -> None:
    _leave()


def follow_real_masks(model: nn.Module) -> None:
    """Make every call of ``model`` run inside :func:`real_masks`: a forward pre-hook and a
    forward hook that runs even when the forward raises. The model's ``forward``, its
    modules and its signature are unchanged (calling ``model.forward`` directly bypasses
    the hooks, as it bypasses every hook)."""
    model.register_forward_pre_hook(_pre_hook)
    model.register_forward_hook(_post_hook, always_call=True)


def corrected() -> bool:
    """Whether the correction is installed now (for tests: it must not outlive a run)."""
    try:
        masking: Any = importlib.import_module(_MASKING)
    except ImportError:  # pragma: no cover
        return False
    return getattr(masking, _PACKED, None) is _packed_sequences
