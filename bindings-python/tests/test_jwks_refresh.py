"""JWKS refresh off the request path (issue 13): a real uvicorn on 127.0.0.1 with its
lifespan on, and a real local JWKS server (a threaded http.server) that serves the
fixture key sets, can rotate them, fail, serve garbage, or hold a request (slow mode)
until the test releases it. Orderings are observed through events, not timings: a
request "is not held" when it is answered while the JWKS server still holds the fetch.
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import logging
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import anyio
import httpx
import jwt as pyjwt
import pytest
from fastapi import FastAPI, Request

import admit
from admit.fastapi import Admit
import admit.jwks
from admit.jwks import JwksFetcher
from conftest import FIXTURES, POLICIES, WAIT, LiveServer, add_artifact_routes, eventually

ISSUER = "https://test-instance.clerk.accounts.dev"
AUDIENCE = "skillmeat-api"
ENV = {"SKILLMEAT_AUTH_ENABLED": "true", "CLERK_ISSUER": ISSUER, "CLERK_AUDIENCE": AUDIENCE}
RSA = (FIXTURES / "keys" / "rsa-private.pem").read_text()
ATTACKER = (FIXTURES / "keys" / "attacker-rsa-private.pem").read_text()
JWKS = (FIXTURES / "jwks.json").read_bytes()
ROTATED = (FIXTURES / "jwks-rotated.json").read_bytes()
# An HMAC key where the RS256 authenticator needs RSA: a set the engine refuses. Its
# `k` must never appear in a log line or a status.
SECRET_K = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
REFUSED_SET = json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": SECRET_K}]}).encode()


def token(*, kid: str = "rsa-1", key: str = RSA) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user_2abc", "iat": now - 5, "exp": now + 600}
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def bearer(t: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


class JwksServer:
    """Serves ``body`` with ``cache_control`` and ``status``; in slow mode (``gate``
    cleared) each request sets ``entered`` and waits for the gate."""

    def __init__(self) -> None:
        self.body = JWKS
        self.status = 200
        self.cache_control = "public, max-age=600"
        self.hits = 0
        self.holding = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with outer._lock:
                    outer.hits += 1
                    outer.holding += 1
                outer.entered.set()
                try:
                    outer.gate.wait(60)
                    body = outer.body
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Cache-Control", outer.cache_control)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with outer._lock:
                        outer.holding -= 1

            def log_message(self, *a: object) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/.well-known/jwks.json?tenant=secret-q"
        self._thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        self.gate.set()
        if not self._closed:
            self._closed = True
            self.srv.shutdown()
            self.srv.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    s = JwksServer()
    yield s
    s.close()


class Live(LiveServer):
    """uvicorn on 127.0.0.1 in a thread, lifespan on: entered once startup is done."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, lifespan="on")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=WAIT, **kw)


def make_app(fetcher: JwksFetcher) -> "tuple[FastAPI, Admit]":
    engine = admit.Engine.from_file(POLICIES / "skillmeat.toml", env=ENV)
    guard = Admit(engine, jwks=[fetcher], open_paths={"/ready"})
    app = FastAPI()
    guard.install(app)
    add_artifact_routes(app, guard)
    return app, guard


# -- startup ----------------------------------------------------------------------------


def test_the_key_set_is_fetched_at_startup_before_the_first_request(jwks_server: JwksServer) -> None:
    fetcher = JwksFetcher(jwks_server.url, "clerk", min_interval=3600, min_refresh=3600)
    app, guard = make_app(fetcher)
    assert jwks_server.hits == 0 and not guard.ready
    with Live(app) as live:
        # Startup is over: the set is in, before any request was decided.
        assert jwks_server.hits == 1 and guard.ready and guard.running
        r = live.get("/api/v1/artifacts", headers=bearer(token()))
        assert r.status_code == 200 and r.json() == {"caller": "user_2abc"}
        assert jwks_server.hits == 1  # the first request fetched nothing
        status = live.get("/ready").json()
        assert status["ready"] is True and status["running"] is True
        (clerk,) = status["jwks"]
        assert clerk["authenticator"] == "clerk" and clerk["keys"] == 4 and clerk["last_error"] is None
        assert clerk["last_success"] is not None and clerk["next_refresh"] > time.time()
        assert "secret-q" not in json.dumps(status)  # the URL's query is not reported
    assert not guard.running


def test_ready_flips_when_the_first_set_arrives(jwks_server: JwksServer) -> None:
    jwks_server.status = 500
    fetcher = JwksFetcher(jwks_server.url, "clerk", min_interval=3600, retry_min=0.02, retry_max=0.05)
    app, guard = make_app(fetcher)
    with Live(app) as live:
        # Startup does not fail for want of a key set: readiness says so.
        assert not guard.ready
        r = live.get("/ready")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert "HTTP Error 500" in r.json()["jwks"][0]["last_error"]
        assert live.get("/health").status_code == 200
        jwks_server.status = 200
        eventually(lambda: guard.ready, "guard.ready after the JWKS server recovered")
        assert live.get("/ready").status_code == 200
        assert live.get("/api/v1/artifacts", headers=bearer(token())).status_code == 200


# -- never on a request's path -----------------------------------------------------------------


def test_requests_are_not_held_by_a_slow_background_refresh(jwks_server: JwksServer) -> None:
    # max-age=0: the set is stale at once, and refreshed every ~50 ms in the background.
    jwks_server.cache_control = "no-store"
    fetcher = JwksFetcher(jwks_server.url, "clerk", min_interval=3600, min_refresh=0.05, max_refresh=0.05)
    app, guard = make_app(fetcher)
    with Live(app) as live:
        try:
            jwks_server.gate.clear()
            eventually(lambda: jwks_server.holding == 1, "a background refresh held by the JWKS server")
            # While the JWKS server holds that fetch: a public route, and a token whose
            # key is known, are both answered.
            assert live.get("/health").json() == {"status": "healthy"}
            assert live.get("/api/v1/artifacts", headers=bearer(token())).status_code == 200
            assert jwks_server.holding == 1 and not jwks_server.gate.is_set()
            assert guard.status()["jwks"][0]["ready"] is True
        finally:
            jwks_server.gate.set()


def test_background_refresh_picks_up_a_rotation(jwks_server: JwksServer) -> None:
    jwks_server.cache_control = "max-age=1"
    fetcher = JwksFetcher(jwks_server.url, "clerk", min_interval=3600, min_refresh=0.02, max_refresh=0.05)
    app, guard = make_app(fetcher)
    rotated = bearer(token(kid="rsa-2"))
    with Live(app) as live:
        assert live.get("/api/v1/artifacts", headers=rotated).status_code == 401  # not published yet
        jwks_server.body = ROTATED
        eventually(lambda: fetcher.key_count == 1, "the background refresh took the rotated set")
        # No request asked for it: the rotated key works, the retired one does not.
        assert live.get("/api/v1/artifacts", headers=rotated).status_code == 200
        assert live.get("/api/v1/artifacts", headers=bearer(token())).status_code == 401


@pytest.mark.parametrize("failure", ["http-500", "not-json", "refused-set", "server-down"])
def test_a_failing_refresh_keeps_the_old_keys(
    jwks_server: JwksServer, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    fetcher = JwksFetcher(
        jwks_server.url, "clerk", min_interval=3600, min_refresh=0.02, max_refresh=0.05, retry_min=0.02, retry_max=0.05
    )
    app, guard = make_app(fetcher)
    with Live(app) as live:
        assert fetcher.key_count == 4
        first_success = fetcher.last_success
        if failure == "http-500":
            jwks_server.status = 500
        elif failure == "not-json":
            jwks_server.body = b"<html>" + SECRET_K.encode() + b"</html>"
        elif failure == "refused-set":
            jwks_server.body = REFUSED_SET
        else:
            jwks_server.close()
        eventually(lambda: fetcher.failures >= 2, "two failed background refreshes")
        r = live.get("/api/v1/artifacts", headers=bearer(token()))
        assert r.status_code == 200  # the last good set still answers
        status = guard.status()
        assert status["ready"] is True
        (clerk,) = status["jwks"]
        assert clerk["keys"] == 4 and clerk["last_error"] and clerk["last_success"] == first_success
        assert fetcher.text == JWKS.decode()  # the garbage was not kept
    warnings = [r for r in caplog.records if r.name == "admit.jwks" and r.levelno == logging.WARNING]
    assert warnings and "keeping the old key set of clerk" in warnings[0].getMessage()
    assert any(r.name == "admit.jwks" and r.levelno == logging.INFO and "fetched" in r.getMessage() for r in caplog.records)
    # Never key material (nor the garbage, nor the URL's query) in a log line or status.
    assert SECRET_K not in caplog.text and SECRET_K not in json.dumps(status)
    assert "secret-q" not in caplog.text


# -- unknown_key: one fetch per min_interval, shared ----------------------------------------


def test_a_forged_kid_flood_fetches_at_most_once_per_min_interval(jwks_server: JwksServer) -> None:
    clock = [1000.0]
    # timeout: the requests wait on the held fetch as long as the test holds it (a
    # fetcher's timeout bounds how long a request waits for its fetch).
    fetcher = JwksFetcher(
        jwks_server.url, "clerk", min_interval=30, min_refresh=3600, timeout=3 * WAIT, clock=lambda: clock[0]
    )
    app, guard = make_app(fetcher)
    forged = bearer(token(kid="forged", key=ATTACKER))
    entered = [0]
    original = guard._on_unknown_key

    async def counting() -> bool:
        entered[0] += 1
        return await original()

    guard._on_unknown_key = counting  # type: ignore[method-assign]

    def flood(n: int) -> List[int]:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: live.get("/api/v1/artifacts", headers=forged).status_code, range(n)))

    with Live(app) as live:
        assert jwks_server.hits == 1  # startup
        # Within min_interval of the startup fetch: no fetch at all.
        assert flood(20) == [401] * 20
        assert jwks_server.hits == 1
        # Past it: one fetch, which the JWKS server holds; every forged request joins it.
        clock[0] += 31
        jwks_server.gate.clear()
        jwks_server.entered.clear()
        with concurrent.futures.ThreadPoolExecutor(70) as pool:
            try:
                waiting = [
                    pool.submit(lambda: live.get("/api/v1/artifacts", headers=forged).status_code) for _ in range(60)
                ]
                eventually(lambda: jwks_server.holding == 1, "the unknown_key fetch held by the JWKS server")
                eventually(lambda: entered[0] >= 20 + 60, "60 forged requests waiting for the fetch")
                assert jwks_server.hits == 2 and jwks_server.holding == 1
                # They wait without holding worker threads: a plain-def route (run in a
                # worker thread) and a known key are still answered while the fetch is held.
                assert live.get("/health").status_code == 200
                assert live.get("/api/v1/artifacts", headers=bearer(token())).status_code == 200
                assert not any(f.done() for f in waiting)
            finally:
                jwks_server.gate.set()
            assert [f.result(timeout=WAIT) for f in waiting] == [401] * 60
        assert jwks_server.hits == 2
        assert flood(20) == [401] * 20
        assert jwks_server.hits == 2


def test_a_request_waits_for_its_unknown_key_fetch_at_most_the_fetchers_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fetch stuck past its timeout (a socket that never answers) holds no request:
    the request is decided without the set, and the set still lands when the fetch
    ends."""
    started, release = threading.Event(), threading.Event()

    def stuck(url: str, timeout: float) -> "tuple[str, Optional[str]]":
        started.set()
        release.wait(WAIT)
        return ROTATED.decode(), None

    f = JwksFetcher("https://issuer.test/jwks", "clerk", fetch=stuck, timeout=0.2)
    guard = Admit(engine(), jwks=[f])
    scope = {"type": "http", "method": "GET", "path": "/api/v1/artifacts",
             "headers": [(b"authorization", f"Bearer {token(kid='rsa-2')}".encode())]}

    async def main() -> Any:
        return await guard._decide(scope)

    try:
        d = anyio.run(main)
        assert started.is_set() and not release.is_set()  # answered while the fetch is stuck
        assert d.reason == "unknown_key" and not d.allow
    finally:
        release.set()
    eventually(lambda: f.ready, "the released fetch installed its set")
    assert guard.decide_scope(scope).allow
    assert any("outlasted 0.2 s; not waiting for it any more" in r.getMessage() for r in caplog.records)


# -- without install: guard.lifespan(), start()/stop() -------------------------------------------


class FakeFetch:
    def __init__(self) -> None:
        self.bodies: List[Any] = [JWKS.decode()]
        self.calls = 0

    def __call__(self, url: str, timeout: float) -> "tuple[str, Optional[str]]":
        self.calls += 1
        body = self.bodies[min(self.calls - 1, len(self.bodies) - 1)]
        if isinstance(body, Exception):
            raise body
        return body, "max-age=0"


def engine() -> admit.Engine:
    return admit.Engine.from_file(POLICIES / "skillmeat.toml", env=ENV)


def test_lifespan_context_fetches_and_refreshes_in_the_background() -> None:
    fetch = FakeFetch()
    f = JwksFetcher("https://issuer.test/jwks", "clerk", fetch=fetch, min_refresh=0.01, max_refresh=0.02)
    guard = Admit(engine(), jwks=[f])

    async def main() -> None:
        assert not guard.ready
        async with guard.lifespan():
            assert guard.ready and guard.running and fetch.calls == 1
            with anyio.fail_after(WAIT):
                while fetch.calls < 3:
                    await anyio.sleep(0.005)
            async with guard.lifespan():  # nested: no second refresher
                pass
            assert guard.running
        assert not guard.running
        calls = fetch.calls
        await anyio.sleep(0.05)
        assert fetch.calls == calls  # stopped

    anyio.run(main)
    d = guard.decide_scope({"type": "http", "method": "GET", "path": "/api/v1/artifacts", "headers": [
        (b"authorization", f"Bearer {token()}".encode())]})
    assert d.allow


def test_start_and_stop_for_plain_asgi_apps() -> None:
    fetch = FakeFetch()
    f = JwksFetcher("https://issuer.test/jwks", "clerk", fetch=fetch, min_refresh=3600)
    guard = Admit(engine(), jwks=[f])

    async def main() -> None:
        await guard.start()
        await guard.start()  # once
        assert guard.running and guard.ready and fetch.calls == 1
        await guard.stop()
        await guard.stop()
        assert not guard.running and f.next_refresh is None

    anyio.run(main)


def test_unknown_key_without_a_running_lifespan_still_fetches_once_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fetch = FakeFetch()
    fetch.bodies = [ROTATED.decode()]
    f = JwksFetcher("https://issuer.test/jwks", "clerk", fetch=fetch, min_interval=3600)
    guard = Admit(engine(), jwks=[f])
    scope = {"type": "http", "method": "GET", "path": "/api/v1/artifacts",
             "headers": [(b"authorization", f"Bearer {token(kid='rsa-2')}".encode())]}

    async def main() -> None:
        d = await guard._decide(scope)
        assert d.allow and fetch.calls == 1
        scope["headers"] = [(b"authorization", f"Bearer {token(kid='nope', key=ATTACKER)}".encode())]
        d = await guard._decide(scope)
        assert d.reason == "unknown_key" and fetch.calls == 1

    anyio.run(main)
    assert sum("not refreshed in the background" in r.getMessage() for r in caplog.records) == 1


def test_policy_warnings_are_logged_once_per_engine(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="admit")
    e = engine()  # CLERK_JWKS_URL unset: a load warning
    assert e.warnings
    guard = Admit(e)
    msgs = [r.getMessage() for r in caplog.records if r.name == "admit"]
    assert len(msgs) == len(e.warnings) and "CLERK_JWKS_URL" in msgs[0] and "policy warning" in msgs[0]
    guard.engine = e  # the same engine: nothing new
    assert len([r for r in caplog.records if r.name == "admit"]) == len(msgs)
    guard.engine = engine()  # a reload
    assert len([r for r in caplog.records if r.name == "admit"]) == 2 * len(msgs)


# -- the fetcher's schedule and bookkeeping ----------------------------------------------------


def test_refresh_delay_follows_max_age_within_bounds_and_backs_off_on_failure() -> None:
    fetch = FakeFetch()
    ages = ["max-age=600"]

    def fetch_with_age(url: str, timeout: float) -> "tuple[str, Optional[str]]":
        text, _ = fetch(url, timeout)
        return text, ages[0]

    f = JwksFetcher("https://i.test/j", "clerk", fetch=fetch_with_age, min_refresh=60, max_refresh=3600,
                    retry_min=1, retry_max=8)
    e = engine()
    assert 0.5 <= f.refresh_delay() <= 1.0  # nothing yet: retry soon
    assert f.refresh(e, force=True)
    for _ in range(50):
        assert 0.9 * 540 <= f.refresh_delay() <= 540  # 90% of 600 s, less up to 10%
    ages[0] = "no-store"
    assert f.refresh(e, force=True)
    assert all(f.refresh_delay() == 60 for _ in range(20))  # never below min_refresh
    ages[0] = "max-age=86400"
    assert f.refresh(e, force=True)
    assert all(3240 <= f.refresh_delay() <= 3600 for _ in range(20))  # capped by max_refresh
    fetch.bodies = [RuntimeError("boom")]
    delays = []
    for n in range(1, 7):
        assert not f.refresh(e, force=True) and f.failures == n
        backoff = min(8, 2 ** (n - 1))
        d = f.refresh_delay()
        assert backoff / 2 <= d <= backoff
        delays.append(d)
    assert f.text is not None and f.next_refresh is not None


def test_fetcher_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="min_refresh"):
        JwksFetcher("https://i.test/j", "c", min_refresh=10, max_refresh=5)
    with pytest.raises(ValueError, match="more than 0"):
        JwksFetcher("https://i.test/j", "c", min_refresh=0)
    with pytest.raises(TypeError, match="min_interval"):
        JwksFetcher("https://i.test/j", "c", min_interval="30")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        JwksFetcher("https://i.test/j", "c", timeout=float("nan"))


def test_safe_url_drops_credentials_and_query() -> None:
    safe_url = admit.jwks.safe_url  # type: ignore[attr-defined, unused-ignore]
    assert safe_url("https://user:pw@issuer.test:8443/jwks.json?key=s3cret#x") == "https://issuer.test:8443/jwks.json"
    assert safe_url("http://[::1]:80/j") == "http://[::1]:80/j"
    f = JwksFetcher("https://issuer.test/j?token=s3cret", "clerk", fetch=FakeFetch())
    assert "s3cret" not in repr(f) and "s3cret" not in json.dumps(f.status())
    # User info is refused outright (the core's URL check), and the refusal quotes none of it.
    with pytest.raises(ValueError) as info:
        JwksFetcher("https://u:s3cret@issuer.test/j", "clerk", fetch=FakeFetch())
    assert "s3cret" not in str(info.value) and "user name or password" in str(info.value)


def test_concurrent_sync_refreshes_share_one_fetch() -> None:
    gate = threading.Event()
    calls = [0]

    def slow(url: str, timeout: float) -> "tuple[str, Optional[str]]":
        calls[0] += 1
        gate.wait(WAIT)
        return JWKS.decode(), None

    f = JwksFetcher("https://i.test/j", "clerk", fetch=slow, min_interval=3600)
    e = engine()
    begun = [0]
    begin = f._begin

    def counting(*, force: bool) -> Any:
        out = begin(force=force)
        begun[0] += 1
        return out

    f._begin = counting  # type: ignore[method-assign]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = [pool.submit(f.refresh, e) for _ in range(8)]
        eventually(lambda: begun[0] == 8, "8 refreshes started or joined the fetch")
        gate.set()
        # All eight share the one fetch and its result (none is turned away by a lock
        # and min_interval, as a second fetch behind a lock would be).
        assert [r.result(timeout=WAIT) for r in results] == [True] * 8
    assert calls[0] == 1


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
def test_install_hooks_the_apps_own_lifespan(framework: str) -> None:
    from contextlib import asynccontextmanager

    from fastapi.testclient import TestClient
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fetch = FakeFetch()
    f = JwksFetcher("https://issuer.test/jwks", "clerk", fetch=fetch, min_refresh=3600)
    guard = Admit(engine(), jwks=[f])
    events: List[str] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        events.append(f"user start, guard running: {guard.running}")
        yield {"db": "connected"}
        events.append(f"user stop, guard running: {guard.running}")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"db": request.state.db, "calls": fetch.calls})

    if framework == "starlette":
        app: Any = Starlette(routes=[Route("/health", health)], lifespan=lifespan)
    else:
        app = FastAPI(lifespan=lifespan)
        app.add_api_route("/health", health)
    guard.install(app)
    assert fetch.calls == 0
    with TestClient(app) as c:
        assert guard.running and guard.ready
        # The app's lifespan ran first and its state reaches the handlers.
        assert c.get("/health").json() == {"db": "connected", "calls": 1}
    assert not guard.running
    assert events == ["user start, guard running: False", "user stop, guard running: False"]
