"""What every subcommand of the CLI shares: the parser class (one-line errors, exit code 2),
the one table mapping library parameters to the flags that set them, the choice of the
terminal table format, writing ``--output``, and the progress loop over several analyses.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from ..errors import ConvCostError, SpecError

if TYPE_CHECKING:
    from ..hardware.devices import DeviceSpec


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2. A value that starts
    with ``-`` and a digit after an option taking one value (``--reserve -1GiB``) is that
    option's value, as ``--reserve=-1GiB`` is: argparse would take it for an option and say
    "expected one argument" instead of the option's own error ("must be 0 or more")."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        out: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            action = self._option_string_actions.get(w)
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if (action is not None and action.nargs is None and action.option_strings
                    and len(nxt) > 1 and nxt[0] == "-" and (nxt[1].isdigit() or nxt[1] == ".")):
                out.append(f"{w}={nxt}")
                i += 2
                continue
            out.append(w)
            i += 1
        return super().parse_known_args(out, namespace)


#: The longest error line printed (a config or value of kilobytes is cut in the middle).
MAX_LINE = 1000


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` with its unprintable characters (newlines, tabs, other controls a user's
    argument may hold) escaped as Python writes them, so an error stays on one line; longer
    than ``limit`` characters, its middle is cut (``… [12,000 characters cut] …``), so
    the start (the field) and the end (what is allowed) stay readable."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(line) <= limit:
        return line
    keep = limit // 2
    return f"{line[:keep]} … [{len(line) - 2 * keep:,} characters cut] … {line[-keep:]}"


#: Top-level module -> (what it is, the extra that installs it): a subcommand that imports
#: a missing optional dependency ends in one line naming the extra, not a traceback.
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("PyTorch", "torch"),
    "torchvision": ("torchvision", "torch"),
    "onnx": ("the onnx package", "onnx"),
    "starlette": ("starlette", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "cairosvg": ("cairosvg", "plot"),
    "dask": ("dask", "cluster"),
    "distributed": ("dask.distributed", "cluster"),
}


def missing_extra(command: str, exc: ModuleNotFoundError) -> str | None:
    """The one-line error for ``exc`` when it is an optional dependency of convcost that is
    not installed (``None`` for any other module: a bug, left to surface)."""
    root = (exc.name or "").partition(".")[0]
    if root not in EXTRAS:
        return None
    what, extra = EXTRAS[root]
    return (f"{what} is not installed (convcost {command} needs it): "
            f"pip install 'convcost[{extra}]'")


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
    "input_grad": "--input-grad",
    "inputs.requires_grad": "--input",
    "amp": "--amp",
    "optimizer": "--optimizer",
    "freeze": "--freeze",
    "checkpoint": "--checkpoint",
    "depth": "--depth",
    "resolution": "--resolution",
    "device": "--device",
    "capacity": "--device",
    "reserve": "--reserve",
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
    head, dot, key = e.field.partition(".")
    if head == "model_args":  # model_args.hidden_size -> --model-arg hidden_size
        return SpecError("--model-arg" + (f" {key}" if dot else ""), e.value, e.allowed)
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


#: ``--output`` file extensions and the report format each one means when ``--format``
#: (or ``--json``) is not given.
OUTPUT_FORMATS: dict[str, str] = {".txt": "table", ".md": "markdown", ".markdown": "markdown",
                                  ".csv": "csv", ".json": "json", ".html": "html",
                                  ".htm": "html"}


def output_format(fmt: str | None, as_json: bool, output: str | None,
                  formats: Sequence[str]) -> str:
    """The report format from ``--format`` (``fmt``, None when not given), ``--json`` and
    the extension of ``--output``: ``--output r.json`` alone means JSON, ``r.txt`` the
    table (and, with ``--format``, takes any format). A contradiction (``--json --format
    html``, ``--format csv --output r.json``), an extension that names no format when
    ``--format`` is not given, or a format this command does not write is a SpecError
    naming the flag."""
    import os

    if as_json:
        if fmt not in (None, "json"):
            raise SpecError("--json", True, f"contradicts --format {fmt} (--json means "
                            "--format json; give one of them)")
        fmt = "json"
    if output is not None:
        ext = os.path.splitext(output)[1].lower()
        implied = OUTPUT_FORMATS.get(ext)
        if fmt is None:
            if implied is None:
                exts = [e for e, f in OUTPUT_FORMATS.items() if f in formats]
                raise SpecError("--output", output, "cannot tell the format from the "
                                f"extension: end the file name in {', '.join(exts)}, or give "
                                "--format")
            fmt = implied
        elif implied is not None and implied != fmt and ext != ".txt":  # .txt: any text
            flag = "--json" if as_json else f"--format {fmt}"
            raise SpecError("--output", output, f"its extension means {implied} but {flag} "
                            "was given (use a matching extension or drop the flag)")
    fmt = fmt or "table"
    if fmt not in formats:
        raise SpecError("--output", output, f"means format {fmt}, which this command does not "
                        "write; allowed: " + ", ".join(formats))
    return fmt


def check_output(output: str | None, flag: str = "--output") -> None:
    """Before any work: ``output`` (a file to write) is a file name in an existing
    directory — a SpecError naming ``flag`` otherwise, so a long analysis is not run for a
    report that cannot be written."""
    import os

    if output is None:
        return
    if not output or output.endswith(("/", os.sep)) or os.path.isdir(output):
        raise SpecError(flag, output, "a file name to write (not a directory)")
    parent = os.path.dirname(output) or "."
    if not os.path.isdir(parent):
        raise SpecError(flag, output, f"the directory {parent!r} does not exist")


def check_plot(plot: str | None) -> None:
    """Before any work: ``--plot`` ends in ``.svg`` or ``.png`` and its directory exists
    (the charts are written beside it); a SpecError naming ``--plot`` otherwise."""
    import os

    from ..renderers.svg import PLOT_FORMATS

    if plot is None:
        return
    stem, ext = os.path.splitext(os.path.basename(plot))
    if not stem or ext.lower() not in PLOT_FORMATS:
        raise SpecError("--plot", plot, "a file name ending in " + " or ".join(PLOT_FORMATS))
    parent = os.path.dirname(plot) or "."
    if not os.path.isdir(parent):
        raise SpecError("--plot", plot, f"the directory {parent!r} does not exist")


def deliver(text: str, output: str | None) -> str:
    """``text`` for standard output, or written to ``output`` (then nothing is printed).
    An unwritable file is a SpecError naming ``output``, chained from the OSError."""
    if output is None:
        return text
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise SpecError("output", output, f"cannot be written ({e.strerror or e})") from e
    return ""


def count(text: str) -> int:
    """argparse ``type`` of the options that take one whole number (``--out-channels``,
    ``--depth``, ``--devices``, …): ASCII digits only — no sign, underscore, space or other
    script's digits (:func:`convcost.spec.parse_count`)."""
    from ..spec import parse_count

    try:
        return parse_count("value", text)
    except SpecError as e:
        raise argparse.ArgumentTypeError(f"got {text!r}; {e.allowed}") from e


@contextlib.contextmanager
def model_code(target: str) -> Iterator[None]:
    """Run the model's own code (its import, construction and forward) with its prints sent
    to standard error — standard output carries only the report — and its ``sys.exit`` made
    a one-line error naming the target."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as e:
        raise SpecError("target", target, f"the model's code called sys.exit({e.code!r})") \
            from e


@contextlib.contextmanager
def progress_steps(name: str) -> Iterator[Callable[[str, int, int], None] | None]:
    """A ``progress(what, done, total)`` callback drawing a transient bar on stderr when it
    is a terminal, else lines (``convcost NAME: what (done/total)``) on stderr; the search
    it follows runs for minutes, so a user sees where it is."""
    if not sys.stderr.isatty():
        def lines(what: str, done: int, total: int) -> None:
            if what != "done":
                print(f"convcost {name}: {what} ({done + 1}/{total})", file=sys.stderr,
                      flush=True)

        yield lines
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(name, total=None)

        def draw(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield draw


T = TypeVar("T")
R = TypeVar("R")


def each(items: Sequence[T], work: Callable[[T], R],
         arrivals: Callable[[Sequence[T]], Iterator[tuple[int, R]]] | None = None) -> list[R]:
    """``work`` on every item, with a transient progress bar on stderr when it is a
    terminal (nothing otherwise). With ``arrivals`` (``--jobs``/``--cluster``), the results
    come from it instead, as ``(index, result)`` in any order; the list is in item order."""
    results: dict[int, R] = {}
    done = arrivals(items) if arrivals is not None else (
        (i, work(x)) for i, x in enumerate(items))
    if not sys.stderr.isatty():
        results.update(done)
        return [results[i] for i in range(len(items))]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task("analysing", total=len(items))
        for i, r in done:
            results[i] = r
            progress.advance(task)
    return [results[i] for i in range(len(items))]


def with_reserve(device: DeviceSpec | None, text: str) -> DeviceSpec:
    """``device`` with the ``--reserve`` given (a SpecError naming the flag without a device,
    or with a reserve that is not less than the device's memory)."""
    from dataclasses import replace

    from ..spec import parse_bytes

    if device is None:
        raise SpecError("--reserve", text, "has no effect without --device (it is taken from "
                        "the device's memory)")
    if str(text).strip().startswith("-"):
        raise SpecError("--reserve", text, "must be 0 or more (a size such as 1.5GiB, 800MiB "
                        "or 2GB)")
    reserve = parse_bytes("--reserve", text)
    if reserve >= device.memory:
        raise SpecError("--reserve", text, f"must be less than {device.name}'s memory "
                        f"({device.memory} bytes)")
    return replace(device, reserve=reserve)
