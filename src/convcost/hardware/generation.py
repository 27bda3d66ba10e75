"""Time of a generation (:class:`~convcost.model.generate.GenerationResult`) on a device:
the execution-time estimate (:mod:`convcost.hardware.estimate`) of the prefill and of each
traced decode step, plus what ``generate()`` itself costs the host per decode step.

**The generate() loop.** Besides the model's forward, each greedy decode step of
``transformers``' ``generate()`` copies the last logits to fp32, takes their argmax, masks
finished sequences, appends the token, runs the stopping criteria and updates the
cache position and attention mask: the stack's ``generate_loop`` counts those ops (kernel
or not) and Python calls (:mod:`convcost.hardware.stacks`, with their source). Each op pays
its class's host time, each Python call ``python_call_us``; their device work (a few tiny
kernels) is hidden behind the host's.

**The stop check.** When the stack's ``generate_sync_per_step`` is true, ``generate()``
reads ``unfinished_sequences.max() == 0`` as a Python bool at the end of every step, which
waits for the device: each step then takes its own played timeline (forward ops issued
while earlier ones run) plus the loop's host time, and no step's host work overlaps the
previous step's device work. When it is false (a deferred check), steps pipeline: a step
takes the larger of its host and its device time.

Decode steps between the traced cache lengths are interpolated linearly, as the costs are.

**Memory on the device.** Each traced forward (the prefill and every traced decode step)
is replayed on the device's memory model (:func:`convcost.hardware.device_memory.
device_memory`, an inference forward: on a GPU PyTorch's caching allocator from a fresh
process); its live bytes are the weights, the KV cache of that step (a decode step's cache
tensors exist from its start, and the longer ones ``torch.cat`` makes are live beside them
until the layer drops the old ones) and the step's activations. The forward that needs the
most (:attr:`DeviceMemory.required`) is the generation's: ``memory`` says whether it fits the
usable memory (capacity less the reserve, ``reserve`` of the device or ``--reserve``).
The last decode step (the longest cache) is always traced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from .device_memory import DeviceMemory, device_memory
from .estimate import Estimate, estimate
from .stacks import Stack, get_stack, with_stack

if TYPE_CHECKING:
    from ..model.generate import GenerationResult
    from ..model.results import ModelResult
    from .device_spec import DeviceSpec

__all__ = ["GenerationTime", "StepTime", "generation_time", "loop_host_s"]


@dataclass(frozen=True)
class StepTime:
    """One traced decode step: its cache length, the estimate of its forward, the host
    seconds of the ``generate()`` loop around it, and the seconds the step takes."""

    cache_len: int
    estimate: Estimate
    loop_host_s: float
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form (seconds)."""
        e = self.estimate
        return {"cache_len": self.cache_len, "time_s": self.time_s,
                "forward_host_s": e.host_s, "forward_device_s": e.device_s,
                "loop_host_s": self.loop_host_s,
                "host_bound": e.host_s + self.loop_host_s > e.device_s}


@dataclass(frozen=True)
class GenerationTime:
    """The estimated generation on ``device``: the prefill's estimate and seconds, each
    traced decode step's (:class:`StepTime`), all decode steps' seconds (``decode_s``) and
    their host and device parts (``decode_host_s``: forwards plus loop; ``decode_device_s``),
    the stack and whether each step waits for the device; ``memory`` the forward that
    needs the most of the device's memory (``memory_at``: ``"prefill"`` or ``"decode step
    at cache length L"``) beside its usable bytes."""

    device: str
    stack: Stack
    prefill: Estimate
    prefill_s: float
    steps: tuple[StepTime, ...]
    decode_s: float
    decode_host_s: float
    decode_device_s: float
    decode_steps: int
    memory: DeviceMemory | None = None
    memory_at: str = "prefill"

    @property
    def per_token_s(self) -> float | None:
        """Decode seconds per new token (``None`` without decode steps)."""
        return self.decode_s / self.decode_steps if self.decode_steps else None

    def to_dict(self) -> dict[str, Any]:
        """``hardware`` of the generation's JSON report (seconds)."""
        p = self.prefill
        return {
            "device": self.device,
            "stack": self.stack.name,
            "sync_per_step": self.stack.generate_sync_per_step,
            "prefill": {"time_s": self.prefill_s, "host_s": p.host_s,
                        "device_s": p.device_s, "host_bound": p.host_bound,
                        "breakdown": p.to_dict()["breakdown"]},
            "decode": {"time_s": self.decode_s, "host_s": self.decode_host_s,
                       "device_s": self.decode_device_s,
                       "host_bound": self.decode_host_s > self.decode_device_s,
                       "time_per_token_s": self.per_token_s,
                       "loop": dict(self.stack.generate_loop),
                       "traced_steps": [s.to_dict() for s in self.steps]},
            "memory": (None if self.memory is None
                       else {**self.memory.to_dict(), "at": self.memory_at}),
        }


def loop_host_s(stack: Stack, host_s: Mapping[str, float]) -> float:
    """Host seconds of one decode step's ``generate()`` loop outside the forward, with the
    per-class host seconds ``host_s`` (:attr:`Constants.host_s
    <convcost.hardware.estimate.Constants>`)."""
    loop = stack.generate_loop
    return (loop["kernel_ops"] * host_s["kernel"] + loop["no_kernel_ops"] * host_s["none"]
            + loop["python_calls"] * loop["python_call_us"] * 1e-6)


def _interpolated(points: Sequence[tuple[int, float]], lengths: Sequence[int]) -> float:
    """Sum over ``lengths`` of a value known at the traced lengths ``points``, linear
    between them (the traced lengths always include the first and the last)."""
    total = 0.0
    for length in lengths:
        for (a, ya), (b, yb) in pairwise(points):
            if a <= length <= b:
                total += ya if a == b else ya + (yb - ya) * (length - a) / (b - a)
                break
        else:
            total += points[0][1] if length <= points[0][0] else points[-1][1]
    return total


def generation_time(g: GenerationResult, device: DeviceSpec, tf32: bool = False,
                    stack: str | None = None) -> GenerationTime:
    """The estimated time of the generation ``g`` on ``device`` (see the module doc).
    ``tf32``: fp32 matrix work on TF32 tensor cores; ``stack``: the software stack
    (default: the device's, else the default stack)."""
    device = with_stack(device, stack)
    st = get_stack(device.stack)
    pre = estimate(g.prefill, device, tf32)
    steps = []
    for s in g.steps:
        e = estimate(s.result, device, tf32)
        loop = loop_host_s(st, e.constants.host_s)
        t = (e.step_s + loop if st.generate_sync_per_step
             else max(e.host_s + loop, e.device_s))
        steps.append(StepTime(s.cache_len, e, loop, t))
    lengths = [g.prompt_len + i for i in range(g.decode_steps)]

    def total(value: Any) -> float:
        if not steps:
            return 0.0
        return _interpolated([(s.cache_len, value(s)) for s in steps], lengths)

    memory, at = generation_memory(g, device)
    return GenerationTime(
        device=device.name, stack=st, prefill=pre, prefill_s=pre.step_s,
        steps=tuple(steps), decode_s=total(lambda s: s.time_s),
        decode_host_s=total(lambda s: s.estimate.host_s + s.loop_host_s),
        decode_device_s=total(lambda s: s.estimate.device_s), decode_steps=g.decode_steps,
        memory=memory, memory_at=at)


def generation_memory(g: GenerationResult, device: DeviceSpec) -> tuple[DeviceMemory | None, str]:
    """The traced forward of ``g`` that needs the most of ``device``'s memory, replayed on
    it (see the module doc), and which forward it is; ``(None, "")`` when no forward
    recorded its allocations."""
    forwards: list[tuple[str, ModelResult]] = [("prefill", g.prefill)]
    forwards += [(f"decode step at cache length {s.cache_len}", s.result) for s in g.steps]
    worst: tuple[DeviceMemory | None, str] = (None, "")
    for at, r in forwards:
        events = r.memory.inference_events
        if events is None:
            continue
        dm = device_memory(events, device, training=False)
        if worst[0] is None or (dm.required, dm.live) > (worst[0].required, worst[0].live):
            worst = (dm, at)
    return worst
