"""``convcost serve``: the layer calculator and the model analyser as a local web server with
a JSON API. This package owns the server; the page it serves lives in ``static/``.

Decisions:

* **Starlette + uvicorn, not FastAPI.** Fewer dependencies (no pydantic); convcost already
  validates every field with its own errors (:class:`~convcost.errors.SpecError`, naming
  the field), which the API hands on as ``{"error", "field"}``; and FastAPI's interactive
  docs load their JavaScript from a CDN, which does not work offline. The OpenAPI 3.1
  document at ``/api/openapi.json`` is written by hand (:mod:`.openapi`); there are no
  interactive docs.
* **Layers in the server process, models in worker processes** (:mod:`.jobs`): a layer is a
  closed formula (milliseconds); a model imports torch and traces the network, so it runs
  in a ``spawn`` process pool with a per-request timeout, and the event loop only awaits it.
* **No request ever names a file or a module**: ONNX uploads go to a private temporary file,
  static files come from an allow-list made at start, and ``module:factory`` targets are
  refused (403) unless the server was started with ``--allow-import``.

Importing this package imports neither starlette nor uvicorn (the worker processes import
it to run :func:`convcost.server.requests.run_analysis`); :mod:`.app` does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """How the server was started: the CLI's ``convcost serve`` flags."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    #: Seconds one model/ONNX analysis may take (from the moment the worker pool gets it).
    timeout: float = 300.0
    max_upload_mb: int = 512
    allow_import: bool = False
    #: Results kept for ``GET /api/results/<id>`` (least recently used dropped first).
    cache_size: int = 64
    #: Private memory each worker process may use (MiB); None: half the machine's RAM
    #: shared among the workers (:func:`convcost.server.limits.default_worker_memory_mb`).
    worker_memory_mb: int | None = None
    #: Host names (besides the loopback names and ``host``) a request's ``Host`` may give.
    allowed_hosts: tuple[str, ...] = ()
    #: ONNX uploads held at once (on disk until their analysis ends); more get 503.
    max_uploads: int = 2
    #: Seconds a client has to send a JSON body, or to pause between chunks of an upload.
    read_timeout: float = 30.0

    @property
    def host_names(self) -> frozenset[str]:
        """The ``Host`` names the server answers (lower case, IPv6 in brackets)."""
        names = ("localhost", "127.0.0.1", "[::1]", self.host, *self.allowed_hosts)
        return frozenset((f"[{h}]" if ":" in h and not h.startswith("[") else h).lower()
                         for h in names)

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes (MiB)."""
        return self.max_upload_mb * 1024 * 1024
