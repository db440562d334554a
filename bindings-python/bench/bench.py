"""Timing for the Python binding (a script, not a test). One run reports:

1. `Engine.decide()` per call from Python against the same decision made natively
   (benches/examples/native_decide.rs), for an API-key and an HS256 JWT decision;
2. requests per second of one FastAPI app three ways: protected by admit's middleware,
   protected by FastAPI's HTTPBearer + PyJWT, and without auth; measured in-process
   (ASGI calls, no sockets: the framework and the auth only) and over HTTP against a
   real uvicorn on 127.0.0.1 (httpx clients in the same machine).

Run: bindings-python/bench/run.sh   (builds what it needs; `--quick` for a short run)
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUICK = "--quick" in sys.argv
NOW = 1_790_000_000
KEY = "sk-test-only-skillmeat-key"
SECRET = "test-only-rag-modulo-secret-0123456789abcdef"
TOKEN = json.loads((ROOT / "tests/fixtures/tokens.json").read_text())["rag_valid"]

import admit  # noqa: E402
from admit.fastapi import Admit, CurrentPrincipal  # noqa: E402 (module level: FastAPI resolves annotations here)

# The app benchmarks decide against the clock: a token valid now, issued by the engine.
FRESH = admit.Engine.from_file(ROOT / "examples/policies/rag-modulo.toml", env={"JWT_SECRET_KEY": SECRET}).issue_token(
    "rag-jwt", "bench-user", lifetime=3600
)


def best_per_call(fn: Callable[[], Any], n: int, rounds: int = 5) -> float:
    for _ in range(n // 10):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e9


def native() -> Dict[str, float]:
    """The same decisions as decide_figures, made natively by benches/examples/native_decide.rs."""
    policies = ROOT / "examples/policies"
    args = [
        "--case", "api_key_ns", "--policy", str(policies / "skillmeat.toml"),
        "--env", "SKILLMEAT_AUTH_ENABLED=true", "--env", "SKILLMEAT_API_KEY_ENABLED=true",
        "--env", f"SKILLMEAT_API_KEY={KEY}",
        "--path", "/api/v1/artifacts", "--peer", "127.0.0.1", "--now", str(NOW), "--header", f"x-api-key: {KEY}",
        "--case", "jwt_hs256_ns", "--policy", str(policies / "rag-modulo.toml"), "--env", f"JWT_SECRET_KEY={SECRET}",
        "--path", "/api/search", "--peer", "127.0.0.1", "--now", str(NOW), "--header", f"authorization: Bearer {TOKEN}",
    ]
    cargo = ["cargo", "run", "-q", "--release", "--locked", "-p", "admit-benches", "--example", "native_decide", "--"]
    out = subprocess.run([*cargo, *args], cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def decide_figures() -> List[Dict[str, Any]]:
    api = admit.Engine.from_file(
        ROOT / "examples/policies/skillmeat.toml",
        env={"SKILLMEAT_AUTH_ENABLED": "true", "SKILLMEAT_API_KEY_ENABLED": "true", "SKILLMEAT_API_KEY": KEY},
    )
    jwt_engine = admit.Engine.from_file(ROOT / "examples/policies/rag-modulo.toml", env={"JWT_SECRET_KEY": SECRET})
    api_h = [(b"x-api-key", KEY.encode())]
    jwt_h = [(b"authorization", f"Bearer {TOKEN}".encode())]
    assert api.decide("GET", "/api/v1/artifacts", api_h, "127.0.0.1", NOW).allow
    assert jwt_engine.decide("GET", "/api/search", jwt_h, "127.0.0.1", NOW).allow
    n = 20_000 if QUICK else 100_000
    nat = native()
    rows = []
    for name, engine, path, headers, key in (
        ("API key (SkillMeat)", api, "/api/v1/artifacts", api_h, "api_key_ns"),
        ("HS256 JWT (RAG Modulo)", jwt_engine, "/api/search", jwt_h, "jwt_hs256_ns"),
    ):
        py = best_per_call(lambda: engine.decide("GET", path, headers, "127.0.0.1", NOW), n)
        py_str = best_per_call(
            lambda: engine.decide("GET", path, [(h[0].decode(), h[1].decode()) for h in headers], "127.0.0.1", NOW), n
        )
        rows.append(
            {"decision": name, "native_ns": nat[key], "python_ns": py, "python_str_headers_ns": py_str,
             "target_ns": 1.5 * nat[key] + 1000}
        )
    return rows


# -- the three apps -----------------------------------------------------------------------


def make_apps() -> Dict[str, Any]:
    import jwt as pyjwt
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


    def plain() -> FastAPI:
        app = FastAPI()

        @app.get("/api/items")
        def items() -> Dict[str, Any]:
            return {"items": [], "user": None}

        return app

    def with_admit() -> FastAPI:
        app = FastAPI()
        engine = admit.Engine.from_file(ROOT / "examples/policies/rag-modulo.toml", env={"JWT_SECRET_KEY": SECRET})
        Admit(engine).install(app)

        @app.get("/api/items")
        def items(p: CurrentPrincipal) -> Dict[str, Any]:
            return {"items": [], "user": p.id}

        return app

    def with_pyjwt() -> FastAPI:
        app = FastAPI()
        bearer = HTTPBearer()

        def user(creds: HTTPAuthorizationCredentials = Depends(bearer)) -> str:
            try:
                claims = pyjwt.decode(creds.credentials, SECRET, algorithms=["HS256"], options={"verify_exp": False})
            except pyjwt.PyJWTError:
                raise HTTPException(401, "Could not validate credentials", headers={"WWW-Authenticate": "Bearer"})
            return str(claims["sub"])

        @app.get("/api/items")
        def items(u: str = Depends(user)) -> Dict[str, Any]:
            return {"items": [], "user": u}

        return app

    return {"no auth": plain(), "admit middleware": with_admit(), "HTTPBearer + PyJWT": with_pyjwt()}


async def asgi_rps(app: Any, seconds: float) -> float:
    headers = [(b"host", b"localhost"), (b"authorization", f"Bearer {FRESH}".encode())]
    scope_base = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/api/items", "raw_path": b"/api/items", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }
    status: List[int] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(m: Dict[str, Any]) -> None:
        if m["type"] == "http.response.start":
            status.append(m["status"])

    async def one() -> None:
        await app(dict(scope_base), receive, send)

    for _ in range(200):
        await one()
    assert set(status) == {200}, set(status)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            await one()
        n += 100
    return n / (time.perf_counter() - t0)


def http_rps(app: Any, seconds: float, clients: int = 8) -> float:
    import httpx
    import uvicorn

    sys.path.insert(0, str(ROOT / "bindings-python/tests"))
    from conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)

    async def load() -> float:
        headers = {"authorization": f"Bearer {FRESH}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            assert (await c.get("/api/items")).status_code == 200
            done = 0
            stop = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < stop:
                    r = await c.get("/api/items")
                    assert r.status_code == 200
                    done += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            return done / (time.perf_counter() - t0)

    try:
        return asyncio.run(load())
    finally:
        server.should_exit = True
        th.join(timeout=15)


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
          f"Python {platform.python_version()}, admit {admit.__version__}")
    print("\n## decide() per call (best of 5 rounds)\n")
    print("| decision | native | Python (bytes headers) | Python (str headers) | ratio | target 1.5x + 1 us |")
    print("|---|---|---|---|---|---|")
    for r in decide_figures():
        ok = "met" if r["python_ns"] <= r["target_ns"] else "missed"
        print(f"| {r['decision']} | {r['native_ns']:.0f} ns | {r['python_ns']:.0f} ns | {r['python_str_headers_ns']:.0f} ns "
              f"| {r['python_ns'] / r['native_ns']:.2f}x | {r['target_ns']:.0f} ns ({ok}) |")

    apps = make_apps()
    secs = 1.0 if QUICK else 3.0
    print("\n## FastAPI requests per second (HS256 bearer token on every request)\n")
    print("| app | in-process ASGI (req/s) | over HTTP, uvicorn + httpx (req/s) |")
    print("|---|---|---|")
    figures = {}
    for name, app in apps.items():
        inproc = statistics.median(asyncio.run(asgi_rps(app, secs)) for _ in range(3))
        over_http = http_rps(app, secs)
        figures[name] = (inproc, over_http)
        print(f"| {name} | {inproc:,.0f} | {over_http:,.0f} |")
    a, j, p = figures["admit middleware"][0], figures["HTTPBearer + PyJWT"][0], figures["no auth"][0]
    # The auth's own cost per request: time per request minus the unprotected app's.
    cost_admit = 1e6 / a - 1e6 / p
    cost_pyjwt = 1e6 / j - 1e6 / p
    print(f"\nin-process: admit {a / j:.2f}x the requests/s of HTTPBearer + PyJWT, {a / p:.2f}x the app without auth")
    print(f"auth cost per request: admit {cost_admit:.1f} us, HTTPBearer + PyJWT {cost_pyjwt:.1f} us "
          f"({cost_pyjwt / max(cost_admit, 0.01):.1f}x)")


if __name__ == "__main__":
    main()
