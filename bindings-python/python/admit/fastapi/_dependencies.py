"""FastAPI dependencies: the principal, the decision, and scopes required in code."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Tuple

from fastapi import Depends, HTTPException
from fastapi.security import SecurityScopes
from starlette.requests import HTTPConnection, Request

from .._admit import Decision, Principal


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
