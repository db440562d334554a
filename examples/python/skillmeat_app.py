"""SkillMeat (seed 004) on FastAPI, protected by admit.

The policy is examples/policies/skillmeat.toml; the mode comes from the environment,
exactly as SkillMeat's guide says:

- zero-auth (default): no variables; every caller is `local_admin` with all scopes.
- API key: SKILLMEAT_AUTH_ENABLED=true SKILLMEAT_API_KEY_ENABLED=true SKILLMEAT_API_KEY=sk-...
  (X-API-Key; automation scopes: no deletes, no admin).
- Clerk JWT: SKILLMEAT_AUTH_ENABLED=true CLERK_ISSUER=... CLERK_JWKS_URL=... [CLERK_AUDIENCE=...]
  The policy names the key set's URL (`jwks_url = { env = "CLERK_JWKS_URL" }`); the
  guard fetches it at startup, refreshes it per Cache-Control and once more when a
  token names an unknown `kid` (docs/policy.md, "Fetching a key set").
- Enterprise PAT: SKILLMEAT_AUTH_ENABLED=true SKILLMEAT_ENTERPRISE_PAT_SECRET=...
  (Authorization: Bearer; system_admin).
Any of them together, tried in the guide's order. SKILLMEAT_AUTH_DRY_RUN=true reports
what would be denied and lets traffic pass.

Run: python examples/python/skillmeat_app.py  (HOST, PORT; default 127.0.0.1:8080)
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel

import admit
from admit.fastapi import Admit, optional_principal, require

POLICY = Path(__file__).resolve().parent.parent / "policies" / "skillmeat.toml"
VERSION = "0.1.0"


class ArtifactIn(BaseModel):
    name: str
    type: str = "skill"


class CollectionIn(BaseModel):
    name: str


def create_app(
    env: Optional[Mapping[str, str]] = None, *, jwks_options: Optional[Mapping[str, Any]] = None
) -> FastAPI:
    """The app; `env` defaults to os.environ. `jwks_options` go to the guard's key set
    fetchers (`cafile=` for a private issuer's CA, say)."""
    env = dict(os.environ if env is None else env)
    # The guard fetches the key set of the policy's jwks_url (CLERK_JWKS_URL) itself.
    guard = Admit(admit.Engine.from_file(POLICY, env=env), jwks_options=jwks_options)

    app = FastAPI(title="SkillMeat (admit example)", version=VERSION)
    guard.install(app)
    app.state.admit = guard

    lock = threading.Lock()
    ids = itertools.count(1)
    artifacts: Dict[str, Dict[str, Any]] = {}
    collections: Dict[str, Dict[str, Any]] = {"default": {"id": "default", "name": "default", "artifacts": []}}
    settings: Dict[str, Any] = {"auth_provider": env.get("SKILLMEAT_AUTH_PROVIDER", "local")}

    def caller(p: Optional[admit.Principal]) -> Optional[str]:
        return p.id if p else None

    @app.get("/health")
    def health() -> Dict[str, str]:
        return {"status": "healthy"}

    @app.get("/api/v1/version")
    def version() -> Dict[str, str]:
        return {"version": VERSION}

    @app.get("/api/v1/artifacts")
    def list_artifacts(principal: Optional[admit.Principal] = Depends(optional_principal)) -> Dict[str, Any]:
        with lock:
            return {"items": list(artifacts.values()), "caller": caller(principal)}

    @app.post("/api/v1/artifacts", status_code=201)
    def create_artifact(
        body: ArtifactIn, principal: Optional[admit.Principal] = Depends(optional_principal)
    ) -> Dict[str, Any]:
        with lock:
            ident = f"a{next(ids)}"
            artifacts[ident] = {"id": ident, "name": body.name, "type": body.type, "owner": caller(principal)}
            return artifacts[ident]

    @app.get("/api/v1/artifacts/{ident}")
    def get_artifact(ident: str) -> Dict[str, Any]:
        with lock:
            if ident not in artifacts:
                raise HTTPException(404, "Artifact not found")
            return artifacts[ident]

    @app.put("/api/v1/artifacts/{ident}")
    def update_artifact(ident: str, body: ArtifactIn) -> Dict[str, Any]:
        with lock:
            if ident not in artifacts:
                raise HTTPException(404, "Artifact not found")
            artifacts[ident].update(name=body.name, type=body.type)
            return artifacts[ident]

    @app.delete("/api/v1/artifacts/{ident}", status_code=204)
    def delete_artifact(ident: str) -> Response:
        with lock:
            if artifacts.pop(ident, None) is None:
                raise HTTPException(404, "Artifact not found")
        return Response(status_code=204)

    @app.get("/api/v1/collections")
    def list_collections() -> Dict[str, Any]:
        with lock:
            return {"items": list(collections.values())}

    @app.post("/api/v1/collections", status_code=201)
    def create_collection(body: CollectionIn) -> Dict[str, Any]:
        with lock:
            ident = f"c{next(ids)}"
            collections[ident] = {"id": ident, "name": body.name, "artifacts": []}
            return collections[ident]

    @app.get("/api/v1/collections/{ident}")
    def get_collection(ident: str) -> Dict[str, Any]:
        with lock:
            if ident not in collections:
                raise HTTPException(404, "Collection not found")
            return collections[ident]

    # Deleting a collection deletes its artifacts: beyond the policy's collections:write,
    # the code asks for artifacts:delete too (a scope declared in code).
    @app.delete(
        "/api/v1/collections/{ident}",
        status_code=204,
        dependencies=[Depends(require("artifacts:delete", detail="User lacks permission"))],
    )
    def delete_collection(ident: str) -> Response:
        with lock:
            if collections.pop(ident, None) is None:
                raise HTTPException(404, "Collection not found")
        return Response(status_code=204)

    @app.get("/api/v1/admin/users")
    def admin_users(principal: Optional[admit.Principal] = Depends(optional_principal)) -> Dict[str, Any]:
        return {"users": [caller(principal)] if principal else []}

    @app.get("/api/v1/admin/settings")
    def get_settings() -> Dict[str, Any]:
        return settings

    @app.put("/api/v1/admin/settings")
    def put_settings(body: Dict[str, Any]) -> Dict[str, Any]:
        settings.update(body)
        return settings

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080")))
