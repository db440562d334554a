"""The ASGI middleware that enforces a policy on every request."""

from __future__ import annotations

import json
from typing import Any, List, Optional, Tuple, Union

from .._admit import Decision, Engine, PendingCheck
from ._guard import Admit
from ._coverage import app_route_match
from ._log import INFO, WARNING, log, log_decision
from ._routing import route_path, routed_app, wrapped_fastapi
from ._types import ASGIApp, Message, Receive, Scope, Send

# A refused WebSocket handshake on a server without the ASGI "websocket.http.response"
# extension is closed before it is accepted, with these codes (the IANA registry's 3000
# Unauthorized and 3003 Forbidden; 1008 Policy Violation for any other refusal).
WS_CLOSE_UNAUTHORIZED = 3000
WS_CLOSE_FORBIDDEN = 3003
WS_CLOSE_POLICY = 1008


# The guard's own decide_scope, as this module found it: the engine's ASGI entry point
# makes its decision; a guard whose decide_scope is another (a subclass, a patch) keeps it.
_DECIDE_SCOPE = Admit.decide_scope


def _enc(text: str) -> bytes:
    return text.encode("latin-1", "replace")


def _close_code(status: int) -> int:
    if status == 401:
        return WS_CLOSE_UNAUTHORIZED
    if status == 403:
        return WS_CLOSE_FORBIDDEN
    return WS_CLOSE_POLICY


def _close_reason(message: str) -> str:
    # A close frame's reason is at most 123 bytes of UTF-8.
    raw = message.encode("utf-8", "replace")
    if len(raw) <= 123:
        return message
    return raw[:123].decode("utf-8", "ignore")


class AdmitMiddleware:
    """ASGI middleware enforcing a policy. ``AdmitMiddleware(app, engine=...)`` or
    ``AdmitMiddleware(app, guard=Admit(...))`` (with Starlette's ``add_middleware``
    the same keywords)."""

    def __init__(self, app: ASGIApp, guard: Optional[Admit] = None, engine: Optional[Engine] = None) -> None:
        if guard is None:
            if engine is None:
                raise TypeError("AdmitMiddleware needs an engine or a guard (admit.fastapi.Admit)")
            guard = Admit(engine)
        elif engine is not None:
            raise TypeError("give AdmitMiddleware an engine or a guard, not both")
        self.app = app
        self.guard = guard
        self._fastapi = wrapped_fastapi(app)
        self._router = routed_app(app)
        self._native = (
            getattr(type(guard), "decide_scope", None) is _DECIDE_SCOPE
            and "decide_scope" not in getattr(guard, "__dict__", {})
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        # FastAPI(root_path=...) copies its root_path into the scope when it is called;
        # a middleware wrapped around the app from outside runs before that.
        view = scope
        fastapi = self._fastapi
        if fastapi is not None and fastapi.root_path:
            view = dict(scope)
            view["root_path"] = fastapi.root_path
        # route_path(view): with an empty root_path, Starlette routes on scope["path"]
        # (the engine refuses a path that is not a str, as decide_scope does).
        path = route_path(view) if view.get("root_path") else view.get("path")
        if guard.open_paths and isinstance(path, str) and path in guard.open_paths:
            await self.app(scope, receive, send)
            return
        decision: Union[Decision, PendingCheck]
        if guard.jwks:  # fetchers to refresh: the guard awaits them
            decision = await guard._decide(view)
        elif self._native:  # nothing to await: decide in this frame
            decision = guard._engine._decide_asgi(view, path)  # guard.engine, less a call
        else:
            decision = guard.decide_scope(view)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["decision"] = decision
        state["principal"] = decision.principal
        if decision._plain:  # allowed, nothing to add or report
            await self.app(scope, receive, send)
            return
        if isinstance(decision, PendingCheck):
            # A delegated authenticator's credential (only a policy with one answers
            # this, and never plain): the app's check says whose it is.
            decision = await guard._resolve(decision)
            state["decision"] = decision
            state["principal"] = decision.principal
            if decision._plain:
                await self.app(scope, receive, send)
                return
        if not decision.allow:
            if decision.reason == "no_route" and self._unrouted(view):
                # No rule and no route: the app answers as for any unknown path (404,
                # 405, a trailing-slash redirect); no handler runs.
                await self.app(scope, receive, send)
                return
            if decision.reason != "preflight" and log.isEnabledFor(INFO):
                log_decision(INFO, view, path, decision)
            if kind == "websocket":
                await self._refuse_websocket(scope, decision, receive, send)
            else:
                await self._deny(decision, send)
            return
        if decision.dry_run and log.isEnabledFor(WARNING):
            log_decision(WARNING, view, path, decision)
        extra = decision.headers
        if not extra or kind != "http":
            await self.app(scope, receive, send)
            return
        added = [(_enc(n), _enc(v)) for n, v in extra]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers") or ()) + added
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _unrouted(self, view: Scope) -> bool:
        """True when the app has no route taking this request (``app_route_match`` is
        ``"none"`` or ``"partial"``), so the app's router refuses it itself."""
        router = self._router
        return router is not None and app_route_match(router, view) != "full"

    def _response(self, decision: Decision) -> Tuple[List[Tuple[bytes, bytes]], bytes]:
        """The refusal's headers and body: the policy's body, or FastAPI's
        ``{"detail": message}``."""
        headers = [(_enc(n), _enc(v)) for n, v in decision.headers]
        body_text = decision.body
        if body_text is None and self.guard.fastapi_bodies and decision.status not in (204, 304):
            body_text = json.dumps({"detail": decision.message})
            headers.append((b"content-type", b"application/json"))
        body = body_text.encode("utf-8") if body_text else b""
        headers.append((b"content-length", str(len(body)).encode()))
        return headers, body

    async def _deny(self, decision: Decision, send: Send) -> None:
        headers, body = self._response(decision)
        await send({"type": "http.response.start", "status": decision.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _refuse_websocket(self, scope: Scope, decision: Decision, receive: Receive, send: Send) -> None:
        """A refused handshake: the decision's HTTP response where the server offers
        the ``websocket.http.response`` extension; otherwise closed before it is
        accepted, with 3000 (401), 3003 (403) or 1008 and the message as the reason."""
        await receive()  # websocket.connect
        extensions = scope.get("extensions")
        if isinstance(extensions, dict) and "websocket.http.response" in extensions:
            headers, body = self._response(decision)
            await send({"type": "websocket.http.response.start", "status": decision.status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
            return
        await send(
            {
                "type": "websocket.close",
                "code": _close_code(decision.status),
                "reason": _close_reason(decision.message),
            }
        )
