"""The middleware's native entry point (``Engine._decide_asgi``) against the guard's
``decide_scope``: the same decision, or the same error, for every scope, including the
odd ones a server never sends; the path is ``route_path(scope)``; a guard whose
``decide_scope`` is another keeps it."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Dict, List, Optional

import pytest

import admit
from admit.fastapi import Admit, AdmitMiddleware, route_path

KEY = "test-only-native-entry-key"
POLICY = """
realm = "native"
scopes = ["items:read"]

[[authenticators]]
type = "api_key"
id = "keys"
header = "X-API-Key"
[[authenticators.keys]]
id = "kim"
sha256 = "%s"
roles = ["reader"]

[[authenticators]]
type = "local"
id = "loopback"
principal = "local-user"

[roles.reader]
scopes = ["items:read"]

[[routes]]
id = "local"
path = "/local"

[[routes]]
id = "items"
path = "/api/items/**"
require = ["items:read"]

[[routes]]
id = "root"
path = "/"
public = true

[[routes]]
id = "rest"
path = "/**"
deny = true
""" % admit.hash_key(KEY)

_MISSING = object()


@pytest.fixture(scope="module")
def engine() -> admit.Engine:
    return admit.Engine.from_toml(POLICY)


def outcome(fn: Any) -> Any:
    try:
        d = fn()
    except Exception as e:  # the same exception, with the same text
        return ("raises", type(e), str(e))
    return d.to_dict()


def build(path: Any, root: Any, method: Any, headers: Any, client: Any, kind: str = "http") -> Dict[str, Any]:
    s: Dict[str, Any] = {"type": kind}
    for name, value in (("path", path), ("root_path", root), ("method", method), ("headers", headers),
                        ("client", client)):
        if value is not _MISSING:
            s[name] = value
    return s


GOOD_HEADERS = [(b"host", b"localhost"), (b"x-api-key", KEY.encode())]
PATHS = ["/api/items/1", "/jobs/api/items/1", "/jobs", "/jobs/", "/jobsx/api/items/1", "/local", "", "/",
         "/caf\u00e9", "/a b/100%", "/x#y", "/api/items/..", "/\udcff", b"/api/items/1", None, _MISSING]
ROOTS = ["", "/jobs", "/jobs/", b"/jobs", 5, None, _MISSING]
METHODS = ["GET", "POST", "", None, _MISSING, "G\udcffT", 5, b"GET"]
HEADERS = [
    GOOD_HEADERS,
    [[b"x-api-key", KEY.encode()]],
    [("x-api-key", KEY)],
    tuple(GOOD_HEADERS),
    {"x-api-key": KEY},
    [],
    None,
    _MISSING,
    [(b"x-api-key", KEY.encode(), b"extra")],
    [(b"x-api-key", 5)],
    [("x-api-key", "\udcff")],
    b"x-api-key: k",
    [(b"x-api-key", b"wrong")],
]
CLIENTS = [("127.0.0.1", 5000), ["10.0.0.7", 1], ("::1", 1), None, (), _MISSING, (5, 1), ("\udcff", 1), ("x",)]


def scopes() -> List[Dict[str, Any]]:
    out = []
    # Every path and root against each other; the rest one at a time around a good request.
    for path, root in itertools.product(PATHS, ROOTS):
        out.append(build(path, root, "GET", GOOD_HEADERS, ("127.0.0.1", 1)))
    for method in METHODS:
        out.append(build("/api/items/1", "", method, GOOD_HEADERS, ("127.0.0.1", 1)))
    for headers in HEADERS:
        out.append(build("/api/items/1", "", "GET", headers, ("10.0.0.1", 1)))
    for client in CLIENTS:
        out.append(build("/local", "", "GET", [], client))
        out.append(build("/local", "", _MISSING, [], client, kind="websocket"))
    return out


def test_native_entry_decides_as_decide_scope(engine: admit.Engine) -> None:
    guard = Admit(engine)
    cases = scopes()
    differ = []
    for s in cases:
        path = route_path(s) if s.get("root_path") else s.get("path")
        want = outcome(lambda: guard.decide_scope(s))
        got = outcome(lambda: engine._decide_asgi(s, path))
        if got != want:
            differ.append((s, want, got))
    assert not differ, differ[:3]
    # The cases reach allow, refusals, malformed requests and errors alike.
    kinds = {(o[0] if isinstance(o, tuple) else o["reason"]) for o in (outcome(lambda: guard.decide_scope(s)) for s in cases)}
    assert {"ok", "public", "route_denied", "malformed_request", "not_local", "invalid_credentials", "raises"} <= kinds


class Recorder:
    def __init__(self) -> None:
        self.scopes: List[Dict[str, Any]] = []

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(mw: Any, scope: Dict[str, Any]) -> List[Dict[str, Any]]:
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(mw(scope, receive, send))
    return sent


def test_the_middleware_stores_the_decision_decide_scope_makes(engine: admit.Engine) -> None:
    app = Recorder()
    mw = AdmitMiddleware(app, engine=engine)
    assert mw._native
    for s in scopes():
        if isinstance(outcome(lambda: Admit(engine).decide_scope(s)), tuple):
            continue
        want = Admit(engine).decide_scope(dict(s)).to_dict()
        scope = dict(s)
        run(mw, scope)
        assert scope["state"]["decision"].to_dict() == want, s
        got = scope["state"]["principal"]
        assert (got.id if got else None) == (want["principal"] or {}).get("id")


def test_a_guard_with_its_own_decide_scope_keeps_it(engine: admit.Engine) -> None:
    class Custom(Admit):
        def decide_scope(self, scope: Any, engine: Optional[admit.Engine] = None) -> admit.Decision:
            return (engine or self.engine).malformed("custom guard")

    app = Recorder()
    mw = AdmitMiddleware(app, guard=Custom(engine))
    assert not mw._native
    sent = run(mw, build("/api/items/1", "", "GET", GOOD_HEADERS, ("127.0.0.1", 1)))
    assert sent[0]["status"] == 400 and b"custom guard" in sent[1]["body"]
    assert not app.scopes
    # A decide_scope set on the guard itself is kept too.
    patched = Admit(engine)
    patched.decide_scope = lambda scope, engine=None: patched.engine.malformed("patched")  # type: ignore[method-assign]
    mw = AdmitMiddleware(app, guard=patched)
    assert not mw._native
    assert b"patched" in run(mw, build("/api/items/1", "", "GET", GOOD_HEADERS, ("127.0.0.1", 1)))[1]["body"]


def test_the_middleware_decides_with_the_engine_in_force(engine: admit.Engine) -> None:
    # The native path reads the guard's engine on every request: a reload is seen by
    # the next request.
    app = Recorder()
    guard = Admit(engine)
    mw = AdmitMiddleware(app, guard=guard)
    request = build("/api/items/1", "", "GET", GOOD_HEADERS, ("10.0.0.1", 1))
    assert run(mw, dict(request))[0]["status"] == 200
    guard.engine = admit.Engine.from_toml(POLICY.replace('require = ["items:read"]', "deny = true"))
    assert run(mw, dict(request))[0]["status"] == 403
    guard.engine = engine
    assert run(mw, dict(request))[0]["status"] == 200
