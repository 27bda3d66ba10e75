"""What every subcommand of the CLI shares: the parser class (one-line errors, exit code 2),
the one table mapping library parameters to the flags that set them, the choice of the
terminal table format, writing ``--output``, and the progress loop over several analyses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol, TypeVar

from ..errors import ConvCostError, SpecError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class Command(Protocol):
    """A subcommand module: its name and texts, ``add_arguments`` and ``run``."""

    NAME: str
    HELP: str
    DESCRIPTION: str
    EPILOG: str | None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> str | int: ...


def parser_options(cmd: Command) -> dict[str, Any]:
    """The ``description`` (and ``epilog``, kept as written) of ``cmd``'s parser."""
    opts: dict[str, Any] = {"description": cmd.DESCRIPTION}
    if cmd.EPILOG:
        opts.update(epilog=cmd.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    return opts


#: Library parameter (the ``field`` of a :class:`~convcost.errors.SpecError`) -> the CLI
#: flag that sets it. Only the CLI speaks of flags; the library names its parameters.
FLAGS: dict[str, str] = {
    # convcost conv
    "input_size": "--input",
    "in_channels": "--input",
    "out_channels": "--out-channels",
    "kernel": "--kernel",
    "stride": "--stride",
    "padding": "--padding",
    "dilation": "--dilation",
    "groups": "--groups",
    "batch": "--batch",
    "output_padding": "--output-padding",
    "dtype": "--dtype",
    "counting": "--counting",
    "lang": "--lang",
    "explain": "--explain",
    # convcost model / compare
    "inputs": "--input",
    "kwargs": "--input",
    "model": "TARGET",
    "target": "TARGET",
    "path": "TARGET",
    "entries": "ENTRY",
    "mode": "--mode",
    "amp": "--amp",
    "optimizer": "--optimizer",
    "freeze": "--freeze",
    "depth": "--depth",
    "resolution": "--resolution",
    "device": "--device",
    "capacity": "--device",
    "devices_file": "--devices-file",
    "devices": "--devices",
    "strategy": "--strategy",
    "interconnect": "--interconnect",
    "fit": "--fit",
    # reports
    "format": "--format",
    "plot": "--plot",
    "output": "--output",
    # convcost calibrate
    "size": "--size",
}


def flag_error(e: ConvCostError) -> ConvCostError:
    """``e`` with its field named as the flag that sets it (``inputs[0]`` -> ``--input``);
    errors that are not about one field are returned as they are."""
    if not isinstance(e, SpecError):
        return e
    flag = FLAGS.get(e.field.split("[")[0])
    return e if flag is None else SpecError(flag, e.value, e.allowed)


def table_format(fmt: str) -> str:
    """``rich`` for ``table`` when standard output is a terminal (plain aligned text for
    files, pipes and tests); any other format as it is."""
    out = sys.stdout
    if fmt == "table" and hasattr(out, "isatty") and out.isatty():
        return "rich"
    return fmt


def report(result: object, fmt: str, **options: Any) -> str:
    """:func:`convcost.renderers.render` of ``result`` in ``fmt`` with those of ``options``
    (every flag the command has) that ``fmt`` takes for this kind of result."""
    from ..renderers import REGISTRY, render, subject_of

    takes = REGISTRY[fmt].options.get(subject_of(result), frozenset())
    return render(result, fmt, **{k: v for k, v in options.items() if k in takes})


def deliver(text: str, output: str | None) -> str:
    """``text`` for standard output, or written to ``output`` (then nothing is printed).
    An unwritable file is a SpecError naming ``output``."""
    if not output:
        return text
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise SpecError("output", output, f"cannot be written ({e.strerror})") from None
    return ""


T = TypeVar("T")
R = TypeVar("R")


def each(items: Sequence[T], work: Callable[[T], R]) -> list[R]:
    """``work`` on every item, with a transient progress bar on stderr when it is a
    terminal (nothing otherwise)."""
    if not sys.stderr.isatty():
        return [work(x) for x in items]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    out = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task("analysing", total=len(items))
        for x in items:
            out.append(work(x))
            progress.advance(task)
    return out
