"""The backward pass of the CUDA path, run by a Python copy of the autograd engine.

PyTorch's C++ engine cannot run a backward whose tensors are fake CUDA tensors on a machine
without a GPU: before the first node it stashes the current CUDA stream of every device
(``GraphTask::stash_current_streams``, called from ``Engine::compute_dependencies`` once a
node's inputs are on the accelerator), which raises "hasPrimaryContext expects a valid
device index" (pytorch/pytorch#92627). :func:`backward` does what the engine does for one
device, from Python, calling the same autograd nodes:

* dependencies are counted over ``next_functions`` from the root; a node runs when every
  gradient it waits for has arrived, highest ``sequence_nr`` first among the ready ones (the
  engine's ready queue: reverse creation order, ``AccumulateGrad`` first);
* a node runs with grad mode off (no ``create_graph``); each output gradient is cast to the
  dtype and summed to the shape its consumer's input metadata expects (``validate_outputs``);
  gradients reaching one input twice are added out of place (``InputBuffer::accumulate`` on
  tensor subclasses, which fake tensors are);
* a leaf's gradient is stolen when ``.grad`` is unset and its strides match the parameter's,
  copied into the parameter's layout otherwise, and added in place when ``.grad`` exists
  (``AccumulateGrad::accumulateGrad``);
* a node's saved tensors are released when it has run: nothing but the queue holds a node,
  so it is destroyed right after its call, as the engine's ``release_variables`` frees them.

Not reproduced: the reserve-buffer copy of a node that may be run again (not recorded:
:meth:`EngineState.artefact`); hooks registered on tensors or nodes by the model
(``Tensor.register_hook``, ``retain_grad``, full backward hooks), which are not reachable
from Python; streams.
The CPU path keeps PyTorch's own engine; a test runs both engines on the CPU and compares
every op and every storage's lifetime.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Iterator
from typing import Any

import torch

#: Nodes whose backward copies their reserve buffer unless told it will not run again.
RETAINS_RESERVE = frozenset({"CudnnBatchNormBackward0", "MiopenBatchNormBackward0",
                             "CudnnRnnBackward0", "MiopenRnnBackward0"})
#: Where the engine keeps a node's id in ``Node.metadata`` (stable while the node lives).
NODE_ID = "convcost.node_id"
ACCUMULATE_GRAD = "torch::autograd::AccumulateGrad"


class EngineState:
    """What the recorder reads while the Python engine runs: the ``metadata`` and name of
    the node being run (not the node: holding it would keep its saved tensors alive), and
    whether the op sums gradient contributions."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}
        self.name = ""
        self.summing = False

    def enter(self, node: Any) -> None:
        self.metadata, self.name, self.summing = node.metadata, node.name(), False

    def artefact(self, func: Any, args: Any) -> bool:
        """Whether ``func`` is an op PyTorch's engine would not run: the copy of a cuDNN
        reserve buffer that a node makes when it may be run again (``retain_variables ?
        reserve.clone() : reserve`` in ``derivatives.yaml``). PyTorch's engine tells the node
        it will not be (``will_release_variables``), which Python cannot."""
        return (self.name in RETAINS_RESERVE and func is torch.ops.aten.clone.default
                and bool(args) and getattr(args[0], "dtype", None) == torch.uint8)


def _number(counter: Iterator[int], node: Any) -> int:
    md = node.metadata
    nid = md.get(NODE_ID)
    if nid is None:
        nid = md[NODE_ID] = next(counter)
    return int(nid)


def dependencies(root: Any) -> dict[int, int]:
    """How many edges reach each node below ``root`` (by the id the walk gives it)."""
    counter = itertools.count()
    deps: dict[int, int] = {}
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        nid = _number(counter, node)
        if nid in seen:
            continue
        seen.add(nid)
        for child, _ in node.next_functions:
            if child is not None:
                cid = _number(counter, child)
                deps[cid] = deps.get(cid, 0) + 1
                todo.append(child)
    return deps


def _call(node: Any, grads: list[Any]) -> tuple[Any, ...]:
    if callable(node):
        out = node(*grads)
    else:  # a Python autograd.Function's node: PyNode::apply calls its apply()
        out = node.apply(*grads)
    return out if isinstance(out, tuple) else (out,)


def _accumulate(var: torch.Tensor, grad: torch.Tensor | None) -> None:
    if grad is None:
        return
    if var.grad is None:
        if grad.numel() <= 1 or tuple(grad.stride()) == tuple(var.stride()):
            var.grad = grad.detach()
        else:
            layout = torch.empty_strided(tuple(var.shape), tuple(var.stride()),
                                         dtype=var.dtype, device=var.device)
            var.grad = layout.copy_(grad)
    else:
        var.grad += grad


def _expected(child: Any, nr: int, grad: torch.Tensor) -> torch.Tensor:
    meta = child._input_metadata[nr]
    if grad.dtype != meta.dtype:
        grad = grad.to(meta.dtype)
    if tuple(grad.shape) != tuple(meta.shape):
        grad = grad.sum_to_size(tuple(meta.shape))
    return grad


def backward(box: list[Any], seed: torch.Tensor, state: EngineState) -> None:
    """Run the backward from the node in ``box`` (the loss's ``grad_fn``, which is taken out
    of it) with gradient ``seed``. The caller must hold no other reference to that node or
    to the loss, so nodes die (and free their saved tensors) when they have run."""
    root = box.pop()
    deps = dependencies(root)
    tie = itertools.count()
    buffers: dict[int, list[Any]] = {}
    ready: list[tuple[int, int, Any, list[Any]]] = [(-root._sequence_nr(), next(tie), root,
                                                     [seed])]
    del root, seed
    group = getattr(torch.utils.checkpoint, "GraphExecGroup", None)
    with torch.no_grad(), (group() if group is not None else contextlib.nullcontext()):
        while ready:
            _, _, node, grads = heapq.heappop(ready)
            state.enter(node)
            if state.name == ACCUMULATE_GRAD:
                _accumulate(node.variable, grads[0])
                del node, grads
                continue
            outs = _call(node, grads)
            nexts = node.next_functions
            del node, grads  # the node has run: its saved tensors go with it
            for (child, nr), grad in zip(nexts, outs):
                if child is None:
                    continue
                cid = child.metadata[NODE_ID]
                buf = buffers.get(cid)
                if buf is None:
                    buf = buffers[cid] = [None] * len(child._input_metadata)
                if grad is not None:
                    grad = _expected(child, nr, grad)
                    if buf[nr] is None:
                        buf[nr] = grad
                    else:
                        state.summing = True
                        buf[nr] = buf[nr] + grad
                        state.summing = False
                deps[cid] -= 1
                if deps[cid] == 0:
                    del buffers[cid]
                    heapq.heappush(ready, (-child._sequence_nr(), next(tie), child, buf))
                del child, grad, buf
            del nexts, outs
    state.metadata, state.name, state.summing = {}, "", False
