"""The policy's [cors] against Starlette's CORSMiddleware (issue 13): with real requests,
what each combination does on the wire, and that install() refuses the broken ones."""

from __future__ import annotations

from typing import Any, List

import pytest
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.testclient import TestClient

import admit
import admit.fastapi
from admit.fastapi import Admit, AdmitConfigError, AdmitMiddleware

APP_ORIGIN = "https://app.example.com"
BASE = """
scopes = ["items:read"]
[roles.reader]
scopes = ["items:read"]

[[authenticators]]
type = "api_key"
id = "keys"
keys = [{ id = "ci", sha256 = "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5", roles = ["reader"] }]

[[routes]]
id = "items"
methods = ["GET"]
path = "/items"
require = ["items:read"]
"""
WITH_CORS = BASE + f"""
[cors]
origins = ["{APP_ORIGIN}"]
methods = ["GET"]
headers = ["x-api-key"]
"""
KEY = {"X-API-Key": "12345"}
PREFLIGHT = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}


def routes(app: FastAPI) -> FastAPI:
    @app.get("/items")
    def items() -> List[str]:
        return ["a"]

    return app


def new_app() -> FastAPI:
    return FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def add_cors(app: FastAPI) -> None:
    app.add_middleware(
        CORSMiddleware, allow_origins=[APP_ORIGIN], allow_methods=["GET"], allow_headers=["x-api-key"]
    )


def acao(r: Any) -> List[str]:
    return r.headers.get_list("access-control-allow-origin")


def client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://localhost", client=("127.0.0.1", 50000))


# -- the one right setup: [cors] in the policy, no CORSMiddleware ------------------------------


def test_the_policy_answers_cors_alone() -> None:
    app = new_app()
    guard = Admit(admit.Engine.from_toml(WITH_CORS))
    guard.install(app)
    routes(app)
    with client(app) as c:
        assert id(app) in guard.coverage_reports  # startup checked the app, and let it start
        pre = c.options("/items", headers=PREFLIGHT)
        assert pre.status_code == 204 and acao(pre) == [APP_ORIGIN]
        ok = c.get("/items", headers={"Origin": APP_ORIGIN, **KEY})
        assert ok.status_code == 200 and acao(ok) == [APP_ORIGIN]
        denied = c.get("/items", headers={"Origin": APP_ORIGIN})
        assert denied.status_code == 401 and acao(denied) == [APP_ORIGIN]  # the page can read the 401
        assert c.get("/items", headers={"Origin": "https://evil.example"}).status_code == 403


# -- [cors] and CORSMiddleware: Access-Control-Allow-Origin twice ------------------------------------


def test_install_refuses_cors_middleware_added_before_it() -> None:
    # Wired by hand (no install, so no check): the bug on the wire.
    app = routes(new_app())
    app.add_middleware(AdmitMiddleware, guard=Admit(admit.Engine.from_toml(WITH_CORS)))
    add_cors(app)
    r = client(app).get("/items", headers={"Origin": APP_ORIGIN, **KEY})
    assert acao(r) == [APP_ORIGIN, APP_ORIGIN]  # browsers reject this answer
    # install() sees CORSMiddleware already there and refuses.
    app = new_app()
    add_cors(app)
    with pytest.raises(AdmitConfigError, match=r"\[cors\].*CORSMiddleware.*twice.*Remove CORSMiddleware"):
        Admit(admit.Engine.from_toml(WITH_CORS)).install(app)


def test_cors_middleware_added_after_install_fails_the_startup() -> None:
    app = new_app()
    Admit(admit.Engine.from_toml(WITH_CORS)).install(app)
    add_cors(app)
    routes(app)
    with pytest.raises(AdmitConfigError, match="twice"):
        with client(app):
            pass
    with pytest.raises(AdmitConfigError, match="twice"):  # no lifespan: every request refuses
        client(app).get("/items", headers=KEY)


def test_reloading_into_cors_with_cors_middleware_is_refused() -> None:
    app = new_app()
    guard = Admit(admit.Engine.from_toml(BASE))
    guard.install(app)
    add_cors(app)
    routes(app)
    old = guard.engine
    with pytest.raises(AdmitConfigError, match="twice"):
        guard.engine = admit.Engine.from_toml(WITH_CORS)
    assert guard.engine is old


# -- no [cors], CORSMiddleware inside admit: preflights refused --------------------------------------


def test_cors_middleware_inside_admit_answers_preflights_no_rule_and_no_route_take() -> None:
    # No rule and no app route take OPTIONS /items: admit lets the app answer, as for any
    # unknown route, and the CORSMiddleware inside it answers the preflight.
    app = routes(new_app())
    add_cors(app)
    app.add_middleware(AdmitMiddleware, guard=Admit(admit.Engine.from_toml(BASE)))
    pre = client(app).options("/items", headers=PREFLIGHT)
    assert pre.status_code == 200 and acao(pre) == [APP_ORIGIN]
    # install() after CORSMiddleware: accepted at startup, since the preflight passes
    app = new_app()
    add_cors(app)
    guard = Admit(admit.Engine.from_toml(BASE))
    guard.install(app)
    routes(app)
    with client(app) as c:
        assert id(app) in guard.coverage_reports
        assert c.options("/items", headers=PREFLIGHT).status_code == 200


def test_cors_middleware_inside_admit_is_refused_at_startup_when_the_policy_refuses_preflights() -> None:
    # A rule takes OPTIONS and wants credentials, which a preflight never carries.
    policy = BASE + '\n[[routes]]\nid = "options"\nmethods = ["OPTIONS"]\npath = "/**"\nrequire = ["items:read"]\n'
    app = routes(new_app())
    add_cors(app)
    app.add_middleware(AdmitMiddleware, guard=Admit(admit.Engine.from_toml(policy)))
    pre = client(app).options("/items", headers=PREFLIGHT)
    assert pre.status_code == 401
    # install() after CORSMiddleware puts admit outside it: refused at startup.
    app = new_app()
    add_cors(app)
    Admit(admit.Engine.from_toml(policy)).install(app)
    routes(app)
    with pytest.raises(AdmitConfigError, match=r"added before guard.install\(app\).*OPTIONS /items answers 401"):
        with client(app):
            pass


def test_cors_middleware_inside_admit_is_accepted_when_the_policy_lets_preflights_through() -> None:
    policy = BASE + '\n[[routes]]\nid = "preflights"\nmethods = ["OPTIONS"]\npath = "/**"\npublic = true\n'
    app = new_app()
    add_cors(app)
    guard = Admit(admit.Engine.from_toml(policy))
    guard.install(app)
    routes(app)
    with client(app) as c:
        assert id(app) in guard.coverage_reports  # checked at startup, and accepted
        pre = c.options("/items", headers=PREFLIGHT)
        assert pre.status_code == 200 and acao(pre) == [APP_ORIGIN]


# -- no [cors], CORSMiddleware outside admit (added after install): it works -------------------------


def test_cors_middleware_outside_admit_works() -> None:
    app = new_app()
    guard = Admit(admit.Engine.from_toml(BASE))
    guard.install(app)
    add_cors(app)  # added last: the outermost layer
    routes(app)
    with client(app) as c:
        assert id(app) in guard.coverage_reports  # checked at startup, and accepted
        pre = c.options("/items", headers=PREFLIGHT)
        assert pre.status_code == 200 and acao(pre) == [APP_ORIGIN]
        ok = c.get("/items", headers={"Origin": APP_ORIGIN, **KEY})
        assert ok.status_code == 200 and acao(ok) == [APP_ORIGIN]
        denied = c.get("/items", headers={"Origin": APP_ORIGIN})
        assert denied.status_code == 401 and acao(denied) == [APP_ORIGIN]


def test_has_cors() -> None:
    assert admit.Engine.from_toml(WITH_CORS).has_cors()
    assert not admit.Engine.from_toml(BASE).has_cors()
