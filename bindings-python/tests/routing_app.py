"""The FastAPI app of the routing differential test (tests/test_routing_differential.py).

Every handler answers JSON naming itself, the path parameters Starlette gave it, the
rule it expects admit to have matched (``EXPECTED``), and the decision admit made
(``request.state.decision.rule`` and ``.constraints``). The routes mirror the subtrees
of tests/routing/policy.toml: each policy subtree has its own handlers down to its
root (``/api/admin``, ``/api/admin/{rest:path}``), so every handler has exactly one
expected rule and any other rule is a router/policy disagreement.

ASGI apps served by uvicorn (``uvicorn routing_app:NAME``, run from tests/):

- ``app``: the main app: an admin subtree, a weaker ``/api/**`` subtree, owner-scoped
  jobs, a ``{name:path}`` route under an admin prefix, a public ``/health``, a public
  catch-all, a StaticFiles mount whose ``private/`` folder the policy protects, and a
  sub-app mounted at ``/sub`` with its own guard and policy (tests/routing/sub_policy.toml).
  Run it with ``--root-path`` for uvicorn's root path.
- ``root_app``: the same routes in ``FastAPI(root_path="/jobs")``.
- ``outer_root_app``: ``root_app``'s twin with the guard wrapped around the app from
  outside (``AdmitMiddleware(FastAPI(root_path=...))``), so it runs before FastAPI
  copies its root_path into the scope.
- ``peer_app``: reports the peer admit saw (``scope["client"]``), under
  tests/routing/peer_policy.toml (a ``local`` authenticator).

Environment (read at import, for the test's self-check of the old behaviour):
``ROUTING_APP_LEGACY=1`` puts back the middleware's old path (``raw_path`` plus the
query string, as given by the server); ``ROUTING_APP_PATHS=lenient`` appends a
``[paths]`` table with every relaxation (the old core's reading of paths).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

import admit
from admit.fastapi import Admit, AdmitMiddleware

HERE = Path(__file__).resolve().parent / "routing"

#: handler name -> the rule of tests/routing/policy.toml (or sub_policy.toml) that must
#: have decided a request that reached it.
EXPECTED: Dict[str, str] = {
    "health": "health",
    "admin_root": "admin",
    "admin_users": "admin",
    "admin_other": "admin",
    "v1_admin_root": "v1-admin",
    "v1_admin_users": "v1-admin",
    "v1_admin_files": "v1-admin",
    "v1_admin_other": "v1-admin",
    "list_jobs": "list-jobs",
    "read_job": "read-job",
    "api_root": "api",
    "api_item": "api",
    "api_other": "api",
    "static_root": "static",
    "static:public": "static",
    "static:private": "static-private",
    "catch_all": "public",
    "sub_health": "sub-health",
    "sub_admin_root": "sub-admin",
    "sub_admin_users": "sub-admin",
    "sub_admin_other": "sub-admin",
    "sub_job": "sub-job",
    "sub_other": "sub-public",
}

#: handlers whose ``owner`` path parameter must equal an ``owner`` constraint.
OWNER_PARAM = {"read_job", "sub_job"}

LENIENT = """
[paths]
escaped_slashes = "keep"
dot_segments = "resolve"
empty_segments = "merge"
trailing_slash = "strip"
fragment = "drop"
"""


def _engine(name: str) -> admit.Engine:
    text = (HERE / name).read_text()
    if os.environ.get("ROUTING_APP_PATHS") == "lenient":
        text += LENIENT
    return admit.Engine.from_toml(text, env={}, base_dir=HERE)


def _legacy_decide_scope(self: Admit, scope: Any, engine: Optional[admit.Engine] = None) -> admit.Decision:
    """The middleware's path before it decided on Starlette's route path (kept to show
    that the differential test catches it): the server's raw_path and query string."""
    engine = engine or self._engine
    raw = scope.get("raw_path")
    if isinstance(raw, (bytes, bytearray)):
        try:
            path = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return engine.malformed("the request path is not valid UTF-8")
    else:
        path = scope.get("path") or "/"
    qs = scope.get("query_string")
    if qs and "?" not in path:
        try:
            path = path + "?" + qs.decode("utf-8")
        except UnicodeDecodeError:
            return engine.malformed("the query string is not valid UTF-8")
    client = scope.get("client")
    peer = client[0] if client else None
    method = scope.get("method") or "GET"
    return engine.decide(method, path, scope.get("headers") or (), peer)


if os.environ.get("ROUTING_APP_LEGACY") == "1":
    Admit.decide_scope = _legacy_decide_scope  # type: ignore[method-assign]


def report(request: Request, handler: str, **params: Any) -> Dict[str, Any]:
    decision = getattr(request.state, "decision", None)
    return {
        "handler": handler,
        "params": params,
        "expected_rule": EXPECTED[handler],
        "rule": decision.rule if decision is not None else None,
        "constraints": decision.constraints if decision is not None else None,
        "principal": decision.principal.id if decision is not None and decision.principal else None,
    }


class ReportingStatic:
    """StaticFiles, with the decision in response headers (a file cannot say it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_report(message: Any) -> None:
            if message["type"] == "http.response.start":
                decision = (scope.get("state") or {}).get("decision")
                extra = [
                    (b"x-rule", (decision.rule or "").encode() if decision is not None else b""),
                    (b"x-owner", (decision.constraints.get("owner") or "").encode() if decision is not None else b""),
                ]
                message = dict(message)
                message["headers"] = list(message.get("headers") or ()) + extra
            await send(message)

        await self.app(scope, receive, send_with_report)


def build_sub() -> FastAPI:
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @sub.get("/health")
    async def sub_health(request: Request) -> Dict[str, Any]:
        return report(request, "sub_health")

    @sub.get("/admin")
    async def sub_admin_root(request: Request) -> Dict[str, Any]:
        return report(request, "sub_admin_root")

    @sub.get("/admin/users")
    async def sub_admin_users(request: Request) -> Dict[str, Any]:
        return report(request, "sub_admin_users")

    @sub.get("/admin/{rest:path}")
    async def sub_admin_other(request: Request, rest: str) -> Dict[str, Any]:
        return report(request, "sub_admin_other", rest=rest)

    @sub.get("/jobs/{owner}")
    async def sub_job(request: Request, owner: str) -> Dict[str, Any]:
        return report(request, "sub_job", owner=owner)

    @sub.get("/{rest:path}")
    async def sub_other(request: Request, rest: str) -> Dict[str, Any]:
        return report(request, "sub_other", rest=rest)

    Admit(_engine("sub_policy.toml")).install(sub, openapi=False)
    return sub


def build_app(root_path: str = "", *, guard_outside: bool = False) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI(root_path=...) is deprecated, still honoured
        app = FastAPI(root_path=root_path)

    @app.get("/health")
    async def health(request: Request) -> Dict[str, Any]:
        return report(request, "health")

    @app.get("/api/admin")
    async def admin_root(request: Request) -> Dict[str, Any]:
        return report(request, "admin_root")

    @app.get("/api/admin/users")
    async def admin_users(request: Request) -> Dict[str, Any]:
        return report(request, "admin_users")

    @app.get("/api/admin/{rest:path}")
    async def admin_other(request: Request, rest: str) -> Dict[str, Any]:
        return report(request, "admin_other", rest=rest)

    @app.get("/api/v1/admin")
    async def v1_admin_root(request: Request) -> Dict[str, Any]:
        return report(request, "v1_admin_root")

    @app.get("/api/v1/admin/users")
    async def v1_admin_users(request: Request) -> Dict[str, Any]:
        return report(request, "v1_admin_users")

    @app.get("/api/v1/admin/files/{name:path}")
    async def v1_admin_files(request: Request, name: str) -> Dict[str, Any]:
        return report(request, "v1_admin_files", name=name)

    @app.get("/api/v1/admin/{rest:path}")
    async def v1_admin_other(request: Request, rest: str) -> Dict[str, Any]:
        return report(request, "v1_admin_other", rest=rest)

    @app.get("/api/v1/jobs")
    async def list_jobs(request: Request) -> Dict[str, Any]:
        return report(request, "list_jobs")

    @app.get("/api/v1/jobs/{owner}/{job}")
    async def read_job(request: Request, owner: str, job: str) -> Dict[str, Any]:
        return report(request, "read_job", owner=owner, job=job)

    @app.get("/api")
    async def api_root(request: Request) -> Dict[str, Any]:
        return report(request, "api_root")

    @app.get("/api/items/{item}")
    async def api_item(request: Request, item: str) -> Dict[str, Any]:
        return report(request, "api_item", item=item)

    @app.get("/api/{rest:path}")
    async def api_other(request: Request, rest: str) -> Dict[str, Any]:
        return report(request, "api_other", rest=rest)

    @app.get("/static")
    async def static_root(request: Request) -> Dict[str, Any]:
        return report(request, "static_root")

    app.mount("/static", ReportingStatic(StaticFiles(directory=HERE / "static")), name="static")
    app.mount("/sub", build_sub(), name="sub")

    @app.get("/{rest:path}")
    async def catch_all(request: Request, rest: str) -> Dict[str, Any]:
        return report(request, "catch_all", rest=rest)

    guard = Admit(_engine("policy.toml"), open_paths={"/openapi.json", "/docs"})
    if guard_outside:
        return AdmitMiddleware(app, guard=guard)
    guard.install(app)
    return app


def build_peer_app() -> FastAPI:
    peer = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @peer.get("/{rest:path}")
    async def whoami(request: Request, rest: str) -> Dict[str, Any]:
        decision = request.state.decision
        client = request.scope.get("client")
        return {
            "peer": client[0] if client else None,
            "rule": decision.rule,
            "principal": decision.principal.id if decision.principal else None,
        }

    Admit(admit.Engine.from_file(HERE / "peer_policy.toml", env={})).install(peer, openapi=False)
    return peer


app = build_app()
root_app = build_app("/jobs")
outer_root_app = build_app("/jobs", guard_outside=True)
peer_app = build_peer_app()
