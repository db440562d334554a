"""`delegated` authenticators through the Python API: the application's check (a
callable, sync or async) says whose a credential is; the engine selects it by presence,
refuses instead of falling through, applies roles, scopes and owner rules. A check that
is missing, raises or answers garbage refuses, and nothing logs the credential."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from typing import Any, Dict, List

import pytest

import admit

POLICY = """
scopes = ["notes:read", "notes:write", "admin"]

[roles.reader]
scopes = ["notes:read"]

[roles.writer]
scopes = ["notes:write"]
includes = ["reader"]

[[authenticators]]
type = "delegated"
id = "sessions"
sources = [{ cookie = "sid" }, { header = "Authorization", prefix = "Session " }]

[[authenticators]]
type = "api_key"
id = "keys"
keys = []

[[authenticators]]
type = "anonymous"
id = "guest"
principal = "guest"

[[routes]]
id = "public"
path = "/public"
public = true

[[routes]]
id = "read-note"
methods = ["GET"]
path = "/notes/{owner}/{id}"
require = ["notes:read"]
owner = { param = "owner", unless = ["admin"] }
authenticators = ["sessions"]

[[routes]]
id = "write-note"
methods = ["POST"]
path = "/notes"
require = ["notes:write"]
authenticators = ["sessions"]

[[routes]]
id = "feed"
methods = ["GET"]
path = "/feed"

[responses]
body = "fastapi"
"""

SECRET = "s3cr3t-session-value-0123456789"
NOW = 1_790_000_000


def cookie(sid: str) -> Dict[str, str]:
    return {"Cookie": f"theme=dark; sid={sid}"}


class Table:
    """A check answering from a dict, counting its calls."""

    def __init__(self, table: Dict[str, Any]) -> None:
        self.table = table
        self.calls: List[str] = []

    def __call__(self, credential: str) -> Any:
        self.calls.append(credential)
        return self.table.get(credential)


@pytest.fixture
def engine() -> admit.Engine:
    return admit.Engine.from_toml(POLICY)


def decide(engine: admit.Engine, path: str, headers: Any, method: str = "GET") -> admit.Decision:
    return engine.decide(method, path, headers, now=NOW)


def no_secret(caplog: pytest.LogCaptureFixture, *more: Any) -> None:
    for r in caplog.records:
        text = r.getMessage() + (r.exc_text or "") + repr(r.args) + repr(r.__dict__)
        assert SECRET not in text, text
    for m in more:
        assert SECRET not in repr(m) and SECRET not in str(m)


def test_a_check_names_the_principal_and_the_policy_does_the_rest(engine: admit.Engine) -> None:
    check = Table({SECRET: {"id": "alice", "roles": ["writer"]}})
    engine.set_check("sessions", check)
    d = decide(engine, "/notes/alice/1", cookie(SECRET))
    assert (d.allow, d.reason, d.rule, d.constraints) == (True, "ok", "read-note", {"owner": "alice"})
    assert d.principal is not None
    assert (d.principal.id, d.principal.authenticator, d.principal.kind) == ("alice", "sessions", "delegated")
    assert d.principal.roles == ["writer", "reader"] and set(d.principal.scopes) == {"notes:read", "notes:write"}
    assert check.calls == [SECRET]  # the credential as sent, without the cookie's name
    # The prefix of a header source is taken off.
    assert decide(engine, "/notes/alice/1", {"Authorization": f"Session {SECRET}"}).allow
    assert check.calls == [SECRET, SECRET]
    # The owner rule: alice cannot read bob's note.
    d = decide(engine, "/notes/bob/1", cookie(SECRET))
    assert (d.allow, d.status, d.reason) == (False, 403, "insufficient_scope")
    # Nothing in the decision holds the credential.
    assert SECRET not in d.to_json() and SECRET not in repr(d)


def test_verdicts_as_dicts_or_typed(engine: admit.Engine) -> None:
    answers: Dict[str, Any] = {
        "typed": admit.Verdict.principal("root", scopes=["admin", "notes:read"]),
        "expired": {"refuse": "expired"},
        "revoked": admit.Verdict.refuse("revoked"),
        "refused": admit.Verdict.refuse(),
    }
    engine.set_check("sessions", answers.get)
    d = decide(engine, "/notes/bob/1", cookie("typed"))
    assert d.allow and d.constraints == {} and d.principal is not None and d.principal.id == "root"
    for sid, reason in (("expired", "expired"), ("revoked", "revoked"), ("refused", "invalid_credentials"),
                        ("unknown", "invalid_credentials")):
        d = decide(engine, "/feed", cookie(sid))
        # A refused session is a 401, never the guest fallback.
        assert (d.allow, d.status, d.reason, d.principal) == (False, 401, reason, None), sid
        assert 'error="invalid_token"' in (d.header("WWW-Authenticate") or "")


def test_no_check_is_called_where_the_credential_plays_no_part(engine: admit.Engine) -> None:
    check = Table({SECRET: {"id": "alice", "roles": ["writer"]}})
    engine.set_check("sessions", check)
    assert decide(engine, "/public", cookie(SECRET)).reason == "public"
    d = decide(engine, "/feed", {})
    assert d.allow and d.principal is not None and d.principal.id == "guest"
    assert decide(engine, "/nowhere", cookie(SECRET)).reason == "no_route"
    assert check.calls == []
    # A cookie session on a POST without a same-origin signal: refused before the check.
    d = decide(engine, "/notes", cookie(SECRET), method="POST")
    assert (d.allow, d.status, d.reason) == (False, 403, "origin_not_allowed")
    assert check.calls == []
    d = decide(engine, "/notes", {**cookie(SECRET), "Sec-Fetch-Site": "same-origin"}, method="POST")
    assert d.allow and d.rule == "write-note"
    assert check.calls == [SECRET]


@pytest.mark.parametrize(
    "answer, logged",
    [
        ({"id": "dave", "admin": True}, "a dict that is not a verdict"),
        ({"id": "carol", "roles": ["wirter"]}, None),  # an undefined role: the core refuses
        ({"id": "", "roles": ["reader"]}, None),
        ({"id": SECRET, "roles": "reader"}, "a dict that is not a verdict"),
        ({"refuse": "ok"}, "a dict that is not a verdict"),
        ({"id": "x", "roles": [b"reader"]}, "a dict that is not a verdict"),
        ("alice", "answered str, not a verdict"),
        (True, "answered bool, not a verdict"),
        (["alice"], "answered list, not a verdict"),
    ],
)
def test_an_answer_that_is_not_a_verdict_refuses(
    engine: admit.Engine, caplog: pytest.LogCaptureFixture, answer: Any, logged: Any
) -> None:
    engine.set_check("sessions", lambda credential: answer)
    with caplog.at_level(logging.INFO, logger="admit"):
        d = decide(engine, "/feed", cookie(SECRET))
    assert (d.allow, d.status, d.reason, d.principal) == (False, 401, "invalid_credentials", None)
    if logged:
        assert any(logged in r.getMessage() and r.name == "admit.checks" for r in caplog.records)
    no_secret(caplog)


def test_a_check_that_raises_refuses_and_the_log_holds_no_credential(
    engine: admit.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    sessions: Dict[str, Any] = {}

    def check(credential: str) -> Any:
        return sessions[credential]  # KeyError(credential)

    engine.set_check("sessions", check)
    with caplog.at_level(logging.INFO, logger="admit"):
        d = decide(engine, "/feed", cookie(SECRET))
    assert (d.allow, d.status, d.reason) == (False, 401, "invalid_credentials")
    [record] = [r for r in caplog.records if r.name == "admit.checks"]
    assert record.levelno == logging.ERROR
    assert "the check of sessions raised KeyError" in record.getMessage()
    assert "return sessions[credential]" in record.getMessage()  # where, not what
    no_secret(caplog)


def test_a_missing_check_refuses_and_warns(engine: admit.Engine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="admit"):
        d = decide(engine, "/feed", cookie(SECRET))
    assert (d.allow, d.status, d.reason) == (False, 401, "invalid_credentials")
    assert any("no check is registered for the delegated authenticator sessions" in r.getMessage()
               for r in caplog.records)
    no_secret(caplog)
    # Set, then removed.
    engine.set_check("sessions", lambda c: {"id": "alice"})
    assert decide(engine, "/feed", cookie(SECRET)).allow
    engine.set_check("sessions", None)
    assert engine.get_check("sessions") is None
    assert not decide(engine, "/feed", cookie(SECRET)).allow


def test_an_async_check_in_the_sync_decide_refuses(engine: admit.Engine, caplog: pytest.LogCaptureFixture) -> None:
    async def check(credential: str) -> Any:
        return {"id": "alice"}

    engine.set_check("sessions", check)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, logger="admit"):
        warnings.simplefilter("always")
        d = decide(engine, "/feed", cookie(SECRET))
        gc.collect()
    assert (d.allow, d.reason) == (False, "invalid_credentials")
    assert any("is async" in r.getMessage() and "decide_async" in r.getMessage() for r in caplog.records)
    assert not [w for w in caught if "never awaited" in str(w.message)]
    # decide_async awaits it.
    d = asyncio.run(engine.decide_async("GET", "/feed", cookie(SECRET), now=NOW))
    assert d.allow and d.principal is not None and d.principal.id == "alice"


def test_decide_async_awaits_async_checks_and_calls_sync_ones(engine: admit.Engine) -> None:
    seen: List[str] = []

    async def check(credential: str) -> Any:
        await asyncio.sleep(0)
        seen.append(credential)
        return admit.Verdict.principal("alice", roles=["writer"]) if credential == SECRET else None

    engine.set_check("sessions", check)

    async def main() -> List[admit.Decision]:
        return list(await asyncio.gather(*(
            engine.decide_async("GET", "/notes/alice/1", cookie(sid), now=NOW) for sid in (SECRET, "nope", SECRET)
        )))

    a, b, c = asyncio.run(main())
    assert a.allow and c.allow and (b.allow, b.reason) == (False, "invalid_credentials")
    assert sorted(seen) == sorted([SECRET, "nope", SECRET])
    engine.set_check("sessions", Table({SECRET: {"id": "bob", "roles": ["reader"]}}))
    d = asyncio.run(engine.decide_async("GET", "/notes/bob/2", cookie(SECRET), now=NOW))
    assert d.allow and d.constraints == {"owner": "bob"}
    # Without a credential to check, the same decision as decide.
    assert asyncio.run(engine.decide_async("GET", "/public", {}, now=NOW)).to_dict() == \
        engine.decide("GET", "/public", {}, now=NOW).to_dict()


def test_decide_step_hands_the_check_to_the_caller(engine: admit.Engine) -> None:
    step = engine.decide_step("GET", "/notes/alice/1", cookie(SECRET), now=NOW)
    assert isinstance(step, admit.PendingCheck)
    assert (step.authenticator, step.credential) == ("sessions", SECRET)
    assert SECRET not in repr(step) and SECRET not in str(step)
    assert repr(step) == 'PendingCheck(authenticator="sessions", credential=<hidden>)'
    assert step.engine is engine
    d = step.resume(admit.Verdict.principal("alice", roles=["reader"]))
    assert isinstance(d, admit.Decision) and d.allow and d.constraints == {"owner": "alice"}
    # The pending step is unchanged: another verdict gives another decision.
    d = step.resume(admit.Verdict.refuse("revoked"))
    assert isinstance(d, admit.Decision) and (d.allow, d.reason) == (False, "revoked")
    with pytest.raises(TypeError, match="verdict must be an admit.Verdict"):
        step.resume({"id": "alice"})  # type: ignore[arg-type]
    # No credential: decided at once.
    assert isinstance(engine.decide_step("GET", "/public", cookie(SECRET), now=NOW), admit.Decision)


def test_plain_decide_of_the_core_refuses_without_a_check(engine: admit.Engine) -> None:
    # The middleware's one-call entry point steps only for a policy with a delegated
    # authenticator; it never allows a credential no check saw.
    step = engine._decide_asgi({"type": "http", "method": "GET", "headers": [(b"cookie", b"sid=" + SECRET.encode())]},
                               "/notes/alice/1")
    assert isinstance(step, admit.PendingCheck)
    other = admit.Engine.from_toml('[[authenticators]]\ntype = "anonymous"\nid = "a"\nprincipal = "x"\n'
                                   '[[routes]]\npath = "/**"\n')
    d = other._decide_asgi({"type": "http", "method": "GET", "headers": []}, "/x")
    assert isinstance(d, admit.Decision) and d.allow
    assert isinstance(other.decide_step("GET", "/x"), admit.Decision)


def test_set_check_refuses_what_is_not_a_delegated_authenticator(engine: admit.Engine) -> None:
    with pytest.raises(admit.EngineError) as info:
        engine.set_check("nope", lambda c: None)
    assert info.value.kind == "unknown_authenticator"
    with pytest.raises(admit.EngineError) as info:
        engine.set_check("keys", lambda c: None)
    assert info.value.kind == "unsupported" and "delegated" in str(info.value)
    with pytest.raises(TypeError, match="check must be a callable"):
        engine.set_check("sessions", "not callable")  # type: ignore[arg-type]


def test_the_verdict_type() -> None:
    v = admit.Verdict.principal("alice", roles=["writer"], scopes=("notes:read",))
    assert (v.id, v.roles, v.scopes, v.refused) == ("alice", ["writer"], ["notes:read"], None)
    assert v.to_dict() == {"id": "alice", "roles": ["writer"], "scopes": ["notes:read"]}
    assert v == admit.Verdict.from_dict(v.to_dict())
    assert repr(v) == "Verdict.principal(\"alice\", roles=[\"writer\"], scopes=[\"notes:read\"])"
    r = admit.Verdict.refuse("expired")
    assert (r.id, r.refused, r.to_dict()) == (None, "expired", {"refuse": "expired"})
    assert admit.Verdict.refuse().refused == "invalid_credentials"
    with pytest.raises(ValueError, match="invalid_credentials"):
        admit.Verdict.refuse("ok")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        admit.Verdict.principal(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        admit.Verdict.principal("a", roles="writer")
    with pytest.raises(ValueError) as info:
        admit.Verdict.from_dict({"id": SECRET, "extra": 1})
    assert SECRET not in str(info.value)
    with pytest.raises(TypeError):
        admit.Verdict.from_dict([("id", "a")])  # type: ignore[arg-type]
