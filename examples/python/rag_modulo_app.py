"""RAG Modulo (seed 001) on FastAPI, protected by admit.

The policy is examples/policies/rag-modulo.toml: HS256 bearer JWTs signed with
JWT_SECRET_KEY (required, at least 32 bytes), JWT_ALGORITHM (HS256), valid for
JWT_EXPIRATION seconds (3600). Register and login are open; login checks the password
(scrypt, never stored plain) and hands out a token issued by the engine itself; every
other /api route needs the token: missing, invalid or expired -> 401.

Run: JWT_SECRET_KEY=... python examples/python/rag_modulo_app.py  (HOST, PORT; default 127.0.0.1:8000)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

import admit
from admit.fastapi import Admit, CurrentPrincipal

POLICY = Path(__file__).resolve().parent.parent / "policies" / "rag-modulo.toml"
# The policy names only /api routes; the API docs are served beside it.
DOCS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")

# scrypt, as recommended by OWASP for password storage (n=2**14, r=8, p=1).
_N, _R, _P = 1 << 14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


class RegisterIn(BaseModel):
    username: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=8, max_length=1024)
    email: str = Field(min_length=3, max_length=254)


class LoginIn(BaseModel):
    username: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class SearchIn(BaseModel):
    question: str = Field(min_length=1, max_length=10_000)
    collection_id: str
    user_id: Optional[str] = None


def _lifetime(token: str) -> int:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(claims["exp"]) - int(claims["iat"])


def create_app(env: Optional[Mapping[str, str]] = None) -> FastAPI:
    """The app; `env` defaults to os.environ."""
    guard = Admit(admit.Engine.from_file(POLICY, env=env), open_paths=DOCS)
    app = FastAPI(title="RAG Modulo (admit example)")
    guard.install(app)
    app.state.admit = guard

    lock = threading.Lock()
    users: Dict[str, Dict[str, str]] = {}  # by username; passwords as scrypt hashes only
    app.state.users = users

    @app.post("/api/auth/register")
    def register(body: RegisterIn) -> Dict[str, str]:
        stored = hash_password(body.password)
        with lock:
            if body.username in users:
                raise HTTPException(409, "Username already registered")
            user = {"user_id": str(uuid.uuid4()), "username": body.username, "email": body.email, "password": stored}
            users[body.username] = user
        return {"user_id": user["user_id"], "username": user["username"], "email": user["email"]}

    @app.post("/api/auth/login")
    def login(body: LoginIn) -> Dict[str, Any]:
        with lock:
            user = users.get(body.username)
        # Hash even for an unknown user, so timing does not tell which usernames exist.
        stored = user["password"] if user else hash_password("")
        if not verify_password(body.password, stored) or user is None:
            raise HTTPException(401, "Incorrect username or password", headers={"WWW-Authenticate": "Bearer"})
        token = guard.engine.issue_token(
            "rag-jwt", user["user_id"], claims={"username": user["username"], "email": user["email"]}
        )
        return {"access_token": token, "token_type": "bearer", "expires_in": _lifetime(token)}

    @app.get("/api/auth/me")
    def me(principal: CurrentPrincipal) -> Dict[str, Any]:
        claims = principal.claims or {}
        return {"user_id": principal.id, "username": claims.get("username"), "email": claims.get("email")}

    @app.get("/api/collections")
    def collections(principal: CurrentPrincipal) -> List[Dict[str, str]]:
        return [{"id": "00000000-0000-0000-0000-000000000001", "name": "default", "user_id": principal.id}]

    @app.post("/api/search")
    def search(body: SearchIn, principal: CurrentPrincipal) -> Dict[str, Any]:
        if body.user_id is not None and body.user_id != principal.id:
            raise HTTPException(403, "Cannot search on behalf of another user")
        return {
            "question": body.question,
            "collection_id": body.collection_id,
            "user_id": principal.id,
            "answer": f"(no documents indexed) {body.question}",
            "sources": [],
        }

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
