"""A request that no policy rule and no app route takes is answered as the app answers
an unknown path (404, or 405 for a path served with other methods), not 403; a route
the app has but no rule covers is still refused, and its handler never runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

import admit
from admit.fastapi import Admit, AdmitMiddleware

KEY = "test-only-unrouted-key-0123456789abcdef"
POLICY = f"""
realm = "unrouted"
scopes = ["items:read"]

[roles.reader]
scopes = ["items:read"]

[[authenticators]]
type = "api_key"
id = "keys"
header = "X-API-Key"

[[authenticators.keys]]
id = "rita"
sha256 = "{admit.hash_key(KEY)}"
roles = ["reader"]

[[routes]]
id = "items"
methods = ["GET"]
paths = ["/items", "/items/{{id}}"]
require = ["items:read"]
"""


def make_app(ran: List[str], static: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    async def items() -> Dict[str, bool]:
        ran.append("items")
        return {"ok": True}

    @app.get("/uncovered")
    async def uncovered() -> Dict[str, bool]:
        ran.append("uncovered")
        return {"ok": True}

    app.mount("/static", StaticFiles(directory=static), name="static")
    Admit(admit.Engine.from_toml(POLICY, env={})).install(app)
    return app


def test_unknown_paths_answer_as_the_app_answers_them(client_for: Any, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("static file")
    ran: List[str] = []
    c = client_for(make_app(ran, tmp_path))
    # no rule, no route: FastAPI's own 404, with or without credentials
    for headers in ({}, {"X-API-Key": KEY}):
        r = c.get("/itmes", headers=headers)
        assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    # a path the app serves with GET only, asked with POST: the app's 405
    r = c.post("/items", headers={"X-API-Key": KEY})
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    # a route the app has and no rule covers: still refused, the handler never runs
    r = c.get("/uncovered", headers={"X-API-Key": KEY})
    assert r.status_code == 403 and r.json()["detail"]
    # a mount takes every path under it: no rule covers /static, so it is refused
    r = c.get("/static/f.txt")
    assert r.status_code == 403
    r = c.get("/static/missing.txt")
    assert r.status_code == 403
    # covered and routed: decided as before
    assert c.get("/items").status_code == 401
    assert c.get("/items", headers={"X-API-Key": KEY}).json() == {"ok": True}
    assert ran == ["items"]


def test_a_plain_starlette_app_answers_its_own_404(client_for: Any) -> None:
    async def items(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/items", items), Route("/uncovered", items)])
    app.add_middleware(AdmitMiddleware, engine=admit.Engine.from_toml(POLICY, env={}))
    c = client_for(app)
    assert c.get("/nothing-here").status_code == 404
    assert c.get("/uncovered", headers={"X-API-Key": KEY}).status_code == 403


def test_a_raw_asgi_app_without_a_router_keeps_the_policys_answer(client_for: Any) -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ran"})

    c = client_for(AdmitMiddleware(raw, engine=admit.Engine.from_toml(POLICY, env={})))
    r = c.get("/nothing-here")
    assert r.status_code == 403 and r.content != b"ran"
