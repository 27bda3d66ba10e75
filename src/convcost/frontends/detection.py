"""Data-dependent sizes at their upper bound (detection models; imports torch).

:func:`open_limits` copies a model and opens the thresholds of its detection heads
(:data:`OPENED_LIMITS`); :func:`bounded` keeps every box in torchvision's small-box filter
while a run lasts. Together every candidate survives every filter, so the sizes an analysis
sees are the model's own limits — the region proposal network's pre/post-NMS top-n, the
heads' ``topk_candidates`` and ``detections_per_img`` — whatever the (random) weights and
inputs: a deterministic upper bound of a real run for that input size.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

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
