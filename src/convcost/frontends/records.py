"""What a front end records about one run of a model (no torch here).

A run is a sequence of op calls. Memory is followed per *storage* (the buffer a tensor's
data lives in; views share it): every storage gets an integer id, its size in bytes, and the
sample at which it became live and stopped being live. Sample ``0`` is the state before the
first op (parameters, buffers, inputs); sample ``i + 1`` is the state right after op ``i``
produced its outputs (before anything else is freed).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ops import OpCall, TensorMeta


@dataclass(frozen=True)
class OpRecord:
    """One op call of the run.

    ``module`` is the path of the module it ran in (``""``: the model itself, or no module);
    for backward ops, the module whose forward created the autograd node that ran it.
    ``reads``/``writes`` are the ids of the storages of its tensor arguments and results.
    ``decomposed`` is set for an op that has no formula but a PyTorch decomposition: the
    ops that decomposition runs (recorded on fake tensors for counting only; the memory of
    the run is that of the op itself). ``accumulates`` marks a backward op that the autograd
    engine runs to sum the gradient contributions of a tensor used more than once (or to
    hand a gradient to a parameter's ``.grad``), not an op of any node's backward formula.
    ``float_reads`` are the ids among ``reads`` of floating-point tensors (``None``: not
    recorded); the backward split uses them to tell an op that only routes a gradient to a
    parameter (scales, sums or scatters it) from one that reads saved activations.
    """

    call: OpCall
    phase: str
    module: str
    reads: tuple[int, ...]
    writes: tuple[int, ...]
    decomposed: tuple[OpCall, ...] | None = None
    accumulates: bool = False
    float_reads: tuple[int, ...] | None = None


@dataclass(frozen=True)
class StorageRecord:
    """One tensor storage: ``nbytes`` live from sample ``alloc`` up to (not including)
    sample ``free`` (``None``: still live at the end of the run). ``phase`` is the phase in
    which it was allocated (``""`` for storages that existed before the run)."""

    sid: int
    nbytes: int
    origin: str
    alloc: int
    free: int | None
    phase: str


@dataclass(frozen=True)
class ModuleRecord:
    """One module of the model (every path of ``named_modules``, root ``""`` first).

    ``params``/``trainable_params`` count the elements of the parameters it owns, its
    children's included; ``output_shape`` is the first tensor of its first call's output.
    """

    path: str
    type: str
    children: tuple[str, ...]
    params: int
    trainable_params: int
    output_shape: tuple[int, ...] | None
    calls: int


@dataclass(frozen=True)
class ParamGrad:
    """The storage that holds a parameter's gradient at the end of the backward pass."""

    sid: int
    name: str
    is_bias: bool


@dataclass(frozen=True)
class Trace:
    """Everything recorded in one run of a model.

    ``saved`` maps storages that autograd saved for backward to the module that saved them
    first. ``samples`` is the number of samples (ops + 1). ``steady_optimizer`` holds the
    ops of a later optimizer step of the same loop (the optimizer state exists when it
    starts), phase ``optimizer``; it is recorded for counting only (its storages are not
    followed: ``reads``/``writes`` are empty). ``ops`` end with the first step's.
    ``input_requires_grad`` says, for each of ``inputs``, whether it required a gradient;
    ``input_grads`` are the storages that ended the backward as those inputs' ``.grad``.
    ``dispatch`` is the path the run was traced on (``"cpu"`` or ``"cuda"``) and
    ``backends`` the kernel choices made on the CUDA path (``(("sdpa", "flash"), ...)``).
    ``hold_output``: the training loop keeps the model's output alive to the end of the step
    (``out = model(x); loss = f(out)``), or not (``loss = f(model(x))``).
    """

    mode: str
    ops: tuple[OpRecord, ...]
    storages: tuple[StorageRecord, ...]
    saved: tuple[tuple[int, str], ...]
    param_grads: tuple[ParamGrad, ...]
    modules: tuple[ModuleRecord, ...]
    inputs: tuple[tuple[str, TensorMeta], ...]
    steady_optimizer: tuple[OpRecord, ...] = ()
    input_requires_grad: tuple[bool, ...] = ()
    input_grads: tuple[int, ...] = ()
    dispatch: str = "cpu"
    backends: tuple[tuple[str, str], ...] = ()
    hold_output: bool = True

    @property
    def samples(self) -> int:
        """Number of memory samples: the initial state plus one per op."""
        return len(self.ops) + 1
