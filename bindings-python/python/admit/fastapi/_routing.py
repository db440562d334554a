"""The path Starlette routes on, which is the path the guard decides on."""

from __future__ import annotations

from typing import Any, Optional

from ._types import Scope



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


def wrapped_fastapi(app: Any) -> Any:
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



def routed_app(app: Any) -> Any:
    """The Starlette app or router that ``app`` is or wraps (through ``.app``
    attributes of middleware): what routes the requests the middleware passes on. None
    when there is none (a plain ASGI app)."""
    try:
        from starlette.applications import Starlette
        from starlette.routing import Router
    except ImportError:  # pragma: no cover - Starlette is optional
        return None
    for _ in range(32):
        if isinstance(app, (Starlette, Router)):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
