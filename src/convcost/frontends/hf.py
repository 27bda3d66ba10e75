"""Hugging Face ``transformers`` targets (``hf:SPEC``): a model built from its config, with
random weights, never downloaded (imports torch and transformers).

``SPEC`` is, in this order:

* an architecture class of ``transformers`` (``LlamaForCausalLM``, ``GPT2LMHeadModel``,
  ``BertModel``, ``MistralForCausalLM``, ``Qwen2ForCausalLM``, ``MixtralForCausalLM``…):
  its config class with the library's defaults (``LlamaForCausalLM``: the 7 B shape);
* a local path: a model directory holding ``config.json``, or a JSON config file;
* a model id already in the local Hugging Face cache (``meta-llama/Llama-2-7b-hf``):
  only its cached ``config.json`` is read (``local_files_only=True``).

Nothing is ever downloaded: ``HF_HUB_OFFLINE=1`` is set (in the environment, and in
``huggingface_hub.constants`` while building, for a hub imported before) and everything
runs with socket connections refused (:func:`~convcost.frontends.targets.no_network`).
A name that is none of these is a one-line :class:`~convcost.errors.SpecError`.

``overrides`` (the CLI's ``--model-arg KEY=VALUE``) set config fields
(``num_hidden_layers=80``, ``hidden_size=8192``); a key that is not a field of the config is a
SpecError naming ``model_args``; a value the config class refuses (transformers' checks:
``hidden_size=66`` with 32 heads, ``hidden_size=64.5``, ``num_hidden_layers='two'``) is a
SpecError naming ``model_args.KEY`` (the CLI's ``--model-arg KEY``) with transformers' reason.
Two keys choose implementations instead of fields:

* ``attn_implementation`` — ``"sdpa"`` or ``"eager"``; left out, transformers' own default
  (``sdpa`` where the architecture supports it, else ``eager``: ``hf:BloomModel``), the model's
  ``config._attn_implementation`` saying which (:func:`attention_implementation`). Both
  trace on fake tensors: ``sdpa`` is one ``_scaled_dot_product_*`` op per layer (counted by
  the attention formulas), ``eager`` the explicit ``matmul``/``softmax``/``matmul``. Other
  implementations transformers knows (``flash_attention_2``, ``flex_attention``, ``paged|…``,
  hub kernels) are refused: they do not run on fake CPU tensors.
* ``experts_implementation`` (mixture-of-experts models) — ``"batched_mm"`` (the default),
  ``"grouped_mm"`` or ``"eager"``. ``batched_mm`` has only static shapes, so it traces in
  every dtype and AMP mode (it gathers each token's expert weights: its memory is that of
  this implementation). ``grouped_mm`` traces only in bfloat16 (``--dtype bfloat16``: the
  meta kernel of ``torch._grouped_mm`` accepts no float32) and ``eager`` loops over the
  experts a token hit, which depends on the data (not traceable on meta).

The model is built on the meta device when ``meta`` (no memory, no initialisation: the
70 B shape costs nothing to build) and on the CPU, with the reason, when that raises. Every
call of it builds the attention masks a real run builds for the inputs given, on fake
tensors too (:mod:`convcost.frontends.hf_masks`): no mask and SDPA's ``is_causal`` without an
``attention_mask``, the user's (padding) mask with one.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import SpecError
from .hf_masks import follow_real_masks
from .offline import NetworkAttemptError, no_network

#: Attention implementations a model may be built with (left out: transformers' default).
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
#: Expert implementations of mixture-of-experts models (the first is the default).
EXPERTS_IMPLEMENTATIONS = ("batched_mm", "grouped_mm", "eager")


def load_hf(spec: str, overrides: Mapping[str, Any], *, meta: bool = True) -> tuple[Any, str]:
    """Build the transformers model named by ``spec`` with config fields ``overrides``;
    return ``(model, where)`` with ``where`` ``"meta"``, ``"cpu"`` or ``"cpu (why)"``.
    Raises :class:`SpecError` naming ``target`` or ``model_args``."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # read by huggingface_hub when it is imported
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    target = "hf:" + spec
    try:
        import transformers
    except ImportError:
        raise SpecError("target", target,
                        "transformers is not installed (pip install transformers)") from None
    args = dict(overrides)
    attn = _attention(args)
    experts = _choice(args, "experts_implementation", EXPERTS_IMPLEMENTATIONS)
    with _quiet(transformers), _offline():
        config, arch = _config(transformers, spec, target)
        config = _override(transformers, config, args)
        if attn is not None:
            config._attn_implementation = attn
        config._experts_implementation = experts
        model, where = _build(transformers, config, arch, target, meta)
    follow_real_masks(model)
    return model, where


def attention_implementation(model: Any) -> str | None:
    """The attention implementation a transformers ``model`` was built with (``"sdpa"``,
    ``"eager"``), or None for a model without a transformers config."""
    value = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return value if isinstance(value, str) else None


def _build(transformers: Any, config: Any, arch: Any, target: str,
           meta: bool) -> tuple[Any, str]:
    if meta:
        import torch

        try:
            with no_network(), torch.device("meta"):
                model = _make(transformers, config, arch)
            return model, "meta"
        except NetworkAttemptError as e:
            raise SpecError("target", target, _describe(e)) from e
        except Exception as e:
            why = f"cpu (building on the meta device raised {_describe(e)})"
            return _on_cpu(transformers, config, arch, target), why
    return _on_cpu(transformers, config, arch, target), "cpu"


def _attention(args: dict[str, Any]) -> str | None:
    """The ``attn_implementation`` asked for (None: transformers' default), checked."""
    value = args.pop("attn_implementation", None)
    if value is None:
        return None
    if value in ATTN_IMPLEMENTATIONS:
        return str(value)
    allowed = "allowed: " + ", ".join(ATTN_IMPLEMENTATIONS) + " (left out: transformers' default)"
    text = str(value)
    if text.startswith(("flash_attention", "flex_attention", "paged")) or "/" in text:
        raise SpecError("model_args", f"attn_implementation={value!r}",
                        "it runs kernels the fake-tensor trace cannot follow; "
                        + allowed)
    raise SpecError("model_args", f"attn_implementation={value!r}", allowed)


def _choice(args: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = args.pop(key, allowed[0])
    if value not in allowed:
        raise SpecError("model_args", f"{key}={value!r}", "allowed: " + ", ".join(allowed))
    return str(value)


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """huggingface_hub's offline switch on while the block runs: it reads ``HF_HUB_OFFLINE``
    once, when imported, so an already imported hub (another library imported it first)
    would still contact the Hub (user-agent registry, cache checks) without this."""
    try:
        constants: Any = importlib.import_module("huggingface_hub.constants")
    except ImportError:
        yield
        return
    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """transformers' warnings (config sanity notes, cache notices) silenced while building."""
    logging = transformers.utils.logging
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _config(transformers: Any, spec: str, target: str) -> tuple[Any, Any]:
    """``(config, architecture class or None)`` of ``spec`` (see the module docstring)."""
    if spec.isidentifier() and not os.path.exists(spec):
        arch = _architecture(transformers, spec)
        if arch is not None:
            return _given(arch.config_class, {}), arch
    if os.path.exists(spec):
        return _local_config(transformers, spec, target), None
    try:
        with no_network():
            config = transformers.AutoConfig.from_pretrained(spec, local_files_only=True)
            raw, _ = type(config).get_config_dict(spec, local_files_only=True)
        return _given(type(config), raw), None
    except Exception as e:
        if spec.isidentifier():
            hint = _hint(spec, _architecture_names(transformers))
            raise SpecError("target", target, f"not a transformers architecture{hint}, nor a "
                            "local path nor a model in the local Hugging Face cache (nothing "
                            "is downloaded)") from e
        raise SpecError("target", target, "not a local path nor a model in the local Hugging "
                        "Face cache (nothing is downloaded); give a directory holding "
                        "config.json, a config file or an architecture such as "
                        "LlamaForCausalLM") from e


def _given(config_class: Any, fields: Mapping[str, Any]) -> Any:
    """``config_class(**fields)``, remembering ``fields`` (what the file or the defaults
    said) so that overrides rebuild it from them rather than from derived values."""
    fields = {k: v for k, v in fields.items() if k not in ("model_type", "transformers_version")}
    config = config_class(**fields)
    config._convcost_given = fields
    return config


def _architecture(transformers: Any, name: str) -> Any:
    """The ``transformers.PreTrainedModel`` subclass called ``name``, or None."""
    try:
        obj = getattr(transformers, name)
    except (AttributeError, ImportError, RuntimeError):
        return None
    if isinstance(obj, type) and issubclass(obj, transformers.PreTrainedModel) \
            and getattr(obj, "config_class", None) is not None:
        return obj
    return None


def _architecture_names(transformers: Any) -> list[str]:
    """Names transformers exports that look like model classes (no import of each)."""
    return [n for n in dir(transformers)
            if n[:1].isupper() and ("Model" in n or "For" in n) and "Config" not in n]


def _local_config(transformers: Any, path: str, target: str) -> Any:
    """The config of a local model directory or JSON config file."""
    try:
        with no_network():
            if os.path.isdir(path):
                config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
                raw, _ = type(config).get_config_dict(path, local_files_only=True)
                return _given(type(config), raw)
            with open(path, encoding="utf-8") as f:
                fields = json.load(f)
            if not isinstance(fields, dict) or "model_type" not in fields:
                raise ValueError("the JSON has no model_type")
            kind = fields.pop("model_type")
            config = transformers.AutoConfig.for_model(kind, **fields)
            return _given(type(config), fields)
    except Exception as e:
        raise SpecError("target", target, f"reading its config raised {_describe(e)}") from e


def _override(transformers: Any, config: Any, args: Mapping[str, Any]) -> Any:
    """``config`` with fields ``args``, built anew so that derived fields follow
    (``head_dim`` from ``hidden_size // num_attention_heads`` when the config did not set it)."""
    fields = sorted(config.to_dict())
    for key in args:
        if not hasattr(config, key):
            raise SpecError("model_args", key, f"not a field of {type(config).__name__}"
                            f"{_hint(key, fields)}")
    if not args:
        return config
    given = dict(getattr(config, "_convcost_given", {}))
    try:
        return type(config)(**{**given, **args})
    except Exception as e:  # transformers' own checks (strict dataclass validators...)
        culprit = _culprit(config, given, args, e)
        field = "model_args" if culprit is None else f"model_args.{culprit}"
        value: Any = dict(args) if culprit is None else args[culprit]
        raise SpecError(field, value, f"{type(config).__name__} refuses it: "
                        f"{_reason(e)}") from e


def _culprit(config: Any, given: Mapping[str, Any], args: Mapping[str, Any],
             e: BaseException) -> str | None:
    """The override that ``e`` (raised building the config with every override) is about:
    the field a field validator names, else the one override that alone still fails,
    else None (only a combination fails)."""
    named = re.search(r"field '(\w+)'", str(e))
    if named and named.group(1) in args:
        return named.group(1)
    if len(args) == 1:
        return next(iter(args))
    for key, value in args.items():
        try:
            type(config)(**{**given, key: value})
        except Exception:
            return key
    return None


def _reason(e: BaseException) -> str:
    """The innermost cause of ``e`` on one line (a strict-dataclass error wraps the
    validator's ValueError/TypeError), without its exception class when it is a plain
    ValueError or TypeError."""
    while e.__cause__ is not None:
        e = e.__cause__
    text = " ".join(str(e).split())
    if len(text) > 300:
        text = text[:297] + "..."
    if type(e) in (ValueError, TypeError) and text:
        return text
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _make(transformers: Any, config: Any, arch: Any) -> Any:
    """The model of ``config``: ``arch(config)``, else the class its ``architectures`` names,
    else a causal-LM head, else the bare model."""
    if arch is None:
        for name in getattr(config, "architectures", None) or ():
            arch = _architecture(transformers, name)
            if arch is not None:
                break
    if arch is not None:
        return arch(config)
    try:
        return transformers.AutoModelForCausalLM.from_config(config)
    except ValueError:  # no causal-LM head for this kind of config
        return transformers.AutoModel.from_config(config)


def _on_cpu(transformers: Any, config: Any, arch: Any, target: str) -> Any:
    try:
        with no_network():
            return _make(transformers, config, arch)
    except Exception as e:
        raise SpecError("target", target, f"building the model raised {_describe(e)}") from e


def _hint(name: str, names: list[str]) -> str:
    from ..vocab import did_you_mean

    return did_you_mean(name, names)


def _describe(e: BaseException) -> str:
    """``"ValueError: bad thing"`` on one line."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
