"""Where a request's auth time goes, in-process (a script, not a test): the apps of
fastapi_cpu.py called as ASGI apps (no server, no sockets), and the middleware's own
layers. The figures are far steadier than a server's, and smaller (the code stays in
the caches); fastapi_cpu.sh is the figure that counts, this one says what it is made of.

Each figure is the lowest time per request over many short batches (200 requests),
the cases interleaved batch by batch.

Part 1, the apps (time per request, less the bare app's):
  policy only, request.state.principal, CurrentPrincipal, and the peers (HTTPBearer +
  PyJWT, APIKeyHeader + SHA-256), for HS256 and API keys.
Part 2, the middleware alone around an app that does nothing:
  Engine._decide_asgi (the native call: conversion + decision), Engine.decide (the
  public call, keyword argument and all), Admit.decide_scope (its Python around
  decide), the middleware as it is, and the middleware before issue 13 (git's copy,
  when the repository has it).

Run: bindings-python/.venv/bin/python bindings-python/bench/fastapi_inprocess.py
     (after bindings-python/test.sh --setup-only)
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fastapi_cpu as fc  # noqa: E402

BATCH = 200
BATCHES = 150


def scope(path: str, header: bytes, value: bytes) -> Dict[str, Any]:
    """An http scope as uvicorn (httptools) makes it."""
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
        "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (header, value)], "state": {},
    }


async def _receive() -> Dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def time_apps(cases: List[Tuple[str, Any, Callable[[], Dict[str, Any]]]]) -> Dict[str, float]:
    """Lowest µs per request of each ASGI app, batches interleaved."""
    statuses: List[int] = []

    async def send(m: Dict[str, Any]) -> None:
        if m["type"] == "http.response.start":
            statuses.append(m["status"])

    async def run() -> Dict[str, float]:
        best = {label: float("inf") for label, _, _ in cases}
        for label, app, make in cases:  # warm up, and check every app answers 200
            for _ in range(BATCH):
                await app(make(), _receive, send)
            if any(s != 200 for s in statuses):
                raise RuntimeError(f"{label}: answered {set(statuses)}")
            statuses.clear()
        for _ in range(BATCHES):
            for label, app, make in cases:
                scopes = [make() for _ in range(BATCH)]
                t = time.perf_counter()
                for s in scopes:
                    await app(s, _receive, send)
                best[label] = min(best[label], (time.perf_counter() - t) / BATCH * 1e6)
            statuses.clear()
        return best

    return asyncio.run(run())


def time_calls(cases: List[Tuple[str, Callable[[], Any]]]) -> Dict[str, float]:
    best = {label: float("inf") for label, _ in cases}
    for _ in range(BATCHES):
        for label, fn in cases:
            t = time.perf_counter()
            for _ in range(BATCH):
                fn()
            best[label] = min(best[label], (time.perf_counter() - t) / BATCH * 1e6)
    return best


def old_middleware() -> Any:
    """AdmitMiddleware as it was before issue 13 (commit 902625b), or None."""
    try:
        text = subprocess.run(["git", "-C", str(fc.ROOT), "show",
                               "902625b:bindings-python/python/admit/fastapi/_middleware.py"],
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for rel in ("_admit", "_guard", "_routing", "_types"):
        prefix = "admit." if rel == "_admit" else "admit.fastapi."
        dots = ".." if rel == "_admit" else "."
        text = text.replace(f"from {dots}{rel} import", f"from {prefix}{rel} import")
    path = Path(tempfile.mkdtemp(prefix="admit-old-mw-")) / "old_middleware.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_middleware", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AdmitMiddleware


def main() -> None:
    import admit
    from admit.fastapi import Admit, AdmitMiddleware

    hs = fc.mint(10, fc.ROOT / "bindings-python/.venv/.bench")[2]
    bearer = (b"authorization", b"Bearer " + hs.encode())
    key = (b"x-api-key", fc.API_KEY.encode())
    groups = [
        ("HS256", fc.HS_PATH, bearer, ["admit-hs256-policy", "admit-hs256-state", "admit-hs256", "pyjwt-hs256"]),
        ("API key", fc.KEY_PATH, key, ["admit-apikey-policy", "admit-apikey-state", "admit-apikey",
                                       "apikey-sha256"]),
    ]
    print("Part 1: the apps, in-process (µs per request; auth = less the bare app)\n")
    print("| case | app | µs per request | auth | / the peer's auth |")
    print("|---|---|---:|---:|---:|")
    for name, path, (h, v), kinds in groups:
        cases = [(k, fc.make_app(k), (lambda p=path, h=h, v=v: scope(p, h, v))) for k in ["bare"] + kinds]
        got = time_apps(cases)
        peer = got[kinds[-1]] - got["bare"]
        for k in ["bare"] + kinds:
            auth = got[k] - got["bare"]
            ratio = "" if k in ("bare", kinds[-1]) else f"{auth / peer:.2f}"
            print(f"| {name} | {k} | {got[k]:.1f} | {'' if k == 'bare' else f'{auth:.1f}'} | {ratio} |")

    print("\nPart 2: the middleware alone around an app that does nothing (µs per request)\n")
    engine = admit.Engine.from_file(fc.ROOT / "examples/policies/rag-modulo.toml", env={"JWT_SECRET_KEY": fc.RAG_SECRET})
    key_engine = admit.Engine.from_file(fc.ROOT / "examples/policies/fetchml.toml", env={})

    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        return None

    old = old_middleware()
    print("| decision | _decide_asgi | decide(decoded=True) | decide_scope | middleware | middleware before "
          "issue 13 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, eng, path, (h, v) in (("HS256 (RAG Modulo)", engine, fc.HS_PATH, bearer),
                                    ("API key (FetchML)", key_engine, fc.KEY_PATH, key)):
        s = scope(path, h, v)
        guard = Admit(eng)
        calls = time_calls([
            ("asgi", lambda: eng._decide_asgi(s, path)),
            ("decide", lambda: eng.decide("GET", path, s["headers"], "127.0.0.1", decoded=True)),
            ("scope", lambda: guard.decide_scope(s)),
        ])
        apps = [("middleware", AdmitMiddleware(nothing, engine=eng), lambda: scope(path, h, v)),
                ("nothing", nothing, lambda: scope(path, h, v))]
        if old is not None:
            apps.append(("old", old(nothing, engine=eng), lambda: scope(path, h, v)))
        got = time_apps_nothing(apps)
        base = got["nothing"]
        old_text = f"{got['old'] - base:.2f}" if "old" in got else "-"
        print(f"| {name} | {calls['asgi']:.2f} | {calls['decide']:.2f} | {calls['scope']:.2f} | "
              f"{got['middleware'] - base:.2f} | {old_text} |")


def time_apps_nothing(cases: List[Tuple[str, Any, Callable[[], Dict[str, Any]]]]) -> Dict[str, float]:
    """time_apps for apps that send nothing."""

    async def send(m: Dict[str, Any]) -> None:
        return None

    async def run() -> Dict[str, float]:
        best = {label: float("inf") for label, _, _ in cases}
        for _ in range(BATCHES):
            for label, app, make in cases:
                scopes = [make() for _ in range(BATCH)]
                t = time.perf_counter()
                for s in scopes:
                    await app(s, _receive, send)
                best[label] = min(best[label], (time.perf_counter() - t) / BATCH * 1e6)
        return best

    return asyncio.run(run())


if __name__ == "__main__":
    main()
