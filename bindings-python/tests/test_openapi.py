"""OpenAPI (issue 13): an openIdConnect scheme for a jwt authenticator with an issuer,
each protected operation's requirement listing its rule's scopes; http bearer without
an issuer; and install(docs=True), which opens exactly the app's docs URLs."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Set

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import admit
import admit.fastapi
from admit.fastapi import Admit

ISSUER = "https://test-instance.clerk.accounts.dev"
SKILLMEAT_ALL = {
    "SKILLMEAT_AUTH_ENABLED": "true",
    "SKILLMEAT_API_KEY_ENABLED": "true",
    "SKILLMEAT_API_KEY": "sk-test-only-skillmeat-key",
    "SKILLMEAT_ENTERPRISE_PAT_SECRET": "test-only-enterprise-pat-secret-0123456789",
    "CLERK_ISSUER": ISSUER,
    "CLERK_JWKS_URL": ISSUER + "/.well-known/jwks.json",  # never fetched: no token here
}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def check_schema(schema: Dict[str, Any], declared: Set[str]) -> None:
    """The OpenAPI 3 rules admit's part of the schema must follow."""
    schemes = schema.get("components", {}).get("securitySchemes", {})
    for name, s in schemes.items():
        assert s["type"] in ("apiKey", "http", "openIdConnect", "oauth2"), name
        if s["type"] == "apiKey":
            assert s["in"] == "header" and isinstance(s["name"], str)
        elif s["type"] == "http":
            assert s["scheme"] == "bearer"
        elif s["type"] == "openIdConnect":
            assert s["openIdConnectUrl"].startswith("https://")
            assert s["openIdConnectUrl"].endswith("/.well-known/openid-configuration")
            assert "//.well-known" not in s["openIdConnectUrl"]
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            for requirement in op.get("security", []):
                assert isinstance(requirement, dict) and requirement
                for name, scopes in requirement.items():
                    assert name in schemes, name
                    assert isinstance(scopes, list) and all(isinstance(x, str) for x in scopes)
                    if schemes[name]["type"] not in ("openIdConnect", "oauth2"):
                        assert scopes == [], (name, scopes)  # OpenAPI 3.0: empty for other types
                    assert set(scopes) <= declared


def skillmeat_schema() -> Dict[str, Any]:
    import skillmeat_app

    schema: Dict[str, Any] = TestClient(skillmeat_app.create_app(SKILLMEAT_ALL)).get("/openapi.json").json()
    return schema


SKILLMEAT_SCOPES = {
    "artifacts:read", "artifacts:write", "artifacts:delete", "collections:read", "collections:write",
    "admin:users", "admin:settings",
}


def test_an_issuer_gives_an_openid_connect_scheme() -> None:
    schema = skillmeat_schema()
    check_schema(schema, SKILLMEAT_SCOPES)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["clerk"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": f"{ISSUER}/.well-known/openid-configuration",
    }
    # Beside it, a bearer box to paste a token into.
    assert schemes["clerk-bearer"]["type"] == "http" and schemes["clerk-bearer"]["bearerFormat"] == "JWT"
    assert schemes["api-key"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["enterprise-pat"] == {"type": "http", "scheme": "bearer"}


def test_each_operation_lists_the_scopes_its_rule_requires() -> None:
    paths = skillmeat_schema()["paths"]

    def security(path: str, method: str) -> List[Dict[str, List[str]]]:
        result: List[Dict[str, List[str]]] = paths[path][method]["security"]
        return result

    assert security("/api/v1/artifacts", "get") == [
        {"api-key": []},
        {"clerk": ["artifacts:read"]},
        {"clerk-bearer": []},
        {"enterprise-pat": []},
    ]
    assert {"clerk": ["artifacts:write"]} in security("/api/v1/artifacts", "post")
    assert {"clerk": ["artifacts:delete"]} in security("/api/v1/artifacts/{ident}", "delete")
    assert {"clerk": ["collections:write"]} in security("/api/v1/collections/{ident}", "delete")
    assert {"clerk": ["admin:settings"]} in security("/api/v1/admin/settings", "put")
    assert "security" not in paths["/health"]["get"]
    assert "security" not in paths["/api/v1/version"]["get"]


POLICY = """
scopes = ["a", "b", "c"]
[roles.all]
scopes = ["*"]

[[authenticators]]
type = "jwt"
id = "idp"
algorithms = ["HS256"]
secret = { env = "SECRET" }
issuer = "https://idp.example.com/"

[[authenticators]]
type = "jwt"
id = "local-jwt"
algorithms = ["HS256"]
secret = { env = "SECRET" }

[[authenticators]]
type = "api_key"
id = "keys"
header = "X-Key"
keys = [{ id = "ci", sha256 = "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5", roles = ["all"] }]

[[routes]]
id = "any"
methods = ["GET"]
path = "/any"
require = ["c"]
require_any = ["a", "b"]
authenticators = ["idp"]

[[routes]]
id = "plain"
methods = ["GET"]
path = "/plain/{id}"
require = ["a"]

[[routes]]
id = "open"
methods = ["GET"]
path = "/open"
public = true
"""


def inline_app(**install: Any) -> FastAPI:
    e = admit.Engine.from_toml(POLICY, env={"SECRET": "0123456789abcdef0123456789abcdef"})
    app = FastAPI()
    Admit(e).install(app, **install)

    @app.get("/any")
    def any_() -> str:
        return ""

    @app.get("/plain/{id}")
    def plain(id: str) -> str:
        return id

    @app.get("/open")
    def open_() -> str:
        return ""

    return app


def test_require_any_and_rule_authenticators() -> None:
    schema = inline_app().openapi()
    check_schema(schema, {"a", "b", "c"})
    schemes = schema["components"]["securitySchemes"]
    # A trailing slash in the issuer is not doubled; an issuer-less jwt stays http bearer.
    assert schemes["idp"]["openIdConnectUrl"] == "https://idp.example.com/.well-known/openid-configuration"
    assert schemes["local-jwt"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert "local-jwt-bearer" not in schemes
    assert schemes["keys"] == {"type": "apiKey", "in": "header", "name": "X-Key"}
    # Only the rule's authenticators; require + one of require_any per alternative.
    assert schema["paths"]["/any"]["get"]["security"] == [
        {"idp": ["c", "a"]},
        {"idp": ["c", "b"]},
        {"idp-bearer": []},
    ]
    assert schema["paths"]["/plain/{id}"]["get"]["security"] == [
        {"idp": ["a"]},
        {"idp-bearer": []},
        {"local-jwt": []},
        {"keys": []},
    ]
    assert "security" not in schema["paths"]["/open"]["get"]


def test_security_requirement_is_public() -> None:
    e = admit.Engine.from_toml(POLICY, env={"SECRET": "0123456789abcdef0123456789abcdef"})
    (rule,) = [r for r in e.rules() if r["name"] == "any"]
    assert admit.fastapi.security_requirement(e, rule)[0] == {"idp": ["c", "a"]}


# -- docs ---------------------------------------------------------------------------------


def test_docs_true_opens_exactly_the_apps_docs_urls(caplog: pytest.LogCaptureFixture) -> None:
    c = TestClient(inline_app(docs=False))  # the default: the docs answer the policy
    for path in ("/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"):
        assert c.get(path).status_code == 403, path  # no rule: no_route
    caplog.set_level(logging.INFO, logger="admit")
    c = TestClient(inline_app(docs=True))
    for path in ("/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"):
        assert c.get(path).status_code == 200, path
    assert "idp" in c.get("/openapi.json").json()["components"]["securitySchemes"]
    assert c.get("/docs/").status_code == 400  # exact paths only: admit refuses the trailing slash
    assert c.get("/docsx").status_code == 404  # no rule, no route: the app's own 404
    assert c.get("/any").status_code == 401  # the rest of the policy is unchanged
    assert any("docs=True" in r.getMessage() and "/docs/oauth2-redirect" in r.getMessage() for r in caplog.records)


def test_docs_urls_are_read_from_the_app() -> None:
    e = admit.Engine.from_toml('[[routes]]\nid = "x"\nmethods = ["GET"]\npath = "/x"\npublic = true')
    app = FastAPI(docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    guard = Admit(e, docs=True)
    guard.install(app)
    assert guard.open_paths == frozenset({"/api/docs", "/api/openapi.json", "/docs/oauth2-redirect"})
    c = TestClient(app)
    assert c.get("/api/docs").status_code == 200 and c.get("/api/openapi.json").status_code == 200
    # not the app's docs URLs: no route, so the app's own 404
    assert c.get("/docs").status_code == 404 and c.get("/redoc").status_code == 404


def test_docs_true_without_docs_opens_nothing(caplog: pytest.LogCaptureFixture) -> None:
    e = admit.Engine.from_toml("")
    app = FastAPI(openapi_url=None)
    guard = Admit(e)
    guard.install(app, docs=True)
    assert guard.open_paths == frozenset()
    assert any("serves no docs pages" in r.getMessage() for r in caplog.records)

