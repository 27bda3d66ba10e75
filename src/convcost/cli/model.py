"""``convcost model``: a whole PyTorch (or ONNX) model analysed on fake tensors, with the
hardware answers the flags ask for, one analysis or a sweep over batches and resolutions.

Everything heavy (torch, the analyser, the hardware data, the renderers) is imported when
the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..vocab import AMP_CHOICES, COUNTINGS, FORMATS, MODES, OPTIMIZERS, STRATEGIES

if TYPE_CHECKING:
    from ..hardware.answer import Hardware
    from ..hardware.devices import DeviceSpec
    from ..hardware.distributed import Interconnect
    from ..model.results import ModelResult
    from ..study import Sweep

NAME = "model"
HELP = "a whole PyTorch model, analysed on fake tensors"
DESCRIPTION = ("Per-module forward/backward cost and training memory of a PyTorch model, "
               "found by running it once on fake tensors (nothing is computed or allocated).")
EPILOG: str | None = """examples:
  convcost model torchvision:resnet50 --input 32x3x224x224
  convcost model torchvision:resnet50 --input 32x3x224x224 --optimizer adamw --amp bf16
  convcost model torchvision:vit_b_16 --input 8x3x224x224 --mode inference --json
  convcost model torchvision:resnet18 --input 8x3x224x224 --freeze '^(conv1|bn1|layer1)\\.'
  convcost model mypkg.models:build --input 1x128:int64 --input mask=1x128:bool --depth 3

TARGET: torchvision:NAME (built with weights=None, nothing is downloaded), timm:NAME (when
timm is installed), or package.module:factory — an import path whose factory() returns the
nn.Module; this imports and runs that code.
--input: one per positional input, batch included (8x3x224x224); add :DTYPE for a non-float
input (1x128:int64) and NAME= for a keyword input (mask=1x128:bool).
"""


def add_arguments(m: argparse.ArgumentParser) -> None:
    """The options of ``convcost model`` (also parsed for each ``compare`` entry)."""
    m.add_argument("target", metavar="TARGET")
    m.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="SHAPE",
        help="input shape with batch, e.g. 8x3x224x224 (repeat for more inputs)",
    )
    m.add_argument("--mode", default="train", choices=MODES)
    m.add_argument("--dtype", default=None, help="convert the model: float32, bfloat16, …")
    m.add_argument(
        "--amp",
        default=None,
        choices=AMP_CHOICES,
        help="mixed precision with autocast semantics",
    )
    m.add_argument(
        "--optimizer", default="none", choices=OPTIMIZERS
    )
    m.add_argument(
        "--freeze",
        default=None,
        metavar="REGEX",
        help="parameters whose name matches get no gradient",
    )
    m.add_argument("--counting", default="dense", choices=COUNTINGS)
    m.add_argument(
        "--depth",
        type=int,
        default=2,
        metavar="N",
        help="module levels shown in the table (default 2; 0 = totals only)",
    )
    m.add_argument("--format", default="table", choices=FORMATS)
    m.add_argument("--output", default=None, metavar="FILE",
                   help="write the report to FILE instead of standard output "
                   "(e.g. --format html --output report.html)")
    m.add_argument("--plot", default=None, metavar="FILE.svg|png",
                   help="also write the charts as images: FILE-flops, FILE-memory and, with "
                   "--device, FILE-roofline (.svg or .png)")
    m.add_argument("--json", action="store_true", help="shorthand for --format json")
    hw = m.add_argument_group("hardware (see `convcost devices`)")
    hw.add_argument(
        "--device",
        default=None,
        metavar="NAME",
        help="roofline time per op, layer and step on this device",
    )
    hw.add_argument(
        "--devices-file",
        default=None,
        metavar="TOML",
        help="extra devices/interconnects ([device.NAME], [interconnect.NAME])",
    )
    hw.add_argument(
        "--tf32",
        action="store_true",
        help="fp32 matrix work runs on TF32 tensor cores (roofline peak)",
    )
    hw.add_argument(
        "--fit",
        action="store_true",
        help="largest batch whose training peak fits the device's memory",
    )
    hw.add_argument(
        "--devices",
        type=int,
        default=1,
        metavar="N",
        help="training spread over N devices (--input is the per-device batch)",
    )
    hw.add_argument("--strategy", default="ddp", choices=STRATEGIES)
    hw.add_argument(
        "--interconnect",
        default="nvlink4",
        metavar="NAME",
        help="nvlink4, nvlink3, ib-ndr, ib-hdr, pcie4, pcie5 or from --devices-file",
    )
    m.add_argument("--ops", action="store_true",
                   help="JSON: add every counted op (cost, bytes, and roofline with --device)")
    m.add_argument("--timeline", action="store_true",
                   help="JSON: add the live-bytes timelines (per op, by category)")
    sw = m.add_argument_group("sweeps (one row per setting)")
    sw.add_argument("--batch", default=None, metavar="B1,B2,…",
                    help="replace the batch (first dimension of every input), e.g. 1,8,64")
    sw.add_argument("--resolution", default=None, metavar="R1,R2,…",
                    help="replace the spatial size of image inputs (the last two dimensions of "
                    "4-D and larger inputs, the last of 3-D ones), e.g. 224,384,512")


def hardware_options(a: argparse.Namespace) -> tuple[DeviceSpec | None, Interconnect]:
    """Validate the hardware flags before any model work: (device or None, interconnect)."""
    from ..errors import SpecError
    from ..hardware.devices import get_device, load_hardware
    from ..hardware.distributed import get_interconnect

    devices, links = load_hardware(a.devices_file) if a.devices_file else ({}, {})
    if a.devices < 1:
        raise SpecError("--devices", a.devices, "must be 1 or more")
    if a.mode != "train" and (a.fit or a.devices > 1):
        raise SpecError("--mode", a.mode, "--fit and --devices need --mode train")
    if a.fit and a.device is None:
        raise SpecError("--fit", True, "needs --device (whose memory the batch must fit)")
    device = get_device(a.device, devices) if a.device else None
    return device, get_interconnect(a.interconnect, links)


def analyze_one(a: argparse.Namespace, model: Any, pos: list[str], kwargs: Any,
                device: DeviceSpec | None, link: Interconnect,
                fit: bool) -> tuple[ModelResult, Hardware]:
    """One analysis with the hardware answers the flags ask for."""
    from dataclasses import replace

    from ..hardware.answer import answer, fit_on
    from ..model import analyze

    options: dict[str, Any] = dict(dtype=a.dtype, amp=a.amp, optimizer=a.optimizer,
                                   freeze=a.freeze)
    result = analyze(model, pos, kwargs=kwargs, mode=a.mode, counting=a.counting,
                     name=a.target, **options)
    hw = answer(result, device, tf32=a.tf32, devices=a.devices, strategy=a.strategy,
                interconnect=link)
    if fit and device is not None:
        found = fit_on(device, model, pos, kwargs=kwargs, devices=a.devices,
                       strategy=a.strategy, **options)
        hw = replace(hw, fit=found, fit_device=device)
    return result, hw


def keyword_inputs(kw: dict[str, str]) -> dict[str, Any] | None:
    """``NAME=SHAPE`` inputs as InputSpecs (``None`` when there are none)."""
    from ..spec import parse_input

    return {k: parse_input("inputs", v) for k, v in kw.items()} or None


def run(a: argparse.Namespace) -> str:
    """Validate, load the target, analyse it (or sweep it), write the report."""
    from ..errors import SpecError
    from ..frontends.targets import is_onnx_target, load_target
    from ..renderers import write_plots
    from ..spec import parse_int_list, split_inputs
    from .common import deliver, report, table_format

    if a.depth < 0:
        raise SpecError("--depth", a.depth, "must be 0 or more")
    onnx = is_onnx_target(a.target)
    pos, kw = ([], {}) if onnx else split_inputs("inputs", a.input)
    device, link = hardware_options(a)
    batches = parse_int_list("batch", a.batch)
    resolutions = parse_int_list("resolution", a.resolution)
    if (batches or resolutions) and a.fit:
        raise SpecError("--fit", True, "cannot be combined with a --batch/--resolution sweep")
    frozen = None
    if onnx:
        model, pos, frozen = _load_onnx(a)
    else:
        model = load_target(a.target)
    fmt = "json" if a.json else a.format
    if batches or resolutions:
        if fmt == "html" or a.plot:
            raise SpecError("--format" if fmt == "html" else "--plot", fmt if fmt == "html"
                            else a.plot, "HTML reports and plots are for one analysis, not a "
                            "sweep (use --format table, json, csv or markdown)")
        s = _sweep(a, model, pos, kw, device, link, batches, resolutions)
        return deliver(report(s, table_format(fmt)), a.output)
    result, hw = analyze_one(a, model, pos, keyword_inputs(kw), device, link, a.fit)
    if onnx:
        result = model.relabel(result, frozen)
    if a.plot:
        write_plots(result, a.plot, hardware=hw)
    return deliver(report(result, table_format(fmt), depth=a.depth, hardware=hw,
                          timeline=a.timeline, ops=a.ops), a.output)


def _load_onnx(a: argparse.Namespace) -> tuple[Any, list[str], str | None]:
    """An ONNX TARGET: the module, its inputs as shapes in graph order (from ``--input
    NAME=SHAPE`` / ``--input SHAPE``) and the ``--freeze`` pattern, which matches initializer
    names and is applied here (``a.freeze`` is cleared so it is not applied again)."""
    from ..frontends.onnx import load_onnx

    model, specs = load_onnx(a.target, a.input, a.freeze)
    frozen, a.freeze = a.freeze, None
    return model, ["x".join(map(str, s.shape)) + ":" + s.dtype for s in specs], frozen


def _sweep(a: argparse.Namespace, model: Any, pos: list[str], kw: dict[str, str],
           device: DeviceSpec | None, link: Interconnect, batches: list[int],
           resolutions: list[int]) -> Sweep:
    """One analysis per (batch, resolution) setting, batches outer."""
    from ..spec import resize_shape
    from ..study import Sweep, SweepRow
    from .common import each

    bs: list[int | None] = list(batches) or [None]
    rs: list[int | None] = list(resolutions) or [None]
    settings = [(b, r) for b in bs for r in rs]

    def one(setting: tuple[int | None, int | None]) -> SweepRow:
        b, res = setting
        p = [resize_shape(x, b, res) for x in pos]
        k = keyword_inputs({n: resize_shape(v, b, None) for n, v in kw.items()})
        result, hw = analyze_one(a, model, p, k, device, link, False)
        return SweepRow(b, res, result, hw)

    return Sweep(tuple(each(settings, one)))
