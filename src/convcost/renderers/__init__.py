"""Renderers: one per format, chosen by :func:`render` — the one entry point the CLI, the
notebook hooks and a server call.

``render(result, format, **options) -> str`` writes any result: a layer
(:class:`~convcost.layer.ConvResult`), a model (:class:`~convcost.model.ModelResult`, with
its hardware answers as the ``hardware`` option), a sweep or a comparison
(:mod:`convcost.study`), the device catalogue
(:class:`~convcost.hardware.devices.DeviceCatalog`). :data:`REGISTRY` says, in this one
place, which module writes each format and which options it takes for each kind of result;
a format or option that does not apply is a :class:`~convcost.errors.SpecError` naming the
parameter (``format``, or the option). Renderer modules are imported only when used, so
writing a layer's table never imports the HTML or rich renderers.

:func:`write_plots` writes charts to ``.svg``/``.png`` files; :func:`to_frame` returns a
pandas DataFrame.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ..errors import SpecError
from ..vocab import allowed

if TYPE_CHECKING:
    from pathlib import Path

    from ..hardware.answer import Hardware
    from ..layer import ConvResult
    from ..model.generate import GenerationResult
    from ..model.results import ModelResult

__all__ = ["REGISTRY", "SUBJECTS", "Format", "check", "check_hardware", "render", "subject_of",
           "to_frame", "write_plots"]

#: Kinds of result :func:`render` writes, with the records they are.
SUBJECTS: dict[str, str] = {
    "layer": "ConvResult",
    "model": "ModelResult",
    "sweep": "Sweep",
    "comparison": "Comparison",
    "devices": "DeviceCatalog",
    "generation": "GenerationResult",
}

_LAYER = frozenset({"lang", "explain"})
_MODEL = frozenset({"depth", "hardware"})
_NONE: frozenset[str] = frozenset()


class Format(NamedTuple):
    """One output format: the module of :mod:`convcost.renderers` that writes it, and the
    options it takes for each kind of result it applies to (see :data:`SUBJECTS`)."""

    name: str
    module: str
    options: Mapping[str, frozenset[str]]
    description: str


#: Every format, the one place they are registered. Options:
#:
#: * ``lang`` — ``"en"`` or ``"zh"`` (a layer; a model's ``html``); ``explain`` — the
#:   step-by-step derivation instead of the summary (a layer's ``table``, ``rich`` and ``markdown``)
#: * ``depth`` — module levels of a model's table (``None``: every level; default 2, CSV:
#:   every level); ``hardware`` — the :class:`~convcost.hardware.answer.Hardware` answers
#:   to show (step time, sharding, fit)
#: * ``timeline``, ``ops`` — JSON: add the live-bytes timelines, every counted op
#: * ``chart`` — SVG: ``flops``, ``memory`` or ``roofline`` (a model), ``conv`` (a layer)
REGISTRY: dict[str, Format] = {f.name: f for f in (
    Format("table", "text", {"layer": _LAYER, "model": _MODEL, "sweep": _NONE,
                             "comparison": _NONE, "devices": _NONE, "generation": _NONE},
           "aligned plain text"),
    Format("rich", "terminal", {"layer": _LAYER, "model": _MODEL, "sweep": _NONE,
                                "comparison": _NONE, "devices": _NONE},
           "the plain-text layout with rich's coloured tables (for a terminal)"),
    Format("markdown", "markdown", {"layer": _LAYER, "model": _MODEL, "sweep": _NONE,
                                    "comparison": _NONE, "generation": _NONE},
           "GitHub-flavoured Markdown (LaTeX math for explain)"),
    Format("csv", "csv", {"model": _MODEL, "sweep": _NONE, "comparison": _NONE},
           "exact numbers, one row per module, setting or metric"),
    Format("json", "json", {"layer": _NONE, "model": frozenset({"hardware", "timeline", "ops"}),
                            "sweep": _NONE, "comparison": _NONE, "devices": _NONE,
                            "generation": _NONE},
           "the full record, exact integers"),
    Format("html", "html", {"layer": frozenset({"lang"}),
                            "model": frozenset({"hardware", "lang"})},
           "a self-contained page with charts (and MathML for a layer)"),
    Format("notebook", "notebook", {"layer": frozenset({"lang"}), "model": _MODEL,
                                    "generation": _NONE},
           "an HTML fragment for Jupyter"),
    Format("svg", "svg", {"layer": frozenset({"chart"}),
                          "model": frozenset({"chart", "hardware"})},
           "one chart as an SVG document"),
)}


def subject_of(result: object) -> str:
    """The kind of ``result`` (a key of :data:`SUBJECTS`); a SpecError naming ``result``
    for anything else. Checks the light records first, so writing a layer never imports the
    model analyser."""
    from ..layer import ConvResult

    if isinstance(result, ConvResult):
        return "layer"
    from ..hardware.devices import DeviceCatalog
    from ..study import Comparison, Sweep

    if isinstance(result, DeviceCatalog):
        return "devices"
    if isinstance(result, Sweep):
        return "sweep"
    if isinstance(result, Comparison):
        return "comparison"
    from ..model.results import ModelResult

    if isinstance(result, ModelResult):
        return "model"
    from ..model.generate import GenerationResult

    if isinstance(result, GenerationResult):
        return "generation"
    raise SpecError("result", type(result).__name__,
                    "render a " + ", ".join(SUBJECTS.values()))


def check(subject: str, format: str, options: Mapping[str, object]) -> Format:
    """The :class:`Format` called ``format`` when it applies to ``subject`` and takes every
    one of ``options``; a SpecError naming ``format`` or the first option that does not
    apply otherwise."""
    fmt = REGISTRY.get(format)
    if fmt is None or subject not in fmt.options:
        ok = tuple(name for name, f in REGISTRY.items() if subject in f.options)
        raise SpecError("format", format, f"for a {SUBJECTS.get(subject, subject)}, "
                        + allowed(ok))
    takes = fmt.options[subject]
    for key, value in options.items():
        if key not in takes:
            raise SpecError(key, value, f"not an option of format {format!r} for a "
                            f"{SUBJECTS[subject]}; "
                            + (allowed(tuple(sorted(takes))) if takes else "it takes none"))
    check_hardware(options.get("hardware"))
    depth = options.get("depth")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                              or depth < 0):
        raise SpecError("depth", depth, "must be 0 or more (or None: every level)")
    return fmt


def check_hardware(value: object) -> None:
    """``hardware`` is None or a :class:`~convcost.hardware.answer.Hardware` (a device name
    is not one: the answers are computed by ``Hardware``'s makers, not by a report); a
    SpecError naming ``hardware`` otherwise."""
    if value is None:
        return
    from ..hardware.answer import Hardware

    if not isinstance(value, Hardware):
        raise SpecError("hardware", value, "a convcost.Hardware (the answers to show, "
                        "e.g. convcost.hardware.answer.answer(result, device)) or None; "
                        "a device name is not one")


def render(result: object, format: str = "table", **options: Any) -> str:
    """``result`` written in ``format`` (see :data:`REGISTRY`), ending in a newline except
    for ``svg``.

    Example: ``render(conv_cost(in_channels=3, out_channels=64, input_size=(224, 224),
    kernel=7, stride=2, padding=3), "markdown", explain=True, lang="zh")``;
    ``render(model_result, "csv", depth=None, hardware=Hardware(step=step))``.
    """
    subject = subject_of(result)
    fmt = check(subject, format, options)
    if subject == "generation":  # one module writes every format of a generation
        from . import generation

        return generation.render(format, cast("GenerationResult", result))
    module = importlib.import_module(f"{__name__}.{fmt.module}")
    out: str = module.render(subject, result, **options)
    return out


def write_plots(result: object, plot: str | Path, *,
                hardware: Hardware | None = None) -> list[Path]:
    """Write the charts of a layer or a model as ``.svg`` or ``.png`` files and return their
    paths: a layer's one chart to ``plot``; a model's charts beside it as ``STEM-flops``,
    ``STEM-memory`` and, with ``hardware.step``, ``STEM-roofline``. A bad extension or a
    missing directory is a SpecError naming ``plot`` (nothing is written)."""
    subject = subject_of(result)
    if subject not in ("layer", "model"):
        raise SpecError("result", SUBJECTS[subject], "plots are drawn for a ConvResult or "
                        "a ModelResult")
    from . import svg

    if subject == "layer":
        if hardware is not None:
            raise SpecError("hardware", hardware, "a layer's chart takes no hardware")
        return svg.conv_plot(cast("ConvResult", result), plot)
    check_hardware(hardware)
    return svg.plots(cast("ModelResult", result), hardware, plot)


def to_frame(result: object) -> Any:
    """A layer's or a model's numbers as a pandas DataFrame (needs pandas): a layer's
    mults/adds/FLOPs per computation; a model's rows, every level, indexed by module path;
    a generation's phases (prefill, traced decode steps, all decode steps)."""
    subject = subject_of(result)
    if subject == "generation":
        from . import generation

        return generation.frame(cast("GenerationResult", result))
    if subject not in ("layer", "model"):
        raise SpecError("result", SUBJECTS[subject], "a data frame is made of a ConvResult "
                        "or a ModelResult")
    from . import notebook

    return notebook.frame(subject, result)
