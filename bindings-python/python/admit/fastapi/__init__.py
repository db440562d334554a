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
  bearer, OpenID Connect for a ``jwt`` authenticator with an issuer, with each
  operation's scopes) to the OpenAPI schema and marks each operation the policy
  protects, so ``/docs`` shows the lock and the Authorize button works; with
  ``docs=True`` it serves the app's docs pages without a decision.
- JWKS key sets (``Admit(..., jwks=[JwksFetcher(...)])``) are fetched at startup (the
  app's lifespan, which ``install`` hooks; :meth:`Admit.lifespan` or
  :meth:`Admit.start`/:meth:`Admit.stop` elsewhere) and refreshed in the background;
  a request waits only for the rate-limited ``unknown_key`` retry. ``guard.ready`` and
  ``guard.status()`` are for a readiness endpoint.
- :func:`coverage` reports the app's routes that no rule covers, those only a
  catch-all covers and the rules that match no route; ``install`` logs it at startup
  (``strict_coverage=True`` refuses to start with an uncovered route).
  :func:`app_route_match` says whether the app routes a scope (``"full"``,
  ``"partial"``: 405, ``"none"``: 404).
- ``install`` refuses Starlette's ``CORSMiddleware`` beside a policy with ``[cors]``
  (the headers would be sent twice): :class:`AdmitConfigError`.
- Reload: build a new engine and assign it, ``guard.engine = admit.Engine.from_file(...)``.
  Requests in flight finish with the engine they started with; the next ones use the
  new one. The engine is shared by every thread; its policy never changes, while
  ``engine.set_jwks`` swaps a key set in place for all of them (README, "Threads").
"""

from __future__ import annotations

from ._coverage import CoverageReport, RouteCoverage, app_route_match, coverage
from ._guard import Admit, AdmitConfigError
from ._middleware import AdmitMiddleware
from ._openapi import security_requirement, security_schemes
from ._routing import route_path

__all__ = [
    "Admit",
    "AdmitConfigError",
    "AdmitMiddleware",
    "CoverageReport",
    "CurrentPrincipal",
    "RouteCoverage",
    "app_route_match",
    "coverage",
    "enforce",
    "get_decision",
    "get_principal",
    "optional_principal",
    "require",
    "route_path",
    "security_requirement",
    "security_schemes",
]

try:  # FastAPI is optional: the middleware alone is plain ASGI.
    import fastapi as _fastapi  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without FastAPI installed
    pass
else:
    from ._dependencies import CurrentPrincipal, enforce, get_decision, get_principal, optional_principal, require
