"""Several analyses (the settings of a sweep, the entries of a comparison) run in parallel:
in local worker processes (``--jobs N``) or on an existing Dask distributed cluster
(``--cluster ADDRESS``).

A :class:`Job` is one analysis in plain, picklable values — the TARGET string, its
constructor arguments, the input strings, the analysis and hardware options, the device and
interconnect records — and :func:`analyse_job`, a top-level function, runs it: each worker
builds the model again from the TARGET (an ONNX target is read from its path), so no model
is ever pickled; a worker keeps the last model it built for the next job of the same target.
The results (:class:`~convcost.model.results.ModelResult` and
:class:`~convcost.hardware.answer.Hardware`, plain frozen dataclasses) come back pickled.

Why Dask rather than Ray for the cluster: Dask distributed is pure Python and installs with
``pip install "dask[distributed]"`` (the ``cluster`` extra), a ``LocalCluster`` starts in a
test in seconds, and its futures API is that of :mod:`concurrent.futures`, so both modes
share one loop; Ray needs its own runtime (a raylet and object store beside the Python
workers) and is a much heavier dependency for what is here a map over a few dozen jobs.

Errors: a :class:`~convcost.errors.SpecError` raised in a worker comes back as one (the
original does not pickle); any other :class:`~convcost.errors.ConvCostError` as a
:class:`RemoteError` with the same message.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import ConvCostError, SpecError

if TYPE_CHECKING:
    from .hardware.answer import Hardware
    from .hardware.devices import DeviceSpec
    from .hardware.distributed import Interconnect
    from .model.results import ModelResult

#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class Job:
    """One analysis in picklable values.

    ``options`` are :func:`convcost.model.analyze`'s (``mode``, ``counting``, ``dtype``,
    ``amp``, ``optimizer``, ``input_grad``, ``checkpoint``, ``data_dependent``; ``freeze`` is
    its own field: an ONNX target applies it to its initializers when loaded), ``hardware``
    :func:`convcost.hardware.answer.answer`'s (``tf32``, ``devices``, ``strategy``,
    ``foreach``). ``batch``/``resolution`` replace the inputs' batch and spatial size
    (``None``: unchanged). ``entry``: a comparison entry, whose result is relabelled (ONNX)
    and records where the model was built, as ``convcost compare`` reports it.
    """

    target: str
    model_args: dict[str, Any]
    inputs: tuple[str, ...]
    freeze: str | None
    options: dict[str, Any]
    hardware: dict[str, Any]
    device: DeviceSpec | None
    link: Interconnect
    batch: int | None = None
    resolution: int | None = None
    entry: bool = False


class RemoteError(ConvCostError):
    """A :class:`~convcost.errors.ConvCostError` raised in a worker, by its message."""


class RemoteSpecError(SpecError):
    """A :class:`~convcost.errors.SpecError` raised in a worker (one that pickles)."""

    def __reduce__(self) -> tuple[Any, tuple[str, object, str]]:
        return (RemoteSpecError, (self.field, self.value, self.allowed))


@dataclass(frozen=True)
class Model:
    """A built target: the module, its positional and keyword input strings (an ONNX
    graph's in graph order), the ``--freeze`` pattern left for the analysis (an ONNX target
    applied it when loaded: ``None``), the pattern to relabel an ONNX result with, and where
    a PyTorch model was built (``None`` for ONNX)."""

    module: Any
    pos: list[str]
    kw: dict[str, str]
    freeze: str | None
    relabel: str | None
    construction: str | None


def build(job: Job) -> Model:
    """The model of ``job``, built from its TARGET (what ``convcost model`` loads)."""
    from .frontends.targets import build_target, is_onnx_target
    from .spec import split_inputs

    if is_onnx_target(job.target):
        from .frontends.onnx import load_onnx

        module, specs = load_onnx(job.target, list(job.inputs), job.freeze)
        pos = ["x".join(map(str, s.shape)) + ":" + s.dtype
               + (":grad" if s.requires_grad else "") for s in specs]
        return Model(module, pos, {}, None, job.freeze, None)
    built = build_target(job.target, job.model_args)
    pos, kw = split_inputs("inputs", list(job.inputs))
    return Model(built.model, pos, kw, job.freeze, None, built.device)


def analyse(model: Any, pos: Sequence[Any], kwargs: Any, name: str, freeze: str | None,
            options: dict[str, Any], hardware: dict[str, Any], device: DeviceSpec | None,
            link: Interconnect) -> tuple[ModelResult, Hardware]:
    """:func:`convcost.model.analyze` of ``model`` and the hardware answer on ``device``."""
    from .hardware.answer import answer
    from .model import analyze

    result = analyze(model, list(pos), kwargs=kwargs, name=name, freeze=freeze, **options)
    return result, answer(result, device, interconnect=link, **hardware)


def run_job(job: Job, model: Model) -> tuple[ModelResult, Hardware]:
    """``job`` on an already built ``model``."""
    from .spec import parse_input, resize_shape

    pos = [resize_shape(x, job.batch, job.resolution) for x in model.pos]
    kwargs = {n: parse_input("inputs", resize_shape(v, job.batch, None))
              for n, v in model.kw.items()} or None
    result, hw = analyse(model.module, pos, kwargs, job.target, model.freeze, job.options,
                         job.hardware, job.device, job.link)
    if job.entry:
        if model.construction is None:
            result = model.module.relabel(result, model.relabel)
        else:
            result = replace(result, construction=model.construction)
    return result, hw


#: The last model this worker built, by its job's (target, arguments, inputs, freeze).
_LAST: dict[str, Model] = {}


def analyse_job(job: Job) -> tuple[ModelResult, Hardware]:
    """The work function of a worker: build ``job``'s model (or reuse the one built for the
    previous job of the same target) and analyse it. The model's prints go to standard
    error; errors come back as :class:`RemoteSpecError` / :class:`RemoteError`."""
    key = repr((job.target, sorted(job.model_args.items()), job.inputs, job.freeze))
    try:
        with contextlib.redirect_stdout(sys.stderr):
            model = _LAST.get(key)
            if model is None:
                _LAST.clear()
                model = _LAST[key] = build(job)
            return run_job(job, model)
    except SystemExit as e:
        raise RemoteSpecError("target", job.target,
                              f"the model's code called sys.exit({e.code!r})") from None
    except SpecError as e:
        raise RemoteSpecError(e.field, e.value, e.allowed) from None
    except ConvCostError as e:
        raise RemoteError(str(e)) from None


def check(jobs: int | None, cluster: str | None) -> None:
    """``--jobs`` (1 or more) and ``--cluster`` (not both): a SpecError naming the flag."""
    if jobs is not None and jobs < 1:
        raise SpecError("--jobs", jobs, "the number of worker processes: 1 or more")
    if jobs is not None and cluster is not None:
        raise SpecError("--cluster", cluster, "cannot be combined with --jobs (the cluster's "
                        "workers run the analyses; give one of the two)")


def is_parallel(jobs: int | None, cluster: str | None) -> bool:
    """Whether ``--jobs``/``--cluster`` ask for anything but one analysis after another."""
    return cluster is not None or (jobs or 1) > 1


def run_jobs(jobs: Sequence[Job], workers: int | None,
             cluster: str | None) -> Iterator[tuple[int, tuple[ModelResult, Hardware]]]:
    """``(index, result)`` of every job as it arrives: on ``workers`` local processes
    (spawned), or on the Dask scheduler at ``cluster``."""
    check(workers, cluster)
    if cluster is not None:
        yield from _on_dask(jobs, cluster)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    n = max(1, min(workers or 1, len(jobs)))
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(analyse_job, j): i for i, j in enumerate(jobs)}
        try:
            for f in as_completed(futures):
                yield futures[f], f.result()
        finally:
            for f in futures:
                f.cancel()


def _on_dask(jobs: Sequence[Job],
             address: str) -> Iterator[tuple[int, tuple[ModelResult, Hardware]]]:
    try:
        import dask.distributed
    except ImportError:
        raise SpecError("--cluster", address, 'needs Dask distributed: pip install '
                        '"convcost[cluster]" (or "dask[distributed]")') from None
    dd: Any = dask.distributed  # untyped
    try:
        client = dd.Client(address, timeout=CONNECT_TIMEOUT)
    except Exception as e:  # OSError, TimeoutError, ValueError (a bad address)
        why = " ".join(str(e).split()) or type(e).__name__
        raise SpecError("--cluster", address, f"no Dask scheduler answered there within "
                        f"{CONNECT_TIMEOUT} s ({why})") from None
    try:
        futures = [client.submit(analyse_job, j, pure=False) for j in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        for f in dd.as_completed(futures):
            yield index[f.key], f.result()
    finally:
        client.close()
