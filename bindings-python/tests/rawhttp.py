"""A real uvicorn in a subprocess and raw HTTP/1.1 over a socket: the request target and
headers go out byte for byte, with no client library to normalise them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from conftest import free_port

TESTS = Path(__file__).resolve().parent


class Uvicorn:
    """``python -m uvicorn routing_app:APP`` in a subprocess (cwd tests/), on a free
    port; the environment without ``ROUTING_APP_*``, ``FORWARDED_ALLOW_IPS`` and
    ``UVICORN_*`` variables unless ``env`` sets them. ``app`` may name another module
    (``module:attr``)."""

    def __init__(
        self, app: str, backend: str, *args: str, env: Optional[Dict[str, str]] = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = free_port()
        skip = ("ROUTING_APP_", "FORWARDED_ALLOW_IPS", "UVICORN_")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        environ.update(env or {})
        environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
        target = app if ":" in app else f"routing_app:{app}"
        cmd = [
            sys.executable, "-m", "uvicorn", target, "--host", host, "--port", str(self.port), "--http", backend,
            "--lifespan", "off", "--log-level", "warning", "--no-access-log", *args,
        ]  # fmt: skip
        # uvicorn logs each unreadable request: a file, not a pipe that could fill up.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=TESTS, env=environ, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}: {err}")
            try:
                socket.create_connection((host, self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("uvicorn did not listen within 30 s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def __enter__(self) -> "Uvicorn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Response:
    status: Optional[int]  # None: the server closed without an answer
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def raw_get(
    host: str,
    port: int,
    target: bytes,
    headers: Sequence[Tuple[str, str]] = (),
    source: Optional[str] = None,
) -> Response:
    """Sends ``GET target HTTP/1.1`` exactly as given, with Connection: close."""
    head = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for name, value in headers:
        head += name.encode() + b": " + value.encode() + b"\r\n"
    head += b"Connection: close\r\n\r\n"
    with socket.create_connection((host, port), timeout=15, source_address=(source, 0) if source else None) as s:
        s.sendall(head)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 "):
        return Response(None)
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    hdrs: Dict[str, str] = {}
    for line in lines[1:]:
        n, _, v = line.partition(b":")
        hdrs[n.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return Response(status, hdrs, body)
