"""Checks of an app against its policy, made by :meth:`Admit.install` and at startup:
the policy's load warnings, CORS answered twice (``[cors]`` and Starlette's
``CORSMiddleware``), and ``CORSMiddleware`` inside admit whose preflights the policy
would refuse."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from .._admit import Engine

if TYPE_CHECKING:
    from ._coverage import CoverageReport
    from ._guard import Admit

log = logging.getLogger("admit")

_CORS_PROBE_ORIGIN = "https://cors-probe.invalid"


def _cors_middleware_class() -> Optional[type]:
    try:
        from starlette.middleware.cors import CORSMiddleware
    except ImportError:  # pragma: no cover - Starlette absent
        return None
    return CORSMiddleware


def log_warnings(engine: Engine) -> None:
    for w in engine.warnings:
        where = w["place"]
        if w["line"] is not None:
            where = f"line {w['line']}, column {w['column']}: {where}"
        log.warning("admit: policy warning: %s: %s", where, w["message"])


def _cors_entries(app: Any) -> Tuple[List[int], Optional[int], List[Any]]:
    """Positions (outermost first) of CORSMiddleware entries and of admit's in
    ``app.user_middleware``."""
    cls = _cors_middleware_class()
    entries = list(getattr(app, "user_middleware", None) or ())
    cors: List[int] = []
    admit: Optional[int] = None
    from ._middleware import AdmitMiddleware

    for i, m in enumerate(entries):
        c = getattr(m, "cls", None)
        if cls is not None and isinstance(c, type) and issubclass(c, cls):
            cors.append(i)
        elif admit is None and isinstance(c, type) and issubclass(c, AdmitMiddleware):
            admit = i
    return cors, admit, entries


def cors_twice(app: Any, engine: Engine) -> Optional[str]:
    if not engine.has_cors():
        return None
    cors, _, _ = _cors_entries(app)
    if not cors:
        return None
    return (
        "admit: the policy has a [cors] table and the app has Starlette's CORSMiddleware: "
        "every cross-origin answer would carry Access-Control-Allow-Origin twice, which "
        "browsers reject. Remove CORSMiddleware (app.add_middleware(CORSMiddleware, ...)): "
        "the policy's [cors] answers preflights and adds the CORS headers, denials included."
    )


def _unrouted(app: Any, method: str, path: str) -> bool:
    """True when no route of ``app`` takes the request: the middleware then lets the
    app answer a ``no_route`` refusal itself (and a CORSMiddleware inside answers a
    preflight)."""
    from ._coverage import app_route_match

    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    return app_route_match(app, scope) != "full"


def cors_inside(app: Any, guard: "Admit", engine: Engine, report: Optional["CoverageReport"]) -> Optional[str]:
    """CORSMiddleware added before install() sits inside admit: admit decides each
    preflight first, and without [cors] the policy has nothing to answer it with."""
    if engine.has_cors():
        return None
    cors, admit, _ = _cors_entries(app)
    if admit is None or not any(i > admit for i in cors):
        return None
    probes = sorted({r.probe for r in report.routes if r.kind != "websocket"}) if report is not None else ["/"]
    refused = None
    for path in probes or ["/"]:
        d = engine.decide(
            "OPTIONS",
            path,
            [("origin", _CORS_PROBE_ORIGIN), ("access-control-request-method", "GET"), ("host", "localhost")],
            "127.0.0.1",
            decoded=True,
        )
        if not d.allow and not (d.reason == "no_route" and _unrouted(app, "OPTIONS", path)):
            refused = (path, d.status, d.reason)
            break
    if refused is None:
        return None
    path, status, reason = refused
    return (
        "admit: Starlette's CORSMiddleware was added before guard.install(app), so it sits "
        "inside admit: admit decides each CORS preflight first, and this policy has no [cors] "
        f"to answer it (OPTIONS {path} answers {status} {reason}); denials would carry no CORS "
        "headers either. Move the CORS settings into the policy's [cors] table and remove "
        "CORSMiddleware (the recommended setup), or add CORSMiddleware after guard.install(app) "
        "(the middleware added last is the outermost)."
    )
