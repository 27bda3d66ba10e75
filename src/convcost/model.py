"""Whole models: per-module forward/backward cost and training memory, without computing.

:func:`analyze` validates its arguments, runs the model once on fake tensors
(:mod:`convcost.trace.torch`; nothing is computed or allocated, so batch size and
resolution do not change the analysis' time or memory), looks every recorded op up in the
formula registry (:mod:`convcost.ops`) and follows tensor lifetimes
(:mod:`convcost.memory`). Importing this module does not import torch; :func:`analyze`
does.

Counting conventions are those of :class:`~convcost.cost.Cost`: ``mults``, ``adds`` and
``other`` scalar operations, ``flops`` their sum, ``macs`` the products of convolutions and
the matmul family. Bytes are bytes.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cost import Cost
from .dtypes import DTYPE_ALIASES
from .errors import SpecError
from .layer import BackwardCost
from .memory.model import RunMemory, run_memory
from .memory.timeline import Timeline
from .ops import OpCall, OpCost, TensorMeta, lookup, traffic
from .spec import parse_shape
from .trace.dataflow import GRAD_INPUT, GRAD_PARTS, backward_targets
from .trace.records import InputSpec, ModuleRecord, OpRecord, Trace

__all__ = [
    "AMPS",
    "MODEL_DTYPES",
    "MODES",
    "OPTIMIZERS",
    "InputSpec",
    "LayerRow",
    "ModelMemory",
    "ModelResult",
    "ModelTotals",
    "analyze",
    "summarize",
]

MODES: tuple[str, ...] = ("train", "inference")
OPTIMIZERS: tuple[str, ...] = ("none", "sgd", "momentum", "adam", "adamw")
#: dtypes a model can be converted to.
MODEL_DTYPES: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")
#: Accepted ``amp`` spellings -> autocast dtype.
AMPS: dict[str, str] = {"bf16": "bfloat16", "bfloat16": "bfloat16",
                        "fp16": "float16", "float16": "float16"}
COUNTINGS: tuple[str, ...] = ("dense", "skip-padding")
#: Phases whose ops are the model's cost.
COST_PHASES: tuple[str, ...] = ("forward", "backward", "optimizer")
#: Name suffix of the row holding a module's own ops when it also has children.
FUNCTIONAL = "(functional)"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class LayerRow:
    """One row of the per-module table.

    ``name`` is the module path (``""`` is the model itself); a module that has children and
    also runs ops of its own (functional calls in its ``forward``, e.g. ``x + identity``, or
    the engine summing gradients of a tensor it uses twice) gets an extra leaf row
    ``"<path>.(functional)"`` with those ops, so that the leaf rows add up to the totals.
    Values are inclusive (a module's row includes its children). ``saved_bytes`` are the
    activations autograd saved for backward during this module's forward (each storage
    counted once, for the first module that saved it).
    """

    name: str
    type: str
    depth: int
    leaf: bool
    calls: int
    output_shape: tuple[int, ...] | None
    params: int
    trainable_params: int
    forward: Cost
    backward: BackwardCost
    saved_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form (see :meth:`ModelResult.to_dict`)."""
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "leaf": self.leaf,
            "calls": self.calls,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "params": self.params,
            "trainable_params": self.trainable_params,
            "forward": cost_dict(self.forward),
            "backward": backward_dict(self.backward),
            "saved_bytes": self.saved_bytes,
        }


@dataclass(frozen=True)
class OpRow:
    """One counted op of the step, for per-op views (roofline, traffic).

    ``part`` is ``grad_input``/``grad_weight``/``grad_bias`` for a backward op whose whole
    cost went to one gradient, ``"split"`` when its formula split it, ``""`` otherwise.
    ``read``/``written`` are bytes (:func:`convcost.ops.traffic`); ``dtype`` is the op's
    compute dtype (its first result's, else its first tensor argument's).
    """

    index: int
    name: str
    phase: str
    module: str
    part: str
    cost: Cost
    read: int
    written: int
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"index": self.index, "op": self.name, "phase": self.phase,
                "module": self.module, "part": self.part, "dtype": self.dtype,
                **cost_dict(self.cost),
                "bytes_read": self.read, "bytes_written": self.written}


@dataclass(frozen=True)
class ModelTotals:
    """Whole-model counts: parameters (elements) and the cost of each pass."""

    params: int
    trainable_params: int
    forward: Cost
    backward: BackwardCost
    optimizer: Cost

    def to_dict(self) -> dict[str, Any]:
        """``params``, ``trainable_params``, ``forward``, ``backward`` (whole pass),
        ``backward_split`` (grad-input/grad-weight/grad-bias) and ``optimizer``."""
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "forward": cost_dict(self.forward),
            "backward": cost_dict(self.backward.total),
            "backward_split": backward_dict(self.backward),
            "optimizer": cost_dict(self.optimizer),
        }


@dataclass(frozen=True)
class ModelMemory:
    """Memory of one step, in bytes (categories: :data:`convcost.memory.CATEGORIES`).

    ``peak_train_bytes`` is the largest number of bytes held by live tensor storages during
    one training step (forward, backward, and the optimizer step when one is given), the
    first step of a loop: optimizer state is created during it. ``peak_train_steady_bytes``
    is the same for a later step, when the optimizer state exists from the start. Both are
    ``None`` in inference mode. ``peak_inference_bytes`` is the peak of a ``no_grad`` forward
    in eval mode. The timelines hold the live bytes after every op, per category.
    """

    params_bytes: int
    buffers_bytes: int
    inputs_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    saved_activations_bytes: int
    temporaries_bytes: int
    peak_train_bytes: int | None
    peak_train_steady_bytes: int | None
    peak_inference_bytes: int
    train_timeline: Timeline | None = field(default=None, repr=False, compare=False)
    inference_timeline: Timeline | None = field(default=None, repr=False, compare=False)
    train_steady_timeline: Timeline | None = field(default=None, repr=False, compare=False)

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        """JSON form; ``timeline=True`` adds ``timeline`` {``train``, ``inference``}."""
        d: dict[str, Any] = {
            "params_bytes": self.params_bytes,
            "buffers_bytes": self.buffers_bytes,
            "inputs_bytes": self.inputs_bytes,
            "grads_bytes": self.grads_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "saved_activations_bytes": self.saved_activations_bytes,
            "temporaries_bytes": self.temporaries_bytes,
            "peak_train_bytes": self.peak_train_bytes,
            "peak_train_steady_bytes": self.peak_train_steady_bytes,
            "peak_inference_bytes": self.peak_inference_bytes,
        }
        if timeline:
            d["timeline"] = {
                "train": None if self.train_timeline is None else self.train_timeline.to_dict(),
                "inference": (None if self.inference_timeline is None
                              else self.inference_timeline.to_dict()),
            }
        return d


@dataclass(frozen=True)
class ModelResult:
    """Everything :func:`analyze` finds about one model (exact integers).

    ``totals.forward``/``totals.backward`` are the sums over every op of the step
    (``backward`` is zero in inference mode); ``layers`` is the module hierarchy, root
    first, in definition order; ``unsupported_ops`` counts ops that have no formula (their
    cost is *not* in the totals); ``formula_errors`` names ops whose formula failed on the
    arguments it got (also counted as unsupported); ``decomposed_ops`` counts ops that have
    no formula of their own and were counted through PyTorch's decomposition of them.
    """

    model: str
    inputs: tuple[tuple[str, TensorMeta], ...]
    mode: str
    dtype: str
    amp: str | None
    optimizer: str
    freeze: str | None
    counting: str
    totals: ModelTotals
    memory: ModelMemory
    layers: tuple[LayerRow, ...]
    unsupported_ops: tuple[tuple[str, int], ...]
    formula_errors: tuple[tuple[str, str], ...] = ()
    decomposed_ops: tuple[tuple[str, int], ...] = ()
    ops: tuple[OpRow, ...] = field(default=(), repr=False, compare=False)

    def to_pandas(self) -> Any:
        """The per-module rows as a pandas DataFrame indexed by module path (needs pandas)."""
        from .report.notebook import model_frame

        return model_frame(self)

    def _repr_html_(self) -> str:
        from .report.notebook import model_fragment

        return model_fragment(self)

    def layer(self, name: str) -> LayerRow:
        """The row called ``name`` (KeyError when there is none)."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self, timeline: bool = False, ops: bool = False) -> dict[str, Any]:
        """The JSON document: ``model``, ``inputs``, ``mode``, ``dtype``, ``counting``,
        ``totals``, ``memory``, ``layers``, ``unsupported_ops`` (plus ``amp``,
        ``optimizer``, ``freeze``, ``formula_errors``, ``decomposed_ops``)."""
        return {
            "model": self.model,
            "inputs": [{"name": n, "shape": list(m.shape), "dtype": m.dtype}
                       for n, m in self.inputs],
            "mode": self.mode,
            "dtype": self.dtype,
            "amp": self.amp,
            "optimizer": self.optimizer,
            "freeze": self.freeze,
            "counting": self.counting,
            "totals": self.totals.to_dict(),
            "memory": self.memory.to_dict(timeline),
            "layers": [r.to_dict() for r in self.layers],
            "unsupported_ops": dict(self.unsupported_ops),
            "formula_errors": dict(self.formula_errors),
            "decomposed_ops": dict(self.decomposed_ops),
            **({"ops": [o.to_dict() for o in self.ops]} if ops else {}),
        }


def cost_dict(c: Cost) -> dict[str, int]:
    """``{"macs", "mults", "adds", "other", "flops"}``."""
    return {"macs": c.macs, "mults": c.mults, "adds": c.adds, "other": c.other, "flops": c.flops}


def backward_dict(b: BackwardCost) -> dict[str, dict[str, int]]:
    """``{"grad_input", "grad_weight", "grad_bias", "total"}``, each a :func:`cost_dict`."""
    return {
        "grad_input": cost_dict(b.grad_input),
        "grad_weight": cost_dict(b.grad_weight),
        "grad_bias": cost_dict(b.grad_bias),
        "total": cost_dict(b.total),
    }


# --------------------------------------------------------------------------- costing


_LOADED = False


def load_formulas() -> None:
    """Register every per-op formula (once per process)."""
    global _LOADED
    if _LOADED:
        return
    try:
        catalog = importlib.import_module(".formulas.catalog", __package__)
    except ImportError:  # the catalog is optional while it is being written
        pass
    else:
        catalog.load_all()
    _LOADED = True


_ZERO = Cost()


@dataclass
class _Acc:
    forward: Cost = _ZERO
    parts: dict[str, Cost] = field(default_factory=lambda: dict.fromkeys(GRAD_PARTS, Cost()))
    ops: int = 0

    @property
    def backward(self) -> BackwardCost:
        return BackwardCost(self.parts["grad_input"], self.parts["grad_weight"],
                            self.parts["grad_bias"])

    def add(self, o: _Acc) -> None:
        self.forward = self.forward + o.forward
        for k in GRAD_PARTS:
            self.parts[k] = self.parts[k] + o.parts[k]
        self.ops += o.ops


def _cost_of(op: OpRecord, counting: str, unsupported: dict[str, int],
             errors: dict[str, str], decomposed: dict[str, int]) -> OpCost | None:
    """The op's cost from its formula, else from the formulas of its decomposition's ops.

    Ops with neither (or a formula that fails on these arguments) are counted in
    ``unsupported`` and cost nothing here."""
    formula = lookup(op.call.name)
    if formula is None and op.decomposed is not None:
        decomposed[op.call.name] = decomposed.get(op.call.name, 0) + 1
        total = Cost()
        for sub in op.decomposed:
            oc = _call_cost(sub, counting, unsupported, errors)
            if oc is not None:
                total = total + oc.cost
        return OpCost(total)
    return _call_cost(op.call, counting, unsupported, errors)


def _call_cost(call: OpCall, counting: str, unsupported: dict[str, int],
               errors: dict[str, str]) -> OpCost | None:
    formula = lookup(call.name)
    if formula is None:
        unsupported[call.name] = unsupported.get(call.name, 0) + 1
        return None
    try:
        return formula(call, counting)
    except Exception as exc:  # a formula that cannot handle these arguments: report it
        unsupported[call.name] = unsupported.get(call.name, 0) + 1
        errors.setdefault(call.name, f"{type(exc).__name__}: {exc}")
        return None


def needs_formula(name: str) -> bool:
    """True when op ``name`` has no formula (nor a zero-cost entry) in the registry."""
    load_formulas()
    return lookup(name) is None


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
) -> ModelResult:
    """Cost and memory of a recorded run (pure: no torch).

    ``trace`` is the run of the requested mode (a training step or an inference forward);
    ``inference`` an inference run used for ``peak_inference_bytes`` (defaults to
    ``trace`` when that is one).
    """
    load_formulas()
    unsupported: dict[str, int] = {}
    errors: dict[str, str] = {}
    decomposed: dict[str, int] = {}
    costs = [
        _cost_of(op, counting, unsupported, errors, decomposed)
        if op.phase in COST_PHASES else None
        for op in trace.ops
    ]
    free = [c is not None and c.cost.flops == 0 for c in costs]
    targets = backward_targets(trace.ops, trace.param_grads, free)
    own: dict[str, _Acc] = {}
    optimizer_cost = Cost()
    known = {m.path for m in trace.modules}
    op_rows: list[OpRow] = []
    for i, (op, target, oc) in enumerate(zip(trace.ops, targets, costs)):
        if oc is None:
            continue
        read, written = traffic(op.call)
        part = ("split" if oc.parts else target) if op.phase == "backward" else ""
        module = op.module if op.module in known else ""
        op_rows.append(OpRow(i, op.call.name, op.phase, module, part, oc.cost, read, written,
                             _compute_dtype(op.call)))
        if op.phase == "optimizer":
            optimizer_cost = optimizer_cost + oc.cost
            continue
        acc = own.setdefault(op.module if op.module in known else "", _Acc())
        acc.ops += 1
        if op.phase == "forward":
            acc.forward = acc.forward + oc.cost
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
    )
    return ModelResult(
        model=model or root.type,
        inputs=trace.inputs,
        mode=trace.mode,
        dtype=dtype,
        amp=amp,
        optimizer=optimizer,
        freeze=freeze,
        counting=counting,
        totals=ModelTotals(root.params, root.trainable_params, total.forward, total.backward,
                           optimizer_cost),
        memory=memory,
        layers=layers,
        unsupported_ops=tuple(sorted(unsupported.items(), key=lambda kv: (-kv[1], kv[0]))),
        formula_errors=tuple(sorted(errors.items())),
        decomposed_ops=tuple(sorted(decomposed.items(), key=lambda kv: (-kv[1], kv[0]))),
        ops=tuple(op_rows),
    )


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


# --------------------------------------------------------------------------- validation


def _canonical_model_dtype(value: object) -> str:
    key = str(value).strip().lower().removeprefix("torch.")
    key = DTYPE_ALIASES.get(key, key)
    if key not in MODEL_DTYPES:
        raise SpecError("dtype", value, "allowed: " + ", ".join(MODEL_DTYPES)
                        + " (or fp64/fp32/fp16/bf16)")
    return key


def _shape(field_name: str, value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        dims, _ = parse_shape(field_name, value)
    elif isinstance(value, Sequence):
        dims = tuple(value)
    else:
        raise SpecError(field_name, value, "give a shape (sequence of integers), a tensor or "
                        "an InputSpec")
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                           for d in dims):
        raise SpecError(field_name, value, "every dimension must be an integer >= 1")
    return tuple(int(d) for d in dims)


def _is_shape(x: object) -> bool:
    return (isinstance(x, Sequence) and not isinstance(x, str) and len(x) > 0
            and all(isinstance(d, int) and not isinstance(d, bool) for d in x))


def _one_input(field_name: str, x: object, default_dtype: str, torch_mod: Any) -> Any:
    if isinstance(x, torch_mod.Tensor):
        return x
    if isinstance(x, InputSpec):
        return InputSpec(_shape(field_name, x.shape), _input_dtype(field_name, x.dtype, torch_mod))
    if isinstance(x, str):
        dims, dt = parse_shape(field_name, x)
        return InputSpec(dims, _input_dtype(field_name, dt, torch_mod) if dt else default_dtype)
    if _is_shape(x):
        return InputSpec(_shape(field_name, x), default_dtype)
    if (isinstance(x, Sequence) and len(x) == 2 and _is_shape(x[0])
            and isinstance(x[1], str)):
        return InputSpec(_shape(field_name, x[0]), _input_dtype(field_name, x[1], torch_mod))
    raise SpecError(field_name, x, "give a tensor, a shape (e.g. (8, 3, 224, 224) or "
                    "'8x3x224x224'), a (shape, dtype) pair or an InputSpec")


def _input_dtype(field_name: str, name: object, torch_mod: Any) -> str:
    key = str(name).strip().lower().removeprefix("torch.")
    key = DTYPE_ALIASES.get(key, key)
    if key in ("long",):
        key = "int64"
    if not isinstance(getattr(torch_mod, key, None), torch_mod.dtype):
        raise SpecError(f"{field_name}.dtype", name, "a torch dtype name such as float32, "
                        "bfloat16, int64, bool")
    return key


def _inputs(inputs: object, default_dtype: str, torch_mod: Any) -> list[Any]:
    if (isinstance(inputs, (torch_mod.Tensor, InputSpec, str)) or _is_shape(inputs)
            or (isinstance(inputs, Sequence) and len(inputs) == 2 and _is_shape(inputs[0])
                and isinstance(inputs[1], str))):
        return [_one_input("inputs", inputs, default_dtype, torch_mod)]
    if isinstance(inputs, Sequence) and len(inputs) > 0:
        return [_one_input(f"inputs[{i}]", x, default_dtype, torch_mod)
                for i, x in enumerate(inputs)]
    raise SpecError("inputs", inputs, "give a tensor, a shape, or a non-empty list of them")


# --------------------------------------------------------------------------- entry point


@dataclass(frozen=True)
class _Prepared:
    args: list[Any]
    kw: dict[str, Any]
    dtype_name: str | None
    amp_name: str | None
    pattern: re.Pattern[str] | None


def _prepare(
    model: Any,
    inputs: Any,
    kwargs: Mapping[str, Any] | None,
    mode: str,
    dtype: str | None,
    amp: str | None,
    optimizer: str,
    freeze: str | re.Pattern[str] | None,
    counting: str,
) -> _Prepared:
    """Validate every argument of :func:`analyze` (no work on the model before all pass)."""
    if mode not in MODES:
        raise SpecError("mode", mode, "allowed: " + ", ".join(MODES))
    if optimizer not in OPTIMIZERS:
        raise SpecError("optimizer", optimizer, "allowed: " + ", ".join(OPTIMIZERS))
    if optimizer != "none" and mode != "train":
        raise SpecError("optimizer", optimizer, "an optimizer step needs mode='train'")
    if counting not in COUNTINGS:
        raise SpecError("counting", counting, "allowed: " + ", ".join(COUNTINGS))
    dtype_name = None if dtype is None else _canonical_model_dtype(dtype)
    amp_name = None
    if amp is not None:
        key = str(amp).strip().lower()
        if key not in AMPS:
            raise SpecError("amp", amp, "allowed: bf16, fp16 (or None for no autocast)")
        amp_name = AMPS[key]
    pattern: re.Pattern[str] | None = None
    if freeze is not None:
        if isinstance(freeze, re.Pattern):
            pattern = freeze
        else:
            try:
                pattern = re.compile(str(freeze))
            except re.error as exc:
                raise SpecError("freeze", freeze, f"not a valid regular expression ({exc})") \
                    from None
    import torch

    if not isinstance(model, torch.nn.Module):
        raise SpecError("model", type(model).__name__, "must be a torch.nn.Module")
    default_dtype = dtype_name or "float32"
    args = _inputs(inputs, default_dtype, torch)
    kw: dict[str, Any] = {}
    for k, v in (kwargs or {}).items():
        if not isinstance(k, str):
            raise SpecError("kwargs", k, "keyword names must be strings")
        kw[k] = _one_input(f"kwargs[{k!r}]", v, default_dtype, torch) if isinstance(
            v, (torch.Tensor, InputSpec)) else v

    return _Prepared(args, kw, dtype_name, amp_name, pattern)


def analyze(
    model: Any,
    inputs: Any,
    *,
    kwargs: Mapping[str, Any] | None = None,
    mode: str = "train",
    dtype: str | None = None,
    amp: str | None = None,
    optimizer: str = "none",
    freeze: str | re.Pattern[str] | None = None,
    counting: str = "dense",
    name: str | None = None,
) -> ModelResult:
    """Exact per-module cost and memory of one training step (or inference forward).

    * ``model`` — a ``torch.nn.Module`` (built on the CPU or on the meta device; it is not
      modified). Its ``forward`` runs once on fake tensors: Python control flow is fine,
      reading tensor values (``.item()``, data-dependent shapes) is not and raises
      :class:`~convcost.errors.TraceError` naming the module.
    * ``inputs`` — the positional inputs: a tensor (only shape and dtype are used), a shape
      (``(8, 3, 224, 224)`` or ``"8x3x224x224"``, float32 or ``dtype``; ``"8x128:int64"``),
      a ``(shape, dtype)`` pair, an :class:`InputSpec`, or a list of these.
      ``kwargs`` — keyword inputs: tensors and InputSpecs become inputs, any other value is
      passed to ``forward`` unchanged. Inputs never require grad (so the first layer has no
      grad-input).
    * ``mode`` — ``"train"`` (forward, backward from the sum of the outputs or the model's
      scalar loss, optimizer step) or ``"inference"`` (eval mode, ``no_grad`` forward).
    * ``dtype`` — convert floating parameters, buffers and inputs (float64, float32,
      float16, bfloat16); ``amp`` — ``"bf16"``/``"fp16"``: autocast on the CPU.
    * ``optimizer`` — none, sgd, momentum (SGD, momentum 0.9), adam, adamw.
    * ``freeze`` — regular expression; parameters whose name it matches (``re.search``) get
      no gradient.
    * ``counting`` — ``"dense"`` or ``"skip-padding"`` (see the convolution formulas).

    Raises :class:`~convcost.errors.SpecError` for bad arguments (before any work) and
    :class:`~convcost.errors.TraceError` when the model cannot be run.
    """
    p = _prepare(model, inputs, kwargs, mode, dtype, amp, optimizer, freeze, counting)
    args, kw, dtype_name, amp_name, pattern = p.args, p.kw, p.dtype_name, p.amp_name, p.pattern
    # ---- work
    from .trace.torch import torch_dtype, trace_model

    tdtype = None if dtype_name is None else torch_dtype(dtype_name)
    tamp = None if amp_name is None else torch_dtype(amp_name)
    trace = trace_model(model, args, kw, mode=mode, dtype=tdtype, amp=tamp,
                        optimizer=optimizer, freeze=pattern, needs_formula=needs_formula)
    inference = None
    if mode == "train":
        inference = trace_model(model, args, kw, mode="inference", dtype=tdtype, amp=tamp,
                                needs_formula=needs_formula)
    if dtype_name is None:
        first = next((p for p in model.parameters() if p.is_floating_point()), None)
        dtype_name = "float32" if first is None else str(first.dtype).removeprefix("torch.")
    return summarize(
        trace,
        inference,
        counting=counting,
        model=name or type(model).__name__,
        dtype=dtype_name,
        amp=amp_name,
        optimizer=optimizer,
        freeze=None if pattern is None else pattern.pattern,
    )


def train_memory(
    model: Any,
    inputs: Any,
    *,
    kwargs: Mapping[str, Any] | None = None,
    dtype: str | None = None,
    amp: str | None = None,
    optimizer: str = "none",
    freeze: str | re.Pattern[str] | None = None,
) -> RunMemory:
    """Memory of one fake training step (no costing, no inference run): cheaper than
    :func:`analyze`. Arguments as for :func:`analyze`."""
    p = _prepare(model, inputs, kwargs, "train", dtype, amp, optimizer, freeze, "dense")
    from .trace.torch import torch_dtype, trace_model

    trace = trace_model(
        model, p.args, p.kw, mode="train",
        dtype=None if p.dtype_name is None else torch_dtype(p.dtype_name),
        amp=None if p.amp_name is None else torch_dtype(p.amp_name),
        optimizer=optimizer, freeze=p.pattern,
    )
    return run_memory(trace)


def train_peak(model: Any, inputs: Any, **options: Any) -> int:
    """Predicted peak bytes of a training step: the larger of the first step's peak and a
    later step's (when the optimizer state exists from the start). ``options`` as for
    :func:`train_memory`."""
    mem = train_memory(model, inputs, **options)
    return max(mem.peak, mem.steady_peak)
