"""The policy's security schemes in the app's OpenAPI schema.

One scheme per enabled authenticator that takes a credential:

- ``api_key``: ``apiKey`` in its header;
- ``jwt`` with an ``issuer``: ``openIdConnect`` at ``issuer`` +
  ``/.well-known/openid-configuration`` (OpenID Connect Discovery), whose requirement
  on each operation lists the scopes the operation's rule requires, so Swagger shows
  them; and beside it ``<id>-bearer``, ``http`` bearer, to paste a token by hand;
- ``jwt`` without an issuer: ``http`` bearer (``bearerFormat: JWT``);
- ``bearer_token``: ``http`` bearer.

An operation gets a ``security`` requirement when the policy protects it: its rule is
authenticated and a request without credentials is refused ``missing_credentials``
(an ``anonymous`` or ``local`` fallback that lets it through means no lock). The
requirement lists the authenticators the rule allows (its ``authenticators``, or all);
for a rule with ``require_any``, one alternative per scope of it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .._admit import Engine

if TYPE_CHECKING:
    from .._admit import RuleInfo
    from ._guard import Admit

_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_PATH_PARAM = re.compile(r"\{[^}/]*\}")
_SCOPED = ("oauth2", "openIdConnect")


def _discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _schemes_by_authenticator(engine: Engine) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """For each authenticator id, its schemes by scheme name, in policy order."""
    issuers = {j["id"]: j["issuer"] for j in engine.jwt_authenticators()}
    ids = {ident for ident, _ in engine.authenticators()}
    out: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for ident, kind in engine.authenticators():
        if kind == "api_key":
            header = engine.api_key_header(ident) or "X-API-Key"
            out[ident] = {ident: {"type": "apiKey", "in": "header", "name": header}}
        elif kind == "jwt":
            bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            issuer = issuers.get(ident)
            if issuer:
                mine: Dict[str, Dict[str, Any]] = {
                    ident: {"type": "openIdConnect", "openIdConnectUrl": _discovery_url(issuer)}
                }
                twin = f"{ident}-bearer"
                if twin not in ids:
                    mine[twin] = dict(bearer, description=f"a token `{ident}` accepts, pasted as it is")
                out[ident] = mine
            else:
                out[ident] = {ident: bearer}
        elif kind == "bearer_token":
            out[ident] = {ident: {"type": "http", "scheme": "bearer"}}
    return out


def security_schemes(engine: Engine) -> Dict[str, Dict[str, Any]]:
    """OpenAPI security schemes for the engine's authenticators, by scheme name (the
    authenticator id; ``<id>-bearer`` for the pasted-token twin of a ``jwt``
    authenticator with an issuer)."""
    schemes: Dict[str, Dict[str, Any]] = {}
    for mine in _schemes_by_authenticator(engine).values():
        schemes.update(mine)
    return schemes


def _unique(names: List[str]) -> List[str]:
    seen: List[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def security_requirement(engine: Engine, rule: RuleInfo) -> List[Dict[str, List[str]]]:
    """The OpenAPI ``security`` alternatives for an operation that ``rule`` decides:
    one per scheme of each authenticator the rule allows, the ``openIdConnect`` ones
    with the scopes the rule requires (and one alternative per ``require_any`` scope);
    empty when no allowed authenticator has a scheme."""
    allowed = rule["authenticators"]
    alternatives: List[Dict[str, List[str]]] = []
    for ident, mine in _schemes_by_authenticator(engine).items():
        if allowed is not None and ident not in allowed:
            continue
        for name, scheme in mine.items():
            if scheme["type"] not in _SCOPED:
                alternatives.append({name: []})
            elif rule["require_any"]:
                for s in rule["require_any"]:
                    alternatives.append({name: _unique(list(rule["require"]) + [s])})
            else:
                alternatives.append({name: list(rule["require"])})
    return alternatives


def _protected_rule(engine: Engine, rules: List[RuleInfo], method: str, path: str) -> Optional[RuleInfo]:
    d = engine.decide(method, path, [("host", "localhost")], "127.0.0.1", decoded=True)
    if d.reason != "missing_credentials":
        return None
    try:
        m = engine.match_route(method, path, decoded=True)
    except ValueError:
        return None
    if m is None:
        return None
    if not 0 <= m["index"] < len(rules):
        return None
    rule = rules[m["index"]]
    return rule if rule["access"] == "authenticated" else None


def patch_schema(schema: Dict[str, Any], engine: Engine) -> Dict[str, Any]:
    """Adds the engine's security schemes to an OpenAPI schema (in place) and a
    ``security`` requirement to each operation the policy protects (an operation that
    already has one keeps it)."""
    schemes = security_schemes(engine)
    if not schemes:
        return schema
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(schemes)
    rules = engine.rules()
    for template, item in schema.get("paths", {}).items():
        if not isinstance(item, dict):
            continue
        concrete = _PATH_PARAM.sub("1", template)
        for method, op in item.items():
            if method not in _HTTP_METHODS or not isinstance(op, dict):
                continue
            rule = _protected_rule(engine, rules, method.upper(), concrete)
            if rule is None:
                continue
            requirement = security_requirement(engine, rule)
            if requirement:
                op.setdefault("security", requirement)
    return schema


def dict_of(value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"app.openapi() returned {type(value).__name__}, not a dict")
    return value


def patch_openapi(app: Any, guard: Admit) -> None:
    original = app.openapi
    done: Dict[str, Any] = {}

    def openapi() -> Dict[str, Any]:
        schema: Dict[str, Any] = dict_of(original())
        engine = guard.engine
        if id(done.get("schema")) == id(schema) and done.get("engine") is engine:
            return schema  # already patched for this engine
        patch_schema(schema, engine)
        app.openapi_schema = schema
        done["schema"], done["engine"] = schema, engine
        return schema

    app.openapi = openapi
