"""``convcost serve`` cancels a model analysis whose client went away (issue 25 items 4 and
5: the page's Cancel button, a request that holds a worker for nobody): a queued job is
dropped, a running one's worker is terminated and replaced, a job another client still waits
for runs on, and a cancelled job caches nothing.

Oracles: files the import target writes in the server's folder when a worker builds the model
(so the test knows, from outside, whether and when a job ran), and the server's child
processes (which worker was replaced).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_server import Server, start
from test_server_limits import wait_for_workers, workers

#: The import target: writes ``built-TAG`` when a worker builds it, then holds the worker
#: until ``release-TAG`` exists (at most ``seconds``). The page sends no ``model_args``:
#: its tag is ``page``.
TARGETS = """
import os
import time

import torch


def mark(tag="page", seconds=10.0):
    with open("built-" + tag, "a") as fh:
        fh.write("built\\n")
    end = time.monotonic() + seconds
    while not os.path.exists("release-" + tag) and time.monotonic() < end:
        time.sleep(0.02)
    return torch.nn.Linear(1, 1)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers, import targets allowed, a timeout far over the tests' jobs."""
    home = tmp_path_factory.mktemp("cancel")
    (home / "canceltargets.py").write_text(TARGETS)
    yield from start(home, "--workers", "2", "--timeout", "60", "--allow-import")


def body(tag: str, seconds: float = 10.0) -> dict[str, Any]:
    return {"target": "canceltargets:mark", "inputs": ["1x1"], "mode": "inference",
            "model_args": {"tag": tag, "seconds": seconds}}


def home_of(server: Server) -> Path:
    return server.log.parent


def send(server: Server, doc: dict[str, Any]) -> socket.socket:
    """POST ``doc`` to /api/model on a raw connection and leave it open (the caller
    closes it: the client going away)."""
    data = json.dumps(doc).encode()
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return sock


def wait_for(path: Path, seconds: float = 60) -> None:
    """Until ``path`` exists (a worker built that job's model)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)  # polling the file system, with a deadline


def in_background(server: Server, doc: dict[str, Any],
                  answers: dict[str, Any], name: str) -> threading.Thread:
    t = threading.Thread(target=lambda: answers.__setitem__(name, server.post("/api/model",
                                                                              doc)))
    t.start()
    return t


@pytest.mark.slow
def test_a_job_another_client_waits_for_runs_on(server: Server) -> None:
    home = home_of(server)
    before = wait_for_workers(server, 2)
    leaving = send(server, body("shared"))
    wait_for(home / "built-shared")  # running on a worker
    answers: dict[str, Any] = {}
    staying = in_background(server, body("shared"), answers, "staying")
    time.sleep(0.3)  # the second client is waiting for the same job
    leaving.close()
    time.sleep(0.5)  # time enough for a wrong cancel to happen
    (home / "release-shared").touch()
    staying.join(60)
    status, doc, headers = answers["staying"]
    assert status == 200, doc
    assert headers["x-convcost-cache"] == "miss"  # it joined the running job
    assert (home / "built-shared").read_text() == "built\n"  # built once, for both
    assert workers(server) == before  # no worker was replaced
    assert "Traceback" not in server.log.read_text()


@pytest.mark.slow
def test_a_queued_job_whose_client_left_never_runs(server: Server) -> None:
    home = home_of(server)
    wait_for_workers(server, 2)
    answers: dict[str, Any] = {}
    busy = [in_background(server, body(tag), answers, tag) for tag in ("busy1", "busy2")]
    wait_for(home / "built-busy1")
    wait_for(home / "built-busy2")  # both workers are taken
    queued = send(server, body("queued", 0))
    time.sleep(0.3)  # read and queued
    queued.close()
    time.sleep(0.3)
    (home / "release-busy1").touch()
    (home / "release-busy2").touch()
    for t in busy:
        t.join(60)
    assert answers["busy1"][0] == 200 and answers["busy2"][0] == 200
    status, doc, _ = server.post("/api/model", body("after", 0))  # queued behind 'queued'
    assert status == 200, doc
    assert not (home / "built-queued").exists()
    assert "Traceback" not in server.log.read_text()


@pytest.mark.slow
def test_a_running_job_whose_client_left_frees_its_worker(server: Server) -> None:
    home = home_of(server)
    before = wait_for_workers(server, 2)
    client = send(server, body("running"))
    wait_for(home / "built-running")
    client.close()
    deadline = time.monotonic() + 2  # the job would hold its worker 10 s
    while workers(server) & before == before:
        assert time.monotonic() < deadline, "the running job's worker was not replaced"
        time.sleep(0.05)  # polling the process table, with a deadline
    after = wait_for_workers(server, 2)
    assert len(before & after) == 1  # that worker replaced, the other kept
    # the identical request runs again (nothing was cached) and is answered
    (home / "release-running").touch()
    status, doc, headers = server.post("/api/model", body("running"))
    assert status == 200, doc
    assert headers["x-convcost-cache"] == "miss"
    assert (home / "built-running").read_text() == "built\nbuilt\n"
    assert "Traceback" not in server.log.read_text()


@pytest.mark.browser
@pytest.mark.slow
def test_the_pages_cancel_button_frees_the_worker(server: Server) -> None:
    """The page's Cancel (an AbortController on its fetch) reaches the server as a
    disconnect: Chromium closes the connection, the worker is replaced."""
    from playwright.sync_api import sync_playwright

    from test_server_page import CHROMIUM_ARGS

    home = home_of(server)
    before = wait_for_workers(server, 2)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.click("#tab-model")
            page.fill("#m-target", "canceltargets:mark")
            page.fill("#m-inputs", "1x1")
            page.select_option("#m-mode", "inference")
            page.click("#run")
            wait_for(home / "built-page")
            page.click("#cancel")
            deadline = time.monotonic() + 2
            while workers(server) & before == before:
                assert time.monotonic() < deadline, "Cancel did not free the worker"
                time.sleep(0.05)  # polling the process table, with a deadline
            page.wait_for_selector("#model-form .error:not([hidden])", timeout=5_000)
            assert page.is_hidden("#cancel")
        finally:
            browser.close()
    assert "Traceback" not in server.log.read_text()


@pytest.mark.slow
def test_ctrl_c_while_the_workers_still_import(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group, which ``start`` sends when it stops the server)
    while the workers are still importing torch: exit 0 and no KeyboardInterrupt from a
    worker (as after a cancel, whose new worker is starting)."""
    for server in start(tmp_path, "--workers", "2"):
        assert len(workers(server)) == 2  # spawned; answering health takes less than torch
