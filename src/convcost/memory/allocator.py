"""A model of PyTorch's CUDA caching allocator, replayed over a step's storage lifetimes.

On a GPU, what decides whether a step fits is not the bytes of live tensors but what
PyTorch's caching allocator (``c10/cuda/CUDACachingAllocator.cpp``) asks the driver for.
This module replays the allocations and frees of a recorded step (the same storage
lifetimes the live-tensor timeline is built from, :mod:`convcost.memory.timeline`) through
a model of that allocator and reports the two figures PyTorch itself reports:
``torch.cuda.max_memory_allocated()`` (bytes of allocated blocks, after rounding) and
``torch.cuda.max_memory_reserved()`` (bytes of the segments obtained with ``cudaMalloc``).

The rules, as in torch 2.14.1 with the default configuration (no ``PYTORCH_CUDA_ALLOC_CONF``:
no ``max_split_size_mb``, no garbage-collection threshold, no expandable segments; the
constants are in ``c10/core/AllocatorConfig.h`` of that version, the logic in
``c10/cuda/CUDACachingAllocator.cpp``):

* every request is rounded up to a multiple of 512 bytes (at least 512; 0 bytes: no block);
* requests of at most 1 MiB are *small*: served from the small pool, whose segments are
  2 MiB; larger ones from the large pool, whose segments are 20 MiB for requests under
  10 MiB and the request rounded up to a multiple of 2 MiB otherwise;
* a request takes the smallest free block of its pool that is large enough (ties: the lowest
  address); only when there is none is a new segment allocated;
* a block larger than the request is split when the rest is at least 512 bytes (small pool)
  or more than 1 MiB (large pool); otherwise the whole block is handed out and counted as
  allocated;
* a freed block is merged with free neighbours of its segment; segments are kept (reserved)
  until the cache is emptied;
* when the driver has no room for a new segment, the allocator releases every cached
  segment that is entirely free and tries once more; if that fails too, the step runs out
  of memory.

Addresses: segments are laid out one after another in allocation order (the driver's real
addresses only break ties between equal-sized free blocks). One CUDA stream.

Library workspaces that go through the allocator: cuBLAS (and cuBLASLt, which shares it since
torch 2.3 by default) allocates one workspace per stream at its first GEMM and keeps it —
``CUBLAS_WORKSPACE_CONFIG``'s default, 4096 KiB × 2 + 16 KiB × 8 (8.125 MiB), 32 MiB on
compute capability 9.x, 10.x and 12.x (Hopper and Blackwell), 32 MiB on ROCm and 128 MiB on
gfx94x/gfx95x (MI300) (``aten/src/ATen/cuda/CublasHandlePool.cpp``,
``parseChosenWorkspaceSize``). cuDNN's convolution workspace depends on the algorithm
cuDNN's heuristics choose and has no documented size: it is a per-device constant
(``cudnn_workspace``, default 0 = not modelled) allocated after a convolution's output and
freed right after it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .timeline import Life

#: torch 2.14.1 ``c10/core/AllocatorConfig.h``.
MIN_BLOCK = 512
SMALL_SIZE = 1 << 20
SMALL_BUFFER = 2 << 20
LARGE_BUFFER = 20 << 20
MIN_LARGE_ALLOC = 10 << 20
ROUND_LARGE = 2 << 20

#: The version of PyTorch whose allocator this models.
TORCH_VERSION = "2.14.1"

#: cuBLAS workspace per stream by architecture family (``DeviceSpec.arch``), bytes.
CUBLAS_WORKSPACE: dict[str, int] = {
    "volta": 4096 * 1024 * 2 + 16 * 1024 * 8,
    "turing": 4096 * 1024 * 2 + 16 * 1024 * 8,
    "ampere": 4096 * 1024 * 2 + 16 * 1024 * 8,
    "ada": 4096 * 1024 * 2 + 16 * 1024 * 8,
    "hopper": 4096 * 8 * 1024,
    "blackwell": 4096 * 8 * 1024,
    "cdna2": 32 * 1024 * 1024,
    "cdna3": 128 * 1024 * 1024,
}


def round_size(nbytes: int) -> int:
    """The block size a request of ``nbytes`` gets (multiple of 512, at least 512)."""
    if nbytes < MIN_BLOCK:
        return MIN_BLOCK
    return MIN_BLOCK * -(-nbytes // MIN_BLOCK)


def segment_size(size: int) -> int:
    """The size of the segment ``cudaMalloc`` gets when no cached block fits a rounded
    request of ``size`` bytes."""
    if size <= SMALL_SIZE:
        return SMALL_BUFFER
    if size < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return ROUND_LARGE * -(-size // ROUND_LARGE)


class AllocatorOutOfMemoryError(Exception):
    """The modelled allocator could not get a segment within its capacity."""

    def __init__(self, request: int, reserved: int, capacity: int) -> None:
        super().__init__(f"cannot allocate {request} bytes: {reserved} reserved of {capacity}")
        self.request = request
        self.reserved = reserved
        self.capacity = capacity


@dataclass
class _Block:
    addr: int
    size: int
    small: bool
    free: bool = True
    prev: _Block | None = field(default=None, repr=False)
    next: _Block | None = field(default=None, repr=False)


def _join(left: _Block, right: _Block) -> None:
    """Block ``right``, the next one of ``left``'s segment, becomes part of ``left``."""
    left.size += right.size
    left.next = right.next
    if right.next is not None:
        right.next.prev = left


class CachingAllocator:
    """The caching allocator's bookkeeping (see the module doc for the rules).

    ``capacity`` (bytes; ``None``: unlimited) is what ``cudaMalloc`` may hand out in all:
    a new segment that would take ``reserved`` beyond it first releases the free cached
    segments, then raises :class:`AllocatorOutOfMemoryError`. Statistics, in bytes, as
    PyTorch keeps them:
    ``allocated`` / ``max_allocated`` (block sizes after rounding and unsplit remainders),
    ``reserved`` / ``max_reserved`` (segments), ``requested`` / ``max_requested`` (the
    sizes asked for), ``segments`` (count) and ``frees_of_cache`` (times the cache was
    released to retry).
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self._pools: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
        self._free_blocks: dict[int, _Block] = {}
        self._next_addr = 0
        self.allocated = 0
        self.max_allocated = 0
        self.reserved = 0
        self.max_reserved = 0
        self.requested = 0
        self.max_requested = 0
        self.segments = 0
        self.frees_of_cache = 0
        self._requests: dict[int, int] = {}

    # ----------------------------------------------------------------- pools
    def _insert(self, b: _Block) -> None:
        insort(self._pools[b.small], (b.size, b.addr))
        self._free_blocks[b.addr] = b

    def _remove(self, b: _Block) -> None:
        pool = self._pools[b.small]
        i = bisect_left(pool, (b.size, b.addr))
        del pool[i]
        del self._free_blocks[b.addr]

    def _best_fit(self, size: int, small: bool) -> _Block | None:
        pool = self._pools[small]
        i = bisect_left(pool, (size, -1))
        if i == len(pool):
            return None
        b = self._free_blocks[pool[i][1]]
        self._remove(b)
        return b

    def _new_segment(self, size: int, small: bool) -> _Block:
        if self.capacity is not None and self.reserved + size > self.capacity:
            self.release_cache()
            self.frees_of_cache += 1
            if self.reserved + size > self.capacity:
                raise AllocatorOutOfMemoryError(size, self.reserved, self.capacity)
        b = _Block(self._next_addr, size, small)
        self._next_addr += size
        self.reserved += size
        self.segments += 1
        self.max_reserved = max(self.max_reserved, self.reserved)
        return b

    # ----------------------------------------------------------------- API
    def malloc(self, nbytes: int) -> _Block | None:
        """Allocate a block for a request of ``nbytes`` (``None`` for 0 bytes)."""
        if nbytes <= 0:
            return None
        size = round_size(nbytes)
        small = size <= SMALL_SIZE
        b = self._best_fit(size, small)
        if b is None:
            b = self._new_segment(segment_size(size), small)
        rest = b.size - size
        if (rest >= MIN_BLOCK) if small else (rest > SMALL_SIZE):
            tail = _Block(b.addr + size, rest, small, True, b, b.next)
            if b.next is not None:
                b.next.prev = tail
            b.next = tail
            b.size = size
            self._insert(tail)
        b.free = False
        self.allocated += b.size
        self.max_allocated = max(self.max_allocated, self.allocated)
        self._requests[b.addr] = nbytes
        self.requested += nbytes
        self.max_requested = max(self.max_requested, self.requested)
        return b

    def free(self, b: _Block | None) -> None:
        """Return block ``b`` to its pool, merged with free neighbours of its segment."""
        if b is None:
            return
        self.allocated -= b.size
        self.requested -= self._requests.pop(b.addr)
        b.free = True
        p = b.prev
        if p is not None and p.free:
            self._remove(p)
            _join(p, b)
            b = p
        n = b.next
        if n is not None and n.free:
            self._remove(n)
            _join(b, n)
        self._insert(b)

    def release_cache(self) -> None:
        """``torch.cuda.empty_cache()``: give back every segment that is entirely free."""
        for b in list(self._free_blocks.values()):
            if b.prev is None and b.next is None:
                self._remove(b)
                self.reserved -= b.size
                self.segments -= 1


# --------------------------------------------------------------------------- replaying a step


@dataclass(frozen=True)
class StepEvents:
    """What the allocator sees of one recorded run: the storage lifetimes (``lives``, in
    storage order), the samples after which a GEMM (cuBLAS) op ran (``gemm_samples``) and a
    convolution (cuDNN) op ran (``conv_samples``); sample ``i + 1`` is right after op ``i``."""

    lives: tuple[Life, ...]
    gemm_samples: tuple[int, ...] = ()
    conv_samples: tuple[int, ...] = ()
    samples: int = 0


@dataclass(frozen=True)
class AllocatorPeaks:
    """Predicted allocator figures of a training loop (or an inference forward), bytes.

    ``live`` — largest live tensor bytes (the exact timeline); ``allocated`` /
    ``reserved`` — predicted ``torch.cuda.max_memory_allocated()`` /
    ``max_memory_reserved()`` over ``steps`` steps from a fresh process; ``capacity`` —
    what the allocator could reserve (``None``: unlimited); ``oom`` — the step ran out of
    ``capacity`` (then ``reserved`` is the unlimited run's, above ``capacity``);
    ``cublas_workspace`` / ``cudnn_workspace`` — the workspace sizes assumed;
    ``segments`` — segments reserved at the end; ``cache_releases`` — times the cache was
    emptied to make room.
    """

    live: int
    allocated: int
    reserved: int
    capacity: int | None
    oom: bool
    steps: int
    cublas_workspace: int
    cudnn_workspace: int
    segments: int
    cache_releases: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "live_peak_bytes": self.live,
            "allocated_peak_bytes": self.allocated,
            "reserved_peak_bytes": self.reserved,
            "allocator_capacity_bytes": self.capacity,
            "out_of_memory": self.oom,
            "steps": self.steps,
            "cublas_workspace_bytes": self.cublas_workspace,
            "cudnn_workspace_bytes": self.cudnn_workspace,
            "segments": self.segments,
            "cache_releases": self.cache_releases,
        }


def step_events(lives: Sequence[Life], op_names: Sequence[str], samples: int) -> StepEvents:
    """:class:`StepEvents` of a run whose op ``i`` is named ``op_names[i]`` (aten names such
    as ``"addmm.default"``)."""
    from ..formulas.kernels import CONV_OPS, MATMUL_OPS
    from ..formulas.registry import bare_name

    gemm, conv = [], []
    for i, name in enumerate(op_names):
        base = bare_name(name)
        if base in MATMUL_OPS:
            gemm.append(i + 1)
        elif base in CONV_OPS:
            conv.append(i + 1)
    return StepEvents(tuple(lives), tuple(gemm), tuple(conv), samples)


_PERSISTENT = ("parameters", "buffers", "inputs")


def _host_resident(life: Life) -> bool:
    # Adam's/AdamW's step counters: 0-dim float32 tensors that the default (non-capturable,
    # non-fused) optimizers keep on the host.
    return life.category == "optimizer_state" and life.nbytes <= 8


def simulate(events: StepEvents, *, capacity: int | None = None, cublas_workspace: int = 0,
             cudnn_workspace: int = 0, steps: int = 3, training: bool = True) -> AllocatorPeaks:
    """Replay ``steps`` iterations of a training loop (``training``; else one inference
    forward) through :class:`CachingAllocator` with ``capacity``.

    The loop is ``zero_grad(set_to_none=True)``, forward, backward, optimizer step, on the
    same inputs: parameters, buffers and inputs are allocated first, in storage order; a
    step frees what the previous one left (gradients, its loss and outputs) before its
    first op; optimizer state created by the first step is kept and not allocated again;
    later steps' optimizer temporaries are taken to be the first step's. Within a sample,
    the storages that died since the previous sample are freed before the op's results are
    allocated. ``live`` is the largest live-tensor total over the loop.
    """
    lives = [lf for lf in events.lives if lf.nbytes > 0 and not _host_resident(lf)]
    samples = max(events.samples, 1)
    frees: dict[int, list[int]] = {}
    allocs: dict[int, list[int]] = {}
    for i, lf in enumerate(lives):
        if lf.category in _PERSISTENT:
            continue
        allocs.setdefault(lf.alloc, []).append(i)
        if lf.free is not None:
            frees.setdefault(lf.free, []).append(i)
    gemm = set(events.gemm_samples)
    conv = set(events.conv_samples)

    def run(cap: int | None) -> tuple[CachingAllocator, bool, int, int]:
        a = CachingAllocator(cap)
        blocks: dict[int, Any] = {}
        live = 0
        peak = 0
        workspace = None
        n_steps = steps if training else 1
        try:
            for i, lf in enumerate(lives):
                if lf.category in _PERSISTENT:
                    blocks[i] = a.malloc(lf.nbytes)
                    live += lf.nbytes
            peak = live
            for step in range(n_steps):
                if step:
                    # zero_grad(set_to_none=True) and the last step's loss/outputs go
                    for i in list(blocks):
                        if lives[i].category not in (*_PERSISTENT, "optimizer_state"):
                            a.free(blocks.pop(i))
                            live -= lives[i].nbytes
                for s in range(samples + 1):
                    for i in frees.get(s, ()):
                        if i in blocks:
                            a.free(blocks.pop(i))
                            live -= lives[i].nbytes
                    for i in allocs.get(s, ()):
                        if step and lives[i].category == "optimizer_state":
                            continue
                        blocks[i] = a.malloc(lives[i].nbytes)
                        live += lives[i].nbytes
                    peak = max(peak, live)
                    if s in gemm and workspace is None and cublas_workspace:
                        workspace = a.malloc(cublas_workspace)
                    if s in conv and cudnn_workspace:
                        a.free(a.malloc(cudnn_workspace))
        except AllocatorOutOfMemoryError:
            return a, True, peak, n_steps
        return a, False, peak, n_steps

    a, oom, live_peak, n = run(capacity)
    if oom:
        a, _, live_peak, n = run(None)
    return AllocatorPeaks(live_peak, a.max_allocated, a.max_reserved, capacity, oom, n,
                          cublas_workspace, cudnn_workspace, a.segments, a.frees_of_cache)


def replay(requests: Iterable[tuple[str, int, int]],
           capacity: int | None = None) -> CachingAllocator:
    """Run a hand-written trace: ``("alloc", key, nbytes)`` and ``("free", key, 0)`` events
    (keys name the allocations), returning the allocator for its statistics."""
    a = CachingAllocator(capacity)
    held: dict[int, Any] = {}
    for kind, key, nbytes in requests:
        if kind == "alloc":
            held[key] = a.malloc(nbytes)
        elif kind == "free":
            a.free(held.pop(key))
        else:
            raise ValueError(f"event kind {kind!r}: allowed alloc, free")
    return a
