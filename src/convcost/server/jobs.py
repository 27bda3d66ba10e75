"""The worker pool that runs model and ONNX analyses for the server, with the per-request
timeout and the cache of finished results.

Decisions:

* A ``concurrent.futures.ProcessPoolExecutor`` in the ``spawn`` context (no fork of a
  process that runs an event loop and threads), ``workers`` processes, each importing torch
  and the analyser once at start (:func:`convcost.server.requests.warm_up`), so a model is
  answered without paying PyTorch's import. The event loop only awaits the futures
  (``asyncio.wrap_future``): layer requests keep answering while models run.
* Timeout: measured from the moment the job reaches a started pool (one whose first
  worker has done its imports: a pool just replaced is not charged to the request; a
  request queued behind others counts that wait). On timeout the answer is 504 and the
  pool is replaced: the old one's processes are terminated (a stuck analysis cannot be
  interrupted any other way) and the jobs that were running beside it are run again
  once on the new pool.
* Cache: identical requests (the same id: canonical parameters plus the upload's sha256)
  are answered from a bounded LRU of finished results, and an identical request arriving
  while the first one runs waits for that one instead of running again. Only successes
  are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .requests import ApiError, Outcome, run_analysis, warm_up

__all__ = ["JobRunner", "ResultCache"]

log = logging.getLogger("convcost.server")

#: Seconds a new pool may take to start (spawn a process, import torch) before requests are
#: sent to it anyway (and their timeout starts).
STARTUP_TIMEOUT = 120.0


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


class JobRunner:
    """Runs :func:`convcost.server.requests.run_analysis` in worker processes."""

    def __init__(self, workers: int, timeout: float, cache_size: int) -> None:
        self.workers = workers
        self.timeout = timeout
        self.cache = ResultCache(cache_size)
        self.running: dict[str, asyncio.Future[Outcome]] = {}
        self.ready: Future[int] | None = None
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=warm_up)
        # Start the processes (and their imports) now, not on first use; done once a
        # worker has finished warm_up.
        self.ready = pool.submit(int)
        return pool

    async def run(self, key: str, params: dict[str, Any],
                  onnx_path: str | None = None) -> Outcome:
        """The result of the analysis ``params`` (id ``key``): from the cache, from the
        identical request already running, or run now. Raises :class:`ApiError` 504 on
        timeout."""
        found = self.cache.get(key)
        if found is not None:
            return found
        same = self.running.get(key)
        if same is not None:
            await asyncio.wait([same])  # raises only if this request is cancelled
            if not same.cancelled():
                return same.result()
            # the first request went away before its result: run the analysis here
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.running[key] = fut
        try:
            outcome = await self._run(params, onnx_path)
            if outcome.status == 200:
                self.cache.put(key, outcome)
            fut.set_result(outcome)
            return outcome
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            if self.running.get(key) is fut:
                del self.running[key]

    async def _run(self, params: dict[str, Any], onnx_path: str | None) -> Outcome:
        for attempt in range(2):
            pool, ready = self.pool, self.ready
            if ready is not None:
                with contextlib.suppress(Exception):  # a broken pool fails the submit below
                    await asyncio.wait_for(asyncio.wrap_future(ready), STARTUP_TIMEOUT)
            try:
                cf = pool.submit(run_analysis, params, onnx_path)
            except (BrokenProcessPool, RuntimeError):  # replaced (or shutting down) meanwhile
                self._replace(pool)
                continue
            try:
                return await asyncio.wait_for(asyncio.wrap_future(cf), self.timeout)
            except asyncio.TimeoutError:
                log.warning("analysis timed out after %s s; restarting the worker pool",
                            self.timeout)
                self._replace(pool)
                raise ApiError(504, f"the analysis took longer than the server's timeout of "
                               f"{self.timeout:g} s (convcost serve --timeout)") from None
            except asyncio.CancelledError:
                if not cf.cancelled() or pool is self.pool or attempt:
                    raise  # the request itself was cancelled (the client went away)
                log.warning("the worker pool was replaced; running the analysis again")
            except BrokenProcessPool:
                if attempt:
                    raise
                log.warning("a worker process died; running the analysis again")
                self._replace(pool)
        raise ApiError(503, "the worker pool is not available")

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        """Terminate ``pool``'s processes and, if it is still the current one, start a new
        pool (several requests failing together replace it once)."""
        if pool is self.pool:
            self.pool = self._new_pool()
        _terminate(pool)

    def shutdown(self) -> None:
        """Cancel what waits, stop the workers (at once: a running analysis is abandoned)."""
        _terminate(self.pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: queued jobs cancelled, its processes terminated."""
    processes = list((pool._processes or {}).values())  # the stdlib offers no other handle
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
