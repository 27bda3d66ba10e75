"""Memory of one recorded run: categories, saved activations per module, peaks (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..frontends.records import Trace
from .allocator import StepEvents, step_events
from .timeline import Life, Timeline, build_timeline, category_bytes

_ORIGIN_CATEGORY = {
    "parameter": "parameters",
    "buffer": "buffers",
    "external": "buffers",
    "input": "inputs",
}


@dataclass(frozen=True)
class RunMemory:
    """Memory of one run.

    * ``by_category`` — bytes of all storages of each category (every one counted once,
      whether or not they are live together);
    * ``saved_by_module`` — bytes of activations saved for backward, each storage counted
      once, for the module whose forward saved it first;
    * ``timeline`` — live bytes per sample and category; ``peak`` its maximum;
    * ``steady_peak`` — the peak of a later step of the same loop, in which the optimizer
      state already exists when the step starts (equal to ``peak`` without an optimizer);
    * ``events`` — the storage lifetimes and library calls the CUDA caching-allocator
      model replays (:func:`convcost.memory.allocator.simulate`).
    """

    by_category: dict[str, int]
    saved_by_module: dict[str, int]
    timeline: Timeline
    peak: int
    steady_peak: int
    steady_timeline: Timeline | None = None
    events: StepEvents | None = None


def held_outputs(trace: Trace) -> frozenset[int]:
    """The storages a training loop holds to the end of the step: the model's outputs and
    the loss.

    A loop writes ``out = model(x); loss = f(out); loss.backward(); opt.step()``, so ``out``
    keeps every output tensor alive through the backward and the optimizer step whether or
    not autograd saved it (a segmentation model's full-resolution ``out`` and ``aux`` maps,
    a classifier's logits), and ``loss`` keeps the loss. The trace frees both earlier (what
    it differentiates is all it keeps). The outputs are the storages made by the forward
    that the loss's ops read; the loss is what the backward's seed (``ones_like`` in phase
    ``loss``) is made from — the output itself when that is the scalar loss.
    Empty for an inference run; only the loss when the loop does not hold the output
    (``trace.hold_output`` false: ``loss = f(model(x))``).
    """
    if trace.mode != "train":
        return frozenset()
    outputs = trace.hold_output
    made = {s.sid for s in trace.storages if s.origin == "op" and s.phase == "forward"}
    held: set[int] = set()
    for op in trace.ops:
        if op.phase == "loss":
            seed = op.call.name.split(".", 1)[0] == "ones_like"
            held.update(sid for sid in op.reads if seed or (outputs and sid in made))
    return frozenset(held)


def categorize(trace: Trace) -> list[Life]:
    """The lifetime and category of every storage of ``trace`` (rules: ``CATEGORIES``); the
    model's outputs and the loss live to the end of a training step (:func:`held_outputs`)."""
    grads = {pg.sid for pg in trace.param_grads} | set(trace.input_grads)
    saved = {sid for sid, _ in trace.saved}
    held = held_outputs(trace)
    lives = []
    for s in trace.storages:
        if s.origin in _ORIGIN_CATEGORY:
            cat = _ORIGIN_CATEGORY[s.origin]
        elif s.sid in grads:
            cat = "gradients"
        elif s.phase == "optimizer" and s.free is None:
            cat = "optimizer_state"
        elif s.sid in saved and s.phase in ("forward", "loss"):
            cat = "activations"
        else:
            cat = "temporaries"
        lives.append(Life(s.nbytes, cat, s.alloc, None if s.sid in held else s.free))
    return lives


def run_memory(trace: Trace) -> RunMemory:
    """Categories, per-module saved bytes, timeline and peaks of ``trace``."""
    lives = categorize(trace)
    labels = ["start"] + [f"{op.phase}:{op.module}:{op.call.name}" for op in trace.ops]
    timeline = build_timeline(lives, trace.samples, labels)
    steady = [replace(life, alloc=0) if life.category == "optimizer_state" else life
              for life in lives]
    steady_timeline = build_timeline(steady, trace.samples)
    steady_peak = steady_timeline.peak
    nbytes = {s.sid: s.nbytes for s in trace.storages}
    activation = {s.sid for s, life in zip(trace.storages, lives) if life.category == "activations"}
    per_module: dict[str, int] = {}
    for sid, module in trace.saved:
        if sid in activation:
            per_module[module] = per_module.get(module, 0) + nbytes[sid]
    events = step_events(lives, [op.call.name for op in trace.ops], trace.samples)
    return RunMemory(category_bytes(lives), per_module, timeline, timeline.peak, steady_peak,
                     steady_timeline, events)
