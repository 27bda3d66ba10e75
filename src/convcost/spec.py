"""What the user asks about: validated, frozen records (:class:`ConvSpec`,
:class:`InputSpec`) and every parser of options written as text (shapes, integer lists,
padding, ``NAME=SHAPE:DTYPE`` inputs, resized inputs for sweeps). Errors name the field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from .dtypes import canonical_dtype, dtype_bytes
from .errors import SpecError

IntOrSeq = Union[int, Sequence[int]]  # noqa: UP007 - runtime alias on 3.10
PaddingArg = Union[int, str, Sequence[int | Sequence[int]]]  # noqa: UP007

#: The largest kernel size along one dimension: the tap statistics of a dimension take one
#: step per kernel offset (about a second at this size), and no real layer comes near it.
MAX_KERNEL = 1 << 20
#: Every integer of a layer is below this (at most 30 digits): its counts then stay far
#: inside a float's range (the reports' charts and ratios) and Python's 4,300-digit limit
#: on writing an integer, so a result is exact or refused, never a crash.
MAX_LAYER_INT = 10**30

#: Names of the spatial dimensions for 1-, 2- and 3-D layers (used in symbols).
DIM_NAMES: dict[int, tuple[str, ...]] = {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")}


def conv_output_length(
    length: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int
) -> int:
    """Output length of a convolution along one dimension (PyTorch's formula)."""
    return (length + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_length(
    length: int,
    kernel: int,
    stride: int,
    pad_begin: int,
    pad_end: int,
    dilation: int,
    output_padding: int,
) -> int:
    """Output length of a transposed convolution along one dimension (PyTorch's formula)."""
    return (
        (length - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + output_padding + 1
    )


def parse_count(field: str, text: str) -> int:
    """``"224"`` -> ``224``: a whole number written in ASCII digits only — no sign, no
    underscore, no space, no other script's digits (Python's ``int()`` accepts all four).
    Raises :class:`SpecError` naming ``field``."""
    value = _dims([str(text)])
    if value is None:
        raise SpecError(field, text, "write a whole number in ASCII digits (0-9)")
    return value[0]


#: Units :func:`parse_bytes` reads (binary and decimal).
BYTE_UNITS: dict[str, int] = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
                              "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_bytes(field: str, text: str) -> int:
    """``"1.5GiB"``, ``"800 MiB"``, ``"2GB"``, ``"0"`` -> bytes: a non-negative number with an
    optional unit among :data:`BYTE_UNITS` (a bare number is bytes). Raises
    :class:`SpecError` naming ``field``."""
    import math
    import re

    allowed = ("a size such as 1.5GiB, 800MiB or 2GB (units: "
               f"{', '.join(BYTE_UNITS)}; a bare number is bytes)")
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if m is None or not m.group(1).isascii():
        raise SpecError(field, text, allowed)
    unit = m.group(2) or "B"
    scale = next((v for k, v in BYTE_UNITS.items() if k.lower() == unit.lower()), None)
    if scale is None:
        raise SpecError(field, text, allowed)
    value = float(m.group(1)) * scale
    if not math.isfinite(value):
        raise SpecError(field, text, allowed)
    return round(value)


def _split_dims(text: str) -> list[str]:
    """``"8x3×224X224"`` -> ``["8", "3", "224", "224"]``: the parts of a ``x``-separated
    list (``×``, as convcost prints shapes, and ``X`` are accepted too)."""
    return str(text).replace("×", "x").replace("X", "x").split("x")


def _dims(parts: list[str]) -> tuple[int, ...] | None:
    """The parts as integers, or None when one is not ASCII digits (or is longer than
    Python converts)."""
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    try:
        return tuple(int(p) for p in parts)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        return None


def parse_shape(field: str, text: str) -> tuple[tuple[int, ...], str | None]:
    """``"8x3x224x224"`` or ``"8x128:int64"`` -> ``((8, 3, 224, 224), None)`` /
    ``((8, 128), "int64")``: the one parser of shapes written on a command line.

    Every dimension must be an integer ≥ 1 written in ASCII digits (``×`` separates
    dimensions as well as ``x``); the dtype (after ``:``) is returned as written
    (lower-cased) for the caller to check. A trailing ``:grad`` is accepted and dropped
    here (:func:`parse_input_text` returns it). Raises :class:`SpecError` naming ``field``.
    """
    dims, dtype, _ = parse_input_text(field, text)
    return dims, dtype


#: The suffix of an input written on a command line that makes it require a gradient.
GRAD_SUFFIX = "grad"


def parse_input_text(field: str, text: str) -> tuple[tuple[int, ...], str | None, bool]:
    """``SHAPE[:DTYPE][:grad]`` -> ``(dims, dtype or None, requires_grad)``:
    ``"8x197x768:grad"`` -> ``((8, 197, 768), None, True)``, ``"2x8:float32:grad"`` ->
    ``((2, 8), "float32", True)``; an empty shape is a scalar: ``":bool"`` -> ``((), "bool",
    False)``. Raises :class:`SpecError` naming ``field``."""
    dims_text, *rest = str(text).split(":")
    grad = bool(rest) and rest[-1].strip().lower() == GRAD_SUFFIX
    if grad:
        rest = rest[:-1]
    # an empty shape is a scalar (rank 0): "" or ":bool", as an ONNX graph's flag input
    dims = () if not dims_text.strip() else _dims(_split_dims(dims_text))
    if dims is None or len(rest) > 1:
        raise SpecError(field, text, "write a shape as integers separated by 'x', e.g. "
                        "8x3x224x224 (optionally :DTYPE, then :grad; empty for a scalar)")
    if any(d < 1 for d in dims):
        raise SpecError(field, text, "every dimension must be an integer >= 1")
    dtype = rest[0].strip().lower() if rest else ""
    return dims, dtype or None, grad


def parse_ints(field: str, text: str) -> tuple[int, ...]:
    """``"3"`` or ``"3x1"`` -> ``(3,)`` / ``(3, 1)``: one value per dimension, or one for
    all (kernel, stride, dilation, output padding). Raises :class:`SpecError` naming
    ``field``; the values themselves are checked by :func:`conv_spec`."""
    values = _dims(_split_dims(text))
    if values is None:
        raise SpecError(field, text, "write integers separated by 'x', e.g. 3 or 3x1")
    return values


def parse_layer_input(field: str, text: str) -> tuple[int, tuple[int, ...]]:
    """``"3x224x224"`` -> ``(3, (224, 224))``: a layer's input written channels first,
    without the batch (``CxL``, ``CxHxW`` or ``CxDxHxW``). Raises :class:`SpecError`
    naming ``field``."""
    values = parse_ints(field, text)
    if not 2 <= len(values) <= 4:
        raise SpecError(field, text, "write CxL, CxHxW or CxDxHxW (channels first, no batch)")
    return values[0], tuple(values[1:])


def parse_padding(field: str, text: str) -> str | list[tuple[int, int]]:
    """``"3"``, ``"3x1"``, ``"1:2x0"`` (begin:end per dimension), ``"same"`` or ``"valid"``
    -> ``"same"``/``"valid"`` or ``[(begin, end), …]`` for :func:`conv_spec`. Raises
    :class:`SpecError` naming ``field``."""
    t = str(text).lower()
    if t.strip() in ("same", "valid"):
        return t.strip()
    pads: list[tuple[int, int]] = []
    for part in _split_dims(t):
        ends = _dims(part.split(":"))
        if ends is None or len(ends) > 2:
            raise SpecError(
                field, text, "write P, P1xP2, begin:end per dimension, 'same' or 'valid'"
            )
        pads.append((ends[0], ends[-1]))
    return pads


def parse_int_list(field: str, text: str | None) -> list[int]:
    """``"1,8,64"`` -> ``[1, 8, 64]`` (``None`` -> ``[]``): the settings of a sweep, each an
    integer ≥ 1 in ASCII digits (spaces around the commas are allowed). Raises
    :class:`SpecError` naming ``field``."""
    if text is None:
        return []
    parsed = _dims([v.strip() for v in text.split(",")])
    if parsed is None:
        raise SpecError(field, text, "write a comma-separated list of integers, e.g. 1,8,64")
    values = list(parsed)
    if not values or any(v < 1 for v in values):
        raise SpecError(field, text, "every value must be an integer ≥ 1")
    return values


def split_inputs(field: str, values: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Model inputs written as ``SHAPE[:DTYPE][:grad]`` (positional, in order) or
    ``NAME=SHAPE[:DTYPE][:grad]`` (keyword) -> ``(positional shapes, {name: shape})``, the shapes
    still as text (:func:`parse_input` reads one). Raises :class:`SpecError` naming
    ``field`` for a keyword that is not a Python name, or no input at all."""
    pos: list[str] = []
    kw: dict[str, str] = {}
    for v in values:
        name, eq, shape = v.partition("=")
        if eq:
            if not name.isidentifier():
                raise SpecError(field, v, "a keyword input is NAME=SHAPE with a Python name")
            kw[name] = shape
        else:
            pos.append(v)
    if not pos and not kw:
        raise SpecError(field, list(values), "give at least one input shape")
    return pos, kw


def parse_input(field: str, text: str) -> InputSpec:
    """``"8x128:int64"`` -> ``InputSpec((8, 128), "int64")`` (float32 when no dtype is
    written; ``:grad`` at the end sets ``requires_grad``). Raises :class:`SpecError` naming
    ``field``."""
    dims, dtype, grad = parse_input_text(field, text)
    return InputSpec(dims, dtype or "float32", grad)


def parse_model_args(field: str, values: Sequence[str]) -> dict[str, object]:
    """``KEY=VALUE`` constructor arguments (``--model-arg``): VALUE a Python literal
    (``518``, ``0.1``, ``True``, ``'gelu'``, ``[1, 2]``, ``None``) or, when it is not one, the
    text itself (``act=gelu``). A key given twice, an empty or non-identifier key is a
    :class:`SpecError` naming ``field``."""
    import ast

    out: dict[str, object] = {}
    for text in values:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SpecError(field, text, "write KEY=VALUE with KEY a Python identifier "
                            "(e.g. image_size=518)")
        if key in out:
            raise SpecError(field, text, f"{key} is given more than once")
        try:
            out[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            out[key] = raw.strip()
    return out


def resize_shape(text: str, batch: int | None = None, resolution: int | None = None) -> str:
    """``text`` (``NxCxHxW[:DTYPE][:grad]``) with its batch (first dimension) and/or spatial size
    replaced: the last two dimensions of a 4-D or larger shape, the last of a 3-D one (a
    scalar is returned as it is). Raises :class:`SpecError` naming ``inputs`` (a bad shape)
    or ``resolution`` (a shape without spatial dimensions)."""
    parsed, dt, grad = parse_input_text("inputs", text)
    dims = list(parsed)
    if not dims:  # a scalar has no batch and no spatial size: the same at every setting
        return text
    if batch is not None:
        dims[0] = batch
    if resolution is not None:
        if len(dims) < 3:
            raise SpecError("resolution", resolution, f"needs inputs with spatial dimensions; "
                            f"{text} has none")
        spatial = 2 if len(dims) >= 4 else 1
        dims[-spatial:] = [resolution] * spatial
    return ("x".join(map(str, dims)) + (f":{dt}" if dt else "")
            + (f":{GRAD_SUFFIX}" if grad else ""))


@dataclass(frozen=True)
class ConvSpec:
    """One convolution or transposed-convolution layer, normalised and validated.

    Sizes are in elements; ``input_size`` holds only the spatial dimensions (1, 2 or 3 of
    them), channels and batch are separate. ``padding`` is one ``(begin, end)`` pair per
    spatial dimension. For a transposed convolution ``in_channels`` is the channel count of
    the layer's input (PyTorch's ``ConvTranspose`` convention: weight shape
    ``in_channels × out_channels/groups × kernel``). ``input_grad`` says whether the layer's
    input needs a gradient (it does not for a network's first layer).

    Build one with :func:`conv_spec`, which accepts scalars, ``"same"`` and ``"valid"``.
    """

    in_channels: int
    out_channels: int
    input_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int = 1
    batch: int = 1
    bias: bool = True
    transposed: bool = False
    output_padding: tuple[int, ...] = ()
    dtype: str = "float32"
    input_grad: bool = True

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (1, 2 or 3)."""
        return len(self.input_size)

    @property
    def output_size(self) -> tuple[int, ...]:
        """Spatial output size."""
        return _output_size(self)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(N, C_in, *spatial)``."""
        return (self.batch, self.in_channels, *self.input_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(N, C_out, *spatial_out)``."""
        return (self.batch, self.out_channels, *self.output_size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """PyTorch's weight layout: ``C_out × C_in/g × k`` (transposed: ``C_in × C_out/g × k``)."""
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def element_bytes(self) -> int:
        """Bytes per element of ``dtype``."""
        return dtype_bytes(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec as JSON-ready data (padding as ``[[begin, end], …]``)."""
        return {
            "kind": "conv_transpose" if self.transposed else "conv",
            "ndim": self.ndim,
            "batch": self.batch,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "input_size": list(self.input_size),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": [list(p) for p in self.padding],
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias,
            "transposed": self.transposed,
            "output_padding": list(self.output_padding),
            "dtype": self.dtype,
            "input_grad": self.input_grad,
        }


def conv_spec(
    in_channels: int,
    out_channels: int,
    input_size: IntOrSeq,
    kernel: IntOrSeq,
    stride: IntOrSeq = 1,
    padding: PaddingArg = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    batch: int = 1,
    bias: bool = True,
    transposed: bool = False,
    output_padding: IntOrSeq = 0,
    dtype: str = "float32",
    input_grad: bool = True,
) -> ConvSpec:
    """Build a validated :class:`ConvSpec` from loose arguments.

    ``input_size`` is the spatial size (an int means 1-D). ``kernel``, ``stride``,
    ``dilation`` and ``output_padding`` take one int for every dimension or one per
    dimension. ``padding`` takes an int, one entry per dimension (an int or a
    ``(begin, end)`` pair), or ``"same"``/``"valid"`` with PyTorch's semantics: ``same``
    needs stride 1 and puts the odd extra element at the end. Raises
    :class:`~convcost.errors.SpecError` on anything invalid.
    """
    size = _tuple("input_size", input_size, None)
    nd = len(size)
    if nd not in (1, 2, 3):
        raise SpecError("input_size", input_size, "give 1, 2 or 3 spatial dimensions")
    k = _tuple("kernel", kernel, nd)
    s = _tuple("stride", stride, nd)
    d = _tuple("dilation", dilation, nd)
    op = _tuple("output_padding", output_padding, nd)
    pad = _padding(padding, nd, k, s, d, transposed)
    return ConvSpec(
        in_channels=_int("in_channels", in_channels),
        out_channels=_int("out_channels", out_channels),
        input_size=size,
        kernel=k,
        stride=s,
        padding=pad,
        dilation=d,
        groups=_int("groups", groups),
        batch=_int("batch", batch),
        bias=bool(bias),
        transposed=bool(transposed),
        output_padding=op,
        dtype=dtype,
        input_grad=bool(input_grad),
    )


def _int(field: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(field, v, "must be an integer")
    return v


def _tuple(field: str, v: IntOrSeq, nd: int | None) -> tuple[int, ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        return (v,) * (nd or 1)
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise SpecError(field, v, "must be an integer or a sequence of integers")
    out = tuple(_int(field, x) for x in v)
    if nd is not None and len(out) == 1:
        return out * nd
    if nd is not None and len(out) != nd:
        raise SpecError(field, v, f"give 1 value or {nd} (one per spatial dimension of the input)")
    return out


def _padding(
    padding: PaddingArg,
    nd: int,
    k: tuple[int, ...],
    s: tuple[int, ...],
    d: tuple[int, ...],
    transposed: bool,
) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return ((0, 0),) * nd
        if mode == "same":
            if transposed:
                raise SpecError(
                    "padding", padding, "'same' is not defined for transposed convolutions"
                )
            if any(x != 1 for x in s):
                raise SpecError("padding", padding, "'same' requires stride 1 (as in PyTorch)")
            pads = []
            for ki, di in zip(k, d):
                total = di * (ki - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise SpecError("padding", padding, "use an integer, begin:end pairs, 'same' or 'valid'")
    if isinstance(padding, int) and not isinstance(padding, bool):
        return ((padding, padding),) * nd
    if not isinstance(padding, Sequence):
        raise SpecError("padding", padding, "use an integer, begin:end pairs, 'same' or 'valid'")
    entries: list[tuple[int, int]] = []
    for p in padding:
        if isinstance(p, int) and not isinstance(p, bool):
            entries.append((p, p))
        elif isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2:
            entries.append((_int("padding", p[0]), _int("padding", p[1])))
        else:
            raise SpecError("padding", padding, "each entry is an integer or a (begin, end) pair")
    if len(entries) == 1:
        entries *= nd
    if len(entries) != nd:
        raise SpecError("padding", padding, f"give 1 value or {nd} (one per spatial dimension)")
    return tuple(entries)


def _validate(spec: ConvSpec) -> None:
    nd = len(spec.input_size)
    if nd not in (1, 2, 3):
        raise SpecError("input_size", spec.input_size, "give 1, 2 or 3 spatial dimensions")
    for field in ("kernel", "stride", "dilation", "padding"):
        value = getattr(spec, field)
        if len(value) != nd:
            raise SpecError(
                field, value, f"has {len(value)} dimensions but the input has {nd} spatial"
            )
    if spec.output_padding and len(spec.output_padding) != nd:
        raise SpecError(
            "output_padding", spec.output_padding, f"needs {nd} values (one per dimension)"
        )
    for field in ("batch", "in_channels", "out_channels", "groups"):
        v = getattr(spec, field)
        if _int(field, v) < 1:
            raise SpecError(field, v, "must be at least 1")
    for field in ("input_size", "kernel", "stride", "dilation"):
        for v in getattr(spec, field):
            if _int(field, v) < 1:
                raise SpecError(field, getattr(spec, field), "every value must be at least 1")
    for field in ("batch", "in_channels", "out_channels", "groups", "input_size", "stride",
                  "dilation", "padding", "output_padding"):
        v = getattr(spec, field)
        flat = [v] if isinstance(v, int) else [x for e in v
                                               for x in (e if isinstance(e, tuple) else (e,))]
        if any(abs(x) >= MAX_LAYER_INT for x in flat if isinstance(x, int)):
            raise SpecError(field, "a number of over 30 digits", "every value must be below "
                            "10**30 (at most 30 digits)")
    if any(k > MAX_KERNEL for k in spec.kernel):
        raise SpecError("kernel", spec.kernel, f"every value must be at most {MAX_KERNEL:,} "
                        "(the taps are counted per kernel offset)")
    for pb, pe in spec.padding:
        if _int("padding", pb) < 0 or _int("padding", pe) < 0:
            raise SpecError("padding", [list(p) for p in spec.padding], "must be non-negative")
    for name in ("in_channels", "out_channels"):
        if getattr(spec, name) % spec.groups:
            raise SpecError(
                "groups",
                spec.groups,
                f"must divide {name} ({getattr(spec, name)})",
            )
    op = spec.output_padding or (0,) * nd
    for v, s, d in zip(op, spec.stride, spec.dilation):
        if _int("output_padding", v) < 0:
            raise SpecError("output_padding", spec.output_padding, "must be non-negative")
        if v and not spec.transposed:
            raise SpecError(
                "output_padding", spec.output_padding, "only applies to transposed convolutions"
            )
        if v and not (v < s or v < d):
            raise SpecError(
                "output_padding",
                spec.output_padding,
                f"must be smaller than the stride ({s}) or the dilation ({d})",
            )
    object.__setattr__(spec, "output_padding", tuple(op))
    object.__setattr__(spec, "dtype", canonical_dtype(spec.dtype))
    out = _output_size(spec)
    if any(o < 1 for o in out):
        raise SpecError(
            "input_size",
            "x".join(map(str, spec.input_size)),
            f"gives output size {'x'.join(map(str, out))} with kernel "
            f"{'x'.join(map(str, spec.kernel))}, stride {'x'.join(map(str, spec.stride))}, "
            f"dilation {'x'.join(map(str, spec.dilation))} and padding {_pads(spec)}; every "
            "output dimension must be at least 1 (the input is too small for them)",
        )


def _pads(spec: ConvSpec) -> str:
    """The padding as given: ``1x1``, or ``1:2x0:0`` for per-side amounts."""
    if not isinstance(spec.padding, tuple):
        return str(spec.padding)
    return "x".join((str(p[0]) if p[0] == p[1] else f"{p[0]}:{p[1]}")
                    if isinstance(p, tuple) else str(p) for p in spec.padding)


def _output_size(spec: ConvSpec) -> tuple[int, ...]:
    op = spec.output_padding or (0,) * len(spec.input_size)
    if spec.transposed:
        return tuple(
            conv_transpose_output_length(n, k, s, pb, pe, d, o)
            for n, k, s, (pb, pe), d, o in zip(
                spec.input_size, spec.kernel, spec.stride, spec.padding, spec.dilation, op
            )
        )
    return tuple(
        conv_output_length(n, k, s, pb, pe, d)
        for n, k, s, (pb, pe), d in zip(
            spec.input_size, spec.kernel, spec.stride, spec.padding, spec.dilation
        )
    )


@dataclass(frozen=True)
class InputSpec:
    """A model input given by its shape (batch included) and dtype name (``"float32"``,
    ``"int64"``...); ``requires_grad=True`` makes a floating input require a gradient in a
    training step (as a block's input does inside a network), so the backward computes it."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    requires_grad: bool = False
