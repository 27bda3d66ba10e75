"""Command-line interface: parse, validate, call, print. Exit 2 on bad input."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from .errors import ConvCostError, SpecError

EPILOG_CONV = """examples:
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

EPILOG_MODEL = """examples:
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

EPILOG_COMPARE = """examples:
  convcost compare torchvision:resnet50 torchvision:convnext_tiny --input 32x3x224x224
  convcost compare "torchvision:resnet50" "torchvision:resnet50 --amp bf16" \\
      --input 32x3x224x224 --optimizer adamw --device h100-sxm
  convcost compare "torchvision:vit_b_16 --input 8x3x224x224" \\
      "torchvision:resnet50 --input 8x3x224x224" --format json
"""

# SpecError field -> the CLI flag that sets it.
_FLAGS = {
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
    "mode": "--mode",
    "amp": "--amp",
    "optimizer": "--optimizer",
    "freeze": "--freeze",
    "inputs": "--input",
    "kwargs": "--input",
    "model": "TARGET",
    "capacity": "--device",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    model_parser: _Parser | None = None

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _ints(flag: str, text: str) -> list[int]:
    try:
        values = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise SpecError(flag, text, "write integers separated by 'x', e.g. 3 or 3x1") from None
    return values


def _shape(text: str) -> tuple[int, tuple[int, ...]]:
    values = _ints("--input", text)
    if not 2 <= len(values) <= 4:
        raise SpecError("--input", text, "write CxL, CxHxW or CxDxHxW (channels first, no batch)")
    return values[0], tuple(values[1:])


def _padding(text: str) -> str | list[tuple[int, int]]:
    t = text.strip().lower()
    if t in ("same", "valid"):
        return t
    pads: list[tuple[int, int]] = []
    for part in t.split("x"):
        ends = part.split(":")
        try:
            if len(ends) == 1:
                pads.append((int(ends[0]), int(ends[0])))
            elif len(ends) == 2:
                pads.append((int(ends[0]), int(ends[1])))
            else:
                raise ValueError
        except ValueError:
            raise SpecError(
                "--padding", text, "write P, P1xP2, begin:end per dimension, 'same' or 'valid'"
            ) from None
    return pads


def _build_parser() -> _Parser:
    from . import __version__

    p = _Parser(
        prog="convcost",
        description="Exact forward/backward cost (mults, adds, FLOPs) and memory of "
        "convolution layers and whole models, without running them.",
    )
    p.add_argument("--version", action="version", version=f"convcost {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    c = sub.add_parser(
        "conv",
        help="one (transposed) convolution layer",
        description="Exact cost and memory of one 1-D/2-D/3-D (transposed) convolution layer. "
        "Needs no PyTorch.",
        epilog=EPILOG_CONV,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--input", required=True, metavar="CxHxW", help="input shape without batch")
    c.add_argument("--out-channels", required=True, type=int, metavar="N")
    c.add_argument("--kernel", required=True, metavar="K", help="kernel size: 3 or 3x1")
    c.add_argument("--stride", default="1", metavar="S")
    c.add_argument("--padding", default="0", metavar="P", help="3, 3x1, 1:2, same, valid")
    c.add_argument("--dilation", default="1", metavar="D")
    c.add_argument("--groups", type=int, default=1, metavar="G")
    c.add_argument("--batch", type=int, default=1, metavar="N")
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
        choices=["dense", "skip-padding"],
        help="dense: every tap incl. padding (default); skip-padding: direct algorithm",
    )
    c.add_argument(
        "--no-input-grad",
        action="store_true",
        help="the layer's input needs no gradient (a network's first layer)",
    )
    c.add_argument("--format", default="table", choices=["table", "json", "markdown", "html"])
    c.add_argument("--output", default=None, metavar="FILE",
                   help="write the report to FILE instead of standard output")
    c.add_argument("--plot", default=None, metavar="FILE.svg|png",
                   help="also write the chart as an image (FILE-counts.svg or .png)")
    c.add_argument("--json", action="store_true", help="shorthand for --format json")
    c.add_argument("--explain", action="store_true", help="show the derivation step by step")
    c.add_argument("--lang", default="en", choices=["en", "zh"], help="language of --explain")
    m = sub.add_parser(
        "model",
        help="a whole PyTorch model, analysed on fake tensors",
        description="Per-module forward/backward cost and training memory of a PyTorch model, "
        "found by running it once on fake tensors (nothing is computed or allocated).",
        epilog=EPILOG_MODEL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("target", metavar="TARGET")
    m.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="SHAPE",
        help="input shape with batch, e.g. 8x3x224x224 (repeat for more inputs)",
    )
    m.add_argument("--mode", default="train", choices=["train", "inference"])
    m.add_argument("--dtype", default=None, help="convert the model: float32, bfloat16, …")
    m.add_argument(
        "--amp",
        default=None,
        choices=["bf16", "fp16"],
        help="mixed precision with autocast semantics",
    )
    m.add_argument(
        "--optimizer", default="none", choices=["none", "sgd", "momentum", "adam", "adamw"]
    )
    m.add_argument(
        "--freeze",
        default=None,
        metavar="REGEX",
        help="parameters whose name matches get no gradient",
    )
    m.add_argument("--counting", default="dense", choices=["dense", "skip-padding"])
    m.add_argument(
        "--depth",
        type=int,
        default=2,
        metavar="N",
        help="module levels shown in the table (default 2; 0 = totals only)",
    )
    m.add_argument("--format", default="table",
                   choices=["table", "json", "csv", "markdown", "html"])
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
    hw.add_argument("--strategy", default="ddp", choices=["ddp", "zero1", "zero2", "zero3", "fsdp"])
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
    cmp = sub.add_parser(
        "compare",
        help="several models or configurations side by side",
        description="Analyse several models or configurations and show their headline numbers "
        "side by side. Each ENTRY is a model TARGET, optionally with its own `convcost model` "
        "options in the same quoted string; options after the entries apply to every entry "
        "(an entry's own options win; an entry with its own --input ignores the shared ones).",
        epilog=EPILOG_COMPARE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmp.add_argument("entries", nargs="+", metavar="ENTRY")
    p.model_parser = m
    d = sub.add_parser(
        "devices",
        help="list the accelerator presets (and devices from a TOML file)",
        description="Accelerator presets: dense peak FLOP/s per dtype (an FMA counts as 2 "
        "FLOPs), memory bandwidth and capacity, with the source of each number.",
    )
    d.add_argument(
        "--devices-file",
        default=None,
        metavar="TOML",
        help="also list the devices of this TOML file",
    )
    d.add_argument("--json", action="store_true", help="print JSON")
    cal = sub.add_parser(
        "calibrate",
        help="measure this machine's CPU and write a device TOML file",
        description="Measure this CPU's matmul FLOP/s (fp32, bf16, fp64) and copy bandwidth "
        "with PyTorch, and write them as a device for --devices-file.",
    )
    cal.add_argument("--output", default="convcost-devices.toml", metavar="TOML")
    cal.add_argument("--name", default="this-cpu")
    cal.add_argument("--size", type=int, default=2048, help="matmul size n (n×n·n×n)")
    return p


def _run_devices(a: argparse.Namespace) -> str:
    from .hardware.devices import PRESETS, load_devices
    from .report.jsonfmt import dumps
    from .report.text import text_table

    devs = dict(PRESETS)
    if a.devices_file:
        devs.update(load_devices(a.devices_file))
    if a.json:
        return dumps({k: v.to_dict() for k, v in devs.items()}) + "\n"
    keys = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
    rows = []
    for name, dev in devs.items():
        peaks = [f"{dev.peak[k] / 1e12:g}" if k in dev.peak else "-" for k in keys]
        rows.append(
            [name, *peaks, f"{dev.bandwidth / 1e9:g}", f"{dev.memory / 1e9:g}", dev.description]
        )
    header = ["device", *(f"{k} TF/s" for k in keys), "GB/s", "GB", "description"]
    table = text_table(header, rows, left=(0, len(header) - 1))
    return table + "\n\nDense peaks (vendor sparse figures halved); sources: --json\n"


def _run_calibrate(a: argparse.Namespace) -> str:
    if a.size < 64:
        raise SpecError("--size", a.size, "must be at least 64")
    from pathlib import Path

    from .hardware.calibrate import calibrate_cpu
    from .hardware.devices import device_to_toml

    dev = calibrate_cpu(a.name, size=a.size)
    try:
        Path(a.output).write_text(device_to_toml(dev))
    except OSError as e:
        raise SpecError("--output", a.output, f"cannot be written ({e.strerror})") from None
    return (
        f"{a.name}: fp32 {dev.peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 "
        f"{dev.peak['bf16'] / 1e9:.1f} GFLOP/s, fp64 {dev.peak['fp64'] / 1e9:.1f} GFLOP/s, "
        f"copy {dev.bandwidth / 1e9:.1f} GB/s -> {a.output}\n"
    )


def _split_inputs(values: list[str]) -> tuple[list[str], dict[str, str]]:
    pos: list[str] = []
    kw: dict[str, str] = {}
    for v in values:
        name, eq, shape = v.partition("=")
        if eq:
            if not name.isidentifier():
                raise SpecError("--input", v, "a keyword input is NAME=SHAPE with a Python name")
            kw[name] = shape
        else:
            pos.append(v)
    if not pos and not kw:
        raise SpecError("--input", values, "give at least one input shape")
    return pos, kw


def _hardware_options(a: argparse.Namespace) -> tuple[Any, Any]:
    """Validate the hardware flags before any model work: (device or None, interconnect)."""
    from .hardware.devices import get_device, load_hardware
    from .hardware.distributed import get_interconnect

    devices, links = load_hardware(a.devices_file) if a.devices_file else ({}, {})
    if a.devices < 1:
        raise SpecError("--devices", a.devices, "must be 1 or more")
    if a.mode != "train" and (a.fit or a.devices > 1):
        raise SpecError("--mode", a.mode, "--fit and --devices need --mode train")
    if a.fit and a.device is None:
        raise SpecError("--fit", True, "needs --device (whose memory the batch must fit)")
    device = get_device(a.device, devices) if a.device else None
    return device, get_interconnect(a.interconnect, links)


def _renderer(stream: Any) -> Any:
    """rich tables on a terminal, plain aligned text otherwise (files, pipes, tests)."""
    from .report.text import text_table

    if hasattr(stream, "isatty") and stream.isatty():
        from .report.terminal import rich_table

        return rich_table
    return text_table


def _analyze_one(a: argparse.Namespace, model: Any, pos: list[str], kwargs: Any,
                 device: Any, link: Any, fit: bool) -> tuple[Any, Any]:
    """One analysis with the hardware answers the flags ask for: (ModelResult, Hardware)."""
    from .model import analyze
    from .report import model as rep

    options: dict[str, Any] = dict(dtype=a.dtype, amp=a.amp, optimizer=a.optimizer,
                                   freeze=a.freeze)
    try:
        result = analyze(model, pos, kwargs=kwargs, mode=a.mode, counting=a.counting,
                         name=a.target, **options)
    except SpecError as e:
        raise SpecError(_FLAGS.get(e.field.split("[")[0], e.field), e.value, e.allowed) from None
    hw = rep.Hardware()
    if device is not None:
        from .hardware.step import step_time

        hw = rep.Hardware(step=step_time(result, device, a.tf32))
    if a.devices > 1 or a.strategy != "ddp":
        from .hardware.distributed import distributed_step

        m = result.memory
        timelines = [t for t in (m.train_timeline, m.train_steady_timeline) if t is not None]
        hw = rep.Hardware(hw.step, distributed=distributed_step(
            timelines, a.strategy, a.devices, m.params_bytes, m.grads_bytes,
            m.optimizer_bytes, link))
    if fit and device is not None:
        from .fit import fit_batch
        from .hardware.distributed import sharded_peak

        def measure(mem: Any) -> float:
            if a.devices == 1 and a.strategy == "ddp":
                return float(max(mem.peak, mem.steady_peak))
            return max(sharded_peak(t, a.strategy, a.devices)[0]
                       for t in (mem.timeline, mem.steady_timeline) if t is not None)

        found = fit_batch(model, pos, device.memory, kwargs=kwargs, measure=measure, **options)
        hw = rep.Hardware(hw.step, hw.distributed, found, device)
    return result, hw


def _int_list(flag: str, text: str | None) -> list[int]:
    if text is None:
        return []
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise SpecError(flag, text, "write a comma-separated list of integers, e.g. 1,8,64") \
            from None
    if not values or any(v < 1 for v in values):
        raise SpecError(flag, text, "every value must be an integer ≥ 1")
    return values


def _resized(shape: str, batch: int | None, res: int | None) -> str:
    """``shape`` (``NxCxHxW[:dtype]``) with its batch and/or spatial size replaced."""
    from .spec import parse_shape

    parsed, dt = parse_shape("--input", shape)
    dims = list(parsed)
    if batch is not None:
        dims[0] = batch
    if res is not None:
        if len(dims) < 3:
            raise SpecError("--resolution", res, f"needs inputs with spatial dimensions; "
                            f"{shape} has none")
        spatial = 2 if len(dims) >= 4 else 1
        dims[-spatial:] = [res] * spatial
    return "x".join(map(str, dims)) + (f":{dt}" if dt else "")


def _run_model(a: argparse.Namespace) -> str:
    if a.depth < 0:
        raise SpecError("--depth", a.depth, "must be 0 or more")
    from .frontends.targets import is_onnx_target, load_target

    onnx = is_onnx_target(a.target)
    pos, kw = ([], {}) if onnx else _split_inputs(a.input)
    device, link = _hardware_options(a)
    batches = _int_list("--batch", a.batch)
    resolutions = _int_list("--resolution", a.resolution)
    if (batches or resolutions) and a.fit:
        raise SpecError("--fit", True, "cannot be combined with a --batch/--resolution sweep")
    frozen = None
    if onnx:
        model, pos, frozen = _load_onnx(a)
    else:
        model = load_target(a.target)
    fmt = "json" if a.json else a.format
    from .report import model as rep

    if batches or resolutions:
        if fmt == "html" or a.plot:
            raise SpecError("--format" if fmt == "html" else "--plot", fmt if fmt == "html"
                            else a.plot, "HTML reports and plots are for one analysis, not a "
                            "sweep (use --format table, json, csv or markdown)")
        return _run_sweep(a, model, pos, kw, device, link, batches, resolutions, fmt)
    kwargs = {k: _kw_input(k, v) for k, v in kw.items()} or None
    result, hw = _analyze_one(a, model, pos, kwargs, device, link, a.fit)
    if onnx:
        result = model.relabel(result, frozen)
    if a.plot:
        from .report.html import plots

        plots(result, hw, a.plot)
    if fmt == "html":
        from .report.html import model_html

        return model_html(result, hw)
    if fmt == "json":
        return rep.to_json(result, timeline=a.timeline, hw=hw, ops=a.ops) + "\n"
    if fmt == "csv":
        return rep.to_csv(result, a.depth, hw=hw)
    if fmt == "markdown":
        return rep.markdown(result, a.depth, hw=hw)
    return rep.table(result, a.depth, hw=hw, render=_renderer(sys.stdout))


def _load_onnx(a: argparse.Namespace) -> tuple[Any, list[str], str | None]:
    """An ONNX TARGET: the module, its inputs as shapes in graph order (from ``--input
    NAME=SHAPE`` / ``--input SHAPE``) and the ``--freeze`` pattern, which matches initializer
    names and is applied here (``a.freeze`` is cleared so it is not applied again)."""
    from .frontends.onnx import load_onnx

    try:
        model, specs = load_onnx(a.target, a.input, a.freeze)
    except SpecError as e:
        raise SpecError(_FLAGS.get(e.field, e.field), e.value, e.allowed) from None
    frozen, a.freeze = a.freeze, None
    return model, ["x".join(map(str, s.shape)) + ":" + s.dtype for s in specs], frozen


T = TypeVar("T")
R = TypeVar("R")


def _each(items: Sequence[T], work: Callable[[T], R]) -> list[R]:
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


def _run_sweep(a: argparse.Namespace, model: Any, pos: list[str], kw: dict[str, str],
               device: Any, link: Any, batches: list[int], resolutions: list[int],
               fmt: str) -> str:
    from .report import study

    bs: list[int | None] = list(batches) or [None]
    rs: list[int | None] = list(resolutions) or [None]
    settings = [(b, r) for b in bs for r in rs]

    def one(setting: tuple[int | None, int | None]) -> study.SweepRow:
        b, res = setting
        p = [_resized(x, b, res) for x in pos]
        k = {n: _kw_input(n, _resized(v, b, None)) for n, v in kw.items()} or None
        result, hw = _analyze_one(a, model, p, k, device, link, False)
        return study.SweepRow(b, res, result, hw)

    rows = _each(settings, one)
    return _study_output(fmt, rows, study.sweep_json, study.sweep_csv, study.sweep_markdown,
                         study.sweep_table)


def _run_compare(entries: list[str], common: list[str], model_parser: _Parser) -> str:
    import shlex

    from .report import study

    if len(entries) < 2:
        raise SpecError("ENTRY", entries, "give at least two entries to compare")
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
            shared = _without_inputs(common)
        a = model_parser.parse_args([tokens[0], *shared, *tokens[1:]])
        if a.fit or a.batch or a.resolution or a.plot or a.format == "html":
            raise SpecError("ENTRY", e, "--fit, --batch, --resolution, --plot and --format html "
                            "do not apply to compare")
        parsed.append((e, a))
    from .frontends.targets import load_target

    def one(entry: tuple[str, argparse.Namespace]) -> study.CompareEntry:
        label, a = entry
        pos, kw = _split_inputs(a.input)
        device, link = _hardware_options(a)
        model = load_target(a.target)
        kwargs = {k: _kw_input(k, v) for k, v in kw.items()} or None
        result, hw = _analyze_one(a, model, pos, kwargs, device, link, False)
        return study.CompareEntry(label, result, hw)

    results = _each(parsed, one)
    a0 = parsed[0][1]
    fmt = "json" if a0.json else a0.format
    return _study_output(fmt, results, study.compare_json, study.compare_csv,
                         study.compare_markdown, study.compare_table)


def _study_output(fmt: str, items: Any, as_json: Callable[[Any], str],
                  as_csv: Callable[[Any], str], as_markdown: Callable[[Any], str],
                  as_table: Callable[..., str]) -> str:
    """One of a sweep's or comparison's reports, by ``--format``."""
    if fmt == "json":
        return as_json(items) + "\n"
    if fmt == "csv":
        return as_csv(items)
    if fmt == "markdown":
        return as_markdown(items)
    return as_table(items, render=_renderer(sys.stdout))


def _without_inputs(tokens: list[str]) -> list[str]:
    out, skip = [], False
    for t in tokens:
        if skip:
            skip = False
        elif t == "--input":
            skip = True
        elif not t.startswith("--input="):
            out.append(t)
    return out


def _kw_input(name: str, text: str) -> object:
    from .model import InputSpec
    from .spec import parse_shape

    dims, dtype = parse_shape("--input", text)
    return InputSpec(dims, dtype or "float32")


def _run_conv(a: argparse.Namespace) -> str:
    from .layer import analyze_conv
    from .spec import conv_spec

    fmt = "json" if a.json else a.format
    if a.explain and fmt == "json":
        raise SpecError("--explain", "json", "use --format table or markdown with --explain")
    in_channels, size = _shape(a.input)
    try:
        spec = conv_spec(
            in_channels=in_channels,
            out_channels=a.out_channels,
            input_size=size,
            kernel=_ints("--kernel", a.kernel),
            stride=_ints("--stride", a.stride),
            padding=_padding(a.padding),
            dilation=_ints("--dilation", a.dilation),
            groups=a.groups,
            batch=a.batch,
            bias=not a.no_bias,
            transposed=a.transposed,
            output_padding=_ints("--output-padding", a.output_padding),
            dtype=a.dtype,
            input_grad=not a.no_input_grad,
        )
    except SpecError as e:
        flag = _FLAGS.get(e.field, e.field)
        raise SpecError(flag, e.value, e.allowed) from None
    result = analyze_conv(spec, a.counting)
    from .report import conv as rep

    if a.plot:
        from .report.html import conv_plot

        conv_plot(result, a.plot)
    if fmt == "html":
        from .report.html import conv_html

        return conv_html(result, a.lang)
    if fmt == "json":
        return rep.to_json(result) + "\n"
    if a.explain:
        return rep.explain(result, a.lang, "markdown" if fmt == "markdown" else "text")
    return rep.summary(result, fmt, a.lang)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convcost`` command. Returns the exit code."""
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "compare":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "conv":
            out = _run_conv(args)
        elif args.command == "model":
            out = _run_model(args)
        elif args.command == "compare":
            assert parser.model_parser is not None  # set by _build_parser
            out = _run_compare(args.entries, extra, parser.model_parser)
        elif args.command == "devices":
            out = _run_devices(args)
        elif args.command == "calibrate":
            out = _run_calibrate(args)
        else:  # pragma: no cover - argparse rejects unknown commands
            parser.error(f"unknown command {args.command!r}")
    except ConvCostError as e:
        print(f"convcost {args.command}: error: {e}", file=sys.stderr)
        return 2
    output = getattr(args, "output", None) if args.command in ("conv", "model") else None
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(out)
        except OSError as e:
            print(f"convcost {args.command}: error: --output: got {output!r}; cannot be "
                  f"written ({e.strerror})", file=sys.stderr)
            return 2
        return 0
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
