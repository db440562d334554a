"""FastAPI dependencies: the principal, the decision, scopes required in code, and the
policy enforced as a dependency (:class:`enforce`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Dict, Optional, Tuple

from fastapi import Depends, HTTPException
from fastapi.security import SecurityScopes
from starlette.requests import HTTPConnection

from .._admit import Decision, Principal
from ._log import INFO, WARNING, log, log_decision
from ._routing import route_path

if TYPE_CHECKING:
    from ._guard import Admit

_NOT_INSTALLED = (
    "admit: this request has no decision; add the middleware (Admit(engine).install(app)) "
    "or the dependency (FastAPI(dependencies=[Depends(enforce(guard))])) first"
)


def _state(conn: Any) -> Tuple[Decision, Optional[Principal]]:
    state = conn.scope.get("state") or {}
    decision = state.get("decision")
    if not isinstance(decision, Decision):
        raise RuntimeError(_NOT_INSTALLED)
    return decision, state.get("principal")


def _unauthenticated() -> "HTTPException":
    return HTTPException(status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"})


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

    async def __call__(self, security_scopes: SecurityScopes, request: HTTPConnection) -> Principal:
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


def _headers(decision: Decision) -> Dict[str, str]:
    # One value per name, as HTTPException takes them; a repeated name (two challenges)
    # is joined with ", ", which RFC 9110 gives the same meaning.
    out: Dict[str, str] = {}
    for name, value in decision.headers:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


class enforce:  # noqa: N801 - used like a function: Depends(enforce(guard))
    """The policy as a FastAPI dependency, for apps that want their own exception
    handlers to render refusals.

    ``FastAPI(dependencies=[Depends(enforce(guard))])``, or on an ``APIRouter`` or a
    route. It decides the request on the path Starlette routed (the guard's
    :meth:`~admit.fastapi.Admit.decide_scope`, ``root_path`` and mounts included), sets
    ``request.state.decision`` and ``request.state.principal`` (so
    :data:`CurrentPrincipal` works after it), and returns the decision. A refusal
    raises ``HTTPException(status, detail=message, headers=...)``: the status, message
    and headers (``WWW-Authenticate``, CORS, ``Vary``) are the decision's, the body is
    whatever the app's handler for ``HTTPException`` makes of it (FastAPI's
    ``{"detail": message}`` by default; a policy's own ``[responses] body`` is the
    middleware's, not used here). A dry-run refusal passes, as in the middleware.

    When the middleware already decided the request (whole-app enforcement plus this
    dependency on some routers), its decision is reused, not made twice.

    A dependency runs only on requests the router matched: an unknown path is the
    app's 404, and a CORS preflight (``OPTIONS``, which no route serves) is the app's
    405. Use the middleware (:meth:`Admit.install`) when the policy has ``[cors]`` or
    must guard every request, mounts and static files included.
    """

    def __init__(self, guard: "Admit") -> None:
        from ._guard import Admit

        if not isinstance(guard, Admit):
            raise TypeError(f"enforce takes an admit.fastapi.Admit, not {type(guard).__name__}")
        self.guard = guard

    async def __call__(self, request: HTTPConnection) -> Decision:
        scope = request.scope
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        decided = state.get("decision")
        if isinstance(decided, Decision):
            return decided
        guard = self.guard
        decision = await guard._decide(scope)
        state["decision"] = decision
        state["principal"] = decision.principal
        if not decision.allow:
            if decision.reason != "preflight" and log.isEnabledFor(INFO):
                log_decision(INFO, scope, route_path(scope), decision)
            raise HTTPException(status_code=decision.status, detail=decision.message, headers=_headers(decision))
        if decision.dry_run and log.isEnabledFor(WARNING):
            log_decision(WARNING, scope, route_path(scope), decision)
        return decision

    def __repr__(self) -> str:
        return f"enforce({self.guard!r})"
