"""examples/python/skillmeat_app.py: every mode of SkillMeat's guide, through FastAPI's
TestClient and through httpx against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, Dict, Iterator, List

import jwt as pyjwt
import pytest

import admit
from conftest import FIXTURES
from skillmeat_app import create_app

KEY = "sk-test-only-skillmeat-key"
PAT = "test-only-enterprise-pat-secret-0123456789"
ISSUER = "https://test-instance.clerk.accounts.dev"
AUDIENCE = "skillmeat-api"
RSA = (FIXTURES / "keys" / "rsa-private.pem").read_text()
ATTACKER = (FIXTURES / "keys" / "attacker-rsa-private.pem").read_text()


def clerk(claims: Dict[str, Any], *, kid: str = "rsa-1", key: str = RSA, exp: int = 300) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user_2abc", "iat": now - 5, "nbf": now - 5, "exp": now + exp}
    body.update(claims)
    return pyjwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class JwksServer:
    """Serves a key set over HTTP with a max-age, counting requests."""

    def __init__(self) -> None:
        self.body = (FIXTURES / "jwks.json").read_bytes()
        self.hits = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=600")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a: object) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    s = JwksServer()
    yield s
    s.close()


# -- zero-auth -----------------------------------------------------------------------


def test_zero_auth_every_caller_is_local_admin(client_for: Any) -> None:
    c = client_for(create_app({}))
    r = c.get("/api/v1/artifacts")
    assert r.status_code == 200 and r.json()["caller"] == "local_admin"
    assert c.post("/api/v1/artifacts", json={"name": "a"}).status_code == 201
    assert c.delete("/api/v1/artifacts/a1").status_code == 204
    assert c.get("/api/v1/admin/users").status_code == 200
    assert c.delete("/api/v1/collections/default").status_code == 204
    assert c.get("/health").json() == {"status": "healthy"}


def test_an_unknown_route_answers_as_fastapi_does(client_for: Any) -> None:
    # no rule and no route: FastAPI's own 404, not the policy's 403
    c = client_for(create_app({}))
    r = c.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


# -- auth enabled, no method configured ---------------------------------------------------


def test_enabled_without_credentials_answers_401(client_for: Any) -> None:
    c = client_for(create_app({"SKILLMEAT_AUTH_ENABLED": "true"}))
    r = c.get("/api/v1/artifacts")
    assert r.status_code == 401
    assert r.json() == {"detail": "Missing authentication token"}
    assert r.headers["www-authenticate"].startswith("Bearer")
    for open_path in ("/health", "/api/v1/version", "/docs", "/openapi.json"):
        assert c.get(open_path).status_code == 200, open_path


# -- API key -------------------------------------------------------------------------------

API_KEY_ENV = {"SKILLMEAT_AUTH_ENABLED": "true", "SKILLMEAT_API_KEY_ENABLED": "true", "SKILLMEAT_API_KEY": KEY}


def test_api_key_mode(client_for: Any) -> None:
    c = client_for(create_app(API_KEY_ENV))
    h = {"X-API-Key": KEY}
    assert c.get("/api/v1/artifacts", headers=h).json()["caller"] == "api_key"
    created = c.post("/api/v1/artifacts", json={"name": "x"}, headers=h)
    assert created.status_code == 201 and created.json()["owner"] == "api_key"
    # Automation: no deletes, no admin.
    r = c.delete(f"/api/v1/artifacts/{created.json()['id']}", headers=h)
    assert r.status_code == 403 and r.json() == {"detail": "User lacks permission"}
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert c.get("/api/v1/admin/settings", headers=h).status_code == 403
    # A scope declared in code (require): collections:write is granted, artifacts:delete is not.
    r = c.delete("/api/v1/collections/default", headers=h)
    assert r.status_code == 403 and r.json() == {"detail": "User lacks permission"}
    assert 'scope="artifacts:delete"' in r.headers["www-authenticate"]
    r = c.get("/api/v1/artifacts", headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and r.json() == {"detail": "Invalid or expired token"}


# -- Clerk JWT ---------------------------------------------------------------------------


def clerk_env(url: str) -> Dict[str, str]:
    return {"SKILLMEAT_AUTH_ENABLED": "true", "CLERK_ISSUER": ISSUER, "CLERK_AUDIENCE": AUDIENCE, "CLERK_JWKS_URL": url}


def test_clerk_mode_roles(client_for: Any, jwks_server: JwksServer) -> None:
    # The app names no fetcher: the guard fetches the policy's jwks_url (CLERK_JWKS_URL).
    # Without a lifespan (these clients run none) the first token fetches it, once.
    c = client_for(create_app(clerk_env(jwks_server.url)))
    assert jwks_server.hits == 0
    admin = bearer(clerk({"org_role": "org:admin"}))
    member = bearer(clerk({"o": {"id": "org_1", "rol": "member"}}))
    viewer = bearer(clerk({}))
    assert c.get("/api/v1/artifacts", headers=admin).json()["caller"] == "user_2abc"
    assert jwks_server.hits == 1
    assert c.get("/api/v1/admin/users", headers=admin).status_code == 200
    assert c.post("/api/v1/artifacts", json={"name": "m"}, headers=member).status_code == 201
    assert c.get("/api/v1/admin/users", headers=member).status_code == 403
    assert c.get("/api/v1/artifacts", headers=viewer).status_code == 200
    r = c.post("/api/v1/artifacts", json={"name": "v"}, headers=viewer)
    assert r.status_code == 403 and r.json() == {"detail": "User lacks permission"}
    for bad in (clerk({}, exp=-60), clerk({}, key=ATTACKER), clerk({"aud": "other"}), clerk({"iss": "https://evil"})):
        r = c.get("/api/v1/artifacts", headers=bearer(bad))
        assert r.status_code == 401 and r.json() == {"detail": "Invalid or expired token"}
    assert jwks_server.hits == 1  # the attacker's key and the rest: within the interval


def test_clerk_key_rotation_refetches_once(client_for: Any, jwks_server: JwksServer) -> None:
    clock = [1000.0]
    c = client_for(create_app(clerk_env(jwks_server.url), jwks_options={"clock": lambda: clock[0]}))
    assert c.get("/api/v1/artifacts", headers=bearer(clerk({}))).status_code == 200
    assert jwks_server.hits == 1
    clock[0] += admit.fetch_rules.UNKNOWN_KEY_INTERVAL_SECS  # the core's interval has passed
    # The issuer rotates: its key set now holds rsa-2 only.
    jwks_server.body = (FIXTURES / "jwks-rotated.json").read_bytes()
    new = bearer(clerk({"org_role": "org:member"}, kid="rsa-2"))
    assert c.get("/api/v1/artifacts", headers=new).status_code == 200  # unknown kid -> one refetch
    assert jwks_server.hits == 2
    unknown = bearer(clerk({}, kid="rsa-9"))
    for _ in range(3):  # within min_interval: no more fetches
        assert c.get("/api/v1/artifacts", headers=unknown).status_code == 401
    assert jwks_server.hits == 2


# -- enterprise PAT, all modes, dry run ---------------------------------------------------------

ALL_ENV = dict(API_KEY_ENV, SKILLMEAT_ENTERPRISE_PAT_SECRET=PAT)


def test_enterprise_pat(client_for: Any) -> None:
    c = client_for(create_app({"SKILLMEAT_AUTH_ENABLED": "true", "SKILLMEAT_ENTERPRISE_PAT_SECRET": PAT}))
    assert c.get("/api/v1/admin/users", headers=bearer(PAT)).json() == {"users": ["enterprise"]}
    assert c.delete("/api/v1/collections/default", headers=bearer(PAT)).status_code == 204
    r = c.get("/api/v1/artifacts", headers=bearer("not-the-pat"))
    assert r.status_code == 401 and r.json() == {"detail": "Invalid or expired token"}


def test_all_modes_in_the_guides_order(client_for: Any, jwks_server: JwksServer) -> None:
    c = client_for(create_app(dict(ALL_ENV, **clerk_env(jwks_server.url))))
    assert c.get("/api/v1/artifacts", headers={"X-API-Key": KEY}).json()["caller"] == "api_key"
    assert c.get("/api/v1/artifacts", headers=bearer(PAT)).json()["caller"] == "enterprise"
    assert c.get("/api/v1/artifacts", headers=bearer(clerk({}))).json()["caller"] == "user_2abc"
    # X-API-Key first: a key plus the PAT is still the (restricted) key.
    both = {"X-API-Key": KEY, "Authorization": f"Bearer {PAT}"}
    assert c.get("/api/v1/admin/users", headers=both).status_code == 403
    # A wrong key is refused, never passed on to the PAT.
    assert c.get("/api/v1/artifacts", headers={"X-API-Key": "nope", "Authorization": f"Bearer {PAT}"}).status_code == 401


def test_dry_run_lets_traffic_pass(client_for: Any) -> None:
    c = client_for(create_app(dict(API_KEY_ENV, SKILLMEAT_AUTH_DRY_RUN="true")))
    r = c.get("/api/v1/artifacts")
    assert r.status_code == 200 and r.json()["caller"] is None


# -- CORS, OpenAPI ------------------------------------------------------------------------------


def test_openapi_shows_the_lock(client_for: Any, jwks_server: JwksServer) -> None:
    c = client_for(create_app(dict(ALL_ENV, **clerk_env(jwks_server.url))))
    schema = c.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["api-key"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    # Clerk has an issuer: an OpenID Connect scheme, and a bearer twin to paste a token in
    assert schemes["clerk"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://test-instance.clerk.accounts.dev/.well-known/openid-configuration",
    }
    assert schemes["clerk-bearer"]["type"] == "http" and schemes["clerk-bearer"]["scheme"] == "bearer"
    assert schemes["enterprise-pat"] == {"type": "http", "scheme": "bearer"}
    locked = schema["paths"]["/api/v1/artifacts"]["get"]["security"]
    assert {k for req in locked for k in req} == {"api-key", "clerk", "clerk-bearer", "enterprise-pat"}
    assert "security" not in schema["paths"]["/health"]["get"]
    assert c.get("/docs").status_code == 200 and "swagger" in c.get("/docs").text.lower()
    # Zero-auth: nothing to lock.
    open_schema = client_for(create_app({})).get("/openapi.json").json()
    assert "securitySchemes" not in open_schema.get("components", {})


def test_reload_swaps_the_engine(client_for: Any) -> None:
    app = create_app(API_KEY_ENV)
    c = client_for(app)
    assert c.get("/api/v1/artifacts").status_code == 401
    app.state.admit.engine = admit.Engine.from_file(
        __import__("skillmeat_app").POLICY, env={}
    )  # back to zero-auth
    assert c.get("/api/v1/artifacts").json()["caller"] == "local_admin"
    assert "securitySchemes" not in c.get("/openapi.json").json().get("components", {})
