"""examples/python/rag_modulo_app.py: register, login (token issued by the engine),
protected search; TestClient and a real uvicorn."""

from __future__ import annotations

import time
from typing import Any, Dict

import jwt as pyjwt
import pytest

from rag_modulo_app import create_app, hash_password, verify_password

SECRET = "test-only-rag-modulo-secret-0123456789abcdef"
ENV = {"JWT_SECRET_KEY": SECRET}
USER = {"username": "user@example.com", "password": "secure_password", "email": "user@example.com"}
SEARCH = {"question": "What is machine learning?", "collection_id": "123e4567-e89b-12d3-a456-426614174000"}


def login(c: Any) -> Dict[str, Any]:
    assert c.post("/api/auth/register", json=USER).status_code == 200
    r = c.post("/api/auth/login", json={"username": USER["username"], "password": USER["password"]})
    assert r.status_code == 200, r.text
    return r.json()


def test_register_login_search(client_for: Any) -> None:
    app = create_app(ENV)
    c = client_for(app)
    r = c.post("/api/auth/register", json=USER)
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == USER["username"] and body["email"] == USER["email"] and len(body["user_id"]) == 36
    assert "password" not in body
    # Stored hashed with scrypt, never plain.
    stored = app.state.users[USER["username"]]["password"]
    assert stored.startswith("scrypt$") and USER["password"] not in stored
    assert c.post("/api/auth/register", json=USER).status_code == 409
    r = c.post("/api/auth/login", json={"username": USER["username"], "password": USER["password"]})
    tok = r.json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 3600
    claims = pyjwt.decode(tok["access_token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == body["user_id"] and claims["exp"] - claims["iat"] == 3600
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    r = c.post("/api/search", json=SEARCH, headers=h)
    assert r.status_code == 200 and r.json()["user_id"] == body["user_id"]
    assert c.get("/api/collections", headers=h).status_code == 200
    assert c.get("/api/auth/me", headers=h).json() == {
        "user_id": body["user_id"], "username": USER["username"], "email": USER["email"]
    }
    r = c.post("/api/search", json=dict(SEARCH, user_id="someone-else"), headers=h)
    assert r.status_code == 403


def test_wrong_password_and_unknown_user(client_for: Any) -> None:
    c = client_for(create_app(ENV))
    c.post("/api/auth/register", json=USER)
    for creds in ({"username": USER["username"], "password": "wrong-password"}, {"username": "nobody", "password": "x"}):
        r = c.post("/api/auth/login", json=creds)
        assert r.status_code == 401 and r.json() == {"detail": "Incorrect username or password"}


@pytest.mark.parametrize(
    "headers,detail",
    [
        ({}, "Not authenticated"),
        ({"Authorization": "Bearer not-a-jwt"}, "Could not validate credentials"),
        ({"Authorization": "Bearer " + pyjwt.encode({"sub": "u", "exp": int(time.time()) + 60}, "x" * 40)}, "Could not validate credentials"),
        ({"Authorization": "Bearer " + pyjwt.encode({"sub": "u", "iat": 1, "exp": int(time.time()) - 60}, SECRET)}, "Token has expired"),
    ],
    ids=["missing", "garbage", "wrong-secret", "expired"],
)
def test_missing_invalid_expired_token_is_401(client_for: Any, headers: Dict[str, str], detail: str) -> None:
    c = client_for(create_app(ENV))
    r = c.post("/api/search", json=SEARCH, headers=headers)
    assert r.status_code == 401
    assert r.json() == {"detail": detail}
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_pyjwt_token_with_the_secret_is_accepted(client_for: Any) -> None:
    c = client_for(create_app(ENV))
    token = pyjwt.encode({"sub": "u1", "iat": int(time.time()), "exp": int(time.time()) + 60}, SECRET)
    assert c.get("/api/collections", headers={"Authorization": f"Bearer {token}"}).json()[0]["user_id"] == "u1"


def test_docs_and_openapi_lock(client_for: Any) -> None:
    c = client_for(create_app(ENV))
    assert c.get("/docs").status_code == 200
    schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {
        "rag-jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert schema["paths"]["/api/search"]["post"]["security"] == [{"rag-jwt": []}]
    assert "security" not in schema["paths"]["/api/auth/login"]["post"]


def test_password_hashing() -> None:
    h = hash_password("pw-123456")
    assert verify_password("pw-123456", h) and not verify_password("pw-1234567", h)
    assert hash_password("pw-123456") != h  # salted
    assert not verify_password("x", "garbage")
