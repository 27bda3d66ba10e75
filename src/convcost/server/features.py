"""The model requests' newer options, checked and run as ``convcost model`` runs them:
``hf:`` targets, activation checkpointing (``checkpoint``), generation (``mode:
"generate"`` with ``prompt_len``, ``new_tokens``, ``batch``) and the batch fit (``fit``).

Decisions:

* **``hf:`` targets are architecture names only** (``hf:GPT2LMHeadModel``, built from its
  config's defaults with ``model_args`` as config fields, never downloaded, as the CLI
  builds it). A hub name (``hf:gpt2``), a cache id or a path would make the worker read the
  local Hugging Face cache or a file of the client's choosing, and the server is offline and
  reads no file a request names: those are refused with 400 naming ``target``. The text is
  checked first (:data:`HF_TARGET`); that the name is a ``transformers.PreTrainedModel``
  class is checked in the worker (:func:`check_hf_architecture`) before anything is built.
* **The same refusals as the CLI** (``cli/model.py``, ``cli/generate.py``), naming the JSON
  keys instead of flags: ``fit`` needs ``device`` and mode train; generation takes no
  ``inputs``, optimizer, ``freeze``, ``checkpoint``, ``fit``…, and has no HTML report
  (``format=html`` is a 400 naming ``format``); ``prompt_len``/``new_tokens``/``batch``
  need mode generate (the server has no batch sweeps). ``checkpoint`` is bounded as
  ``freeze`` (:func:`convcost.patterns.check_pattern`) before anything is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError
from .bounds import MAX_TOKENS, ApiError

__all__ = ["GENERATION_KEYS", "HF_TARGET", "check_hf_architecture", "check_hf_text",
           "feature_options", "run_generation"]

#: ``hf:`` targets the server builds: an architecture class name of ``transformers``.
HF_TARGET = re.compile(r"hf:[A-Z][A-Za-z0-9_]{0,127}")
#: Keys of a generation request (with ``mode: "generate"`` only).
GENERATION_KEYS: tuple[str, ...] = ("prompt_len", "new_tokens", "batch")

_OFFLINE = ("the server is offline (nothing is downloaded) and reads no file a request "
            "names: only a Hugging Face transformers architecture name builds (e.g. "
            "hf:GPT2LMHeadModel, hf:LlamaForCausalLM, its config's defaults with model_args "
            "as config fields); a hub name such as hf:gpt2, "
            "a cache id or a path is never read (analyse it with the CLI)")


def check_hf_text(target: str) -> None:
    """Refuse (400 naming ``target``) an ``hf:`` target that is not written as an
    architecture name (decided from the text alone)."""
    if not HF_TARGET.fullmatch(target):
        raise ApiError(400, f"target: {target!r:.80}: {_OFFLINE}", "target")


def check_hf_architecture(target: str) -> None:
    """In the worker, before building: refuse (400 naming ``target``) an ``hf:NAME`` whose
    NAME is not a ``transformers.PreTrainedModel`` class, or names a file here (the CLI
    would read it)."""
    name = target[3:]
    if os.path.exists(name):
        raise ApiError(400, f"target: {target!r} names a file", "target")
    try:
        import transformers
    except ImportError:
        raise SpecError("target", target, "transformers is not installed on the server "
                        "(pip install transformers)") from None
    try:
        obj = getattr(transformers, name)
    except (AttributeError, ImportError, RuntimeError):
        obj = None
    if not (isinstance(obj, type) and issubclass(obj, transformers.PreTrainedModel)
            and getattr(obj, "config_class", None) is not None):
        raise ApiError(400, f"target: {target!r}: not an architecture of transformers; "
                       f"{_OFFLINE}", "target")


def _positive(key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(422, f"{key}: got {type(value).__name__} {value!r:.80}; must be an "
                       "integer", key)
    if not 1 <= value <= MAX_TOKENS:
        raise SpecError(key, value, f"from 1 to {MAX_TOKENS:,}")
    return value


def feature_options(b: Mapping[str, Any], o: Mapping[str, Any]) -> dict[str, Any]:
    """``checkpoint``, ``fit`` and the generation keys of a request body ``b`` whose shared
    options ``o`` are already checked, with the CLI's refusals."""
    from ..patterns import check_pattern

    ckpt = b.get("checkpoint")
    if ckpt is not None and not isinstance(ckpt, str):
        raise ApiError(422, f"checkpoint: got {type(ckpt).__name__} {ckpt!r:.80}; must be a "
                       "string or null", "checkpoint")
    if ckpt is not None:
        check_pattern("checkpoint", ckpt)
    fit = b.get("fit", False)
    if not isinstance(fit, bool):
        raise ApiError(422, f"fit: got {type(fit).__name__} {fit!r:.80}; must be true or "
                       "false", "fit")
    out: dict[str, Any] = {"checkpoint": ckpt, "fit": fit}
    if o["mode"] != "generate":
        for key in GENERATION_KEYS:
            if b.get(key) is not None:
                raise SpecError(key, b[key], f"needs mode generate (it has no effect with "
                                f"mode {o['mode']}" + ("; the server runs no batch sweeps: "
                                                       "the batch is the inputs' first "
                                                       "dimension)" if key == "batch"
                                                       else ")"))
        if ckpt is not None and o["mode"] != "train":
            raise SpecError("checkpoint", ckpt, "checkpointing only changes a training step "
                            "(mode train)")
        if fit and o["mode"] != "train":
            raise SpecError("mode", o["mode"], "fit and devices need mode train")
        if fit and o["device"] is None:
            raise SpecError("fit", True, "needs device (whose memory the batch must fit)")
        return out
    for key in ("prompt_len", "new_tokens"):
        if b.get(key) is None:
            raise SpecError(key, None, "required with mode generate")
    unused: list[tuple[str, Any]] = [
        ("inputs", b.get("inputs") or None),
        ("optimizer", None if o["optimizer"] == "none" else o["optimizer"]),
        ("freeze", o["freeze"]), ("checkpoint", ckpt), ("fit", fit or None),
        ("data_dependent", o["data_dependent"]),
        ("channels_last", o["channels_last"] or None)]
    for key, value in unused:
        if value is not None:
            raise SpecError(key, value, "has no effect with mode generate (the batch is "
                            "batch, the prompt prompt_len)")
    out.update({k: _positive(k, b.get(k, 1)) for k in GENERATION_KEYS})
    return out


def run_generation(p: Mapping[str, Any]) -> Any:
    """The generation analysis of ``p`` (from :func:`convcost.server.requests.model_params`)
    as ``convcost model --mode generate`` runs it: a GenerationResult with the device's
    timing when ``device`` is given."""
    from dataclasses import replace

    from ..frontends.targets import build_target
    from ..hardware.devices import get_device
    from ..hardware.dispatch import dispatch_options
    from ..model.generate import analyze_generation

    target = p["target"]
    device = get_device(p["device"]) if p["device"] is not None else None
    if device is not None and p.get("reserve") is not None:
        from ..spec import parse_bytes

        device = replace(device, reserve=parse_bytes("reserve", p["reserve"]))
    if device is not None and p.get("stack") is not None:
        from ..hardware.stacks import with_stack

        device = with_stack(device, p["stack"])
    paths = dispatch_options(device, p.get("dispatch"))
    built = build_target(target, p.get("model_args") or None)
    try:
        result = analyze_generation(built.model, batch=p["batch"], prompt_len=p["prompt_len"],
                                    new_tokens=p["new_tokens"], dtype=p["dtype"], amp=p["amp"],
                                    counting=p["counting"], name=target, **paths)
    except SpecError as e:
        if e.field == "model":
            raise SpecError("mode", "generate", f"{target}: {e.allowed}") from e
        raise
    timing = None
    if device is not None:
        from ..hardware.generation import generation_time

        timing = generation_time(result, device, p["tf32"])
    return replace(result, construction=built.device, timing=timing)
