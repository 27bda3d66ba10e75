"""The one table of element types: bytes per element, accepted spellings, ONNX type codes.

Every dtype a tensor may have in convcost (a traced PyTorch tensor, an ONNX tensor, a layer's
``dtype``) is named by its PyTorch name without ``torch.`` (``"float32"``, ``"bfloat16"``,
``"int64"``...). :func:`canonical_dtype` accepts the aliases below, case-insensitively.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

from .errors import SpecError


class DType(NamedTuple):
    """One element type: its canonical name, bytes per element, whether it is a floating
    type, and its ONNX ``TensorProto.DataType`` code (``None`` where ONNX has none)."""

    name: str
    bytes: int
    floating: bool
    onnx: int | None


#: Every element type, by canonical name.
DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("float64", 8, True, 11),
    DType("float32", 4, True, 1),
    DType("float16", 2, True, 10),
    DType("bfloat16", 2, True, 16),
    DType("float8_e4m3fn", 1, True, 17),
    DType("float8_e4m3fnuz", 1, True, 18),
    DType("float8_e5m2", 1, True, 19),
    DType("float8_e5m2fnuz", 1, True, 20),
    DType("float8_e8m0fnu", 1, True, None),
    DType("int64", 8, False, 7),
    DType("int32", 4, False, 6),
    DType("int16", 2, False, 5),
    DType("int8", 1, False, 3),
    DType("uint64", 8, False, 13),
    DType("uint32", 4, False, 12),
    DType("uint16", 2, False, 4),
    DType("uint8", 1, False, 2),
    DType("bool", 1, False, 9),
    DType("complex128", 16, False, 15),
    DType("complex64", 8, False, 14),
    DType("complex32", 4, False, None),
)}

#: dtypes a single convolution layer may have (``ConvSpec.dtype``).
LAYER_DTYPES: tuple[str, ...] = (
    "float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz",
    "float8_e5m2", "float8_e5m2fnuz", "int8",
)

#: Canonical name -> bytes per element, for every dtype in :data:`DTYPES`.
ELEMENT_BYTES: dict[str, int] = {d.name: d.bytes for d in DTYPES.values()}

#: ONNX ``TensorProto.DataType`` code -> canonical name.
ONNX_DTYPES: dict[int, str] = {d.onnx: d.name for d in DTYPES.values() if d.onnx is not None}

#: Accepted spellings -> canonical name.
DTYPE_ALIASES: dict[str, str] = {
    "fp64": "float64",
    "double": "float64",
    "fp32": "float32",
    "float": "float32",
    "fp16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "fp8": "float8_e4m3fn",
    "fp8_e4m3": "float8_e4m3fn",
    "fp8_e5m2": "float8_e5m2",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
}


def is_torch_dtype(value: object) -> bool:
    """Whether ``value`` is a ``torch.dtype`` (``torch.float32``), decided without importing
    torch: a dtype object can only exist once torch has been imported."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.dtype)


def normalize_dtype(name: object) -> str:
    """``name`` lower-cased, without ``torch.``, aliases resolved (not checked); a
    ``torch.dtype`` gives its name (``torch.float32`` -> ``"float32"``)."""
    key = str(name).strip().lower().removeprefix("torch.")
    return DTYPE_ALIASES.get(key, key)


def canonical_dtype(name: object, field: str = "dtype",
                    allowed: tuple[str, ...] = LAYER_DTYPES) -> str:
    """The canonical dtype name for ``name`` (case-insensitive, aliases accepted), which must
    be one of ``allowed``.

    Raises :class:`SpecError` naming ``field`` for a dtype not in ``allowed``.
    """
    key = normalize_dtype(name)
    if key not in allowed:
        raise SpecError(field, name, "allowed: " + ", ".join(allowed)
                        + " (or fp64/fp32/fp16/bf16" + ("/fp8)" if "float8_e4m3fn" in allowed
                                                         else ")"))
    return key


def dtype_bytes(name: str) -> int:
    """Bytes per element of dtype ``name`` (any dtype in :data:`DTYPES`, aliases accepted)."""
    return ELEMENT_BYTES[canonical_dtype(name, allowed=tuple(DTYPES))]
