"""A FastAPI app whose sessions live in sqlite, checked by the app through a `delegated`
authenticator, over a real uvicorn: the middleware with an async check, `enforce` with a
plain one (run in a worker thread), cookie sessions, owner rules, refusal reasons, the
cross-site check of a cookie on POST, a public route that never calls the check, and a
WebSocket handshake with a session cookie."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, WebSocket

import admit
from admit.fastapi import Admit, CurrentPrincipal, enforce
from conftest import LiveServer
from test_delegated import POLICY

APP_POLICY = POLICY + """
[[routes]]
id = "ws-notes"
path = "/ws/notes"
require = ["notes:read"]
authenticators = ["sessions"]
"""

ALICE = "sess-alice-4f1c9a0d7b"
BOB = "sess-bob-92aa01c3"
OLD = "sess-old-77d0"
GONE = "sess-gone-5e21"
BROKEN = "sess-broken-0b7e"


def make_db(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("create table sessions (id text primary key, user text, roles text, state text)")
        db.executemany(
            "insert into sessions values (?, ?, ?, ?)",
            [
                (ALICE, "alice", "writer", "live"),
                (BOB, "bob", "reader", "live"),
                (OLD, "carol", "writer", "expired"),
                (GONE, "dave", "writer", "revoked"),
                (BROKEN, "erin", "writer", "live"),
            ],
        )
    return path


def lookup(db_path: Path, sid: str) -> Optional[Dict[str, Any]]:
    """The app's own session lookup, as it would write it (one connection per call)."""
    with sqlite3.connect(db_path) as db:
        row = db.execute("select user, roles, state from sessions where id = ?", (sid,)).fetchone()
    if row is None:
        return None
    user, roles, state = row
    if user == "erin":
        raise RuntimeError(f"session table corrupt for {sid}")  # a bug that quotes the credential
    if state != "live":
        return {"refuse": state}
    return {"id": user, "roles": roles.split()}


class Calls:
    def __init__(self) -> None:
        self.credentials: List[str] = []
        self.threads: List[str] = []

    def record(self, sid: str) -> None:
        self.credentials.append(sid)
        self.threads.append(threading.current_thread().name)


def make_app(db_path: Path, mode: str, calls: Calls) -> FastAPI:
    engine = admit.Engine.from_toml(APP_POLICY)
    if mode == "middleware":

        async def check_session(sid: str) -> Optional[Dict[str, Any]]:
            calls.record(sid)
            return await asyncio.to_thread(lookup, db_path, sid)

        guard = Admit(engine, checks={"sessions": check_session})
        app = FastAPI()
        guard.install(app)
    else:

        def check_session_sync(sid: str) -> Optional[Dict[str, Any]]:
            calls.record(sid)
            return lookup(db_path, sid)

        guard = Admit(engine, checks={"sessions": check_session_sync})
        app = FastAPI(dependencies=[Depends(enforce(guard))])

    @app.get("/public")
    async def public() -> Dict[str, Any]:
        return {"public": True}

    @app.get("/notes/{owner}/{id}")
    async def read_note(owner: str, id: str, principal: CurrentPrincipal, request: Request) -> Dict[str, Any]:
        return {"owner": owner, "by": principal.id, "kind": principal.kind,
                "constraints": request.state.decision.constraints}

    @app.post("/notes")
    async def write_note(principal: CurrentPrincipal) -> Dict[str, Any]:
        return {"written_by": principal.id}

    @app.get("/feed")
    async def feed(request: Request) -> Dict[str, Any]:
        p = request.state.principal
        return {"principal": p.id if p is not None else None}

    @app.websocket("/ws/notes")
    async def ws_notes(ws: WebSocket) -> None:
        await ws.accept()
        p = ws.scope["state"]["principal"]
        await ws.send_text(f"hello {p.id}")
        await ws.close()

    return app


@pytest.fixture(params=["middleware", "enforce"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    calls = Calls()
    app = make_app(make_db(tmp_path / "sessions.db"), request.param, calls)
    with LiveServer(app) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield request.param, client, calls, server


def sid(value: str) -> Dict[str, str]:
    return {"Cookie": f"theme=dark; sid={value}"}


def test_a_cookie_session_reads_its_own_notes_only(served: Any) -> None:
    mode, client, calls, _ = served
    r = client.get("/notes/alice/1", headers=sid(ALICE))
    assert r.status_code == 200, r.text
    assert r.json() == {"owner": "alice", "by": "alice", "kind": "delegated", "constraints": {"owner": "alice"}}
    r = client.get("/notes/bob/1", headers=sid(ALICE))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    r = client.get("/notes/bob/1", headers={"Authorization": f"Session {BOB}"})
    assert r.status_code == 200 and r.json()["by"] == "bob"
    assert calls.credentials == [ALICE, ALICE, BOB]
    if mode == "middleware":  # the async check ran on the event loop (its lookup in a thread)
        assert not any(t.startswith("AnyIO worker") for t in calls.threads)
    else:  # a plain check runs in a worker thread, as FastAPI runs plain dependencies
        assert all(t.startswith("AnyIO worker") for t in calls.threads), calls.threads


@pytest.mark.parametrize(
    "session, reason",
    [(OLD, "expired"), (GONE, "revoked"), ("sess-nobody", "invalid_credentials"), (BROKEN, "invalid_credentials")],
)
def test_refused_sessions_are_401_with_the_checks_reason(
    served: Any, caplog: pytest.LogCaptureFixture, session: str, reason: str
) -> None:
    _, client, calls, _ = served
    engine = admit.Engine.from_toml(APP_POLICY)
    engine.set_check("sessions", lambda c: {"refuse": reason})
    want = engine.decide("GET", "/feed", sid(session))
    with caplog.at_level(logging.INFO, logger="admit"):
        r = client.get("/feed", headers=sid(session))
    # Refused, not the guest fallback; the decision's status, challenge and message.
    assert r.status_code == 401
    assert r.json() == {"detail": want.message}
    assert r.headers["WWW-Authenticate"] == want.header("WWW-Authenticate")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert calls.credentials == [session]
    if session == BROKEN:
        assert any(rec.name == "admit.checks" and "raised RuntimeError" in rec.getMessage() for rec in caplog.records)
    for rec in caplog.records:
        assert session not in rec.getMessage() + repr(rec.args) + repr(rec.__dict__)


def test_a_cookie_on_post_needs_a_same_origin_signal(served: Any) -> None:
    _, client, calls, _ = served
    r = client.post("/notes", headers=sid(ALICE))
    assert r.status_code == 403 and r.json()["detail"]
    r = client.post("/notes", headers={**sid(ALICE), "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert calls.credentials == []  # refused before the check
    r = client.post("/notes", headers={**sid(ALICE), "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and r.json() == {"written_by": "alice"}
    r = client.post("/notes", headers={"Authorization": f"Session {ALICE}"})  # not a cookie: no CSRF
    assert r.status_code == 200
    r = client.post("/notes", headers={**sid(BOB), "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 403  # a reader
    assert calls.credentials == [ALICE, ALICE, BOB]


def test_no_check_on_a_public_route_or_without_a_session(served: Any) -> None:
    _, client, calls, _ = served
    assert client.get("/public", headers=sid(ALICE)).json() == {"public": True}
    assert client.get("/feed").json() == {"principal": "guest"}
    assert client.get("/notes/alice/1").status_code == 401
    assert calls.credentials == []
    assert client.get("/feed", headers=sid(ALICE)).json() == {"principal": "alice"}
    assert calls.credentials == [ALICE]


def test_concurrent_requests_get_their_own_principals(served: Any) -> None:
    _, _, calls, server = served

    async def main() -> List[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            return list(await asyncio.gather(*(
                c.get(f"/notes/{who}/1", headers=sid(s)) for who, s in [("alice", ALICE), ("bob", BOB)] * 10
            )))

    rs = asyncio.run(main())
    assert [r.json()["by"] for r in rs] == ["alice", "bob"] * 10
    assert len(calls.credentials) == 20


def test_a_websocket_handshake_with_a_session_cookie(served: Any) -> None:
    pytest.importorskip("websockets")
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    mode, _, calls, server = served
    url = f"ws://127.0.0.1:{server.port}/ws/notes"
    with connect(url, additional_headers=sid(ALICE), open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "hello alice"
    with pytest.raises(InvalidStatus) as info:
        with connect(url, additional_headers=sid(OLD), open_timeout=10):
            pass
    assert info.value.response.status_code in (401, 403)
    if mode == "middleware":  # the decision's own response to the handshake
        assert info.value.response.status_code == 401
        assert json.loads(info.value.response.body)["detail"]
    assert calls.credentials == [ALICE, OLD]


def test_a_reload_keeps_the_guards_checks() -> None:
    calls = Calls()

    def check(s: str) -> Any:
        calls.record(s)
        return {"id": "alice", "roles": ["reader"]}

    guard = Admit(admit.Engine.from_toml(APP_POLICY), checks={"sessions": check})
    new = admit.Engine.from_toml(APP_POLICY)
    assert new.get_check("sessions") is None
    guard.engine = new
    assert new.get_check("sessions") is check
    assert guard.decide_scope({"type": "http", "method": "GET", "path": "/feed",
                               "headers": [(b"cookie", b"sid=x")]}).principal.id == "alice"  # type: ignore[union-attr]
    with pytest.raises(admit.EngineError):
        Admit(admit.Engine.from_toml(APP_POLICY), checks={"sesions": check})
    with pytest.raises(TypeError):
        Admit(admit.Engine.from_toml(APP_POLICY), checks={"sessions": "nope"})  # type: ignore[dict-item]


def test_a_delegated_authenticator_without_a_check_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="admit"):
        Admit(admit.Engine.from_toml(APP_POLICY))
    assert any("no check for the delegated authenticator sessions" in r.getMessage() for r in caplog.records)
