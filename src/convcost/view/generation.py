"""The generation report (``convcost model hf:… --mode generate``): plain-text lines and
the JSON document of a :class:`~convcost.model.generate.GenerationResult`, with its time on
a device (:class:`~convcost.hardware.generation.GenerationTime`) when one was given (or the
result carries one: ``analyze_generation(..., device=…)``): then also whether the forward
that needs the most memory fits the device (the wording of the model report's ``memory
on DEVICE`` line) and what its live peak holds (weights, that step's KV cache, the rest), and
the per-phase rows of the Markdown/notebook tables and ``to_pandas()`` (:func:`phase_rows`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cost import Cost
    from ..hardware.generation import GenerationTime
    from ..model.generate import GenerationResult

__all__ = ["PHASE_COLUMNS", "cache_at", "generation_json", "generation_lines", "memory_lines",
           "phase_rows", "time_lines"]


def generation_json(g: GenerationResult, t: GenerationTime | None) -> dict[str, Any]:
    """The JSON report: ``g.to_dict()`` with its ``time_s`` keys filled and a ``hardware``
    object (host and device parts per phase, the stack, the ``generate()`` loop) when
    ``t`` is given."""
    d = g.to_dict()
    t = g.timing if t is None else t
    if t is None:
        return d
    d["device"] = t.device
    d["prefill"]["time_s"] = t.prefill_s
    dec = d["decode"]
    dec["time_s"] = t.decode_s
    dec["time_per_token_s"] = t.per_token_s
    times = {s.cache_len: s.time_s for s in t.steps}
    for s in dec["traced_steps"]:
        s["time_s"] = times.get(s["cache_len"])
    for key in ("first_step", "last_step"):
        if dec[key] is not None:
            dec[key]["time_s"] = times.get(dec[key]["cache_len"])
    d["hardware"] = t.to_dict()
    if t.memory is not None:
        weights = g.params_bytes + g.buffers_bytes
        cache = cache_at(g, t.memory_at)
        d["hardware"]["memory"].update(
            weights_bytes=weights, kv_cache_bytes=cache,
            activations_bytes=t.memory.live - weights - cache)
    return d


def generation_lines(g: GenerationResult, t: GenerationTime | None) -> list[str]:
    """The plain-text report, one line per fact (times when ``t`` is given)."""
    from ..units import exact_si, nbytes, seconds

    def cost(c: Cost) -> str:
        return f"{exact_si(c.macs)} MACs, {exact_si(c.flops)} FLOPs"

    t = g.timing if t is None else t
    times = {} if t is None else {s.cache_len: s.time_s for s in t.steps}

    def secs(s: float | None) -> str:
        return "" if s is None else f", est. {seconds(s)}"

    lines = [
        f"{g.model}: generation, batch {g.batch}, prompt {g.prompt_len} tokens, "
        f"{g.new_tokens} new tokens ({g.decode_steps} decode steps), {g.dtype}"
        + (f", amp {g.amp}" if g.amp else "")
        + (f", built on {g.construction}" if g.construction else ""),
        f"prefill: {cost(g.prefill.totals.forward)}{secs(None if t is None else t.prefill_s)}",
    ]
    if g.steps:
        first, last = g.steps[0], g.steps[-1]
        runs = " between the points where a window fills" if g.sliding_windows else ""
        how = (f"extrapolated (affine in the cache length{runs}, checked exactly at cache "
               "lengths " + ", ".join(str(s.cache_len) for s in g.steps) + ")"
               if g.extrapolated else "every step traced")
        lines += [
            f"decode, all {g.decode_steps} steps: {cost(g.decode)}"
            f"{secs(None if t is None else t.decode_s)} [{how}]",
            f"decode step at cache length {first.cache_len}: "
            f"{cost(first.result.totals.forward)}{secs(times.get(first.cache_len))}",
            f"decode step at cache length {last.cache_len}: "
            f"{cost(last.result.totals.forward)}{secs(times.get(last.cache_len))}",
        ]
        if t is not None and t.per_token_s is not None:
            lines.append(f"time per new token (decode): {seconds(t.per_token_s)}")
    lines += [
        f"total forward: {cost(g.total)}",
        f"weights: {nbytes(g.params_bytes)} parameters"
        + (f" + {nbytes(g.buffers_bytes)} buffers" if g.buffers_bytes else ""),
        f"KV cache: {nbytes(g.kv_cache_prefill_bytes)} after prefill "
        f"({g.prompt_len} positions) -> {nbytes(g.kv_cache_final_bytes)} at the "
        f"end ({g.prompt_len + g.new_tokens - 1} positions; "
        f"{nbytes(g.kv_cache_token_bytes)} per position)" + _windows(g),
        f"peak live memory of the generation: {nbytes(g.peak_bytes)}",
    ]
    if t is not None:
        lines += memory_lines(t, g)
        lines += time_lines(t, g)
    if g.prefill.unsupported_ops:
        lines.append("unsupported ops (not counted): " + ", ".join(
            f"{n} x{k}" for n, k in g.prefill.unsupported_ops))
    return lines


def _windows(g: GenerationResult) -> str:
    """How the sliding-window layers bound the cache (empty without any)."""
    if not g.sliding_windows:
        return ""
    parts = ", ".join(f"{n} of {g.cache_layers} layers with window {w} keep at most "
                      f"{w - 1} positions" for w, n in g.sliding_windows)
    return f"; sliding-window layers: {parts}"


def cache_at(g: GenerationResult, at: str) -> int:
    """The KV cache bytes after the forward ``at`` (``"prefill"`` or ``"decode step at
    cache length L"``)."""
    for s in g.steps:
        if at.endswith(f" {s.cache_len}"):
            return s.cache_bytes
    return g.kv_cache_prefill_bytes


def memory_lines(t: GenerationTime, g: GenerationResult) -> list[str]:
    """Whether the forward that needs the most memory fits the device (the wording of the
    model report's ``memory    on DEVICE`` line), and what its live peak holds."""
    from ..units import nbytes

    dm = t.memory
    if dm is None:
        return []
    head = f"memory    on {dm.device}: live tensors {nbytes(dm.live)}"
    if dm.peaks is not None:
        head += f", allocated {nbytes(dm.allocated)}, reserved {nbytes(dm.reserved)}"
    head += (f" of usable {nbytes(dm.usable)} ({nbytes(dm.capacity)} - "
             f"{nbytes(dm.reserve)} reserve): ")
    head += (f"fits, clears by {nbytes(dm.clearance)}" if dm.fits
             else f"DOES NOT FIT, short by {nbytes(-dm.clearance)}")
    cache = cache_at(g, t.memory_at)
    rest = dm.live - g.params_bytes - g.buffers_bytes - cache
    weights = g.params_bytes + g.buffers_bytes
    return [head, f"          at the {t.memory_at}: weights {nbytes(weights)} + KV cache "
            f"{nbytes(cache)} + activations and temporaries {nbytes(rest)}"]


def time_lines(t: GenerationTime, g: GenerationResult) -> list[str]:
    """Where the time goes: host and device per phase, the ``generate()`` loop, the stack,
    and the dispatch path the ops were traced on."""
    from ..units import seconds

    r = g.prefill
    path = ("ops traced on the CPU dispatch path" if r.dispatch != "cuda" else
            f"ops traced on the CUDA dispatch path, compute capability {r.compute_capability}"
            + "".join(f"; {k} {v}" for k, v in r.backends))
    p = t.prefill
    lines = [
        f"times: estimated on {t.device} ({path})",
        f"  prefill host {seconds(p.host_s)}, device {seconds(p.device_s)}"
        + (" (host-bound)" if p.host_bound else ""),
    ]
    if t.steps:
        loop = t.steps[-1].loop_host_s
        lines.append(
            f"  decode host {seconds(t.decode_host_s)}, device {seconds(t.decode_device_s)}"
            + (" (host-bound)" if t.decode_host_s > t.decode_device_s else "")
            + f"; generate() loop outside the forward {seconds(loop)} of host per step")
    sync = ("each step waits for the device (the stop check reads a device value)"
            if t.stack.generate_sync_per_step else "steps pipeline (a deferred stop check)")
    lines.append(f"  stack {t.stack.name} ({t.stack.description}); {sync}")
    return lines


#: Columns of :func:`phase_rows` (and of ``GenerationResult.to_pandas()``).
PHASE_COLUMNS = ("phase", "cache_len", "macs", "flops", "bytes_moved", "peak_bytes",
                 "kv_cache_bytes_after", "time_s")


def phase_rows(g: GenerationResult, t: GenerationTime | None = None) -> list[dict[str, Any]]:
    """One row per traced forward (``prefill``, ``decode step at cache length L``) and one
    for all decode steps together (``decode, all N steps``; its ``cache_len``, peak and
    cache are the last step's), exact numbers (:data:`PHASE_COLUMNS`; ``time_s``: seconds
    on the device of ``t`` or ``g.timing``, else ``None``)."""
    t = g.timing if t is None else t
    times = {} if t is None else {s.cache_len: s.time_s for s in t.steps}
    f = g.prefill.totals.forward
    rows = [{"phase": "prefill", "cache_len": 0, "macs": f.macs, "flops": f.flops,
             "bytes_moved": _moved_bytes(g.prefill.ops),
             "peak_bytes": g.prefill.memory.peak_inference_bytes,
             "kv_cache_bytes_after": g.kv_cache_prefill_bytes,
             "time_s": None if t is None else t.prefill_s}]
    for s in g.steps:
        c = s.result.totals.forward
        rows.append({"phase": f"decode step at cache length {s.cache_len}",
                     "cache_len": s.cache_len, "macs": c.macs, "flops": c.flops,
                     "bytes_moved": _moved_bytes(s.result.ops),
                     "peak_bytes": s.result.memory.peak_inference_bytes,
                     "kv_cache_bytes_after": s.cache_bytes, "time_s": times.get(s.cache_len)})
    if g.steps:
        last = g.steps[-1]
        rows.append({"phase": f"decode, all {g.decode_steps} steps", "cache_len": last.cache_len,
                     "macs": g.decode.macs, "flops": g.decode.flops,
                     "bytes_moved": g.decode_bytes_moved,
                     "peak_bytes": max(s.result.memory.peak_inference_bytes for s in g.steps),
                     "kv_cache_bytes_after": g.kv_cache_final_bytes,
                     "time_s": None if t is None else t.decode_s})
    return rows


def _moved_bytes(ops: Any) -> int:
    return sum(o.read + o.written for o in ops)
