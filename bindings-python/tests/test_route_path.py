"""The path the guard decides on, at the ASGI level: Starlette's route path, for HTTP and
WebSocket scopes, ``root_path`` and mounts, ``open_paths``; ``decide(decoded=True)`` and
``target_from_decoded``; what a FastAPI user sees of the ``[paths]`` defaults."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Dict, List, Optional

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette._utils import get_route_path

import admit
from admit.fastapi import Admit, AdmitMiddleware, route_path
from admit.fastapi._routing import _route_path_copy

POLICY = """
[[authenticators]]
type = "api_key"
id = "keys"
[[authenticators.keys]]
id = "admin"
sha256 = "%s"

[[routes]]
id = "admin"
path = "/api/admin/**"
require = []

[[routes]]
id = "docs"
path = "/docs"
public = true

[[routes]]
id = "root"
path = "/"
public = true

[[routes]]
id = "rest"
path = "/**"
deny = true
""" % admit.hash_key("test-only-route-path-key")


@pytest.fixture(scope="module")
def engine() -> admit.Engine:
    return admit.Engine.from_toml(POLICY)


SCOPES = [
    ("/api/admin/users", ""),
    ("/api/admin/users", "/jobs"),  # a root_path the path does not start with
    ("/jobs/api/admin/users", "/jobs"),
    ("/jobs", "/jobs"),  # the root itself: ""
    ("/jobs/", "/jobs"),
    ("/jobsx/api", "/jobs"),  # a prefix, not a segment: routed whole
    ("/jobs/api", "/jobs/"),
    ("/a/b/c", "/a/b"),
    ("/", ""),
    ("/x#y", "/x"),
    ("/caf\u00e9/x", "/caf\u00e9"),
]


@pytest.mark.parametrize("path,root", SCOPES)
def test_route_path_is_starlettes(path: str, root: str) -> None:
    scope = {"type": "http", "path": path, "root_path": root}
    assert route_path(scope) == get_route_path(scope)
    # The copy used without Starlette gives the same answers as the installed Starlette.
    assert _route_path_copy(scope) == get_route_path(scope)


def test_route_path_without_path_or_with_odd_root() -> None:
    assert route_path({"type": "http"}) is None
    assert route_path({"type": "http", "path": b"/x"}) is None
    assert route_path({"type": "http", "path": "/x", "root_path": None}) == "/x"


def test_decide_decoded_re_encodes_once(engine: admit.Engine) -> None:
    key = [("x-api-key", "test-only-route-path-key")]
    # The old signature, positional and keyword, still works.
    assert engine.decide("GET", "/api/admin/users", key, None, 1).rule == "admin"
    assert engine.decide("GET", "/api/admin/users", key, peer=None, now=1, decoded=False).rule == "admin"
    # A decoded "/" splits segments: what Starlette routes, admit decides.
    assert engine.decide("GET", "/api/admin/users", key, decoded=True).rule == "admin"
    # A literal "%2F" in a decoded path (the client sent %252F) is text inside one
    # segment, as it is for Starlette's router: not a slash, and not decoded again.
    assert engine.decide("GET", "/api%2Fadmin/users", key, decoded=True).rule == "rest"
    assert engine.decide("GET", "/api/admin%2Fusers", key, decoded=True).rule == "rest"
    assert engine.decide("GET", "/api/admin/a%2Fb", key, decoded=True).rule == "admin"
    assert engine.decide("GET", "/%61pi/admin/users", key, decoded=True).rule == "rest"
    # "?" and "#" in a decoded path are characters of a segment, never a query or fragment.
    assert engine.decide("GET", "/docs?x", decoded=True).rule == "rest"
    assert engine.decide("GET", "/docs#x", decoded=True).rule == "rest"
    # What routers read differently is still refused: dots, "\", NUL, "//", trailing "/".
    for bad in ["/api/admin/..", "/api/admin/./users", "/a\\b", "/a\x00b", "/a//b", "/docs/"]:
        d = engine.decide("GET", bad, decoded=True)
        assert d.reason == "malformed_request" and d.status == 400, bad
    with pytest.raises(TypeError):
        engine.decide("GET", "/", None, None, None, True)  # type: ignore[misc]  # keyword only


def test_target_from_decoded() -> None:
    assert admit.target_from_decoded("/api/v1/jobs") == "/api/v1/jobs"
    assert admit.target_from_decoded("/a b/caf\u00e9") == "/a%20b/caf%C3%A9"
    assert admit.target_from_decoded("/100%/a?b#c") == "/100%25/a%3Fb%23c"
    assert admit.target_from_decoded("/a\\b") == "/a%5Cb"
    assert admit.target_from_decoded("/;x=1/@:") == "/;x=1/@:"
    with pytest.raises(TypeError, match="path must be str"):
        admit.target_from_decoded(b"/x")  # type: ignore[arg-type]


# -- the middleware -------------------------------------------------------------------


class Recorder:
    """An ASGI app that records the scopes it is called with."""

    def __init__(self) -> None:
        self.scopes: List[Dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


def call(mw: Any, scope: Dict[str, Any]) -> List[Dict[str, Any]]:
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "websocket.connect"} if scope["type"] == "websocket" else {"type": "http.request"}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(mw(scope, receive, send))
    return sent


def scope_of(kind: str, path: str, raw: Optional[bytes] = None, root: str = "", key: bool = True) -> Dict[str, Any]:
    headers = [(b"host", b"localhost")]
    if key:
        headers.append((b"x-api-key", b"test-only-route-path-key"))
    s: Dict[str, Any] = {"type": kind, "path": path, "root_path": root, "headers": headers, "query_string": b""}
    if kind == "http":
        s["method"] = "GET"
    if raw is not None:
        s["raw_path"] = raw
    return s


@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_the_middleware_reads_path_not_raw_path(engine: admit.Engine, kind: str) -> None:
    app = Recorder()
    mw = AdmitMiddleware(app, engine=engine)
    # The server decoded %2F: the router sees /api/admin/users, so does admit.
    call(mw, scope_of(kind, "/api/admin/users", raw=b"/api/admin%2Fusers"))
    assert app.scopes[-1]["state"]["decision"].rule == "admin"
    # Without a key: refused, by the admin rule (a WebSocket on a server without the
    # websocket.http.response extension is closed with 3000, Unauthorized).
    sent = call(mw, scope_of(kind, "/api/admin/users", raw=b"/api%2Fadmin%2Fusers", key=False))
    assert len(app.scopes) == 1
    if kind == "websocket":
        assert sent == [{"type": "websocket.close", "code": 3000, "reason": "authentication required"}]
    else:
        assert sent[0]["status"] == 401
    # root_path as Starlette strips it: a mounted sub-app's guard, uvicorn --root-path.
    call(mw, scope_of(kind, "/jobs/api/admin/users", raw=b"/jobs/api/admin/users", root="/jobs"))
    assert app.scopes[-1]["state"]["decision"].rule == "admin"
    # A path outside the root_path is routed whole, and decided whole.
    call(mw, scope_of(kind, "/api/admin/users", root="/jobs"))
    assert app.scopes[-1]["state"]["decision"].rule == "admin"
    # The root_path itself: route path "", decided as "/".
    call(mw, scope_of(kind, "/jobs", root="/jobs", key=False))
    assert app.scopes[-1]["state"]["decision"].rule == "root"


def test_a_scope_without_a_path_is_refused(engine: admit.Engine) -> None:
    app = Recorder()
    scope = scope_of("http", "/docs")
    del scope["path"]
    sent = call(AdmitMiddleware(app, engine=engine), scope)
    assert sent[0]["status"] == 400 and not app.scopes


def test_open_paths_match_the_route_path(engine: admit.Engine) -> None:
    app = Recorder()
    mw = AdmitMiddleware(app, guard=Admit(engine, open_paths={"/openapi.json"}))
    call(mw, scope_of("http", "/jobs/openapi.json", root="/jobs", key=False))
    assert len(app.scopes) == 1 and "state" not in app.scopes[0]  # served, undecided
    # raw_path plays no part; a different route path is decided (here: denied).
    sent = call(mw, scope_of("http", "/openapi.json/x", raw=b"/openapi.json", key=False))
    assert sent[0]["status"] == 403 and len(app.scopes) == 1
    sent = call(mw, scope_of("http", "/jobs/openapi.json", key=False))  # no root_path
    assert sent[0]["status"] == 403 and len(app.scopes) == 1


def test_a_guard_wrapped_around_fastapi_uses_its_root_path(engine: admit.Engine) -> None:
    """AdmitMiddleware(FastAPI(root_path=...)) runs before FastAPI copies root_path into
    the scope; the guard reads it from the app, as Starlette's router will see it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI(root_path=...) is deprecated, still honoured
        inner = FastAPI(root_path="/jobs")

    @inner.get("/api/admin/users")
    def users() -> str:
        return "users"

    client = TestClient(AdmitMiddleware(inner, engine=engine))
    assert client.get("/jobs/api/admin/users").status_code == 401
    r = client.get("/jobs/api/admin/users", headers={"x-api-key": "test-only-route-path-key"})
    assert r.status_code == 200 and r.json() == "users"


# -- what a FastAPI user sees of the [paths] defaults -----------------------------------------

SLASH_POLICY = """
[[routes]]
path = "/items/**"
public = true
"""


def slash_app(policy: str) -> FastAPI:
    app = FastAPI()

    @app.get("/items/")
    def items() -> List[str]:
        return ["a"]

    Admit(admit.Engine.from_toml(policy)).install(app)
    return app


def test_a_route_with_a_trailing_slash_needs_strip() -> None:
    client = TestClient(slash_app(SLASH_POLICY))
    r = client.get("/items/")
    assert r.status_code == 400 and r.json() == {"detail": "request path ends with `/`"}
    # Without the slash, admit allows and Starlette redirects to the slash, then 400.
    r = client.get("/items", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/items/")
    client = TestClient(slash_app(SLASH_POLICY + '\n[paths]\ntrailing_slash = "strip"\n'))
    assert client.get("/items/").json() == ["a"]
