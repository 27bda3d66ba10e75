"""``convcost conv``: the exact cost and memory of one (transposed) convolution layer.

Imports only the spec parsers, the layer formulas and the renderer the format needs: never
torch, the model analyser or the hardware data.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..vocab import CONV_FORMATS, COUNTINGS, LANGS
from .common import count

NAME = "conv"
HELP = "one (transposed) convolution layer"
DESCRIPTION = ("Exact cost and memory of one 1-D/2-D/3-D (transposed) convolution layer. "
               "Needs no PyTorch.")
EPILOG: str | None = """examples:
  convcost conv --input 3x224x224 --out-channels 64 --kernel 7 --stride 2 --padding 3 --no-bias
  convcost conv --input 3x224x224 --out-channels 64 --kernel 7 --stride 2 --padding 3 --explain
  convcost conv --input 32x56x56 --out-channels 32 --kernel 3 --padding same --groups 32 --json
  convcost conv --input 16x8x8 --out-channels 8 --kernel 4 --stride 2 --padding 1 --transposed
  convcost conv --input 8x100 --out-channels 8 --kernel 3 --padding 2:0 --dilation 2
  convcost conv --input 3x224x224 --out-channels 64 --kernel 7 --stride 2 --padding 3 \\
      --explain --lang zh --format markdown

shapes: CxL (1-D), CxHxW (2-D), CxDxHxW (3-D), without the batch (use --batch).
kernel/stride/dilation/output-padding: one number for every dimension, or one per
dimension (3x1). padding: the same, where an entry may be begin:end (1:2), or 'same'/'valid'.
"""


def add_arguments(c: argparse.ArgumentParser) -> None:
    """The options of ``convcost conv``."""
    c.add_argument("--input", required=True, metavar="CxHxW", help="input shape without batch")
    c.add_argument("--out-channels", required=True, type=count, metavar="N")
    c.add_argument("--kernel", required=True, metavar="K", help="kernel size: 3 or 3x1")
    c.add_argument("--stride", default="1", metavar="S")
    c.add_argument("--padding", default="0", metavar="P", help="3, 3x1, 1:2, same, valid")
    c.add_argument("--dilation", default="1", metavar="D")
    c.add_argument("--groups", type=count, default=1, metavar="G")
    c.add_argument("--batch", type=count, default=1, metavar="N")
    c.add_argument("--no-bias", action="store_true", help="the layer has no bias")
    c.add_argument("--transposed", action="store_true", help="transposed convolution")
    c.add_argument("--output-padding", default="0", metavar="OP", help="transposed only")
    c.add_argument(
        "--dtype",
        default="float32",
        help="float64, float32, float16, bfloat16, float8_e4m3fn, float8_e5m2, int8 …",
    )
    c.add_argument(
        "--counting",
        default="dense",
        choices=COUNTINGS,
        help="dense: every tap incl. padding (default); skip-padding: direct algorithm",
    )
    c.add_argument(
        "--no-input-grad",
        action="store_true",
        help="the layer's input needs no gradient (a network's first layer)",
    )
    c.add_argument("--format", default=None, choices=CONV_FORMATS,
                   help="default: table, or what the --output extension says")
    c.add_argument("--output", default=None, metavar="FILE",
                   help="write the report to FILE instead of standard output; without "
                   "--format the extension gives the format (.txt, .md, .json, .html)")
    c.add_argument("--plot", default=None, metavar="FILE.svg|png",
                   help="also write the chart as an image (FILE-counts.svg or .png)")
    c.add_argument("--json", action="store_true", help="shorthand for --format json")
    c.add_argument("--explain", action="store_true", help="show the derivation step by step")
    c.add_argument("--lang", default=None, choices=LANGS,
                   help="language of the report and --explain (default en; not for JSON)")


def run(a: argparse.Namespace) -> str:
    """Parse the layer, count it, write the report (and the chart with ``--plot``)."""
    from ..errors import SpecError
    from ..layer import analyze_conv
    from ..renderers import write_plots
    from ..spec import parse_layer_input
    from .common import check_output, deliver, output_format, report

    check_output(a.output)
    fmt = output_format(a.format, a.json, a.output, CONV_FORMATS)
    if a.explain and fmt == "json":
        raise SpecError("--explain", "json", "use --format table or markdown with --explain")
    if a.explain and fmt == "html":
        raise SpecError("--explain", True, "has no effect with --format html: the HTML report "
                        "always holds the explanation")
    if a.lang is not None and fmt == "json":
        raise SpecError("--lang", a.lang, "has no effect with --format json (JSON has no "
                        "text to translate)")
    in_channels, size = parse_layer_input("input_size", a.input)
    try:
        spec = _spec(a, in_channels, size)
    except SpecError as e:
        if e.field != "input_size":
            raise
        # the API's input_size is the spatial size; the CLI's --input also has the channels
        raise SpecError("input_size", a.input, e.allowed) from None
    result = analyze_conv(spec, a.counting)
    if a.plot is not None:
        write_plots(result, a.plot)
    return deliver(report(result, fmt, lang=a.lang or "en", explain=a.explain), a.output)


def _spec(a: argparse.Namespace, in_channels: int, size: tuple[int, ...]) -> Any:
    """The layer of the parsed arguments (:func:`convcost.spec.conv_spec`)."""
    from ..spec import conv_spec, parse_ints, parse_padding

    return conv_spec(
        in_channels=in_channels,
        out_channels=a.out_channels,
        input_size=size,
        kernel=parse_ints("kernel", a.kernel),
        stride=parse_ints("stride", a.stride),
        padding=parse_padding("padding", a.padding),
        dilation=parse_ints("dilation", a.dilation),
        groups=a.groups,
        batch=a.batch,
        bias=not a.no_bias,
        transposed=a.transposed,
        output_padding=parse_ints("output_padding", a.output_padding),
        dtype=a.dtype,
        input_grad=not a.no_input_grad,
    )
