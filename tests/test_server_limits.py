"""``convcost serve`` under its resource limits (issue 25): the workers' memory and CPU-time
limits, the up-front memory refusals, bounded regular expressions and ONNX graphs, a timeout
that replaces only its own worker and counts run time only, and ``/api/models`` answered
without torch in the server process.

Oracles: the kernel's own bookkeeping (``/proc/PID/maps`` for what the server process has
loaded, ``/proc/PID/status`` for its RSS, the server's child processes for which worker was
replaced), known catastrophic regular expressions (OWASP's ReDoS examples), and sizes
worked out by hand (the comments give the arithmetic).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from convcost.errors import SpecError
from convcost.patterns import MAX_PATTERN_LENGTH, check_pattern
from test_server import Server, start

#: Import targets for the limits: a constructor that allocates 4 GiB, one that sleeps.
TARGETS = """
import time

import torch


def hog():
    torch.ones(1024, 1024, 1024)  # 2**30 float32 elements: 4 GiB, over a 2 GiB limit
    return torch.nn.Linear(1, 1)


def sleepy(seconds=1.0):
    time.sleep(seconds)
    return torch.nn.Linear(1, 1)
"""

# --------------------------------------------------------------------------- regex bounds

#: Catastrophic patterns (OWASP "Regular expression Denial of Service": ^(a+)+$,
#: ([a-zA-Z]+)*, (a|aa)+, (a|a?)+, (.*a){x} for x > 10) and two more of the same shape.
CATASTROPHIC = [r"^(a+)+$", r"([a-zA-Z]+)*", r"(a|aa)+", r"(a|a?)+", r"(.*a){12}",
                r"^(([a-z])+.)+[A-Z]([a-z])+$", r"(\w+\s?)+$", r"(?:x+x+)+y"]
#: Patterns a user writes to freeze or checkpoint parts of a model.
ORDINARY = [r"^(conv1|bn1|layer1)\.", r"^features\.[0-9]+\.", r"blocks\.\d+$", r"fc",
            r".*\.bn\d*\.weight$", r"^layer[1-3]\.", r"(?i)^HEAD", r"(?:ab)+", "blocks["]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_refused(pattern: str) -> None:
    with pytest.raises(SpecError) as e:
        check_pattern("freeze", pattern)
    assert e.value.field == "freeze"
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_pass(pattern: str) -> None:
    check_pattern("freeze", pattern)  # raises nothing ("blocks[" is re.compile's to refuse)


def test_pattern_bounds() -> None:
    with pytest.raises(SpecError, match="back-references"):
        check_pattern("checkpoint", r"(a)\1")
    with pytest.raises(SpecError, match="at most 4 repetitions"):
        check_pattern("freeze", r".*a.*b.*c.*d.*e")  # five '.*'
    with pytest.raises(SpecError, match=f"at most {MAX_PATTERN_LENGTH} characters"):
        check_pattern("freeze", "a" * (MAX_PATTERN_LENGTH + 1))


@pytest.mark.slow
def test_analyze_refuses_a_catastrophic_freeze() -> None:
    torch = pytest.importorskip("torch")
    from convcost.model import analyze

    with pytest.raises(SpecError) as e:
        analyze(torch.nn.Linear(2, 2), "1x2", freeze=r"(.*)*x")
    assert e.value.field == "freeze"


# --------------------------------------------------------------------------- ONNX bound


def chain_onnx(path: Path, nodes: int) -> None:
    """An ONNX graph of ``nodes`` Relu nodes in a chain."""
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(nodes)], "chain",
        [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(f"t{nodes}", TensorProto.FLOAT, [1, 4])])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.slow
def test_big_onnx_graph_refused_before_lowering(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from convcost.frontends.onnx import load_onnx

    path = tmp_path / "chain.onnx"
    chain_onnx(path, 20_000)  # the case: 20,000 nodes held a worker 300 s
    with pytest.raises(SpecError, match="more than 10,000 nodes") as e:
        load_onnx(path)
    assert e.value.field == "path"


def test_small_onnx_graph_still_loads(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from convcost.frontends.onnx import load_onnx

    path = tmp_path / "chain.onnx"
    chain_onnx(path, 3)
    _, specs = load_onnx(path)
    assert [s.shape for s in specs] == [(1, 4)]


# --------------------------------------------------------------------------- CPU time


@pytest.mark.slow
def test_cpu_limit_ends_a_spinning_job() -> None:
    """limit_job_cpu(1) lets a job spin about 1 s of CPU, then SIGXCPU ends the process."""
    code = ("from convcost.server.limits import apply_worker_limits, limit_job_cpu\n"
            "apply_worker_limits(None)\nlimit_job_cpu(1)\nwhile True: pass\n")
    src = str(Path(__file__).resolve().parent.parent / "src")
    proc = subprocess.run([sys.executable, "-c", code], timeout=60,
                          env=dict(os.environ, PYTHONPATH=src))
    assert proc.returncode == -24  # SIGXCPU is signal 24 on Linux


#: A model with a data-dependent op (boolean indexing), analysed in a process whose
#: RLIMIT_DATA leaves 200 MiB: a 1x2x4096x4096 float32 input is 128 MiB, and a real run
#: holds at least 3 copies (384 MiB); a 1x1x8x8 input fits.
REAL_RUN = """
import resource, sys, torch
from convcost.errors import SpecError
from convcost.model import analyze

class Positive(torch.nn.Module):
    def forward(self, x):
        return x[x > 0].sum()

used = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status")
            if l.startswith("VmData:"))
resource.setrlimit(resource.RLIMIT_DATA, (used + 200 * 2**20, resource.RLIM_INFINITY))
analyze(Positive(), "1x1x8x8", mode="inference")
try:
    analyze(Positive(), "1x2x4096x4096", mode="inference")
except SpecError as e:
    print(e.field, "|", e)
"""


@pytest.mark.slow
def test_real_run_refused_up_front_by_the_analyser() -> None:
    src = str(Path(__file__).resolve().parent.parent / "src")
    proc = subprocess.run([sys.executable, "-c", REAL_RUN], timeout=120, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=src))
    assert proc.returncode == 0, proc.stderr
    field, _, text = proc.stdout.strip().partition(" | ")
    assert field == "inputs"
    assert "134,217,728 bytes" in text  # 2 * 4096 * 4096 * 4


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers, a 4 s timeout, a 2 GiB memory limit each, import targets allowed."""
    home = tmp_path_factory.mktemp("limits")
    (home / "limittargets.py").write_text(TARGETS)
    yield from start(home, "--workers", "2", "--timeout", "4", "--worker-memory", "2048",
                     "--allow-import")


def workers(server: Server) -> set[int]:
    """The pids of the server's worker processes (its spawned children, not the resource
    tracker)."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server.proc.pid and b"spawn_main" in cmd:
            found.add(int(pid))
    return found


def wait_for_workers(server: Server, n: int) -> set[int]:
    deadline = time.monotonic() + 60
    while len(found := workers(server)) != n:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)  # polling the process table, with a deadline
    return found


def sleepy(seconds: float) -> dict[str, Any]:
    return {"target": "limittargets:sleepy", "inputs": ["1x1"], "mode": "inference",
            "model_args": {"seconds": seconds}}


@pytest.mark.slow
def test_models_listed_without_torch_in_the_server(limited: Server) -> None:
    status, names = limited.get("/api/models")
    assert status == 200
    assert "resnet50" in names["torchvision"]
    maps = Path(f"/proc/{limited.proc.pid}/maps").read_text()
    assert "libtorch" not in maps  # the server process never loaded torch's library
    rss_kib = next(int(line.split()[1]) for line in
                   Path(f"/proc/{limited.proc.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    assert rss_kib < 200 * 1024


@pytest.mark.slow
def test_timeout_replaces_only_its_worker_and_counts_run_time(limited: Server) -> None:
    before = wait_for_workers(limited, 2)
    answers: dict[str, Any] = {}

    def ask(name: str, body: dict[str, Any]) -> None:
        answers[name] = limited.post("/api/model", body)

    # 'stuck' holds one worker past the 4 s timeout; two 2.5 s jobs share the other one,
    # so the second waits 2.5 s in the queue and takes 5 s in all: over the timeout, but
    # its run time (2.5 s) is not
    threads = [threading.Thread(target=ask, args=("stuck", sleepy(30)))]
    threads[0].start()
    time.sleep(0.5)
    for name, seconds in (("first", 2.5), ("queued", 2.51)):
        threads.append(threading.Thread(target=ask, args=(name, sleepy(seconds))))
        threads[-1].start()
    for t in threads:
        t.join(120)
    assert answers["stuck"][0] == 504, answers["stuck"]
    assert answers["first"][0] == 200, answers["first"]
    assert answers["queued"][0] == 200, answers["queued"]
    after = wait_for_workers(limited, 2)
    assert len(before & after) == 1  # one worker replaced, the other kept


@pytest.mark.slow
def test_memory_limit_answers_413_and_the_next_request_works(limited: Server) -> None:
    status, doc, _ = limited.post("/api/model", {"target": "limittargets:hog",
                                                 "inputs": ["1x1"], "mode": "inference"})
    assert status == 413, doc
    assert doc["error"] == ("the analysis needed more than the worker's memory limit of "
                            "2048 MiB (convcost serve --worker-memory)")
    status, doc, _ = limited.post("/api/model", {"target": "torchvision:resnet18",
                                                 "inputs": ["1x3x32x32"], "mode": "inference"})
    assert status == 200, doc


@pytest.mark.slow
def test_detection_refused_up_front(limited: Server) -> None:
    # the case: 200*3*4096*4096 float32 = 40,265,318,400 bytes of input alone
    status, doc, _ = limited.post("/api/model", {
        "target": "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
        "inputs": ["200x3x4096x4096"], "mode": "inference"})
    assert status == 400 and doc["field"] == "inputs", doc
    assert "40,265,318,400" in doc["error"] and "\n" not in doc["error"]
    # FastRCNNPredictor: Linear(1024, 100000) + Linear(1024, 400000), float32:
    # (1024 + 1) * 500000 * 4 = 2,050,000,000 bytes, over a 2 GiB limit on their own
    status, doc, _ = limited.post("/api/model", {
        "target": "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
        "inputs": ["1x3x64x64"], "mode": "inference", "model_args": {"num_classes": 100000}})
    assert status == 400 and doc["field"] == "model_args.num_classes", doc


@pytest.mark.slow
def test_catastrophic_freeze_refused_by_the_server(limited: Server) -> None:
    status, doc, _ = limited.post("/api/model", {"target": "torchvision:resnet18",
                                                 "inputs": ["1x3x32x32"], "freeze": "(a+)+$"})
    assert status == 400 and doc["field"] == "freeze", doc


@pytest.mark.slow
def test_big_onnx_upload_refused(limited: Server, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "chain.onnx"
    chain_onnx(path, 20_000)
    status, _, body = limited.request("POST", "/api/onnx?filename=chain.onnx",
                                      path.read_bytes(), "application/octet-stream")
    doc = json.loads(body)
    assert status == 400 and "more than 10,000 nodes" in doc["error"], doc


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_worker_memory_flag_refuses_bad_values(value: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cli_run import run

    code, out, err = run(["serve", "--worker-memory", value, "--port", "0"], capsys)
    assert code == 2 and out == ""
    assert "--worker-memory" in err and len(err.strip().splitlines()) <= 2  # usage + error
