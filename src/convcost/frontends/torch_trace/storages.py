"""Tensor storages of one run: ids, sizes and lifetimes (:class:`Storages`).

Every tensor storage is followed from the op that produced it until a weak-reference
callback says it was freed; ``saved_tensors_hooks`` (:mod:`.attribution`) say which storages
autograd saved.
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any

import torch
from torch.utils.weak import WeakIdKeyDictionary

from ..records import StorageRecord


class Storages:
    """Ids, sizes and lifetimes of the tensor storages seen during one run."""

    def __init__(self) -> None:
        self._ids: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._refs: list[weakref.ref[Any] | None] = []
        self.nbytes: list[int] = []
        self.origin: list[str] = []
        self.alloc: list[int] = []
        self.free: list[int | None] = []
        self.phase: list[str] = []
        self.clock = 0
        self.closed = False

    def get(self, t: torch.Tensor) -> int | None:
        """The id of ``t``'s storage, or ``None`` when it is not known (or has none)."""
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError, TypeError):
            return None
        sid: int | None = self._ids.get(st)  # type: ignore[no-untyped-call]
        return sid

    def add(self, t: torch.Tensor, origin: str, phase: str) -> int | None:
        """The id of ``t``'s storage, registering it (``origin``) when new."""
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError, TypeError):
            return None
        known: int | None = self._ids.get(st)  # type: ignore[no-untyped-call]
        if known is not None:
            return known
        sid = len(self.nbytes)
        self.nbytes.append(int(st.nbytes()))
        self.origin.append(origin)
        self.alloc.append(self.clock if origin == "op" else 0)
        self.free.append(None)
        self.phase.append(phase if origin == "op" else "")
        self._refs.append(weakref.ref(st, partial(self._freed, sid)))
        self._ids[st] = sid
        return sid

    def _freed(self, sid: int, _ref: object) -> None:
        if not self.closed:
            # Freed after the sample of the last op: not live from the next sample on.
            self.free[sid] = self.clock + 1
            self._refs[sid] = None

    def records(self) -> tuple[StorageRecord, ...]:
        return tuple(
            StorageRecord(i, self.nbytes[i], self.origin[i], self.alloc[i], self.free[i],
                          self.phase[i])
            for i in range(len(self.nbytes))
        )
