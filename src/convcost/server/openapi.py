"""The OpenAPI 3.1 description of the server's API, served at ``/api/openapi.json``.

Written by hand (the server uses Starlette, which generates none, and validates with
convcost's own errors, not a schema library); there are no interactive docs, whose usual
JavaScript comes from a CDN and would not load offline.

Decisions:

* **The document is as strict as the server's type checks, and no stricter.** Every request
  the server refuses with 422 (a wrong JSON type, a ``model_args`` key that is not an
  identifier) or with a stated bound (string lengths, ``inputs`` entries, ``devices``,
  ``model_args`` numbers, lengths and nesting, layer integers below 10**30) is invalid
  here; a request valid here is answered 200 or refused by a value rule (400: unknown
  model, a layer whose output is empty, a ``model_args`` key that would open a file...,
  each said in its ``description``), 403 (an import target) or a server state (503, 504).
  ``tests/test_server_hostile.py`` runs schemathesis with ``--checks all`` against it.
* Every status the server can answer is listed where it occurs: 307 (a path with a
  trailing slash is redirected, with a relative ``Location``, to the documented one), 400
  (a bad value, or a malformed ``Host``), 403, 404, 405, 408 (the body did not arrive in
  time), 413, 415, 421 (a ``Host`` that is not this server's), 422, 503 (too many uploads
  at once), 504 (the analysis timed out) and 500 (a bug).
"""

from __future__ import annotations

from typing import Any

from ..hardware.stacks import default_stack, stacks
from .bounds import (
    MAX_DEVICES,
    MAX_INPUTS,
    MAX_STR,
    MAX_TOKENS,
    MODEL_ARG_DEPTH,
    MODEL_ARG_FLOAT,
    MODEL_ARG_INT,
    MODEL_ARG_ITEMS,
    MODEL_ARG_STR,
)
from .requests import CONV_KEYS, MODEL_KEYS, ONNX_KEYS

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}
#: Every integer of a layer is below 10**30 (:data:`convcost.spec.MAX_LAYER_INT`).
_LAYER_INT = {"type": "integer", "maximum": 10**30 - 1}
_STR = {"type": "string", "maxLength": MAX_STR}
_INTS = {"oneOf": [_LAYER_INT, {"type": "array", "items": _LAYER_INT},
                   {**_STR, "examples": ["3x1"]}]}
#: Statuses any request can get.
_ANY = (307, 405, 421, 500)
_REPORT = {"description": "the report: the JSON of the CLI's --format json, or with "
           "format=html the HTML report",
           "content": {"application/json": {"schema": {"type": "object"}},
                       "text/html": {"schema": {"type": "string"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    """The error responses ``codes`` and those of :data:`_ANY` (and 400 for a bad Host)."""
    text = {400: "a bad field value (or a malformed Host header)",
            403: "the target would import code", 404: "not found",
            405: "method not allowed", 408: "the body did not arrive in time (convcost "
            "serve --read-timeout)", 413: "the body is too large (JSON: 1 MiB; uploads: "
            "convcost serve --max-upload-mb)", 415: "wrong Content-Type",
            421: "the Host header does not name this server (convcost serve --allowed-host)",
            422: "malformed JSON, nested over 16 deep, or a wrong JSON type",
            500: "a bug in the server (logged there with its traceback)",
            503: "busy: as many uploads as convcost serve --max-uploads are being analysed",
            504: "the analysis took over convcost serve --timeout"}
    out: dict[str, Any] = {}
    for c in sorted({*codes, *_ANY, 400}):
        if c == 307:
            out["307"] = {"description": "the path with a trailing slash redirects here "
                          "(relative Location)"}
        else:
            out[str(c)] = {"description": text[c],
                           "content": {"application/json": {"schema": _ERROR}}}
    return out


def _model_arg(depth: int) -> dict[str, Any]:
    """The schema of a ``model_args`` value at nesting ``depth`` (containers up to
    ``MODEL_ARG_DEPTH`` deep)."""
    scalars: list[dict[str, Any]] = [
        {"type": "null"}, {"type": "boolean"},
        {"type": "integer", "minimum": -MODEL_ARG_INT, "maximum": MODEL_ARG_INT},
        {"type": "number", "not": {"type": "integer"}, "minimum": -MODEL_ARG_FLOAT,
         "maximum": MODEL_ARG_FLOAT},
        {"type": "string", "maxLength": MODEL_ARG_STR,
         "pattern": "^([A-Za-z0-9_][A-Za-z0-9_+. -]*)?$"}]
    if depth >= MODEL_ARG_DEPTH:
        return {"anyOf": scalars}
    inner = _model_arg(depth + 1)
    return {"anyOf": [*scalars, {"type": "array", "maxItems": MODEL_ARG_ITEMS, "items": inner},
                      {"type": "object", "maxProperties": MODEL_ARG_ITEMS,
                       "propertyNames": _ARG_NAME, "additionalProperties": inner}]}


_ARG_NAME = {"type": "string", "maxLength": MODEL_ARG_STR, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
_JSON = {"application/json": {"schema": {"type": "object"}}}


def _onnx_query(key: str, choices: dict[str, list[str | None]]) -> dict[str, Any]:
    """The schema of the ONNX route's query parameter ``key`` (all are text)."""
    if key in ("tf32", "input_grad", "channels_last"):
        return {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$"}
    if key == "devices":
        return {"type": "string", "pattern": "^[0-9]+$",
                "description": f"from 1 to {MAX_DEVICES}"}
    if key == "input":
        return {"type": "array", "items": _STR, "maxItems": MAX_INPUTS}
    if key == "filename":
        return {"type": "string", "default": "model.onnx",
                "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,94}\.[Oo][Nn][Nn][Xx]$"}
    if key in choices:
        return {"enum": [c for c in choices[key] if c is not None]}
    return _STR


def _format_param(html: str) -> dict[str, Any]:
    return {"name": "format", "in": "query", "required": False,
            "schema": {"enum": ["json", "html"], "default": "json"}, "description": html}


def openapi(version: str, static: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI document for convcost ``version`` (``static``: the page's file names)."""
    conv_props: dict[str, Any] = {k: _INTS for k in ("kernel", "stride", "dilation",
                                                     "output_padding", "input_size")}
    conv_props.update({k: {**_LAYER_INT, "minimum": 1}
                       for k in ("in_channels", "out_channels", "groups", "batch")})
    conv_props.update({k: {"type": "boolean"} for k in ("bias", "transposed", "input_grad")})
    conv_props["padding"] = {"oneOf": [
        _LAYER_INT,
        {"type": "array", "items": {"oneOf": [
            _LAYER_INT,
            {"type": "array", "items": _LAYER_INT, "minItems": 2, "maxItems": 2}]}},
        {**_STR, "examples": ["same", "valid", "1:2x0"]}]}
    conv_props["dtype"] = {**_STR, "default": "float32"}
    conv_props["counting"] = {"enum": ["dense", "skip-padding"], "default": "dense"}
    assert set(conv_props) == set(CONV_KEYS)
    opt = {"type": ["string", "null"], "maxLength": MAX_STR}
    model_props: dict[str, Any] = {
        "target": {"type": "string", "examples": ["torchvision:resnet18", "timm:resnet50",
                                                   "hf:GPT2LMHeadModel"],
                   "description": "torchvision:NAME, timm:NAME or hf:ARCHITECTURE (a "
                   "transformers class such as GPT2LMHeadModel, built from its config with "
                   "model_args as config fields; hub names are refused: the server is "
                   "offline); package.module:factory only "
                   "when the server runs with --allow-import (403 otherwise)"},
        "inputs": {"type": "array", "items": _STR, "maxItems": MAX_INPUTS,
                   "examples": [["2x3x224x224"]]},
        "mode": {"enum": ["train", "inference", "generate"], "default": "train",
                 "description": "generate: a causal LM's prefill and decode steps with the KV "
                 "cache (hf: targets; needs prompt_len and new_tokens, takes no inputs; JSON "
                 "only)"},
        "checkpoint": {**opt, "description": "activation-checkpointing what-if: modules whose "
                       "path matches this regex are checkpointed (mode train)"},
        "fit": {"type": "boolean", "description": "the largest batch whose training peak fits "
                "device's memory (needs device, mode train)"},
        "prompt_len": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS,
                       "description": "prompt tokens per sequence (mode generate)"},
        "new_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS,
                       "description": "tokens generated per sequence (mode generate)"},
        "batch": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS,
                  "description": "sequences generated at once (mode generate; default 1)"},
        "dtype": opt, "amp": {"enum": ["bf16", "fp16", None]},
        "optimizer": {"enum": ["none", "sgd", "momentum", "adam", "adamw"], "default": "none"},
        "freeze": opt, "counting": {"enum": ["dense", "skip-padding"], "default": "dense"},
        "device": opt, "tf32": {"type": "boolean"},
        "channels_last": {"type": "boolean", "description": "tensors in torch.channels_last "
                          "(NHWC): tensor-core convolutions convert no layout in the time "
                          "estimate (needs device)"},
        "devices": {"type": "integer", "minimum": 1, "maximum": MAX_DEVICES},
        "strategy": {"enum": ["ddp", "zero1", "zero2", "zero3", "fsdp", None]},
        "interconnect": opt, "input_grad": {"type": "boolean"},
        "data_dependent": {"enum": ["bound", "run", None],
                           "description": "detection models: data-dependent sizes at the "
                           "model's limits (bound, the default) or computed (run)"},
        "optimizer_kernels": {"enum": ["foreach", "per-parameter", "fused", None],
                              "description": "the optimizer's kernels in the time estimate"},
        "dispatch": {"enum": ["cpu", "cuda", None],
                     "description": "the dispatch path traced: cuda (fake CUDA tensors, CUDA's "
                     "kernel choices; the default with a GPU device) or cpu"},
        "stack": {"enum": [*stacks(), None],
                  "description": "software stack of the time estimate's host costs "
                  "(default " + default_stack() + ")"},
        "model_args": {
            "type": "object", "maxProperties": MODEL_ARG_ITEMS, "propertyNames": _ARG_NAME,
            "additionalProperties": _model_arg(0),
            "description": "constructor arguments (as the CLI's --model-arg KEY=VALUE), e.g. "
            "{\"num_classes\": 10}. Never a file or a URL: refused with 400 before anything "
            "is built are keys that would be opened (checkpoint_path, pretrained_cfg, "
            "pretrained_cfg_overlay, file, cache_dir, any key ending in _path, _file, _dir, "
            "_url ...), pretrained/weights other than false or null, and strings with a "
            "'..' or a file suffix (.pth, .json, .safetensors ...)"},
        "reserve": {**opt, "description": "memory of the device PyTorch cannot use (as the "
                    "CLI's --reserve), e.g. \"2GiB\""},
    }
    assert set(model_props) == set(MODEL_KEYS)
    enums = {k: v["enum"] for k, v in model_props.items() if "enum" in v}
    enums["mode"] = ["train", "inference"]  # an ONNX file does not generate
    result_header = {"X-Convcost-Result": {
        "description": "where the result can be fetched again: /api/results/ID",
        "schema": {"type": "string"}}}
    result_header["X-Convcost-Cache"] = {
        "description": "hit: answered from the server's cache of results; miss: analysed now",
        "schema": {"enum": ["hit", "miss"]}}
    ok_report = dict(_REPORT, headers=result_header)
    lang = {"name": "lang", "in": "query", "required": False, "schema": {"enum": ["en", "zh"]},
            "description": "language of the HTML report (with format html only)"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "convcost", "version": version,
                 "description": "Exact FLOPs and memory of convolution layers and whole "
                 "models. Every result is the document of the CLI's --format json."},
        "paths": {
            "/": {"get": {"summary": "the page", "responses": {
                "200": {"description": "the page", "content": {"text/html": {
                    "schema": {"type": "string"}}}}, **_errors()}}},
            "/static/{name}": {"get": {
                "summary": "one of the page's files",
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": {"enum": list(static)} if static
                                else {"type": "string"}}],
                "responses": {"200": {"description": "the file", "content": {
                    "*/*": {"schema": {"type": "string"}}}}, **_errors(404)}}},
            "/api/health": {"get": {"summary": "liveness and version", "responses": {
                "200": {"description": '{"status": "ok", "version": …}', "content": {
                    "application/json": {"schema": {
                        "type": "object", "required": ["status", "version"],
                        "properties": {"status": {"const": "ok"},
                                       "version": {"type": "string"}}}}}},
                **_errors()}}},
            "/api/devices": {"get": {"summary": "the device presets (convcost devices --json)",
                                     "responses": {"200": {"description": "the catalogue",
                                                           "content": _JSON},
                                                   **_errors()}}},
            "/api/openapi.json": {"get": {"summary": "this document", "responses": {
                "200": {"description": "the OpenAPI document", "content": _JSON},
                **_errors()}}},
            "/api/models": {"get": {
                "summary": "the installed torchvision and timm models (names for "
                           "torchvision:NAME and timm:NAME targets)",
                "responses": {"200": {
                    "description": '{"torchvision": [sorted names], "timm": [sorted names, '
                                   'empty without timm]}',
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["torchvision", "timm"],
                        "properties": {k: {"type": "array", "items": {"type": "string"}}
                                       for k in ("torchvision", "timm")}}}}},
                    **_errors(503, 504)}}},
            "/api/conv": {"post": {
                "summary": "one convolution layer (convcost conv)",
                "parameters": [_format_param("html: the HTML report"),
                               {"name": "lang", "in": "query", "required": False,
                                "schema": {"enum": ["en", "zh"]},
                                "description": "language of the HTML report (400 with "
                                "format json)"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": conv_props,
                    "required": ["in_channels", "out_channels", "input_size", "kernel"],
                    "additionalProperties": False}}}},
                "responses": {"200": _REPORT, **_errors(400, 408, 413, 415, 422)}}},
            "/api/model": {"post": {
                "summary": "a torchvision/timm model (convcost model), in a worker process",
                "parameters": [_format_param("html: the HTML report"), lang],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": model_props,
                    "required": ["target"], "additionalProperties": False}}}},
                "responses": {"200": ok_report,
                              **_errors(400, 403, 408, 413, 415, 422, 503, 504)}}},
            "/api/onnx": {"post": {
                "summary": "an uploaded ONNX file (convcost model FILE.onnx)",
                "parameters": [_format_param("html: the HTML report"), lang] + [
                    {"name": k, "in": "query", "required": False,
                     "schema": _onnx_query(k, enums),
                     **({"explode": True, "description": f"repeatable (at most {MAX_INPUTS}), "
                         "as --input"} if k == "input" else {})}
                    for k in ONNX_KEYS],
                "requestBody": {"required": True, "content": {"application/octet-stream": {
                    "schema": {"type": "string", "format": "binary", "minLength": 1}
                }}},
                "responses": {"200": ok_report, **_errors(400, 408, 413, 415, 503, 504)}}},
            "/api/results/{id}": {"get": {
                "summary": "a model/ONNX result again",
                "parameters": [
                    {"name": "id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
                    _format_param("html: the HTML report"), lang,
                    {"name": "download", "in": "query", "required": False,
                     "schema": {"enum": ["0", "1", "true", "false"]},
                     "description": "1 or true: as an attachment convcost-ID.html/.json"}],
                "responses": {"200": _REPORT, **_errors(400, 404)}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error", "field"],
            "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
        }}},
    }
