"""``convcost model``: a whole PyTorch (or ONNX) model analysed on fake tensors, with the
hardware answers the flags ask for, one analysis or a sweep over batches and resolutions.

Everything heavy (torch, the analyser, the hardware data, the renderers) is imported when
the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..vocab import (
    AMP_CHOICES,
    COUNTINGS,
    DATA_DEPENDENT,
    DISPATCHES,
    FORMATS,
    MODES,
    OPTIMIZER_KERNELS,
    OPTIMIZERS,
    STRATEGIES,
)
from .common import count
from .hardware_flags import hardware_options, timed_foreach

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ..hardware.answer import Hardware
    from ..hardware.devices import DeviceSpec
    from ..hardware.distributed import Interconnect
    from ..model.results import ModelResult
    from ..parallel import Job
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
nn.Module (or names an nn.Module instance); this imports and runs that code, and
anything it prints goes to standard error.
--input: one per positional input, batch included (8x3x224x224); add :DTYPE for a non-float
input (1x128:int64), NAME= for a keyword input (mask=1x128:bool), an empty shape for a
scalar (s=, flag=:bool; an ONNX graph's inputs by name) and :grad at the end for a
floating input that requires a gradient, as a block's input does (8x197x768:grad,
x=2x8:float32:grad; --input-grad: every floating input; both need --mode train).
"""


def add_arguments(m: argparse.ArgumentParser, compare: bool = False) -> None:
    """The options of ``convcost model`` (also parsed for each ``compare`` entry; with
    ``compare``, the options a comparison does not take are left out of the help)."""

    def single(text: str) -> str:  # help of an option for one analysis only
        return argparse.SUPPRESS if compare else text

    m.add_argument("target", metavar="TARGET")
    m.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument of the model (a Python literal; repeatable), e.g. "
        "--model-arg image_size=518; for hf: targets a config field (num_hidden_layers=80)",
    )
    m.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="SHAPE",
        help="input shape with batch, e.g. 8x3x224x224 (repeat for more inputs); required "
        "except for an ONNX file whose inputs all have static shapes",
    )
    m.add_argument("--mode", default="train", choices=MODES if compare else (*MODES, "generate"),
                   help=None if compare else "generate: a causal LM's prefill plus decode "
                   "steps with the KV cache (hf: targets; needs --prompt-len and --new-tokens)")
    if not compare:
        gen = m.add_argument_group("generation (--mode generate)")
        gen.add_argument("--prompt-len", type=count, default=None, metavar="P",
                         help="prompt tokens per sequence (the prefill)")
        gen.add_argument("--new-tokens", type=count, default=None, metavar="T",
                         help="tokens generated per sequence (as generate's max_new_tokens: "
                         "the prefill and T-1 decode steps)")
    m.add_argument(
        "--input-grad",
        action="store_true",
        help="every floating input requires a gradient (analysing a block rather than a "
        "whole network: the backward computes the inputs' gradients; needs --mode train)",
    )
    m.add_argument(
        "--hold-output",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the training loop keeps the model's output to the end of the step "
        "(out = model(x); loss = f(out): the default) or not (loss = f(model(x))); needs "
        "--mode train",
    )
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
        "--data-dependent",
        default=None,
        choices=DATA_DEPENDENT,
        help="ops whose output size depends on tensor values (detection models: NMS, "
        "score thresholds) are run for real on random CPU inputs, in inference: 'bound' "
        "(default) opens every threshold so the model's own limits (top-n, detections per "
        "image) decide each size, an upper bound; 'run' keeps the model as it is",
    )
    m.add_argument(
        "--freeze",
        default=None,
        metavar="REGEX",
        help="parameters whose name matches get no gradient",
    )
    m.add_argument(
        "--checkpoint",
        default=None,
        metavar="REGEX",
        help="activation-checkpointing what-if: the training step as if every module whose "
        "path matches (e.g. 'layer[1-4]\\.\\d+$') were wrapped in non-reentrant "
        "torch.utils.checkpoint; memory and the recomputation cost (its own phase)",
    )
    m.add_argument("--counting", default="dense", choices=COUNTINGS)
    m.add_argument(
        "--depth",
        type=count,
        default=None,
        metavar="N",
        help=single("module levels shown in the table (default 2; 0 = totals only; table, "
                    "markdown and csv: JSON and HTML always have every module)"),
    )
    m.add_argument("--format", default=None, choices=FORMATS,
                   help="default: table, or what the --output extension says")
    m.add_argument("--output", default=None, metavar="FILE",
                   help="write the report to FILE instead of standard output; without "
                   "--format the extension gives the format (.txt, .md, .csv, .json, .html)")
    m.add_argument("--plot", default=None, metavar="FILE.svg|png",
                   help=single("also write the charts as images: FILE-flops, FILE-memory "
                               "and, with --device, FILE-roofline (.svg or .png)"))
    m.add_argument("--json", action="store_true", help="shorthand for --format json")
    hw = m.add_argument_group("hardware (see `convcost devices`)")
    hw.add_argument(
        "--device",
        default=None,
        metavar="NAME",
        help="estimated step time (and the roofline bound) per op, layer and step on this "
        "device",
    )
    hw.add_argument(
        "--reserve",
        default=None,
        metavar="SIZE",
        help="memory of --device that PyTorch cannot use (CUDA context, libraries, driver), "
        "e.g. 2GiB or 900MiB; default: the device's (see `convcost devices --json`)",
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
        help="fp32 matrix work runs on TF32 tensor cores (roofline peak; needs --device)",
    )
    hw.add_argument(
        "--channels-last",
        action="store_true",
        help="the model and its inputs are in torch.channels_last (NHWC): in the time "
        "estimate, tensor-core convolutions convert no layout (default: PyTorch's NCHW, "
        "which pays a conversion around each; needs --device)",
    )
    hw.add_argument(
        "--stack",
        default=None,
        metavar="NAME",
        help="software stack of the time estimate's host costs (PyTorch, CUDA, host CPU): "
        "pytorch-2.4 (default: eager PyTorch 2.4 or later, current server CPU) or "
        "pytorch-1.9 (NVIDIA's 2021 containers); a devices file's own timing overrides it "
        "(needs --device)",
    )
    hw.add_argument(
        "--optimizer-kernels",
        default=None,
        choices=OPTIMIZER_KERNELS,
        help="how the optimizer runs on the device: PyTorch's multi-tensor foreach kernels "
        "(default; PyTorch >= 2.0 on CUDA), one kernel per parameter, or the fused "
        "implementation (fused=True: traced as such, timed like foreach; needs --device and "
        "a training step with an optimizer)",
    )
    hw.add_argument(
        "--dispatch",
        default=None,
        choices=DISPATCHES,
        help="the dispatch path the step is traced on: cuda (fake CUDA tensors, the kernels "
        "CUDA PyTorch picks for --device: fused dropout, cuDNN batch norm, the SDPA backend, "
        "CUDA autocast; the default with a GPU --device) or cpu (PyTorch's CPU kernels; the "
        "default without one)",
    )
    hw.add_argument(
        "--fit",
        action="store_true",
        help=single("largest batch whose training peak fits the device's memory"),
    )
    hw.add_argument(
        "--plan",
        action="store_true",
        help=single("with --fit: search batch, checkpointing, AMP and (over --devices) the "
                    "strategy for the fastest estimated step that fits; an explicit --amp, "
                    "--checkpoint or --strategy fixes that choice"),
    )
    hw.add_argument(
        "--devices",
        type=count,
        default=1,
        metavar="N",
        help="training spread over N devices (--input is the per-device batch)",
    )
    hw.add_argument("--strategy", default=None, choices=STRATEGIES,
                    help="how training is sharded over --devices (default ddp)")
    hw.add_argument(
        "--interconnect",
        default=None,
        metavar="NAME",
        help="link between the --devices: nvlink4 (default), nvlink3, ib-ndr, ib-hdr, pcie4, "
        "pcie5 or from --devices-file",
    )
    m.add_argument("--ops", action="store_true",
                   help=single("JSON: add every counted op (cost, bytes, and roofline with "
                               "--device)"))
    m.add_argument("--timeline", action="store_true",
                   help=single("JSON: add the live-bytes timelines (per op, by category)"))
    sw = m.add_argument_group("sweeps (one row per setting)")
    sw.add_argument("--batch", default=None, metavar="B1,B2,…",
                    help=single("replace the batch (first dimension of every input), e.g. "
                                "1,8,64"))
    sw.add_argument("--resolution", default=None, metavar="R1,R2,…",
                    help=single("replace the spatial size of image inputs (the last two "
                                "dimensions of 4-D and larger inputs, the last of 3-D ones), "
                                "e.g. 224,384,512"))
    par = m.add_argument_group("parallel (sweeps and compare)")
    par.add_argument("--jobs", type=count, default=None, metavar="N",
                     help="run the analyses in N local worker processes (default 1: one "
                     "after another); each worker builds the model again from TARGET")
    par.add_argument("--cluster", default=None, metavar="ADDRESS",
                     help="run the analyses on an existing Dask distributed scheduler, e.g. "
                     "tcp://10.0.0.5:8786 (pip install \"convcost[cluster]\")")


def plan_options(a: argparse.Namespace, fmt: str) -> None:
    """``--plan`` needs ``--fit``, ``--device`` and ``--mode train`` and writes a table or
    JSON, for one analysis (no sweep, no plot): otherwise a SpecError naming it."""
    from ..errors import SpecError

    if not getattr(a, "plan", False):
        return
    for missing, why in ((not a.fit, "needs --fit (the plan searches the batches that fit)"),
                         (a.device is None, "needs --device (whose memory the plan must fit)"),
                         (a.mode != "train", "needs --mode train (it plans a training step)"),
                         (fmt not in ("table", "json"), f"writes a table or JSON, not {fmt}"),
                         (bool(a.batch or a.resolution), "cannot be combined with a "
                          "--batch/--resolution sweep"),
                         (a.plot is not None, "draws no plot (drop --plot)"),
                         (a.ops or a.timeline or a.depth is not None,
                          "has no per-op or module report (drop --ops/--timeline/--depth)"),
                         (a.counting != "dense", "scores configurations by time and memory, "
                          "which --counting does not change (drop it)"),
                         (a.data_dependent is not None, "plans a training step, which has no "
                          "data-dependent policy (drop --data-dependent)")):
        if missing:
            raise SpecError("--plan", True, why)


def run_plan(a: argparse.Namespace, model: Any, pos: list[str], kw: dict[str, str],
             device: DeviceSpec, link: Interconnect, fmt: str) -> str:
    """The ``--plan`` search (:func:`convcost.plan.plan`) as text or JSON."""
    import json

    from ..errors import SpecError
    from ..plan import plan
    from .common import progress_steps

    try:
        with progress_steps("model --plan") as step:
            found = plan(model, pos, device, kwargs=kw, devices=a.devices, interconnect=link,
                         amp=a.amp, checkpoint=a.checkpoint, strategy=a.strategy,
                         tf32=a.tf32, channels_last=a.channels_last,
                         foreach=timed_foreach(a), dtype=a.dtype, progress=step,
                         optimizer=a.optimizer, freeze=a.freeze, input_grad=a.input_grad,
                         optimizer_foreach=a.optimizer_foreach, **a.dispatch_options)
    except SpecError as e:
        if e.field != "plan":
            raise
        raise SpecError("--plan", True, e.allowed) from None
    if fmt == "json":
        return json.dumps({"target": a.target, "plan": found.to_dict()}, indent=2) + "\n"
    return "\n".join([a.target, *found.lines()]) + "\n"


def report_options(a: argparse.Namespace, fmt: str, where: str | None) -> None:
    """The report flags that have no effect in this combination are errors naming them:
    ``--ops``/``--timeline`` without JSON, ``--depth`` with JSON or HTML (which always have
    every module), and all three in a sweep or a comparison (``where``), whose reports have
    one row per setting or entry."""
    from ..errors import SpecError

    for flag, on in (("--ops", a.ops), ("--timeline", a.timeline)):
        if on and where is not None:
            raise SpecError(flag, True, f"has no effect in {where} (its report has no "
                            "per-op data)")
        if on and fmt != "json":
            raise SpecError(flag, True, f"has no effect with --format {fmt}: it adds to the "
                            "JSON report (give --json)")
    if a.depth is not None and where is not None:
        raise SpecError("--depth", a.depth, f"has no effect in {where} (its report has no "
                        "module table)")
    if a.depth is not None and fmt in ("json", "html"):
        raise SpecError("--depth", a.depth, f"has no effect with --format {fmt}, which always "
                        "has every module (--depth is for table, markdown and csv)")


def analyze_one(a: argparse.Namespace, model: Any, pos: list[str], kwargs: Any,
                device: DeviceSpec | None, link: Interconnect,
                fit: bool) -> tuple[ModelResult, Hardware]:
    """One analysis with the hardware answers the flags ask for."""
    from dataclasses import replace

    from ..hardware.answer import fit_on
    from ..parallel import analyse

    analysis, hardware = analysis_options(a)
    result, hw = analyse(model, pos, kwargs, a.target, a.freeze, analysis, hardware, device,
                         link)
    options: dict[str, Any] = dict(dtype=a.dtype, amp=a.amp, optimizer=a.optimizer,
                                   freeze=a.freeze, input_grad=a.input_grad,
                                   checkpoint=a.checkpoint,
                                   optimizer_foreach=getattr(a, "optimizer_foreach", False),
                                   **getattr(a, "dispatch_options", {}))
    strategy = a.strategy or "ddp"
    if fit and device is not None:
        found = fit_on(device, model, pos, kwargs=kwargs, devices=a.devices,
                       strategy=strategy, **options)
        hw = replace(hw, fit=found, fit_device=device)
    return result, hw


def analysis_options(a: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options of :func:`convcost.model.analyze` (but ``freeze``) and of the hardware
    answer the flags set."""
    return (dict(mode=a.mode, counting=a.counting, data_dependent=a.data_dependent,
                 dtype=a.dtype, amp=a.amp, optimizer=a.optimizer, input_grad=a.input_grad,
                 checkpoint=a.checkpoint, optimizer_foreach=getattr(a, "optimizer_foreach",
                                                                    False),
                 **getattr(a, "dispatch_options", {})),
            dict(tf32=a.tf32, channels_last=getattr(a, "channels_last", False),
                 devices=a.devices,
                 strategy=a.strategy or "ddp",
                 foreach=timed_foreach(a)))


def job_of(a: argparse.Namespace, device: DeviceSpec | None, link: Interconnect,
           batch: int | None = None, resolution: int | None = None,
           entry: bool = False) -> Job:
    """The analysis the flags ask for as a :class:`convcost.parallel.Job` (for a worker)."""
    from ..parallel import Job
    from ..spec import parse_model_args

    analysis, hardware = analysis_options(a)
    return Job(a.target, parse_model_args("--model-arg", a.model_arg), tuple(a.input),
               a.freeze, analysis, hardware, device, link, batch, resolution, entry)


def keyword_inputs(kw: dict[str, str]) -> dict[str, Any] | None:
    """``NAME=SHAPE`` inputs as InputSpecs (``None`` when there are none)."""
    from ..spec import parse_input

    return {k: parse_input("inputs", v) for k, v in kw.items()} or None


def run(a: argparse.Namespace) -> str:
    """Validate, load the target, analyse it (or sweep it), write the report."""
    from dataclasses import replace

    from ..errors import SpecError
    from ..frontends.targets import build_target, is_onnx_target
    from ..parallel import check as check_parallel
    from ..parallel import is_parallel
    from ..renderers import write_plots
    from ..spec import parse_int_list, parse_model_args, parse_shape, split_inputs
    from .common import (
        check_output,
        check_plot,
        deliver,
        model_code,
        output_format,
        report,
        table_format,
    )

    check_output(a.output)
    fmt = output_format(a.format, a.json, a.output, FORMATS)
    held = getattr(a, "hold_output", None)
    if held is not None and a.mode != "train":
        raise SpecError("--hold-output" if held else "--no-hold-output", True,
                        "only changes a training step (--mode train)")
    if a.mode == "generate" or getattr(a, "prompt_len", None) is not None \
            or getattr(a, "new_tokens", None) is not None:
        from .generate import run_generate

        return run_generate(a, fmt)
    model_args = parse_model_args("--model-arg", a.model_arg)
    onnx = is_onnx_target(a.target)
    if onnx and model_args:
        raise SpecError("--model-arg", a.model_arg[0], "an ONNX file takes no constructor "
                        "arguments")
    if not onnx and not a.input:
        raise SpecError("inputs", [], "required for a PyTorch model: one --input SHAPE per "
                        "input (e.g. --input 8x3x224x224); only an ONNX file whose inputs all "
                        "have static shapes can go without")
    pos, kw = ([], {}) if onnx else split_inputs("inputs", a.input)
    for shape in pos:  # every shape is read before the model is loaded
        parse_shape("inputs", shape)
    kwargs = keyword_inputs(kw)
    plan_options(a, fmt)
    device, link = hardware_options(a)
    batches = parse_int_list("batch", a.batch)
    resolutions = parse_int_list("resolution", a.resolution)
    for flag, given, values in (("--batch", a.batch, batches),
                                ("--resolution", a.resolution, resolutions)):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:  # one row per setting: a repeated value would be a duplicate row
            raise SpecError(flag, given, f"{', '.join(map(str, twice))} given more than once "
                            "(each value is one row of the sweep)")
    sweep = bool(batches or resolutions)
    if sweep and a.fit:
        raise SpecError("--fit", True, "cannot be combined with a --batch/--resolution sweep")
    if sweep and (fmt == "html" or a.plot is not None):
        raise SpecError("--format" if fmt == "html" else "--plot", fmt if fmt == "html"
                        else a.plot, "HTML reports and plots are for one analysis, not a "
                        "sweep (use --format table, json, csv or markdown)")
    if resolutions and not onnx and not pos:
        raise SpecError("--resolution", a.resolution, "needs a positional --input with "
                        "spatial dimensions (keyword inputs keep their shape)")
    report_options(a, fmt, "a --batch/--resolution sweep" if sweep else None)
    check_parallel(a.jobs, a.cluster)
    if not sweep and is_parallel(a.jobs, a.cluster):
        raise SpecError("--cluster" if a.cluster is not None else "--jobs", a.cluster or a.jobs,
                        "has no effect without a --batch/--resolution sweep (one analysis "
                        "runs in this process)")
    check_plot(a.plot)
    frozen = None
    sweep_result: Sweep | None = None
    with model_code(a.target):  # the model's prints go to stderr; stdout is the report's
        built = None
        if onnx:
            model, pos, frozen = load_onnx_target(a)
        else:
            built = build_target(a.target, model_args)
            model = built.model
            from ..frontends.positions import check_token_inputs

            check_token_inputs(model, "--input", pos, kw)
        if a.plan and device is not None:
            return deliver(run_plan(a, model, pos, kw, device, link, fmt), a.output)
        if sweep:
            sweep_result = _sweep(a, model, pos, kw, device, link, batches, resolutions)
        else:
            result, hw = analyze_one(a, model, pos, kwargs, device, link, a.fit)
    if sweep_result is not None:
        return deliver(report(sweep_result, table_format(fmt)), a.output)
    if onnx:
        result = model.relabel(result, frozen)
    if built is not None:
        result = replace(result, construction=built.device)
    if a.plot is not None:
        write_plots(result, a.plot, hardware=hw)
    depth = 2 if a.depth is None else a.depth
    return deliver(report(result, table_format(fmt), depth=depth, hardware=hw,
                          timeline=a.timeline, ops=a.ops), a.output)


def load_onnx_target(a: argparse.Namespace) -> tuple[Any, list[str], str | None]:
    """An ONNX TARGET: the module, its inputs as shapes in graph order (from ``--input
    NAME=SHAPE`` / ``--input SHAPE``) and the ``--freeze`` pattern, which matches initializer
    names and is applied here (``a.freeze`` is cleared so it is not applied again)."""
    from ..frontends.onnx import load_onnx

    model, specs = load_onnx(a.target, a.input, a.freeze)
    frozen, a.freeze = a.freeze, None
    if frozen is not None and a.mode == "train" and not a.input_grad \
            and not any(s.requires_grad for s in specs) \
            and not any(p.requires_grad for p in model.parameters()):
        from ..errors import SpecError
        from ..frontends.torch_trace.run import NO_GRAD_FN

        raise SpecError("--freeze", frozen, "matches every initializer, and no input requires "
                        "a gradient: nothing is left to differentiate (a real loss.backward() "
                        f"raises {NO_GRAD_FN}); freeze fewer, or give --input-grad")
    return model, ["x".join(map(str, s.shape)) + ":" + s.dtype
                   + (":grad" if s.requires_grad else "") for s in specs], frozen


def _sweep(a: argparse.Namespace, model: Any, pos: list[str], kw: dict[str, str],
           device: DeviceSpec | None, link: Interconnect, batches: list[int],
           resolutions: list[int]) -> Sweep:
    """One analysis per (batch, resolution) setting, batches outer."""
    from ..errors import ConvCostError
    from ..parallel import is_parallel, run_jobs
    from ..spec import resize_shape
    from ..study import Sweep, SweepRow, setting_name
    from .common import each, flag_error

    bs: list[int | None] = list(batches) or [None]
    rs: list[int | None] = list(resolutions) or [None]
    settings = [(b, r) for b in bs for r in rs]

    def one(setting: tuple[int | None, int | None]) -> SweepRow:
        b, res = setting
        try:
            p = [resize_shape(x, b, res) for x in pos]
            k = keyword_inputs({n: resize_shape(v, b, None) for n, v in kw.items()})
            result, hw = analyze_one(a, model, p, k, device, link, False)
        except ConvCostError as e:  # say which setting failed: "batch 64: ..."
            raise ConvCostError(f"{setting_name(b, res)}: {flag_error(e)}") from e
        return SweepRow(b, res, result, hw)

    def arrivals(ss: Sequence[tuple[int | None, int | None]]) -> Iterator[tuple[int, SweepRow]]:
        jobs = [job_of(a, device, link, b, r) for b, r in ss]
        done: set[int] = set()
        try:
            for i, (result, hw) in run_jobs(jobs, a.jobs, a.cluster):
                done.add(i)
                yield i, SweepRow(ss[i][0], ss[i][1], result, hw)
        except ConvCostError:  # a worker's error does not say its setting: find it, in order
            for i, setting in enumerate(ss):
                if i not in done:
                    one(setting)  # raises the sequential run's error, naming the setting
            raise

    return Sweep(tuple(each(settings, one, arrivals if is_parallel(a.jobs, a.cluster)
                            else None)))
