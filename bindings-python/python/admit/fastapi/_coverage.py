"""Route coverage: which of the app's routes the policy's rules cover, and how.

A route no rule covers answers 403 ``no_route`` to everyone, and Swagger shows no lock
on it: silently. :func:`coverage` walks the app's routes (included routers, mounts,
WebSocket routes), probes each with a concrete path made from its template
(``{id}`` -> ``1``, ``{id:uuid}`` -> a UUID, ``{p:path}`` -> ``1``; a mount with no
routes of its own, such as ``StaticFiles``: its prefix and ``/1``), and asks the engine
which rule decides (:meth:`admit.Engine.match_route`). The other way round, it makes a
sample path from each rule's patterns and asks the app's router whether a route takes
it, to find rules that match no route of the app (a typo in the policy).

:func:`app_route_match` answers, for one ASGI scope, whether the app's router has a
route for it (``"full"``), has the path but not the method (``"partial"``, a 405), or
has nothing (``"none"``, a 404).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Collection, Dict, Iterable, List, Optional, Tuple

from .._admit import Engine
from ._types import Scope

if TYPE_CHECKING:
    from .._admit import RuleInfo

__all__ = ["CoverageReport", "RouteCoverage", "app_route_match", "coverage"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
_UUID = "00000000-0000-4000-8000-000000000000"
_MAX_DEPTH = 32


def _routes_of(app: Any) -> Optional[List[Any]]:
    router = getattr(app, "router", None)
    routes = getattr(router, "routes", None)
    if routes is None:
        routes = getattr(app, "routes", None)
    return list(routes) if routes is not None else None


def app_route_match(app: Any, scope: Scope) -> str:
    """Whether the app's router has a route for an ``http`` or ``websocket`` scope:
    ``"full"`` (a route takes it), ``"partial"`` (a route has the path but not the
    method: Starlette answers 405), or ``"none"`` (Starlette answers 404, or redirects
    to the path with or without a trailing slash). Asks each route's own
    ``matches(scope)``, in the router's order, so it agrees with the router of the
    installed Starlette/FastAPI. The scope is read, never changed. An app whose routes
    cannot be read, or a route that fails to answer, counts as ``"full"``: a caller
    that lets the app answer unrouted requests then keeps refusing them."""
    from starlette.routing import Match

    routes = _routes_of(app)
    if routes is None:
        return "full"
    partial = False
    for route in routes:
        try:
            match, _ = route.matches(dict(scope))  # FastAPI's routes write into the scope
        except Exception:
            return "full"
        if match == Match.FULL:
            return "full"
        if match == Match.PARTIAL:
            partial = True
    # FastAPI's low-priority (frontend) routes are tried after the others.
    low = getattr(getattr(app, "router", None), "_match_low_priority", None)
    if callable(low):
        try:
            match = low(dict(scope))[0]
        except Exception:
            return "full"
        if match == Match.FULL:
            return "full"
        if match == Match.PARTIAL:
            partial = True
    return "partial" if partial else "none"


@dataclass(frozen=True)
class _AppRoute:
    path: str
    methods: Tuple[str, ...]
    kind: str
    probe: str


def _sample(convertor: Any) -> str:
    name = type(convertor).__name__
    if name == "UUIDConvertor":
        return _UUID
    return "1"  # str, int, float and path convertors all take it


def _probe(template: str, convertors: Dict[str, Any]) -> str:
    return _PARAM.sub(lambda m: _sample(convertors.get(m.group(1))), template)


def _methods(route: Any) -> Tuple[str, ...]:
    methods = getattr(route, "methods", None) or ()
    ms = sorted(str(m) for m in methods)
    if "GET" in ms and "HEAD" in ms:
        ms.remove("HEAD")  # GET brings HEAD, in Starlette and in a policy
    return tuple(ms)


def _walk(routes: Iterable[Any], prefix: str, out: List[_AppRoute], depth: int) -> None:
    from starlette.routing import Host, Mount, WebSocketRoute

    if depth > _MAX_DEPTH:
        return
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):  # FastAPI's included routers (recent FastAPI)
            _walk(candidates(), prefix, out, depth + 1)
            continue
        inner = getattr(route, "starlette_route", None)
        if inner is not None:  # a FastAPI route context: the Starlette route it runs
            route = inner
        if isinstance(route, Mount):
            template = prefix + route.path
            convertors = dict(getattr(route, "param_convertors", {}) or {})
            sub = list(getattr(route, "routes", None) or ())
            if sub:
                _walk(sub, template, out, depth + 1)
            else:
                out.append(_AppRoute(template + "/**", ("GET",), "mount", _probe(template, convertors) + "/1"))
            continue
        if isinstance(route, Host):
            _walk(getattr(route, "routes", None) or (), prefix, out, depth + 1)
            continue
        found = getattr(route, "path_format", None) or getattr(route, "path", None)
        if not isinstance(found, str) or not found:
            continue
        convertors = dict(getattr(route, "param_convertors", {}) or {})
        full = prefix + found
        if isinstance(route, WebSocketRoute):
            out.append(_AppRoute(full, ("GET",), "websocket", _probe(full, convertors)))
            continue
        methods = _methods(route) or ("GET",)
        out.append(_AppRoute(full, methods, "http", _probe(full, convertors)))


def _app_routes(app: Any) -> List[_AppRoute]:
    routes = _routes_of(app)
    out: List[_AppRoute] = []
    if routes is not None:
        _walk(routes, "", out, 0)
    # Mount probes carry their own convertor samples; route templates under a mount
    # with parameters are probed with "1" for the mount's part.
    return [r if "{" not in r.probe else _AppRoute(r.path, r.methods, r.kind, _probe(r.probe, {})) for r in out]


@dataclass(frozen=True)
class RouteCoverage:
    """One method of one app route, and the rule that decides it."""

    #: The route's path template as the router has it (``/items/{id}``); a mount with
    #: no routes of its own is ``/static/**``.
    path: str
    #: The method probed (``GET`` stands for ``HEAD`` too; a WebSocket handshake is
    #: decided as ``GET``).
    method: str
    #: ``"http"``, ``"websocket"`` or ``"mount"``.
    kind: str
    #: The concrete path probed.
    probe: str
    #: The rule that decides it, or None.
    rule: Optional[str]
    #: The rule's pattern that matched, or None.
    pattern: Optional[str]
    #: True when that pattern ends in ``**``: the route is covered only by a catch-all.
    catch_all: bool
    #: Why admit refuses the probe path itself (400 ``malformed_request``), or None.
    refused: Optional[str]
    #: True when the path is in the guard's ``open_paths`` (served without a decision).
    open: bool

    @property
    def covered(self) -> bool:
        """True when a rule decides it, or it is in ``open_paths``."""
        return self.open or (self.rule is not None and self.refused is None)


@dataclass(frozen=True)
class CoverageReport:
    """What :func:`coverage` found. ``str(report)`` is a readable table."""

    routes: Tuple[RouteCoverage, ...]
    #: The policy's rules that match no route of the app, in policy order.
    unused_rules: Tuple[RuleInfo, ...]

    @property
    def uncovered(self) -> Tuple[RouteCoverage, ...]:
        """Routes no rule covers (each answers 403 ``no_route``), or whose path admit
        refuses (400)."""
        return tuple(r for r in self.routes if not r.covered)

    @property
    def catch_all_only(self) -> Tuple[RouteCoverage, ...]:
        """Routes covered only by a catch-all pattern (``/**``, ``/api/**``)."""
        return tuple(r for r in self.routes if r.covered and not r.open and r.catch_all)

    @property
    def ok(self) -> bool:
        """True when every route is covered."""
        return not self.uncovered

    def __str__(self) -> str:
        lines = [
            f"admit coverage: {len(self.routes)} route method(s); {len(self.uncovered)} not covered, "
            f"{len(self.catch_all_only)} covered only by a catch-all, {len(self.unused_rules)} rule(s) "
            "matching no route"
        ]
        width = max((len(r.path) for r in self.routes), default=0)
        order = {"not covered": 0, "catch-all": 1, "ok": 2, "open": 3}
        rows = []
        for r in self.routes:
            if r.open:
                label, what = "open", "open_paths: served without a decision"
            elif r.refused is not None:
                label, what = "not covered", f"admit refuses the path {r.probe!r}: {r.refused} (400)"
            elif r.rule is None:
                label, what = "not covered", "no rule matches: every request answers 403 no_route"
            elif r.catch_all:
                label, what = "catch-all", f"rule `{r.rule}` ({r.pattern})"
            else:
                label, what = "ok", f"rule `{r.rule}` ({r.pattern})"
            rows.append((order[label], label, r, what))
        for _, label, r, what in sorted(rows, key=lambda x: x[0]):
            kind = "WS" if r.kind == "websocket" else r.method
            lines.append(f"  {label:<11}  {kind:<7} {r.path:<{width}}  {what}")
        for rule in self.unused_rules:
            lines.append(
                f"  unused       rule `{rule['name']}` ({', '.join(rule['patterns'])}, {rule['access']}) "
                "matches no route of the app"
            )
        return "\n".join(lines)


def _rule_samples(pattern: str) -> List[str]:
    if pattern == "/":
        return ["/"]
    parts: List[str] = []
    tail = False
    for seg in pattern.split("/")[1:]:
        if seg == "**":
            tail = True
            break
        if seg == "*" or (seg.startswith("{") and seg.endswith("}")):
            parts.append("1")
        else:
            parts.append(urllib.parse.unquote(seg))
    base = "/" + "/".join(parts)
    if not tail:
        return [base]
    return [base, base.rstrip("/") + "/1"]


def _rule_matches_app(app: Any, rule: RuleInfo) -> bool:
    methods = rule["methods"]
    for pattern in rule["patterns"]:
        for path in _rule_samples(pattern):
            for kind in ("http", "websocket"):
                for method in methods or ["GET"]:
                    if kind == "websocket" and method != "GET":
                        continue
                    scope: Dict[str, Any] = {
                        "type": kind,
                        "path": path,
                        "root_path": "",
                        "query_string": b"",
                        "headers": [],
                    }
                    if kind == "http":
                        scope["method"] = method
                    found = app_route_match(app, scope)
                    if found == "full" or (found == "partial" and methods is None and kind == "http"):
                        return True
    return False


def coverage(app: Any, engine: Engine, *, open_paths: Collection[str] = ()) -> CoverageReport:
    """Checks the app's routes against the engine's rules: for each route (and each of
    its methods), the rule that decides it, whether only a catch-all pattern covers
    it, and whether admit refuses its path; and the rules that match no route.
    ``open_paths``: the guard's (``guard.open_paths``), reported as open."""
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be an admit.Engine, not {type(engine).__name__}")
    opened = frozenset(open_paths)
    results: List[RouteCoverage] = []
    for route in _app_routes(app):
        for method in route.methods:
            rule = pattern = refused = None
            catch_all = False
            try:
                m = engine.match_route(method, route.probe, decoded=True)
            except ValueError as e:
                refused = str(e)
                m = None
            if m is not None:
                rule, pattern, catch_all = m["name"], m["pattern"], m["catch_all"]
            results.append(
                RouteCoverage(
                    path=route.path,
                    method=method,
                    kind=route.kind,
                    probe=route.probe,
                    rule=rule,
                    pattern=pattern,
                    catch_all=catch_all,
                    refused=refused,
                    open=route.probe in opened,
                )
            )
    # A rule is used when it decides a route's probe, or when a path of its own (made
    # from its patterns) is routed by the app (a mount's subtree, say).
    deciding = {r.rule for r in results if r.rule is not None}
    unused = tuple(r for r in engine.rules() if r["name"] not in deciding and not _rule_matches_app(app, r))
    return CoverageReport(routes=tuple(results), unused_rules=unused)
