"""``convcost serve``: the layer calculator and the model analyser as a local web server with
a JSON API (:mod:`convcost.server`; needs the ``serve`` extra: starlette and uvicorn).

Building the parser imports nothing of the server; ``run`` imports starlette and uvicorn.
Ctrl-C stops it: uvicorn handles SIGINT (waiting at most a few seconds for open requests)
and the worker processes are terminated with their queued jobs cancelled.
"""

from __future__ import annotations

import argparse

from .common import count

NAME = "serve"
HELP = "the calculator and the model analyser as a local web app with a JSON API"
DESCRIPTION = ("A local web server: the layer calculator and the model analyser as a page, "
               "and a JSON API returning the same documents as --format json. Needs the "
               "serve extra (pip install 'convcost[serve]').")
EPILOG: str | None = """examples:
  convcost serve --open
  convcost serve --port 8080 --workers 4 --timeout 120
  curl -s localhost:8000/api/conv -H 'Content-Type: application/json' \\
      -d '{"in_channels": 3, "out_channels": 64, "input_size": [224, 224], "kernel": 7}'

The server binds to 127.0.0.1 unless --host says otherwise, and answers only requests
whose Host header names it: localhost, 127.0.0.1, [::1] or the --host address, with any
port (a page that rebinds its own name to this machine gets 421); --allowed-host adds
a name, e.g. the machine's name when binding to 0.0.0.0. Requests may name
torchvision:NAME and timm:NAME models only; package.module:factory targets import and run
code, and are refused unless the server is started with --allow-import.
"""


def add_arguments(s: argparse.ArgumentParser) -> None:
    """The options of ``convcost serve``."""
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=count, default=8000, metavar="N",
                   help="port (default 8000; 0: any free port)")
    s.add_argument("--open", action="store_true", help="open the page in a browser")
    s.add_argument("--workers", type=count, default=2, metavar="N",
                   help="worker processes for model analyses (default 2)")
    s.add_argument("--timeout", default="300", metavar="S",
                   help="seconds one model analysis may take (default 300)")
    s.add_argument("--max-upload-mb", type=count, default=512, metavar="MB",
                   help="largest ONNX upload in MiB (default 512)")
    s.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host header is NAME (repeatable; "
                   "default: localhost, 127.0.0.1, [::1] and the --host address)")
    s.add_argument("--max-uploads", type=count, default=2, metavar="N",
                   help="ONNX uploads held at once (each on disk until its analysis ends, "
                   "so at most N x --max-upload-mb on disk); more get 503 (default 2)")
    s.add_argument("--read-timeout", default="30", metavar="S",
                   help="seconds a client has to send a JSON body or may pause during an "
                   "upload (an upload may take S + --max-upload-mb seconds in all); slower "
                   "clients get 408 (default 30)")
    s.add_argument("--worker-memory", type=count, default=None, metavar="MB",
                   help="private memory each worker process may use, in MiB (default: half "
                   "the machine's RAM shared among the workers); an analysis over it is "
                   "answered 413")
    s.add_argument("--allow-import", action="store_true",
                   help="let requests name package.module:factory targets (imports and runs "
                   "that code)")


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_host_name(name: str) -> bool:
    """True when ``name`` can be an ``--allowed-host``: a DNS name or an IPv4 address
    (letters, digits, ``-`` and ``.``), or an IPv6 address with or without brackets; never
    a port."""
    import ipaddress
    import re

    if ":" in name:
        try:
            ipaddress.IPv6Address(name.removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        return name.startswith("[") == name.endswith("]")
    return re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", name) is not None


def check_port_free(host: str, port: int) -> None:
    """A SpecError naming ``--port`` when ``host:port`` cannot be bound (in use, or not
    allowed), before the server starts: uvicorn would exit 3 with its own message."""
    import errno
    import socket

    from ..errors import SpecError

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SpecError("--port", port, f"is in use on {host} by another program: "
                                "choose another port (0: any free one)") from None
            if e.errno == errno.EACCES:
                raise SpecError("--port", port, "needs privileges on this machine: choose "
                                "a port above 1023") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise SpecError("--host", host, "is not an address of this machine") from None
            raise


def run(a: argparse.Namespace) -> int:
    """Validate the flags, start the server, serve until Ctrl-C."""
    import math
    import sys

    from ..errors import SpecError

    def positive(flag: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise SpecError(flag, text, "a number of seconds > 0")
        return value

    timeout = positive("--timeout", a.timeout)
    read_timeout = positive("--read-timeout", a.read_timeout)
    if a.port > 65535:
        raise SpecError("--port", a.port, "a port number from 0 to 65535")
    for flag, value in (("--workers", a.workers), ("--max-upload-mb", a.max_upload_mb),
                        ("--max-uploads", a.max_uploads),
                        ("--worker-memory", a.worker_memory)):
        if value is not None and value < 1:
            raise SpecError(flag, value, "must be 1 or more")
    try:
        import uvicorn

        from ..server import ServerConfig
        from ..server.app import create_app
    except ImportError as e:
        raise SpecError("serve", e.name, "is not installed: pip install 'convcost[serve]'") \
            from None
    check_port_free(a.host, a.port)
    if not is_loopback(a.host):
        print(f"convcost serve: warning: binding to {a.host}: the server is reachable from "
              "other machines (it has no authentication)", file=sys.stderr)
    for name in a.allowed_host:
        if not allowed_host_name(name):
            raise SpecError("--allowed-host", name, "a host name or address without a port "
                            "(e.g. myhost.local, 192.168.1.5, fe80::1)")
    config = ServerConfig(host=a.host, port=a.port, workers=a.workers, timeout=timeout,
                          max_upload_mb=a.max_upload_mb, allow_import=a.allow_import,
                          allowed_hosts=tuple(a.allowed_host), max_uploads=a.max_uploads,
                          read_timeout=read_timeout, worker_memory_mb=a.worker_memory)
    # timeout_keep_alive: an idle connection is closed after 5 s (uvicorn's default, stated)
    server = uvicorn.Server(uvicorn.Config(create_app(config), host=a.host, port=a.port,
                                           log_level="warning", timeout_graceful_shutdown=3,
                                           timeout_keep_alive=5))
    _announce(server, a.host, a.open)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then raises the captured SIGINT again for
        # the caller: a stop the user asked for, not an error (no traceback)
        pass
    return 0


def _announce(server: object, host: str, open_browser: bool) -> None:
    """Once ``server`` listens: print its address on stderr and, with ``--open``, open it
    in a browser (a thread polling ``server.started``)."""
    import sys
    import threading
    import time
    import webbrowser

    def wait() -> None:
        while not getattr(server, "started", False):
            if getattr(server, "should_exit", False):
                return
            time.sleep(0.05)
        port = 0
        for s in getattr(server, "servers", []):
            for sock in s.sockets:
                port = sock.getsockname()[1]
        name = f"[{host}]" if ":" in host else host
        url = f"http://{name}:{port}/"
        print(f"convcost serve: listening on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
        if open_browser:
            webbrowser.open(url)

    threading.Thread(target=wait, daemon=True).start()
