"""The dependencies: WebSocket routes, the policy as a dependency (`enforce`), dry run
and the principal, and `Principal` in pydantic models and response models."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Optional

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

import admit
from admit.fastapi import Admit, CurrentPrincipal, enforce, get_decision, optional_principal, require
from conftest import LiveServer

READER = "test-only-reader-key-0123456789abcdef"
WRITER = "test-only-writer-key-0123456789abcdef"

POLICY = f"""
realm = "deps"
scopes = ["items:read", "items:write"]
dry_run = {{ env = "DRY_RUN" }}

[roles.reader]
scopes = ["items:read"]

[roles.writer]
scopes = ["items:write"]
includes = ["reader"]

[[authenticators]]
type = "api_key"
id = "keys"
header = "X-API-Key"

[[authenticators.keys]]
id = "rita"
sha256 = "{admit.hash_key(READER)}"
roles = ["reader"]

[[authenticators.keys]]
id = "walt"
sha256 = "{admit.hash_key(WRITER)}"
roles = ["writer"]

[[routes]]
id = "health"
path = "/health"
public = true

[[routes]]
id = "items-read"
methods = ["GET"]
paths = ["/items", "/items/{{id}}", "/ws/items", "/ws/items/write"]
require = ["items:read"]

[[routes]]
id = "items-write"
methods = ["POST", "DELETE"]
paths = ["/items", "/items/{{id}}"]
require = ["items:write"]
"""


def engine(dry_run: bool = False) -> admit.Engine:
    return admit.Engine.from_toml(POLICY, env={"DRY_RUN": "true" if dry_run else "false"})


def key(k: str) -> Dict[str, str]:
    return {"X-API-Key": k}


# -- WebSocket routes ------------------------------------------------------------------


def ws_app(*, middleware: bool) -> FastAPI:
    guard = Admit(engine())
    app = FastAPI()
    deps = [] if middleware else [Depends(enforce(guard))]

    @app.websocket("/ws/items", dependencies=deps)
    async def items(ws: WebSocket, who: Any = Depends(require("items:read"))) -> None:
        await ws.accept()
        await ws.send_text(f"hello {who.id}")
        await ws.close()

    @app.websocket("/ws/items/write", dependencies=deps)
    async def write(ws: WebSocket, who: Any = Security(require(), scopes=["items:write"])) -> None:
        await ws.accept()
        await ws.send_text(f"writer {who.id}")
        await ws.close()

    if middleware:
        guard.install(app)
    return app


def ws_connect(url: str, headers: Dict[str, str]) -> Dict[str, Any]:
    """Opens a real WebSocket (the `websockets` client); what the server answered."""
    import websockets
    from websockets.exceptions import InvalidStatus

    async def go() -> Dict[str, Any]:
        try:
            async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
                return {"status": 101, "text": await ws.recv()}
        except InvalidStatus as e:
            r = e.response
            return {"status": r.status_code, "headers": {k.lower(): v for k, v in r.headers.raw_items()}, "body": bytes(r.body or b"")}

    return asyncio.run(go())


@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "enforce"])
def test_require_works_on_websocket_routes_under_uvicorn(middleware: bool) -> None:
    with LiveServer(ws_app(middleware=middleware)) as srv:
        base = srv.url.replace("http://", "ws://")
        assert ws_connect(f"{base}/ws/items", key(READER)) == {"status": 101, "text": "hello rita"}
        # FastAPI's scopes (Security) on a WebSocket route: a reader lacks items:write
        denied = ws_connect(f"{base}/ws/items/write", key(READER))
        assert denied["status"] == 403, denied
        assert 'error="insufficient_scope"' in denied["headers"]["www-authenticate"]
        assert json.loads(denied["body"]) == {"detail": "Not enough permissions"}
        assert ws_connect(f"{base}/ws/items/write", key(WRITER)) == {"status": 101, "text": "writer walt"}


def test_enforce_refuses_a_websocket_handshake_with_the_decisions_status() -> None:
    with LiveServer(ws_app(middleware=False)) as srv:
        base = srv.url.replace("http://", "ws://")
        none = ws_connect(f"{base}/ws/items", {})
        assert none["status"] == 401, none
        expected = engine().decide("GET", "/ws/items")
        assert json.loads(none["body"]) == {"detail": expected.message}
        assert none["headers"]["www-authenticate"] == expected.header("WWW-Authenticate")
        wrong = ws_connect(f"{base}/ws/items", key("test-only-wrong-key-0123456789abcdef"))
        assert wrong["status"] == engine().decide("GET", "/ws/items", key("test-only-wrong-key-0123456789abcdef")).status


# -- the policy as a dependency ---------------------------------------------------------


def dep_app(guard: Admit, *, handler: bool = True) -> FastAPI:
    app = FastAPI(dependencies=[Depends(enforce(guard))])

    if handler:

        @app.exception_handler(HTTPException)
        async def problem(request: Request, exc: HTTPException) -> JSONResponse:
            return JSONResponse(
                {"type": "about:blank", "title": exc.detail, "status": exc.status_code},
                status_code=exc.status_code,
                headers=exc.headers,
                media_type="application/problem+json",
            )

    @app.get("/health")
    async def health() -> Dict[str, bool]:
        return {"ok": True}

    @app.get("/items")
    async def items(who: CurrentPrincipal) -> Dict[str, str]:
        return {"who": who.id}

    @app.post("/items")
    async def create(who: CurrentPrincipal, d: admit.Decision = Depends(get_decision)) -> Dict[str, Any]:
        return {"who": who.id, "rule": d.rule}

    @app.get("/unlisted")
    async def unlisted(who: Optional[admit.Principal] = Depends(optional_principal)) -> Dict[str, Any]:
        return {"who": who.id if who else None}

    return app


def test_enforce_refusals_go_through_the_apps_exception_handlers(client_for: Any) -> None:
    c = client_for(dep_app(Admit(engine())))
    r = c.get("/items")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401 and r.json()["title"]
    assert "www-authenticate" in {k.lower() for k in r.headers.keys()}
    r = c.post("/items", headers=key(READER))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert c.get("/items", headers=key(READER)).json() == {"who": "rita"}
    assert c.post("/items", headers=key(WRITER)).json() == {"who": "walt", "rule": "items-write"}
    assert c.get("/health").json() == {"ok": True}
    # a route the policy does not cover is refused by the policy, through the handler
    r = c.get("/unlisted", headers=key(WRITER))
    assert r.status_code == engine().decide("GET", "/unlisted").status
    assert r.headers["content-type"] == "application/problem+json"


def test_enforce_without_a_handler_answers_fastapis_detail(client_for: Any) -> None:
    c = client_for(dep_app(Admit(engine()), handler=False))
    r = c.get("/items")
    assert r.status_code == 401 and set(r.json()) == {"detail"}


def test_enforce_on_an_apirouter_guards_only_that_router(client_for: Any) -> None:
    guard = Admit(engine())
    app = FastAPI()
    router = APIRouter(prefix="/items", dependencies=[Depends(enforce(guard))])

    @router.get("")
    async def items(who: CurrentPrincipal) -> Dict[str, str]:
        return {"who": who.id}

    @app.get("/free")
    async def free() -> Dict[str, bool]:
        return {"free": True}

    app.include_router(router)
    c = client_for(app)
    assert c.get("/items").status_code == 401
    assert c.get("/items", headers=key(READER)).json() == {"who": "rita"}
    assert c.get("/free").json() == {"free": True}


def test_enforce_reuses_the_middlewares_decision() -> None:
    from fastapi.testclient import TestClient

    guard = Admit(engine())
    calls: List[str] = []
    decide = guard.decide_scope

    def counted(scope: Any, engine: Any = None) -> admit.Decision:
        calls.append(scope["path"])
        return decide(scope, engine)

    guard.decide_scope = counted  # type: ignore[method-assign]
    app = dep_app(guard)
    guard.install(app)
    with TestClient(app) as c:
        assert c.get("/items", headers=key(READER)).json() == {"who": "rita"}
    assert calls == ["/items"]


def test_enforce_takes_a_guard() -> None:
    with pytest.raises(TypeError, match="admit.fastapi.Admit"):
        enforce(engine())  # type: ignore[arg-type]


# -- dry run and the principal ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["middleware", "enforce"])
def test_dry_run_gives_the_dependencies_the_principal_the_credentials_prove(client_for: Any, mode: str) -> None:
    guard = Admit(engine(dry_run=True))
    app = dep_app(guard) if mode == "enforce" else dep_app(Admit(engine(dry_run=True)), handler=False)
    if mode == "middleware":
        app = FastAPI()

        @app.get("/items")
        async def items(who: CurrentPrincipal) -> Dict[str, str]:
            return {"who": who.id}

        @app.post("/items")
        async def create(who: CurrentPrincipal) -> Dict[str, str]:
            return {"who": who.id}

        @app.get("/unlisted")
        async def unlisted(who: CurrentPrincipal) -> Dict[str, str]:
            return {"who": who.id}

        guard.install(app)
    c = client_for(app)
    # refused by the policy, passed by dry run: the handler still knows who it is
    assert c.post("/items", headers=key(READER)).json()["who"] == "rita"  # insufficient_scope
    assert c.get("/unlisted", headers=key(WRITER)).json() == {"who": "walt"}  # no_route
    # no credentials: nobody to give; the dependency answers as it would without admit
    assert c.get("/items").status_code == 401
    assert c.get("/items", headers=key("test-only-wrong-key-0123456789abcdef")).status_code == 401


# -- Principal and pydantic -------------------------------------------------------------


class Me(BaseModel):
    principal: admit.Principal
    note: str


def test_a_principal_is_a_pydantic_field_serialized_as_its_dict() -> None:
    p = engine().decide("GET", "/items", {"X-API-Key": READER}).principal
    assert p is not None
    m = Me(principal=p, note="x")
    assert m.principal is p
    dumped = m.model_dump()
    assert dumped["principal"] == p.to_dict()
    assert json.loads(m.model_dump_json())["principal"]["id"] == "rita"
    # a principal comes from a decision, never from input
    with pytest.raises(ValidationError):
        Me(principal={"id": "root", "authenticator": "keys", "kind": "api_key", "roles": [], "scopes": [], "claims": None}, note="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Me.model_validate_json(json.dumps({"principal": p.to_dict(), "note": "x"}))
    schema = Me.model_json_schema(mode="serialization")
    shape = json.dumps(schema)
    for field in ("id", "authenticator", "kind", "roles", "scopes", "claims"):
        assert f'"{field}"' in shape


def test_a_handler_returns_a_principal_and_uses_it_in_a_response_model(client_for: Any) -> None:
    guard = Admit(engine())
    app = FastAPI()

    @app.get("/items")
    async def items(who: CurrentPrincipal) -> admit.Principal:
        return who

    @app.get("/items/{id}", response_model=Me)
    async def one(id: str, who: CurrentPrincipal) -> Any:
        return {"principal": who, "note": id}

    guard.install(app)
    c = client_for(app)
    body = c.get("/items", headers=key(READER)).json()
    assert body == {"id": "rita", "authenticator": "keys", "kind": "api_key", "roles": ["reader"], "scopes": ["items:read"], "claims": None}
    assert c.get("/items/7", headers=key(READER)).json() == {"principal": body, "note": "7"}
    spec = app.openapi()
    text = json.dumps(spec)
    assert '"authenticator"' in text and '"scopes"' in text


def test_enforce_logs_its_refusals_and_dry_run_passes(caplog: Any) -> None:
    import logging

    from fastapi.testclient import TestClient

    caplog.set_level(logging.INFO, logger="admit")
    with TestClient(dep_app(Admit(engine()))) as c:
        c.post("/items", headers=key(READER))
    with TestClient(dep_app(Admit(engine(dry_run=True)))) as c:
        c.post("/items", headers=key(READER))
    records = [r for r in caplog.records if r.name == "admit.decisions"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING]
    for r in records:
        msg = r.getMessage()
        assert "POST /items" in msg and "insufficient_scope" in msg and "principal rita" in msg
        assert READER not in msg and READER not in str(r.__dict__)
