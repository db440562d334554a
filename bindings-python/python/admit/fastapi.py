"""admit for FastAPI (and any ASGI/Starlette app).

    import admit
    from admit.fastapi import Admit, CurrentPrincipal, require

    guard = Admit(admit.Engine.from_file("policy.toml"))
    app = FastAPI()
    guard.install(app)            # middleware + security schemes in the OpenAPI schema

    @app.get("/api/v1/artifacts")
    def artifacts(principal: CurrentPrincipal): ...

    @app.delete("/api/v1/artifacts/{id}", dependencies=[Depends(require("artifacts:delete"))])
    def delete(id: str): ...

- :class:`AdmitMiddleware` (plain ASGI) decides every HTTP request and WebSocket
  handshake with the policy. A denial is answered with the decision's status, headers
  and body; a body-less denial gets FastAPI's ``{"detail": message}``. CORS preflights
  are answered by the policy. An allowed request reaches the app with the decision's
  headers added to the response, and ``request.state.principal`` and
  ``request.state.decision`` set. It decides on the path Starlette routes on
  (:func:`route_path`: ``scope["path"]`` less ``root_path``, already percent-decoded),
  re-encoded for the engine, so the rule admit matches is the route Starlette runs.
- :func:`get_principal` / :data:`CurrentPrincipal`, :func:`optional_principal`,
  :func:`get_decision` are dependencies; :class:`require` checks scopes declared in
  code (``Depends(require("a:b"))`` or FastAPI's ``Security(require(), scopes=[...])``).
- :meth:`Admit.install` adds the policy's security schemes (API key header, HTTP
  bearer) to the OpenAPI schema and marks each operation the policy protects, so
  ``/docs`` shows the lock and the Authorize button works.
- Reload: build a new engine and assign it, ``guard.engine = admit.Engine.from_file(...)``.
  Requests in flight finish with the engine they started with; the next ones use the
  new one. The engine is shared by every thread; its policy never changes, while
  ``engine.set_jwks`` swaps a key set in place for all of them (README, "Threads").
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable, Collection, Dict, Iterable, List, MutableMapping, Optional, Tuple

from ._admit import Decision, Engine, Principal
from .jwks import JwksFetcher

try:  # FastAPI is optional: the middleware alone is plain ASGI.
    from fastapi import Depends, HTTPException
    from fastapi.security import SecurityScopes
    from starlette.requests import HTTPConnection, Request

    _HAVE_FASTAPI = True
except ImportError:  # pragma: no cover - exercised only without FastAPI installed
    _HAVE_FASTAPI = False

from typing import Annotated

__all__ = [
    "Admit",
    "AdmitMiddleware",
    "CurrentPrincipal",
    "get_decision",
    "get_principal",
    "optional_principal",
    "require",
    "route_path",
    "security_schemes",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_PATH_PARAM = re.compile(r"\{[^}/]*\}")


def _enc(text: str) -> bytes:
    return text.encode("latin-1", "replace")


class Admit:
    """The engine an app enforces, with its JWKS fetchers; swap ``engine`` to reload.

    ``fastapi_bodies``: give a denial without a body (the policy set none) FastAPI's
    ``{"detail": message}`` JSON body. ``jwks``: fetchers refreshed when stale and when
    a decision says ``unknown_key`` (then the request is decided again).
    ``open_paths``: exact route paths (as :func:`route_path` gives them: decoded,
    without ``root_path``) served without a decision (say ``/docs`` and
    ``/openapi.json`` when the policy does not list them); prefer public routes in the
    policy, where an operator sees them.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        jwks: Iterable[JwksFetcher] = (),
        fastapi_bodies: bool = True,
        open_paths: Collection[str] = (),
    ) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be an admit.Engine, not {type(engine).__name__}")
        self._engine = engine
        self.jwks: List[JwksFetcher] = list(jwks)
        for f in self.jwks:
            if not isinstance(f, JwksFetcher):
                raise TypeError(f"jwks must hold JwksFetcher objects, not {type(f).__name__}")
        self.fastapi_bodies = fastapi_bodies
        self.open_paths = frozenset(open_paths)
        self._apps: List[Any] = []

    @property
    def engine(self) -> Engine:
        """The engine in force. Assign a new one to reload the policy."""
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self.reload(engine)

    def reload(self, engine: Engine) -> None:
        """Puts ``engine`` in force: installs the fetched key sets in it first, then
        swaps (one assignment, atomic for the requests that follow)."""
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be an admit.Engine, not {type(engine).__name__}")
        for f in self.jwks:
            if f.text is not None:
                try:
                    f.apply(engine)
                except Exception:  # the new policy may not have that authenticator any more
                    pass
        self._engine = engine
        for app in self._apps:
            app.openapi_schema = None

    # -- deciding ---------------------------------------------------------------------

    def decide_scope(self, scope: Scope, engine: Optional[Engine] = None) -> Decision:
        """The decision for an ASGI ``http`` or ``websocket`` scope, made on the path
        Starlette routes on (:func:`route_path`), re-encoded for the engine
        (``decide(..., decoded=True)``). The query string plays no part."""
        engine = engine or self._engine
        path = route_path(scope)
        if path is None:
            return engine.malformed("the request has no path")
        client = scope.get("client")
        peer = client[0] if client else None
        if peer is not None and not isinstance(peer, str):
            peer = None
        method = scope.get("method") or "GET"
        # Starlette's route path is "" for a request to the root_path itself (no route
        # pattern of a policy can be ""); it is decided as "/".
        return engine.decide(method, path or "/", scope.get("headers") or (), peer, decoded=True)

    async def _decide(self, scope: Scope) -> Decision:
        engine = self._engine
        if self.jwks and any(f.is_stale() and f.may_fetch() for f in self.jwks):
            await self._refresh(engine, stale_only=True)
        decision = self.decide_scope(scope, engine)
        if decision.reason == "unknown_key" and self.jwks:
            if await self._refresh(engine, stale_only=False):
                decision = self.decide_scope(scope, engine)
        return decision

    async def _refresh(self, engine: Engine, *, stale_only: bool) -> bool:
        import anyio.to_thread

        def work() -> bool:
            got = False
            for f in self.jwks:
                if stale_only and not f.is_stale():
                    continue
                got = f.refresh(engine) or got
            return got

        return await anyio.to_thread.run_sync(work)

    # -- wiring -----------------------------------------------------------------------

    def middleware(self, app: ASGIApp) -> "AdmitMiddleware":
        """Wraps an ASGI app."""
        return AdmitMiddleware(app, guard=self)

    def install(self, app: Any, *, openapi: bool = True) -> None:
        """Adds the middleware to a FastAPI/Starlette app and, with ``openapi``, the
        policy's security schemes to its OpenAPI schema."""
        app.add_middleware(AdmitMiddleware, guard=self)
        if openapi and hasattr(app, "openapi"):
            self._apps.append(app)
            _patch_openapi(app, self)


class AdmitMiddleware:
    """ASGI middleware enforcing a policy. ``AdmitMiddleware(app, engine=...)`` or
    ``AdmitMiddleware(app, guard=Admit(...))`` (with Starlette's ``add_middleware``
    the same keywords)."""

    def __init__(self, app: ASGIApp, guard: Optional[Admit] = None, engine: Optional[Engine] = None) -> None:
        if guard is None:
            if engine is None:
                raise TypeError("AdmitMiddleware needs an engine or a guard (admit.fastapi.Admit)")
            guard = Admit(engine)
        elif engine is not None:
            raise TypeError("give AdmitMiddleware an engine or a guard, not both")
        self.app = app
        self.guard = guard
        self._fastapi = _wrapped_fastapi(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        # FastAPI(root_path=...) copies its root_path into the scope when it is called;
        # a middleware wrapped around the app from outside runs before that.
        view = scope
        fastapi = self._fastapi
        if fastapi is not None and fastapi.root_path:
            view = dict(scope)
            view["root_path"] = fastapi.root_path
        if guard.open_paths and route_path(view) in guard.open_paths:
            await self.app(scope, receive, send)
            return
        # Without JWKS fetchers there is nothing to await: decide in this frame.
        decision = await guard._decide(view) if guard.jwks else guard.decide_scope(view)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["decision"] = decision
        state["principal"] = decision.principal
        if not decision.allow:
            if kind == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008, "reason": decision.message[:120]})
                return
            await self._deny(decision, send)
            return
        extra = decision.headers
        if not extra or kind != "http":
            await self.app(scope, receive, send)
            return
        added = [(_enc(n), _enc(v)) for n, v in extra]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers") or ()) + added
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _deny(self, decision: Decision, send: Send) -> None:
        headers = [(_enc(n), _enc(v)) for n, v in decision.headers]
        body_text = decision.body
        if body_text is None and self.guard.fastapi_bodies and decision.status not in (204, 304):
            body_text = json.dumps({"detail": decision.message})
            headers.append((b"content-type", b"application/json"))
        body = body_text.encode("utf-8") if body_text else b""
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": decision.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# -- the route path -------------------------------------------------------------------


def _route_path_copy(scope: Scope) -> str:
    # Starlette's get_route_path (starlette/_utils.py, Starlette 0.35 and later), for
    # plain ASGI apps without Starlette; tests/test_routing_differential.py holds the two
    # to the same answers.
    path: str = scope["path"]
    root_path = scope.get("root_path", "")
    if not root_path or not isinstance(root_path, str):
        return path
    if not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


try:  # The installed Starlette's own function, so the guard follows its version.
    from starlette._utils import get_route_path as _get_route_path
except ImportError:  # pragma: no cover - Starlette absent, or older than 0.35
    _get_route_path = _route_path_copy


def route_path(scope: Scope) -> Optional[str]:
    """The path Starlette's router matches for an ASGI scope, which is the path the
    guard decides on: ``scope["path"]`` (percent-decoded by the server, as the ASGI spec
    says; ``raw_path`` is never read) less the ``root_path`` prefix, exactly as
    Starlette's ``get_route_path`` computes it. A ``path`` that does not start with
    ``root_path`` followed by ``/`` is routed whole. ``None`` when the scope has no
    ``path`` string."""
    path = scope.get("path")
    if not isinstance(path, str):
        return None
    if not isinstance(scope.get("root_path", ""), str):
        return path
    return _get_route_path(scope)


def _wrapped_fastapi(app: Any) -> Any:
    """The FastAPI app that ``app`` is or wraps (through ``.app`` attributes of
    middleware), or None."""
    try:
        from fastapi import FastAPI
    except ImportError:  # pragma: no cover - FastAPI is optional
        return None
    for _ in range(32):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


# -- OpenAPI --------------------------------------------------------------------------


def security_schemes(engine: Engine) -> Dict[str, Dict[str, Any]]:
    """OpenAPI security schemes for the engine's authenticators, by authenticator id."""
    schemes: Dict[str, Dict[str, Any]] = {}
    for ident, kind in engine.authenticators():
        if kind == "api_key":
            header = engine.api_key_header(ident) or "X-API-Key"
            schemes[ident] = {"type": "apiKey", "in": "header", "name": header}
        elif kind == "jwt":
            schemes[ident] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        elif kind == "bearer_token":
            schemes[ident] = {"type": "http", "scheme": "bearer"}
    return schemes


def _patch_openapi(app: Any, guard: Admit) -> None:
    original = app.openapi

    def openapi() -> Dict[str, Any]:
        if app.openapi_schema:
            cached: Dict[str, Any] = app.openapi_schema
            return cached
        schema: Dict[str, Any] = original()
        engine = guard.engine
        schemes = security_schemes(engine)
        if schemes:
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {}).update(schemes)
            requirement: List[Dict[str, List[str]]] = [{ident: []} for ident in schemes]
            for template, item in schema.get("paths", {}).items():
                concrete = _PATH_PARAM.sub("x", template)
                for method, op in item.items():
                    if method not in _HTTP_METHODS or not isinstance(op, dict):
                        continue
                    d = engine.decide(
                        method.upper(), concrete, [("host", "localhost")], "127.0.0.1", decoded=True
                    )
                    if d.reason == "missing_credentials":
                        op.setdefault("security", requirement)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


# -- dependencies ---------------------------------------------------------------------

_NOT_INSTALLED = (
    "admit: this request has no decision; add the middleware first: "
    "Admit(engine).install(app) or app.add_middleware(AdmitMiddleware, engine=engine)"
)


def _state(conn: Any) -> Tuple[Decision, Optional[Principal]]:
    state = conn.scope.get("state") or {}
    decision = state.get("decision")
    if not isinstance(decision, Decision):
        raise RuntimeError(_NOT_INSTALLED)
    return decision, state.get("principal")


def _unauthenticated() -> "HTTPException":
    return HTTPException(status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"})


if _HAVE_FASTAPI:

    # The dependencies are `async def` though they never await: FastAPI runs a plain
    # `def` dependency in a worker thread, which costs more than the decision itself.

    async def get_decision(request: HTTPConnection) -> Decision:
        """The decision the middleware made for this request."""
        return _state(request)[0]

    async def optional_principal(request: HTTPConnection) -> Optional[Principal]:
        """The principal, or None (a public route, or a dry run that would deny)."""
        return _state(request)[1]

    async def get_principal(request: HTTPConnection) -> Principal:
        """The principal; 401 ``{"detail": "Not authenticated"}`` when there is none."""
        principal = _state(request)[1]
        if principal is None:
            raise _unauthenticated()
        return principal

    CurrentPrincipal = Annotated[Principal, Depends(get_principal)]

    class require:  # noqa: N801 - used like a function: Depends(require("a:b"))
        """A dependency that requires scopes declared in code, and returns the principal.

        ``Depends(require("artifacts:delete"))``; with FastAPI's scopes,
        ``Security(require(), scopes=["artifacts:delete"])`` (both lists add up).
        Missing scopes: 403 ``{"detail": detail}`` with a ``WWW-Authenticate:
        Bearer error="insufficient_scope"`` challenge; no principal: 401. The scope
        names must be declared in the policy for its roles to grant them.
        """

        def __init__(self, *scopes: str, detail: str = "Not enough permissions") -> None:
            for s in scopes:
                if not isinstance(s, str):
                    raise TypeError(f"scopes must be str, not {type(s).__name__}")
            self.scopes: Tuple[str, ...] = scopes
            self.detail = detail

        async def __call__(self, security_scopes: SecurityScopes, request: Request) -> Principal:
            principal = _state(request)[1]
            if principal is None:
                raise _unauthenticated()
            needed = list(self.scopes) + [s for s in security_scopes.scopes if s not in self.scopes]
            granted = set(principal.scopes)
            if any(s not in granted for s in needed):
                scope = " ".join(needed).replace('"', "")
                raise HTTPException(
                    status_code=403,
                    detail=self.detail,
                    headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
                )
            return principal

        def __repr__(self) -> str:
            return f"require({', '.join(map(repr, self.scopes))})"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, require) and other.scopes == self.scopes and other.detail == self.detail

        def __hash__(self) -> int:
            return hash((self.scopes, self.detail))
