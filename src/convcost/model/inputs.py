"""Validation of :func:`convcost.analyze`'s arguments and preparation of the model's inputs.

Every argument is checked before any work on the model; errors name the API parameter.
A scalar (rank-0) input is written as an empty shape: ``""``, ``":bool"`` or
``InputSpec((), "bool")`` (an ONNX graph's flag input, or a model taking a 0-d tensor).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from ..dtypes import DTYPES, canonical_dtype, is_torch_dtype, normalize_dtype
from ..errors import SpecError
from ..spec import InputSpec, parse_input_text, parse_shape
from ..vocab import AMPS, COUNTINGS, MODEL_DTYPES, MODES, OPTIMIZERS


def _shape(field_name: str, value: object, scalar: bool = False) -> tuple[int, ...]:
    """``value`` as a shape; ``scalar``: an empty one (rank 0) is allowed, as an
    :class:`InputSpec`'s ``()`` (a bare ``()`` in ``inputs`` stays "no input")."""
    if isinstance(value, str):
        dims, _ = parse_shape(field_name, value)
    elif isinstance(value, Sequence):
        dims = tuple(value)
    else:
        raise SpecError(field_name, value, "give a shape (sequence of integers), a tensor or "
                        "an InputSpec")
    if (not dims and not scalar) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims):
        raise SpecError(field_name, value, "every dimension must be an integer >= 1")
    return tuple(int(d) for d in dims)


def _is_shape(x: object) -> bool:
    return (isinstance(x, Sequence) and not isinstance(x, str) and len(x) > 0
            and all(isinstance(d, int) and not isinstance(d, bool) for d in x))


def _is_dtype(x: object) -> bool:
    """Whether ``x`` is meant as the dtype of a ``(shape, dtype)`` pair: a name
    (``"float32"``), a ``torch.dtype`` (``torch.float32``), or a class (``float``,
    ``numpy.float32``: not a dtype convcost reads, refused naming the pair's dtype)."""
    return isinstance(x, (str, type)) or is_torch_dtype(x)


def _is_pair(x: object) -> TypeGuard[Sequence[Any]]:
    """``((2, 4), torch.float32)``, ``((8, 128), "int64")``: a shape and a dtype."""
    return (isinstance(x, Sequence) and not isinstance(x, str) and len(x) == 2
            and _is_shape(x[0]) and _is_dtype(x[1]))


#: PyTorch's limit on one tensor's storage: its byte size is a signed 64-bit integer.
MAX_TENSOR_BYTES = 2**63 - 1


def _one_input(field_name: str, x: object, default_dtype: str, torch_mod: Any) -> Any:
    """Input ``x`` as an InputSpec (or the tensor given), checked; one larger than PyTorch
    can describe (``99999999999999999999x3x32x32``: its bytes overflow int64, where a real
    ``torch.empty`` raises) is a SpecError naming the input, before any work."""
    spec = _make_input(field_name, x, default_dtype, torch_mod)
    if isinstance(spec, InputSpec):
        from ..dtypes import dtype_bytes

        numel = 1
        for d in spec.shape:
            numel *= d
        size = numel * dtype_bytes(spec.dtype)
        if size > MAX_TENSOR_BYTES:
            raise SpecError(field_name, "x".join(map(str, spec.shape)),
                            f"too large: {numel:,} {spec.dtype} elements are {size:,} bytes, "
                            "above PyTorch's limit for one tensor (2**63 - 1 bytes)")
    return spec


def _make_input(field_name: str, x: object, default_dtype: str, torch_mod: Any) -> Any:
    if isinstance(x, torch_mod.Tensor):
        return x
    if isinstance(x, InputSpec):
        return _grad_spec(field_name, InputSpec(
            _shape(field_name, x.shape, scalar=True), _input_dtype(field_name, x.dtype),
            x.requires_grad))
    if isinstance(x, str):
        dims, dt, grad = parse_input_text(field_name, x)
        return _grad_spec(field_name, InputSpec(
            dims, _input_dtype(field_name, dt) if dt else default_dtype, grad))
    if _is_shape(x):
        return InputSpec(_shape(field_name, x), default_dtype)
    if _is_pair(x):
        return InputSpec(_shape(field_name, x[0]), _input_dtype(field_name, x[1]))
    raise SpecError(field_name, x, "give a tensor, a shape (e.g. (8, 3, 224, 224) or "
                    "'8x3x224x224'), a (shape, dtype) pair or an InputSpec")


def _grad_spec(field_name: str, spec: InputSpec) -> InputSpec:
    """``spec``, checked: only a floating input can require a gradient."""
    if spec.requires_grad is not True and spec.requires_grad is not False:
        raise SpecError(f"{field_name}.requires_grad", spec.requires_grad, "True or False")
    if spec.requires_grad and not DTYPES[spec.dtype].floating:
        raise SpecError(f"{field_name}.requires_grad", True, f"input {field_name} has dtype "
                        f"{spec.dtype}: only floating inputs can require a gradient")
    return spec


def _input_dtype(field_name: str, name: object) -> str:
    """The canonical name of an input's dtype, given as a name or a ``torch.dtype``."""
    key = normalize_dtype(name)
    if key not in DTYPES:
        raise SpecError(f"{field_name}.dtype", name, "a torch dtype or its name, such as "
                        "torch.float32 or 'float32', bfloat16, int64, bool")
    return key


def _inputs(inputs: object, default_dtype: str, torch_mod: Any) -> list[Any]:
    if isinstance(inputs, (torch_mod.Tensor, InputSpec, str)) or _is_shape(inputs) or _is_pair(
            inputs):
        return [_one_input("inputs", inputs, default_dtype, torch_mod)]
    if isinstance(inputs, Sequence) and len(inputs) > 0:
        return [_one_input(f"inputs[{i}]", x, default_dtype, torch_mod)
                for i, x in enumerate(inputs)]
    raise SpecError("inputs", inputs, "give a tensor, a shape, or a non-empty list of them")



@dataclass(frozen=True)
class Prepared:
    args: list[Any]
    kw: dict[str, Any]
    dtype_name: str | None
    amp_name: str | None
    pattern: re.Pattern[str] | None
    input_grad: bool = False

    @property
    def grad_inputs(self) -> bool:
        """Whether a training step differentiates some input (``input_grad``, or a floating
        input whose spec says ``requires_grad``)."""
        return self.input_grad or any(
            isinstance(x, InputSpec) and x.requires_grad and _floating(x)
            for x in [*self.args, *self.kw.values()])


def _check_grad_mode(mode: str, input_grad: bool, args: list[Any],
                     kw: Mapping[str, Any]) -> None:
    """Input gradients exist only in a training step."""
    if input_grad is not True and input_grad is not False:
        raise SpecError("input_grad", input_grad, "True or False")
    if mode == "train":
        return
    if input_grad:
        raise SpecError("input_grad", input_grad, "input gradients need mode='train'")
    named = [(f"inputs[{i}]", a) for i, a in enumerate(args)]
    named += [(f"kwargs[{k!r}]", v) for k, v in kw.items()]
    for field_name, x in named:
        if isinstance(x, InputSpec) and x.requires_grad:
            raise SpecError(f"{field_name}.requires_grad", True,
                            "input gradients need mode='train'")


def _floating(x: Any) -> bool:
    """Whether input ``x`` is a floating-point tensor (or the spec of one)."""
    if isinstance(x, InputSpec):
        return normalize_dtype(x.dtype) in ("float64", "float32", "float16", "bfloat16") \
            or normalize_dtype(x.dtype).startswith("float8")
    return bool(getattr(x, "is_floating_point", lambda: False)())


def compile_pattern(field: str, value: str | re.Pattern[str]) -> re.Pattern[str]:
    """``value`` as a compiled regular expression; a :class:`SpecError` naming ``field``
    when it is not one or is over the bounds of :func:`convcost.patterns.check_pattern`."""
    from ..patterns import check_pattern

    check_pattern(field, value.pattern if isinstance(value, re.Pattern) else str(value))
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):  # freeze=3 is not the regex '3'
        raise SpecError(field, value, "a regular expression (str or re.Pattern)")
    try:
        return re.compile(str(value))
    except re.error as exc:
        raise SpecError(field, value, f"not a valid regular expression ({exc})") from None


def prepare(
    model: Any,
    inputs: Any,
    kwargs: Mapping[str, Any] | None,
    mode: str,
    dtype: str | None,
    amp: str | None,
    optimizer: str,
    freeze: str | re.Pattern[str] | None,
    counting: str,
    input_grad: bool = False,
) -> Prepared:
    """Validate every argument of :func:`analyze` (no work on the model before all pass)."""
    if mode not in MODES:
        raise SpecError("mode", mode, "allowed: " + ", ".join(MODES))
    if optimizer not in OPTIMIZERS:
        raise SpecError("optimizer", optimizer, "allowed: " + ", ".join(OPTIMIZERS))
    if optimizer != "none" and mode != "train":
        raise SpecError("optimizer", optimizer, "an optimizer step needs mode='train'")
    if counting not in COUNTINGS:
        raise SpecError("counting", counting, "allowed: " + ", ".join(COUNTINGS))
    dtype_name = None if dtype is None else canonical_dtype(dtype, "dtype", MODEL_DTYPES)
    amp_name = None
    if amp is not None:
        key = str(amp).strip().lower().removeprefix("torch.")  # torch.bfloat16, as dtype=
        if key not in AMPS:
            raise SpecError("amp", amp, "allowed: bf16, fp16 (or None for no autocast)")
        amp_name = AMPS[key]
    pattern = None if freeze is None else compile_pattern("freeze", freeze)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise SpecError("kwargs", kwargs, "a mapping of keyword name to input (shape, "
                        "InputSpec, tensor or value), or None")
    import torch

    if not isinstance(model, torch.nn.Module):
        raise SpecError("model", type(model).__name__, "must be a torch.nn.Module")
    default_dtype = dtype_name or "float32"
    # no positional input (None or an empty list) is fine when keyword inputs are given
    keyword_only = bool(kwargs) and (inputs is None or (isinstance(inputs, (list, tuple))
                                                        and len(inputs) == 0))
    args = [] if keyword_only else _inputs(inputs, default_dtype, torch)
    kw: dict[str, Any] = {}
    for k, v in (kwargs or {}).items():
        if not isinstance(k, str):
            raise SpecError("kwargs", k, "keyword names must be strings")
        kw[k] = _one_input(f"kwargs[{k!r}]", v, default_dtype, torch) if isinstance(
            v, (torch.Tensor, InputSpec)) else v

    _check_grad_mode(mode, input_grad, args, kw)
    if freeze is not None and mode != "train":
        raise SpecError("freeze", freeze, "freezing parameters only changes a training step "
                        "(mode='train'): an inference run computes no gradient")
    if input_grad and not any(_floating(x) for x in [*args, *kw.values()]):
        raise SpecError("input_grad", True, "no input is floating-point, and PyTorch refuses "
                        "gradients of the others (RuntimeError: only Tensors of floating point "
                        "dtype can require gradients)")
    return Prepared(args, kw, dtype_name, amp_name, pattern, input_grad)
