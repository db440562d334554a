"""The Python API: constructors, types, errors, bad arguments, threads, keys, tokens."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import admit
from admit.jwks import JwksFetcher, max_age
from conftest import EXAMPLES, FIXTURES, POLICIES, ROOT, TOKENS

NOW = 1_790_000_000
KEY = "sk-test-only-skillmeat-key"
SKILLMEAT_ENV = {"SKILLMEAT_AUTH_ENABLED": "true", "SKILLMEAT_API_KEY_ENABLED": "true", "SKILLMEAT_API_KEY": KEY}
RAG_ENV = {"JWT_SECRET_KEY": "test-only-rag-modulo-secret-0123456789abcdef"}
CLERK_ENV = {
    "SKILLMEAT_AUTH_ENABLED": "true",
    "CLERK_ISSUER": "https://test-instance.clerk.accounts.dev",
    "CLERK_AUDIENCE": "skillmeat-api",
    "CLERK_JWKS_URL": "https://test-instance.clerk.accounts.dev/.well-known/jwks.json",
}
SIMPLE = {
    "scopes": ["jobs:read"],
    "roles": {"reader": {"scopes": ["jobs:read"]}},
    "authenticators": [
        {"type": "api_key", "id": "keys", "keys": [{"id": "ci", "sha256": admit.hash_key("12345"), "roles": ["reader"]}]}
    ],
    "routes": [{"methods": ["GET"], "path": "/jobs/**", "require": ["jobs:read"]}],
}


def clerk_engine(extra_env: "dict[str, str] | None" = None, jwks: "str | None" = None) -> admit.Engine:
    """SkillMeat with Clerk, and the key set a host fetched from CLERK_JWKS_URL."""
    e = admit.Engine.from_file(POLICIES / "skillmeat.toml", env=dict(CLERK_ENV, **(extra_env or {})))
    e.set_jwks("clerk", jwks if jwks is not None else (FIXTURES / "jwks.json").read_text())
    return e


@pytest.fixture(scope="module")
def engine() -> admit.Engine:
    return admit.Engine.from_file(POLICIES / "skillmeat.toml", env=SKILLMEAT_ENV)


# -- constructors -------------------------------------------------------------------


def test_from_file_str_and_pathlike(engine: admit.Engine) -> None:
    e = admit.Engine.from_file(str(POLICIES / "skillmeat.toml"), env=SKILLMEAT_ENV)
    assert e.authenticators() == engine.authenticators() == [("api-key", "api_key")]
    assert e.api_key_header("api-key") == "X-API-Key"
    assert e.api_key_header("nope") is None
    assert isinstance(e.warnings, list)
    assert "api-key" in repr(e)


def test_an_unreadable_policy_file_is_named_as_open_names_it(tmp_path: Path) -> None:
    """Each way a policy file cannot be read raises what Python's own open() raises, with
    the path in `filename` and in the message; a file that is not UTF-8 is a ValueError
    naming the file, never quoting its bytes."""
    import errno

    missing = tmp_path / "nope" / "policy.toml"
    with pytest.raises(FileNotFoundError) as e:
        admit.Engine.from_file(missing)
    assert e.value.errno == errno.ENOENT and e.value.filename == str(missing)
    assert str(missing) in str(e.value)
    with pytest.raises(IsADirectoryError) as d:
        admit.Engine.from_file(tmp_path)
    assert d.value.filename == str(tmp_path)
    binary = tmp_path / "policy.toml"
    binary.write_bytes(b"secret = \xff\xfe not text")
    with pytest.raises(ValueError, match="is not UTF-8") as v:
        admit.Engine.from_file(binary)
    assert str(binary) in str(v.value) and "secret" not in str(v.value)
    if os.geteuid() != 0:
        locked = tmp_path / "locked.toml"
        locked.write_text("")
        locked.chmod(0)
        with pytest.raises(PermissionError):
            admit.Engine.from_file(locked)


def test_from_file_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SKILLMEAT_ENV.items():
        monkeypatch.setenv(k, v)
    e = admit.Engine.from_file(POLICIES / "skillmeat.toml")
    assert e.decide("GET", "/api/v1/artifacts", [("X-API-Key", KEY)], now=NOW).allow
    monkeypatch.delenv("SKILLMEAT_AUTH_ENABLED")
    e = admit.Engine.from_file(POLICIES / "skillmeat.toml")
    assert e.decide("GET", "/api/v1/artifacts").principal.id == "local_admin"  # type: ignore[union-attr]


def test_from_toml_json_dict_and_string_agree() -> None:
    toml = (POLICIES / "rag-modulo.toml").read_text()
    engines = [
        admit.Engine.from_toml(toml, env=RAG_ENV),
        admit.Engine.from_string(toml, "toml", env=RAG_ENV),
        admit.Engine.from_dict(SIMPLE, env={}),
        admit.Engine.from_json(json.dumps(SIMPLE), env={}),
        admit.Engine.from_string(json.dumps(SIMPLE), format="JSON", env={}),
    ]
    bearer = [("Authorization", "Bearer " + TOKENS["rag_valid"])]
    assert engines[0].decide("GET", "/api/x", bearer, now=NOW).principal.id == engines[1].decide(  # type: ignore[union-attr]
        "GET", "/api/x", bearer, now=NOW
    ).principal.id  # type: ignore[union-attr]
    for e in engines[2:]:
        d = e.decide("GET", "/jobs/7", {"X-API-Key": "12345"}, now=0)
        assert d.allow and d.principal is not None and d.principal.id == "ci"


def test_file_references_resolve_relative_to_the_policy(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("test-only-rag-modulo-secret-0123456789abcdef")
    policy = (POLICIES / "rag-modulo.toml").read_text().replace(
        'secret = { env = "JWT_SECRET_KEY" }', 'secret = { file = "secret.txt" }'
    )
    (tmp_path / "p.toml").write_text(policy)
    e = admit.Engine.from_file(tmp_path / "p.toml", env={})
    assert e.decide("GET", "/api/x", [("Authorization", "Bearer " + TOKENS["rag_valid"])], now=NOW).allow
    e2 = admit.Engine.from_toml(policy, env={}, base_dir=tmp_path)
    assert e2.decide("GET", "/api/x", [("Authorization", "Bearer " + TOKENS["rag_valid"])], now=NOW).allow


def test_policy_error_has_the_place(tmp_path: Path) -> None:
    with pytest.raises(admit.PolicyError) as info:
        admit.Engine.from_toml('[[routes]]\npath = "/a"\nmethods = ["GET"]\nrequire = ["nope:scope"]\n', env={})
    e = info.value
    assert isinstance(e, ValueError)
    assert e.errors and e.place and e.message and e.line == e.errors[0]["line"]
    assert "nope:scope" in str(e)
    with pytest.raises(admit.PolicyError) as info:
        admit.Engine.from_toml("x = ", env={})
    assert info.value.line == 1 and info.value.column is not None
    bad = tmp_path / "bad.toml"
    bad.write_text("realm = 5\n")
    with pytest.raises(admit.PolicyError) as info:
        admit.Engine.from_file(bad, env={})
    assert info.value.path == str(bad) and str(bad) in str(info.value)
    with pytest.raises(admit.PolicyError, match="JWT_SECRET_KEY"):
        admit.Engine.from_file(POLICIES / "rag-modulo.toml", env={})


def test_missing_file_is_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        admit.Engine.from_file(ROOT / "no-such-policy.toml", env={})


# -- decisions ------------------------------------------------------------------------


def test_decision_and_principal_are_typed(engine: admit.Engine) -> None:
    d = engine.decide("GET", "/api/v1/artifacts", [("X-API-Key", KEY)], peer="10.0.0.1", now=NOW)
    assert isinstance(d, admit.Decision) and isinstance(d.principal, admit.Principal)
    assert d.allow is True and d.status == 200 and d.reason == "ok" and d.rule == "artifacts-read"
    assert d.constraints == {} and d.dry_run is False and d.body is None
    p = d.principal
    assert (p.id, p.authenticator, p.kind, p.claims) == ("api_key", "api-key", "api_key", None)
    assert "automation" in p.roles and p.has_scope("artifacts:write") and not p.has_scope("artifacts:delete")
    assert set(d.to_dict()) == {
        "allow", "status", "reason", "message", "headers", "body", "principal", "rule", "constraints", "dry_run"
    }
    assert set(p.to_dict()) == {"id", "authenticator", "kind", "roles", "scopes", "claims"}
    assert p == d.principal and "api_key" in repr(p) and "artifacts-read" in repr(d)
    assert d.reason in admit.REASONS


def test_denial_carries_what_to_answer(engine: admit.Engine) -> None:
    d = engine.decide("GET", "/api/v1/artifacts", [], now=NOW)
    assert (d.allow, d.status, d.reason) == (False, 401, "missing_credentials")
    assert json.loads(d.body or "") == {"detail": "Missing authentication token"}
    assert d.header("www-authenticate", ) and d.header("WWW-Authenticate").startswith("Bearer")  # type: ignore[union-attr]
    assert d.header("x-nope") is None


def test_jwt_claims_become_python_values() -> None:
    e = clerk_engine()
    d = e.decide("GET", "/api/v1/admin/users", [("Authorization", "Bearer " + TOKENS["clerk_org_admin"])], now=NOW)
    assert d.allow, d.to_dict()
    assert d.principal is not None and d.principal.kind == "jwt"
    claims = d.principal.claims
    assert isinstance(claims, dict) and claims["org_role"] == "org:admin" and isinstance(claims["exp"], int)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-API-Key", KEY)],
        [(b"x-api-key", KEY.encode())],
        [["X-API-Key", KEY]],
        ((b"X-API-KEY", KEY),),
        {"X-API-Key": KEY},
        {"X-API-Key": [KEY]},
        iter([("X-API-Key", KEY)]),
    ],
    ids=["pairs", "bytes", "lists", "tuple", "dict", "dict-list", "iterator"],
)
def test_header_forms(engine: admit.Engine, headers: object) -> None:
    assert engine.decide("GET", "/api/v1/artifacts", headers, now=NOW).allow


def test_starlette_headers(engine: admit.Engine) -> None:
    from starlette.datastructures import Headers, MutableHeaders

    h = Headers(raw=[(b"x-api-key", KEY.encode())])
    assert engine.decide("GET", "/api/v1/artifacts", h, now=NOW).allow
    assert engine.decide("GET", "/api/v1/artifacts", MutableHeaders(raw=[(b"x-api-key", KEY.encode())]), now=NOW).allow
    dup = Headers(raw=[(b"x-api-key", KEY.encode()), (b"x-api-key", KEY.encode())])
    assert engine.decide("GET", "/api/v1/artifacts", dup, now=NOW).reason == "malformed_request"


def test_now_defaults_to_the_clock() -> None:
    e = admit.Engine.from_file(POLICIES / "rag-modulo.toml", env=RAG_ENV)
    fresh = e.issue_token("rag-jwt", "alice")
    assert e.decide("GET", "/api/x", [("Authorization", "Bearer " + fresh)]).allow
    # The fixture token is valid at the vectors' `now`, long expired by the clock.
    old = [("Authorization", "Bearer " + TOKENS["rag_valid"])]
    assert e.decide("GET", "/api/x", old, now=NOW).allow
    assert e.decide("GET", "/api/x", old, now=float(NOW) + 0.5).allow
    assert e.decide("GET", "/api/x", old).reason == "expired"


# -- bad arguments ----------------------------------------------------------------------

BAD_DECIDE = [
    ((None, "/"), {}, TypeError, "method must be str"),
    ((b"GET", "/"), {}, TypeError, "method must be str"),
    ((1, "/"), {}, TypeError, "method must be str"),
    (("GET", None), {}, TypeError, "path must be str"),
    (("GET", b"/"), {}, TypeError, "path must be str"),
    (("GET", 7), {}, TypeError, "path must be str"),
    (("GET", "/", "x-api-key: 1"), {}, TypeError, "headers must be"),
    (("GET", "/", b"x"), {}, TypeError, "headers must be"),
    (("GET", "/", 5), {}, TypeError, "headers must be"),
    (("GET", "/", [(1, "a")]), {}, TypeError, "header names must be str or bytes"),
    (("GET", "/", [(None, "a")]), {}, TypeError, "header names must be str or bytes"),
    (("GET", "/", [("a", None)]), {}, TypeError, "header values must be str or bytes"),
    (("GET", "/", [("a", 5)]), {}, TypeError, "header values must be str or bytes"),
    (("GET", "/", {1: "a"}), {}, TypeError, "header names must be str or bytes"),
    (("GET", "/", [("a", "b", "c")]), {}, TypeError, "pair"),
    (("GET", "/", ["ab"]), {}, TypeError, "pair"),
    (("GET", "/", [None]), {}, TypeError, "pair"),
    (("GET", "/"), {"peer": 127}, TypeError, "peer must be str"),
    (("GET", "/"), {"peer": b"127.0.0.1"}, TypeError, "peer must be str"),
    (("GET", "/"), {"now": "1790000000"}, TypeError, "now must be an int"),
    (("GET", "/"), {"now": True}, TypeError, "not bool"),
    (("GET", "/"), {"now": 2**70}, ValueError, "out of range"),
    (("GET", "/"), {"now": float("nan")}, ValueError, "finite"),
    (("GET", "/"), {"now": float("inf")}, ValueError, "finite"),
]


@pytest.mark.parametrize("args,kwargs,exc,text", BAD_DECIDE, ids=[f"{b[2].__name__}-{i}" for i, b in enumerate(BAD_DECIDE)])
def test_bad_decide_arguments(engine: admit.Engine, args: tuple, kwargs: dict, exc: type, text: str) -> None:
    with pytest.raises(exc, match=text):
        engine.decide(*args, **kwargs)


def test_hostile_content_is_a_deny_not_an_exception(engine: admit.Engine) -> None:
    big = "a" * 10_000_000
    assert engine.decide("GET", "/" + big, now=NOW).reason == "malformed_request"
    assert engine.decide(big, "/", now=NOW).reason == "malformed_request"
    assert engine.decide("GET", "/api/v1/artifacts", [("X-API-Key", big)], now=NOW).reason == "malformed_request"
    assert engine.decide("GET", "/api/v1/artifacts", [("X-API-Key", "\udc80")], now=NOW).reason == "malformed_request"
    assert engine.decide("GET", "/api/v1/artifacts", [(b"X-API-Key", b"\xff\xfe")], now=NOW).allow is False
    assert engine.decide("GET", "/\udc80", now=NOW).reason == "malformed_request"
    assert engine.decide("G ET", "/", now=NOW).reason == "malformed_request"
    assert engine.decide("GET", "/api/v1/artifacts", [("x", "y")] * 10_000, now=NOW).allow is False
    assert engine.decide("GET", "", now=NOW).allow is False
    assert engine.decide("GET", "/api/v1/artifacts", [("X-API-Key", KEY + "\x00")], now=NOW).allow is False
    assert engine.malformed("the host could not read it").reason == "malformed_request"


@pytest.mark.parametrize(
    "call,exc,text",
    [
        (lambda: admit.Engine.from_toml(None), TypeError, "text must be str"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_toml(b"realm = 'x'"), TypeError, "text must be str"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_json(5), TypeError, "text must be str"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_dict("{}"), TypeError, "policy must be a dict"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_dict({"realm": object()}), TypeError, "JSON values"),
        (lambda: admit.Engine.from_string("", format="yaml"), ValueError, "format"),
        (lambda: admit.Engine.from_file(None), TypeError, "path must be"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_file(5), TypeError, "path must be"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_toml("", env=["A"]), TypeError, "env must be a mapping"),  # type: ignore[arg-type]
        (lambda: admit.Engine.from_toml("", env={"A": 1}), TypeError, "must be str"),  # type: ignore[dict-item]
        (lambda: admit.Engine.from_toml("", env={1: "a"}), TypeError, "env keys must be str"),  # type: ignore[dict-item]
        (lambda: admit.Engine.from_toml("x" * 5_000_000 + " = 1", env={}), admit.PolicyError, "line"),
        (lambda: admit.hash_key(None), TypeError, "key must be str"),  # type: ignore[arg-type]
        (lambda: admit.hash_key(b"k"), TypeError, "key must be str"),  # type: ignore[arg-type]
        (lambda: admit.generate_key(nbytes=8), ValueError, "between"),
        (lambda: admit.generate_key(prefix=None), TypeError, "prefix"),  # type: ignore[arg-type]
    ],
)
def test_bad_constructor_arguments(call: object, exc: type, text: str) -> None:
    with pytest.raises(exc, match=text):
        call()  # type: ignore[operator]


def test_engine_cannot_be_built_directly_or_subclassed() -> None:
    with pytest.raises(TypeError):
        admit.Engine()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        type("Sub", (admit.Engine,), {})


# -- keys, tokens, key sets --------------------------------------------------------------


def test_hash_and_generate_key() -> None:
    assert admit.hash_key("12345") == "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5"
    k1, k2 = admit.generate_key(), admit.generate_key()
    assert k1 != k2 and k1.startswith("admit_") and len(k1) == len("admit_") + 43
    assert admit.generate_key(prefix="sk-", nbytes=16).startswith("sk-")
    e = admit.Engine.from_file(POLICIES / "skillmeat.toml", env=dict(SKILLMEAT_ENV, SKILLMEAT_API_KEY=k1))
    assert e.decide("GET", "/api/v1/artifacts", {"x-api-key": k1}, now=NOW).allow


def test_issue_token_round_trips() -> None:
    e = admit.Engine.from_file(POLICIES / "rag-modulo.toml", env=RAG_ENV)
    token = e.issue_token("rag-jwt", "user-1", now=NOW, claims={"username": "alice", "n": [1, 2]}, scopes=["a"])
    d = e.decide("POST", "/api/search", [("Authorization", f"Bearer {token}")], now=NOW + 10)
    assert d.allow and d.principal is not None and d.principal.id == "user-1"
    assert d.principal.claims is not None and d.principal.claims["username"] == "alice"
    assert d.principal.claims["exp"] - d.principal.claims["iat"] == 3600
    import jwt as pyjwt

    assert pyjwt.decode(token, RAG_ENV["JWT_SECRET_KEY"], algorithms=["HS256"], options={"verify_exp": False})["sub"] == "user-1"
    short = e.issue_token("rag-jwt", "u", lifetime=60, now=NOW)
    assert e.decide("GET", "/api/x", [("Authorization", f"Bearer {short}")], now=NOW + 120).reason == "expired"
    with pytest.raises(admit.EngineError) as info:
        e.issue_token("nope", "u")
    assert info.value.kind == "unknown_authenticator"
    with pytest.raises(TypeError, match="roles must be a list"):
        e.issue_token("rag-jwt", "u", roles="admin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subject must be str"):
        e.issue_token("rag-jwt", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="claims must be a dict"):
        e.issue_token("rag-jwt", "u", claims=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lifetime must be an int"):
        e.issue_token("rag-jwt", "u", lifetime="60")  # type: ignore[arg-type]


def test_set_jwks_rotates_keys() -> None:
    e = clerk_engine()
    rotated = [("Authorization", "Bearer " + TOKENS["clerk_rotated_kid"])]
    assert e.decide("GET", "/api/v1/artifacts", rotated, now=NOW).reason == "unknown_key"
    assert e.set_jwks("clerk", (FIXTURES / "jwks-rotated.json").read_text()) == 1
    assert e.decide("GET", "/api/v1/artifacts", rotated, now=NOW).allow
    assert e.set_jwks("clerk", json.loads((FIXTURES / "jwks.json").read_text())) == 4
    assert e.set_jwks("clerk", (FIXTURES / "jwks.json").read_bytes()) == 4
    with pytest.raises(admit.EngineError) as info:
        e.set_jwks("clerk", "{}")
    assert info.value.kind == "invalid"
    with pytest.raises(admit.EngineError):
        e.set_jwks("zero-auth", (FIXTURES / "jwks.json").read_text())
    with pytest.raises(TypeError, match="jwks must be"):
        e.set_jwks("clerk", 5)  # type: ignore[arg-type]


# -- threads -----------------------------------------------------------------------------


def test_many_threads_share_one_engine() -> None:
    e = clerk_engine(SKILLMEAT_ENV)
    cases = [
        ([("X-API-Key", KEY)], "ok"),
        ([("X-API-Key", "wrong")], "invalid_credentials"),
        ([("Authorization", "Bearer " + TOKENS["clerk_org_member"])], "ok"),
        ([("Authorization", "Bearer " + TOKENS["clerk_expired"])], "expired"),
        ([], "missing_credentials"),
    ]
    barrier = threading.Barrier(16)

    def work(i: int) -> int:
        barrier.wait(timeout=30)
        bad = 0
        for j in range(2000):
            headers, want = cases[(i + j) % len(cases)]
            if e.decide("GET", "/api/v1/artifacts", headers, now=NOW).reason != want:
                bad += 1
        return bad

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(work, range(16))) == 0


def test_decide_releases_the_gil() -> None:
    # Deciding in threads while the main thread keeps running Python: if decide held
    # the GIL for the whole batch the counter could not advance in between.
    e = admit.Engine.from_file(POLICIES / "rag-modulo.toml", env=RAG_ENV)
    token = [("Authorization", "Bearer " + TOKENS["rag_valid"])]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            e.decide("GET", "/api/x", token, now=NOW)

    threads = [threading.Thread(target=spin) for _ in range(2)]
    for t in threads:
        t.start()
    n = 0
    try:
        for _ in range(200_000):
            n += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert n == 200_000


# -- JWKS fetcher --------------------------------------------------------------------------


def test_max_age_parsing() -> None:
    assert max_age("public, max-age=600") == 600
    assert max_age("max-age=\"60\", must-revalidate") == 60
    assert max_age("no-store") == 0
    assert max_age("private") is None and max_age(None) is None


def test_fetcher_caches_by_max_age_and_limits_refetches() -> None:
    clock = [1000.0]
    served = [(FIXTURES / "jwks.json").read_text()]
    calls = []

    def fetch(url: str, timeout: float):  # type: ignore[no-untyped-def]
        calls.append(url)
        return served[0], "public, max-age=120"

    f = JwksFetcher("https://issuer.test/jwks.json", "clerk", min_interval=30, fetch=fetch, clock=lambda: clock[0])
    e = clerk_engine(jwks=f.fetch())
    assert not f.is_stale() and len(calls) == 1
    clock[0] += 121
    assert f.is_stale()
    served[0] = (FIXTURES / "jwks-rotated.json").read_text()
    rotated = [("Authorization", "Bearer " + TOKENS["clerk_rotated_kid"])]
    d = e.decide("GET", "/api/v1/artifacts", rotated, now=NOW)
    assert d.reason == "unknown_key"
    assert f.on_decision(e, d) is True and len(calls) == 2
    assert e.decide("GET", "/api/v1/artifacts", rotated, now=NOW).allow
    assert not f.is_stale()
    # Another unknown kid right away: no second fetch within min_interval.
    d2 = e.decide("GET", "/api/v1/artifacts", [("Authorization", "Bearer " + TOKENS["clerk_org_member"])], now=NOW)
    assert d2.reason == "unknown_key"
    assert f.on_decision(e, d2) is False and len(calls) == 2
    clock[0] += 31
    assert f.on_decision(e, d2) is True and len(calls) == 3


def test_fetcher_over_http_keeps_old_keys_on_failure() -> None:
    import http.server

    body = (FIXTURES / "jwks.json").read_bytes()
    status = [200]

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(status[0])
            self.send_header("Cache-Control", "max-age=300")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        f = JwksFetcher(f"http://127.0.0.1:{srv.server_address[1]}/jwks.json", "clerk", min_interval=0)
        text = f.fetch()
        assert json.loads(text)["keys"][0]["kid"] == "rsa-1"
        e = clerk_engine(jwks=text)
        status[0] = 500
        assert f.refresh(e) is False  # logged, old keys kept
        member = [("Authorization", "Bearer " + TOKENS["clerk_org_member"])]
        assert e.decide("GET", "/api/v1/artifacts", member, now=NOW).allow
    finally:
        srv.shutdown()
        srv.server_close()


# -- typing -------------------------------------------------------------------------------


def test_stubs_satisfy_mypy(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import admit\n"
        "from admit.fastapi import Admit, CurrentPrincipal, require, get_principal, route_path\n"
        "from admit.jwks import JwksFetcher\n"
        "e = admit.Engine.from_file('p.toml', env={'A': 'b'})\n"
        "d: admit.Decision = e.decide('GET', '/', [('a', 'b')], peer=None, now=1)\n"
        "ok: bool = d.allow\nst: int = d.status\nbody: 'str | None' = d.body\n"
        "p = d.principal\nif p is not None:\n    ids: str = p.id\n    sc: list[str] = p.scopes\n"
        "h: str = admit.hash_key('k') + admit.generate_key()\n"
        "n: int = e.set_jwks('clerk', '{}')\n"
        "t: str = e.issue_token('rag', 'sub', roles=['a'], lifetime=60)\n"
        "g = Admit(e)\nr = require('a:b')\n"
        "d2: admit.Decision = e.decide('GET', '/a b', None, None, decoded=True)\n"
        "enc: str = admit.target_from_decoded('/a b')\n"
        "rp: 'str | None' = route_path({'type': 'http', 'path': '/'})\n"
        "nk: int = e.set_keys('keys', b'')\n"
        "urls: list[tuple[str, str]] = e.jwks_urls() + e.keys_files()\n"
        "ra: int = admit.fetch_rules.refresh_after(None) + admit.fetch_rules.retry_after(2)\n"
        "g2 = Admit(e, jwks_options={'cafile': 'ca.pem'}, watch_interval=0.5)\n"
        "rk: 'dict[str, bool | None]' = g2.reload_keys()\n"
        "bad: int = d.reason\n"
        "e.set_check('sessions', lambda c: {'id': c})\n"
        "v: admit.Verdict = admit.Verdict.principal('a', roles=['r'])\n"
        "st2 = e.decide_step('GET', '/')\n"
        "if isinstance(st2, admit.PendingCheck):\n    d3: 'admit.Decision | admit.PendingCheck' = st2.resume(v)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--ignore-missing-imports", str(sample)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / ".mypy_cache")),
    )
    lines = [line for line in out.stdout.splitlines() if "error" in line]
    # Exactly one error: the deliberate `bad: int = d.reason` (a str).
    assert len(lines) == 1 and "sample.py:26" in lines[0], out.stdout + out.stderr


STRICT_APP = '''
from typing import Dict, Optional

from fastapi import APIRouter, Depends, FastAPI, Security, WebSocket
from pydantic import BaseModel

import admit
from admit.fastapi import Admit, CurrentPrincipal, enforce, get_decision, optional_principal, require

guard = Admit(admit.Engine.from_file("policy.toml"))
app = FastAPI()
guard.install(app)
router = APIRouter(prefix="/v2", dependencies=[Depends(enforce(guard))])


class Me(BaseModel):
    principal: admit.Principal
    note: str


@app.get("/me")
async def me(who: CurrentPrincipal) -> admit.Principal:
    return who


@app.get("/me/note", response_model=Me)
async def note(who: CurrentPrincipal) -> Me:
    return Me(principal=who, note=who.id)


@app.delete("/items/{id}", dependencies=[Depends(require("items:delete"))])
async def delete(id: str, d: admit.Decision = Depends(get_decision)) -> Dict[str, Optional[str]]:
    return {"rule": d.rule}


@router.get("/maybe")
async def maybe(who: Optional[admit.Principal] = Depends(optional_principal)) -> Dict[str, bool]:
    return {"known": who is not None}


@app.websocket("/ws")
async def ws(socket: WebSocket, who: admit.Principal = Security(require(), scopes=["items:read"])) -> None:
    await socket.accept()
    await socket.send_text(who.id)


app.include_router(router)


async def check_session(sid: str) -> Optional[Dict[str, object]]:
    return {"id": "alice", "roles": ["writer"]} if sid == "s-alice" else None


def check_token(token: str) -> admit.Verdict:
    return admit.Verdict.refuse("expired")


sessions = Admit(admit.Engine.from_file("sessions.toml"), checks={"sessions": check_session, "tokens": check_token})
sessions.engine.set_check("tokens", check_token)


async def decide_later(engine: admit.Engine) -> bool:
    d = await engine.decide_async("GET", "/notes", {"cookie": "sid=s-alice"})
    return d.allow
'''


def test_examples_and_a_strict_app_pass_mypy_strict(tmp_path: Path) -> None:
    """The README's habits type-check under `mypy --strict`: the example apps, and an
    app using every dependency, a Principal return type and a response model."""
    pytest.importorskip("mypy")
    app = tmp_path / "strict_app.py"
    app.write_text(STRICT_APP)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(app), str(EXAMPLES / "skillmeat_app.py"), str(EXAMPLES / "rag_modulo_app.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / ".mypy_cache")),
    )
    assert out.returncode == 0, out.stdout + out.stderr


# -- explain ------------------------------------------------------------------------


def test_explain_is_decide_with_its_trace() -> None:
    e = admit.Engine.from_dict(SIMPLE)
    got = e.explain("GET", "/jobs/7?q=1", [("X-API-Key", "12345")], None, NOW)
    assert got["decision"] == e.decide("GET", "/jobs/7?q=1", [("X-API-Key", "12345")], None, NOW).to_dict()
    trace = got["trace"]
    assert trace["target"] == {"canonical": "/jobs/7", "refused": None}
    assert [(r["name"], r["matched"]) for r in trace["rules"]] == [("GET /jobs/**", True)]
    assert trace["authenticators"] == [{
        "id": "keys", "kind": "api_key", "pass": "credential", "verdict": "matched",
        "reason": None, "detail": None, "principal": "ci",
    }]
    assert trace["scopes"] == {"required_all": ["jobs:read"], "required_any": [], "held": ["jobs:read"], "missing": []}
    # The key is nowhere in it, nor its digest.
    text = json.dumps(got)
    assert "12345" not in text and admit.hash_key("12345") not in text


def test_explain_of_unreadable_input_is_a_malformed_explanation() -> None:
    """What `decide` answers `malformed_request` for, `explain` explains the same way."""
    e = admit.Engine.from_dict(SIMPLE)
    for args in [("GET", "/jobs/\ud800"), ("GET", "/jobs/1", [("X-API-Key\ud800", "12345")])]:
        got = e.explain(*args, now=NOW)
        assert got["decision"] == e.decide(*args, now=NOW).to_dict()
        assert got["decision"]["reason"] == "malformed_request"
        assert got["trace"]["target"]["canonical"] is None
        assert got["trace"]["target"]["refused"]
        assert got["trace"]["rules"] == [] and got["trace"]["authenticators"] == []


def test_explain_takes_what_decide_takes() -> None:
    e = admit.Engine.from_dict(SIMPLE)
    with pytest.raises(TypeError):
        e.explain(7, "/jobs")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        e.explain("GET", "/jobs", now="soon")  # type: ignore[arg-type]


def test_explain_runs_a_delegated_check_as_decide_does() -> None:
    e = admit.Engine.from_file(FIXTURES / "policies" / "delegated.toml")
    calls = []

    def check(credential: str) -> dict:
        calls.append(credential)
        return {"id": "ann", "roles": ["reader"]}

    e.set_check("sessions", check)
    headers = [("Authorization", "Session s3cret-session-value")]
    got = e.explain("GET", "/notes/ann/1", headers, None, NOW)
    assert got["decision"] == e.decide("GET", "/notes/ann/1", headers, None, NOW).to_dict()
    assert got["decision"]["allow"] is True
    assert calls == ["s3cret-session-value", "s3cret-session-value"]
    assert got["trace"]["authenticators"][0]["principal"] == "ann"
    assert got["trace"]["owner"]["outcome"] == "owner"
    assert "s3cret-session-value" not in json.dumps(got)
