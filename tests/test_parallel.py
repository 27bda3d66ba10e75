"""Sweeps and comparisons in parallel (``--jobs N``, ``--cluster ADDRESS``): the same report,
byte for byte, as one analysis after another, and one-line errors for the flags."""

from __future__ import annotations

import argparse
import contextlib
import io
import pickle
import sys

import pytest

from cli_run import run
from convcost.cli import main
from convcost.cli import model as model_cmd
from convcost.hardware.distributed import get_interconnect
from convcost.parallel import analyse_job

SWEEP = ["model", "torchvision:resnet18", "--input", "2x3x32x32", "--batch", "2,4,8", "--json"]
COMPARE = ["compare", "torchvision:resnet18", "torchvision:resnet18 --amp bf16",
           "--input", "2x3x32x32", "--json"]


@pytest.fixture(scope="module")
def sequential_sweep() -> str:
    """The sweep's report, one analysis after another."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(SWEEP) == 0
    return out.getvalue()


def test_a_job_and_its_results_pickle() -> None:
    job = model_cmd.job_of(argparse.Namespace(
        target="torchvision:resnet18", model_arg=[], input=["2x3x16x16"], freeze=None,
        mode="train", counting="dense", data_dependent=None, dtype=None, amp=None,
        optimizer="adamw", input_grad=False, checkpoint=None, tf32=False, devices=1,
        strategy=None, optimizer_kernels=None), None, get_interconnect("nvlink4", {}),
        batch=4)
    result, hw = pickle.loads(pickle.dumps(analyse_job(pickle.loads(pickle.dumps(job)))))
    assert result.to_dict() == analyse_job(job)[0].to_dict()
    assert hw.to_dict() == analyse_job(job)[1].to_dict()


def test_sweep_with_jobs_is_the_sequential_sweep(sequential_sweep: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*SWEEP, "--jobs", "2"], capsys)
    assert code == 0, err
    assert out == sequential_sweep


def test_compare_with_jobs_is_the_sequential_compare(capsys: pytest.CaptureFixture[str]) -> None:
    code, seq, err = run(COMPARE, capsys)
    assert code == 0, err
    code, par, err = run([*COMPARE, "--jobs", "2"], capsys)
    assert code == 0, err
    assert par == seq


def test_sweep_on_a_local_dask_cluster(sequential_sweep: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, host="127.0.0.1")
    try:
        code, out, err = run([*SWEEP, "--cluster", cluster.scheduler_address], capsys)
    finally:
        cluster.close()
    assert code == 0, err
    assert out == sequential_sweep


def test_a_worker_error_is_the_sequential_error(capsys: pytest.CaptureFixture[str]) -> None:
    bad = ["model", "torchvision:resnet18", "--input", "2x3x32x32", "--batch", "1,2"]
    code, out, seq_err = run(bad, capsys)
    assert code == 2 and out == ""
    code, out, err = run([*bad, "--jobs", "2"], capsys)
    assert code == 2 and out == ""
    assert err == seq_err


@pytest.mark.parametrize("extra, says", [
    (["--jobs", "2", "--cluster", "tcp://127.0.0.1:8786"], "--cluster"),
    (["--jobs", "0"], "--jobs"),
])
def test_flag_errors(extra: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*SWEEP, *extra], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"convcost model: error: {says}") and err.count("\n") == 1


def test_jobs_without_a_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["model", "torchvision:resnet18", "--input", "2x3x32x32", "--jobs", "2"],
                       capsys)
    assert code == 2 and "--jobs" in err and "sweep" in err


def test_compare_flags_for_one_entry_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["compare", "torchvision:resnet18 --jobs 2", "torchvision:resnet18",
                        "--input", "2x3x32x32"], capsys)
    assert code == 2 and "--jobs" in err and err.count("\n") == 1


def test_unreachable_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dask.distributed")
    code, out, err = run([*SWEEP, "--cluster", "tcp://127.0.0.1:9"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("convcost model: error: --cluster") and err.count("\n") == 1


def test_cluster_without_dask(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    code, out, err = run([*SWEEP, "--cluster", "tcp://127.0.0.1:8786"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("convcost model: error: --cluster") and "dask" in err
    assert err.count("\n") == 1
