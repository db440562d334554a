"""Decisions logged through Python's logging (logger ``admit.decisions``, a child of
``admit``): denials at INFO, dry-run refusals at WARNING, each with method, path,
reason, rule, principal id and authenticator, in the message and in ``extra`` fields;
never a credential, a header value or the query string; nothing for allowed requests,
and no work when the level is off."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional

import pytest

import admit
from admit.fastapi import AdmitMiddleware

KEY = "test-only-logging-key-7f3a9c"  # a member's key: reads, never writes
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4tdGV4dCJ9.c2lnbmF0dXJlLXRleHQ"
QUERY_SECRET = "query-secret-5d1e"
POLICY = """
realm = "log-test"
scopes = ["notes:read", "notes:write"]
%s

[roles.member]
scopes = ["notes:read"]

[[authenticators]]
type = "api_key"
id = "member-keys"
header = "X-API-Key"
[[authenticators.keys]]
id = "lena"
sha256 = "%s"
roles = ["member"]

[[routes]]
id = "read-notes"
methods = ["GET"]
path = "/notes"
require = ["notes:read"]

[[routes]]
id = "write-notes"
methods = ["POST"]
path = "/notes"
require = ["notes:write"]
"""


def engine(dry_run: bool = False) -> admit.Engine:
    return admit.Engine.from_toml(POLICY % ("dry_run = true" if dry_run else "", admit.hash_key(KEY)))


def call(mw: Any, method: str, path: str, headers: List[Any], query: bytes = b"") -> List[Dict[str, Any]]:
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(m: Dict[str, Any]) -> None:
        sent.append(m)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode() + b"?" + query,
             "root_path": "", "query_string": query, "headers": headers, "client": ("10.1.2.3", 5000)}
    asyncio.run(mw(scope, receive, send))
    return sent


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def every_text(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record: message, args, every attribute."""
    return " ".join([record.getMessage(), repr(record.args), repr(vars(record))])


SECRETS = [KEY, TOKEN, TOKEN.split(".")[1], TOKEN.split(".")[2], QUERY_SECRET, admit.hash_key(KEY)]

AS_SENT = [
    ("GET", "/notes", [(b"x-api-key", b"wrong-" + KEY.encode())]),  # a wrong key
    ("GET", "/notes", [(b"authorization", b"Bearer " + TOKEN.encode())]),  # a bearer token, no key
    ("POST", "/notes", [(b"x-api-key", KEY.encode())]),  # a good key without the scope
    ("GET", "/notes", [(b"x-api-key", KEY.encode()), (b"x-api-key", KEY.encode())]),  # two keys: malformed
]


def logged(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "admit.decisions"]


def test_denials_are_logged_at_info_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    mw = AdmitMiddleware(ok_app, engine=engine())
    for method, path, headers in AS_SENT:
        sent = call(mw, method, path, headers, query=b"token=" + QUERY_SECRET.encode())
        assert sent[0]["status"] in (400, 401, 403)
    records = logged(caplog)
    assert [r.levelno for r in records] == [logging.INFO] * len(AS_SENT)
    assert [r.admit_reason for r in records] == [  # type: ignore[attr-defined]
        "invalid_credentials", "missing_credentials", "insufficient_scope", "malformed_request"]
    for r in records:
        text = every_text(r)
        for secret in SECRETS:
            assert secret not in text, (secret, text)

    # The refusal of an authenticated caller names who and through which authenticator.
    scope_denial = records[2]
    msg = scope_denial.getMessage()
    assert msg.startswith("denied POST /notes: insufficient_scope 403")
    for part in ("rule write-notes", "principal lena", "authenticator member-keys"):
        assert part in msg, msg
    fields = {k: v for k, v in vars(scope_denial).items() if k.startswith("admit_")}
    assert fields == {
        "admit_method": "POST", "admit_path": "/notes", "admit_status": 403, "admit_reason": "insufficient_scope",
        "admit_message": "insufficient scope", "admit_rule": "write-notes", "admit_principal": "lena",
        "admit_authenticator": "member-keys", "admit_dry_run": False,
    }
    # No principal: "-" in the message, None in the fields.
    assert "principal -, authenticator -" in records[0].getMessage()
    assert records[0].admit_principal is None  # type: ignore[attr-defined]
    assert records[0].admit_rule == "read-notes"  # type: ignore[attr-defined]


def test_allowed_requests_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="admit")
    mw = AdmitMiddleware(ok_app, engine=engine())
    assert call(mw, "GET", "/notes", [(b"x-api-key", KEY.encode())])[0]["status"] == 200
    assert logged(caplog) == []


def test_dry_run_refusals_are_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    mw = AdmitMiddleware(ok_app, engine=engine(dry_run=True))
    for method, path, headers in AS_SENT:
        assert call(mw, method, path, headers, query=b"k=" + QUERY_SECRET.encode())[0]["status"] == 200  # passes
    assert call(mw, "GET", "/notes", [(b"x-api-key", KEY.encode())])[0]["status"] == 200
    records = logged(caplog)
    assert [r.levelno for r in records] == [logging.WARNING] * len(AS_SENT)  # the allowed one is not logged
    msg = records[2].getMessage()
    assert msg.startswith("dry run, would deny POST /notes: insufficient_scope 403"), msg
    assert "principal lena" in msg and "authenticator member-keys" in msg and "rule write-notes" in msg
    assert all(r.admit_dry_run for r in records)  # type: ignore[attr-defined]
    for r in records:
        for secret in SECRETS:
            assert secret not in every_text(r)


def test_nothing_is_built_when_the_level_is_off(caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from admit.fastapi import _middleware

    calls: List[Optional[str]] = []
    real = _middleware.log_decision

    def counting(level: int, scope: Any, path: Optional[str], decision: admit.Decision) -> None:
        calls.append(path)
        real(level, scope, path, decision)

    monkeypatch.setattr(_middleware, "log_decision", counting)
    caplog.set_level(logging.ERROR, logger="admit")
    call(AdmitMiddleware(ok_app, engine=engine()), "GET", "/notes", [])
    call(AdmitMiddleware(ok_app, engine=engine(dry_run=True)), "GET", "/notes", [])
    assert calls == [] and logged(caplog) == []
    caplog.set_level(logging.WARNING, logger="admit")  # dry-run refusals only
    call(AdmitMiddleware(ok_app, engine=engine()), "GET", "/notes", [])
    call(AdmitMiddleware(ok_app, engine=engine(dry_run=True)), "GET", "/notes", [])
    assert calls == ["/notes"] and [r.levelno for r in logged(caplog)] == [logging.WARNING]


def test_a_path_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    mw = AdmitMiddleware(ok_app, engine=engine())
    assert call(mw, "GET", "/notes\nINFO admit forged line", [])[0]["status"] == 400
    (record,) = logged(caplog)
    assert "\n" not in record.getMessage() and "\\n" in record.getMessage()
    assert record.admit_path == "/notes\nINFO admit forged line"  # type: ignore[attr-defined]
