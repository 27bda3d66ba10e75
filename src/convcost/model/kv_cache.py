"""The KV cache of a generation: what the prefill's ``transformers`` cache holds per layer
(:class:`CacheLayer`: key and value shapes and dtypes, the sliding window), and the caches a
traced decode step starts from (:func:`new_layers`, :func:`fill_cache`), with
``DynamicLayer`` and ``DynamicSlidingWindowLayer`` semantics (see
:mod:`convcost.model.generate`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

__all__ = ["CacheLayer", "cache_bytes", "cache_layers", "cache_of", "fill_cache", "new_layers",
           "segments", "shape_at"]


def cache_of(out: Any) -> Any:
    """The cache a forward's output carries (``cache``, or the older ``past_key_values``)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def nbytes_of(t: Any) -> int:
    """Bytes of the elements a tensor (or a view) shows, as ``Tensor.nbytes``."""
    return int(t.numel()) * int(t.element_size())


@dataclass(frozen=True)
class CacheLayer:
    """One layer of the prefill's cache: key and value shapes (``(batch, heads, length,
    head_dim)``) and dtypes (under autocast keys and values may differ: RoPE's fp32 cos/sin
    promote the keys), and the sliding window (``None``: full attention)."""

    key_shape: tuple[int, ...]
    key_dtype: Any
    value_shape: tuple[int, ...]
    value_dtype: Any
    window: int | None

    def held(self, length: int) -> int:
        """Positions the layer holds before a decode step at cache length ``length``
        (``DynamicSlidingWindowLayer`` keeps the last ``window - 1``)."""
        return length if self.window is None else min(length, self.window - 1)

    def position_bytes(self) -> int:
        """Bytes one cached position takes (keys and values)."""
        return (nbytes_shape(shape_at(self.key_shape, 1), self.key_dtype)
                + nbytes_shape(shape_at(self.value_shape, 1), self.value_dtype))


def shape_at(shape: tuple[int, ...], length: int) -> tuple[int, ...]:
    """``shape`` with its sequence dimension (the second last) set to ``length``."""
    return (*shape[:-2], length, shape[-1])


def cache_layers(cache: Any, target: str) -> list[CacheLayer]:
    """The layers of a DynamicCache of full-attention and sliding-window layers."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    layers = getattr(cache, "layers", None)
    if layers is None:
        raise SpecError("model", target, "the prefill returned no transformers cache "
                        "(a causal language model with use_cache is needed)")
    found = []
    layer: Any
    for layer in layers:
        kind: Any = type(layer)
        if kind not in (DynamicLayer, DynamicSlidingWindowLayer):
            raise SpecError("model", target, f"cache layers of type {kind.__name__} "
                            "(quantized, offloaded, linear-attention, …) are not supported; "
                            "only DynamicLayer (full attention) and DynamicSlidingWindowLayer")
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        if keys is None or values is None or not getattr(layer, "is_initialized", True):
            raise SpecError("model", target, "a cache layer the prefill left empty (layers "
                            "sharing another layer's keys and values) is not supported")
        if keys.shape[:-1] != values.shape[:-1]:
            raise SpecError("model", target, "keys and values of different batch, head or "
                            "length dimensions are not supported")
        window = int(layer.sliding_window) if kind is DynamicSlidingWindowLayer else None
        found.append(CacheLayer(tuple(keys.shape), keys.dtype, tuple(values.shape),
                                values.dtype, window))
    return found


def cache_bytes(cache: Any) -> int:
    return sum(nbytes_of(layer.keys) + nbytes_of(layer.values) for layer in cache.layers)


def nbytes_shape(shape: tuple[int, ...], dtype: Any) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * int(dtype.itemsize)


def segments(lengths: Sequence[int], layers: Sequence[CacheLayer]) -> list[list[int]]:
    """``lengths`` cut where a sliding-window layer's cache stops growing (at ``window -
    1`` positions): within a run every layer's held length is affine in the cache length."""
    runs: list[list[int]] = []
    last: tuple[bool, ...] | None = None
    for length in lengths:
        key = tuple(c.held(length) == length for c in layers)
        if key != last:
            runs.append([])
            last = key
        runs[-1].append(length)
    return runs


def new_layers(layers: Sequence[CacheLayer], length: int) -> list[Any]:
    """Empty cache layers for a decode step at cache length ``length`` (made outside the
    trace: a sliding layer's window tensor is no op of the step)."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    full: Any = DynamicLayer
    sliding: Any = DynamicSlidingWindowLayer
    made: list[Any] = []
    for c in layers:
        layer: Any = full() if c.window is None else sliding(sliding_window=c.window)
        if c.window is not None:
            layer.cumulative_length = length
        made.append(layer)
    return made


def fill_cache(layers: Sequence[CacheLayer], made: Sequence[Any], length: int,
               where: str) -> Any:
    """A ``DynamicCache`` of the layers ``made`` holding ``torch.empty`` keys and values of
    the positions each holds at ``length`` on ``where`` (called inside the traced forward:
    two ``empty`` ops per layer, in layer order)."""
    import torch
    from transformers import DynamicCache

    cache: Any = DynamicCache()
    for c, layer in zip(layers, made):
        n = c.held(length)
        layer.keys = torch.empty(shape_at(c.key_shape, n), dtype=c.key_dtype, device=where)
        layer.values = torch.empty(shape_at(c.value_shape, n), dtype=c.value_dtype,
                                   device=where)
        layer.device, layer.is_initialized = layer.keys.device, True
        cache.layers.append(layer)
    return cache
