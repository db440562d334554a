"""Key sets from the policy's ``jwks_url`` over real HTTPS (issue 14).

A JWKS issuer on 127.0.0.1 serves over TLS with a certificate from a CA the test makes
(trustme), and can rotate its keys, answer 500, serve garbage, redirect, or hold a
request (slow mode) until the test releases it. The app runs under a real uvicorn with
its lifespan on, and names no fetcher: the guard makes one from the policy
(``jwks_url = { env = "CLERK_JWKS_URL" }`` in examples/policies/skillmeat.toml).
Orderings are observed through events and counters, never timings.
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import logging
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import jwt as pyjwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

import admit
from admit import fetch_rules
from admit.fastapi import Admit
from admit.jwks import JwksFetcher
from conftest import POLICIES, WAIT, LiveServer, add_artifact_routes, eventually

ISSUER = "https://test-instance.clerk.accounts.dev"
AUDIENCE = "skillmeat-api"
ENV = {"SKILLMEAT_AUTH_ENABLED": "true", "CLERK_ISSUER": ISSUER, "CLERK_AUDIENCE": AUDIENCE}
# A set the engine refuses (an HMAC key where the authenticator takes RS256); its `k`
# must never reach a log line or a status.
SECRET_K = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
REFUSED_SET = json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": SECRET_K}]}).encode()


# -- keys and tokens: made here, two RSA keys, the issuer's before and after rotation ------


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=kid, use="sig", alg="RS256")
        self.jwk = jwk

    def token(self, *, kid: Optional[str] = None) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user_2abc", "iat": now - 5, "exp": now + 600}
        return pyjwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def keys() -> Tuple[SigningKey, SigningKey, SigningKey]:
    """The issuer's key, its next key, and an attacker's."""
    return SigningKey("2024-key"), SigningKey("2025-key"), SigningKey("forged")


def jwks(*signing: SigningKey) -> bytes:
    return json.dumps({"keys": [k.jwk for k in signing]}).encode()


def bearer(t: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


# -- the HTTPS issuer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


class HttpsIssuer:
    """A JWKS endpoint over TLS on 127.0.0.1: serves ``body`` with ``cache_control`` and
    ``status`` (a 302 to ``redirect_to`` when set); in slow mode (``gate`` cleared) each
    request waits for the gate. ``hits`` counts requests that got past TLS."""

    def __init__(self, ca: trustme.CA, body: bytes) -> None:
        self.body = body
        self.status = 200
        self.cache_control = "public, max-age=600"
        self.redirect_to: Optional[str] = None
        self.hits = 0
        self.holding = 0
        self.failed_handshakes = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with outer._lock:
                    outer.hits += 1
                    outer.holding += 1
                try:
                    outer.gate.wait(60)
                    if outer.redirect_to:
                        self.send_response(302)
                        self.send_header("Location", outer.redirect_to)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = outer.body
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Cache-Control", outer.cache_control)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (its timeout): nothing to answer
                    pass
                finally:
                    with outer._lock:
                        outer.holding -= 1

            def log_message(self, *a: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Any:
                sock, addr = self.socket.accept()
                # The handshake runs in the request's thread (finish_request), so a client
                # that fails it holds no other.
                return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def finish_request(self, request: Any, client_address: Any) -> None:
                try:
                    request.do_handshake()
                except (ssl.SSLError, OSError):
                    with outer._lock:
                        outer.failed_handshakes += 1
                    return
                super().finish_request(request, client_address)

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.srv = Server(("127.0.0.1", 0), Handler)
        port = self.srv.server_address[1]
        self.url = f"https://127.0.0.1:{port}/.well-known/jwks.json?tenant=secret-q"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self._closed = False

    def close(self) -> None:
        self.gate.set()
        if not self._closed:
            self._closed = True
            self.srv.shutdown()
            self.srv.server_close()


@pytest.fixture
def issuer(ca: trustme.CA, keys: Tuple[SigningKey, SigningKey, SigningKey]) -> Iterator[HttpsIssuer]:
    s = HttpsIssuer(ca, jwks(keys[0]))
    yield s
    s.close()


# -- the app -----------------------------------------------------------------------------------


class Live(LiveServer):
    """uvicorn on 127.0.0.1 in a thread, lifespan on: entered once startup is done."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, lifespan="on")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=WAIT, **kw)


def engine_for(url: str) -> admit.Engine:
    return admit.Engine.from_file(POLICIES / "skillmeat.toml", env=dict(ENV, CLERK_JWKS_URL=url))


def make_app(url: str, **jwks_options: Any) -> Tuple[FastAPI, Admit]:
    """SkillMeat's policy with CLERK_JWKS_URL = ``url``; the guard's fetchers come from
    the policy, ``jwks_options`` (``cafile``, timings) go to them."""
    guard = Admit(engine_for(url), jwks_options=jwks_options, watch_interval=0.05, open_paths={"/ready"})
    app = FastAPI()
    guard.install(app)
    add_artifact_routes(app, guard)
    return app, guard


# -- from the policy, over verified HTTPS ----------------------------------------------------------


def test_the_policys_jwks_url_is_fetched_over_https_at_startup(
    issuer: HttpsIssuer, ca_file: str, keys: Tuple[SigningKey, ...], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    app, guard = make_app(issuer.url, cafile=ca_file)
    # One fetcher, made from the policy's jwks_url; nothing fetched before startup.
    assert [(f.authenticator_id, f.url) for f in guard.jwks] == [("clerk", issuer.url)]
    assert issuer.hits == 0 and not guard.ready
    with Live(app) as live:
        assert issuer.hits == 1 and guard.ready
        r = live.get("/api/v1/artifacts", headers=bearer(keys[0].token()))
        assert r.status_code == 200 and r.json() == {"caller": "user_2abc"}
        assert issuer.hits == 1  # the request fetched nothing
        status = live.get("/ready").json()
        assert status["ready"] is True and status["jwks"][0]["keys"] == 1
    fetched = [r.getMessage() for r in caplog.records if r.name == "admit.jwks" and r.levelno == logging.INFO]
    assert any("key set of clerk fetched at startup from https://127.0.0.1:" in m for m in fetched)
    assert "secret-q" not in caplog.text and "secret-q" not in json.dumps(status)  # no URL query
    assert keys[0].jwk["n"] not in caplog.text  # no key material


def test_a_certificate_from_an_untrusted_ca_is_refused(issuer: HttpsIssuer, keys: Tuple[SigningKey, ...]) -> None:
    # No cafile: the system's CAs, which do not include the test's CA.
    app, guard = make_app(issuer.url)
    with Live(app) as live:
        eventually(lambda: issuer.failed_handshakes >= 1, "the issuer saw the startup fetch's handshake fail")
        assert issuer.hits == 0 and not guard.ready
        assert "CERTIFICATE_VERIFY_FAILED" in (guard.status()["jwks"][0]["last_error"] or "")
        assert live.get("/api/v1/artifacts", headers=bearer(keys[0].token())).status_code == 401
        assert issuer.hits == 0


def test_an_ssl_context_that_does_not_verify_is_refused(ca_file: str) -> None:
    with pytest.raises(ValueError, match="verify"):
        JwksFetcher("https://issuer.test/jwks", "clerk", ssl_context=ssl._create_unverified_context())
    with pytest.raises(ValueError, match="not both"):
        JwksFetcher("https://issuer.test/jwks", "clerk", cafile=ca_file, ssl_context=ssl.create_default_context())
    JwksFetcher("https://issuer.test/jwks", "clerk", ssl_context=ssl.create_default_context(cafile=ca_file))


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example/.well-known/jwks.json",  # plain http off the machine
        "http://10.0.0.1/jwks",
        "ftp://issuer.example/jwks",
        "https://user:hunter2@issuer.example/jwks",
        "https://issuer.example/jwks#frag",
    ],
)
def test_a_url_the_fetch_rules_refuse_is_refused_with_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError) as info:
        JwksFetcher(url, "clerk")
    message = str(info.value)
    assert message.startswith("the jwks_url of clerk is refused: a jwks_url ")
    assert "hunter2" not in message and "issuer.example" not in message  # quotes no part of it
    with pytest.raises(ValueError):
        fetch_rules.check_url(url)


def test_loopback_http_is_allowed_and_the_defaults_are_the_cores() -> None:
    JwksFetcher("http://127.0.0.1:9/jwks", "clerk")
    JwksFetcher("http://localhost:9/jwks", "clerk")
    f = JwksFetcher("https://issuer.test/jwks", "clerk")
    assert (f.timeout, f.min_interval, f.default_max_age, f.min_refresh, f.max_refresh, f.retry_min, f.retry_max) == (
        fetch_rules.TIMEOUT_SECS,
        fetch_rules.UNKNOWN_KEY_INTERVAL_SECS,
        fetch_rules.DEFAULT_MAX_AGE,
        fetch_rules.MIN_REFRESH_SECS,
        fetch_rules.MAX_REFRESH_SECS,
        fetch_rules.RETRY_MIN_SECS,
        fetch_rules.RETRY_MAX_SECS,
    )
    # The numbers docs/policy.md gives, as the core holds them.
    assert (fetch_rules.TIMEOUT_SECS, fetch_rules.MAX_BYTES, fetch_rules.DEFAULT_MAX_AGE) == (5, 1 << 20, 300)
    assert (fetch_rules.UNKNOWN_KEY_INTERVAL_SECS, fetch_rules.RETRY_MAX_SECS) == (30, 300)


def test_the_fetchers_schedule_is_the_cores(keys: Tuple[SigningKey, ...]) -> None:
    """With the default bounds, the background refresh comes at the core's
    ``refresh_after`` (less up to 10% of jitter) and a retry at the core's
    ``retry_after`` (in its upper half)."""
    served: List[Any] = [jwks(keys[0]).decode(), None]

    def fetch(url: str, timeout: float) -> Tuple[str, Optional[str]]:
        if isinstance(served[0], Exception):
            raise served[0]
        return served[0], served[1]

    f = JwksFetcher("https://issuer.test/jwks", "clerk", fetch=fetch)
    e = engine_for("https://issuer.test/jwks")
    for cc in [None, "max-age=0", "no-store", "max-age=1000", "public, max-age=100000", "max-age=600, s-maxage=120"]:
        served[1] = cc
        assert f.refresh(e, force=True)
        want = fetch_rules.refresh_after(cc)
        for _ in range(20):
            assert 0.9 * want <= f.refresh_delay() <= want, cc
    served[0] = RuntimeError("down")
    for n in range(1, 12):
        assert not f.refresh(e, force=True) and f.failures == n
        want = fetch_rules.retry_after(n)
        assert all(want / 2 <= f.refresh_delay() <= want for _ in range(20))
    assert fetch_rules.retry_after(11) == fetch_rules.RETRY_MAX_SECS


# -- never on a request's path ---------------------------------------------------------------------


def test_a_request_is_never_held_by_a_slow_background_fetch(
    issuer: HttpsIssuer, ca_file: str, keys: Tuple[SigningKey, ...]
) -> None:
    issuer.cache_control = "no-store"  # stale at once: refreshed every ~50 ms
    app, guard = make_app(issuer.url, cafile=ca_file, min_interval=3600, min_refresh=0.05, max_refresh=0.05)
    with Live(app) as live:
        try:
            issuer.gate.clear()
            eventually(lambda: issuer.holding == 1, "a background refresh held by the issuer")
            # While the issuer holds that fetch: a public route, a token whose key is
            # known and an anonymous request are all answered. (Only a token whose key
            # the set lacks may wait for a fetch: the one unknown_key retry.)
            assert live.get("/health").json() == {"status": "healthy"}
            assert live.get("/api/v1/artifacts", headers=bearer(keys[0].token())).status_code == 200
            assert live.get("/api/v1/artifacts").status_code == 401
            assert issuer.holding == 1 and not issuer.gate.is_set()
        finally:
            issuer.gate.set()


# -- rotation ---------------------------------------------------------------------------------------


def test_after_the_issuer_rotates_a_token_signed_with_the_new_key_passes(
    issuer: HttpsIssuer, ca_file: str, keys: Tuple[SigningKey, ...], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    clock = [1000.0]
    app, guard = make_app(issuer.url, cafile=ca_file, min_refresh=3600, clock=lambda: clock[0])
    old, new, _ = keys
    with Live(app) as live:
        assert live.get("/api/v1/artifacts", headers=bearer(old.token())).status_code == 200
        issuer.body = jwks(new)  # the issuer rotates
        # Within the core's interval of the startup fetch: no fetch, the new key is unknown.
        assert live.get("/api/v1/artifacts", headers=bearer(new.token())).status_code == 401
        assert issuer.hits == 1
        clock[0] += fetch_rules.UNKNOWN_KEY_INTERVAL_SECS
        # Past it: the unknown kid fetches the set once, and the request is decided again.
        r = live.get("/api/v1/artifacts", headers=bearer(new.token()))
        assert r.status_code == 200 and r.json() == {"caller": "user_2abc"}
        assert issuer.hits == 2
        assert live.get("/api/v1/artifacts", headers=bearer(old.token())).status_code == 401  # retired
        assert live.get("/api/v1/artifacts", headers=bearer(new.token())).status_code == 200
        assert issuer.hits == 2
    assert any("lacks: fetching the set again" in r.getMessage() for r in caplog.records)
    assert any("fetched for an unknown key" in r.getMessage() for r in caplog.records)


def test_a_background_refresh_picks_up_a_rotation_per_cache_control(
    issuer: HttpsIssuer, ca_file: str, keys: Tuple[SigningKey, ...]
) -> None:
    issuer.cache_control = "max-age=0"
    app, guard = make_app(issuer.url, cafile=ca_file, min_interval=3600, min_refresh=0.02, max_refresh=0.05)
    old, new, _ = keys
    (fetcher,) = guard.jwks
    with Live(app) as live:
        assert live.get("/api/v1/artifacts", headers=bearer(new.token())).status_code == 401
        issuer.body = jwks(new)
        eventually(lambda: fetcher.text == jwks(new).decode(), "the background refresh took the rotated set")
        # No request asked for it (min_interval forbids a request's fetch).
        assert live.get("/api/v1/artifacts", headers=bearer(new.token())).status_code == 200
        assert live.get("/api/v1/artifacts", headers=bearer(old.token())).status_code == 401


def test_a_forged_kid_flood_causes_at_most_one_fetch_per_interval(
    issuer: HttpsIssuer, ca_file: str, keys: Tuple[SigningKey, ...]
) -> None:
    clock = [1000.0]
    app, guard = make_app(issuer.url, cafile=ca_file, min_refresh=3600, clock=lambda: clock[0])
    forged = bearer(keys[2].token())

    def flood(n: int) -> List[int]:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: live.get("/api/v1/artifacts", headers=forged).status_code, range(n)))

    with Live(app) as live:
        assert issuer.hits == 1  # startup
        assert flood(40) == [401] * 40
        assert issuer.hits == 1  # within the interval of the startup fetch: none
        for interval in range(1, 4):
            clock[0] += fetch_rules.UNKNOWN_KEY_INTERVAL_SECS
            assert flood(40) == [401] * 40
            assert issuer.hits == 1 + interval  # one fetch for 40 forged tokens
        assert live.get("/api/v1/artifacts", headers=bearer(keys[0].token())).status_code == 200


# -- an issuer down or hostile: the last good set stays -----------------------------------------------


@pytest.mark.parametrize("failure", ["http-500", "garbage", "refused-set", "slow", "redirect", "oversize"])
def test_an_issuer_failing_keeps_the_last_good_set(
    issuer: HttpsIssuer,
    ca_file: str,
    keys: Tuple[SigningKey, ...],
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    app, guard = make_app(
        issuer.url,
        cafile=ca_file,
        min_interval=3600,
        min_refresh=0.02,
        max_refresh=0.05,
        retry_min=0.02,
        retry_max=0.05,
        timeout=0.5,
    )
    (fetcher,) = guard.jwks
    good = jwks(keys[0]).decode()
    with Live(app) as live:
        assert fetcher.text == good and fetcher.key_count == 1
        first_success = fetcher.last_success
        if failure == "http-500":
            issuer.status = 500
        elif failure == "garbage":
            issuer.body = b"<html>" + SECRET_K.encode() + b"</html>"
        elif failure == "refused-set":
            issuer.body = REFUSED_SET
        elif failure == "slow":
            issuer.gate.clear()  # each fetch outlasts its timeout
        elif failure == "redirect":
            issuer.redirect_to = "http://issuer.example/jwks.json"
        else:
            issuer.body = b'{"keys": [], "pad": "' + b"x" * fetch_rules.MAX_BYTES + b'"}'
        eventually(lambda: fetcher.failures >= 2, "two failed background refreshes")
        assert live.get("/api/v1/artifacts", headers=bearer(keys[0].token())).status_code == 200
        status = guard.status()
        assert status["ready"] is True
        (clerk,) = status["jwks"]
        assert clerk["keys"] == 1 and clerk["last_error"] and clerk["last_success"] == first_success
        assert fetcher.text == good  # what failed was not kept
        issuer.gate.set()
    warnings = [r.getMessage() for r in caplog.records if r.name == "admit.jwks" and r.levelno == logging.WARNING]
    assert warnings and all("keeping the old key set of clerk (fetch in the background)" in m for m in warnings)
    if failure == "redirect":
        assert "redirects are not followed" in warnings[0]
    # Never key material, the garbage, or the URL's query in a log line or the status.
    assert SECRET_K not in caplog.text and SECRET_K not in json.dumps(status)
    assert "secret-q" not in caplog.text


# -- a reload brings a new jwks_url ----------------------------------------------------------------------


def test_a_reload_starts_the_new_urls_fetcher_and_stops_the_old_one(
    ca: trustme.CA, ca_file: str, keys: Tuple[SigningKey, ...], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    old, new, _ = keys
    first, second = HttpsIssuer(ca, jwks(old)), HttpsIssuer(ca, jwks(new))
    try:
        for s in (first, second):
            s.cache_control = "max-age=0"  # refreshed every few tens of ms
        app, guard = make_app(first.url, cafile=ca_file, min_interval=3600, min_refresh=0.02, max_refresh=0.05)
        with Live(app) as live:
            assert live.get("/api/v1/artifacts", headers=bearer(old.token())).status_code == 200
            eventually(lambda: first.hits >= 3, "the first issuer refreshed in the background")
            assert second.hits == 0
            guard.reload(engine_for(second.url))
            # The new policy's fetcher is started in the background (no request asks).
            eventually(lambda: second.hits >= 1 and guard.ready, "the new jwks_url fetched")
            assert [f.url for f in guard.jwks] == [second.url]
            assert live.get("/api/v1/artifacts", headers=bearer(new.token())).status_code == 200
            assert live.get("/api/v1/artifacts", headers=bearer(old.token())).status_code == 401
            # The old fetcher is stopped: while the new one refreshes again and again, the
            # first issuer hears nothing more.
            eventually(lambda: second.hits >= 2, "a background refresh of the new URL")
            before = first.hits
            now = second.hits
            eventually(lambda: second.hits >= now + 3, "three more refreshes of the new URL")
            assert first.hits == before
    finally:
        first.close()
        second.close()
    assert any("the new policy fetches the key set of clerk from https://127.0.0.1:" in r.getMessage()
               for r in caplog.records)
    assert any("no longer fetches clerk" in r.getMessage() for r in caplog.records)
