"""The shared vectors (tests/vectors/*.json) through the Python binding."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import admit
from conftest import ROOT, VECTORS, expand_value


def _files() -> List[Path]:
    files = sorted(VECTORS.glob("*.json"))
    assert files, f"no vectors in {VECTORS}"
    return files


def _cases() -> List[Tuple[str, Dict[str, Any], Any]]:
    out = []
    for f in _files():
        doc = expand_value(json.loads(f.read_text()))
        if "expect_load_error" in doc:
            out.append((f.name, doc, None))
            continue
        for case in doc["cases"]:
            out.append((f"{f.name} / {case['name']}", doc, case))
    return out


CASES = _cases()
_ENGINES: Dict[str, Any] = {}


def table_check(table: Dict[str, Any]) -> Callable[[str], Any]:
    """A vector's `checks` table as a host's check: the verdict under the credential as
    it is (the binding refuses what is not a verdict), None (refused) for a credential
    the table lacks."""

    def check(credential: str) -> Any:
        return table.get(credential)

    return check


def _engine(doc: Dict[str, Any]) -> admit.Engine:
    # The key sets, keys files and checks handed over after the load are part of what
    # the engine holds: two files with one policy and env but other sets need two engines.
    jwks, keys, checks = doc.get("jwks") or {}, doc.get("keys") or {}, doc.get("checks") or {}
    key = json.dumps([doc["policy"], doc.get("env") or {}, jwks, keys, checks], sort_keys=True)
    if key not in _ENGINES:
        engine = admit.Engine.from_file(ROOT / doc["policy"], env=doc.get("env") or {})
        for authenticator, text in jwks.items():
            engine.set_jwks(authenticator, text)
        for authenticator, text in keys.items():
            engine.set_keys(authenticator, text)
        for authenticator, table in checks.items():
            engine.set_check(authenticator, table_check(table))
        _ENGINES[key] = engine
    return _ENGINES[key]


def _subset(want: Any, got: Any) -> bool:
    if isinstance(want, dict) and isinstance(got, dict):
        return all(k in got and _subset(v, got[k]) for k, v in want.items())
    return bool(want == got)


def check_trace(want: Any, got: Any, place: str = "trace") -> List[str]:
    """A case's ``explain`` expectation against a trace (tests/README.md): dicts by the
    keys given, lists item by item with the same length, other values equal."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{place}: want a dict, got {got!r}"]
        return [e for k, v in want.items()
                for e in (check_trace(v, got[k], f"{place}.{k}") if k in got else [f"{place}.{k}: missing"])]
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [e for i, (w, g) in enumerate(zip(want, got)) for e in check_trace(w, g, f"{place}[{i}]")]
    return [] if want == got and type(want) is type(got) else [f"{place}: want {want!r}, got {got!r}"]


def check(expect: Dict[str, Any], got: Dict[str, Any]) -> List[str]:
    errors = []
    for k, want in expect.items():
        if k in ("allow", "status", "reason", "message", "body", "rule", "dry_run", "constraints"):
            if got.get(k) != want:
                errors.append(f"{k}: want {want!r}, got {got.get(k)!r}")
        elif k == "principal":
            g = got.get("principal")
            if want is None or g is None:
                if want != g:
                    errors.append(f"principal: want {want!r}, got {g!r}")
                continue
            for pk, pv in want.items():
                gv = g.get(pk)
                ok = _subset(pv, gv) if pk == "claims" else gv == pv
                if not ok:
                    errors.append(f"principal.{pk}: want {pv!r}, got {gv!r}")
        elif k == "headers":
            for n, v in want:
                if not any(h[0].lower() == n.lower() and h[1] == v for h in got["headers"]):
                    errors.append(f"header {n}: {v!r} missing from {got['headers']!r}")
        elif k == "absent_headers":
            for n in want:
                if any(h[0].lower() == n.lower() for h in got["headers"]):
                    errors.append(f"header {n} should be absent from {got['headers']!r}")
        else:
            errors.append(f"unknown expectation {k!r}")
    return errors


@pytest.mark.parametrize("name,doc,case", CASES, ids=[c[0] for c in CASES])
def test_vector(name: str, doc: Dict[str, Any], case: Any) -> None:
    if case is None:
        with pytest.raises(admit.PolicyError) as info:
            admit.Engine.from_file(ROOT / doc["policy"], env=doc.get("env") or {})
        assert doc["expect_load_error"] in str(info.value)
        assert info.value.errors and all("place" in e and "message" in e for e in info.value.errors)
        return
    engine = _engine(doc)
    req = case["request"]
    d = engine.decide(req["method"], req["path"], req.get("headers"), req.get("peer"), req["now"])
    got = d.to_dict()
    errors = check(case["expect"], got)
    assert not errors, "\n".join(errors)
    # The typed object and the dict agree, and both agree with the core's JSON.
    assert json.loads(d.to_json()) == got
    assert (d.allow, d.status, d.reason, d.message, d.body, d.rule, d.dry_run) == (
        got["allow"], got["status"], got["reason"], got["message"], got["body"], got["rule"], got["dry_run"]
    )
    assert [list(h) for h in d.headers] == got["headers"]
    if d.principal is not None:
        assert d.principal.to_dict() == got["principal"]
    if "explain" in case:
        # explain's decision is decide's; its trace holds what the case asserts.
        explained = engine.explain(req["method"], req["path"], req.get("headers"), req.get("peer"), req["now"])
        assert explained["decision"] == got
        errors = check_trace(case["explain"], explained["trace"])
        assert not errors, "\n".join(errors)
    if doc.get("checks"):
        # The async entry point and the step-by-step one decide the same.
        assert asyncio.run(engine.decide_async(req["method"], req["path"], req.get("headers"), req.get("peer"),
                                               req["now"])).to_dict() == got
        step = engine.decide_step(req["method"], req["path"], req.get("headers"), req.get("peer"), req["now"])
        while isinstance(step, admit.PendingCheck):
            answer = doc["checks"][step.authenticator].get(step.credential)
            try:
                verdict = admit.Verdict.from_dict(answer) if answer is not None else admit.Verdict.refuse()
            except ValueError:
                verdict = admit.Verdict.refuse()
            step = step.resume(verdict)
        assert step.to_dict() == got


def test_every_vector_file_ran() -> None:
    assert len({c[0].split(" / ")[0] for c in CASES}) == len(_files())
