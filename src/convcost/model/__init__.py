"""Whole models: per-module forward/backward cost and training memory, without computing.

:func:`analyze` validates its arguments (:mod:`.inputs`), runs the model once on fake
tensors (:mod:`convcost.frontends.torch_trace`; nothing is computed or allocated, so batch
size and resolution do not change the analysis' time or memory), looks every recorded op up
in the formula registry and follows tensor lifetimes (:mod:`.costing`), and returns the
records of :mod:`.results`. Importing this package does not import torch; :func:`analyze`
does.

Formulas come from :func:`convcost.formulas.catalog.default_registry`; one analysis can
override them (``analyze(..., formulas={op name: formula})``) and
:func:`convcost.formulas.catalog.register_formula` adds formulas for every later analysis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError, TraceError
from ..formulas.catalog import formula_registry
from ..formulas.registry import FormulaRegistry
from ..memory.model import RunMemory, run_memory
from ..ops import Formula
from ..spec import InputSpec
from ..vocab import (
    DATA_DEPENDENT,
    DEFAULT_CAPABILITY,
    DISPATCHES,
    Counting,
    DataDependent,
    Dispatch,
    Mode,
    Optimizer,
    allowed,
    named_like,
)
from .costing import summarize
from .inputs import compile_pattern, prepare
from .results import DataDependence, LayerRow, ModelMemory, ModelResult, ModelTotals, OpRow

__all__ = [
    "DataDependence",
    "InputSpec",
    "LayerRow",
    "ModelMemory",
    "ModelResult",
    "ModelTotals",
    "OpRow",
    "analyze",
    "check_checkpoint",
    "check_freeze",
    "summarize",
    "train_memory",
    "train_peak",
]


def analyze(
    model: Any,
    inputs: Any,
    *,
    kwargs: Mapping[str, Any] | None = None,
    mode: Mode = "train",
    dtype: str | None = None,
    amp: str | None = None,
    optimizer: Optimizer = "none",
    freeze: str | re.Pattern[str] | None = None,
    checkpoint: str | re.Pattern[str] | None = None,
    counting: Counting = "dense",
    name: str | None = None,
    formulas: Mapping[str, Formula] | FormulaRegistry | None = None,
    input_grad: bool = False,
    data_dependent: DataDependent | None = None,
    optimizer_foreach: bool = False,
    dispatch: Dispatch | None = None,
    compute_capability: str | None = None,
    optimizer_fused: bool = False,
    hold_output: bool = True,
) -> ModelResult:
    """Exact per-module cost and memory of one training step (or inference forward).

    * ``model`` — a ``torch.nn.Module`` (built on the CPU or on the meta device; it is not
      modified). Its ``forward`` runs once on fake tensors: Python control flow is fine,
      reading tensor values (``.item()``, data-dependent shapes) is not and raises
      :class:`~convcost.errors.TraceError` naming the module.
    * ``inputs`` — the positional inputs: a tensor (only shape and dtype are used), a shape
      (``(8, 3, 224, 224)`` or ``"8x3x224x224"``, float32 or ``dtype``; ``"8x128:int64"``),
      a ``(shape, dtype)`` pair, an :class:`InputSpec`, or a list of these (``[]`` or
      ``None`` when ``kwargs`` holds every input).
      ``kwargs`` — keyword inputs: tensors and InputSpecs become inputs, any other value is
      passed to ``forward`` unchanged. Inputs do not require grad (so the first layer has no
      grad-input, as in a whole network) unless ``input_grad=True`` (every floating input)
      or ``InputSpec(shape, dtype, requires_grad=True)`` (that input; ``"8x197x768:grad"``
      as text) says so — what a block inside a network sees. Then the backward also
      computes the inputs' gradients (under grad-input) and memory holds them (under
      gradients). Non-floating inputs never require grad (asking for it per input is a
      SpecError); both need ``mode="train"``.
    * ``mode`` — ``"train"`` (forward, backward from the sum of the outputs or the model's
      scalar loss, optimizer step) or ``"inference"`` (eval mode, ``no_grad`` forward).
    * ``dtype`` — convert floating parameters, buffers and inputs (float64, float32,
      float16, bfloat16); ``amp`` — ``"bf16"``/``"fp16"``: autocast on the CPU.
    * ``optimizer`` — none, sgd, momentum (SGD, momentum 0.9), adam, adamw;
      ``optimizer_foreach`` — run its multi-tensor (``foreach``) implementation, PyTorch's
      default on a GPU (its step holds temporaries for all parameters at once), instead of
      the per-parameter one, the default on the CPU (``ModelResult.optimizer_foreach``);
      ``optimizer_fused`` — its fused implementation (``torch.optim.AdamW(fused=True)``:
      one ``_fused_adamw_`` per step, its ``step`` counters tensors on the device;
      ``ModelResult.optimizer_fused``; not with ``optimizer_foreach``).
    * ``hold_output`` — the training loop keeps the model's output alive to the end of the
      step, as ``out = model(x); loss = f(out); loss.backward()`` does (the default); false:
      ``loss = f(model(x))``, the output dies once nothing needs it
      (``ModelResult.hold_output``; a SpecError outside ``mode="train"``).
    * ``freeze`` — regular expression; parameters whose name it matches (``re.search``) get
      no gradient. A pattern that matches no parameter name is a SpecError.
    * ``checkpoint`` — regular expression; the training step is analysed as if every module
      whose path it matches (``re.search``, e.g. ``r"layer[1-4]\\.\\d+$"`` or
      ``r"blocks\\.\\d+$"``; the root never) were wrapped in non-reentrant
      ``torch.utils.checkpoint.checkpoint(module, *args, use_reentrant=False)``: memory
      holds only those modules' inputs until the backward reaches them, and the forward ops
      the backward runs again are ``totals.recompute`` (phase ``recompute`` of the op rows;
      in neither ``forward`` nor ``backward``). A pattern that matches no module path, or
      any pattern with ``mode="inference"``, is a SpecError.
    * ``counting`` — ``"dense"`` or ``"skip-padding"`` (see the convolution formulas).
    * ``formulas`` — formulas for this analysis only, winning over the built-in and
      registered ones: ``{op name: formula}`` (or a
      :class:`~convcost.formulas.registry.FormulaRegistry`). Names are as
      ``ModelResult.unsupported_ops`` reports them: ``"mylib::myop.default"`` for a
      ``torch.library`` op ``mylib::myop`` (``"mylib::myop"``: every overload),
      ``"add.Tensor"``/``"add"`` for aten ops. A formula is ``(call: OpCall, counting: str)
      -> OpCost`` with exact integer counts (see
      :func:`~convcost.formulas.catalog.register_formula`).

    * ``data_dependent`` — what to do with ops whose output size depends on tensor values
      (detection models: ``nonzero``, NMS, score thresholds), which fake tensors cannot
      run. Such a model is run for real on the CPU with random inputs (seed 0), in
      inference only: ``"bound"`` (the default when such an op is met) first opens every
      filter of the model (``score_thresh`` → −1 and ``nms_thresh`` → 1 on every head,
      torchvision's small-box filter keeping boxes of any size) so that each
      data-dependent size is the model's own limit (its pre/post-NMS top-n,
      ``detections_per_img``): a deterministic upper bound for that input size;
      ``"run"`` runs it as it is: exact for that random input.
      ``ModelResult.data_dependent`` says which was done (and, when the option was given
      for a model without such ops, that it had no effect).

    * ``dispatch`` — the dispatch path to trace: ``"cpu"`` (the default: PyTorch's CPU
      kernels) or ``"cuda"`` (fake CUDA tensors through PyTorch's CUDA dispatch: fused
      dropout with a bool mask, cuDNN batch norm, the SDPA kernel PyTorch would pick, CUDA
      autocast, the backward on convcost's Python copy of the autograd engine; see the
      README's "CPU path and CUDA path"). ``compute_capability`` — the GPU the CUDA path's
      choices are made for: ``"9.0"`` (H100, the default), ``"8.0"``, ``"8.6"``… or
      ``"rocm"`` (AMD's kernel set); :func:`convcost.hardware.dispatch.dispatch_options`
      gives both for a device. ``ModelResult.dispatch``/``backends`` say what was traced.

    Raises :class:`~convcost.errors.SpecError` for bad arguments (before any work) and
    :class:`~convcost.errors.TraceError` when the model cannot be run.

    Anything the model prints goes where the caller's ``print`` goes: the library does not
    redirect standard output (``convcost model`` sends the model's prints to stderr).
    """
    p = prepare(model, inputs, kwargs, mode, dtype, amp, optimizer, freeze, counting,
                input_grad)
    args, kw, dtype_name, amp_name, pattern = p.args, p.kw, p.dtype_name, p.amp_name, p.pattern
    check_freeze(model, pattern, p.grad_inputs)
    ckpt = check_checkpoint(model, checkpoint, mode)
    registry = formula_registry(formulas)
    target = check_dispatch(dispatch, compute_capability)
    check_fused(optimizer_fused, optimizer_foreach, optimizer, mode)
    check_hold_output(hold_output, mode)
    from ..frontends.positions import check_token_specs

    check_token_specs(model, "inputs", args, kw)
    # ---- work
    from ..frontends.torch_trace import torch_dtype, trace_model

    tdtype = None if dtype_name is None else torch_dtype(dtype_name)
    tamp = None if amp_name is None else torch_dtype(amp_name)
    if data_dependent is not None and data_dependent not in DATA_DEPENDENT:
        raise SpecError("data_dependent", data_dependent, allowed(DATA_DEPENDENT))
    dependence: DataDependence | None = None
    try:
        trace = trace_model(model, args, kw, mode=mode, dtype=tdtype, amp=tamp,
                            optimizer=optimizer, optimizer_foreach=optimizer_foreach,
                            freeze=pattern, checkpoint=ckpt,
                            needs_formula=registry.missing, input_grad=input_grad,
                            cuda=_cuda(target), optimizer_fused=optimizer_fused,
                            hold_output=hold_output)
        if data_dependent is not None:
            dependence = DataDependence(None)
    except TraceError as e:
        if not e.data_dependent:
            raise
        if mode == "train":
            raise TraceError(e.module, e.module_type, e.phase, e.reason + "; ops like this "
                             "are analysed in inference only (mode='inference', with the "
                             "data_dependent policy)", True) from e
        import torch

        from ..frontends.detection import bounded, check_run_memory, open_limits

        policy = data_dependent or "bound"
        check_run_memory(model, [*args, *kw.values()], policy == "bound")
        run_model, opened = (open_limits(model) if policy == "bound" else (model, ()))
        torch.manual_seed(0)
        try:
            with bounded(policy == "bound"):
                trace = trace_model(run_model, args, kw, mode=mode, dtype=tdtype, amp=tamp,
                                    optimizer=optimizer, freeze=pattern, real=True,
                                    hold_output=hold_output)
        except TraceError as real_error:
            if tdtype is None or "not implemented for" not in real_error.reason:
                raise
            raise TraceError(real_error.module, real_error.module_type, real_error.phase,
                             real_error.reason + f"; the model runs for real on the CPU (its "
                             f"data-dependent ops), which has no {dtype_name} kernel for this "
                             "op: analyse it in float32, or with amp", False) from real_error
        dependence = DataDependence(policy, opened)
    inference = None
    if mode == "train":
        inference = trace_model(model, args, kw, mode="inference", dtype=tdtype, amp=tamp,
                                needs_formula=registry.missing, cuda=_cuda(target))
    if dtype_name is None:
        first = next((p for p in model.parameters() if p.is_floating_point()), None)
        dtype_name = "float32" if first is None else str(first.dtype).removeprefix("torch.")
    result = summarize(
        trace,
        inference,
        counting=counting,
        model=name or type(model).__name__,
        dtype=dtype_name,
        amp=amp_name,
        optimizer=optimizer,
        freeze=None if pattern is None else pattern.pattern,
        registry=registry,
    )
    foreach = optimizer_foreach and mode == "train" and optimizer != "none"
    fused = optimizer_fused and mode == "train" and optimizer != "none"
    if (dependence is None and ckpt is None and not foreach and target is None and not fused
            and hold_output):
        return result
    from dataclasses import replace

    cc = None if target is None or trace.dispatch != "cuda" else target
    return replace(result, data_dependent=dependence,
                   checkpoint=None if ckpt is None else ckpt.pattern, optimizer_foreach=foreach,
                   compute_capability=cc, optimizer_fused=fused, hold_output=hold_output)


def check_hold_output(hold_output: Any, mode: str) -> None:
    """``hold_output`` is a bool and only changes a training step (a SpecError naming it
    otherwise)."""
    if not isinstance(hold_output, bool):
        raise SpecError("hold_output", hold_output, "must be True or False")
    if not hold_output and mode != "train":
        raise SpecError("hold_output", hold_output, "only changes a training step "
                        "(mode='train'): an inference forward holds nothing past its end")


def check_fused(fused: bool, foreach: bool, optimizer: str, mode: str) -> None:
    """``optimizer_fused`` needs a training step with an optimizer and excludes
    ``optimizer_foreach`` (a SpecError naming ``optimizer_fused`` otherwise)."""
    if not fused:
        return
    if foreach:
        raise SpecError("optimizer_fused", True, "excludes optimizer_foreach (one "
                        "implementation runs the step)")
    if mode != "train" or optimizer == "none":
        raise SpecError("optimizer_fused", True, "has no effect without an optimizer step "
                        "(mode='train' and an optimizer)")


def check_dispatch(dispatch: str | None, compute_capability: str | None) -> str | None:
    """The compute capability the CUDA path is traced for (``None``: the CPU path), from
    :func:`analyze`'s ``dispatch`` and ``compute_capability``; a SpecError naming the field
    for an unknown path, a capability that is not ``"MAJOR.MINOR"`` or ``"rocm"``, or a
    capability given for the CPU path (where it has no effect)."""
    if dispatch is not None and dispatch not in DISPATCHES:
        raise SpecError("dispatch", dispatch, allowed(DISPATCHES))
    if dispatch != "cuda":
        if compute_capability is not None:
            raise SpecError("compute_capability", compute_capability,
                            "has no effect without dispatch='cuda'")
        return None
    cc = compute_capability or DEFAULT_CAPABILITY
    if cc != "rocm" and re.fullmatch(r"\d{1,2}\.\d", cc) is None:
        raise SpecError("compute_capability", cc,
                        "a CUDA compute capability MAJOR.MINOR (e.g. 9.0, 8.6) or rocm")
    return cc


def _cuda(capability: str | None) -> Any:
    """The CUDA path's target for ``trace_model`` (``None``: the CPU path)."""
    if capability is None:
        return None
    from ..frontends.torch_trace.cuda import CudaTarget

    if capability == "rocm":
        return CudaTarget((9, 0), rocm=True)
    major, minor = capability.split(".")
    return CudaTarget((int(major), int(minor)))


def check_checkpoint(model: Any, checkpoint: str | re.Pattern[str] | None,
                     mode: str = "train") -> re.Pattern[str] | None:
    """The compiled ``checkpoint`` pattern of :func:`analyze` (``None`` for none). A
    :class:`~convcost.errors.SpecError` naming ``checkpoint`` when it is not a regular
    expression, when ``mode`` is not ``"train"``, or when it matches (``re.search``) none of
    the model's module paths (the root, ``""``, is never checkpointed)."""
    if checkpoint is None:
        return None
    pattern = compile_pattern("checkpoint", checkpoint)
    if mode != "train":
        raise SpecError("checkpoint", pattern.pattern,
                        "checkpointing only changes a training step (mode='train')")
    from ..frontends.onnx import OnnxModule

    if isinstance(model, OnnxModule):
        # An ONNX graph's scopes (/layer1/...) group nodes by name and are never called, so
        # there is no region to recompute; checkpointing single nodes only adds their saved
        # inputs (issue 27: 1.82 → 2.57 MiB). Refused rather than silently ignored.
        raise SpecError("checkpoint", pattern.pattern, "has no effect on an ONNX graph: its "
                        "scopes are groups of node names, not calls that can be recomputed "
                        "(checkpoint the PyTorch model instead)")
    paths = [n for n, _ in model.named_modules() if n]
    if any(pattern.search(n) for n in paths):
        return pattern
    raise SpecError("checkpoint", pattern.pattern, "matches no module path; "
                    + named_like(paths, "modules"))


def check_freeze(model: Any, pattern: re.Pattern[str] | None,
                 grad_inputs: bool = False) -> None:
    """A ``freeze`` pattern must match (``re.search``) at least one of the model's parameter
    names — one that matches none changes nothing and is almost always a typo — so it is a
    :class:`~convcost.errors.SpecError` naming ``freeze`` and showing a few names. One that
    matches every trainable parameter, when no input requires a gradient (``grad_inputs``
    false), leaves nothing to differentiate: a SpecError naming ``freeze`` too."""
    if pattern is None:
        return
    names = [n for n, _ in model.named_parameters()]
    if any(pattern.search(n) for n in names):
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        if trainable and not grad_inputs and all(pattern.search(n) for n in trainable):
            from ..frontends.torch_trace.run import NO_GRAD_FN

            raise SpecError("freeze", pattern.pattern, f"matches every trainable parameter "
                            f"({len(trainable)}), and no input requires a gradient: nothing is "
                            f"left to differentiate (a real loss.backward() raises "
                            f"{NO_GRAD_FN}); freeze fewer, or ask for input gradients")
        return
    raise SpecError("freeze", pattern.pattern, "matches no parameter name; "
                    + named_like(names, "parameters"))


def train_memory(
    model: Any,
    inputs: Any,
    *,
    kwargs: Mapping[str, Any] | None = None,
    dtype: str | None = None,
    amp: str | None = None,
    optimizer: str = "none",
    freeze: str | re.Pattern[str] | None = None,
    input_grad: bool = False,
    checkpoint: str | re.Pattern[str] | None = None,
    optimizer_foreach: bool = False,
    dispatch: Dispatch | None = None,
    compute_capability: str | None = None,
    optimizer_fused: bool = False,
    hold_output: bool = True,
) -> RunMemory:
    """Memory of one fake training step (no costing, no inference run): cheaper than
    :func:`analyze`. Arguments as for :func:`analyze`."""
    p = prepare(model, inputs, kwargs, "train", dtype, amp, optimizer, freeze, "dense",
                input_grad)
    check_freeze(model, p.pattern, p.grad_inputs)
    ckpt = check_checkpoint(model, checkpoint)
    target = check_dispatch(dispatch, compute_capability)
    check_fused(optimizer_fused, optimizer_foreach, optimizer, "train")
    check_hold_output(hold_output, "train")
    from ..frontends.torch_trace import torch_dtype, trace_model

    trace = trace_model(
        model, p.args, p.kw, mode="train",
        dtype=None if p.dtype_name is None else torch_dtype(p.dtype_name),
        amp=None if p.amp_name is None else torch_dtype(p.amp_name),
        optimizer=optimizer, freeze=p.pattern, input_grad=input_grad, checkpoint=ckpt,
        optimizer_foreach=optimizer_foreach, cuda=_cuda(target),
        optimizer_fused=optimizer_fused, hold_output=hold_output,
    )
    return run_memory(trace)


def train_peak(model: Any, inputs: Any, **options: Any) -> int:
    """Predicted peak bytes of a training step: the larger of the first step's peak and a
    later step's (when the optimizer state exists from the start). ``options`` as for
    :func:`train_memory`."""
    mem = train_memory(model, inputs, **options)
    return max(mem.peak, mem.steady_peak)
