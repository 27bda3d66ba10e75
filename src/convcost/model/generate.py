"""Generation with a KV cache (``convcost model hf:… --mode generate``): the prefill and
the decode steps of a causal language model, each traced on fake tensors.

:func:`analyze_generation` follows ``model.generate(input_ids, max_new_tokens=T)`` with a
``transformers`` ``DynamicCache`` (greedy, no padding): one **prefill** forward over the
``P`` prompt tokens (``use_cache=True``, ``logits_to_keep=1`` as ``generate`` passes it:
only the last position's logits), which yields the first new token, then ``T - 1``
**decode steps**, each a forward over the one newest token per sequence with the cache of
the previous length ``L`` (``L = P … P + T - 2``). The cache after generation holds
``P + T - 1`` positions (the last token generated is never fed back), as the cache
``generate`` returns.

A decode step is traced by calling the model's forward with a ``DynamicCache`` whose layers
hold fake key/value tensors of length ``L``, made (as ``torch.empty``, each shaped like the
prefill's cache layer) at the start of the traced forward and dropped into the cache, so
that they die when ``DynamicLayer.update`` replaces them by the longer ones, as they do for
real. Those ``empty`` ops are removed from the step's op list (nothing of the real step).

**What is exact and what is extrapolated.** The prefill and the first and last decode steps
are always traced; their costs, the cache's bytes (from the traced cache tensors) and the
weights are exact. With more than three decode steps, one more step (the middle length) is
traced and the decode totals are extrapolated from the three when every forward count
(mults, adds, MACs, other) and the bytes read and written are *exactly* affine in ``L``
at the three lengths (then the sum over all steps is the arithmetic series, an exact
integer); when any is not, every step is traced (``exhaustive=True`` always does). The
peak is the largest of the traced forwards' peaks (the last step, with the longest cache,
is always traced; peaks need not be affine: allocation sizes round).
:attr:`GenerationResult.extrapolated` says which was done. The time on a device is
:mod:`convcost.hardware.generation`'s; the report's lines are :mod:`convcost.view.generation`'s.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..cost import Cost
from ..errors import SpecError
from ..formulas.registry import FormulaRegistry
from ..ops import Formula
from ..vocab import Counting, Dispatch
from .results import ModelResult

__all__ = ["DecodeStep", "GenerationResult", "analyze_generation"]

#: The name of the step's own cache tensors in its op list (removed; see the module doc).
_MADE = "empty.memory_format"


@dataclass(frozen=True)
class DecodeStep:
    """One traced decode step: the cache length it starts from, its analysis (its
    ``empty`` cache tensors removed from ``result.ops``) and the cache bytes after it."""

    cache_len: int
    result: ModelResult
    cache_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """Cache length, forward cost, bytes moved, peak, cache bytes after (``time_s``:
        ``None`` here; :mod:`convcost.view.generation` fills it with a device)."""
        return {
            "cache_len": self.cache_len,
            "forward": self.result.totals.forward.to_dict(),
            "bytes_moved": _moved(self.result),
            "peak_bytes": self.result.memory.peak_inference_bytes,
            "kv_cache_bytes_after": self.cache_bytes,
            "time_s": None,
        }


@dataclass(frozen=True)
class GenerationResult:
    """Prefill plus ``new_tokens - 1`` decode steps of a causal LM (see the module doc).

    ``prefill`` is the prefill's analysis; ``steps`` the traced decode steps, in cache-length
    order (the first and the last always); ``decode`` the forward cost of all decode steps
    together and ``decode_bytes_moved`` their bytes read and written. ``kv_cache_prefill_bytes``
    is the cache after the prefill (``P`` positions), ``kv_cache_final_bytes`` after
    generation (``P + T - 1``), ``kv_cache_token_bytes`` what one more position adds.
    ``peak_bytes`` is the largest live-bytes peak of any forward (weights and cache
    included). Times on a device: :func:`convcost.hardware.generation.generation_time`."""

    model: str
    batch: int
    prompt_len: int
    new_tokens: int
    dtype: str
    amp: str | None
    prefill: ModelResult
    steps: tuple[DecodeStep, ...]
    decode: Cost
    decode_bytes_moved: int
    extrapolated: bool
    params_bytes: int
    buffers_bytes: int
    kv_cache_prefill_bytes: int
    kv_cache_final_bytes: int
    kv_cache_token_bytes: int
    peak_bytes: int
    construction: str | None = field(default=None, compare=False)

    @property
    def decode_steps(self) -> int:
        """How many decode forwards generation runs: ``new_tokens - 1``."""
        return self.new_tokens - 1

    @property
    def total(self) -> Cost:
        """Forward cost of the prefill and every decode step."""
        return self.prefill.totals.forward + self.decode

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``"kind": "generation"``)."""
        first = self.steps[0] if self.steps else None
        last = self.steps[-1] if self.steps else None
        return {
            "kind": "generation",
            "model": self.model,
            "construction": self.construction,
            "batch": self.batch,
            "prompt_len": self.prompt_len,
            "new_tokens": self.new_tokens,
            "decode_steps": self.decode_steps,
            "dtype": self.dtype,
            "amp": self.amp,
            "dispatch": self.prefill.dispatch,
            "compute_capability": self.prefill.compute_capability,
            "backends": dict(self.prefill.backends),
            "decode_totals": "extrapolated" if self.extrapolated else "every step traced",
            "traced_cache_lens": [s.cache_len for s in self.steps],
            "prefill": {
                "forward": self.prefill.totals.forward.to_dict(),
                "bytes_moved": _moved(self.prefill),
                "peak_bytes": self.prefill.memory.peak_inference_bytes,
                "time_s": None,
            },
            "decode": {
                "forward": self.decode.to_dict(),
                "bytes_moved": self.decode_bytes_moved,
                "first_step": None if first is None else first.to_dict(),
                "last_step": None if last is None else last.to_dict(),
                "traced_steps": [s.to_dict() for s in self.steps],
                "time_s": None,
                "time_per_token_s": None,
            },
            "total_forward": self.total.to_dict(),
            "memory": {
                "params_bytes": self.params_bytes,
                "buffers_bytes": self.buffers_bytes,
                "kv_cache_prefill_bytes": self.kv_cache_prefill_bytes,
                "kv_cache_final_bytes": self.kv_cache_final_bytes,
                "kv_cache_growth_bytes": self.kv_cache_final_bytes - self.kv_cache_prefill_bytes,
                "kv_cache_token_bytes": self.kv_cache_token_bytes,
                "peak_bytes": self.peak_bytes,
            },
            "device": None,
            "unsupported_ops": [list(u) for u in self.prefill.unsupported_ops],
        }


def _moved(result: ModelResult) -> int:
    return sum(o.read + o.written for o in result.ops)


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _nbytes(t: Any) -> int:
    return int(t.numel()) * int(t.element_size())


def _cache_layers(cache: Any, target: str) -> list[tuple[tuple[int, ...], Any]]:
    """``(key shape, dtype)`` per layer of a DynamicCache of full-attention layers."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if layers is None:
        raise SpecError("--mode", "generate", f"{target}: the prefill returned no "
                        "transformers cache (a causal language model with use_cache is needed)")
    found = []
    layer: Any
    for layer in layers:
        kind: Any = type(layer)
        if kind is not DynamicLayer:
            raise SpecError("--mode", "generate", f"{target}: cache layers of type "
                            f"{type(layer).__name__} (sliding-window, quantized, …) are not "
                            "supported; only DynamicLayer (full attention)")
        if layer.keys.shape != layer.values.shape:
            raise SpecError("--mode", "generate", f"{target}: keys and values of different "
                            "shapes are not supported")
        found.append((tuple(layer.keys.shape), layer.keys.dtype))
    return found


def _cache_bytes(cache: Any) -> int:
    return sum(_nbytes(layer.keys) + _nbytes(layer.values) for layer in cache.layers)


def _forward_keywords(model: Any) -> tuple[str, dict[str, Any]]:
    """The keyword the forward takes the cache by, and the fixed keywords of every call."""
    params = inspect.signature(type(model).forward).parameters
    cache_kw = "cache" if "cache" in params else "past_key_values"
    if cache_kw not in params or "use_cache" not in params:
        raise SpecError("--mode", "generate", "needs a causal language model whose forward "
                        "takes a KV cache (a transformers model such as hf:LlamaForCausalLM)")
    fixed: dict[str, Any] = {"use_cache": True}
    if "logits_to_keep" in params:
        fixed["logits_to_keep"] = 1
    elif "num_logits_to_keep" in params:
        fixed["num_logits_to_keep"] = 1
    return cache_kw, fixed


def analyze_generation(
    model: Any,
    *,
    batch: int = 1,
    prompt_len: int,
    new_tokens: int,
    dtype: str | None = None,
    amp: str | None = None,
    counting: Counting = "dense",
    name: str | None = None,
    formulas: Mapping[str, Formula] | FormulaRegistry | None = None,
    exhaustive: bool = False,
    dispatch: Dispatch | None = None,
    compute_capability: str | None = None,
) -> GenerationResult:
    """Greedy generation of ``new_tokens`` tokens after a ``prompt_len``-token prompt for
    ``batch`` sequences by the causal LM ``model`` (a ``transformers`` model, on meta or the
    CPU): the prefill and ``new_tokens - 1`` decode steps with a ``DynamicCache``, each
    traced on fake tensors (see the module doc for what is exact and what extrapolated;
    ``exhaustive`` traces every decode step). ``dtype``/``amp``/``counting``/``formulas``/
    ``dispatch``/``compute_capability`` as for :func:`convcost.model.analyze` (``dispatch=
    "cuda"``: every forward on fake CUDA tensors, the KV cache too); the time on a device is
    :func:`convcost.hardware.generation.generation_time`'s. Raises
    :class:`~convcost.errors.SpecError` naming the argument."""
    from . import analyze

    for arg, value, least in (("batch", batch, 1), ("--prompt-len", prompt_len, 1),
                              ("--new-tokens", new_tokens, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SpecError(arg, value, f"must be an integer >= {least}")
    target = name or type(model).__name__
    can_generate = getattr(model, "can_generate", None)
    if not callable(can_generate) or not can_generate():
        raise SpecError("--mode", "generate", f"{target} is not a causal language model that "
                        "can generate (give a transformers …ForCausalLM / LM-head model)")
    cache_kw, fixed = _forward_keywords(model)
    own = type(model).forward
    had = "forward" in vars(model)
    saved = vars(model).get("forward")
    seen: dict[str, Any] = {}

    def run(inputs: str, make: Callable[[], Any] | None) -> ModelResult:
        def forward(*args: Any, **kwargs: Any) -> Any:
            if make is not None:
                kwargs[cache_kw] = make()
            out = own(model, *args, **kwargs)
            seen["cache"] = _cache_of(out)
            return out

        model.forward = forward
        try:
            return analyze(model, [inputs], kwargs=dict(fixed), mode="inference", dtype=dtype,
                           amp=amp, counting=counting, name=name, formulas=formulas,
                           dispatch=dispatch, compute_capability=compute_capability)
        finally:
            if had:
                model.forward = saved
            else:
                del model.forward

    prefill = run(f"{batch}x{prompt_len}:int64", None)
    layers = _cache_layers(seen.get("cache"), target)
    prefill_cache = _cache_bytes(seen["cache"])

    def shape_at(shape: tuple[int, ...], length: int) -> tuple[int, ...]:
        return (*shape[:-2], length, shape[-1])

    where = "cuda" if dispatch == "cuda" else "cpu"

    def step(length: int) -> DecodeStep:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        def make() -> Any:
            import torch

            new_layer: Any = DynamicLayer
            cache: Any = DynamicCache()
            for s, d in layers:
                layer: Any = new_layer()
                layer.keys = torch.empty(shape_at(s, length), dtype=d, device=where)
                layer.values = torch.empty(shape_at(s, length), dtype=d, device=where)
                layer.device, layer.is_initialized = layer.keys.device, True
                cache.layers.append(layer)
            return cache

        result = run(f"{batch}x1:int64", make)
        n = 2 * len(layers)
        dropped = [o.name for o in result.ops[:n]]
        if dropped != [_MADE] * n:  # pragma: no cover - the order the forward runs in
            raise AssertionError(f"decode step: expected {n} cache tensors first, got {dropped}")
        result = replace(result, ops=result.ops[n:])
        return DecodeStep(length, result, _cache_bytes(seen["cache"]))

    n_steps = new_tokens - 1
    lengths = [prompt_len + i for i in range(n_steps)]
    steps: list[DecodeStep] = []
    extrapolated = False
    if n_steps:
        if n_steps <= 3 or exhaustive:
            steps = [step(length) for length in lengths]
        else:
            a, b = lengths[0], lengths[-1]
            steps = [step(a), step((a + b) // 2), step(b)]
            extrapolated = _affine(steps)
            if not extrapolated:
                done = {s.cache_len: s for s in steps}
                steps = [done.get(length) or step(length) for length in lengths]
    if extrapolated:
        first, last = steps[0], steps[-1]
        decode = _series(first.result.totals.forward, last.result.totals.forward, n_steps)
        moved = n_steps * (_moved(first.result) + _moved(last.result)) // 2
    else:
        decode = sum((s.result.totals.forward for s in steps), Cost())
        moved = sum(_moved(s.result) for s in steps)
    mem = prefill.memory
    per_token = sum(2 * _nbytes_shape(shape_at(s, 1), d) for s, d in layers)
    final = steps[-1].cache_bytes if steps else prefill_cache
    peak = max([mem.peak_inference_bytes, *(s.result.memory.peak_inference_bytes
                                            for s in steps)])
    return GenerationResult(
        model=target, batch=batch, prompt_len=prompt_len, new_tokens=new_tokens,
        dtype=prefill.dtype, amp=prefill.amp, prefill=prefill, steps=tuple(steps),
        decode=decode, decode_bytes_moved=moved, extrapolated=extrapolated,
        params_bytes=mem.params_bytes, buffers_bytes=mem.buffers_bytes,
        kv_cache_prefill_bytes=prefill_cache, kv_cache_final_bytes=final,
        kv_cache_token_bytes=per_token, peak_bytes=peak)


def _nbytes_shape(shape: tuple[int, ...], dtype: Any) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * int(dtype.itemsize)


def _quantities(s: DecodeStep) -> list[int]:
    f = s.result.totals.forward
    return [f.mults, f.adds, f.macs, f.other, sum(o.read for o in s.result.ops),
            sum(o.written for o in s.result.ops)]


def _affine(steps: Sequence[DecodeStep]) -> bool:
    """Every quantity of the three steps exactly on one line in the cache length."""
    a, m, b = steps
    return all((qm - qa) * (b.cache_len - a.cache_len) == (qb - qa) * (m.cache_len - a.cache_len)
               for qa, qm, qb in zip(_quantities(a), _quantities(m), _quantities(b)))


def _series(first: Cost, last: Cost, n: int) -> Cost:
    """Sum of ``n`` costs affine in their index from ``first`` to ``last`` (exact)."""
    def total(x: int, y: int) -> int:
        return n * (x + y) // 2

    return Cost(mults=total(first.mults, last.mults), adds=total(first.adds, last.adds),
                macs=total(first.macs, last.macs), other=total(first.other, last.other))
