"""Route coverage (issue 13): which app routes the policy covers, which only a catch-all
covers, which rules match no route; logged at startup, strict mode; and
app_route_match, which tells a routed request from one the app would answer 404/405."""

from __future__ import annotations

import copy
import logging
from typing import Any, Dict

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import admit
import admit.fastapi
from conftest import POLICIES, ROOT

POLICY = """
scopes = ["items:read", "misc:read"]
[[authenticators]]
type = "anonymous"
id = "anon"
scopes = ["*"]

[[routes]]
id = "health"
methods = ["GET"]
path = "/health"
public = true

[[routes]]
id = "items"
methods = ["GET"]
paths = ["/items/{id}", "/api/v1/items/{id}"]
require = ["items:read"]

[[routes]]
id = "typo"
methods = ["GET"]
path = "/itemz/{id}"
require = ["items:read"]

[[routes]]
id = "env"
path = "/env"
deny = true

[[routes]]
id = "static"
methods = ["GET"]
path = "/static/public/**"
public = true

[[routes]]
id = "ws"
methods = ["GET"]
path = "/ws/{room}"
require = ["items:read"]

[[routes]]
id = "api-rest"
methods = ["GET"]
path = "/api/**"
require = ["misc:read"]
"""


def engine() -> admit.Engine:
    return admit.Engine.from_toml(POLICY)


def build(guard: Any = None, **install: Any) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    if guard is not None:
        guard.install(app, **install)

    # Routes declared after install(), as FastAPI code usually does.
    @app.get("/health")
    def health() -> Dict[str, str]:
        return {"status": "ok"}

    @app.get("/items/{item_id:int}")
    def item(item_id: int) -> Dict[str, int]:
        return {"id": item_id}

    @app.post("/items/{item_id}")
    def post_item(item_id: str) -> Dict[str, str]:
        return {"id": item_id}

    @app.get("/reports")
    def reports() -> Dict[str, str]:
        return {}

    @app.get("/slash/")
    def slash() -> Dict[str, str]:
        return {}

    @app.websocket("/ws/{room}")
    async def ws(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.close()

    api = APIRouter(prefix="/api/v1")

    @api.get("/items/{item_id:uuid}")
    def api_item(item_id: str) -> Dict[str, str]:
        return {}

    @api.get("/misc")
    def misc() -> Dict[str, str]:
        return {}

    app.include_router(api)
    app.mount("/static", StaticFiles(directory=ROOT / "bindings-python" / "tests" / "routing" / "static"))
    return app


def by(report: Any) -> Dict[Any, Any]:
    return {(r.method, r.path): r for r in report.routes}


def test_coverage_reports_each_route_and_each_unused_rule() -> None:
    report = admit.fastapi.coverage(build(), engine())
    routes = by(report)
    assert routes["GET", "/health"].rule == "health" and not routes["GET", "/health"].catch_all
    assert routes["GET", "/items/{item_id}"].rule == "items"
    assert routes["GET", "/items/{item_id}"].probe == "/items/1"
    # No rule for POST /items/{id}, nor for /reports: each would answer 403 no_route.
    assert routes["POST", "/items/{item_id}"].rule is None
    assert routes["GET", "/reports"].rule is None
    # A route admit refuses the path of: uncovered, with the reason.
    slash = routes["GET", "/slash/"]
    assert not slash.covered and slash.refused and "`/`" in slash.refused
    # Included routers (with a uuid convertor), a WebSocket route, a StaticFiles mount.
    uuid_route = routes["GET", "/api/v1/items/{item_id}"]
    assert uuid_route.rule == "items" and uuid_route.probe.startswith("/api/v1/items/00000000-")
    assert routes["GET", "/api/v1/misc"].rule == "api-rest" and routes["GET", "/api/v1/misc"].catch_all
    assert routes["GET", "/ws/{room}"].kind == "websocket" and routes["GET", "/ws/{room}"].rule == "ws"
    static = routes["GET", "/static/**"]
    assert static.kind == "mount" and static.probe == "/static/1" and static.rule is None
    assert {(r.method, r.path) for r in report.uncovered} == {
        ("POST", "/items/{item_id}"),
        ("GET", "/reports"),
        ("GET", "/slash/"),
        ("GET", "/static/**"),
    }
    assert [(r.method, r.path) for r in report.catch_all_only] == [("GET", "/api/v1/misc")]
    # Rules that match no route of the app: the typo, and the deny rule for /env.
    assert [r["name"] for r in report.unused_rules] == ["typo", "env"]
    assert not report.ok
    text = str(report)
    assert "4 not covered, 1 covered only by a catch-all, 2 rule(s) matching no route" in text
    assert "not covered  POST    /items/{item_id}" in text
    assert "every request answers 403 no_route" in text
    assert "catch-all    GET     /api/v1/misc" in text and "rule `api-rest` (/api/**)" in text
    assert "rule `typo` (/itemz/{id}, authenticated) matches no route of the app" in text
    assert "`/`" in text  # the trailing-slash refusal


def test_open_paths_count_as_covered() -> None:
    report = admit.fastapi.coverage(build(), engine(), open_paths={"/reports"})
    r = by(report)["GET", "/reports"]
    assert r.open and r.covered and "open_paths" in str(report)


def test_a_fully_covered_app_is_ok() -> None:
    import skillmeat_app

    e = admit.Engine.from_file(POLICIES / "skillmeat.toml", env={})
    report = admit.fastapi.coverage(skillmeat_app.create_app({}), e)
    # FastAPI's own /docs/oauth2-redirect is the one route the stock policy leaves out.
    assert [(r.method, r.path) for r in report.uncovered] == [("GET", "/docs/oauth2-redirect")]
    assert not report.catch_all_only and not report.unused_rules


def test_install_logs_the_coverage_at_startup(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    guard = admit.fastapi.Admit(engine())
    app = build(guard)
    assert not [r for r in caplog.records if "admit coverage" in r.getMessage()]  # routes come later
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/reports").status_code == 403
    logged = [r for r in caplog.records if "admit coverage" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert "GET     /reports" in logged[0].getMessage()
    assert guard.coverage_reports[id(app)].uncovered


def test_a_covered_app_logs_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    guard = admit.fastapi.Admit(admit.Engine.from_toml('[[routes]]\npath = "/**"\npublic = true'))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    guard.install(app)

    @app.get("/a")
    def a() -> str:
        return "a"

    with TestClient(app) as c:
        assert c.get("/a").status_code == 200
    (logged,) = [r for r in caplog.records if "admit coverage" in r.getMessage()]
    assert logged.levelno == logging.INFO and "covered only by a catch-all" in logged.getMessage()


def test_strict_coverage_refuses_to_start() -> None:
    guard = admit.fastapi.Admit(engine())
    app = build(guard, strict_coverage=True)
    with pytest.raises(admit.fastapi.AdmitConfigError, match="strict_coverage.*GET /reports"):
        with TestClient(app):
            pass
    # Without a lifespan, each request refuses too (fail closed), with the same message.
    with pytest.raises(admit.fastapi.AdmitConfigError, match="strict_coverage"):
        TestClient(app).get("/health")


def test_coverage_of_a_starlette_app_with_mounts() -> None:
    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    sub = Starlette(routes=[Route("/admin/users", hello), Route("/{name}", hello, methods=["PUT"])])
    app = Starlette(routes=[Route("/health", hello), Mount("/sub", app=sub)])
    e = admit.Engine.from_toml(
        'scopes = []\n[[routes]]\nmethods = ["GET"]\npaths = ["/health", "/sub/admin/users"]\npublic = true'
    )
    routes = by(admit.fastapi.coverage(app, e))
    assert routes["GET", "/sub/admin/users"].rule == "GET /health /sub/admin/users"
    assert routes["PUT", "/sub/{name}"].rule is None and routes["PUT", "/sub/{name}"].probe == "/sub/1"


def test_coverage_needs_an_engine() -> None:
    with pytest.raises(TypeError, match="admit.Engine"):
        admit.fastapi.coverage(build(), "policy.toml")  # type: ignore[arg-type]


# -- app_route_match --------------------------------------------------------------------------


def scope(path: str, method: str = "GET", kind: str = "http", root_path: str = "") -> Dict[str, Any]:
    s: Dict[str, Any] = {"type": kind, "path": path, "root_path": root_path, "headers": [], "query_string": b""}
    if kind == "http":
        s["method"] = method
    return s


@pytest.mark.parametrize(
    "path,method,kind,expected",
    [
        ("/health", "GET", "http", "full"),
        ("/health", "HEAD", "http", "partial"),  # FastAPI's GET routes take no HEAD: 405
        ("/health", "POST", "http", "partial"),  # Starlette answers 405
        ("/items/7", "GET", "http", "full"),
        ("/items/x", "GET", "http", "partial"),  # the int route refuses it, the POST route has the path
        ("/items/x/y", "GET", "http", "none"),
        ("/items/x", "POST", "http", "full"),
        ("/healthz", "GET", "http", "none"),  # a typo: 404
        ("/api/v1/misc", "GET", "http", "full"),  # an included router
        ("/api/v1/misc", "DELETE", "http", "partial"),
        ("/api/v1/nothing", "GET", "http", "none"),
        ("/static/public/hello.txt", "GET", "http", "full"),  # a mount takes every path under it
        ("/static/nothing-here", "GET", "http", "full"),
        ("/ws/lobby", "GET", "websocket", "full"),
        ("/ws/lobby", "GET", "http", "none"),
        ("/health", "GET", "websocket", "none"),
    ],
)
def test_app_route_match(path: str, method: str, kind: str, expected: str) -> None:
    s = scope(path, method, kind)
    before = copy.deepcopy(s)
    assert admit.fastapi.app_route_match(build(), s) == expected
    assert s == before  # read, never changed


def test_app_route_match_follows_root_path_and_fails_closed() -> None:
    app = build()
    assert admit.fastapi.app_route_match(app, scope("/jobs/health", root_path="/jobs")) == "full"
    assert admit.fastapi.app_route_match(object(), scope("/health")) == "full"

    class Broken:
        def matches(self, scope: Any) -> Any:
            raise KeyError("method")

    class App:
        routes = [Broken()]

    assert admit.fastapi.app_route_match(App(), scope("/x")) == "full"


def test_app_route_match_agrees_with_what_the_app_answers() -> None:
    app = build()
    c = TestClient(app)
    cases = [("/healthz", "GET"), ("/health", "POST"), ("/health", "HEAD"), ("/items/x", "GET"), ("/items/x/y", "GET"),
             ("/health", "GET"), ("/api/v1/misc", "DELETE"), ("/api/v1/nothing", "GET")]
    for path, method in cases:
        status = c.request(method, path).status_code
        found = admit.fastapi.app_route_match(app, scope(path, method))
        assert {"none": 404, "partial": 405}.get(found, 200) == status, (path, method, found, status)
