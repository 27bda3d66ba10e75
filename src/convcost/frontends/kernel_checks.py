"""Dtype rules that PyTorch's real kernels enforce and fake tensors do not.

Fake tensors only compute shapes, and several meta kernels accept arguments the real kernel
refuses: a ``float16`` input to a ``float32`` convolution without bias, a ``float64`` input
to a ``float32`` ``Linear``, a ``float64`` input to a ``float32`` norm. A real run raises
on those; :func:`check_call` raises :class:`KernelRuleError` for them, before the op runs,
so an analysis never reports numbers for a step that cannot run.

The rules (each verified on real CPU tensors by ``tests/test_dtype_checks.py``, which also
checks that a real run raises wherever the rule does):

* ``same`` — the tensor arguments have one dtype: ``convolution``'s input and weight
  ("expected scalar type Half but found Float"; the bias is checked by ``F.conv2d`` and its
  siblings before they dispatch, on fake tensors as on real ones: "Input type (c10::Half)
  and bias type (float) should be the same", while the CPU kernel itself casts a bias of
  another dtype), and every operand of ``mm``/``addmm``/``bmm``/``baddbmm``/``addbmm``/
  ``mv``/``addmv``/``dot`` ("expected m1 and m2 to have the same dtype", "self and mat2
  must have the same dtype"). ``F.linear`` and ``torch.matmul`` reach the dispatcher as
  these.
* ``norm`` — batch/layer/group norm: the weight, bias and running statistics all have the
  input's dtype, or (mixed precision) the input is ``float16``/``bfloat16`` and every one of
  them is ``float32`` (PyTorch's ``mixed_dtype.h``: "mixed dtype (CPU): all inputs must
  share same datatype.", "expect parameter to have scalar type of Float").

The rules are those of the CPU kernels, which the fake run stands for (autocast runs as CPU
autocast); CUDA's convolution and matrix kernels refuse the same mixtures. Under autocast the
casts happen above the dispatcher, so the checked arguments are the ones the kernel gets:
autocast's legitimate casts pass. Integer indices to ``embedding`` are not checked here (the
fake kernel already checks their dtype, as the real one does).

Devices are not checked: every tensor of a fake run is on the CPU, whatever device the
model's parameters and buffers are on (meta, cpu, cuda: :mod:`convcost.frontends.torch_trace`
makes CPU fake tensors of them all), so a model is analysed as one device's work. A forward
that moves tensors to the device of its next layer (``x.to(layer.weight.device)``) runs; one
that names a device (``x.to("cuda:1")``) fails with a TraceError naming the module (fake
tensors on two devices meet); parameters left on different devices with no move between them
(part of a model on ``meta``, part on the CPU) are not refused, though a real run would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["RULES", "KernelRuleError", "check_call"]


class KernelRuleError(RuntimeError):
    """The tensor arguments of an op are ones its real kernel refuses (a ``RuntimeError``,
    as the real kernel's error is). ``op`` is the op (``aten.convolution``), ``reason``
    the message without it."""

    def __init__(self, op: str, reason: str) -> None:
        self.op = op
        self.reason = reason
        super().__init__(f"{op}: {reason} (a real run raises)")


#: Low-precision input dtypes a norm accepts with ``float32`` parameters.
_MIXED_INPUTS = (torch.float16, torch.bfloat16)

_BN = ("input", "weight", "bias", "running_mean", "running_var")

#: ``aten`` op overload -> (rule, its tensor arguments by schema name; the first is the one
#: the others are compared with).
RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aten.convolution.default": ("same", ("input", "weight")),
    "aten._convolution.default": ("same", ("input", "weight")),
    "aten.mm.default": ("same", ("self", "mat2")),
    "aten.addmm.default": ("same", ("mat1", "mat2", "self")),
    "aten.bmm.default": ("same", ("self", "mat2")),
    "aten.baddbmm.default": ("same", ("batch1", "batch2", "self")),
    "aten.addbmm.default": ("same", ("batch1", "batch2", "self")),
    "aten.mv.default": ("same", ("self", "vec")),
    "aten.addmv.default": ("same", ("mat", "vec", "self")),
    "aten.dot.default": ("same", ("self", "tensor")),
    "aten.native_batch_norm.default": ("norm", _BN),
    "aten._native_batch_norm_legit.default": ("norm", _BN),
    "aten._native_batch_norm_legit.no_stats": ("norm", ("input", "weight", "bias")),
    "aten._native_batch_norm_legit_no_training.default": ("norm", _BN),
    "aten._native_batch_norm_legit_functional.default": ("norm", _BN),
    "aten.native_layer_norm.default": ("norm", ("input", "weight", "bias")),
    "aten.native_group_norm.default": ("norm", ("input", "weight", "bias")),
}


@dataclass(frozen=True)
class _Rule:
    op: str
    kind: str
    names: tuple[str, ...]
    positions: tuple[int, ...]


#: op overload object -> its rule (``None``: not checked); filled on first sight.
_CACHE: dict[Any, _Rule | None] = {}


def _rule(func: Any) -> _Rule | None:
    try:
        return _CACHE[func]
    except KeyError:
        pass
    except TypeError:  # not hashable: not an op overload
        return None
    found = RULES.get(str(func))
    rule = None
    if found is not None:
        kind, names = found
        schema = [a.name for a in func._schema.arguments]
        rule = _Rule(str(func).rsplit(".", 1)[0], kind, names,
                     tuple(schema.index(n) for n in names))
    _CACHE[func] = rule
    return rule


def _dtype_name(d: torch.dtype) -> str:
    return str(d).removeprefix("torch.")


def check_call(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Raise :class:`KernelRuleError` when the real kernel of ``func`` refuses the dtypes
    of these arguments (see the module docstring); do nothing for ops without a rule."""
    rule = _rule(func)
    if rule is None:
        return
    tensors: list[tuple[str, torch.dtype]] = []
    for name, pos in zip(rule.names, rule.positions):
        v = args[pos] if pos < len(args) else kwargs.get(name)
        if isinstance(v, torch.Tensor):
            tensors.append((name, v.dtype))
    if not tensors:
        return
    first, dtype = tensors[0]
    others = [(n, d) for n, d in tensors[1:] if d != dtype]
    if not others:
        return
    if rule.kind == "same":
        n, d = others[0]
        raise KernelRuleError(rule.op, f"{first} dtype {_dtype_name(dtype)} and {n} dtype "
                                       f"{_dtype_name(d)} differ")
    params = tensors[1:]
    if dtype in _MIXED_INPUTS and all(d == torch.float32 for _, d in params):
        return
    listed = ", ".join(f"{n} {_dtype_name(d)}" for n, d in params)
    raise KernelRuleError(rule.op, f"{first} dtype {_dtype_name(dtype)} with {listed}: "
                                   "mixed dtypes need a float16 or bfloat16 input and "
                                   "float32 parameters")
