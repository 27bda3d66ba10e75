"""Costing a recorded run: every op looked up in a formula registry (the default one, or an
analysis' own with overrides), backward ops split into grad-input/grad-weight/grad-bias,
per-module rows and the memory summary (pure: no torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..cost import BackwardCost, Cost
from ..formulas.catalog import default_registry
from ..formulas.kernels import launch
from ..formulas.registry import FormulaRegistry, check_op_cost
from ..formulas.traffic import traffic
from ..frontends.dataflow import backward_targets
from ..frontends.records import ModuleRecord, OpRecord, Trace
from ..memory.model import RunMemory, run_memory
from ..ops import OpCall, OpCost, TensorMeta
from ..vocab import GRAD_PARTS
from .results import FUNCTIONAL, LayerRow, ModelMemory, ModelResult, ModelTotals, OpRow

#: Phases whose ops are the model's cost.
COST_PHASES: tuple[str, ...] = ("forward", "backward", "recompute", "optimizer")
GRAD_INPUT = "grad_input"


_ZERO = Cost()


@dataclass
class _Acc:
    forward: Cost = _ZERO
    parts: dict[str, Cost] = field(default_factory=lambda: dict.fromkeys(GRAD_PARTS, Cost()))
    ops: int = 0
    recompute: Cost = _ZERO

    @property
    def backward(self) -> BackwardCost:
        return BackwardCost(self.parts["grad_input"], self.parts["grad_weight"],
                            self.parts["grad_bias"])

    def add(self, o: _Acc) -> None:
        self.forward = self.forward + o.forward
        self.recompute = self.recompute + o.recompute
        for k in GRAD_PARTS:
            self.parts[k] = self.parts[k] + o.parts[k]
        self.ops += o.ops


@dataclass
class _Counter:
    """Looks ops up in ``registry`` and keeps what could not be counted."""

    registry: FormulaRegistry
    counting: str
    unsupported: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    decomposed: dict[str, int] = field(default_factory=dict)

    def op(self, op: OpRecord) -> OpCost | None:
        """The op's cost from its formula, else from the formulas of its decomposition's
        ops. Ops with neither (or a formula that fails on these arguments) are counted in
        ``unsupported`` and cost nothing here."""
        if self.registry.missing(op.call.name) and op.decomposed is not None:
            name = op.call.name
            self.decomposed[name] = self.decomposed.get(name, 0) + 1
            total = Cost()
            for sub in op.decomposed:
                oc = self.call(sub)
                if oc is not None:
                    total = total + oc.cost
            return OpCost(total)
        return self.call(op.call)

    def call(self, call: OpCall) -> OpCost | None:
        formula = self.registry.lookup(call.name)
        if formula is None:
            self.unsupported[call.name] = self.unsupported.get(call.name, 0) + 1
            return None
        try:
            result = formula(call, self.counting)
            if not isinstance(result, OpCost):
                raise TypeError(f"the formula returned {type(result).__name__}, not OpCost")
        except Exception as exc:  # a formula that cannot handle these arguments: report it
            self.unsupported[call.name] = self.unsupported.get(call.name, 0) + 1
            self.errors.setdefault(call.name, f"{type(exc).__name__}: {exc}")
            return None
        return check_op_cost(call.name, result)  # negative or float counts: an error


def summarize(
    trace: Trace,
    inference: Trace | None = None,
    *,
    counting: str = "dense",
    model: str = "",
    dtype: str = "float32",
    amp: str | None = None,
    optimizer: str = "none",
    freeze: str | None = None,
    registry: FormulaRegistry | None = None,
) -> ModelResult:
    """Cost and memory of a recorded run (pure: no torch).

    ``trace`` is the run of the requested mode (a training step or an inference forward);
    ``inference`` an inference run used for ``peak_inference_bytes`` (defaults to
    ``trace`` when that is one). ``registry`` holds the formulas to count with (default:
    :func:`~convcost.formulas.catalog.default_registry`; an analysis with overrides passes
    :func:`~convcost.formulas.catalog.formula_registry`'s result). The optimizer step
    counted (``totals.optimizer``, the op rows) is a later one (``trace.steady_optimizer``)
    when recorded; the first step's cost is ``totals.optimizer_first_step``.
    """
    reg = default_registry() if registry is None else registry
    counter = _Counter(reg, counting)
    # The step counted is a later one: its optimizer ops are those of ``steady_optimizer``
    # (when recorded); the first step's are counted apart, for ``optimizer_first_step``.
    steady = trace.steady_optimizer
    first_counter = _Counter(reg, counting) if steady else counter
    costs = [(first_counter if op.phase == "optimizer" else counter).op(op)
             if op.phase in COST_PHASES else None for op in trace.ops]
    first_step = Cost()
    for op, oc in zip(trace.ops, costs):
        if op.phase == "optimizer" and oc is not None:
            first_step = first_step + oc.cost
    later = [(len(trace.ops) + j, op, counter.op(op)) for j, op in enumerate(steady)]
    _merge_first_step(counter, first_counter)
    unsupported, errors, decomposed = counter.unsupported, counter.errors, counter.decomposed
    free = [c is not None and c.cost.flops == 0 for c in costs]
    params = frozenset(s.sid for s in trace.storages if s.origin == "parameter")
    targets = backward_targets(trace.ops, trace.param_grads, free, params)
    own: dict[str, _Acc] = {}
    optimizer_cost = Cost()
    known = {m.path for m in trace.modules}
    op_rows: list[OpRow] = []
    counted = [(i, op, target, oc)
               for i, (op, target, oc) in enumerate(zip(trace.ops, targets, costs))
               if not (steady and op.phase == "optimizer")]
    counted += [(i, op, "", oc) for i, op, oc in later]
    for i, op, target, oc in counted:
        if oc is None:
            continue
        read, written = traffic(op.call, reg)
        part = ("split" if oc.parts else target) if op.phase == "backward" else ""
        module = op.module if op.module in known else ""
        op_rows.append(OpRow(i, op.call.name, op.phase, module, part, oc.cost, read, written,
                             _compute_dtype(op.call), launch(op.call)))
        if op.phase == "optimizer":
            optimizer_cost = optimizer_cost + oc.cost
            continue
        acc = own.setdefault(op.module if op.module in known else "", _Acc())
        acc.ops += 1
        if op.phase == "forward":
            acc.forward = acc.forward + oc.cost
        elif op.phase == "recompute":  # checkpointing: its own total, not the backward's
            acc.recompute = acc.recompute + oc.cost
        elif oc.parts:
            for k, c in oc.parts:
                key = k if k in GRAD_PARTS else GRAD_INPUT
                acc.parts[key] = acc.parts[key] + c
        else:
            acc.parts[target] = acc.parts[target] + oc.cost

    train_mem: RunMemory | None = run_memory(trace) if trace.mode == "train" else None
    if inference is None and trace.mode != "train":
        inference = trace
    infer_mem = run_memory(inference) if inference is not None else None
    main = train_mem if train_mem is not None else infer_mem
    assert main is not None  # one of the two runs exists by construction
    saved = train_mem.saved_by_module if train_mem is not None else {}
    layers = _rows(trace.modules, own, saved)
    total = _Acc()
    for acc in own.values():
        total.add(acc)
    root = trace.modules[0]
    cat = main.by_category
    memory = ModelMemory(
        params_bytes=cat["parameters"],
        buffers_bytes=cat["buffers"],
        inputs_bytes=cat["inputs"],
        grads_bytes=cat["gradients"],
        optimizer_bytes=cat["optimizer_state"],
        saved_activations_bytes=cat["activations"],
        temporaries_bytes=cat["temporaries"],
        peak_train_bytes=None if train_mem is None else train_mem.peak,
        peak_train_steady_bytes=None if train_mem is None else train_mem.steady_peak,
        peak_inference_bytes=0 if infer_mem is None else infer_mem.peak,
        train_timeline=None if train_mem is None else train_mem.timeline,
        inference_timeline=None if infer_mem is None else infer_mem.timeline,
        train_steady_timeline=None if train_mem is None else train_mem.steady_timeline,
        train_events=None if train_mem is None else train_mem.events,
        inference_events=None if infer_mem is None else infer_mem.events,
    )
    return ModelResult(
        model=model or root.type,
        inputs=trace.inputs,
        input_requires_grad=trace.input_requires_grad or (False,) * len(trace.inputs),
        mode=trace.mode,
        dtype=dtype,
        amp=amp,
        optimizer=optimizer,
        freeze=freeze,
        counting=counting,
        totals=ModelTotals(root.params, root.trainable_params, total.forward, total.backward,
                           optimizer_cost, first_step, total.recompute),
        memory=memory,
        layers=layers,
        unsupported_ops=tuple(sorted(unsupported.items(), key=lambda kv: (-kv[1], kv[0]))),
        formula_errors=tuple(sorted(errors.items())),
        decomposed_ops=tuple(sorted(decomposed.items(), key=lambda kv: (-kv[1], kv[0]))),
        ops=tuple(op_rows),
        dispatch=trace.dispatch,
        backends=_merged_backends(trace, inference),
    )


def _merged_backends(trace: Trace, inference: Trace | None) -> tuple[tuple[str, str], ...]:
    """The CUDA path's choices of the step and of its inference run, one entry per kind
    (``"flash+math"`` when the two runs, or two calls, chose differently)."""
    merged: dict[str, list[str]] = {}
    for t in (trace, inference):
        for kind, names in (t.backends if t is not None else ()):
            have = merged.setdefault(kind, [])
            for n in names.split("+") if kind != "cpu_fallback" else [names]:
                if n not in have:
                    have.append(n)
    return tuple((k, "+".join(v)) for k, v in merged.items())


def _merge_first_step(counter: _Counter, first: _Counter) -> None:
    """Ops of the first optimizer step that no formula counted are reported too (with the
    first step's count when the later step does not run them)."""
    if first is counter:
        return
    for name, n in first.unsupported.items():
        counter.unsupported.setdefault(name, n)
    for name, msg in first.errors.items():
        counter.errors.setdefault(name, msg)
    for name, n in first.decomposed.items():
        counter.decomposed.setdefault(name, n)


def _compute_dtype(call: OpCall) -> str:
    for o in call.outputs:
        if o is not None:
            return o.dtype
    for a in call.args:
        if isinstance(a, TensorMeta):
            return a.dtype
    return "float32"


def _rows(modules: Sequence[ModuleRecord], own: Mapping[str, _Acc],
          saved: Mapping[str, int]) -> tuple[LayerRow, ...]:
    by_path = {m.path: m for m in modules}
    rows: list[LayerRow | None] = []

    def depth_of(path: str) -> int:
        return 0 if path == "" else path.count(".") + 1

    def visit(m: ModuleRecord) -> tuple[_Acc, int]:
        index = len(rows)
        rows.append(None)  # filled in below, after the children
        acc = _Acc()
        sv = 0
        children = [by_path[c] for c in m.children if c in by_path]
        for c in children:
            a, s = visit(c)
            acc.add(a)
            sv += s
        mine = own.get(m.path)
        mine_saved = saved.get(m.path, 0)
        if children and ((mine is not None and mine.ops) or mine_saved):
            name = f"{m.path}.{FUNCTIONAL}" if m.path else FUNCTIONAL
            f = mine or _Acc()
            rows.append(LayerRow(name, "functional", depth_of(m.path) + 1, True, m.calls, None,
                                 0, 0, f.forward, f.backward, mine_saved))
        if mine is not None:
            acc.add(mine)
        sv += mine_saved
        rows[index] = LayerRow(m.path, m.type, depth_of(m.path), not children, m.calls,
                               m.output_shape, m.params, m.trainable_params, acc.forward,
                               acc.backward, sv)
        return acc, sv

    visit(modules[0])
    return tuple(r for r in rows if r is not None)
