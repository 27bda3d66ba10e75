"""Layer latency of ``convcost serve`` alone and while model analyses run (issue 25's
target: p99 <= 100 ms with 4 model analyses running).

Starts ``convcost serve`` on a free loopback port (``--workers N``, default 4), waits until
its workers are up (``GET /api/models`` answers once the first has listed the models), then:

1. ``--requests`` sequential ``POST /api/conv`` of the classic layer (3->64 channels,
   224x224, kernel 7, stride 2, padding 3: 118,013,952 MACs) on one keep-alive connection:
   p50/p99 latency alone;
2. batches of 10 such requests, 50 ms apart, for ``--seconds`` (default 40) while
   ``--load`` threads each keep one model analysis running (torchvision
   resnet50 and vit_b_16 training steps, a different batch size each time so that the
   result cache never answers them): p50/p99 under load, and the ratio to alone;
3. the server process's RSS (``VmRSS``) after each part, and how many model analyses
   finished during the loaded part.

Usage: ``PYTHONPATH=src python benchmarks/server_load.py [--workers 4] [--load 4]
[--requests 300]``. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = {"in_channels": 3, "out_channels": 64, "input_size": [224, 224], "kernel": 7,
         "stride": 2, "padding": 3, "bias": False}
MODELS = ["torchvision:resnet50", "torchvision:vit_b_16"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_cpu(pid: int) -> dict[int, int]:
    """CPU ticks used so far by each spawned child of ``pid``."""
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"spawn_main" in cmd:
            found[int(d)] = int(stat[11]) + int(stat[12])
    return found


def wait_idle_workers(pid: int, n: int) -> None:
    """Until ``n`` workers exist and none used CPU for 2 s (their imports are done)."""
    before = worker_cpu(pid)
    while True:
        time.sleep(2)
        now = worker_cpu(pid)
        if len(now) == n and now == before:
            return
        before = now


def post(conn: http.client.HTTPConnection, path: str, doc: object) -> tuple[int, bytes]:
    conn.request("POST", path, json.dumps(doc), {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def layer_latencies(port: int, n: int) -> list[float]:
    """Seconds of ``n`` sequential classic-layer requests (each checked)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = post(conn, "/api/conv", LAYER)
        out.append(time.perf_counter() - t0)
        assert status == 200 and json.loads(body)["macs"] == 118_013_952, body[:200]
    conn.close()
    return out


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def figures(name: str, xs: list[float]) -> tuple[float, float]:
    p50, p99 = statistics.median(xs) * 1e3, percentile(xs, 99) * 1e3
    print(f"{name:<28} n={len(xs):<4} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
          f"max {max(xs) * 1e3:7.1f} ms")
    return p50, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--load", type=int, default=4, help="model analyses kept running")
    ap.add_argument("--requests", type=int, default=300, help="layer requests alone")
    ap.add_argument("--seconds", type=float, default=40,
                    help="how long layer requests are measured under load (10 every 50 ms)")
    a = ap.parse_args()
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "convcost", "serve", "--port", str(port),
                             "--workers", str(a.workers), "--timeout", "600"], env=env)
    try:
        t0 = time.monotonic()
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                conn.request("GET", "/api/models")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)  # not listening yet
            assert proc.poll() is None and time.monotonic() - t0 < 300, "server did not start"
        wait_idle_workers(proc.pid, a.workers)
        print(f"server up in {time.monotonic() - t0:.1f} s; RSS {rss_mib(proc.pid):.0f} MiB "
              f"(with the model list cached)")
        layer_latencies(port, 20)  # warm the layer path
        alone = layer_latencies(port, a.requests)
        p50a, p99a = figures("layer alone", alone)
        print(f"server RSS after: {rss_mib(proc.pid):.0f} MiB")

        stop = threading.Event()
        done: list[tuple[str, int, float]] = []
        batches = itertools.count(2)

        def load(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            while not stop.is_set():
                target = MODELS[i % len(MODELS)]
                body = {"target": target, "inputs": [f"{next(batches)}x3x224x224"],
                        "mode": "train", "optimizer": "adamw"}
                t = time.perf_counter()
                status, _ = post(conn, "/api/model", body)
                done.append((target, status, time.perf_counter() - t))
            conn.close()

        threads = [threading.Thread(target=load, args=(i,), daemon=True)
                   for i in range(a.load)]
        for t in threads:
            t.start()
        time.sleep(3)  # every worker has started its analysis
        busy = worker_cpu(proc.pid)
        loaded = []
        t_end = time.monotonic() + a.seconds
        while time.monotonic() < t_end:
            loaded += layer_latencies(port, 10)
            time.sleep(0.05)  # a user's pace, not a flood
        finished = len(done)
        used = worker_cpu(proc.pid)
        ticks = sum(used.get(k, 0) - v for k, v in busy.items())
        stop.set()
        p50l, p99l = figures(f"layer with {a.load} models", loaded)
        statuses = sorted({s for _, s, _ in done})
        mean = statistics.mean(d for _, _, d in done) if done else float("nan")
        print(f"model analyses finished while measuring ({a.seconds:g} s): {finished} "
              f"(statuses {statuses}, mean {mean:.1f} s each); the workers used "
              f"{ticks / os.sysconf('SC_CLK_TCK'):.1f} CPU-s meanwhile")
        print(f"ratio loaded/alone: p50 {p50l / p50a:.2f}x  p99 {p99l / p99a:.2f}x; "
              f"target p99 <= 100 ms: {'met' if p99l <= 100 else 'NOT met'}")
        print(f"server RSS after: {rss_mib(proc.pid):.0f} MiB (target < 200 MiB)")
        for t in threads:
            t.join(600)  # stop the server with nothing in flight
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
