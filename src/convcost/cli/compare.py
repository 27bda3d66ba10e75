"""``convcost compare``: several models or configurations analysed and shown side by side.

Each ENTRY is a model TARGET with, optionally, its own ``convcost model`` options; options
after the entries (``args.common``) apply to every entry.
"""

from __future__ import annotations

import argparse

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
    """The entries; the shared options are ``convcost model``'s, parsed per entry."""
    p.add_argument("entries", nargs="+", metavar="ENTRY")


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


def run(args: argparse.Namespace) -> str:
    """Parse every entry as a ``convcost model`` command line, analyse each, compare."""
    import shlex

    from ..errors import SpecError
    from ..frontends.targets import load_target
    from ..spec import split_inputs
    from ..study import CompareEntry, Comparison
    from . import model as model_cmd
    from .common import Parser, each, parser_options, report, table_format

    entries: list[str] = args.entries
    common: list[str] = args.common
    if len(entries) < 2:
        raise SpecError("ENTRY", entries, "give at least two entries to compare")
    model_parser = Parser(prog="convcost model", **parser_options(model_cmd))
    model_cmd.add_arguments(model_parser)
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
        if a.fit or a.batch or a.resolution or a.plot or a.format == "html":
            raise SpecError("ENTRY", e, "--fit, --batch, --resolution, --plot and --format html "
                            "do not apply to compare")
        parsed.append((e, a))

    def one(entry: tuple[str, argparse.Namespace]) -> CompareEntry:
        label, a = entry
        pos, kw = split_inputs("inputs", a.input)
        device, link = model_cmd.hardware_options(a)
        model = load_target(a.target)
        result, hw = model_cmd.analyze_one(a, model, pos, model_cmd.keyword_inputs(kw),
                                           device, link, False)
        return CompareEntry(label, result, hw)

    comparison = Comparison(tuple(each(parsed, one)))
    a0 = parsed[0][1]
    return report(comparison, table_format("json" if a0.json else a0.format))
