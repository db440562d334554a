"""Shared helpers: the repository's paths, the vectors' placeholders, a real uvicorn."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
FIXTURES = ROOT / "tests" / "fixtures"
POLICIES = ROOT / "examples" / "policies"
EXAMPLES = ROOT / "examples" / "python"

sys.path.insert(0, str(EXAMPLES))

# tests/routing_app.py reads these at import to put back old behaviour in the uvicorn
# subprocesses of the differential test; never in this process.
for _name in ("ROUTING_APP_LEGACY", "ROUTING_APP_PATHS"):
    os.environ.pop(_name, None)

TOKENS: Dict[str, str] = json.loads((FIXTURES / "tokens.json").read_text())
_PLACEHOLDER = re.compile(r"\$\{([a-z]+):([^}]*)\}")


def expand(s: str) -> str:
    """Replaces ${token:NAME}, ${file:PATH} and ${repeat:N:TEXT} (tests/README.md)."""

    def one(m: "re.Match[str]") -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "token":
            return TOKENS[arg]
        if kind == "file":
            return (ROOT / arg).read_text()
        if kind == "repeat":
            n, text = arg.split(":", 1)
            return text * int(n)
        raise ValueError(f"unknown placeholder kind {kind!r}")

    return _PLACEHOLDER.sub(one, s)


def expand_value(v: Any) -> Any:
    if isinstance(v, str):
        return expand(v)
    if isinstance(v, list):
        return [expand_value(x) for x in v]
    if isinstance(v, dict):
        return {k: expand_value(x) for k, x in v.items()}
    return v


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: How long an expected event may take on a loaded machine; never a speed bound.
WAIT = 20.0


def eventually(check: Callable[[], bool], what: str) -> None:
    """Waits up to WAIT seconds for ``check()`` to hold."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.01)


def add_artifact_routes(app: FastAPI, guard: Any) -> None:
    """The routes the JWKS tests serve behind SkillMeat's policy: ``/health`` (a plain
    def, run in a worker thread), ``/api/v1/artifacts`` (the caller's id) and ``/ready``
    (the guard's status, 503 until ready)."""
    @app.get("/health")
    def health() -> Dict[str, str]:
        return {"status": "healthy"}

    @app.get("/api/v1/artifacts")
    async def artifacts(request: Request) -> Dict[str, Any]:
        return {"caller": request.state.principal.id}

    @app.get("/ready")
    async def ready() -> Any:
        return JSONResponse(guard.status(), status_code=200 if guard.ready else 503)


class LiveServer:
    """A real uvicorn on 127.0.0.1, in a thread, started and stopped by a test; entered
    once it serves (after startup, with ``lifespan="on"``). ``options`` go to
    ``uvicorn.Config`` (``ws=``, ``lifespan=``; the lifespan is off by default)."""

    def __init__(self, app: Any, **options: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options.setdefault("lifespan", "off")
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 15 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "uvicorn did not stop within 15 s"


@pytest.fixture(params=["testclient", "uvicorn"])
def client_for(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Makes an httpx-style client for an app: FastAPI's TestClient, or httpx against a
    real uvicorn server on 127.0.0.1. Every app test runs both ways."""
    import httpx
    from fastapi.testclient import TestClient

    opened: list = []

    def make(app: Any) -> Any:
        if request.param == "testclient":
            c = TestClient(app, base_url="http://localhost", client=("127.0.0.1", 50000))
            opened.append(c)
            return c
        server = LiveServer(app).__enter__()
        opened.append(server)
        c = httpx.Client(base_url=server.url, timeout=10)
        opened.append(c)
        return c

    yield make
    for thing in reversed(opened):
        if isinstance(thing, LiveServer):
            thing.__exit__(None, None, None)
        else:
            thing.close()
