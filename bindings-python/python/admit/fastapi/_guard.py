"""The guard: the engine an app enforces, its JWKS fetchers, and install()."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Collection, Iterable, List, Optional

from .._admit import Decision, Engine
from ..jwks import JwksFetcher
from ._routing import route_path
from ._types import ASGIApp, Scope

if TYPE_CHECKING:
    from ._middleware import AdmitMiddleware

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
        from ._middleware import AdmitMiddleware

        return AdmitMiddleware(app, guard=self)

    def install(self, app: Any, *, openapi: bool = True) -> None:
        """Adds the middleware to a FastAPI/Starlette app and, with ``openapi``, the
        policy's security schemes to its OpenAPI schema."""
        from ._middleware import AdmitMiddleware
        from ._openapi import patch_openapi

        app.add_middleware(AdmitMiddleware, guard=self)
        if openapi and hasattr(app, "openapi"):
            self._apps.append(app)
            patch_openapi(app, self)

