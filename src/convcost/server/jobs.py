"""The worker processes that run model and ONNX analyses for the server, with the
per-request timeout, the resource limits (:mod:`.limits`) and the cache of finished results.

Decisions:

* **A small pool of our own**, not ``concurrent.futures.ProcessPoolExecutor``: ``workers``
  ``spawn`` processes (no fork of a process that runs an event loop and threads), each
  running one job at a time and talking to the server over its own pipe. Each imports torch
  and the analyser once at start (:func:`convcost.server.requests.warm_up`) under its
  limits (:func:`convcost.server.limits.apply_worker_limits`: lower priority, a memory
  limit), so a model is answered without paying PyTorch's import and without starving the
  event loop, which answers layer requests itself.
* **Timeout: run time, not queue time.** A job waits for an idle worker uncharged; its clock
  starts when a worker gets it. On timeout the answer is 504 and *that* worker is replaced
  (terminated: a stuck analysis cannot be interrupted any other way); the others keep
  running their jobs. A worker that ran out of memory (413), ran over its CPU time (503) or
  died (503) is replaced the same way. Workers ignore SIGINT (a terminal's Ctrl-C goes to
  the whole process group): the server stops them.
* **A job ends with its last client.** :meth:`JobRunner.run_for` watches the request's
  ASGI ``receive`` channel (the body is already read, so the next message is
  ``http.disconnect``: no polling) while it awaits the job. When the client goes away
  (the page's Cancel button aborts its fetch, a tab is closed) and no other request waits
  for the same job (identical requests share one job: :meth:`JobRunner.run` counts its
  waiters), the job is cancelled: still queued, it is dropped and never reaches a worker;
  running, its worker is terminated and replaced, as on a timeout, but nothing is sent
  (nobody listens) and one info line is logged, no traceback. A cancelled job caches
  nothing (only a finished success is cached). While another client waits, the job runs
  on for it. A client that goes away after the worker answered changes nothing (a success
  is cached as usual). The answer to a client that went away is a bare 499 that nobody
  reads (the route must return something).
* ``GET /api/models`` is answered from a list the first worker builds after its imports
  (:func:`model_names`) and the server keeps: the server process never imports torch.
* Cache: identical requests (the same id: canonical parameters plus the upload's sha256)
  are answered from a bounded LRU of finished results, and an identical request arriving
  while the first one runs waits for that one instead of running again. Only successes
  are kept.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from .limits import (
    apply_worker_limits,
    check_cpu_build,
    cpu_message,
    limit_job_cpu,
    memory_message,
)
from .requests import ApiError, Outcome, run_analysis, warm_up

__all__ = ["JobRunner", "ResultCache", "model_names", "worker_main"]

log = logging.getLogger("convcost.server")

#: Seconds a new worker may take to start (spawn a process, import torch) before it is
#: given up and started again.
STARTUP_TIMEOUT = 120.0
#: Workers that fail to start one after another before requests are answered 503.
MAX_START_FAILURES = 3

#: An ASGI ``receive`` callable: the next message from the client's side of a request.
Receive = Callable[[], Awaitable[Mapping[str, Any]]]


class ResultCache:
    """The last ``size`` successful results by id (least recently used dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, Outcome] = OrderedDict()

    def get(self, key: str) -> Outcome | None:
        """The result with id ``key`` (now the most recently used), or None."""
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: str, outcome: Outcome) -> None:
        """Keep ``outcome`` under ``key``, dropping the oldest beyond ``size``."""
        self.items[key] = outcome
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


def model_names() -> dict[str, list[str]]:
    """The installed models a request may name (``GET /api/models``): torchvision's and
    timm's (an empty list for a package that is missing or fails to import). Imports
    torchvision and timm: called in a worker."""
    found: dict[str, list[str]] = {"torchvision": [], "timm": []}
    try:
        import torchvision.models

        found["torchvision"] = sorted(torchvision.models.list_models())
    except Exception:  # not installed, or broken: the page offers what there is
        log.warning("torchvision models not listed", exc_info=True)
    try:
        import timm

        found["timm"] = sorted(timm.list_models())
    except ImportError:
        pass  # timm is optional
    except Exception:
        log.warning("timm models not listed", exc_info=True)
    return found


def worker_main(conn: Connection, memory_mb: int | None, cpu_seconds: float,
                list_models: bool) -> None:
    """A worker process: apply the limits, import, say ``("ready", names)``, then answer
    each ``(params, onnx_path)`` with ``("done", Outcome)`` — or ``("replace", Outcome)``
    after a failed allocation, and end."""
    apply_worker_limits(memory_mb)
    warm_up()
    try:  # the ONNX front end too (seconds of imports), so an upload is timed for itself
        import onnx  # noqa: F401

        from ..frontends.onnx import load_onnx  # noqa: F401
    except ImportError:  # no onnx: an upload is answered that it is missing
        pass
    conn.send(("ready", model_names() if list_models else None))
    while True:
        try:
            params, onnx_path = conn.recv()
        except (EOFError, OSError):  # the server went away
            return
        limit_job_cpu(cpu_seconds)
        refused = check_cpu_build(params)
        if refused is not None:
            conn.send(("done", Outcome(status=400, error=refused[1], field=refused[0])))
            continue
        try:
            outcome = run_analysis(params, onnx_path)
        except BaseException:  # a failed allocation (run_analysis answers everything else)
            text = (memory_message(memory_mb) if memory_mb is not None
                    else "the analysis ran out of memory")
            conn.send(("replace", Outcome(status=413, error=text)))
            return
        conn.send(("done", outcome))


class Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, memory_mb: int | None, cpu_seconds: float, list_models: bool) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(
            target=worker_main, args=(child, memory_mb, cpu_seconds, list_models),
            name="convcost-worker", daemon=True)
        # started with SIGINT ignored (kept through spawn's exec; Python then installs no
        # KeyboardInterrupt handler): Ctrl-C reaches the terminal's whole process group,
        # and the server, not a worker still importing torch, answers it (by terminating
        # its workers), with no traceback. Only the main thread may set a handler.
        main = threading.current_thread() is threading.main_thread()
        before = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self.process.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, before if before is not None else signal.SIG_DFL)
        child.close()

    async def receive(self, timeout: float) -> tuple[str, Any]:
        """The worker's next message; ``TimeoutError`` after ``timeout`` seconds,
        ``EOFError`` when the process died."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(readable, timeout)
        finally:
            loop.remove_reader(fd)
        message: tuple[str, Any] = await asyncio.to_thread(self.conn.recv)
        return message

    def stop(self) -> None:
        """End the process now (SIGTERM at once; waiting for it, and SIGKILL if it must,
        in a thread: the event loop does not wait)."""
        if self.process.is_alive():
            self.process.terminate()

        def stop() -> None:
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=5)
            self.conn.close()

        threading.Thread(target=stop, name="convcost-stop-worker", daemon=True).start()

    def died_of(self) -> int | None:
        """The process's exit code once it has ended (a signal as ``-N``), waiting a
        little for it; None while it runs."""
        self.process.join(timeout=2)
        return self.process.exitcode


class _Job:
    """A job and the requests waiting for it."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Outcome] | None = None
        self.waiters = 0
        self.started = False
        #: Cancelled because its last client went away (no new request joins it).
        self.dropped = False


class JobRunner:
    """Runs :func:`convcost.server.requests.run_analysis` in worker processes. Create it
    inside the server's event loop."""

    def __init__(self, workers: int, timeout: float, cache_size: int,
                 worker_memory_mb: int | None = None) -> None:
        self.workers = workers
        self.timeout = timeout
        self.memory_mb = worker_memory_mb
        self.cache = ResultCache(cache_size)
        self.running: dict[str, _Job] = {}
        self.idle: asyncio.Queue[Worker] = asyncio.Queue()
        self.alive: set[Worker] = set()
        self.names: asyncio.Future[dict[str, list[str]]] = \
            asyncio.get_running_loop().create_future()
        self.asking_names = False
        self.start_failures = 0
        self.closed = False
        self.boots: set[asyncio.Task[None]] = set()
        for _ in range(workers):
            self._spawn()

    # ---------------------------------------------------------------- workers

    def _spawn(self) -> None:
        if self.closed:
            return
        ask = not self.names.done() and not self.asking_names
        self.asking_names = self.asking_names or ask
        # CPU time over all the worker's threads: the wall-clock timeout on every core
        worker = Worker(self.memory_mb, self.timeout * (os.cpu_count() or 1), ask)
        self.alive.add(worker)
        task = asyncio.ensure_future(self._boot(worker, ask))
        self.boots.add(task)
        task.add_done_callback(self.boots.discard)

    async def _boot(self, worker: Worker, asked: bool) -> None:
        try:
            _, names = await worker.receive(STARTUP_TIMEOUT)
        except (TimeoutError, EOFError, OSError) as e:
            self.start_failures += 1
            log.warning("a worker process failed to start (%s)", type(e).__name__)
            if asked:
                self.asking_names = False
            self._retire(worker, respawn=False)
            if self.start_failures < MAX_START_FAILURES:
                await asyncio.sleep(1.0)
                self._spawn()
            return
        self.start_failures = 0
        if asked:
            self.asking_names = False
            if not self.names.done():
                self.names.set_result(names)
        self.idle.put_nowait(worker)

    def _retire(self, worker: Worker, respawn: bool = True) -> None:
        """Stop ``worker`` and start another in its place."""
        self.alive.discard(worker)
        worker.stop()
        if respawn:
            self._spawn()

    async def _take(self) -> Worker:
        """An idle, living worker (waiting as long as they are all busy)."""
        while True:
            if self.start_failures >= MAX_START_FAILURES:
                raise ApiError(503, "the worker processes failed to start (see the "
                               "server's log)")
            try:
                worker = await asyncio.wait_for(self.idle.get(), 1.0)
            except TimeoutError:
                continue
            if worker.process.is_alive():
                return worker
            self._retire(worker)

    # ---------------------------------------------------------------- jobs

    async def model_names(self) -> dict[str, list[str]]:
        """The installed models, as listed by the first worker (waits for it)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.names), STARTUP_TIMEOUT)
        except TimeoutError:
            raise ApiError(503, "the model list is not available yet (the worker "
                           "processes are starting)") from None

    async def run(self, key: str, params: dict[str, Any],
                  onnx_path: str | None = None) -> Outcome:
        """The result of the analysis ``params`` (id ``key``): from the cache, from the
        identical request already running, or run now. Raises :class:`ApiError` (504 on
        timeout, 503 when the worker died or ran over its CPU time)."""
        found = self.cache.get(key)
        if found is not None:
            return found
        job = self.running.get(key)
        if job is None or job.task is None or job.task.cancelled() or job.dropped:
            job = _Job()
            job.task = asyncio.ensure_future(self._job(key, job, params, onnx_path))
            self.running[key] = job
            task = job.task

            def forget(t: asyncio.Task[Outcome], key: str = key, job: _Job = job) -> None:
                if self.running.get(key) is job:
                    del self.running[key]
                if not t.cancelled():
                    t.exception()  # retrieved: no warning when nobody waits any more

            task.add_done_callback(forget)
        assert job.task is not None
        job.waiters += 1
        try:
            return await asyncio.shield(job.task)
        except asyncio.CancelledError:
            if job.waiters == 1 and not job.task.done():  # nobody else waits: end the job
                job.dropped = True
                if self.running.get(key) is job:
                    del self.running[key]  # an identical request from now on starts anew
                if job.started:
                    log.info("the client went away; stopping its analysis and replacing "
                             "its worker")
                else:
                    log.info("the client went away; its queued analysis is dropped")
                job.task.cancel()
            raise
        finally:
            job.waiters -= 1

    async def run_for(self, receive: Receive, key: str, params: dict[str, Any],
                      onnx_path: str | None = None) -> Outcome | None:
        """:meth:`run` for a request whose body has been read, while its client listens:
        None as soon as ``receive`` (the request's ASGI channel) says ``http.disconnect``,
        the job then cancelled unless another request waits for it."""
        answer = asyncio.ensure_future(self.run(key, params, onnx_path))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((answer, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not answer.done():
                answer.cancel()  # the client went away, or this request was cancelled
        if gone.done() and not gone.cancelled() and gone.exception() is not None:
            log.info("the request's channel failed (%s); taken as a disconnect",
                     type(gone.exception()).__name__)
        if answer.cancelled() or not answer.done():
            return None
        return answer.result()

    async def _job(self, key: str, job: _Job, params: dict[str, Any],
                   onnx_path: str | None) -> Outcome:
        worker = await self._take()
        if job.dropped:  # cancelled as the worker came (wait_for kept the worker)
            self.idle.put_nowait(worker)
            raise asyncio.CancelledError
        job.started = True
        outcome = await self._on(worker, params, onnx_path)
        if outcome.status == 200:
            self.cache.put(key, outcome)
        return outcome

    async def _on(self, worker: Worker, params: dict[str, Any],
                  onnx_path: str | None) -> Outcome:
        """Run the job on ``worker`` (which returns to the pool or is replaced)."""
        try:
            worker.conn.send((params, onnx_path))
            kind, outcome = await worker.receive(self.timeout)
        except TimeoutError:
            log.warning("analysis timed out after %s s; replacing its worker", self.timeout)
            self._retire(worker)
            raise ApiError(504, f"the analysis took longer than the server's timeout of "
                           f"{self.timeout:g} s (convcost serve --timeout)") from None
        except (EOFError, OSError):
            code = worker.died_of()
            self._retire(worker)
            if code == -signal.SIGXCPU:
                raise ApiError(503, cpu_message(self.timeout * (os.cpu_count() or 1))) \
                    from None
            log.warning("a worker process died (exit code %s); replacing it", code)
            limit = f"; its memory limit is {self.memory_mb} MiB (convcost serve " \
                    "--worker-memory)" if self.memory_mb is not None else ""
            raise ApiError(503, f"the worker process running the analysis died (exit code "
                           f"{code}){limit}") from None
        except asyncio.CancelledError:
            self._retire(worker)  # its last client went away, or the server is stopping
            raise
        if kind == "replace":
            self._retire(worker)
        else:
            self.idle.put_nowait(worker)
        assert isinstance(outcome, Outcome)
        return outcome

    def shutdown(self) -> None:
        """Stop the workers (at once: a running analysis is abandoned)."""
        self.closed = True
        for task in list(self.boots):
            task.cancel()
        for worker in list(self.alive):
            self._retire(worker, respawn=False)
        for job in list(self.running.values()):
            if job.task is not None:
                job.task.cancel()


async def _disconnected(receive: Receive) -> None:
    """Return when the client's side of the request says ``http.disconnect``."""
    while (await receive()).get("type") != "http.disconnect":
        await asyncio.sleep(0.1)  # not expected once the body is read: no busy loop
