"""The Starlette application of ``convcost serve``: routes, request bodies (size and type
limits), responses and their security headers.

Decisions:

* Statuses: 400 a bad field value (``{"error", "field"}``, from convcost's SpecError),
  403 a target that would import code, 404 unknown path or result id, 405 wrong method,
  413 a body over the limit (refused from ``Content-Length`` before reading, or while
  streaming a body without one), 415 wrong ``Content-Type``, 422 malformed JSON or a wrong
  JSON type, 504 an analysis over ``--timeout`` (the worker is the "upstream" that did not
  answer; 408 would blame the client). Anything else is a bug: logged with its traceback
  on the server, answered ``500 {"error": "internal error"}``.
* Every model/ONNX answer carries ``X-Convcost-Result: /api/results/<id>``, the id being a
  hex digest of the canonical request (:func:`convcost.server.requests.job_id`).
* Headers on every response: ``X-Content-Type-Options: nosniff`` and a CSP — the page's
  (:data:`PAGE_CSP`, nothing from the network) or, for an HTML report, :data:`REPORT_CSP`
  (its own inline style and script, no network; the report also carries its hash-based CSP).
* Static files: an allow-list of the files in ``static/`` made at start; a request path is
  never joined onto the filesystem.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from . import ServerConfig
from .jobs import JobRunner, model_names
from .openapi import openapi
from .requests import (
    ApiError,
    Outcome,
    conv_report,
    job_id,
    model_params,
    onnx_params,
    report_format,
    spec_error,
)

__all__ = ["PAGE_CSP", "REPORT_CSP", "STATIC", "create_app", "model_names"]

log = logging.getLogger("convcost.server")

#: The folder of the page's files.
STATIC = Path(__file__).resolve().parent / "static"
#: CSP of the page and the API: everything from the server itself, nothing else.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'")
#: CSP of an HTML report: its inline style and script, no network, framed only by the page.
REPORT_CSP = ("default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
              "script-src 'unsafe-inline'; frame-ancestors 'self'")
#: Largest JSON body (layer and model requests).
MAX_JSON_BYTES = 1024 * 1024
RESULT_ID = re.compile(r"[0-9a-f]{32}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error(e: ApiError) -> JSONResponse:
    """The JSON answer to a refused request."""
    return JSONResponse(e.to_dict(), status_code=e.status)


def text_response(text: str, fmt: str, result_id: str | None = None,
                  download: bool = False) -> Response:
    """A report as a response: JSON, or HTML with the report's CSP."""
    headers: dict[str, str] = {}
    if result_id is not None:
        headers["X-Convcost-Result"] = f"/api/results/{result_id}"
        if download:
            ext = "html" if fmt == "html" else "json"
            headers["Content-Disposition"] = \
                f'attachment; filename="convcost-{result_id}.{ext}"'
    if fmt == "html":
        headers["Content-Security-Policy"] = REPORT_CSP
        return Response(text, media_type="text/html; charset=utf-8", headers=headers)
    return Response(text, media_type="application/json", headers=headers)


def _content_type(request: Request, want: str) -> None:
    got = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if got != want:
        raise ApiError(415, f"Content-Type: got {got or 'none'!r}; send {want}",
                       "Content-Type")


def _declared_length(request: Request, limit: int, what: str) -> None:
    length = request.headers.get("content-length")
    if length is None:
        return
    if not (length.isascii() and length.isdigit()):
        raise ApiError(400, f"Content-Length: got {length!r}", "Content-Length")
    if int(length) > limit:
        raise ApiError(413, f"{what} of {int(length)} bytes is over the server's limit of "
                       f"{limit} bytes", "body")


async def _json_body(request: Request) -> Any:
    """The request's JSON (at most :data:`MAX_JSON_BYTES`)."""
    _content_type(request, "application/json")
    _declared_length(request, MAX_JSON_BYTES, "the body")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise ApiError(413, f"the body is over the limit of {MAX_JSON_BYTES} bytes", "body")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(422, f"the body is not valid JSON ({e})", "body") from None


def _query(request: Request, key: str) -> str | None:
    values = request.query_params.getlist(key)
    if len(values) > 1:
        raise ApiError(400, f"{key}: given more than once", key)
    return values[0] if values else None


def create_app(config: ServerConfig) -> Starlette:
    """The server's ASGI application for ``config``."""
    from .. import __version__

    static = {p.name: p for p in sorted(STATIC.iterdir())
              if p.is_file() and not p.is_symlink() and not p.name.startswith(".")} \
        if STATIC.is_dir() else {}
    spec = openapi(__version__)
    state: dict[str, JobRunner] = {}

    def runner() -> JobRunner:
        if "jobs" not in state:
            from .limits import default_worker_memory_mb

            memory = config.worker_memory_mb or default_worker_memory_mb(config.workers)
            state["jobs"] = JobRunner(config.workers, config.timeout, config.cache_size,
                                      memory)
        return state["jobs"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runner()  # start the workers (and their imports) with the server
        try:
            yield
        finally:
            state["jobs"].shutdown()

    async def index(request: Request) -> Response:
        page = static.get("index.html")
        if page is None:
            raise HTTPException(404)
        return FileResponse(page, media_type="text/html; charset=utf-8")

    async def static_file(request: Request) -> Response:
        page = static.get(request.path_params["name"])
        if page is None:
            raise HTTPException(404)
        return FileResponse(page)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def devices(request: Request) -> Response:
        from ..hardware.devices import catalog
        from ..renderers import render

        return Response(await run_in_threadpool(lambda: render(catalog(None), "json")),
                        media_type="application/json")

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(spec)

    async def models(request: Request) -> Response:
        # listed by a worker (the server process never imports torch), kept by the runner
        return JSONResponse(await runner().model_names())

    async def conv(request: Request) -> Response:
        fmt = report_format(_query(request, "format"))
        lang = _query(request, "lang")
        body = await _json_body(request)
        text = await run_in_threadpool(conv_report, body, fmt, lang)
        return text_response(text, fmt)

    async def finish(key: str, outcome: Outcome, fmt: str) -> Response:
        if outcome.status != 200:
            return error(ApiError(outcome.status, outcome.error, outcome.field))
        return text_response(outcome.html if fmt == "html" else outcome.json, fmt, key)

    async def model(request: Request) -> Response:
        fmt = report_format(_query(request, "format"))
        params = await run_in_threadpool(model_params, await _json_body(request),
                                         config.allow_import)
        key = job_id(params)
        return await finish(key, await runner().run(key, params), fmt)

    async def onnx(request: Request) -> Response:
        fmt = report_format(_query(request, "format"))
        _content_type(request, "application/octet-stream")
        limit = config.max_upload_bytes
        _declared_length(request, limit, "the upload")
        params = await run_in_threadpool(onnx_params, list(request.query_params.multi_items()))
        folder = tempfile.mkdtemp(prefix="convcost-upload-")
        try:
            path = os.path.join(folder, "model.onnx")
            digest = hashlib.sha256()
            size = 0
            with open(path, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"the upload is over the server's limit of {limit} "
                                       f"bytes (convcost serve --max-upload-mb)", "body")
                    digest.update(chunk)
                    fh.write(chunk)
            if size == 0:
                raise ApiError(400, "the body is empty: send the ONNX file", "body")
            key = job_id(params, digest.hexdigest())
            return await finish(key, await runner().run(key, params, path), fmt)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def result(request: Request) -> Response:
        key = request.path_params["id"]
        found = runner().cache.get(key) if RESULT_ID.fullmatch(key) else None
        if found is None:
            raise ApiError(404, "no such result (results are kept for the last "
                           f"{config.cache_size} analyses)", "id")
        fmt = report_format(_query(request, "format"))
        download = _query(request, "download") in ("1", "true")
        return text_response(found.html if fmt == "html" else found.json, fmt, key, download)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error(exc)

    async def value_error(request: Request, exc: Exception) -> Response:
        from ..errors import ConvCostError

        if isinstance(exc, ConvCostError):
            return error(spec_error(exc))
        raise exc

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        text = {404: "not found", 405: "method not allowed"}.get(exc.status_code,
                                                                   str(exc.detail))
        headers = dict(exc.headers or {})
        return JSONResponse({"error": text, "field": None}, status_code=exc.status_code,
                            headers=headers)

    from ..errors import ConvCostError

    routes = [
        Route("/", index),
        Route("/static/{name}", static_file),
        Route("/api/health", health),
        Route("/api/devices", devices),
        Route("/api/models", models),
        Route("/api/openapi.json", openapi_json),
        Route("/api/conv", conv, methods=["POST"]),
        Route("/api/model", model, methods=["POST"]),
        Route("/api/onnx", onnx, methods=["POST"]),
        Route("/api/results/{id}", result),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: api_error, ConvCostError: value_error, HTTPException: http_error})
    app.add_middleware(SecurityHeaders)
    return app


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` and the page's CSP on every response that does not set
    its own (HTML reports set :data:`REPORT_CSP`); an exception nothing handled (a bug) is
    logged with its traceback and answered ``500 {"error": "internal error"}``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an answer: the server closes the connection
            body = json.dumps({"error": "internal error", "field": None}).encode()
            await send_with_headers({"type": "http.response.start", "status": 500,
                                     "headers": [(b"content-type", b"application/json"),
                                                 (b"content-length", str(len(body)).encode())]})
            await send_with_headers({"type": "http.response.body", "body": body})
