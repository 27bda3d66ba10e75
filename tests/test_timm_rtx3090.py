"""benchmarks/timm_rtx3090.py: row parsing and the prediction path on two inline rows (tiny
timm models, small batch); needs neither the timm mirror nor a GPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("timm")

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "timm_rtx3090.py"

INFER_CSV = ("model,infer_img_size,infer_batch_size,infer_samples_per_sec,infer_step_time,"
             "infer_gmacs,infer_macts,param_count\n") + """\
test_vit,160,8.0,109337.21,9.356,0.04,0.48,0.37
test_byobnet,160,8.0,82185.02,12.45,0.03,0.43,0.46
broken,160,,,,,,
"""
TRAIN_CSV = ("model,train_samples_per_sec,train_step_time,train_batch_size,train_img_size,"
             "param_count\n") + """\
test_byobnet,10001.12,50.423,4,96,0.46
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("timm_rtx3090", PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["timm_rtx3090"] = mod
    spec.loader.exec_module(mod)
    return mod


def file(bench: ModuleType, key: str) -> object:
    return next(f for f in bench.FILES if f.key == key)


def test_parse_rows(bench: ModuleType) -> None:
    rows, bad = bench.parse_rows(INFER_CSV, file(bench, "infer-nhwc-pt210"))
    assert bad == 1
    assert [(r.model, r.img, r.batch, r.published) for r in rows] == [
        ("test_vit", 160, 8, 109337.21), ("test_byobnet", 160, 8, 82185.02)]
    assert all(r.mode == "inference" and r.channels_last and r.stack == "pytorch-2.4"
               for r in rows)
    train, bad = bench.parse_rows(TRAIN_CSV, file(bench, "train-nchw-pt112"))
    assert bad == 0
    (t,) = train
    assert (t.mode, t.batch, t.img, t.stack, t.foreach, t.channels_last) == (
        "train", 4, 96, "pytorch-1.9", False, False)


def test_sample_is_deterministic(bench: ModuleType) -> None:
    names = [f"m{i}" for i in range(20)]
    assert bench.sample(names, 5) == bench.sample(reversed(names), 5)
    assert len(bench.sample(names, 5)) == 5


def test_predict_two_rows(bench: ModuleType) -> None:
    rows, _ = bench.parse_rows(INFER_CSV, file(bench, "infer-nchw-pt240"))
    train, _ = bench.parse_rows(TRAIN_CSV, file(bench, "train-nhwc-pt112"))
    cache: dict[str, object] = {}
    preds = bench.predict_all([*rows, *train], cache, timeout=120, progress=False)
    assert len(cache) == 3
    for r in [*rows, *train]:
        p = preds[r]
        assert not isinstance(p, str), p
        assert p.estimate > 0 and p.roofline > 0
        assert p.estimate <= p.roofline * 1.0001  # the roofline is a bound
    assert preds[rows[0]].family == "transformer"
    assert preds[rows[1]].family == "convnet"
    # a cached prediction comes back equal, without an analysis
    again = bench.predict_all(rows, cache, timeout=120, progress=False)
    assert again[rows[0]] == preds[rows[0]]
    s = bench.summary([(r, preds[r]) for r in rows])
    assert s["n"] == 2 and s["est_gm"] > 0


def test_missing_data_exits_2(bench: ModuleType, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--csv-dir", str(tmp_path), "--no-cache"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "published data absent" in err[0]
