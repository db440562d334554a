"""WebSocket handshakes through the middleware, over a real uvicorn on 127.0.0.1 with a
real client (the `websockets` library), for each of uvicorn's WebSocket implementations:
a refused handshake gets the decision's HTTP status, headers and body (the ASGI
``websocket.http.response`` extension); an allowed one connects and echoes; a server
without the extension sees the handshake closed before it is accepted, with 3000
(401), 3003 (403) or 1008 (any other refusal)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Iterator, List

import pytest

pytest.importorskip("websockets")

from fastapi import FastAPI, WebSocket  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

import admit  # noqa: E402
from admit.fastapi import Admit, AdmitMiddleware  # noqa: E402
from conftest import LiveServer  # noqa: E402

KEY = "test-only-websocket-key"
POLICY = """
realm = "ws-test"
scopes = ["chat:read", "chat:admin"]

[roles.member]
scopes = ["chat:read"]

[[authenticators]]
type = "api_key"
id = "keys"
header = "X-API-Key"
[[authenticators.keys]]
id = "mia"
sha256 = "%s"
roles = ["member"]

[[routes]]
id = "chat"
path = "/ws"
require = ["chat:read"]

[[routes]]
id = "admin"
path = "/ws/admin"
require = ["chat:admin"]

[[routes]]
id = "rest"
path = "/**"
deny = true
""" % admit.hash_key(KEY)

IMPLEMENTATIONS = ["websockets", "websockets-sansio", "wsproto"]
# uvicorn's `websockets` implementation (websockets.legacy) warns that it is deprecated;
# it is still uvicorn's `--ws websockets`, so it is tested.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")]


class Recorder:
    """The app behind the middleware, with what reached it and what the middleware sent."""

    def __init__(self, *, strip_extension: bool) -> None:
        self.engine = admit.Engine.from_toml(POLICY)
        app = FastAPI()
        self.accepted: List[str] = []

        async def echo(ws: WebSocket) -> None:
            principal = ws.scope["state"]["principal"]
            await ws.accept()
            self.accepted.append(principal.id)
            text = await ws.receive_text()
            await ws.send_text(f"{principal.id}: {text}")
            await ws.close()

        app.add_api_websocket_route("/ws", echo)
        app.add_api_websocket_route("/ws/admin", echo)
        self.guarded = AdmitMiddleware(app, guard=Admit(self.engine))
        self.strip = strip_extension
        self.sent: List[Dict[str, Any]] = []

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and self.strip:
            scope = dict(scope)
            scope["extensions"] = {k: v for k, v in (scope.get("extensions") or {}).items()
                                   if k != "websocket.http.response"}

        async def recording_send(message: Dict[str, Any]) -> None:
            self.sent.append(message)
            await send(message)

        await self.guarded(scope, receive, recording_send)


class Server(LiveServer):
    """uvicorn with one of its WebSocket implementations."""

    def __init__(self, app: Any, ws: str) -> None:
        super().__init__(app, ws=ws)

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


@pytest.fixture(params=IMPLEMENTATIONS)
def served(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "wsproto":
        pytest.importorskip("wsproto")
    started: List[Server] = []

    def make(app: Any) -> Server:
        s = Server(app, request.param).__enter__()
        started.append(s)
        return s

    yield make
    for s in started:
        s.__exit__()


def refused(url: str, headers: Dict[str, str]) -> Any:
    with pytest.raises(InvalidStatus) as info:
        with connect(url, additional_headers=headers, open_timeout=10):
            pass
    return info.value.response


def test_an_allowed_handshake_connects_and_echoes(served: Any) -> None:
    app = Recorder(strip_extension=False)
    server = served(app)
    with connect(server.ws_url("/ws"), additional_headers={"X-API-Key": KEY}, open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "mia: hello"
    assert app.accepted == ["mia"]


def test_a_refused_handshake_gets_the_decisions_http_response(served: Any) -> None:
    app = Recorder(strip_extension=False)
    server = served(app)

    r = refused(server.ws_url("/ws"), {})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="ws-test"'
    assert r.headers["Content-Type"] == "application/json"
    assert json.loads(r.body) == {"detail": "authentication required"}

    r = refused(server.ws_url("/ws"), {"X-API-Key": "wrong-key"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert json.loads(r.body) == {"detail": "unknown key"}

    r = refused(server.ws_url("/ws/admin"), {"X-API-Key": KEY})
    assert r.status_code == 403
    assert 'error="insufficient_scope", scope="chat:admin"' in r.headers["WWW-Authenticate"]
    assert json.loads(r.body) == {"detail": "insufficient scope"}

    assert app.accepted == []  # the app never ran
    starts = [m for m in app.sent if m["type"] == "websocket.http.response.start"]
    assert [m["status"] for m in starts] == [401, 401, 403]
    assert not any(m["type"] in ("websocket.accept", "websocket.close") for m in app.sent)


def test_without_the_extension_a_refused_handshake_is_closed_with_a_code(served: Any) -> None:
    app = Recorder(strip_extension=True)
    server = served(app)
    # uvicorn answers a close before accept with an empty 403, whatever the code (the
    # ASGI spec); the code is what the middleware sent.
    assert refused(server.ws_url("/ws"), {}).status_code == 403
    assert refused(server.ws_url("/ws/admin"), {"X-API-Key": KEY}).status_code == 403
    assert refused(server.ws_url("/nowhere"), {"X-API-Key": KEY}).status_code == 403
    assert refused(server.ws_url("/ws/../ws"), {"X-API-Key": KEY}).status_code == 403  # malformed: 400
    closes = [(m["code"], m["reason"]) for m in app.sent if m["type"] == "websocket.close"]
    assert closes == [(3000, "authentication required"), (3003, "insufficient scope"), (3003, "route denied"),
                      (1008, "request path has a `.` or `..` segment")]
    assert app.accepted == []
    # Allowed handshakes are not affected.
    with connect(server.ws_url("/ws"), additional_headers={"X-API-Key": KEY}, open_timeout=10) as ws:
        ws.send("x")
        assert ws.recv(timeout=10) == "mia: x"


def test_the_close_reason_fits_a_close_frame() -> None:
    from admit.fastapi._middleware import _close_reason

    assert _close_reason("short") == "short"
    long = "\u00e9" * 100  # 200 bytes of UTF-8
    cut = _close_reason(long)
    assert len(cut.encode()) <= 123 and long.startswith(cut) and len(cut) == 61


def test_close_codes_at_the_asgi_level() -> None:
    """Without a server: the ASGI messages, for a scope with and without the extension."""
    engine = admit.Engine.from_toml(POLICY)
    reached: List[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    mw = AdmitMiddleware(app, engine=engine)

    def handshake(path: str, headers: List[Any], extensions: Dict[str, Any]) -> List[Dict[str, Any]]:
        sent: List[Dict[str, Any]] = []
        received: List[int] = []

        async def receive() -> Dict[str, Any]:
            received.append(1)
            return {"type": "websocket.connect"}

        async def send(m: Dict[str, Any]) -> None:
            sent.append(m)

        scope = {"type": "websocket", "path": path, "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 1), "extensions": extensions}
        asyncio.run(mw(scope, receive, send))
        assert received == [1]  # the connect event is read before answering
        return sent

    key = [(b"x-api-key", KEY.encode())]
    assert handshake("/ws", [], {}) == [{"type": "websocket.close", "code": 3000, "reason": "authentication required"}]
    assert handshake("/ws/admin", key, {})[0]["code"] == 3003
    assert handshake("/other", key, {})[0]["code"] == 3003  # route denied: 403
    assert handshake("/ws/../ws", key, {})[0]["code"] == 1008  # malformed: 400
    sent = handshake("/ws", [], {"websocket.http.response": {}})
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 401
    assert (b"www-authenticate", b'Bearer realm="ws-test"') in [(n.lower(), v) for n, v in sent[0]["headers"]]
    assert sent[1] == {"type": "websocket.http.response.body", "body": b'{"detail": "authentication required"}'}
    assert reached == []
