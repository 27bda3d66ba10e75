"""Data-dependent sizes at their upper bound (detection models; imports torch).

:func:`open_limits` copies a model and opens the thresholds of its detection heads
(:data:`OPENED_LIMITS`); :func:`bounded` keeps every box in torchvision's small-box filter
while a run lasts. Together every candidate survives every filter, so the sizes an analysis
sees are the model's own limits — the region proposal network's pre/post-NMS top-n, the
heads' ``topk_candidates`` and ``detections_per_img`` — whatever the (random) weights and
inputs: a deterministic upper bound of a real run for that input size.

:func:`check_run_memory` refuses, before the real run, an input too large for the process's
memory limit (``RLIMIT_DATA``, which ``convcost serve`` sets in its workers): a run holds
at least :data:`INPUT_FACTOR` copies of its inputs (the input, the transform's normalised
copy and its resized batch) and, when the thresholds are opened, a copy of the parameters.
That is a lower bound (activations come on top), so it refuses only what cannot fit; the
limit itself stops the rest (the allocation fails).
"""

from __future__ import annotations

import contextlib
import copy
import math
import resource
from collections.abc import Iterator
from typing import Any

from ..errors import SpecError

#: Thresholds of torchvision's detection heads that :func:`open_limits` opens: a score
#: threshold below every score, an NMS IoU threshold no pair exceeds.
OPENED_LIMITS: dict[str, float] = {"score_thresh": -1.0, "nms_thresh": 1.0}


def open_limits(model: Any) -> tuple[Any, tuple[tuple[str, str, float, float], ...]]:
    """A deep copy of ``model`` whose detection thresholds (:data:`OPENED_LIMITS`, on any
    submodule that has them as numbers) are opened, and what was changed:
    ``(module path, attribute, value before, value used)``."""
    m = copy.deepcopy(model)
    changed = []
    for path, sub in m.named_modules():
        for attr, value in OPENED_LIMITS.items():
            before = getattr(sub, attr, None)
            if isinstance(before, (int, float)) and not isinstance(before, bool) \
                    and before != value:
                setattr(sub, attr, value)
                changed.append((path, attr, float(before), value))
    return m, tuple(changed)


@contextlib.contextmanager
def bounded(active: bool = True) -> Iterator[None]:
    """While the block runs (and ``active``), torchvision's ``remove_small_boxes`` keeps
    boxes of every size (it still runs, so its ops are counted)."""
    if not active:
        yield
        return
    try:
        from torchvision.ops import boxes
    except ImportError:  # no torchvision: no such filter to open
        yield
        return
    original = boxes.remove_small_boxes

    def keep_all(b: Any, min_size: float) -> Any:
        return original(b, float("-inf"))

    boxes.remove_small_boxes = keep_all
    try:
        yield
    finally:
        boxes.remove_small_boxes = original


#: Copies of its inputs a real run of a detection model holds at least.
INPUT_FACTOR = 3


def check_run_memory(model: Any, inputs: list[Any], copies_model: bool) -> None:
    """Raise :class:`SpecError` (field ``inputs``) when a real run of ``model`` on
    ``inputs`` (shapes as :class:`~convcost.spec.InputSpec`, or tensors) needs more than
    what is left of this process's ``RLIMIT_DATA`` (nothing is checked without a limit):
    :data:`INPUT_FACTOR` × the inputs' bytes, plus the parameters' and buffers' bytes when
    ``copies_model`` (:func:`open_limits` copies the model)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY:
        return
    from ..dtypes import dtype_bytes

    data = 0
    for x in inputs:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        if shape is None or dtype is None:
            continue
        size = x.element_size() if hasattr(x, "element_size") else dtype_bytes(str(dtype))
        data += math.prod(int(d) for d in shape) * size
    need = INPUT_FACTOR * data
    if copies_model:
        need += sum(t.numel() * t.element_size()
                    for t in [*model.parameters(), *model.buffers()])
    room = soft - data_in_use()
    if need > room:
        shown = ", ".join("x".join(map(str, x.shape)) for x in inputs if hasattr(x, "shape"))
        raise SpecError("inputs", shown, f"a real run of this model (its data-dependent ops) "
                        f"would need at least {need:,} bytes ({INPUT_FACTOR} x the inputs' "
                        f"{data:,} bytes" + (" and a copy of the parameters" if copies_model
                                             else "") +
                        f"), more than the {max(room, 0):,} bytes left of this process's "
                        f"memory limit of {soft:,} bytes (convcost serve --worker-memory); "
                        "give a smaller input")


def data_in_use() -> int:
    """This process's private data now (``VmData``, bytes); 0 when the system does not
    say."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
