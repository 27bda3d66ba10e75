"""The OpenAPI 3.1 description of the server's API, served at ``/api/openapi.json``.

Written by hand (the server uses Starlette, which generates none, and validates with
convcost's own errors, not a schema library); there are no interactive docs, whose usual
JavaScript comes from a CDN and would not load offline.
"""

from __future__ import annotations

from typing import Any

from ..hardware.stacks import default_stack, stacks
from .requests import CONV_KEYS, MODEL_KEYS, ONNX_KEYS

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_INTS = {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}},
                   {"type": "string", "examples": ["3x1"]}]}
_REPORT = {"description": "the report: the JSON of the CLI's --format json, or with "
           "format=html the HTML report",
           "content": {"application/json": {"schema": {"type": "object"}},
                       "text/html": {"schema": {"type": "string"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "a bad field value", 403: "the target would import code",
            404: "not found", 413: "the body is too large", 415: "wrong content type",
            422: "malformed JSON or a wrong JSON type", 504: "the analysis timed out"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}}
            for c in codes}


def _format_param(html: str) -> dict[str, Any]:
    return {"name": "format", "in": "query", "required": False,
            "schema": {"enum": ["json", "html"], "default": "json"}, "description": html}


def openapi(version: str) -> dict[str, Any]:
    """The OpenAPI document for convcost ``version``."""
    conv_props: dict[str, Any] = {k: _INTS for k in ("kernel", "stride", "dilation",
                                                     "output_padding", "input_size")}
    conv_props.update({k: {"type": "integer", "minimum": 1}
                       for k in ("in_channels", "out_channels", "groups", "batch")})
    conv_props.update({k: {"type": "boolean"} for k in ("bias", "transposed", "input_grad")})
    conv_props["padding"] = {"oneOf": [
        {"type": "integer"},
        {"type": "array", "items": {"oneOf": [
            {"type": "integer"},
            {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}]}},
        {"type": "string", "examples": ["same", "valid", "1:2x0"]}]}
    conv_props["dtype"] = {"type": "string", "default": "float32"}
    conv_props["counting"] = {"enum": ["dense", "skip-padding"], "default": "dense"}
    assert set(conv_props) == set(CONV_KEYS)
    opt = {"type": ["string", "null"]}
    model_props: dict[str, Any] = {
        "target": {"type": "string", "examples": ["torchvision:resnet18", "timm:resnet50"],
                   "description": "torchvision:NAME or timm:NAME; package.module:factory only "
                   "when the server runs with --allow-import (403 otherwise)"},
        "inputs": {"type": "array", "items": {"type": "string"}, "examples": [["2x3x224x224"]]},
        "mode": {"enum": ["train", "inference"], "default": "train"},
        "dtype": opt, "amp": {"enum": ["bf16", "fp16", None]},
        "optimizer": {"enum": ["none", "sgd", "momentum", "adam", "adamw"], "default": "none"},
        "freeze": opt, "counting": {"enum": ["dense", "skip-padding"], "default": "dense"},
        "device": opt, "tf32": {"type": "boolean"},
        "channels_last": {"type": "boolean", "description": "tensors in torch.channels_last "
                          "(NHWC): tensor-core convolutions convert no layout in the time "
                          "estimate (needs device)"},
        "devices": {"type": "integer", "minimum": 1},
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
        "model_args": {"type": "object", "description": "constructor arguments (as the "
                       "CLI's --model-arg KEY=VALUE), e.g. {\"num_classes\": 10}"},
        "reserve": {"type": ["string", "null"], "description": "memory of the device PyTorch "
                    "cannot use (as the CLI's --reserve), e.g. \"2GiB\""},
    }
    assert set(model_props) == set(MODEL_KEYS)
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
            "/api/health": {"get": {"summary": "liveness and version", "responses": {
                "200": {"description": '{"status": "ok", "version": …}'}}}},
            "/api/devices": {"get": {"summary": "the device presets (convcost devices --json)",
                                     "responses": {"200": {"description": "the catalogue"}}}},
            "/api/models": {"get": {
                "summary": "the installed torchvision and timm models (names for "
                           "torchvision:NAME and timm:NAME targets)",
                "responses": {"200": {
                    "description": '{"torchvision": [sorted names], "timm": [sorted names, '
                                   'empty without timm]}',
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["torchvision", "timm"],
                        "properties": {k: {"type": "array", "items": {"type": "string"}}
                                       for k in ("torchvision", "timm")}}}}}}}},
            "/api/conv": {"post": {
                "summary": "one convolution layer (convcost conv)",
                "parameters": [_format_param("html: the HTML report"),
                               {"name": "lang", "in": "query", "required": False,
                                "schema": {"enum": ["en", "zh"]},
                                "description": "language of the HTML report"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": conv_props,
                    "required": ["in_channels", "out_channels", "input_size", "kernel"],
                    "additionalProperties": False}}}},
                "responses": {"200": _REPORT, **_errors(400, 413, 415, 422)}}},
            "/api/model": {"post": {
                "summary": "a torchvision/timm model (convcost model), in a worker process",
                "parameters": [_format_param("html: the HTML report"), lang],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": model_props,
                    "required": ["target", "inputs"], "additionalProperties": False}}}},
                "responses": {"200": ok_report, **_errors(400, 403, 413, 415, 422, 504)}}},
            "/api/onnx": {"post": {
                "summary": "an uploaded ONNX file (convcost model FILE.onnx)",
                "parameters": [_format_param("html: the HTML report"), lang] + [
                    {"name": k, "in": "query", "required": False,
                     "schema": {"type": "string"},
                     **({"explode": True, "description": "repeatable, as --input"}
                        if k == "input" else {})}
                    for k in ONNX_KEYS],
                "requestBody": {"required": True, "content": {"application/octet-stream": {
                    "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                }}},
                "responses": {"200": ok_report, **_errors(400, 413, 415, 504)}}},
            "/api/results/{id}": {"get": {
                "summary": "a model/ONNX result again",
                "parameters": [
                    {"name": "id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
                    _format_param("html: the HTML report"), lang,
                    {"name": "download", "in": "query", "required": False,
                     "schema": {"enum": ["0", "1"]},
                     "description": "1: as an attachment convcost-ID.html/.json"}],
                "responses": {"200": _REPORT, **_errors(404)}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error", "field"],
            "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
        }}},
    }
