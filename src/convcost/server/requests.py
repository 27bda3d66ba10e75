"""What the API's requests mean: JSON bodies and query parameters turned into validated
analyses, and the analyses themselves — the layer report (run in the server process) and
the model/ONNX report (:func:`run_analysis`, run in a worker process).

Decisions:

* The same pipeline as ``convcost conv``/``convcost model`` with the same library calls
  (:func:`convcost.spec.conv_spec`, :func:`convcost.model.analyze`,
  :func:`convcost.hardware.answer.answer`, :func:`convcost.renderers.render`), so a result
  is the CLI's ``--format json`` document for the same inputs. The server does not import
  :mod:`convcost.cli` (which imports the server for ``convcost serve``: that would be an
  import cycle); the few checks of ``cli/model.py`` on flag combinations are repeated here,
  naming the API's keys instead of flags.
* ``hf:`` targets, ``checkpoint``, ``fit`` and generation are checked and run by
  :mod:`.features` (architecture names only: the server reads no hub cache or file).
* Errors: a wrong JSON type is :class:`ApiError` 422; a bad value is the library's
  :class:`~convcost.errors.SpecError` (400, its ``field`` handed on); a model target that
  would import code is 403, decided from the text of the target before anything is loaded.
* Nothing here opens a path from a request: an ONNX upload is read from the temporary file
  the server wrote, and reported under a sanitised ``filename``; ONNX files that reference
  external data are refused (the data files would be looked up next to the upload).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConvCostError, SpecError
from ..vocab import (
    AMP_CHOICES,
    CONV_FORMATS,
    COUNTINGS,
    DATA_DEPENDENT,
    LANGS,
    MODES,
    OPTIMIZER_KERNELS,
    OPTIMIZERS,
    STRATEGIES,
    allowed,
)
from .bounds import (
    MAX_DEVICES,
    MAX_INPUTS,
    MAX_STR,
    ApiError,
    check_model_args,
    check_sizes,
    clean_native,
    one_line,
)
from .features import check_hf_architecture, check_hf_text, feature_options, run_generation

__all__ = [
    "CONV_KEYS",
    "MODEL_KEYS",
    "ONNX_KEYS",
    "ApiError",
    "Outcome",
    "conv_report",
    "job_id",
    "model_params",
    "one_line",
    "onnx_params",
    "report_format",
    "run_analysis",
]

#: The formats the API answers in.
API_FORMATS: tuple[str, ...] = ("json", "html")


def spec_error(e: ConvCostError) -> ApiError:
    """The 400 answer to a bad value (``field`` from a SpecError: ``inputs[0]`` -> ``inputs``);
    the text cut to its first line, without paths or addresses (:func:`clean_native`)."""
    field = e.field.split("[")[0].lstrip("-").replace("-", "_") \
        if isinstance(e, SpecError) else None
    return ApiError(400, clean_native(str(e)), field)


# --------------------------------------------------------------------------- JSON types


def _wrong_type(key: str, value: object, want: str) -> ApiError:
    return ApiError(422, f"{key}: got {type(value).__name__} {value!r:.80}; must be {want}", key)


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, f"the body must be a JSON object, got {type(body).__name__}")
    return body


def _unknown(body: Mapping[str, Any], keys: Sequence[str]) -> None:
    for k in body:
        if k not in keys:
            raise ApiError(400, f"{k}: unknown key; allowed: {', '.join(keys)}", k)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _get_int(body: Mapping[str, Any], key: str, default: int | None) -> int:
    v = body.get(key, default)
    if v is None:
        raise ApiError(400, f"{key}: required", key)
    if not _is_int(v):
        raise _wrong_type(key, v, "an integer")
    return int(v)


def _get_bool(body: Mapping[str, Any], key: str, default: bool) -> bool:
    v = body.get(key, default)
    if not isinstance(v, bool):
        raise _wrong_type(key, v, "true or false")
    return v


def _get_str(body: Mapping[str, Any], key: str, default: str | None) -> str | None:
    v = body.get(key, default)
    if (v is None and default is not None) or (v is not None and not isinstance(v, str)):
        raise _wrong_type(key, v, "a string" + (" or null" if default is None else ""))
    if v is not None and len(v) > MAX_STR:
        raise ApiError(400, f"{key}: {len(v)} characters; at most {MAX_STR}", key)
    return v


def _choice(key: str, value: str | None, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise SpecError(key, value, allowed(tuple(choices)))


def _ints(body: Mapping[str, Any], key: str, default: object) -> int | tuple[int, ...]:
    """An int, a list of ints or a string ``3x1`` (:func:`convcost.spec.parse_ints`)."""
    from ..spec import parse_ints

    v = body.get(key, default)
    if isinstance(v, str):
        return parse_ints(key, v)
    if _is_int(v):
        return int(v)
    if isinstance(v, list) and all(_is_int(x) for x in v):
        return tuple(v)
    raise _wrong_type(key, v, "an integer, a list of integers or a string like '3x1'")


def _padding(body: Mapping[str, Any]) -> Any:
    """As the Python API: an int, a list of ints or ``[begin, end]`` pairs, ``"same"``,
    ``"valid"``, or the CLI's text (``1:2x0``)."""
    from ..spec import parse_padding

    v = body.get("padding", 0)
    if isinstance(v, str):
        return parse_padding("padding", v)
    if _is_int(v):
        return v
    if isinstance(v, list) and all(
            _is_int(x) or (isinstance(x, list) and len(x) == 2 and all(_is_int(y) for y in x))
            for x in v):
        return [tuple(x) if isinstance(x, list) else x for x in v]
    raise _wrong_type("padding", v, "an integer, a list of integers or [begin, end] pairs, "
                      "'same', 'valid' or a string like '1:2x0'")


# --------------------------------------------------------------------------- the layer

#: Keys of ``POST /api/conv``: the ``layer`` object of ``convcost conv --format json`` and
#: ``counting``.
CONV_KEYS: tuple[str, ...] = (
    "in_channels", "out_channels", "input_size", "kernel", "stride", "padding", "dilation",
    "groups", "batch", "bias", "transposed", "output_padding", "dtype", "input_grad",
    "counting",
)


def report_format(fmt: str | None) -> str:
    """The ``format`` query parameter: ``json`` (default) or ``html``."""
    f = fmt or "json"
    if f not in API_FORMATS:
        raise ApiError(400, f"format: got {fmt!r}; allowed: json, html", "format")
    return f


def conv_report(body: object, fmt: str = "json", lang: str | None = None) -> str:
    """The report of ``convcost conv`` (JSON or HTML in ``lang``) for a JSON body."""
    from ..layer import analyze_conv
    from ..renderers import render
    from ..spec import conv_spec, parse_ints

    b = _object(body)
    _unknown(b, CONV_KEYS)
    if fmt not in CONV_FORMATS or fmt not in API_FORMATS:
        raise ApiError(400, f"format: got {fmt!r}; allowed: json, html", "format")
    if lang is not None and fmt == "json":
        raise ApiError(400, f"lang: got {lang!r}; has no effect with format json (JSON has "
                       "no text to translate)", "lang")
    _choice("lang", lang, LANGS)
    size = b.get("input_size")
    if size is None:
        raise ApiError(400, "input_size: required (the spatial size, e.g. [224, 224] or "
                       "'224x224')", "input_size")
    input_size: Any = parse_ints("input_size", size) if isinstance(size, str) else size
    if not (_is_int(input_size) or (isinstance(input_size, (list, tuple))
                                    and all(_is_int(x) for x in input_size))):
        raise _wrong_type("input_size", size, "an integer, a list of integers or a string "
                          "like '224x224'")
    if "kernel" not in b:
        raise ApiError(400, "kernel: required", "kernel")
    dtype = _get_str(b, "dtype", "float32")
    counting = _get_str(b, "counting", "dense")
    _choice("counting", counting, COUNTINGS)
    try:
        spec = conv_spec(
            in_channels=_get_int(b, "in_channels", None),
            out_channels=_get_int(b, "out_channels", None),
            input_size=input_size,
            kernel=_ints(b, "kernel", None),
            stride=_ints(b, "stride", 1),
            padding=_padding(b),
            dilation=_ints(b, "dilation", 1),
            groups=_get_int(b, "groups", 1),
            batch=_get_int(b, "batch", 1),
            bias=_get_bool(b, "bias", True),
            transposed=_get_bool(b, "transposed", False),
            output_padding=_ints(b, "output_padding", 0),
            dtype=dtype or "float32",
            input_grad=_get_bool(b, "input_grad", True),
        )
    except (TypeError, OverflowError) as e:  # a value the formulas cannot take
        raise ApiError(400, f"the layer cannot be built: {e}") from e
    result = analyze_conv(spec, counting)  # type: ignore[arg-type]
    if fmt == "html":
        return render(result, "html", lang=lang or "en")
    return render(result, "json")


# --------------------------------------------------------------------------- models

#: Keys of ``POST /api/model``.
MODEL_KEYS: tuple[str, ...] = (
    "target", "inputs", "mode", "dtype", "amp", "optimizer", "freeze", "counting", "device",
    "tf32", "devices", "strategy", "interconnect", "input_grad", "data_dependent",
    "optimizer_kernels", "model_args", "reserve", "channels_last", "dispatch", "stack",
    "checkpoint", "fit", "prompt_len", "new_tokens", "batch",
)
#: Query parameters of ``POST /api/onnx`` (besides ``format``); ``input`` is repeatable.
ONNX_KEYS: tuple[str, ...] = (
    "input", "mode", "dtype", "amp", "optimizer", "freeze", "counting", "device", "tf32",
    "devices", "strategy", "interconnect", "input_grad", "filename", "data_dependent",
    "optimizer_kernels", "reserve", "channels_last", "dispatch", "stack",
)

#: Targets a request may name without ``--allow-import``: a model of torchvision or timm.
SAFE_TARGET = re.compile(r"(torchvision|timm):[A-Za-z0-9_][A-Za-z0-9_.\-]*")
#: ``package.module:factory``: imported only when the server allows it.
IMPORT_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:"
                           r"[A-Za-z_][A-Za-z0-9_]*")
#: What an uploaded file may be called in its report.
FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")


def _options(b: Mapping[str, Any], modes: Sequence[str] = MODES) -> dict[str, Any]:
    """The analysis options shared by models and ONNX files, type-checked and with the
    CLI's defaults, checked as ``cli/model.py`` checks its flags (without loading anything
    but the device table)."""
    from ..hardware.devices import get_device
    from ..hardware.distributed import get_interconnect

    o: dict[str, Any] = {
        "mode": _get_str(b, "mode", "train"),
        "dtype": _get_str(b, "dtype", None),
        "amp": _get_str(b, "amp", None),
        "optimizer": _get_str(b, "optimizer", "none"),
        "freeze": _get_str(b, "freeze", None),
        "counting": _get_str(b, "counting", "dense"),
        "device": _get_str(b, "device", None),
        "tf32": _get_bool(b, "tf32", False),
        "channels_last": _get_bool(b, "channels_last", False),
        "devices": _get_int(b, "devices", 1),
        "strategy": _get_str(b, "strategy", None),
        "interconnect": _get_str(b, "interconnect", None),
        "input_grad": _get_bool(b, "input_grad", False),
        "data_dependent": _get_str(b, "data_dependent", None),
        "optimizer_kernels": _get_str(b, "optimizer_kernels", None),
        "reserve": _get_str(b, "reserve", None),
        "dispatch": _get_str(b, "dispatch", None),
        "stack": _get_str(b, "stack", None),
    }
    for key, choices in (("mode", modes), ("amp", AMP_CHOICES), ("optimizer", OPTIMIZERS),
                         ("counting", COUNTINGS), ("strategy", STRATEGIES),
                         ("data_dependent", DATA_DEPENDENT),
                         ("optimizer_kernels", OPTIMIZER_KERNELS)):
        _choice(key, o[key], choices)
    if o["optimizer_kernels"] is not None and o["device"] is None:
        raise SpecError("optimizer_kernels", o["optimizer_kernels"], "has no effect without "
                        "device (it shapes the device's time estimate)")
    if o["optimizer_kernels"] is not None and (o["mode"] != "train"
                                               or o["optimizer"] == "none"):
        raise SpecError("optimizer_kernels", o["optimizer_kernels"], "has no effect without "
                        "an optimizer step (mode train and an optimizer other than none)")
    if not 1 <= o["devices"] <= MAX_DEVICES:
        raise SpecError("devices", o["devices"], f"from 1 to {MAX_DEVICES:,}")
    if o["mode"] != "train" and o["input_grad"]:
        raise SpecError("input_grad", True, "needs mode train (input gradients exist only in "
                        "a training step)")
    if o["mode"] != "train" and o["devices"] > 1:
        raise SpecError("mode", o["mode"], "devices > 1 needs mode train")
    if o["channels_last"] and o["device"] is None:
        raise SpecError("channels_last", True, "has no effect without device (it shapes the "
                        "device's time estimate)")
    if o["tf32"] and o["device"] is None:
        raise SpecError("tf32", True, "has no effect without device (it sets the fp32 matrix "
                        "peak of the device's roofline)")
    if o["stack"] is not None:
        if o["device"] is None:
            raise SpecError("stack", o["stack"], "has no effect without device (it sets the "
                            "host costs of the device's time estimate)")
        from ..hardware.stacks import get_stack

        get_stack(o["stack"], "stack")
    for key in ("strategy", "interconnect"):
        if o[key] is not None and o["devices"] == 1:
            raise SpecError(key, o[key], "has no effect without devices N (N >= 2): training "
                            "on one device is neither sharded nor communicates")
    from ..hardware.dispatch import dispatch_options

    o["dispatch_options"] = dispatch_options(
        get_device(o["device"]) if o["device"] is not None else None, o["dispatch"])
    if o["device"] is not None:
        dev = get_device(o["device"])
        if o["channels_last"]:
            from ..hardware.estimate import converts_layout, layout_refusal

            if not converts_layout(dev):
                raise SpecError("channels_last", True, layout_refusal(dev))
        if o["reserve"] is not None:
            from ..spec import parse_bytes

            if parse_bytes("reserve", o["reserve"]) >= dev.memory:
                raise SpecError("reserve", o["reserve"], f"must be less than {dev.name}'s "
                                f"memory ({dev.memory} bytes)")
    elif o["reserve"] is not None:
        raise SpecError("reserve", o["reserve"], "has no effect without device (it is taken "
                        "from the device's memory)")
    get_interconnect(o["interconnect"] or "nvlink4")
    return o


def model_params(body: object, allow_import: bool) -> dict[str, Any]:
    """The canonical parameters of a ``POST /api/model`` body. A target that would import
    code is refused (403) unless ``allow_import``; nothing is imported here."""
    from ..spec import parse_shape, split_inputs

    b = _object(body)
    _unknown(b, MODEL_KEYS)
    target = _get_str(b, "target", None)
    if target is None:
        raise ApiError(400, "target: required (torchvision:NAME or timm:NAME)", "target")
    if target.startswith("hf:"):
        check_hf_text(target)
    elif not SAFE_TARGET.fullmatch(target) or target.lower().endswith(".onnx"):
        if IMPORT_TARGET.fullmatch(target):
            if not allow_import:
                raise ApiError(403, f"target: {target!r} would import and run code; the "
                               "server analyses torchvision:NAME, timm:NAME and hf:ARCHITECTURE "
                               "only (start it with --allow-import to allow "
                               "package.module:factory)", "target")
        else:
            raise ApiError(400, f"target: got {target!r}; write torchvision:NAME, timm:NAME "
                           "or hf:ARCHITECTURE (an ONNX file goes to POST /api/onnx)", "target")
    options = _options(b, (*MODES, "generate"))
    features = feature_options(b, options)
    model_args = b.get("model_args", {})
    if not isinstance(model_args, dict) or not all(
            isinstance(k, str) and k.isascii() and k.isidentifier() for k in model_args):
        raise _wrong_type("model_args", model_args, "an object of constructor arguments "
                          '(e.g. {"num_classes": 10})')
    check_model_args(model_args)
    if options["mode"] == "generate":
        return {"kind": "model", "target": target, "inputs": [], "model_args": model_args,
                **options, **features}
    inputs = b.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise _wrong_type("inputs", inputs, "a list of shapes like '2x3x224x224'")
    if len(inputs) > MAX_INPUTS or any(len(x) > MAX_STR for x in inputs):
        raise ApiError(400, f"inputs: at most {MAX_INPUTS} entries of at most {MAX_STR} "
                       "characters", "inputs")
    for x in inputs:
        check_sizes("inputs", x)
    pos, _ = split_inputs("inputs", inputs)
    for shape in pos:
        parse_shape("inputs", shape)
    return {"kind": "model", "target": target, "inputs": list(inputs),
            "model_args": model_args, **options, **features}


def onnx_params(query: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The canonical parameters of ``POST /api/onnx`` from its query parameters (``input``
    repeatable; ``tf32``/``input_grad`` as ``true``/``false``/``1``/``0``)."""
    from ..spec import parse_count

    b: dict[str, Any] = {}
    inputs: list[str] = []
    for key, value in query:
        if key in ("format", "lang"):
            continue
        if key not in ONNX_KEYS:
            raise ApiError(400, f"{key}: unknown parameter; allowed: format, lang, "
                           + ", ".join(ONNX_KEYS), key)
        if len(value) > MAX_STR:
            raise ApiError(400, f"{key}: {len(value)} characters; at most {MAX_STR}", key)
        if key == "input":
            if len(inputs) == MAX_INPUTS:
                raise ApiError(400, f"input: at most {MAX_INPUTS} given", "input")
            check_sizes("input", value)
            inputs.append(value)
        elif key in b:
            raise ApiError(400, f"{key}: given more than once", key)
        elif key in ("tf32", "input_grad", "channels_last"):
            if value.lower() not in ("true", "false", "1", "0"):
                raise SpecError(key, value, "write true or false")
            b[key] = value.lower() in ("true", "1")
        elif key == "devices":
            b[key] = parse_count(key, value)
        else:
            b[key] = value
    filename = b.pop("filename", "model.onnx")
    if not FILENAME.fullmatch(filename) or not filename.lower().endswith(".onnx"):
        raise SpecError("filename", filename, "a plain file name ending in .onnx (letters, "
                        "digits, '_', '-', '.')")
    return {"kind": "onnx", "filename": filename, "inputs": inputs, **_options(b)}


def job_id(params: Mapping[str, Any], data_sha256: str | None = None) -> str:
    """The result id: a hex digest of the canonical JSON of ``params`` (and of the
    uploaded file's sha256)."""
    canon = json.dumps({"params": params, "sha256": data_sha256}, sort_keys=True,
                       separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- the worker


@dataclass(frozen=True)
class Outcome:
    """What a worker hands back (plain strings: exceptions with their own ``__init__``,
    such as SpecError, do not survive pickling): the JSON and HTML reports (English, and
    Chinese zlib-compressed: it is kept beside the English one in the cache), or the error
    to answer with."""

    json: str = ""
    html: str = ""
    html_zh: bytes = b""
    status: int = 200
    error: str = ""
    field: str | None = None

    def html_in(self, lang: str | None) -> str:
        """The HTML report in ``lang`` (``None``: English)."""
        if lang == "zh" and self.html_zh:
            import zlib

            return zlib.decompress(self.html_zh).decode("utf-8")
        return self.html


def warm_up() -> None:
    """Import what an analysis needs, so the first request to a worker does not pay it
    (the pool's initializer; Ctrl-C is the server's to handle, not the workers')."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import torch
        import torchvision  # noqa: F401  (the model zoo's targets)

        from ..hardware.answer import answer
        from ..hardware.devices import PRESETS
        from ..model import analyze
        from ..renderers import render

        # One tiny analysis pays what PyTorch and convcost initialise on first use (fake
        # tensors, decompositions, the formula registry: about 2 s), so that the first
        # request a fresh worker gets is timed for its own work only.
        tiny = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2),
                                   torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(2, 1))
        result = analyze(tiny, "2x1x1x1", mode="train", optimizer="adamw")
        hw = answer(result, PRESETS["h100-sxm"])
        render(result, "json", hardware=hw)
        render(result, "html", hardware=hw)
    except Exception:  # a missing torch is reported by the request that needs it
        pass


def run_analysis(params: dict[str, Any], onnx_path: str | None = None) -> Outcome:
    """Analyse a model (``params`` from :func:`model_params` / :func:`onnx_params`; for an
    ONNX file, ``onnx_path`` is the server's temporary copy of the upload) and write its
    JSON and HTML reports. Runs in a worker process; raises only a failed allocation
    (:func:`convcost.server.limits.is_out_of_memory`: the worker answers it and is replaced).
    """
    from .limits import is_out_of_memory

    try:
        return _analyse(params, onnx_path)
    except ApiError as e:
        return Outcome(status=e.status, error=e.error, field=e.field)
    except ConvCostError as e:
        if is_out_of_memory(e):
            raise
        err = spec_error(e)
        return Outcome(status=400, error=err.error, field=err.field)
    except RecursionError:
        return Outcome(status=400, error="the model nests too deeply to be analysed")
    except Exception as e:
        if is_out_of_memory(e):
            raise
        traceback.print_exc(file=sys.stderr)  # the server's log; the client gets no trace
        return Outcome(status=500, error="internal error")


def _analyse(params: dict[str, Any], onnx_path: str | None) -> Outcome:
    import contextlib
    import zlib
    from dataclasses import replace

    from ..hardware.answer import answer, fit_on
    from ..hardware.devices import get_device
    from ..hardware.distributed import assumed_interconnect, get_interconnect
    from ..model import analyze
    from ..renderers import render
    from ..spec import parse_input, split_inputs

    p = params
    if p["kind"] == "model" and p["target"].startswith("hf:"):
        check_hf_architecture(p["target"])
    if p["mode"] == "generate":
        with contextlib.redirect_stdout(sys.stderr):
            gen = run_generation(p)
        return Outcome(json=render(gen, "json"))
    device = get_device(p["device"]) if p["device"] is not None else None
    if device is not None and p.get("reserve") is not None:
        from ..spec import parse_bytes

        device = replace(device, reserve=parse_bytes("reserve", p["reserve"]))
    link = (get_interconnect(p["interconnect"]) if p["interconnect"] is not None
            else assumed_interconnect(device, "interconnect"))
    freeze = p["freeze"]
    frozen = None
    options: dict[str, Any] = dict(
        checkpoint=p.get("checkpoint"),
        optimizer_foreach=(device is not None and device.arch != "cpu"
                           and p.get("optimizer_kernels") not in ("per-parameter", "fused")),
        optimizer_fused=p.get("optimizer_kernels") == "fused", **p["dispatch_options"])
    kwargs: dict[str, Any] | None = None
    with contextlib.redirect_stdout(sys.stderr):  # the model's prints go to the log
        if p["kind"] == "onnx":
            assert onnx_path is not None
            name = p["filename"]
            model, pos = _load_onnx(onnx_path, name, p["inputs"], freeze)
            frozen, freeze = freeze, None
        else:
            from ..frontends.targets import build_target

            name = p["target"]
            if os.path.exists(name):  # never a file, whatever the current directory holds
                raise ApiError(400, f"target: {name!r} names a file", "target")
            pos, kw = split_inputs("inputs", p["inputs"])
            kwargs = {k: parse_input("inputs", v) for k, v in kw.items()} or None
            try:
                built = build_target(name, p.get("model_args") or None)
                model, construction = built.model, built.device
            except SystemExit as e:
                raise SpecError("target", name, f"the model's code called sys.exit({e.code!r})"
                                ) from e
            from ..frontends.positions import check_token_inputs

            check_token_inputs(model, "inputs", pos, kw)
        result = analyze(model, pos, kwargs=kwargs, mode=p["mode"], counting=p["counting"],
                         name=name, dtype=p["dtype"], amp=p["amp"], optimizer=p["optimizer"],
                         freeze=freeze, input_grad=p["input_grad"],
                         data_dependent=p.get("data_dependent"), **options)
    hw = answer(result, device, tf32=p["tf32"], channels_last=p["channels_last"],
                devices=p["devices"], stack=p.get("stack"),
                strategy=p["strategy"] or "ddp", interconnect=link,
                foreach=p.get("optimizer_kernels") != "per-parameter")
    if p.get("fit") and device is not None:  # as convcost model --fit
        found = fit_on(device, model, pos, kwargs=kwargs, devices=p["devices"],
                       strategy=p["strategy"] or "ddp", dtype=p["dtype"], amp=p["amp"],
                       optimizer=p["optimizer"], freeze=freeze,
                       input_grad=p["input_grad"], **options)
        hw = replace(hw, fit=found, fit_device=device)
    if p["kind"] == "onnx":
        result = model.relabel(result, frozen)
    else:
        result = replace(result, construction=construction)
    return Outcome(json=render(result, "json", hardware=hw, timeline=False, ops=False),
                   html=render(result, "html", hardware=hw),
                   html_zh=zlib.compress(render(result, "html", hardware=hw, lang="zh")
                                         .encode("utf-8"), 6))


def _load_onnx(path: str, name: str, inputs: list[str],
               freeze: str | None) -> tuple[Any, list[str]]:
    """The uploaded ONNX model and its inputs as shapes (as ``cli/model.py`` loads an ONNX
    TARGET); errors name the upload, not the temporary file."""
    from ..frontends.onnx import load_onnx

    _refuse_external_data(path, name)
    try:
        model, specs = load_onnx(path, inputs, freeze)
    except SpecError as e:
        if e.field == "path":
            raise SpecError("body", name, e.allowed.replace(path, name)) from None
        raise
    return model, ["x".join(map(str, s.shape)) + ":" + s.dtype
                   + (":grad" if s.requires_grad else "") for s in specs]


def _refuse_external_data(path: str, name: str) -> None:
    """An upload whose tensors live in external data files is refused: those files would be
    looked up next to the upload (a request never names a file)."""
    try:
        import onnx
        from onnx.external_data_helper import uses_external_data
    except ImportError:
        return  # load_onnx says the onnx package is missing
    model = onnx.ModelProto()
    try:
        with open(path, "rb") as fh:
            model.ParseFromString(fh.read())
    except Exception:
        return  # load_onnx reports the file as corrupt
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
        tensors += [t for a in node.attribute for t in a.tensors]
    if any(uses_external_data(t) for t in tensors):
        raise SpecError("body", name, "references external data files, which the server "
                        "does not read: save the model with its weights inside "
                        "(onnx.save(model, path, save_as_external_data=False))")
