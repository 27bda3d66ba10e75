"""``convcost model TARGET --mode generate``: a causal LM's generation with the KV cache
(:func:`convcost.model.generate.analyze_generation`), its flags checked and its report
written as text (``--format table``), JSON or Markdown.

The batch is ``--batch B`` (one value; default 1); the prompt is ``--prompt-len`` tokens
and ``--new-tokens`` tokens are generated. The options of a single training or inference
analysis that mean nothing here are errors naming them. ``--reserve`` is checked as
``convcost model`` checks it (it needs ``--device``); with ``--device`` the report says
whether weights, KV cache and activations fit the device's usable memory.

The library's errors name its arguments (``prompt_len``, ``new_tokens``, ``model``); they
are mapped to this command's flags here (:data:`FLAGS`).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import SpecError

#: analyze_generation's arguments -> the flags that set them (the rest: cli.common's map).
FLAGS = {"prompt_len": "--prompt-len", "new_tokens": "--new-tokens"}


def check(a: argparse.Namespace, fmt: str) -> int:
    """Validate the generation flags; return the batch."""
    from ..spec import parse_int_list

    if a.mode != "generate":
        flag = "--prompt-len" if a.prompt_len is not None else "--new-tokens"
        raise SpecError(flag, a.prompt_len if a.prompt_len is not None else a.new_tokens,
                        f"needs --mode generate (it has no effect with --mode {a.mode})")
    for flag, value in (("--prompt-len", a.prompt_len), ("--new-tokens", a.new_tokens)):
        if value is None:
            raise SpecError(flag, None, "required with --mode generate")
        if value < 1:
            raise SpecError(flag, value, "must be 1 or more")
    unused: list[tuple[str, Any]] = [
        ("--input", a.input or None), ("--optimizer", None if a.optimizer == "none"
                                       else a.optimizer),
        ("--freeze", a.freeze), ("--checkpoint", a.checkpoint),
        ("--input-grad", a.input_grad or None), ("--data-dependent", a.data_dependent),
        ("--fit", a.fit or None), ("--devices", None if a.devices == 1 else a.devices),
        ("--strategy", a.strategy), ("--interconnect", a.interconnect),
        ("--optimizer-kernels", a.optimizer_kernels), ("--resolution", a.resolution),
        ("--plot", a.plot), ("--ops", a.ops or None), ("--timeline", a.timeline or None),
        ("--depth", a.depth), ("--jobs", getattr(a, "jobs", None)),
        ("--cluster", getattr(a, "cluster", None)),
        ("--plan", getattr(a, "plan", None) or None),
        ("--channels-last", getattr(a, "channels_last", False) or None),
    ]
    for flag, value in unused:
        if value is not None:
            raise SpecError(flag, value, "has no effect with --mode generate (the batch is "
                            "--batch B, the prompt --prompt-len)")
    if fmt not in ("table", "json", "markdown"):
        raise SpecError("--format", fmt, "--mode generate writes a text (table), JSON or "
                        "Markdown report")
    batches = parse_int_list("batch", a.batch)
    if len(batches) > 1:
        raise SpecError("--batch", a.batch, "one batch size with --mode generate")
    return batches[0] if batches else 1


def run_generate(a: argparse.Namespace, fmt: str) -> str:
    """Check the flags, build the target, analyse its generation, write the report."""
    from dataclasses import replace

    from ..frontends.targets import build_target
    from ..hardware.devices import get_device, load_hardware
    from ..model.generate import analyze_generation
    from ..renderers import render
    from ..spec import parse_model_args
    from .common import deliver, model_code, with_reserve

    batch = check(a, fmt)
    if a.tf32 and a.device is None:
        raise SpecError("--tf32", True, "has no effect without --device")
    devices, _ = load_hardware(a.devices_file) if a.devices_file else ({}, {})
    device = get_device(a.device, devices) if a.device is not None else None
    if a.reserve is not None:
        device = with_reserve(device, a.reserve)
    if getattr(a, "stack", None) is not None:
        if device is None:
            raise SpecError("--stack", a.stack, "has no effect without --device")
        from ..hardware.stacks import with_stack

        device = with_stack(device, a.stack, "--stack")
    from ..hardware.dispatch import dispatch_options

    paths = dispatch_options(device, getattr(a, "dispatch", None), "--dispatch")
    model_args = parse_model_args("--model-arg", a.model_arg)
    with model_code(a.target):
        built = build_target(a.target, model_args)
        try:
            result = analyze_generation(built.model, batch=batch, prompt_len=a.prompt_len,
                                        new_tokens=a.new_tokens, dtype=a.dtype, amp=a.amp,
                                        counting=a.counting, name=a.target, **paths)
        except SpecError as e:
            raise _flagged(e, a) from e
    timing = None
    if device is not None:
        from ..hardware.generation import generation_time

        timing = generation_time(result, device, a.tf32)
    result = replace(result, construction=built.device, timing=timing)
    text = render(result, fmt)
    return deliver(text, a.output)


def _flagged(e: SpecError, a: argparse.Namespace) -> SpecError:
    """The library's error ``e`` with its argument named as this command's flag (a model
    that cannot generate is ``--mode generate``'s error)."""
    if e.field == "model":
        return SpecError("--mode", "generate", f"{a.target}: {e.allowed}")
    flag = FLAGS.get(e.field)
    return e if flag is None else SpecError(flag, e.value, e.allowed)
