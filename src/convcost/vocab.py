"""The project's one vocabulary: the allowed values of every enumerated option.

Each option has a ``Literal`` type (for type checkers and the API's signatures) and a tuple
of its values (for validation and for the CLI's argparse ``choices``), kept in step by a
test. Nothing here imports anything else of convcost, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

Mode = Literal["train", "inference"]
Optimizer = Literal["none", "sgd", "momentum", "adam", "adamw"]
Counting = Literal["dense", "skip-padding"]
Strategy = Literal["ddp", "zero1", "zero2", "zero3", "fsdp"]
OptimizerKernels = Literal["foreach", "per-parameter", "fused"]
DataDependent = Literal["bound", "run"]
#: The dispatch path a model is traced on: PyTorch's CPU kernels, or CUDA's on fake CUDA
#: tensors (the default with a GPU device).
Dispatch = Literal["cpu", "cuda"]
#: Output formats of a whole-model (or sweep/compare) report; ``table`` is the terminal
#: table (rich on a terminal, aligned plain text otherwise).
Format = Literal["table", "json", "csv", "markdown", "html"]
#: Output formats of the single-layer report.
ConvFormat = Literal["table", "json", "markdown", "html"]
Lang = Literal["en", "zh"]
#: Formats :func:`convcost.renderers.render` writes: the CLI's ``--format`` values, plus
#: ``rich`` (the table drawn for a terminal), ``notebook`` (an HTML fragment) and ``svg``
#: (one chart).
RenderFormat = Literal["table", "rich", "json", "csv", "markdown", "html", "notebook", "svg"]
#: Charts: a model's ``flops``, ``memory`` and ``roofline``; a layer's ``conv``.
Chart = Literal["flops", "memory", "roofline", "time", "conv"]
#: The ``amp`` spellings the CLI offers (:data:`AMPS` accepts more).
AmpChoice = Literal["bf16", "fp16"]
#: Phases of one training step, in order. ``loss`` is what the analyser adds to get a
#: scalar to differentiate; it is not part of the model's cost. ``recompute`` is the
#: forward of activation-checkpointed modules run again during the backward (it happens
#: interleaved with ``backward`` ops; only with ``checkpoint``).
Phase = Literal["forward", "loss", "backward", "recompute", "optimizer"]
#: Parts of a backward pass.
GradPart = Literal["grad_input", "grad_weight", "grad_bias"]

MODES: tuple[Mode, ...] = get_args(Mode)
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)
COUNTINGS: tuple[Counting, ...] = get_args(Counting)
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
#: How the optimizer's kernels run on a GPU: PyTorch's multi-tensor ``foreach``
#: implementation (its default on CUDA since 2.0), one kernel per parameter, or the fused
#: implementation (``fused=True``; timed like foreach).
OPTIMIZER_KERNELS: tuple[OptimizerKernels, ...] = get_args(OptimizerKernels)
#: How an analysis handles ops whose output size depends on tensor values (detection
#: models): ``bound`` — every such size at the model's own limit; ``run`` — computed on
#: random data (see :func:`convcost.model.analyze`).
DATA_DEPENDENT: tuple[DataDependent, ...] = get_args(DataDependent)
DISPATCHES: tuple[Dispatch, ...] = get_args(Dispatch)
#: The CUDA compute capability the CUDA path assumes when nothing says which GPU (an H100's).
DEFAULT_CAPABILITY = "9.0"
FORMATS: tuple[Format, ...] = get_args(Format)
CONV_FORMATS: tuple[ConvFormat, ...] = get_args(ConvFormat)
LANGS: tuple[Lang, ...] = get_args(Lang)
RENDER_FORMATS: tuple[RenderFormat, ...] = get_args(RenderFormat)
CHARTS: tuple[Chart, ...] = get_args(Chart)
AMP_CHOICES: tuple[AmpChoice, ...] = get_args(AmpChoice)
PHASES: tuple[Phase, ...] = get_args(Phase)
GRAD_PARTS: tuple[GradPart, ...] = get_args(GradPart)

#: Accepted ``amp`` spellings -> autocast dtype.
AMPS: dict[str, str] = {"bf16": "bfloat16", "bfloat16": "bfloat16",
                        "fp16": "float16", "float16": "float16"}
#: dtypes a whole model can be converted to.
MODEL_DTYPES: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")


def allowed(values: tuple[str, ...]) -> str:
    """``"allowed: a, b, c"`` — the tail of a :class:`~convcost.errors.SpecError`."""
    return "allowed: " + ", ".join(values)


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """``" (did you mean a, b?)"`` — the names among ``choices`` closest to ``value`` by
    edit distance (case-insensitive; :func:`difflib.get_close_matches`), or ``""`` when none
    is close. Imports difflib only when called (an error path)."""
    import difflib

    pool = list(dict.fromkeys(choices))
    close = difflib.get_close_matches(str(value), pool, n=n, cutoff=0.6)
    if not close:  # then ignoring case, as device names are looked up
        by_key: dict[str, str] = {}
        for c in pool:
            by_key.setdefault(c.lower(), c)
        close = [by_key[k] for k in difflib.get_close_matches(str(value).lower(), list(by_key),
                                                              n=n, cutoff=0.6)]
    return f" (did you mean {', '.join(close)}?)" if close else ""


def named_like(names: Sequence[str], what: str) -> str:
    """``"parameters are named like conv1.weight, bn1.weight, bn1.bias, …, fc.weight, fc.bias
    (62 in all)"`` — a few of ``names`` for an error message (``what``: their kind)."""
    if not names:
        return f"there are no {what}"
    shown = list(names) if len(names) <= 6 else [*names[:3], "…", *names[-2:]]
    return f"{what} are named like {', '.join(shown)} ({len(names)} in all)"
