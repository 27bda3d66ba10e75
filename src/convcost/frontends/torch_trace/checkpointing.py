"""Activation checkpointing of the modules a pattern matches, during one run.

``checkpoint=PATTERN`` (training only): for the duration of the run, the ``forward`` of
every module whose path matches (``re.search``; not the root) runs under non-reentrant
``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``, exactly as a training
script would wrap it (:func:`checkpoint_forwards`; the model's own ``forward`` is restored
afterwards by :func:`restore_forwards`). Autograd then keeps only the region's inputs, and
when the backward needs a saved tensor of the region, PyTorch runs its forward again
(stopping, as it does by default, once every tensor it needs exists): those ops are recorded
with phase ``recompute`` and the module they run in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from functools import partial
from typing import Any

from torch import nn

from .attribution import State
from .cuda import cuda_autocast


def _run_region(state: State, path: str, fn: Callable[..., Any], *args: Any,
                **kwargs: Any) -> Any:
    """Run a checkpointed module's own forward: the first time (forward phase) as usual;
    when the backward runs it again, as phase ``recompute`` inside module ``path``."""
    if state.phase != "backward":
        return fn(*args, **kwargs)
    depth = len(state.stack)
    state.phase = "recompute"
    state.stack.append((path, set(), []))
    # PyTorch recomputes under the autocast state of the forward, through
    # torch.amp.autocast("cuda", ...), which turns itself off without a GPU: on the CUDA
    # path the step's autocast is switched on again here.
    amp = cuda_autocast(state.cuda_amp) if state.cuda_amp is not None else nullcontext()
    try:
        with amp:
            return fn(*args, **kwargs)
    finally:  # PyTorch stops a recomputation early by raising
        state.phase = "backward"
        del state.stack[depth:]


def checkpointed_paths(modules: Mapping[str, nn.Module], pattern: re.Pattern[str]) -> list[str]:
    """Paths of the modules ``pattern`` checkpoints (``re.search``; the root never)."""
    return [p for p in modules if p and pattern.search(p) is not None]


def checkpoint_forwards(
    modules: Mapping[str, nn.Module], pattern: re.Pattern[str], state: State
) -> list[tuple[nn.Module, Any]]:
    """Wrap the matching modules' ``forward`` in non-reentrant checkpointing; returns what
    to restore (each module and its own ``forward`` attribute, or ``None``)."""
    from torch.utils.checkpoint import checkpoint

    restore: list[tuple[nn.Module, Any]] = []
    for path in checkpointed_paths(modules, pattern):
        mod = modules[path]
        region = partial(_run_region, state, path, mod.forward)

        def forward(*args: Any, _region: Any = region, **kwargs: Any) -> Any:
            return checkpoint(_region, *args, use_reentrant=False, **kwargs)

        restore.append((mod, mod.__dict__.get("forward")))
        mod.forward = forward
    return restore


def restore_forwards(wrapped: list[tuple[nn.Module, Any]]) -> None:
    """Undo :func:`checkpoint_forwards`: each module gets its own ``forward`` back."""
    for mod, own in wrapped:
        if own is None:
            del mod.forward
        else:
            mod.forward = own
