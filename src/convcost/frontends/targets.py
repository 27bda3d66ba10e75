"""Resolve a model target (the CLI's TARGET) into a ``torch.nn.Module`` (imports torch).

* ``torchvision:NAME`` — ``torchvision.models.get_model(NAME, weights=None, …)`` with
  every pretrained-weight argument of the builder (``weights``, ``weights_backbone``, any
  other ``weights_*``) set to ``None``: random weights, nothing is downloaded.

No torchvision or timm target ever reaches the network: it is built with socket connections
refused
(:func:`no_network`), so a builder that still tries to download (a pretrained-weight
argument convcost does not know) is a one-line :class:`SpecError` naming ``target`` and the
arguments that were set, never a download and never a hang.
* ``timm:NAME`` — ``timm.create_model(NAME, pretrained=False)`` when timm is installed.
* ``package.module:factory`` — imports ``package.module`` (found on the import path with the
  current directory first, as ``python -m`` does) and calls ``factory()`` (or, when
  ``factory`` is an ``nn.Module`` instance, uses it as it is). This runs that code, as
  importing it would; anything it raises becomes a one-line :class:`SpecError` naming
  ``target``, chained from the original exception.
* a path ending in ``.onnx`` (or any existing file) — an ONNX model, read without executing
  anything (:func:`convcost.frontends.onnx.load_onnx`). The CLI passes ``--input NAME=SHAPE``
  to it; :func:`load_target` alone needs a graph whose input shapes are all static.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, NamedTuple

from ..errors import SpecError
from .offline import NetworkAttemptError, empty_parameters, no_network


def is_onnx_target(target: str) -> bool:
    """True when ``target`` names an ONNX file: it ends in ``.onnx`` or is an existing file."""
    return target.lower().endswith(".onnx") or os.path.isfile(target)


class Built(NamedTuple):
    """A model built from a target, and where: ``"meta"`` (no memory, no initialisation),
    ``"cpu"``, or ``"cpu (…why…)"`` when building on meta failed or would not do."""

    model: Any
    device: str


def load_target(target: str, model_args: Mapping[str, Any] | None = None) -> Any:
    """Build the model named by ``target`` (on the CPU); raise :class:`SpecError` naming
    what is wrong. ``model_args`` are constructor keyword arguments (``--model-arg``)."""
    return build_target(target, model_args, meta=False).model


def build_target(target: str, model_args: Mapping[str, Any] | None = None, *,
                 meta: bool = True) -> Built:
    """Build the model named by ``target`` with ``model_args`` as constructor keyword
    arguments. torchvision and timm models are built on the meta device when ``meta``
    (nothing allocated or initialised: a 7-billion-parameter model costs nothing to build),
    on the CPU when that fails (the reason is returned) and for torchvision's detection
    models (which run for real on their data-dependent ops); other targets on the CPU."""
    args = dict(model_args or {})
    if is_onnx_target(target):
        if args:
            raise SpecError("model_args", args, "an ONNX file takes no constructor arguments")
        from .onnx import load_onnx

        return Built(load_onnx(target)[0], "cpu")
    kind, sep, rest = target.partition(":")
    if not sep or not kind or not rest:
        raise SpecError(
            "target", target, "write torchvision:NAME, timm:NAME, package.module:factory or "
            "the path of an .onnx file"
        )
    import torch

    if kind == "torchvision":
        import torchvision

        names = torchvision.models.list_models()
        if rest not in names:
            raise SpecError("target", target, "not a torchvision model"
                            f"{_hint(rest, names)}; see torchvision.models.list_models()")
        off = weight_arguments(torchvision.models.get_model_builder(rest))
        given = [k for k in off if k in args and args[k] is not None]
        if given:
            raise SpecError("model_args", given[0], "pretrained weights are never loaded "
                            "(nothing is downloaded); leave it out")
        kw = {**args, **dict.fromkeys(off)}
        shown = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        detection = rest in torchvision.models.list_models(module=torchvision.models.detection)
        return _on_meta(target, f"torchvision.models.get_model({rest!r}, {shown})",
                        lambda: torchvision.models.get_model(rest, **kw),
                        meta and not detection,
                        "cpu (a detection model: its data-dependent ops run for real)"
                        if meta and detection else "cpu")
    elif kind == "timm":
        try:
            timm = importlib.import_module("timm")
        except ImportError:
            raise SpecError("target", target, "timm is not installed (pip install timm)") from None
        names = timm.list_models()
        if rest not in names:
            raise SpecError("target", target,
                            f"not a timm model{_hint(rest, names)}; see timm.list_models()")
        if args.get("pretrained"):
            raise SpecError("model_args", "pretrained", "pretrained weights are never loaded "
                            "(nothing is downloaded); leave it out")
        kw = {**args, "pretrained": False}
        shown = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        return _on_meta(target, f"timm.create_model({rest!r}, {shown})",
                        lambda: timm.create_model(rest, **kw), meta, "cpu")
    elif kind == "hf":
        from .hf import load_hf

        model, where = load_hf(rest, args, meta=meta)
        return Built(model, where)
    else:
        module = _import(target, kind)
        obj = _build(target, f"{kind}.{rest}", lambda: getattr(module, rest, None))
        if isinstance(obj, torch.nn.Module):  # a module instance: used as it is
            if args:
                raise SpecError("model_args", args, f"{target} is a module instance, not a "
                                "factory: it takes no constructor arguments")
            return Built(obj, "cpu")
        if not callable(obj):
            raise SpecError("target", target, f"module {kind!r} has no callable or nn.Module "
                            f"{rest!r}{_hint(rest, _public_names(module))}")
        model = _build(target, f"{rest}()", lambda: obj(**args))
        _check_module(target, model)
        return Built(model, "cpu")


def _check_module(target: str, model: Any) -> None:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise SpecError("target", target, f"built a {type(model).__name__}, not a torch.nn.Module")


def _on_meta(target: str, what: str, make: Callable[[], Any], meta: bool,
             cpu_label: str) -> Built:
    """``make()`` on the meta device when ``meta`` (on the CPU, with the reason, when that
    raises), else on the CPU; the network refused either way."""
    import torch

    if meta:
        try:
            with no_network(), torch.device("meta"):
                model = make()
            _check_module(target, model)
            return Built(model, "meta")
        except NetworkAttemptError:
            pass  # reported by the CPU build below, with its arguments
        except Exception as e:  # any failure: try parameters only, then the CPU
            try:  # the constructor computes with tensors: only its parameters go to meta
                with no_network(), empty_parameters():
                    model = make()
                _check_module(target, model)
                return Built(model, "meta")
            except Exception:  # build it on the CPU, saying why
                model = _build(target, what, make, offline=True)
                _check_module(target, model)
                return Built(model, f"cpu (building on the meta device raised {_describe(e)})")
    model = _build(target, what, make, offline=True)
    _check_module(target, model)
    return Built(model, cpu_label)


def weight_arguments(builder: Callable[..., Any]) -> list[str]:
    """The parameters of a torchvision model builder that load pretrained weights
    (``weights``, ``weights_backbone``, any ``weights_*`` or ``*_weights``): set to ``None``
    they leave the model randomly initialised."""
    import inspect

    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return ["weights"]
    found = [p for p in params
             if p == "weights" or p.startswith("weights_") or p.endswith("_weights")]
    return found or ["weights"]


def _hint(name: str, names: Iterable[str]) -> str:
    """Close matches of ``name`` among ``names`` as a ``" (did you mean …?)"`` hint."""
    from ..vocab import did_you_mean

    return did_you_mean(name, names)


def _public_names(module: ModuleType) -> list[str]:
    return [n for n in vars(module) if not n.startswith("_")]


def _import(target: str, name: str) -> ModuleType:
    """Import the module of a ``package.module:factory`` target. Anything its code raises
    (a SyntaxError, an exception at import, ``sys.exit``) is a SpecError naming ``target``,
    chained from the original."""
    cwd = os.getcwd()
    added = cwd not in sys.path  # as `python -m` does: the current directory comes first
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name) and name[len(e.name):][:1] in ("", "."):
            raise SpecError("target", target, f"no module named {e.name!r}") from e
        raise SpecError("target", target,
                        f"importing module {name!r} raised {_describe(e)}") from e
    except (Exception, SystemExit) as e:  # the user's code failed: say where, no traceback
        raise SpecError("target", target,
                        f"importing module {name!r} raised {_describe(e)}") from e
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _build(target: str, what: str, make: Callable[[], Any], offline: bool = False) -> Any:
    """``make()`` (with the network refused when ``offline``: torchvision and timm builders);
    anything it raises is a SpecError naming ``target`` (chained)."""
    try:
        if not offline:
            return make()
        with no_network():
            return make()
    except (Exception, SystemExit) as e:  # the user's code failed: say where, no traceback
        raise SpecError("target", target, f"{what} raised {_describe(e)}") from e


def _describe(e: BaseException) -> str:
    """``"ValueError: bad thing"`` (``"SystemExit: 3"``) on one line."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
