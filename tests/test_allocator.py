"""The CUDA caching-allocator model (convcost.memory.allocator) on hand-derived traces.

Every expected number below is derived by hand from the rules of PyTorch 2.14.1's
CUDACachingAllocator (module doc of convcost.memory.allocator): 512-byte rounding, 2 MiB
small segments, 20 MiB segments for 1–10 MiB requests, 2 MiB rounding above, best fit,
splitting thresholds, merging on free, cache release before running out of memory. A
brute-force reference (a flat list of blocks scanned on every request) checks the model's
pool bookkeeping on random traces.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcost.memory.allocator import (
    AllocatorOutOfMemoryError,
    CachingAllocator,
    StepEvents,
    replay,
    round_size,
    segment_size,
    simulate,
)
from convcost.memory.timeline import Life

MiB = 2**20


def test_rounding_and_segment_sizes() -> None:
    assert [round_size(n) for n in (1, 511, 512, 513, 1000, 4096)] == [512, 512, 512, 1024,
                                                                        1024, 4096]
    assert segment_size(512) == segment_size(MiB) == 2 * MiB  # small pool
    assert segment_size(MiB + 512) == segment_size(10 * MiB - 512) == 20 * MiB
    assert segment_size(10 * MiB) == 10 * MiB
    assert segment_size(round_size(11 * MiB + 1)) == 12 * MiB  # rounded up to 2 MiB


def test_zero_bytes_take_no_block() -> None:
    a = CachingAllocator()
    assert a.malloc(0) is None
    a.free(None)
    assert (a.allocated, a.reserved, a.segments) == (0, 0, 0)


def test_small_requests_share_2mib_segments() -> None:
    a = replay([("alloc", 1, 1000), ("alloc", 2, 1000)])
    assert (a.allocated, a.reserved, a.segments) == (2048, 2 * MiB, 1)
    # 600 blocks of 4 KiB: 512 fill the first 2 MiB segment, the rest open a second
    a = replay([("alloc", i, 4096) for i in range(600)])
    assert (a.allocated, a.reserved, a.segments) == (600 * 4096, 4 * MiB, 2)
    assert a.requested == 600 * 4096


def test_unsplit_remainder_counts_as_allocated() -> None:
    # 5 MiB: a 20 MiB segment, split (15 MiB left > 1 MiB). 14.5 MiB then takes the 15 MiB
    # block whole: 0.5 MiB left is not more than 1 MiB, so it is not split off.
    a = replay([("alloc", 1, 5 * MiB), ("alloc", 2, 14 * MiB + MiB // 2)])
    assert (a.allocated, a.reserved, a.segments) == (20 * MiB, 20 * MiB, 1)
    assert a.max_requested == 19 * MiB + MiB // 2
    # 11 MiB + 1 byte: rounded to 11 MiB + 512, a 12 MiB segment, not split
    a = replay([("alloc", 1, 11 * MiB + 1)])
    assert (a.allocated, a.reserved) == (12 * MiB, 12 * MiB)


def test_freed_blocks_are_reused_and_split() -> None:
    a = replay([("alloc", 1, 30 * MiB), ("free", 1, 0), ("alloc", 2, 20 * MiB)])
    assert (a.allocated, a.reserved, a.segments) == (20 * MiB, 30 * MiB, 1)
    a = replay([("alloc", 1, 30 * MiB), ("free", 1, 0), ("alloc", 2, 20 * MiB),
                ("alloc", 3, 12 * MiB)])  # the 10 MiB left is too small: a new segment
    assert (a.allocated, a.reserved, a.segments) == (32 * MiB, 42 * MiB, 2)
    assert a.max_reserved == 42 * MiB


def test_free_merges_neighbours() -> None:
    base = [("alloc", 1, 4 * MiB), ("alloc", 2, 4 * MiB), ("free", 1, 0)]
    # both freed: one 20 MiB block again, which 18 MiB fits
    a = replay([*base, ("free", 2, 0), ("alloc", 3, 18 * MiB)])
    assert (a.allocated, a.reserved, a.segments) == (18 * MiB, 20 * MiB, 1)
    # block 2 still held: the free pieces are 4 and 12 MiB, 18 MiB needs a new segment
    a = replay([*base, ("alloc", 3, 18 * MiB)])
    assert (a.allocated, a.reserved, a.segments) == (22 * MiB, 38 * MiB, 2)


def test_best_fit_takes_the_smallest_block() -> None:
    a = replay([("alloc", 1, 12 * MiB), ("alloc", 2, 14 * MiB), ("free", 1, 0),
                ("free", 2, 0), ("alloc", 3, 11 * MiB)])
    assert a.allocated == 12 * MiB  # the 12 MiB block, whole (1 MiB left is not split off)
    a = replay([("alloc", 1, 12 * MiB), ("alloc", 2, 14 * MiB), ("free", 1, 0),
                ("free", 2, 0), ("alloc", 3, 11 * MiB), ("alloc", 4, 13 * MiB)])
    assert (a.allocated, a.reserved, a.segments) == (26 * MiB, 26 * MiB, 2)


def test_cache_is_released_before_running_out() -> None:
    a = replay([("alloc", 1, 30 * MiB), ("free", 1, 0), ("alloc", 2, 36 * MiB)],
               capacity=40 * MiB)
    assert (a.reserved, a.max_reserved, a.segments, a.frees_of_cache) == (36 * MiB, 36 * MiB,
                                                                          1, 1)
    with pytest.raises(AllocatorOutOfMemoryError):
        replay([("alloc", 1, 30 * MiB), ("free", 1, 0), ("alloc", 2, 36 * MiB),
                ("alloc", 3, 6 * MiB)], capacity=40 * MiB)  # a 20 MiB segment: no room
    # a segment with a block in use is not released
    with pytest.raises(AllocatorOutOfMemoryError):
        replay([("alloc", 1, 4 * MiB), ("alloc", 2, 30 * MiB)], capacity=40 * MiB)


def test_replay_rejects_unknown_events() -> None:
    with pytest.raises(ValueError, match="event kind"):
        replay([("resize", 1, 0)])


# --------------------------------------------------------------------------- a training loop


def _loop_events() -> StepEvents:
    """A hand-made step: parameter P and input X; activation A (3 MiB) and temporary T (5 MiB)
    freed before sample 3; a GEMM after sample 2; gradient G and optimizer state S kept;
    Adam's 4-byte step counter (kept on the host by PyTorch)."""
    lives = (
        Life(1000, "parameters", 0, None),
        Life(4096, "inputs", 0, None),
        Life(3 * MiB, "activations", 1, 3),
        Life(5 * MiB, "temporaries", 2, 3),
        Life(1000, "gradients", 3, None),
        Life(1000, "optimizer_state", 4, None),
        Life(4, "optimizer_state", 4, None),
    )
    return StepEvents(lives, gemm_samples=(2,), conv_samples=(), samples=5)


def test_training_loop_by_hand() -> None:
    ws = 4096 * 1024 * 2 + 16 * 1024 * 8  # cuBLAS workspace before Hopper: 8.125 MiB
    p = simulate(_loop_events(), cublas_workspace=ws)
    # step 1: P, X share a 2 MiB small segment; A opens a 20 MiB segment (17 MiB left), T
    # takes 5 MiB of it, the workspace 8.125 MiB (3.875 MiB left); A and T freed (merged to
    # 8 MiB); G and S are small blocks. Step 2 (G freed by zero_grad, S kept): A takes the
    # 3.875 MiB block whole (0.875 MiB left is not split off), T 5 MiB of the 8 MiB block:
    # allocated = P, X, S (3 × 1 KiB rounded, 4 KiB) + 3.875 + 5 + 8.125 MiB.
    assert p.allocated == 1024 + 4096 + 1024 + 17 * MiB
    assert p.reserved == 22 * MiB and p.segments == 2 and not p.oom
    assert p.live == 8 * MiB + 6096  # step 2's: the 4-byte step counter is on the host
    assert p.steps == 3 and p.cublas_workspace == ws
    one = simulate(_loop_events(), cublas_workspace=ws, steps=1)
    assert one.allocated == 5120 + 16 * MiB + MiB // 8  # P, X, A, T and the workspace
    assert simulate(_loop_events(), cublas_workspace=ws, training=False).steps == 1


def test_cudnn_workspace_is_transient() -> None:
    ev = StepEvents((Life(MiB, "activations", 1, None),), conv_samples=(1,), samples=2)
    p = simulate(ev, cudnn_workspace=12 * MiB, steps=1)
    # 1 MiB (small pool, 2 MiB segment) then a 12 MiB workspace segment, freed at once
    assert (p.allocated, p.reserved) == (13 * MiB, 14 * MiB)


def test_out_of_memory_reports_the_unlimited_run() -> None:
    ev = _loop_events()
    fits = simulate(ev, capacity=22 * MiB)
    assert not fits.oom and fits.reserved <= 22 * MiB
    short = simulate(ev, capacity=20 * MiB)
    assert short.oom and short.reserved == simulate(ev).reserved > 20 * MiB


# --------------------------------------------------------------------------- brute force


@dataclass
class _Ref:
    addr: int
    size: int
    seg: int
    free: bool
    small: bool


class _Reference:
    """The same rules, written the slow and obvious way: every block in one list."""

    def __init__(self) -> None:
        self.blocks: list[_Ref] = []
        self.next_addr = 0
        self.allocated = self.reserved = self.max_allocated = self.max_reserved = 0

    def malloc(self, n: int) -> _Ref:
        size = round_size(n)
        small = size <= MiB
        fits = sorted((b for b in self.blocks if b.free and b.small == small and b.size >= size),
                      key=lambda b: (b.size, b.addr))
        if fits:
            b = fits[0]
        else:
            seg = segment_size(size)
            b = _Ref(self.next_addr, seg, self.next_addr, True, small)
            self.next_addr += seg
            self.blocks.append(b)
            self.reserved += seg
            self.max_reserved = max(self.max_reserved, self.reserved)
        rest = b.size - size
        if (rest >= 512) if small else (rest > MiB):
            self.blocks.append(_Ref(b.addr + size, rest, b.seg, True, small))
            b.size = size
        b.free = False
        self.allocated += b.size
        self.max_allocated = max(self.max_allocated, self.allocated)
        return b

    def free(self, b: _Ref) -> None:
        self.allocated -= b.size
        b.free = True
        merged = True
        while merged:  # merge free neighbours of the same segment until none is left
            merged = False
            for x in self.blocks:
                for y in self.blocks:
                    if (x is not y and x.free and y.free and x.seg == y.seg
                            and x.addr + x.size == y.addr):
                        x.size += y.size
                        self.blocks.remove(y)
                        merged = True
                        break
                if merged:
                    break


_SIZES = st.one_of(st.integers(1, 4096), st.integers(MiB - 600, MiB + 600),
                   st.integers(1, 12 * MiB), st.integers(9 * MiB, 40 * MiB))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _SIZES, st.integers(0, 30)), max_size=60))
def test_matches_brute_force(ops: list[tuple[bool, int, int]]) -> None:
    model, ref = CachingAllocator(), _Reference()
    held: list[tuple[object, _Ref, int]] = []
    for is_alloc, size, pick in ops:
        if is_alloc or not held:
            held.append((model.malloc(size), ref.malloc(size), size))
        else:
            m, r, _ = held.pop(pick % len(held))
            model.free(m)  # type: ignore[arg-type]
            ref.free(r)
        assert (model.allocated, model.reserved) == (ref.allocated, ref.reserved)
        assert model.reserved >= model.allocated >= sum(round_size(n) for *_, n in held)
    assert (model.max_allocated, model.max_reserved) == (ref.max_allocated, ref.max_reserved)
    for m, _, _ in held:
        model.free(m)  # type: ignore[arg-type]
    assert model.allocated == 0
    model.release_cache()  # every segment is whole again: all of them are given back
    assert (model.reserved, model.segments) == (0, 0)
