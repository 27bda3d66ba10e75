"""Result records of a whole-model analysis: frozen, numeric, each with ``to_dict()``.

Counting conventions are those of :class:`~convcost.cost.Cost`: ``mults``, ``adds`` and
``other`` scalar operations, ``flops`` their sum, ``macs`` the products of convolutions and
the matmul family. Bytes are bytes. Nothing here computes a count or formats a number; the
notebook hooks call the renderers lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cost import BackwardCost, Cost
from ..errors import SpecError
from ..formulas.kernels import KERNEL, Launch
from ..memory.allocator import StepEvents
from ..memory.timeline import Timeline
from ..ops import TensorMeta

#: Name suffix of the row holding a module's own ops when it also has children.
FUNCTIONAL = "(functional)"


class UnknownLayerError(SpecError, KeyError):
    """:meth:`ModelResult.layer` for a name no row has: a :class:`SpecError` (one line naming
    the name and the closest ones) that is also a ``KeyError`` (what a lookup raises)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


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
            "forward": self.forward.to_dict(),
            "backward": self.backward.to_dict(),
            "saved_bytes": self.saved_bytes,
        }


@dataclass(frozen=True)
class OpRow:
    """One counted op of the step, for per-op views (roofline, traffic).

    ``index`` is the op's position in the recorded run (the optimizer ops are those of a
    later step, numbered after the first step's, which are not rows).
    ``part`` is ``grad_input``/``grad_weight``/``grad_bias`` for a backward op whose whole
    cost went to one gradient, ``"split"`` when its formula split it, ``""`` otherwise.
    ``read``/``written`` are bytes (:func:`convcost.formulas.traffic.traffic`); ``dtype`` is
    the op's compute dtype (its first result's, else its first positional tensor argument's).
    ``launch`` is how it runs on a GPU (:func:`convcost.formulas.kernels.launch`: library
    GEMMs, own kernels, or none), for the execution-time estimate.
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
    launch: Launch = KERNEL

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"index": self.index, "op": self.name, "phase": self.phase,
                "module": self.module, "part": self.part, "dtype": self.dtype,
                **self.cost.to_dict(),
                "bytes_read": self.read, "bytes_written": self.written}


@dataclass(frozen=True)
class ModelTotals:
    """Whole-model counts: parameters (elements) and the cost of each pass.

    ``optimizer`` is the optimizer step of a training loop's later steps, in which the
    optimizer state exists (what every step but the first costs); ``optimizer_first_step``
    the first step's, in which the state is created (e.g. SGD's momentum buffers are copies
    of the gradients); ``None`` means the same as ``optimizer``. ``recompute`` is what
    activation checkpointing adds: the forward ops of the checkpointed modules that the
    backward runs again (phase ``recompute``; in neither ``forward`` nor ``backward``;
    zero without checkpointing).
    """

    params: int
    trainable_params: int
    forward: Cost
    backward: BackwardCost
    optimizer: Cost
    optimizer_first_step: Cost | None = None
    recompute: Cost = field(default_factory=Cost)

    @property
    def first_step_optimizer(self) -> Cost:
        """The first optimizer step's cost (``optimizer`` when none was recorded apart)."""
        return self.optimizer if self.optimizer_first_step is None else self.optimizer_first_step

    def to_dict(self) -> dict[str, Any]:
        """``params``, ``trainable_params``, ``forward``, ``backward`` (whole pass),
        ``backward_split`` (grad-input/grad-weight/grad-bias), ``optimizer`` (a later
        step), ``optimizer_first_step`` and ``recompute`` (checkpointing's recomputation)."""
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "forward": self.forward.to_dict(),
            "backward": self.backward.total.to_dict(),
            "backward_split": self.backward.to_dict(),
            "optimizer": self.optimizer.to_dict(),
            "optimizer_first_step": self.first_step_optimizer.to_dict(),
            "recompute": self.recompute.to_dict(),
        }


@dataclass(frozen=True)
class ModelMemory:
    """Memory of one step, in bytes (categories: :data:`convcost.memory.CATEGORIES`).

    ``peak_train_bytes`` is the largest number of bytes held by live tensor storages during
    one training step (forward, backward, and the optimizer step when one is given), the
    first step of a loop: optimizer state is created during it. ``peak_train_steady_bytes``
    is the same for a later step, when the optimizer state exists from the start. Both are
    ``None`` in inference mode. ``peak_inference_bytes`` is the peak of a ``no_grad`` forward
    in eval mode. The timelines hold the live bytes after every op, per category; the
    events, the storage lifetimes the CUDA caching-allocator model replays
    (:mod:`convcost.memory.allocator`).
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
    train_events: StepEvents | None = field(default=None, repr=False, compare=False)
    inference_events: StepEvents | None = field(default=None, repr=False, compare=False)

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
class DataDependence:
    """How an analysis met ops whose output size depends on tensor values (detection
    models: ``nonzero``, NMS, score thresholds).

    ``policy`` is ``"bound"`` (the model ran for real on random data with every threshold
    opened — ``opened`` lists ``(module path, attribute, value before, value used)`` — and
    torchvision's small-box filter keeping every box, so each data-dependent size is the
    model's own limit, such as its post-NMS top-n or
    detections per image) or ``"run"`` (it ran for real on random data as it is: counts and
    memory exact for that input); ``None`` when ``data_dependent`` was asked for but the
    model has no such op (the fake run sufficed: the option had no effect).
    """

    policy: str | None
    opened: tuple[tuple[str, str, float, float], ...] = ()

    @property
    def note(self) -> str:
        """One line saying what was done."""
        if self.policy is None:
            return ("the model has no data-dependent ops: data_dependent had no effect "
                    "(counted on fake tensors)")
        if self.policy == "run":
            return ("data-dependent sizes computed: the model ran for real on the CPU with "
                    "random inputs (seed 0); counts and memory are exact for that input")
        opened = ", ".join(f"{m + '.' if m else ''}{a} {b:g}→{v:g}"
                           for m, a, b, v in self.opened)
        return ("data-dependent sizes at their upper bound: the model ran for real on the "
                "CPU with random inputs (seed 0), every threshold opened"
                + (f" ({opened})" if opened else "")
                + " and boxes of any size kept, so its own limits (top-n, detections per "
                "image) decide them")

    def to_dict(self) -> dict[str, Any]:
        """``policy``, ``computed`` (the model ran for real), ``opened``, ``note``."""
        return {"policy": self.policy, "computed": self.policy is not None,
                "opened": [{"module": m, "attribute": a, "was": b, "used": v}
                           for m, a, b, v in self.opened],
                "note": self.note}


@dataclass(frozen=True)
class ModelResult:
    """Everything :func:`analyze` finds about one model (exact integers).

    ``totals.forward``/``totals.backward`` are the sums over every op of the step
    (``backward`` is zero in inference mode); ``layers`` is the module hierarchy, root
    first, in definition order; ``construction`` says where a model built from a target
    was built (``"meta"``: no memory, no initialisation; ``"cpu"``, or ``"cpu (…)"`` with
    the reason meta was not used); ``unsupported_ops`` counts ops that have no formula (their
    cost is *not* in the totals); ``formula_errors`` names ops whose formula failed on the
    arguments it got (also counted as unsupported); ``decomposed_ops`` counts ops that have
    no formula of their own and were counted through PyTorch's decomposition of them.
    ``optimizer_foreach`` says the optimizer step ran PyTorch's multi-tensor implementation
    (the GPU default) rather than the per-parameter one (the CPU default).
    ``dispatch`` is the dispatch path the step was traced on: ``"cpu"`` (PyTorch's CPU
    kernels) or ``"cuda"`` (fake CUDA tensors through PyTorch's CUDA dispatch, the kernel
    choices made for ``compute_capability``, e.g. ``"9.0"``); ``backends`` the choices made on
    the CUDA path, ``(("sdpa", "flash"), ("batch_norm", "cudnn"), ...)``.
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
    input_requires_grad: tuple[bool, ...] = ()
    data_dependent: DataDependence | None = None
    construction: str | None = None
    checkpoint: str | None = None
    optimizer_foreach: bool = False
    dispatch: str = "cpu"
    backends: tuple[tuple[str, str], ...] = ()
    compute_capability: str | None = None
    optimizer_fused: bool = False
    hold_output: bool = True

    @property
    def input_grad(self) -> bool:
        """Whether any input required a gradient (``analyze(..., input_grad=True)`` or an
        :class:`~convcost.spec.InputSpec` with ``requires_grad``)."""
        return any(self.input_requires_grad)

    def requires_grad(self, i: int) -> bool:
        """Whether input ``i`` (of :attr:`inputs`) required a gradient."""
        return i < len(self.input_requires_grad) and self.input_requires_grad[i]

    def to_pandas(self) -> Any:
        """The per-module rows as a pandas DataFrame indexed by module path (needs pandas)."""
        from ..renderers import to_frame

        return to_frame(self)

    def _repr_html_(self) -> str:
        from ..renderers import render

        return render(self, "notebook")

    def layer(self, name: str) -> LayerRow:
        """The row called ``name`` (the module path, ``""`` for the model itself).

        Raises :class:`UnknownLayerError` (a KeyError and a :class:`~convcost.errors.SpecError`)
        naming ``name`` and the closest layer names when there is none."""
        for row in self.layers:
            if row.name == name:
                return row
        from ..vocab import did_you_mean

        names = [row.name for row in self.layers if row.name]
        hint = did_you_mean(name, names) if isinstance(name, str) else ""
        few = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise UnknownLayerError("name", name, f"no layer of this model is called that{hint}; "
                           f"layers are module paths such as {few} ({len(names)} in all, "
                           "'' for the model itself)")

    def to_dict(self, timeline: bool = False, ops: bool = False) -> dict[str, Any]:
        """The JSON document: ``model``, ``inputs`` (``name``, ``shape``, ``dtype``; and
        ``requires_grad`` for each when ``input_grad``), ``mode``, ``input_grad`` (any input
        required a gradient),
        ``dtype``, ``counting``,
        ``totals``, ``memory``, ``layers``, ``unsupported_ops`` (plus ``amp``,
        ``optimizer``, ``optimizer_foreach`` (its step ran the multi-tensor implementation),
        ``optimizer_fused`` (its fused one), ``hold_output`` (a training step's loop keeps
        the model's output to the end of the step; null in inference),
        ``freeze``, ``checkpoint`` (the activation-checkpointing pattern, or null),
        ``formula_errors``, ``decomposed_ops``; and
        ``dispatch`` (``"cpu"`` or ``"cuda"``), ``backends`` (the CUDA path's kernel choices,
        ``{"sdpa": "flash", ...}``; empty on the CPU path), ``compute_capability`` (the CUDA
        path's, or null);
        ``data_dependent`` when the analysis met data-dependent ops or was asked to;
        ``construction`` — where the model was built, ``"meta"`` or ``"cpu …"`` — when the
        caller built it from a target)."""
        return {
            "model": self.model,
            "inputs": [{"name": n, "shape": list(m.shape), "dtype": m.dtype,
                        **({"requires_grad": self.requires_grad(i)} if self.input_grad
                           else {})}
                       for i, (n, m) in enumerate(self.inputs)],
            "mode": self.mode,
            "input_grad": self.input_grad,
            "dtype": self.dtype,
            "amp": self.amp,
            "optimizer": self.optimizer,
            "optimizer_foreach": self.optimizer_foreach,
            "optimizer_fused": self.optimizer_fused,
            "hold_output": self.hold_output if self.mode == "train" else None,
            "freeze": self.freeze,
            "checkpoint": self.checkpoint,
            "counting": self.counting,
            "dispatch": self.dispatch,
            "backends": dict(self.backends),
            "compute_capability": self.compute_capability,
            "totals": self.totals.to_dict(),
            "memory": self.memory.to_dict(timeline),
            "layers": [r.to_dict() for r in self.layers],
            "unsupported_ops": dict(self.unsupported_ops),
            "formula_errors": dict(self.formula_errors),
            "decomposed_ops": dict(self.decomposed_ops),
            **({"data_dependent": self.data_dependent.to_dict()}
               if self.data_dependent is not None else {}),
            **({"construction": self.construction} if self.construction is not None else {}),
            **({"ops": [o.to_dict() for o in self.ops]} if ops else {}),
        }
