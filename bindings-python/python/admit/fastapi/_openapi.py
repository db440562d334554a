"""The policy's security schemes in the app's OpenAPI schema."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, List

from .._admit import Engine

if TYPE_CHECKING:
    from ._guard import Admit

_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_PATH_PARAM = re.compile(r"\{[^}/]*\}")




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


def patch_openapi(app: Any, guard: Admit) -> None:
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

