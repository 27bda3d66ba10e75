"""What convcost records of a dispatched op and its tensors, without keeping any tensor.

Each aten op becomes an :class:`~convcost.ops.OpCall` (:func:`op_call`: tensors replaced by
:class:`~convcost.ops.TensorMeta`, every argument named after the op's schema with the
schema's defaults filled in; the op named by :func:`op_name`). Also the one mapping between
``torch.dtype`` and convcost's dtype names (:func:`torch_dtype`, :func:`dtype_name`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ...ops import OpCall, Param, TensorMeta, bind


def torch_dtype(name: str) -> torch.dtype:
    """The ``torch.dtype`` called ``name`` (``"float32"``, ``"int64"``...)."""
    d = getattr(torch, name, None)
    if not isinstance(d, torch.dtype):
        raise ValueError(name)
    return d


def dtype_name(d: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(d).removeprefix("torch.")


def tensor_meta(t: torch.Tensor) -> TensorMeta:
    """Shape and dtype of ``t``."""
    return TensorMeta(tuple(int(s) for s in t.shape), dtype_name(t.dtype))


def meta(x: Any) -> Any:
    """Replace tensors by TensorMeta, lists by tuples, torch objects by their names."""
    if isinstance(x, torch.Tensor):
        return tensor_meta(x)
    if x is None or isinstance(x, (bool, int, float, str, complex)):
        return x
    if isinstance(x, (list, tuple)):
        return tuple(meta(e) for e in x)
    if isinstance(x, torch.dtype):
        return dtype_name(x)
    if isinstance(x, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return x.node.hint if hasattr(x.node, "hint") else str(x)
    if isinstance(x, Mapping):
        return tuple((k, meta(v)) for k, v in x.items())
    return str(x)


def tensors(x: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``x`` (nested lists, tuples, dicts, dataclass-like outputs)."""
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for e in x:
            yield from tensors(e)
    elif isinstance(x, Mapping):
        for e in x.values():
            yield from tensors(e)


def _out_meta(out: Any) -> tuple[TensorMeta | None, ...]:
    if isinstance(out, torch.Tensor):
        return (tensor_meta(out),)
    if isinstance(out, (list, tuple)):
        return tuple(tensor_meta(o) if isinstance(o, torch.Tensor) else None for o in out)
    return ()


def op_name(func: Any) -> str:
    """The name convcost records for op ``func``: ``aten.convolution.default`` ->
    ``"convolution.default"``; any other namespace keeps it, the way torch spells a
    qualified op: ``torch.ops.mylib.myop.default`` -> ``"mylib::myop.default"``."""
    ns = str(getattr(func, "namespace", "aten"))
    full = str(func)
    rest = full[len(ns) + 1:] if full.startswith(ns + ".") else full
    return rest if ns == "aten" else f"{ns}::{rest}"


_SIGNATURES: dict[Any, tuple[Param, ...]] = {}


def signature(func: Any) -> tuple[Param, ...]:
    """The parameters of ``func``'s schema (cached per op; empty when it has no schema)."""
    sig = _SIGNATURES.get(func)
    if sig is None:
        schema = getattr(func, "_schema", None)
        sig = tuple(
            Param(a.name, bool(a.kwarg_only), bool(a.has_default_value()),
                  meta(a.default_value) if a.has_default_value() else None)
            for a in (schema.arguments if schema is not None else ())
        )
        _SIGNATURES[func] = sig
    return sig


def op_call(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> OpCall:
    """The :class:`~convcost.ops.OpCall` of one dispatched call of ``func`` (arguments named
    by its schema, defaults filled in, tensors replaced by their metadata)."""
    return bind(op_name(func), signature(func), [meta(a) for a in args],
                {k: meta(v) for k, v in kwargs.items()}, _out_meta(out))
