"""The ASGI middleware that enforces a policy on every request."""

from __future__ import annotations

import json
from typing import Optional

from .._admit import Decision, Engine
from ._guard import Admit
from ._routing import route_path, wrapped_fastapi
from ._types import ASGIApp, Message, Receive, Scope, Send


def _enc(text: str) -> bytes:
    return text.encode("latin-1", "replace")



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
        if guard.open_paths and route_path(view) in guard.open_paths:
            await self.app(scope, receive, send)
            return
        # Without JWKS fetchers there is nothing to await: decide in this frame.
        decision = await guard._decide(view) if guard.jwks else guard.decide_scope(view)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["decision"] = decision
        state["principal"] = decision.principal
        if not decision.allow:
            if kind == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008, "reason": decision.message[:120]})
                return
            await self._deny(decision, send)
            return
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

    async def _deny(self, decision: Decision, send: Send) -> None:
        headers = [(_enc(n), _enc(v)) for n, v in decision.headers]
        body_text = decision.body
        if body_text is None and self.guard.fastapi_bodies and decision.status not in (204, 304):
            body_text = json.dumps({"detail": decision.message})
            headers.append((b"content-type", b"application/json"))
        body = body_text.encode("utf-8") if body_text else b""
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": decision.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

