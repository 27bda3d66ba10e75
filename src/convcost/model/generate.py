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
Keys and values each keep the dtype the prefill's cache gave them: under autocast they
differ (RoPE's fp32 cos/sin promote Llama's keys to fp32; the values are bf16/fp16).

**Sliding windows.** A ``DynamicSlidingWindowLayer`` (Mistral; Gemma2's alternate layers)
is traced as transformers runs it: before a step at cache length ``L`` it holds
``min(L, window - 1)`` positions with ``cumulative_length = L`` (which sets the mask), and
keeps the last ``window - 1`` after it. The decode lengths are cut where a window fills
(``L = window - 1``); each run is extrapolated (or traced) on its own, as below.

**Refused.** Encoder-decoder models (T5, BART: an encoder pass and a cross-attention cache
are not modelled); a prompt plus new tokens beyond a learned absolute position table
(:func:`convcost.frontends.positions.position_limit`: ``P + T - 1 > n_positions`` is an
IndexError in a real run); cache layers of other types (quantized, offloaded, linear
attention). Errors name the API arguments (``prompt_len``, ``new_tokens``, ``model``);
the CLI maps them to its flags.

**What is exact and what is extrapolated.** The prefill and the first and last decode steps
are always traced; their costs, the cache's bytes (from the traced cache tensors) and the
weights are exact. With more than three decode steps, one more step (the middle length) is
traced (per run of lengths between window boundaries) and the decode totals are
extrapolated from the three when every forward count
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
from typing import TYPE_CHECKING, Any

from ..cost import Cost
from ..errors import SpecError
from ..formulas.registry import FormulaRegistry
from ..ops import Formula
from ..vocab import Counting, Dispatch
from .kv_cache import cache_bytes, cache_layers, cache_of, fill_cache, new_layers, segments
from .results import ModelResult

if TYPE_CHECKING:
    from ..hardware.devices import DeviceSpec
    from ..hardware.generation import GenerationTime

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
    included). ``sliding_windows`` is ``((window, layers), …)`` of the sliding-window cache
    layers (each keeps at most ``window - 1`` positions) among the ``cache_layers``.
    ``timing``: the time and memory on a device
    (:func:`convcost.hardware.generation.generation_time`) when one was given.

    Like :class:`~convcost.model.ModelResult` it renders itself: ``render(fmt)`` (``table``,
    ``json``, ``markdown``, ``notebook``), ``to_pandas()`` (one row per phase and traced step)
    and ``_repr_html_`` in a notebook."""

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
    sliding_windows: tuple[tuple[int, int], ...] = ()
    cache_layers: int = 0
    construction: str | None = field(default=None, compare=False)
    timing: GenerationTime | None = field(default=None, compare=False, repr=False)

    def render(self, fmt: str = "table") -> str:
        """The report in ``fmt`` (:func:`convcost.renderers.render`; ``table``, ``json``,
        ``markdown`` or ``notebook``), with the device's time and memory when
        :attr:`timing` is set."""
        from ..renderers import render

        return render(self, fmt)

    def to_pandas(self) -> Any:
        """The prefill and each traced decode step as a pandas DataFrame indexed by phase
        (needs pandas): exact MACs, FLOPs, bytes moved, peak and cache bytes, and seconds
        with a device."""
        from ..renderers import to_frame

        return to_frame(self)

    def _repr_html_(self) -> str:
        from ..renderers import render

        return render(self, "notebook")

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
                "kv_cache_sliding_windows": [{"window": w, "layers": n}
                                             for w, n in self.sliding_windows],
                "peak_bytes": self.peak_bytes,
            },
            "device": None,
            "unsupported_ops": [list(u) for u in self.prefill.unsupported_ops],
        }


def _moved(result: ModelResult) -> int:
    return sum(o.read + o.written for o in result.ops)


def _forward_keywords(model: Any, target: str) -> tuple[str, dict[str, Any]]:
    """The keyword the forward takes the cache by, and the fixed keywords of every call."""
    params = inspect.signature(type(model).forward).parameters
    cache_kw = "cache" if "cache" in params else "past_key_values"
    if cache_kw not in params or "use_cache" not in params:
        raise SpecError("model", target, "generation needs a causal language model whose "
                        "forward takes a KV cache (a transformers model such as "
                        "LlamaForCausalLM)")
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
    device: str | DeviceSpec | None = None,
    tf32: bool = False,
    stack: str | None = None,
) -> GenerationResult:
    """Greedy generation of ``new_tokens`` tokens after a ``prompt_len``-token prompt for
    ``batch`` sequences by the causal LM ``model`` (a decoder-only ``transformers`` model, on
    meta or the CPU): the prefill and ``new_tokens - 1`` decode steps with a
    ``DynamicCache`` (full-attention and sliding-window layers), each traced on fake tensors
    (see the module doc for what is exact and what extrapolated; ``exhaustive`` traces
    every decode step). ``dtype``/``amp``/``counting``/``formulas``/``dispatch``/
    ``compute_capability`` as for :func:`convcost.model.analyze` (``dispatch="cuda"``: every
    forward on fake CUDA tensors, the KV cache too).

    ``device`` (a preset name, or a :class:`~convcost.hardware.devices.DeviceSpec`) adds the
    time estimate and whether weights, KV cache and activations fit its usable memory
    (:func:`convcost.hardware.generation.generation_time`, as ``--device`` on the CLI: the
    trace then follows the device's dispatch path unless ``dispatch`` is given) in
    :attr:`GenerationResult.timing`; ``tf32`` and ``stack`` shape that estimate. Raises
    :class:`~convcost.errors.SpecError` naming the argument."""
    from . import analyze

    for arg, value, least in (("batch", batch, 1), ("prompt_len", prompt_len, 1),
                              ("new_tokens", new_tokens, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SpecError(arg, value, f"must be an integer >= {least}")
    spec = _device(device, tf32, stack)
    if spec is not None:  # the device's dispatch path, as --device gives it on the CLI
        from ..hardware.dispatch import dispatch_options

        opts = dispatch_options(spec, dispatch, "dispatch")
        dispatch = opts["dispatch"]
        if compute_capability is None:
            compute_capability = opts.get("compute_capability")
    target = name or type(model).__name__
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        raise SpecError("model", target, "encoder-decoder generation (T5, BART, …: an "
                        "encoder pass and a cross-attention cache) is not supported; give a "
                        "decoder-only causal language model (…ForCausalLM)")
    can_generate = getattr(model, "can_generate", None)
    if not callable(can_generate) or not can_generate():
        raise SpecError("model", target, "not a causal language model that can generate "
                        "(give a transformers …ForCausalLM / LM-head model)")
    from ..frontends.positions import position_limit

    limit = position_limit(model)
    if limit is not None:
        key, rows = limit
        if prompt_len > rows:
            raise SpecError("prompt_len", prompt_len, f"{target} embeds at most {rows} "
                            f"positions ({key} = {rows}); a longer prompt is an index error")
        if prompt_len + new_tokens - 1 > rows:
            raise SpecError("new_tokens", new_tokens, f"a {prompt_len}-token prompt and "
                            f"{new_tokens} new tokens feed {prompt_len + new_tokens - 1} "
                            f"positions (the last new token is not fed back), but {target} "
                            f"embeds at most {rows} ({key} = {rows}): at most "
                            f"{rows - prompt_len + 1} new tokens after this prompt")
    cache_kw, fixed = _forward_keywords(model, target)
    own = type(model).forward
    had = "forward" in vars(model)
    saved = vars(model).get("forward")
    seen: dict[str, Any] = {}

    def run(inputs: str, make: Callable[[], Any] | None) -> ModelResult:
        def forward(*args: Any, **kwargs: Any) -> Any:
            if make is not None:
                kwargs[cache_kw] = make()
            out = own(model, *args, **kwargs)
            seen["cache"] = cache_of(out)
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
    layers = cache_layers(seen.get("cache"), target)
    prefill_cache = cache_bytes(seen["cache"])
    where = "cuda" if dispatch == "cuda" else "cpu"

    def step(length: int) -> DecodeStep:
        made = new_layers(layers, length)

        def make() -> Any:
            return fill_cache(layers, made, length, where)

        result = run(f"{batch}x1:int64", make)
        n = 2 * len(layers)
        dropped = [o.name for o in result.ops[:n]]
        if dropped != [_MADE] * n:  # pragma: no cover - the order the forward runs in
            raise AssertionError(f"decode step: expected {n} cache tensors first, got {dropped}")
        result = replace(result, ops=result.ops[n:])
        return DecodeStep(length, result, cache_bytes(seen["cache"]))

    n_steps = new_tokens - 1
    steps: list[DecodeStep] = []
    extrapolated = False
    decode, moved = Cost(), 0
    for run_lengths in segments([prompt_len + i for i in range(n_steps)], layers):
        part, guessed = _decode_run(run_lengths, step, exhaustive)
        steps += part
        extrapolated = extrapolated or guessed
        if guessed:
            first, last = part[0], part[-1]
            k = len(run_lengths)
            decode += _series(first.result.totals.forward, last.result.totals.forward, k)
            moved += k * (_moved(first.result) + _moved(last.result)) // 2
        else:
            decode += sum((s.result.totals.forward for s in part), Cost())
            moved += sum(_moved(s.result) for s in part)
    mem = prefill.memory
    final = steps[-1].cache_bytes if steps else prefill_cache
    peak = max([mem.peak_inference_bytes, *(s.result.memory.peak_inference_bytes
                                            for s in steps)])
    windows = sorted({c.window for c in layers if c.window is not None})
    result = GenerationResult(
        model=target, batch=batch, prompt_len=prompt_len, new_tokens=new_tokens,
        dtype=prefill.dtype, amp=prefill.amp, prefill=prefill, steps=tuple(steps),
        decode=decode, decode_bytes_moved=moved, extrapolated=extrapolated,
        params_bytes=mem.params_bytes, buffers_bytes=mem.buffers_bytes,
        kv_cache_prefill_bytes=prefill_cache, kv_cache_final_bytes=final,
        kv_cache_token_bytes=sum(c.position_bytes() for c in layers), peak_bytes=peak,
        sliding_windows=tuple((w, sum(c.window == w for c in layers)) for w in windows),
        cache_layers=len(layers))
    if spec is None:
        return result
    from ..hardware.generation import generation_time

    return replace(result, timing=generation_time(result, spec, tf32))


def _device(device: str | DeviceSpec | None, tf32: bool, stack: str | None) -> DeviceSpec | None:
    """The device of ``analyze_generation(device=…)`` (a SpecError naming ``device``,
    ``tf32`` or ``stack`` when they are not valid)."""
    from ..hardware.devices import DeviceSpec, get_device

    if not isinstance(tf32, bool):
        raise SpecError("tf32", tf32, "must be True or False")
    if device is None:
        for arg, value in (("tf32", tf32 or None), ("stack", stack)):
            if value is not None:
                raise SpecError(arg, value, "has no effect without device")
        return None
    if isinstance(device, str):
        spec = get_device(device)
    elif isinstance(device, DeviceSpec):
        spec = device
    else:
        raise SpecError("device", device, "a device preset name (e.g. 'h100-sxm') or a "
                        "DeviceSpec")
    if stack is not None:
        from ..hardware.stacks import with_stack

        spec = with_stack(spec, stack, "stack")
    return spec


def _decode_run(lengths: Sequence[int], step: Callable[[int], DecodeStep],
                exhaustive: bool) -> tuple[list[DecodeStep], bool]:
    """The traced steps of one run of cache lengths and whether its totals are to be
    extrapolated (three steps traced and found exactly affine; else every step)."""
    if len(lengths) <= 3 or exhaustive:
        return [step(length) for length in lengths], False
    a, b = lengths[0], lengths[-1]
    traced = [step(a), step((a + b) // 2), step(b)]
    if _affine(traced):
        return traced, True
    done = {s.cache_len: s for s in traced}
    return [done.get(length) or step(length) for length in lengths], False


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
