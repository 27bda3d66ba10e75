"""The shapes to analyse a graph with: the user's ``--input`` values (``NAME=1x3x224x224``,
``1x3x224x224`` filling the graph's inputs in order, a mapping or shapes) checked against
the graph's inputs, symbolic dimensions resolved (a symbol named in several inputs takes one
value). A static dimension cannot be changed: a shape that disagrees with the graph's is an
error naming the input and both shapes (the graph would not run at it). A scalar (rank-0)
input is written with an empty shape (``flag=``, ``flag=:bool``). Errors are
:class:`~convcost.errors.SpecError` for the field ``inputs`` (the CLI names it
``--input``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...dtypes import DTYPES
from ...errors import SpecError
from ...spec import InputSpec, parse_input_text, parse_shape
from .reader import GraphInput


def parse_input_args(values: Sequence[str] | None) -> list[tuple[str | None, str]]:
    """CLI ``--input`` values (``NAME=1x3x224x224`` or ``1x3x224x224``) -> (name, shape
    text) pairs; the name is ``None`` for a positional value."""
    out: list[tuple[str | None, str]] = []
    for v in values or []:
        name, eq, shape = v.rpartition("=")
        out.append((name, shape) if eq and name else (None, v))
    return out


def _shape_of(field_name: str, value: Any) -> tuple[tuple[int, ...], str | None]:
    """A shape (``"1x3x224x224[:dtype]"``, optionally after ``NAME=``, or a sequence of
    ints) and its dtype, if given."""
    if isinstance(value, str):
        return parse_shape(field_name, value.rpartition("=")[2])
    if not isinstance(value, Sequence):
        raise SpecError(field_name, value, "give a shape such as 1x3x224x224")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value):
        raise SpecError(field_name, value, "every dimension must be an integer >= 1")
    return tuple(int(d) for d in value), None


def _given_inputs(inputs: Any) -> list[tuple[str | None, Any]]:
    if inputs is None:
        return []
    if isinstance(inputs, Mapping):
        return [(str(k), v) for k, v in inputs.items()]
    if isinstance(inputs, str):
        return list(parse_input_args([inputs]))
    if isinstance(inputs, Sequence) and inputs and all(
            isinstance(d, int) and not isinstance(d, bool) for d in inputs):
        return [(None, inputs)]
    if isinstance(inputs, Sequence):
        out: list[tuple[str | None, Any]] = []
        for v in inputs:
            out.extend(parse_input_args([v]) if isinstance(v, str) else [(None, v)])
        return out
    raise SpecError("inputs", inputs, "give NAME=SHAPE or SHAPE values")


def resolve_inputs(graph_inputs: list[GraphInput], inputs: Any) -> list[InputSpec]:
    """One :class:`~convcost.spec.InputSpec` per graph input (graph order): the shape
    ``inputs`` gives it (see :func:`.load.load_onnx`) or the one the graph declares, every
    symbolic or unknown dimension set."""
    by_name = {g.name: g for g in graph_inputs}
    chosen: dict[str, tuple[tuple[int, ...], str]] = {}
    positional: list[tuple[tuple[int, ...], str | None, str]] = []
    grads: set[str] = set()  # labels of the inputs written with :grad
    for name, value in _given_inputs(inputs):
        label = str(value) if name is None else f"{name}={value}"
        shape, dtype = _shape_of("inputs", label if isinstance(value, str) else value)
        if isinstance(value, str) and parse_input_text("inputs", value)[2]:
            grads.add(label)
        if name is None:
            positional.append((shape, dtype, label))
            continue
        if name not in by_name:
            raise SpecError("inputs", label, "the graph has no input called "
                            f"{name!r}; its inputs are " + ", ".join(by_name))
        if name in chosen:
            raise SpecError("inputs", label, f"input {name!r} is given twice")
        _check_dtype(by_name[name], dtype, label)
        chosen[name] = (shape, label)
    free = [g for g in graph_inputs if g.name not in chosen]
    if len(positional) > len(free):
        raise SpecError("inputs", [lab for *_, lab in positional],
                        f"more shapes than graph inputs left to set ({len(free)}: "
                        + ", ".join(g.name for g in free) + "); name them with NAME=SHAPE")
    for g, (shape, dtype, label) in zip(free, positional):
        _check_dtype(g, dtype, label)
        chosen[g.name] = (shape, label)
    symbols: dict[str, int] = {}
    for g in graph_inputs:
        if g.name in chosen:
            shape, label = chosen[g.name]
            if g.dims is None:
                continue
            if len(shape) != len(g.dims):
                raise SpecError("inputs", label, f"input {g.name!r} has rank {len(g.dims)} "
                                f"({_dims_text(g.dims)}), not {len(shape)}")
            for d, v in zip(g.dims, shape):
                if isinstance(d, str):
                    if symbols.setdefault(d, v) != v:
                        raise SpecError("inputs", label, f"dimension {d!r} is "
                                        f"{symbols[d]} in another input")
                elif isinstance(d, int) and d != v:
                    raise SpecError("inputs", label, f"the graph declares input {g.name!r} "
                                    f"as {_dims_text(g.dims)}, not {_dims_text(shape)}: "
                                    "only its symbolic or unknown dimensions can be set")
    specs = []
    for g in graph_inputs:
        grad = False
        if g.name in chosen:
            shape, label = chosen[g.name]
            grad = label in grads
            if grad and not (g.dtype in DTYPES and DTYPES[g.dtype].floating):
                raise SpecError("inputs", label, f"input {g.name!r} has dtype {g.dtype}: "
                                "only floating inputs can require a gradient (:grad)")
        elif g.dims is None:
            raise SpecError("inputs", g.name, f"the graph does not give the shape of input "
                            f"{g.name!r}; set it with the input {g.name}=SHAPE")
        else:
            dims = []
            for k, d in enumerate(g.dims):
                if isinstance(d, int):
                    dims.append(d)
                elif isinstance(d, str) and d in symbols:
                    dims.append(symbols[d])
                else:
                    what = f"symbolic ({d!r})" if isinstance(d, str) else "unknown"
                    raise SpecError("inputs", g.name, f"dimension {k} of input {g.name!r} "
                                    f"({_dims_text(g.dims)}) is {what}; set the shape with "
                                    f"the input {g.name}=" + "x".join(
                                        str(x) if isinstance(x, int) else "N" for x in g.dims))
            shape = tuple(dims)
        specs.append(InputSpec(shape, g.dtype, grad))
    return specs


def _check_dtype(g: GraphInput, dtype: str | None, label: str) -> None:
    if dtype is not None and dtype != g.dtype:
        raise SpecError("inputs", label, f"the graph declares {g.dtype} for input {g.name!r} "
                        "(leave the dtype out)")


def _dims_text(dims: Sequence[int | str | None]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "scalar"
