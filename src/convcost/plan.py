"""The training-step planner behind ``convcost model … --fit --plan``: a bounded search over
batch size, activation checkpointing, AMP and (over several devices) the sharding strategy
for the configuration with the highest estimated samples/s whose per-device training peak
fits a device's memory (:func:`plan`, :class:`Plan`).

The search, per (checkpointing, AMP) pair: the largest batch that fits
(:func:`convcost.hardware.answer.fit_on`, under the most memory-frugal strategy searched),
then one full analysis at each candidate batch — the largest powers of two up to it and the
fitted batch itself — whose per-device peak and estimated time are read for every strategy
(the strategy changes memory and communication, not the per-device compute, so it costs no
analysis of its own).

"Blocks" for checkpointing (:func:`repeated_blocks`) are found generically: the children of
``nn.ModuleList``/``nn.Sequential`` containers whose children all have one type, grouped by
that type; the type with the most instances is the block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import SpecError

if TYPE_CHECKING:
    from .hardware.devices import DeviceSpec
    from .hardware.distributed import Interconnect

#: Checkpoint every n-th block, for these n (besides none and every block).
EVERY_NTH = (2, 4)
#: Powers of two below the fitted batch analysed per (checkpointing, AMP) pair, at most.
MAX_POWERS = 4
#: Sharding strategies searched over several devices, least sharded first (ties go to it).
PLAN_STRATEGIES = ("ddp", "zero1", "zero2", "zero3")
#: How many runners-up a plan reports.
RUNNERS_UP = 5


@dataclass(frozen=True)
class Checkpointing:
    """One checkpointing choice: ``label`` for people, ``pattern`` (a regular expression for
    ``--checkpoint``; ``None``: no checkpointing) and how many of the ``total`` blocks it
    wraps."""

    label: str
    pattern: str | None
    blocks: int
    total: int


@dataclass(frozen=True)
class Candidate:
    """One evaluated configuration: per-device ``batch``, checkpointing, ``amp`` (``None``:
    none), ``strategy`` over ``devices``; the estimated ``step_s`` (communication included
    when the distributed model gives a time) and ``samples_per_s`` over all devices; the
    per-device ``peak_bytes`` against ``capacity_bytes``."""

    batch: int
    checkpoint: Checkpointing
    amp: str | None
    strategy: str
    devices: int
    step_s: float
    comm_s: float
    samples_per_s: float
    peak_bytes: int
    capacity_bytes: int

    @property
    def fits(self) -> bool:
        """The per-device peak is within the device's memory."""
        return self.peak_bytes <= self.capacity_bytes

    @property
    def margin_bytes(self) -> int:
        """Capacity left at the peak (negative: over)."""
        return self.capacity_bytes - self.peak_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "batch": self.batch,
            "checkpoint": self.checkpoint.label,
            "checkpoint_pattern": self.checkpoint.pattern,
            "checkpointed_blocks": self.checkpoint.blocks,
            "amp": self.amp,
            "strategy": self.strategy,
            "devices": self.devices,
            "step_s": self.step_s,
            "comm_s": self.comm_s,
            "samples_per_s": self.samples_per_s,
            "peak_bytes": self.peak_bytes,
            "capacity_bytes": self.capacity_bytes,
            "margin_bytes": self.margin_bytes,
        }

    def summary(self) -> str:
        """One line: batch, checkpointing, AMP, strategy, time, throughput, peak."""
        from .units import milliseconds, nbytes

        strat = f", {self.strategy}×{self.devices}" if self.devices > 1 else ""
        return (f"batch {self.batch}, checkpoint {self.checkpoint.label}, "
                f"amp {self.amp or 'none'}{strat}: {milliseconds(self.step_s)}/step, "
                f"{self.samples_per_s:,.1f} samples/s, peak {nbytes(self.peak_bytes)}")


@dataclass(frozen=True)
class Plan:
    """The planner's answer: ``chosen`` (highest samples/s among the fitting candidates),
    the next ``runners_up`` by samples/s, ``searched`` (candidates evaluated, fitting or
    not), ``analyses`` (full analyses run, fits' probes not counted), ``blocks`` (the block
    paths found, may be empty), the ``device``'s name and every evaluated ``candidate``
    in search order (not in the JSON form, which has the count)."""

    chosen: Candidate
    runners_up: tuple[Candidate, ...]
    searched: int
    analyses: int
    blocks: tuple[str, ...]
    device: str
    candidates: tuple[Candidate, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``plan`` object of the report)."""
        return {
            "device": self.device,
            "chosen": self.chosen.to_dict(),
            "runners_up": [c.to_dict() for c in self.runners_up],
            "searched": self.searched,
            "analyses": self.analyses,
            "blocks": list(self.blocks),
        }

    def lines(self) -> list[str]:
        """The plan as text lines."""
        from .units import milliseconds, nbytes, percent

        c = self.chosen
        lines = [f"plan for {self.device} (searched {self.searched} configurations, "
                 f"{self.analyses} analyses):",
                 f"  batch         {c.batch}" + (f" per device × {c.devices}"
                                                  if c.devices > 1 else ""),
                 f"  checkpoint    {c.checkpoint.label}"
                 + (f"  (--checkpoint '{c.checkpoint.pattern}')" if c.checkpoint.pattern
                    else ""),
                 f"  amp           {c.amp or 'none'}"]
        if c.devices > 1:
            lines.append(f"  strategy      {c.strategy} over {c.devices} devices"
                         f" (communication {milliseconds(c.comm_s)}/step)")
        lines += [f"  step time     {milliseconds(c.step_s)} (estimate)",
                  f"  throughput    {c.samples_per_s:,.1f} samples/s",
                  f"  peak          {nbytes(c.peak_bytes)} of {nbytes(c.capacity_bytes)} usable"
                  f" (margin {nbytes(c.margin_bytes)}, "
                  f"{percent(c.margin_bytes / c.capacity_bytes)})"]
        if not self.blocks:
            lines.append("  (no repeated blocks found: checkpointing not searched)")
        if self.runners_up:
            lines.append("runners-up:")
            lines += [f"  {i}. {r.summary()}" for i, r in enumerate(self.runners_up, 2)]
        return lines


def repeated_blocks(model: Any) -> list[str]:
    """Module paths of the model's repeated blocks: the children of ``nn.ModuleList`` /
    ``nn.Sequential`` containers of two or more children of one type, for the type with
    the most such children in the whole model (first seen wins a tie); in model order.
    Empty when there is none."""
    from torch import nn

    by_type: dict[type, list[str]] = {}
    for path, mod in model.named_modules():
        if not isinstance(mod, (nn.ModuleList, nn.Sequential)):
            continue
        kids = list(mod.named_children())
        if len(kids) < 2 or len({type(k) for _, k in kids}) != 1:
            continue
        prefix = f"{path}." if path else ""
        by_type.setdefault(type(kids[0][1]), []).extend(prefix + n for n, _ in kids)
    if not by_type:
        return []
    return max(by_type.values(), key=len)  # max keeps the first of equals


def checkpoint_choices(blocks: Sequence[str]) -> list[Checkpointing]:
    """None, every block, and every n-th block (:data:`EVERY_NTH`; the first, then every
    n-th after it), distinct sets only."""
    out = [Checkpointing("none", None, 0, len(blocks))]
    if not blocks:
        return out
    seen: set[tuple[str, ...]] = set()
    for n in (1, *EVERY_NTH):
        chosen = tuple(blocks[::n])
        if chosen in seen:
            continue
        seen.add(chosen)
        label = "every block" if n == 1 else f"every {_ordinal(n)} block"
        pattern = "^(?:" + "|".join(re.escape(p) for p in chosen) + ")$"
        out.append(Checkpointing(f"{label} ({len(chosen)} of {len(blocks)})", pattern,
                                 len(chosen), len(blocks)))
    return out


def _ordinal(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def candidate_batches(fitted: int) -> list[int]:
    """Powers of two up to ``fitted`` (the largest :data:`MAX_POWERS` of them) and
    ``fitted`` itself, ascending."""
    powers = []
    p = 1
    while p <= fitted:
        powers.append(p)
        p *= 2
    return sorted(set(powers[-MAX_POWERS:]) | ({fitted} if fitted > 0 else set()))


def plan(model: Any, inputs: Sequence[str], device: DeviceSpec, *,
         kwargs: Mapping[str, str] | None = None, devices: int = 1,
         interconnect: Interconnect | None = None, amp: str | None = None,
         checkpoint: str | None = None, strategy: str | None = None, tf32: bool = False,
         foreach: bool = True, channels_last: bool = False,
         progress: Callable[[str, int, int], None] | None = None, **options: Any) -> Plan:
    """The fastest (estimated samples/s) training configuration of ``model`` whose
    per-device peak fits ``device``'s memory. ``inputs``/``kwargs``: input shapes as text
    (``8x3x224x224``; the batch is replaced). ``amp``, ``checkpoint`` or ``strategy``
    given: that dimension is fixed, not searched. ``progress(what, done, total)`` is called
    as each of the ``total`` (checkpointing, AMP) pairs starts, and once at the end
    (``"done"``). ``options``: the rest of :func:`convcost.model.analyze`'s (dtype,
    optimizer, freeze, input_grad). A :class:`~convcost.errors.SpecError` naming ``plan``
    when nothing fits, not even batch 1."""
    from .hardware.answer import allocator_device, answer, fit_capacity
    from .model import analyze
    from .spec import resize_shape

    capacity = fit_capacity(device)
    blocks = repeated_blocks(model)
    ckpts = (checkpoint_choices(blocks) if checkpoint is None
             else [Checkpointing("given", checkpoint, 0, len(blocks))])
    amps: list[str | None] = ([None, "bf16" if "bf16" in device.peak else "fp16"]
                              if amp is None else [amp])
    strategies = ([strategy] if strategy is not None
                  else list(PLAN_STRATEGIES) if devices > 1 else ["ddp"])
    frugal = strategies[-1]  # the least memory per device: its fit bounds the batches
    kw = dict(kwargs or {})
    found: list[Candidate] = []
    analyses = 0
    pairs, done = len(ckpts) * len(amps), 0
    for ck in ckpts:
        for a in amps:
            if progress is not None:  # one step per (checkpointing, AMP) pair
                progress(f"checkpoint {ck.label}, amp {a or 'none'}", done, pairs)
            done += 1
            opts = dict(options, amp=a, checkpoint=ck.pattern)
            fitted = _fit(model, inputs, kw, capacity, devices, frugal, opts,
                          allocator_device(device, frugal))
            for b in candidate_batches(fitted):
                pos = [resize_shape(x, b, None) for x in inputs]
                result = analyze(model, pos, kwargs=_specs(kw, b), mode="train", **opts)
                analyses += 1
                step = answer(result, device, tf32=tf32, foreach=foreach,
                              channels_last=channels_last).step
                assert step is not None  # a device was given
                compute_s = step.estimate.step_s if step.estimate else step.step_s
                for s in strategies:
                    peak, comm = _per_device(result, s, devices, interconnect,
                                             allocator_device(device, s))
                    total = compute_s + comm
                    found.append(Candidate(b, ck, a, s, devices, total, comm,
                                           b * devices / total if total else float("inf"),
                                           peak, capacity))
    if progress is not None:
        progress("done", done, pairs)
    fitting = sorted((c for c in found if c.fits), key=lambda c: -c.samples_per_s)
    if not fitting:
        raise SpecError("plan", device.name, "no searched configuration fits the device's "
                        "memory, not even at batch 1")
    return Plan(fitting[0], tuple(fitting[1:1 + RUNNERS_UP]), len(found), analyses,
                tuple(blocks), device.name, tuple(found))


def _fit(model: Any, inputs: Sequence[str], kw: Mapping[str, str], capacity: int,
         devices: int, strategy: str, options: Mapping[str, Any],
         device: DeviceSpec | None = None) -> int:
    """The largest batch whose per-device training peak fits ``capacity`` (0: not even
    1), exactly as :func:`convcost.fit.fit_batch` finds it (that batch fits, one more does
    not) but in fewer probes: the peak is nearly affine in the batch, so each guess is
    where the line through the bracketing probes (before there is one: the two largest)
    meets ``capacity`` (kept inside the bracket), probed with its neighbour.

    With a caching-allocator ``device`` and no sharding, batches 2 and 4 are traced first:
    when their events are one affine family (:func:`convcost.memory.scaling.affine_events`),
    the largest batch that fits is found on the events modelled at each batch (allocator
    replays, no traces), then checked with two real traces (it fits, one more does not). A
    model whose step is not affine in the batch falls back to the search above."""
    from .fit import MAX_BATCH
    from .hardware.answer import per_device_peak
    from .model import train_memory
    from .spec import parse_input, resize_shape

    measure = per_device_peak(devices, strategy, device)
    probes: dict[int, float] = {}
    events: dict[int, Any] = {}

    def fits(b: int) -> bool:
        if b not in probes:
            pos = [parse_input("inputs", resize_shape(x, b, None)) for x in inputs]
            mem = train_memory(model, pos, kwargs=_specs(kw, b), **options)
            probes[b], events[b] = measure(mem), mem.events
        return probes[b] <= capacity

    if not fits(1):
        return 0
    if fits(2) and device is not None and strategy == "ddp" and fits(4):
        guess = _modelled_fit(events[2], events[4], device, capacity, MAX_BATCH)
        if guess is not None and fits(guess) and not fits(guess + 1):
            return guess
    lo, hi, rounds = 1, 0, 0  # lo fits; hi (when > 0) does not
    while hi == 0 or hi - lo > 1:
        for b, p in probes.items():  # every probe tightens the bracket
            if p <= capacity:
                lo = max(lo, b)
            elif not hi or b < hi:
                hi = b
        if lo >= MAX_BATCH:
            raise SpecError("plan", lo, f"fits more than {MAX_BATCH} samples")
        if hi and hi - lo <= 1:
            break
        a, b = (lo, hi) if hi else sorted(probes)[-2:]  # the bracket, else the two largest
        slope = (probes[b] - probes[a]) / (b - a)
        guess = a + int((capacity - probes[a]) // slope) if slope > 0 else 2 * lo
        top = hi or MAX_BATCH + 1
        guess = min(guess, MAX_BATCH)
        rounds += 1
        if hi and rounds % 4 == 0:  # bisect now and then: bounded even if far from affine
            guess = (lo + hi) // 2
        elif hi:  # the line says lo (or hi - 1): check the neighbour
            guess = min(max(guess, lo + 1), hi - 1)
        elif guess <= lo:
            guess = min(2 * lo, MAX_BATCH)
        if fits(guess) and guess + 1 < top:
            fits(guess + 1)
    return lo


#: Batches above the modelled edge replayed for a larger one that fits again.
EDGE_SCAN = 64


def _modelled_fit(e2: Any, e4: Any, device: DeviceSpec, capacity: int,
                  most: int) -> int | None:
    """The largest batch (4 to ``most``) whose allocator replay of the events modelled from
    batches 2 and 4 needs at most ``capacity`` bytes of ``device``; ``None`` when the events
    are not one affine family, or the model says batch 4 does not fit (it did: it was
    traced)."""
    from .hardware.device_memory import device_memory
    from .memory.scaling import affine_events

    at = affine_events(e2, 2, e4, 4) if e2 is not None and e4 is not None else None
    if at is None:
        return None
    replays: dict[int, bool] = {}

    def fits(b: int) -> bool:
        if b not in replays:
            try:
                replays[b] = device_memory(at(b), device).required <= capacity
            except ValueError:  # a size would be negative: not this family
                replays[b] = False
        return replays[b]

    if not fits(4):
        return None
    lo, hi = 4, 8
    while hi <= most and fits(hi):
        lo, hi = hi, 2 * hi
    hi = min(hi, most + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    # The allocator's rounding makes the need jagged near the edge: a batch a little above
    # the first one that does not fit may fit again. Replays are cheap, so look further.
    for b in range(lo + 2, min(lo + EDGE_SCAN, most) + 1):
        if fits(b):
            lo = b
    return lo


def _specs(kw: Mapping[str, str], batch: int | None) -> dict[str, Any] | None:
    from .spec import parse_input, resize_shape

    return {n: parse_input("inputs", resize_shape(v, batch, None))
            for n, v in kw.items()} or None


def _per_device(result: Any, strategy: str, devices: int,
                interconnect: Interconnect | None,
                device: DeviceSpec | None = None) -> tuple[int, float]:
    """(per-device peak bytes, communication seconds per step) of ``result`` under
    ``strategy`` over ``devices``; with a caching-allocator ``device`` (unsharded), the peak
    is the predicted reserved peak (an unlimited one when it does not fit)."""
    from .hardware.answer import answer

    m = result.memory
    if device is not None and m.train_events is not None:
        from .hardware.device_memory import device_memory

        peak = device_memory(m.train_events, device).required
        if devices == 1:
            return peak, 0.0
        d = answer(result, None, devices=devices, strategy=strategy,
                   interconnect=interconnect).distributed
        assert d is not None
        return peak, d.comm_time
    if devices == 1 and strategy == "ddp":
        return max(m.peak_train_bytes or 0, m.peak_train_steady_bytes or 0), 0.0
    d = answer(result, None, devices=devices, strategy=strategy,
               interconnect=interconnect).distributed
    assert d is not None  # several devices or a sharding strategy
    return int(d.peak_bytes), d.comm_time
