"""admit: an auth policy engine.

One policy file, compiled once into an :class:`Engine`; :meth:`Engine.decide` answers,
for one HTTP request, whether it may pass. The decision is made by the Rust core
(the same one the CLI, the C and WASM bindings use), with the GIL released.

    import admit
    engine = admit.Engine.from_file("policy.toml")
    d = engine.decide("GET", "/api/v1/artifacts", {"x-api-key": "..."}, peer="127.0.0.1")
    if not d.allow:
        ...  # answer d.status with d.headers and d.body

A ``delegated`` authenticator's credential (a session id, an opaque token) is checked
by the application: ``engine.set_check("sessions", fn)``, ``fn(credential)`` answering
``{"id": ..., "roles": [...]}``, ``{"refuse": "expired"}``, an :class:`Verdict` or
``None``; ``decide`` runs a plain check, ``await engine.decide_async(...)`` and the
FastAPI integration an ``async def`` one too.

The FastAPI integration is :mod:`admit.fastapi`; the JWKS fetcher is :mod:`admit.jwks`;
the rules every host follows to fetch a ``jwks_url`` are :mod:`admit.fetch_rules`.
"""

from __future__ import annotations

import secrets as _secrets

from . import fetch_rules
from ._admit import (
    Decision,
    Engine,
    EngineError,
    PendingCheck,
    PolicyError,
    Principal,
    Verdict,
    __version__,
    hash_key,
    target_from_decoded,
)

__all__ = [
    "Decision",
    "Engine",
    "EngineError",
    "PendingCheck",
    "PolicyError",
    "Principal",
    "REASONS",
    "Verdict",
    "__version__",
    "fetch_rules",
    "generate_key",
    "hash_key",
    "target_from_decoded",
]

#: Every reason a decision can give, in the contract's order.
REASONS = (
    "ok",
    "public",
    "preflight",
    "missing_credentials",
    "invalid_credentials",
    "expired",
    "not_yet_valid",
    "revoked",
    "unknown_key",
    "insufficient_scope",
    "origin_not_allowed",
    "not_local",
    "route_denied",
    "no_route",
    "malformed_request",
)


def generate_key(prefix: str = "admit_", nbytes: int = 32) -> str:
    """A new random API key: ``prefix`` and ``nbytes`` random bytes, base64url.

    The same shape as ``admit keygen``. Store only ``hash_key(key)`` in the policy.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be str, not {type(prefix).__name__}")
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"nbytes must be an int, not {type(nbytes).__name__}")
    if not 16 <= nbytes <= 128:
        raise ValueError("nbytes must be between 16 and 128")
    return prefix + _secrets.token_urlsafe(nbytes)
