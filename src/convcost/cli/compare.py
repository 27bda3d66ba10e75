"""``convcost compare``: several models or configurations analysed and shown side by side.

Each ENTRY is a model TARGET with, optionally, its own ``convcost model`` options; options
after the entries (``args.common``) apply to every entry.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import Any

NAME = "compare"
HELP = "several models or configurations side by side"
DESCRIPTION = ("Analyse several models or configurations and show their headline numbers "
               "side by side. Each ENTRY is a model TARGET, optionally with its own `convcost "
               "model` options in the same quoted string; options after the entries apply to "
               "every entry (an entry's own options win; an entry with its own --input ignores "
               "the shared ones).")
EPILOG: str | None = """examples:
  convcost compare torchvision:resnet50 torchvision:convnext_tiny --input 32x3x224x224
  convcost compare "torchvision:resnet50" "torchvision:resnet50 --amp bf16" \\
      --input 32x3x224x224 --optimizer adamw --device h100-sxm
  convcost compare "torchvision:vit_b_16 --input 8x3x224x224" \\
      "torchvision:resnet50 --input 8x3x224x224" --format json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The entries; the shared options are ``convcost model``'s, parsed per entry (listed by
    ``--help`` after the examples)."""
    p.add_argument("entries", nargs="+", metavar="ENTRY")
    p.epilog = (p.epilog or "") + "\n" + shared_options_help()


def shared_options_help() -> str:
    """The help of the ``convcost model`` options an entry takes (without its TARGET), as
    the ``--help`` of ``compare`` lists them."""
    from . import model as model_cmd
    from .common import Parser

    mp = Parser(prog="convcost compare", usage=argparse.SUPPRESS, add_help=False)
    model_cmd.add_arguments(mp, compare=True)
    blocks = [b for b in mp.format_help().strip("\n").split("\n\n")
              if not b.startswith("positional arguments")]
    return ("options of each entry (those of `convcost model`; given after the entries they "
            "apply to every entry):\n" + "\n\n".join(blocks).split(":\n", 1)[-1] + "\n")


def without_inputs(tokens: list[str]) -> list[str]:
    """``tokens`` without their ``--input X`` / ``--input=X`` options."""
    out, skip = [], False
    for t in tokens:
        if skip:
            skip = False
        elif t == "--input":
            skip = True
        elif not t.startswith("--input="):
            out.append(t)
    return out


def not_for_compare(a: argparse.Namespace) -> list[tuple[str, object]]:
    """``(flag, value)`` of the options of ``a`` (one entry's, or the shared ones) that a
    comparison cannot take (:data:`NOT_FOR_COMPARE`)."""
    given: list[tuple[str, object, bool]] = [
        ("--fit", True, a.fit), ("--batch", a.batch, bool(a.batch)),
        ("--resolution", a.resolution, bool(a.resolution)),
        ("--plot", a.plot, a.plot is not None), ("--format", a.format, a.format == "html"),
        ("--depth", a.depth, a.depth is not None), ("--ops", True, a.ops),
        ("--timeline", True, a.timeline)]
    return [(flag, value) for flag, value, on in given if on]


#: Options of ``convcost model`` that mean nothing for a comparison.
NOT_FOR_COMPARE = "--fit, --batch, --resolution, --plot, --format html, --depth, --ops and " \
    "--timeline do not apply to compare"


def run(args: argparse.Namespace) -> str:
    """Parse every entry as a ``convcost model`` command line, analyse each, compare."""
    import shlex
    from dataclasses import replace

    from ..errors import SpecError
    from ..frontends.targets import build_target, is_onnx_target
    from ..parallel import check as check_parallel
    from ..parallel import is_parallel, run_jobs
    from ..spec import parse_model_args, split_inputs
    from ..study import CompareEntry, Comparison
    from ..vocab import FORMATS
    from . import model as model_cmd
    from .common import (
        Parser,
        check_output,
        deliver,
        each,
        model_code,
        output_format,
        parser_options,
        report,
        table_format,
    )
    from .hardware_flags import hardware_options

    entries: list[str] = args.entries
    common: list[str] = args.common
    if len(entries) < 2:
        raise SpecError("ENTRY", entries, "give at least two entries to compare")
    model_parser = Parser(prog="convcost compare", **parser_options(model_cmd))
    model_cmd.add_arguments(model_parser)
    # the shared options alone first: an error in them names the flag, not the first entry
    shared_a = model_parser.parse_args(["TARGET", *common])
    for flag, value in not_for_compare(shared_a):
        raise SpecError(flag, value, NOT_FOR_COMPARE)
    whole = ("format", "json", "output", "jobs", "cluster")
    parsed = []
    for e in entries:
        try:
            tokens = shlex.split(e)
        except ValueError as exc:
            raise SpecError("ENTRY", e, f"cannot be split into arguments ({exc})") from None
        if not tokens:
            raise SpecError("ENTRY", e, "is empty")
        shared = common
        if "--input" in tokens[1:]:  # the entry's own inputs replace the shared ones
            shared = without_inputs(common)
        a = model_parser.parse_args([tokens[0], *shared, *tokens[1:]])
        if not_for_compare(a):
            raise SpecError("ENTRY", e, NOT_FOR_COMPARE)
        if any(getattr(a, k) != getattr(shared_a, k) for k in whole):  # this entry's own
            raise SpecError("ENTRY", e, "--format, --json, --output, --jobs and --cluster are "
                            "for the whole comparison: give them after the entries, not in one "
                            "entry")
        parsed.append((e, a))
    a0 = parsed[0][1]
    check_parallel(a0.jobs, a0.cluster)
    check_output(a0.output)
    fmt = output_format(a0.format, a0.json, a0.output, [f for f in FORMATS if f != "html"])
    checked = [(label, a, *hardware_options(a)) for label, a in parsed]

    def checked_entry(label: str, a: argparse.Namespace) -> tuple[list[str], dict[str, str],
                                                                  dict[str, Any]]:
        onnx = is_onnx_target(a.target)
        if not onnx and not a.input:
            raise SpecError("inputs", [], "give at least one input shape (an ONNX file whose "
                            "inputs all have static shapes can go without)")
        pos, kw = ([], {}) if onnx else split_inputs("inputs", a.input)
        model_args = parse_model_args("--model-arg", a.model_arg)
        if onnx and model_args:
            raise SpecError("--model-arg", a.model_arg[0], "an ONNX file takes no "
                            "constructor arguments")
        return pos, kw, model_args

    def one(entry: tuple[str, argparse.Namespace, Any, Any]) -> CompareEntry:
        label, a, device, link = entry
        onnx = is_onnx_target(a.target)
        pos, kw, model_args = checked_entry(label, a)
        frozen = None
        built = None
        with model_code(a.target):  # the model's prints go to stderr
            if onnx:  # the graph's inputs by name, as `convcost model` reads them
                model, pos, frozen = model_cmd.load_onnx_target(a)
            else:
                built = build_target(a.target, model_args)
                model = built.model
            result, hw = model_cmd.analyze_one(a, model, pos, model_cmd.keyword_inputs(kw),
                                               device, link, False)
        if onnx:
            result = model.relabel(result, frozen)
        if built is not None:
            result = replace(result, construction=built.device)
        return CompareEntry(label, result, hw)

    def arrivals(items: Sequence[tuple[str, argparse.Namespace, Any, Any]]
                 ) -> Iterator[tuple[int, CompareEntry]]:
        for label, a, _, _ in items:  # the entries' errors before any work
            checked_entry(label, a)
        jobs = [model_cmd.job_of(a, device, link, entry=True) for _, a, device, link in items]
        for i, (result, hw) in run_jobs(jobs, a0.jobs, a0.cluster):
            yield i, CompareEntry(items[i][0], result, hw)

    comparison = Comparison(tuple(each(checked, one, arrivals if is_parallel(a0.jobs,
                                                                          a0.cluster)
                                       else None)))
    return deliver(report(comparison, table_format(fmt)), a0.output)
