"""Keys files (``keys = { file = ... }``, issue 14): ``Engine.set_keys``,
``Engine.keys_files``, and the guard watching the files under a real uvicorn.

FetchML's policy (examples/policies/fetchml.toml) and its keys file are copied into a
temporary folder, where the test rewrites the keys file as an operator would: bob's key
revoked, frank's added. Orderings are observed through the guard's status, never
timings."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List

import httpx
import pytest
from fastapi import FastAPI, Request

import admit
from admit.fastapi import Admit
from conftest import FIXTURES, POLICIES, WAIT, LiveServer, eventually

BOB = {"X-API-Key": "demo-researcher-key"}
FRANK = {"X-API-Key": "demo-frank-key"}
ALICE = {"X-API-Key": "demo-admin-key"}
KEYS = (POLICIES / "fetchml-keys.toml").read_text()
ROTATED = (FIXTURES / "fetchml-keys-rotated.toml").read_text()  # bob revoked, frank added
BOB_DIGEST = admit.hash_key("demo-researcher-key")
FRANK_DIGEST = admit.hash_key("demo-frank-key")
# A file the engine refuses: frank's entry names a role the policy lacks. It holds
# digests, which must never reach a log line or an error.
INVALID = ROTATED.replace('roles = ["researcher"]\n', 'roles = ["no-such-role"]\n')
NOT_TOML = f'[[keys]]\nid = "frank"\nsha256 = "{FRANK_DIGEST}\nroles = [\n'


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """FetchML's policy and keys file, in a folder of their own."""
    (tmp_path / "fetchml.toml").write_text((POLICIES / "fetchml.toml").read_text())
    (tmp_path / "fetchml-keys.toml").write_text(KEYS)
    return tmp_path / "fetchml.toml"


def rewrite(path: Path, text: str, how: str = "rename") -> None:
    """As an operator's tools do: a new file renamed over the old one (``admit revoke``,
    editors), or the same file rewritten in place."""
    if how == "rename":
        tmp = path.with_name(path.name + ".new")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        with open(path, "w") as fh:
            fh.write(text)


def decide(engine: admit.Engine, headers: Dict[str, str]) -> admit.Decision:
    return engine.decide("GET", "/api/v1/jobs", headers)


# -- the engine ------------------------------------------------------------------------------------


def test_keys_files_are_absolute_paths_beside_the_policy(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = policy.parent
    monkeypatch.chdir(folder)
    e = admit.Engine.from_file("fetchml.toml", env={})  # a relative policy path
    assert e.keys_files() == [("fetchml-keys", str(folder / "fetchml-keys.toml"))]
    monkeypatch.chdir("/")  # where the process is now does not change what the load read
    assert e.keys_files() == [("fetchml-keys", str(folder / "fetchml-keys.toml"))]
    # From text: relative to base_dir; an env reference may name the path, absolute or not.
    text = (POLICIES / "fetchml.toml").read_text()
    assert admit.Engine.from_toml(text, env={}, base_dir=folder).keys_files() == [
        ("fetchml-keys", str(folder / "fetchml-keys.toml"))
    ]
    by_env = text.replace('keys = { file = "fetchml-keys.toml" }', 'keys = { env = "FETCHML_KEYS_FILE" }')
    assert by_env != text
    e = admit.Engine.from_toml(by_env, env={"FETCHML_KEYS_FILE": str(folder / "fetchml-keys.toml")})
    assert e.keys_files() == [("fetchml-keys", str(folder / "fetchml-keys.toml"))]
    # Policies without keys files: nothing to watch.
    assert admit.Engine.from_file(POLICIES / "model-registry.toml", env={}).keys_files() == []


def test_set_keys_swaps_the_whole_set(policy: Path) -> None:
    e = admit.Engine.from_file(policy, env={})
    assert decide(e, BOB).allow and decide(e, FRANK).reason == "invalid_credentials"
    assert e.set_keys("fetchml-keys", ROTATED) == 3
    assert decide(e, BOB).reason == "revoked" and decide(e, FRANK).allow
    assert decide(e, ALICE).allow
    # bytes and JSON are keys files too
    assert e.set_keys("fetchml-keys", KEYS.encode()) == 5
    assert decide(e, BOB).allow
    as_json = json.dumps({"keys": [{"id": "frank", "sha256": FRANK_DIGEST, "roles": ["researcher"]}]})
    assert e.set_keys("fetchml-keys", as_json) == 1
    assert decide(e, FRANK).allow and decide(e, BOB).reason == "invalid_credentials"


@pytest.mark.parametrize("bad", [INVALID, NOT_TOML, '[[keys]]\nid = "x"\n', '{"keys": [1]}'])
def test_set_keys_refuses_a_bad_file_keeps_the_old_keys_and_quotes_none_of_it(policy: Path, bad: str) -> None:
    e = admit.Engine.from_file(policy, env={})
    with pytest.raises(admit.EngineError) as info:
        e.set_keys("fetchml-keys", bad)
    assert info.value.kind == "invalid"
    assert "old keys stay" in str(info.value)
    assert FRANK_DIGEST not in str(info.value) and BOB_DIGEST not in str(info.value)
    assert decide(e, BOB).allow and decide(e, FRANK).reason == "invalid_credentials"


def test_set_keys_argument_errors(policy: Path) -> None:
    e = admit.Engine.from_file(policy, env={})
    with pytest.raises(admit.EngineError) as info:
        e.set_keys("nope", ROTATED)
    assert info.value.kind == "unknown_authenticator"
    clerk = admit.Engine.from_file(
        POLICIES / "skillmeat.toml",
        env={"SKILLMEAT_AUTH_ENABLED": "true", "CLERK_ISSUER": "https://i.test", "CLERK_JWKS_URL": "https://i.test/j"},
    )
    with pytest.raises(admit.EngineError) as info:
        clerk.set_keys("clerk", ROTATED)
    assert info.value.kind == "unsupported"
    with pytest.raises(TypeError, match="keys_file must be str or bytes"):
        e.set_keys("fetchml-keys", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not valid UTF-8"):
        e.set_keys("fetchml-keys", b"\xff\xfe")


# -- the guard, under uvicorn ---------------------------------------------------------------------------


class Live(LiveServer):
    def __init__(self, app: Any) -> None:
        super().__init__(app, lifespan="on")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=WAIT, **kw)


def make_app(policy: Path) -> "tuple[FastAPI, Admit]":
    guard = Admit(admit.Engine.from_file(policy, env={}), watch_interval=0.05)
    app = FastAPI()
    guard.install(app)

    @app.get("/api/v1/jobs")
    async def jobs(request: Request) -> Dict[str, Any]:
        return {"caller": request.state.principal.id}

    return app, guard


def keys_status(guard: Admit) -> Dict[str, Any]:
    (status,) = guard.status()["keys_files"]
    return status


@pytest.mark.parametrize("how", ["rename", "in-place"])
def test_revocation_applies_on_the_next_request_after_the_file_changes(
    policy: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    keys_file = policy.parent / "fetchml-keys.toml"
    app, guard = make_app(policy)
    with Live(app) as live:
        assert live.get("/api/v1/jobs", headers=BOB).json() == {"caller": "bob"}
        assert live.get("/api/v1/jobs", headers=FRANK).status_code == 401
        assert keys_status(guard)["keys"] == 5 and keys_status(guard)["changes"] == 0
        rewrite(keys_file, ROTATED, how)  # the admin revokes bob's key and issues frank one
        eventually(lambda: keys_status(guard)["changes"] == 1, "the watcher applied the new file")
        r = live.get("/api/v1/jobs", headers=BOB)
        assert r.status_code == 401 and r.json() == {"error": "revoked", "message": "key revoked"}
        assert live.get("/api/v1/jobs", headers=FRANK).json() == {"caller": "frank"}
        assert live.get("/api/v1/jobs", headers=ALICE).json() == {"caller": "alice"}
        status = keys_status(guard)
        assert status["keys"] == 3 and status["last_error"] is None and status["path"] == str(keys_file)
    replaced = [r.getMessage() for r in caplog.records if r.name == "admit.keys" and r.levelno == logging.INFO]
    assert any(f"keys of fetchml-keys replaced from {keys_file} (3 keys)" in m for m in replaced)
    assert FRANK_DIGEST not in caplog.text and BOB_DIGEST not in caplog.text


@pytest.mark.parametrize("bad", ["invalid", "not-toml", "missing", "not-utf8", "empty"])
def test_a_bad_keys_file_keeps_the_old_keys_and_the_log_holds_none_of_it(
    policy: Path, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="admit")
    keys_file = policy.parent / "fetchml-keys.toml"
    app, guard = make_app(policy)
    with Live(app) as live:
        assert live.get("/api/v1/jobs", headers=BOB).status_code == 200
        if bad == "invalid":
            rewrite(keys_file, INVALID)
        elif bad == "not-toml":
            rewrite(keys_file, NOT_TOML)
        elif bad == "missing":
            keys_file.unlink()
        elif bad == "empty":  # what an in-place rewrite shows between truncating and writing
            keys_file.write_text("")
        else:
            # Renamed over the old file in one step: written in place, the watcher could
            # also see the empty file between truncating and writing (and rightly log
            # that version too).
            tmp = keys_file.with_name(keys_file.name + ".new")
            tmp.write_bytes(ROTATED.encode() + b"\xff")
            os.replace(tmp, keys_file)
        eventually(lambda: keys_status(guard)["last_error"] is not None, "the watcher refused the file")
        # The old set answers: bob still passes, frank (only in the refused file) does not.
        assert live.get("/api/v1/jobs", headers=BOB).json() == {"caller": "bob"}
        assert live.get("/api/v1/jobs", headers=FRANK).status_code == 401
        assert keys_status(guard)["keys"] == 5 and keys_status(guard)["changes"] == 0
        seen = len([r for r in caplog.records if r.name == "admit.keys" and r.levelno == logging.WARNING])
        # The watcher keeps checking; it logs a refused file once, not on every check.
        checks = keys_status(guard)["last_check"]
        eventually(lambda: keys_status(guard)["last_check"] > checks, "another check of the file")
        warnings = [r.getMessage() for r in caplog.records if r.name == "admit.keys" and r.levelno == logging.WARNING]
        assert len(warnings) == seen == 1
        assert f"keys file of fetchml-keys ({keys_file}) not applied, the old keys stay" in warnings[0]
        # A good file afterwards is taken.
        rewrite(keys_file, ROTATED)
        eventually(lambda: keys_status(guard)["changes"] == 1, "the watcher applied the fixed file")
        assert live.get("/api/v1/jobs", headers=FRANK).json() == {"caller": "frank"}
        assert keys_status(guard)["last_error"] is None
    # No digest, key id of the refused file or line of it in the log or the status.
    for text in (caplog.text, json.dumps(guard.status())):
        assert FRANK_DIGEST not in text and BOB_DIGEST not in text and "sha256 =" not in text


def test_reload_keys_applies_a_change_now_without_a_lifespan(policy: Path) -> None:
    keys_file = policy.parent / "fetchml-keys.toml"
    engine = admit.Engine.from_file(policy, env={})
    guard = Admit(engine)  # nothing runs in the background
    assert guard.reload_keys() == {"fetchml-keys": True}  # the first check reads the file
    assert guard.reload_keys() == {"fetchml-keys": None}  # unchanged
    rewrite(keys_file, ROTATED)
    assert guard.reload_keys() == {"fetchml-keys": True}
    assert decide(engine, BOB).reason == "revoked" and decide(engine, FRANK).allow
    rewrite(keys_file, INVALID)
    assert guard.reload_keys() == {"fetchml-keys": False}
    assert decide(engine, FRANK).allow  # the old keys stay
    assert guard.reload_keys() == {"fetchml-keys": None}


def test_a_reload_watches_the_new_policys_keys_file(policy: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other") / "fetchml.toml"
    other.write_text(policy.read_text())
    (other.parent / "fetchml-keys.toml").write_text(KEYS)
    app, guard = make_app(policy)
    with Live(app) as live:
        guard.reload(admit.Engine.from_file(other, env={}))
        assert [w.path for w in guard.keys_files] == [str(other.parent / "fetchml-keys.toml")]
        eventually(lambda: keys_status(guard)["keys"] == 5, "the new policy's keys file read")
        # The old policy's file no longer counts; the new one does.
        rewrite(policy.parent / "fetchml-keys.toml", ROTATED)
        rewrite(other.parent / "fetchml-keys.toml", ROTATED.replace("revoked = true\n", ""))
        eventually(lambda: keys_status(guard)["changes"] == 1, "the new policy's keys file applied")
        assert live.get("/api/v1/jobs", headers=BOB).json() == {"caller": "bob"}
        assert live.get("/api/v1/jobs", headers=FRANK).json() == {"caller": "frank"}
