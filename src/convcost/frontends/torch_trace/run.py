"""One run of a model on fake tensors, recorded into a :class:`~convcost.frontends.records.Trace`
(:func:`trace_model`).

The model's parameters and buffers are replaced, for the duration of the run only, by fake
tensors of the same shapes, strides and dtypes (``FakeTensorMode``: no data, nothing
computed, nothing allocated), so time and memory of the analysis do not depend on batch size
or resolution. This works for models built on the CPU as well as on the meta device; the
model object itself is not changed (its training flags are restored afterwards).

Training step (``mode="train"``): forward with grad enabled (and autocast when ``amp`` is
given); the loss is the model's output when it is a scalar tensor (or a mapping/attribute
``loss`` that is), otherwise the sum of ``.sum()`` of every floating output tensor that
requires grad (phase ``loss``: not counted as the model's cost); ``backward`` from it with a
gradient of ones; then ``optimizer.step()`` and a later step recorded apart
(:mod:`.optimizer`). Inference (``mode="inference"``): ``model.eval()`` and a forward under
``torch.no_grad()``. A failure during the run is re-raised as a
:class:`~convcost.errors.TraceError` naming the module that was running.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensorMode,
    UnsupportedOperatorException,
)
from torch.utils.hooks import RemovableHandle

from ...errors import ConvCostError, SpecError, TraceError
from ...spec import InputSpec
from ..kernel_checks import KernelRuleError
from ..records import ModuleRecord, OpRecord, ParamGrad, Trace
from .attribution import LOSS_TAG, Recorder, State
from .checkpointing import checkpoint_forwards, restore_forwards
from .cuda import CudaPath, CudaTarget, cuda_autocast, quiet_autocast_warning, sdpa_choice
from .engine import EngineState
from .engine import backward as python_backward
from .meta import tensor_meta, tensors, torch_dtype
from .module_state import restore_attributes, tensor_attributes
from .optimizer import make_optimizer, steady_step
from .storages import Storages


def trace_model(
    model: nn.Module,
    args: Sequence[torch.Tensor | InputSpec | Any],
    kwargs: Mapping[str, torch.Tensor | InputSpec | Any] | None = None,
    *,
    mode: str = "train",
    dtype: torch.dtype | None = None,
    amp: torch.dtype | None = None,
    optimizer: str = "none",
    optimizer_foreach: bool = False,
    freeze: re.Pattern[str] | None = None,
    checkpoint: re.Pattern[str] | None = None,
    real: bool = False,
    on_sample: Callable[[], None] | None = None,
    needs_formula: Callable[[str], bool] | None = None,
    input_grad: bool = False,
    cuda: CudaTarget | None = None,
    python_engine: bool | None = None,
    optimizer_fused: bool = False,
    hold_output: bool = True,
) -> Trace:
    """Run one training step (``mode="train"``) or one inference forward of ``model``.

    ``args``/``kwargs`` hold example tensors (only their shape, strides and dtype are used),
    :class:`InputSpec` records, or other values passed through unchanged. ``dtype`` converts
    floating parameters, buffers and inputs; ``amp`` runs the forward under
    ``torch.autocast("cpu", amp)``; parameters whose name matches ``freeze`` get no
    gradient. In a training step, floating inputs require a gradient when ``input_grad``
    is true or their :class:`InputSpec` says ``requires_grad`` (tensors: only their shape and
    dtype are used); their ``.grad`` storages are :attr:`Trace.input_grads`. Arguments are
    assumed valid (:func:`convcost.model.analyze` checks them). ``checkpoint`` (training
    only) runs the modules whose path it matches under non-reentrant activation
    checkpointing (see :mod:`.checkpointing`). The optimizer is ``torch.optim``'s
    per-parameter (for-loop) implementation, PyTorch's default on the CPU, or with
    ``optimizer_foreach`` its multi-tensor (``foreach``) one, the default on a GPU, whose
    step holds temporaries for all parameters at once, or with ``optimizer_fused`` its
    fused kernel.

    ``real=True`` runs the same step for real on the model's own tensors (inputs are
    random): used to measure what the fake run predicts. ``on_sample`` is called after
    every op. ``needs_formula(op_name)`` says which ops have no formula: those are also run
    through their PyTorch decomposition (fake runs only), recorded in
    :attr:`~convcost.frontends.records.OpRecord.decomposed`.

    ``cuda`` traces the CUDA path (:mod:`.cuda`) for that GPU: fake CUDA tensors, the SDPA
    kernel PyTorch would pick, CUDA autocast, and the backward on :mod:`.engine`
    (``python_engine``, default: on the CUDA path only; the tests run it on the CPU path too,
    to compare it with PyTorch's engine).
    """
    if cuda is not None and real:
        raise ValueError("a real run is a CPU run: cuda and real exclude each other")
    kwargs = dict(kwargs or {})
    train = mode == "train"
    modules = dict(model.named_modules())
    state = State(modules, on_sample, None if real else needs_formula)
    device = "cpu"
    if cuda is not None:
        device = "cuda"
        state.cuda = CudaPath(cuda)
        state.cuda_amp = amp
    if python_engine if python_engine is not None else cuda is not None:
        state.engine = EngineState()
    _own_parameters(state, modules)
    names = [n for n, _ in model.named_parameters()]
    trainable = {
        n: p.requires_grad and (freeze is None or freeze.search(n) is None)
        for n, p in model.named_parameters()
    }
    fake_mode: FakeTensorMode | None = None if real else FakeTensorMode(allow_non_fake_inputs=True)
    flags = {m: m.training for m in model.modules()}
    attributes = tensor_attributes(model)
    handles: list[RemovableHandle] = []
    wrapped: list[tuple[nn.Module, Any]] = []
    restore: list[Callable[[], None]] = []
    unquiet = _quiet_fake_log()
    try:
        outer = contextlib.nullcontext() if fake_mode is None else fake_mode
        with outer:
            params, buffers, pos, kw = _prepare(
                model, args, kwargs, dtype, trainable, real, state, restore, train,
                input_grad, device
            )
        _add_module_hooks(modules, state, handles)
        if train and checkpoint is not None:
            wrapped = checkpoint_forwards(modules, checkpoint, state)
        model.train(train)
        opt = None
        if train and optimizer != "none":
            opt = make_optimizer(optimizer, [p for n, p in params.items() if p.requires_grad],
                                 optimizer_foreach, optimizer_fused)
            if state.cuda is not None:
                state.cuda.choose("optimizer", "fused" if optimizer_fused else
                                  "foreach" if optimizer_foreach else "per-parameter")
        from torch.nn.utils.stateless import _reparametrize_module

        with outer, _reparametrize_module(model, {**params, **buffers}, tie_weights=True):
            with Recorder(state), _cuda_modes(state.cuda):
                _step(model, pos, kw, state, train, amp, opt, hold_output)
            grads = _param_grads(names, params, state.storages)
            input_grads = _input_grads([*pos, *kw.values()], state.storages)
            steady = _steady_optimizer(opt, state)
    except ConvCostError:
        raise
    except Exception as exc:
        raise _failure(state, exc) from exc
    finally:
        unquiet()
        state.storages.closed = True
        for h in handles:
            h.remove()
        restore_forwards(wrapped)
        restore_attributes(attributes)
        for undo in reversed(restore):
            undo()
        for m, f in flags.items():
            m.training = f
    return _trace(mode, state, modules, trainable, pos, kw, grads, input_grads, steady,
                  hold_output)


@contextlib.contextmanager
def _cuda_modes(path: CudaPath | None) -> Iterator[None]:
    """The CUDA path's SDPA choice (a torch-function mode), and its autocast warnings
    silenced, while the step runs (nothing on the CPU path)."""
    if path is None:
        yield
        return
    with sdpa_choice(path), quiet_autocast_warning():
        yield


def _own_parameters(state: State, modules: Mapping[str, nn.Module]) -> None:
    """Each parameter's owner: the first module (in ``named_modules`` order) holding it."""
    for path, mod in modules.items():
        for pname, p in mod.named_parameters(recurse=False):
            state.param_owner.setdefault(id(p), path)
            del pname


def _quiet_fake_log() -> Callable[[], None]:
    """Silence FakeTensorMode's log until the returned function is called: it logs a
    traceback when a meta kernel rejects its inputs, and the error is re-raised as a
    TraceError naming the module instead."""
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")
    log_level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)
    return partial(fake_log.setLevel, log_level)


def _add_module_hooks(modules: Mapping[str, nn.Module], state: State,
                      handles: list[RemovableHandle]) -> None:
    """Forward pre/post hooks on every module, added to ``handles`` as they are made."""
    for path, mod in modules.items():
        handles.append(mod.register_forward_pre_hook(
            partial(state.pre_hook, path), with_kwargs=True))
        handles.append(mod.register_forward_hook(
            partial(state.post_hook, path), with_kwargs=True))


def _param_grads(names: list[str], params: Mapping[str, torch.Tensor],
                 storages: Storages) -> list[ParamGrad]:
    """The gradient storage of each parameter that has one, in parameter order."""
    grads = []
    for n in names:
        p = params.get(n)
        g = None if p is None else p.grad
        if g is not None:
            sid = storages.get(g)
            if sid is not None:
                leaf = n.rsplit(".", 1)[-1]  # bias, in_proj_bias, bias_ih_l0
                is_bias = g.dim() == 1 and (leaf.endswith("bias")
                                            or leaf.startswith("bias"))
                grads.append(ParamGrad(sid, n, is_bias))
    return grads


def _input_grads(inputs: list[Any], storages: Storages) -> list[int]:
    """The storages of the inputs' ``.grad``, for the inputs that require one."""
    input_grads = []
    for t in inputs:
        g = t.grad if isinstance(t, torch.Tensor) and t.requires_grad else None
        sid = None if g is None else storages.get(g)
        if sid is not None:
            input_grads.append(sid)
    return input_grads


def _steady_optimizer(opt: torch.optim.Optimizer | None, state: State) -> tuple[OpRecord, ...]:
    """The ops of a later optimizer step, when the run got to the first one."""
    steady: tuple[OpRecord, ...] = ()
    if opt is not None and state.phase == "optimizer":
        # A later step of the loop (its optimizer state exists): what a step costs
        # from then on. Storages are no longer followed: memory is the first step's.
        state.storages.closed = True
        steady = steady_step(opt, state.needs_formula)
    return steady


def _module_records(modules: Mapping[str, nn.Module], trainable: Mapping[str, bool],
                    state: State) -> list[ModuleRecord]:
    """One record per module: type, children, parameter counts, first output shape, calls."""
    mrecs = []
    for path, mod in modules.items():
        seen: set[int] = set()
        total = train_total = 0
        for n, p in mod.named_parameters(prefix=path):
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
            if trainable.get(n, False):
                train_total += p.numel()
        children = tuple(f"{path}.{c}" if path else c for c, _ in mod.named_children())
        mrecs.append(ModuleRecord(path, type(mod).__name__, children, total, train_total,
                                  state.output_shapes.get(path), state.calls[path]))
    return mrecs


def _trace(mode: str, state: State, modules: Mapping[str, nn.Module],
           trainable: Mapping[str, bool], pos: list[Any], kw: dict[str, Any],
           grads: list[ParamGrad], input_grads: list[int],
           steady: tuple[OpRecord, ...], hold_output: bool = True) -> Trace:
    """The record of a finished run."""
    named = [(f"arg{i}", t) for i, t in enumerate(pos) if isinstance(t, torch.Tensor)]
    named += [(k, t) for k, t in kw.items() if isinstance(t, torch.Tensor)]
    inputs = tuple((n, tensor_meta(t)) for n, t in named)
    trace = Trace(
        mode=mode,
        ops=tuple(state.ops),
        storages=state.storages.records(),
        saved=tuple(state.saved.items()),
        param_grads=tuple(grads),
        modules=tuple(_module_records(modules, trainable, state)),
        inputs=inputs,
        steady_optimizer=steady,
        input_requires_grad=tuple(bool(t.requires_grad) for _, t in named),
        input_grads=tuple(input_grads),
        dispatch="cpu" if state.cuda is None else "cuda",
        backends=() if state.cuda is None else state.cuda.backends(),
        hold_output=hold_output,
    )
    return trace


#: What ``loss.backward()`` says when nothing in the loss requires a gradient.
NO_GRAD_FN = ("RuntimeError: element 0 of tensors does not require grad and does not have a "
              "grad_fn")


def nothing_to_differentiate(out: Any, has_params: bool) -> SpecError | None:
    """The error of a training step whose output has nothing to differentiate (an integer
    or ``None`` output, or parameters none of which is trainable and no input requiring a
    gradient): a real step raises there, so the analysis does too rather than report a
    zero-cost backward. None for a model without any parameter (a parameter-free block,
    e.g. an ONNX graph of functions): its training step is its forward, as before."""
    found = list(tensors(out))
    if not has_params and any(t.is_floating_point() for t in found):
        return None
    if not found:
        why = f"the model's output ({type(out).__name__}) holds no tensor"
    elif not any(t.is_floating_point() for t in found):
        dts = ", ".join(sorted({str(t.dtype).removeprefix("torch.") for t in found}))
        why = f"the model's output is {dts}: integer tensors have no gradient"
    else:
        why = ("no parameter is trainable (all frozen or requires_grad=False) and no input "
               "requires a gradient")
    return SpecError("mode", "train", f"nothing to differentiate: {why}; a real "
                     f"loss.backward() raises {NO_GRAD_FN} (mode='inference' analyses the "
                     "forward alone)")


def _loss_of(out: Any) -> torch.Tensor | None:
    """The scalar to differentiate (see the module docstring)."""
    if isinstance(out, torch.Tensor) and out.dim() == 0 and out.is_floating_point():
        return out
    cand = out.get("loss") if isinstance(out, Mapping) else getattr(out, "loss", None)
    if isinstance(cand, torch.Tensor) and cand.dim() == 0 and cand.requires_grad:
        return cand
    total: torch.Tensor | None = None
    for t in tensors(out):
        if t.requires_grad and t.is_floating_point():
            s = t.sum()
            total = s if total is None else total + s
    return total


def _convert(t: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None and t.is_floating_point():
        return dtype
    return t.dtype


def _fake_like(t: torch.Tensor, dtype: torch.dtype, device: str = "cpu") -> torch.Tensor:
    # Same shape and strides, on the traced path's device, whatever device the model was
    # built on.
    return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=dtype, device=device)


def _failure(state: State, exc: BaseException) -> TraceError:
    path = state.stack[-1][0] if state.stack else state.last_module
    mod = state.modules.get(path)
    mtype = type(mod).__name__ if mod is not None else "?"
    first = (str(exc).strip().splitlines() or [""])[0]
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if isinstance(exc, KernelRuleError):
        reason = first
    dependent = isinstance(exc, (DataDependentOutputException, DynamicOutputShapeException))
    if dependent:
        reason += (" (the model reads tensor values or makes shapes depend on them, "
                   "which cannot be known without computing)")
    elif isinstance(exc, UnsupportedOperatorException):
        reason += " (this op has no shape-only (meta) implementation in PyTorch)"
    return TraceError(path, mtype, state.phase, reason, dependent)


def _prepare(
    model: nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    dtype: torch.dtype | None,
    trainable: Mapping[str, bool],
    real: bool,
    state: State,
    restore: list[Callable[[], None]],
    train: bool = False,
    input_grad: bool = False,
    device: str = "cpu",
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[Any], dict[str, Any]]:
    """Parameters, buffers and inputs for the run (fake ones unless ``real``), registered.
    Floating inputs require a gradient when ``input_grad`` is true (all of them) or their
    InputSpec asks for it, in a training step (``train``) only. A real run uses the model's
    own tensors, in ``dtype`` for the run: what it changes is undone by ``restore``'s
    callables, after the run."""
    st = state.storages
    params: dict[str, torch.Tensor] = {}
    for n, p in model.named_parameters():
        if real:
            restore.append(partial(_set_requires_grad, p, p.requires_grad))
            _run_in(p, dtype, restore)
            p.requires_grad_(trainable[n])
            params[n] = p
        else:
            fp = nn.Parameter(_fake_like(p, _convert(p, dtype), device),
                              requires_grad=trainable[n])
            state.param_owner[id(fp)] = state.param_owner.get(id(p), "")
            params[n] = fp
        st.add(params[n], "parameter", "")
    buffers: dict[str, torch.Tensor] = {}
    for n, b in model.named_buffers():
        if real:
            _run_in(b, dtype, restore)
        buffers[n] = b if real else _fake_like(b, _convert(b, dtype), device)
        st.add(buffers[n], "buffer", "")
    make = partial(_make_input, st=st, dtype=dtype, real=real, train=train,
                   input_grad=input_grad, device=device)
    pos = [make(a) for a in args]
    kw = {k: make(v) for k, v in kwargs.items()}
    return params, buffers, pos, kw


def _set_requires_grad(t: torch.Tensor, flag: bool) -> None:
    t.requires_grad_(flag)


def _run_in(t: torch.Tensor, dtype: torch.dtype | None, restore: list[Callable[[], None]]
            ) -> None:
    """A real run's parameter or buffer ``t`` in ``dtype`` (floating ones), its own data put
    back by ``restore``."""
    if dtype is None or not t.is_floating_point() or t.dtype == dtype:
        return
    data = t.data
    t.data = data.to(dtype)

    def undo() -> None:
        t.data = data

    restore.append(undo)


def _make_input(x: Any, *, st: Storages, dtype: torch.dtype | None, real: bool, train: bool,
                input_grad: bool, device: str = "cpu") -> Any:
    """The tensor the run gets for input ``x`` (registered); non-tensors unchanged."""
    grad = train and input_grad
    if isinstance(x, InputSpec):
        grad = train and (input_grad or x.requires_grad)
        d = torch_dtype(x.dtype)
        if dtype is not None and d.is_floating_point:
            d = dtype
        if real:
            t = torch.randn(x.shape, dtype=d) if d.is_floating_point else torch.zeros(
                x.shape, dtype=d)
        else:
            t = torch.empty(x.shape, dtype=d, device=device)
    elif isinstance(x, torch.Tensor):
        d = _convert(x, dtype)
        if real:
            t = x.detach().to(dtype=d)
        else:
            t = _fake_like(x, d, device)
    else:
        return x
    if grad and t.is_floating_point():
        t.requires_grad_(True)
    st.add(t, "input", "")
    return t


def _step(
    model: nn.Module,
    args: list[Any],
    kwargs: dict[str, Any],
    state: State,
    train: bool,
    amp: torch.dtype | None,
    opt: torch.optim.Optimizer | None,
    hold_output: bool = True,
) -> None:
    """Forward (+ loss, backward, optimizer step when training). Locals are deleted as soon
    as a training loop would drop them, so storages die when they would for real: the loss
    lives to the end of the step, and so do the outputs with ``hold_output``, as
    ``out = model(x); loss = f(out); loss.backward(); opt.step()`` holds them (their
    storages are held, not the tensors, so no autograd node is kept alive by them); without
    it, as ``loss = f(model(x))``, the outputs die when nothing else needs them."""
    state.phase = "forward"
    state.claim = train
    autocast: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if amp is not None:
        autocast = (torch.autocast(device_type="cpu", dtype=amp) if state.cuda is None
                    else cuda_autocast(amp))
    if not train:
        with torch.no_grad(), autocast:
            out = model(*args, **kwargs)
        del out
        return
    hooks = torch.autograd.graph.saved_tensors_hooks(state.pack, state.unpack)
    with torch.enable_grad(), hooks:
        with autocast:
            out = model(*args, **kwargs)
        state.phase = "loss"
        state.claim = False
        loss = _loss_of(out)
        held = [t.untyped_storage() for t in tensors(out)] if hold_output else []
        if loss is None or not loss.requires_grad:
            why = nothing_to_differentiate(out, next(model.parameters(), None) is not None)
            if why is not None:  # a real loss.backward() raises
                raise why
        del out
    if loss is None or not loss.requires_grad:  # a model without parameters: forward only
        return
    held.append(loss.untyped_storage())
    state.tag_nodes([loss.grad_fn], set(), LOSS_TAG)
    seed = torch.ones_like(loss)
    state.phase = "backward"
    if state.engine is None:
        torch.autograd.backward(loss, seed)
        del loss, seed
    else:
        # Nothing but the engine may hold the graph's root: its nodes free their saved
        # tensors when they die.
        root = [loss.grad_fn]
        del loss
        python_backward(root, seed, state.engine)
        del seed
    if opt is not None:
        state.phase = "optimizer"
        opt.step()
    del held
