"""Resource limits of the server's worker processes: memory, CPU time and priority, and the
one-line answers when a request runs into them.

Decisions:

* **Memory: ``RLIMIT_DATA``, not ``RLIMIT_AS``.** A worker that has imported torch,
  torchvision and timm maps about 4 GiB of address space (shared libraries, reserved
  arenas) but uses about 1 GiB of private data; ``RLIMIT_DATA`` (private writable memory,
  anonymous ``mmap`` included, Linux 4.7 and later) bounds what an analysis allocates,
  which is what exhausts a machine. The default, :func:`default_worker_memory_mb`, is half
  the machine's RAM shared among the workers (at least :data:`MIN_WORKER_MEMORY_MB`), so
  the workers together cannot take more than half the machine.
* An allocation over the limit fails inside the worker (``MemoryError``, or PyTorch's
  ``DefaultCPUAllocator: can't allocate memory``): the answer is 413 with
  :func:`memory_message`, and that worker is replaced (a failed allocation can leave a
  library in a bad state). A worker that dies outright (a C++ ``std::bad_alloc`` aborts
  the process) is answered 503 and replaced.
* **CPU time: ``RLIMIT_CPU`` per job.** The worker runs many jobs, so at each job's start
  the soft limit is set to the CPU seconds used so far plus ``--timeout`` times the number
  of cores (CPU time adds up over the job's threads; the hard limit
  stays where it was, so it can be raised again for the next job). A job over it gets
  ``SIGXCPU``, whose default action ends the process: the server answers 503
  (:func:`cpu_message`) and replaces that worker. The server's wall-clock watchdog
  (:mod:`.jobs`) covers a job that sleeps or waits.
* **Up front** (:func:`check_cpu_build`): a detection model is built on the CPU with real
  parameters, so ``model_args`` such as ``num_classes: 100000`` are checked on a meta-device
  copy first and refused (400, naming the argument) when the parameters alone cannot fit.
  Inputs too large for a real run are refused by the analyser itself
  (:func:`convcost.frontends.detection.check_run_memory`, which reads the same limit).
* **Priority: ``os.nice(NICE)``** in each worker, so on a machine with few cores the
  server's event loop (which answers layer requests itself) wins over model analyses.
"""

from __future__ import annotations

import math
import os
import resource
import signal
from typing import Any

from ..frontends.detection import data_in_use

__all__ = [
    "INPUT_COPIES", "MIN_WORKER_MEMORY_MB", "NICE", "PARAMETER_COPIES", "apply_worker_limits",
    "check_cpu_build", "cpu_message", "data_in_use", "data_limit",
    "default_worker_memory_mb", "is_out_of_memory", "limit_job_cpu", "memory_message",
]

#: The smallest default memory limit of a worker (MiB): a worker with torch imported needs
#: about 1 GiB before it analyses anything.
MIN_WORKER_MEMORY_MB = 2048
#: How much the workers' priority is lowered (``os.nice``).
NICE = 10


def total_memory_mb() -> int | None:
    """The machine's RAM in MiB, or None when the system does not say."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if pages <= 0 or size <= 0:
        return None
    return pages * size // (1024 * 1024)


def default_worker_memory_mb(workers: int) -> int:
    """The default ``--worker-memory``: half the machine's RAM shared among ``workers``
    processes, at least :data:`MIN_WORKER_MEMORY_MB` (MiB)."""
    total = total_memory_mb()
    if total is None:
        return 8 * 1024
    return max(MIN_WORKER_MEMORY_MB, total // 2 // max(1, workers))


def memory_message(limit_mb: int) -> str:
    """The one-line answer to an analysis that needed more memory than the limit."""
    return (f"the analysis needed more than the worker's memory limit of {limit_mb} MiB "
            "(convcost serve --worker-memory)")


def cpu_message(seconds: float) -> str:
    """The one-line answer to an analysis that used more CPU time than the limit."""
    return (f"the analysis used more than the worker's CPU-time limit of {seconds:g} s "
            "(convcost serve --timeout)")


def apply_worker_limits(memory_mb: int | None) -> None:
    """In a worker process: lower its priority and limit its private memory to
    ``memory_mb`` MiB (None: no limit). Ctrl-C is the server's to handle, not the
    workers'."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    try:
        os.nice(NICE)
    except OSError:  # not allowed here: the worker runs at the server's priority
        pass
    if memory_mb is not None:
        limit = memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def limit_job_cpu(seconds: float) -> None:
    """In a worker process, at the start of a job: allow it ``seconds`` more CPU time
    (``SIGXCPU``, which ends the process, when it uses more)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def data_limit() -> int | None:
    """This process's ``RLIMIT_DATA`` in bytes (None: unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else soft


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a failed allocation."""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 20:
        if isinstance(e, MemoryError):
            return True
        text = str(e)
        if isinstance(e, RuntimeError) and ("can't allocate memory" in text
                                            or "std::bad_alloc" in text
                                            or "out of memory" in text.lower()):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


#: Copies of its parameters a CPU-built detection model holds at least in a real run: the
#: model and the copy whose thresholds are opened (:mod:`convcost.frontends.detection`).
PARAMETER_COPIES = 2
#: Copies of its inputs such a run holds at least (as
#: :data:`convcost.frontends.detection.INPUT_FACTOR`: the input, its normalised copy and
#: the resized batch).
INPUT_COPIES = 3


def check_cpu_build(params: dict[str, Any]) -> tuple[str, str] | None:
    """In a worker, before a request's model is built: ``(field, error)`` when the model
    would be built on the CPU (torchvision's detection models, which run for real) and
    :data:`PARAMETER_COPIES` x its parameter bytes (counted on a copy built on the meta
    device) plus :data:`INPUT_COPIES` x its inputs' bytes exceed what is left of the
    worker's memory limit; None otherwise (also when the meta build fails: the real build
    is then stopped by the limit itself). The field named is ``inputs`` when the inputs
    alone are too large, else the ``model_args`` entry with the largest integer value
    (``model_args.num_classes``), or ``target`` when none is given. Runs before anything
    else of the request: no fake trace on a huge input first."""
    limit = data_limit()
    target = str(params.get("target", ""))
    kind, _, name = target.partition(":")
    if limit is None or params.get("kind") != "model" or kind != "torchvision":
        return None
    try:
        import torch
        import torchvision

        from ..frontends.offline import no_network
        from ..frontends.targets import weight_arguments

        if name not in torchvision.models.list_models(module=torchvision.models.detection):
            return None
        args = dict(params.get("model_args") or {})
        builder = torchvision.models.get_model_builder(name)
        kw = {**args, **dict.fromkeys(weight_arguments(builder))}
        with no_network(), torch.device("meta"):
            model = builder(**kw)
        size = sum(t.numel() * t.element_size()
                   for t in [*model.parameters(), *model.buffers()])
    except Exception:  # the real build reports it
        return None
    data = _input_bytes(params.get("inputs") or [])
    room = limit - data_in_use()
    if INPUT_COPIES * data > room:
        shown = ", ".join(map(str, params.get("inputs") or []))
        return "inputs", (f"inputs: got {shown!r}; a real run of {target} (it runs its "
                          f"data-dependent ops) would need at least {INPUT_COPIES} x the "
                          f"inputs' {data:,} bytes, more than the {max(room, 0):,} bytes left "
                          f"of the worker's memory limit of {limit // (1024 * 1024)} MiB "
                          "(convcost serve --worker-memory); give a smaller input")
    need = PARAMETER_COPIES * size + INPUT_COPIES * data
    if need <= room:
        return None
    numbers = [(v, k) for k, v in args.items()
               if isinstance(v, int) and not isinstance(v, bool)]
    field = f"model_args.{max(numbers)[1]}" if numbers else "target"
    return field, (f"{field}: {target} with these arguments has {size:,} bytes of parameters; "
                   f"a real run (it is built on the CPU) would need at least {need:,} bytes, "
                   f"more than the {max(room, 0):,} bytes left of the worker's memory limit of "
                   f"{limit // (1024 * 1024)} MiB (convcost serve --worker-memory)")


def _input_bytes(inputs: list[str]) -> int:
    """The bytes of the inputs written as in ``POST /api/model`` (0 for what does not
    parse: the analysis reports it)."""
    from ..dtypes import dtype_bytes
    from ..spec import parse_input, split_inputs

    try:
        pos, kw = split_inputs("inputs", inputs)
        specs = [parse_input("inputs", x) for x in [*pos, *kw.values()]]
        return sum(math.prod(s.shape) * dtype_bytes(s.dtype) for s in specs)
    except (ValueError, TypeError, OverflowError):
        return 0
