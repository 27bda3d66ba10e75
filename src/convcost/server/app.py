"""The Starlette application of ``convcost serve``: routes, request bodies (size and type
limits), responses and their security headers.

Decisions:

* Statuses: 307 a path with a trailing slash (a relative ``Location``: the Host is never
  echoed), 400 a bad field value (``{"error", "field"}``, from convcost's SpecError) or a
  malformed ``Host``, 403 a target that would import code, 404 unknown path or result id,
  405 wrong method, 408 a body that did not arrive within ``--read-timeout``, 413 a body
  over the limit (refused from ``Content-Length`` before reading, or while streaming a
  body without one), 415 wrong ``Content-Type``, 421 a ``Host`` that is not one of the
  server's names (DNS rebinding), 422 malformed JSON (``NaN``, nested over
  :data:`MAX_JSON_DEPTH`, over Python's 4,300-digit integers) or a wrong JSON type, 503
  ``--max-uploads`` uploads already held, 504 an analysis over ``--timeout`` (the worker
  is the "upstream" that did not answer). A client that goes away mid-body is let go
  without a log line. Anything else is a bug: logged with its traceback on the server,
  answered ``500 {"error": "internal error"}``.
* The Host allow-list (:class:`SecurityHeaders`, names from
  :attr:`~convcost.server.ServerConfig.host_names`) runs before routing: a page whose name
  was rebound to 127.0.0.1 is same-origin for its browser, so only the name it sends in
  ``Host`` tells it apart. Any port is accepted (the name decides).
* JSON numbers with a fraction or exponent but an integral value (``7673.0``) are read as
  exact integers (JSON Schema's integers), from the text, never through a rounded float.
* Every model/ONNX answer carries ``X-Convcost-Result: /api/results/<id>``, the id being a
  hex digest of the canonical request (:func:`convcost.server.requests.job_id`).
* Headers on every response: ``X-Content-Type-Options: nosniff`` and a CSP — the page's
  (:data:`PAGE_CSP`, nothing from the network) or, for an HTML report, :data:`REPORT_CSP`
  (its own inline style and script, no network; the report also carries its hash-based CSP).
* Static files: an allow-list of the files in ``static/`` made at start; a request path is
  never joined onto the filesystem.
"""

from __future__ import annotations

import asyncio
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
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..vocab import LANGS
from . import ServerConfig
from .jobs import JobRunner, model_names
from .openapi import openapi
from .requests import (
    ApiError,
    Outcome,
    conv_report,
    job_id,
    model_params,
    one_line,
    onnx_params,
    report_format,
    spec_error,
)

__all__ = ["PAGE_CSP", "REPORT_CSP", "STATIC", "create_app", "host_name", "model_names",
           "relative_location"]

log = logging.getLogger("convcost.server")

#: The folder of the page's files.
STATIC = Path(__file__).resolve().parent / "static"
#: CSP of the page and the API: everything from the server itself, nothing else.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
#: CSP of an HTML report: its inline style and script, no network, framed only by the page.
REPORT_CSP = ("default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
              "script-src 'unsafe-inline'; frame-ancestors 'self'")
#: Largest JSON body (layer and model requests).
MAX_JSON_BYTES = 1024 * 1024
#: Deepest nesting of a JSON body (arrays and objects; the API's deepest is model_args').
MAX_JSON_DEPTH = 16
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


async def _chunks(request: Request, pause: float, total: float) -> AsyncIterator[bytes]:
    """The body's chunks; 408 when the client pauses over ``pause`` seconds or takes over
    ``total`` seconds in all (a slow client holds no connection, memory or upload slot
    for ever)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total
    stream = request.stream().__aiter__()
    while True:
        wait = min(pause, deadline - loop.time())
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), max(wait, 0.0))
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, f"the body did not arrive in time (at most {pause:g} s without "
                           f"data and {total:g} s in all; convcost serve --read-timeout)",
                           "body") from None
        yield chunk


def _depth_at_most(doc: Any, limit: int) -> bool:
    """True when ``doc`` nests arrays and objects at most ``limit`` deep (iteratively)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            if depth > limit:
                return False
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                  else value))
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (numbers are finite)")


def _number(text: str) -> int | float:
    """A JSON number written with a fraction or an exponent: an ``int`` when its value is
    integral (``7673.0``, ``1e3``: JSON Schema's integers), computed exactly from the text,
    never through a rounded float; else a float."""
    from decimal import Decimal

    d = Decimal(text)
    if d == d.to_integral_value() and d.adjusted() <= 400:
        return int(d)
    return float(text)


async def _json_body(request: Request, timeout: float) -> Any:
    """The request's JSON (at most :data:`MAX_JSON_BYTES`, sent within ``timeout`` seconds,
    nested at most :data:`MAX_JSON_DEPTH` deep)."""
    _content_type(request, "application/json")
    _declared_length(request, MAX_JSON_BYTES, "the body")
    data = bytearray()
    async for chunk in _chunks(request, timeout, timeout):
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise ApiError(413, f"the body is over the limit of {MAX_JSON_BYTES} bytes", "body")
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant,
                         parse_float=_number)
    except RecursionError:
        doc = None
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(422, f"the body is not valid JSON ({e})", "body") from None
    else:
        if _depth_at_most(doc, MAX_JSON_DEPTH):
            return doc
    raise ApiError(422, f"the body nests arrays and objects over {MAX_JSON_DEPTH} deep",
                   "body")


def _query(request: Request, key: str) -> str | None:
    values = request.query_params.getlist(key)
    if len(values) > 1:
        raise ApiError(400, f"{key}: given more than once", key)
    return values[0] if values else None


def _report_lang(request: Request, fmt: str) -> str | None:
    """The ``lang`` query parameter of a model report (``en`` or ``zh``; HTML only)."""
    lang = _query(request, "lang")
    if lang is None:
        return None
    if lang not in LANGS:
        raise ApiError(400, f"lang: got {lang!r}; allowed: {', '.join(LANGS)}", "lang")
    if fmt != "html":
        raise ApiError(400, f"lang: got {lang!r}; has no effect with format json (JSON has "
                       "no text to translate)", "lang")
    return lang


def create_app(config: ServerConfig) -> Starlette:
    """The server's ASGI application for ``config``."""
    from .. import __version__

    static = {p.name: p for p in sorted(STATIC.iterdir())
              if p.is_file() and not p.is_symlink() and not p.name.startswith(".")} \
        if STATIC.is_dir() else {}
    spec = openapi(__version__, tuple(static))
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
        body = await _json_body(request, config.read_timeout)
        text = await run_in_threadpool(conv_report, body, fmt, lang)
        return text_response(text, fmt)

    async def finish(key: str, outcome: Outcome | None, fmt: str, lang: str | None,
                     cached: bool) -> Response:
        if outcome is None:  # the client went away and its job was cancelled: nobody listens
            return Response(status_code=499)
        if outcome.status != 200:
            return error(ApiError(outcome.status, outcome.error, outcome.field))
        resp = text_response(outcome.html_in(lang) if fmt == "html" else outcome.json, fmt, key)
        resp.headers["X-Convcost-Cache"] = "hit" if cached else "miss"
        return resp

    async def model(request: Request) -> Response:
        fmt = report_format(_query(request, "format"))
        lang = _report_lang(request, fmt)
        params = await run_in_threadpool(model_params,
                                         await _json_body(request, config.read_timeout),
                                         config.allow_import)
        if fmt == "html" and params["mode"] == "generate":
            raise ApiError(400, "format: got 'html'; a generation (mode generate) has no HTML "
                           "report (use format json)", "format")
        key = job_id(params)
        cached = runner().cache.get(key) is not None
        return await finish(key, await runner().run_for(request.receive, key, params), fmt,
                            lang, cached)

    uploads = {"held": 0}

    async def onnx(request: Request) -> Response:
        fmt = report_format(_query(request, "format"))
        lang = _report_lang(request, fmt)
        _content_type(request, "application/octet-stream")
        limit = config.max_upload_bytes
        _declared_length(request, limit, "the upload")
        params = await run_in_threadpool(onnx_params, list(request.query_params.multi_items()))
        if uploads["held"] >= config.max_uploads:
            raise ApiError(503, f"{uploads['held']} uploads are being analysed, the server's "
                           f"limit (convcost serve --max-uploads): send it again later", "body")
        uploads["held"] += 1
        folder = tempfile.mkdtemp(prefix="convcost-upload-")
        try:
            path = os.path.join(folder, "model.onnx")
            digest = hashlib.sha256()
            size = 0
            with open(path, "wb") as fh:
                async for chunk in _chunks(request, config.read_timeout,
                                           config.read_timeout + config.max_upload_mb):
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"the upload is over the server's limit of {limit} "
                                       f"bytes (convcost serve --max-upload-mb)", "body")
                    digest.update(chunk)
                    fh.write(chunk)
            if size == 0:
                raise ApiError(400, "the body is empty: send the ONNX file", "body")
            key = job_id(params, digest.hexdigest())
            cached = runner().cache.get(key) is not None
            outcome = await runner().run_for(request.receive, key, params, path)
            return await finish(key, outcome, fmt, lang, cached)
        finally:
            uploads["held"] -= 1
            shutil.rmtree(folder, ignore_errors=True)

    async def result(request: Request) -> Response:
        key = request.path_params["id"]
        found = runner().cache.get(key) if RESULT_ID.fullmatch(key) else None
        if found is None:
            raise ApiError(404, "no such result (results are kept for the last "
                           f"{config.cache_size} analyses)", "id")
        fmt = report_format(_query(request, "format"))
        flag = _query(request, "download")
        if flag not in (None, "0", "1", "true", "false"):
            raise ApiError(400, f"download: got {flag!r:.40}; allowed: 0, 1, true, false",
                           "download")
        download = flag in ("1", "true")
        lang = _report_lang(request, fmt)
        if fmt == "html" and not found.html:
            raise ApiError(400, "format: got 'html'; this result (a generation) has no HTML "
                           "report (use format json)", "format")
        return text_response(found.html_in(lang) if fmt == "html" else found.json, fmt, key,
                             download)

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
    app.add_middleware(SecurityHeaders, hosts=config.host_names)
    return app


def host_name(value: str) -> str | None:
    """The name of a ``Host`` header (lower case, an IPv6 address in brackets, without the
    port), or None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = (value[:end + 1], value[end + 1:]) if end > 0 else ("", "")
    else:
        name, sep, port = value.partition(":")
        rest = sep + port
    if not name or (rest and not (rest[0] == ":" and rest[1:].isascii()
                                  and rest[1:].isdigit() and len(rest) <= 6)):
        return None
    return name


def relative_location(location: str) -> str:
    """A redirect's ``Location`` as a path on this server (never the request's Host, and
    never ``//name``, which a browser reads as another host)."""
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/")
    return path + (f"?{parts.query}" if parts.query else "")


class SecurityHeaders:
    """ASGI middleware: requests whose ``Host`` is not one of ``hosts`` get 421 (a page
    that rebinds its own name to this machine gets nothing); redirects carry a relative
    ``Location``; ``nosniff`` and the page's CSP on every response that does not set its
    own (HTML reports set :data:`REPORT_CSP`); a client that goes away mid-body is let go
    quietly; an exception nothing handled (a bug) is logged with its traceback and
    answered ``500 {"error": "internal error"}``."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.hosts = hosts

    async def _refuse(self, send: Send, status: int, text: str) -> None:
        body = json.dumps({"error": text, "field": "Host"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"content-security-policy", PAGE_CSP.encode()),
                                (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None:
            given = [v for k, v in scope.get("headers", []) if k == b"host"]
            raw = given[0].decode("latin-1") if len(given) == 1 else None
            name = host_name(raw) if raw is not None else None
            if name is None:
                await self._refuse(send, 400, "Host: missing, repeated or malformed "
                                   f"({one_line(raw or '')!r:.80})")
                return
            if name not in self.hosts:
                await self._refuse(send, 421, f"Host: {one_line(name)!r:.80} is not a name of "
                                   "this server (convcost serve --allowed-host NAME adds one)")
                return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if 300 <= message.get("status", 200) < 400:
                    headers = [(k, relative_location(v.decode("latin-1")).encode("latin-1"))
                               if k.lower() == b"location" else (k, v) for k, v in headers]
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            log.debug("client went away on %s %s", scope.get("method"), scope.get("path"))
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for an answer: the server closes the connection
            body = json.dumps({"error": "internal error", "field": None}).encode()
            await send_with_headers({"type": "http.response.start", "status": 500,
                                     "headers": [(b"content-type", b"application/json"),
                                                 (b"content-length", str(len(body)).encode())]})
            await send_with_headers({"type": "http.response.body", "body": body})
