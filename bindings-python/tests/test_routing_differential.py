"""The guard decides on the path Starlette routes on: a differential test over real
uvicorn (both HTTP parsers, ``--http h11`` and ``--http httptools``).

The security invariant (issue "Security hardening", section 1): for any request
target, either admit refuses it, or the rule admit matched and the path parameters it
bound are exactly those of the handler Starlette runs. tests/routing_app.py reports, from
each handler, its name, its parameters and the decision admit made; this test sends a
family of request targets, byte for byte over raw sockets (no client library to
normalise them), with the credentials of four principals (none, an ordinary user, the
owner of one resource, an admin), and fails on any request that reached a handler
under a rule other than the handler's (``routing_app.EXPECTED``) or with an owner
constraint other than the handler's ``owner`` parameter.

The self-checks at the end run the same test against the middleware's old path
(``raw_path``; ``ROUTING_APP_LEGACY=1``) and against the relaxed ``[paths]`` readings,
and assert that the mismatches they allow are found.
"""

from __future__ import annotations

import json
from urllib.parse import unquote
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import pytest

from rawhttp import Response, Uvicorn, raw_get
from routing_app import EXPECTED, OWNER_PARAM

BACKENDS = ["h11", "httptools"]

#: principal -> its X-API-Key (tests/routing/policy.toml): none, an ordinary user, the
#: owner of bob's jobs, an admin.
PRINCIPALS: Dict[str, Optional[str]] = {
    "none": None,
    "uma": "test-only-routing-key-uma",
    "bob": "test-only-routing-key-bob",
    "alice": "test-only-routing-key-alice",
}

#: the main app's base paths, one or more for each handler (tests/routing_app.py).
BASES = [
    "/health",
    "/api/admin/users",
    "/api/v1/admin/users",
    "/api/v1/admin/files/report.txt",
    "/api/v1/jobs",
    "/api/v1/jobs/bob/7",
    "/api/v1/jobs/alice/3",
    "/api/items/42",
    "/static/public/hello.txt",
    "/static/private/secret.txt",
    "/sub/admin/users",
    "/sub/jobs/bob",
    "/sub/health",
    # the roots of the subtrees, and the catch-alls
    "/api",
    "/api/admin",
    "/api/v1/admin",
    "/api/other",
    "/static",
    "/sub/admin",
    "/sub/other",
    "/other/x",
]

#: targets from the issue's reproductions, sent as they are.
KNOWN = [
    "/api/admin%2Fusers",
    "/api%2Fadmin/users",
    "/api%2Fadmin%2Fusers",
    "/api/v1/admin/files/../../../../health",
    "/api/v1/admin/files/%2e%2e/%2e%2e/%2e%2e/%2e%2e/health",
    "/api/v1/admin/files/..%2F..%2F..%2F..%2Fhealth",
    "/api/v1/jobs/alice/..",
    "/api/v1/jobs/alice/%2e%2e",
    "/api/v1/jobs/bob/..%2F..%2Falice%2F3",
    "/api/v1/jobs/bob%2F..%2Falice/3",
    "/static/public/..%2Fprivate/secret.txt",
    "/static/public/%2e%2e/private/secret.txt",
    "/static/public/../private/secret.txt",
    "/static//private/secret.txt",
    "/static/public%2F..%2Fprivate%2Fsecret.txt",
    "/api/admin#/../items/1",
    "/api/items/1#/../../admin/users",
    "/api/v1/jobs/bob/7#/../../alice/3",
    "/health#/../api/admin/users",
    "/sub/admin%2Fusers",
    "/sub%2Fadmin/users",
    "/sub/jobs/bob%2F..%2Falice",
    "/openapi.json",
    "/openapi%2Ejson",
    "/docs",
    "/docs/..%2Fapi%2Fadmin%2Fusers",
]

SLASH_REPLACEMENTS = ["%2F", "%2f", "%252F", "%5C", "\\", "%C0%AF"]
AT_SLASH = ["/./", "/../", "/%2e%2e/", "/.%2E/", "//", "/%2e/", "/%C0%AE%C0%AE/"]
SEGMENT_END = [";x", "#", "#/../x", "%00", "%23", "?", "%3F", "?/../x", "%C3%A9", "\u00e9", "%25", "%2525", "%20"]
TRAILING = ["/", "/.", "/..", "/%2e%2e", "//", "?x=1", "#x"]


def family(base: str) -> Set[str]:
    """The request targets made from one base path (issue section 1's list)."""
    out = {base}
    slashes = [i for i, c in enumerate(base) if c == "/"]
    for i in slashes:
        if i > 0:
            out.update(base[:i] + r + base[i + 1 :] for r in SLASH_REPLACEMENTS)
            out.update(base[:i] + s + base[i:] for s in SEGMENT_END)
        out.update(base[:i] + a + base[i + 1 :] for a in AT_SLASH)
    out.update(base + s for s in SEGMENT_END)
    out.update(base + t for t in TRAILING)
    for n, i in enumerate(slashes):
        end = slashes[n + 1] if n + 1 < len(slashes) else len(base)
        seg = base[i + 1 : end]
        if not seg:
            continue
        first = seg[0]
        out.add(base[: i + 1] + seg.upper() + base[end:])  # case
        out.add(base[: i + 1] + f"%{ord(first):02X}" + seg[1:] + base[end:])  # %61dmin
        out.add(base[: i + 1] + f"%{ord(first):02x}" + seg[1:] + base[end:])
        out.add(base[: i + 1] + f"%25{ord(first):02X}" + seg[1:] + base[end:])  # %2561dmin
    return out


def targets(bases: Iterable[str], known: Iterable[str] = ()) -> List[bytes]:
    every: Set[str] = set(known)
    for b in bases:
        every |= family(b)
    return sorted(t.encode("utf-8") for t in every)


# -- the check ------------------------------------------------------------------------


@dataclass
class Ran:
    """A handler that ran, with what it reported."""

    handler: str
    params: Dict[str, str]
    rule: Optional[str]
    owner: Optional[str]  # the decision's owner constraint


def what_ran(resp: Response) -> Optional[Ran]:
    if resp.status is None:
        return None
    if resp.body.startswith(b"STATIC "):  # StaticFiles: the file says which, headers the decision
        which = "static:private" if resp.body.startswith(b"STATIC private") else "static:public"
        return Ran(which, {}, resp.headers.get("x-rule") or None, resp.headers.get("x-owner") or None)
    try:
        doc = json.loads(resp.body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or "handler" not in doc:
        return None
    constraints = doc.get("constraints") or {}
    return Ran(doc["handler"], doc.get("params") or {}, doc.get("rule"), constraints.get("owner"))


@dataclass
class Mismatch:
    target: bytes
    principal: str
    ran: Ran

    def __str__(self) -> str:
        r = self.ran
        return (
            f"{self.target!r} as {self.principal}: handler {r.handler}{r.params} expects rule "
            f"{EXPECTED[r.handler]!r}, admit matched {r.rule!r} with owner constraint {r.owner!r}"
        )


@dataclass
class Outcome:
    sent: int = 0
    handled: int = 0
    statuses: Dict[Optional[int], int] = field(default_factory=dict)
    handlers: Set[str] = field(default_factory=set)
    mismatches: List[Mismatch] = field(default_factory=list)

    def has(self, target: str, principal: str, handler: str) -> bool:
        return any(
            m.target == target.encode() and m.principal == principal and m.ran.handler == handler
            for m in self.mismatches
        )


def mismatch(ran: Ran) -> bool:
    if ran.rule != EXPECTED[ran.handler]:
        return True
    return ran.handler in OWNER_PARAM and ran.owner is not None and ran.owner != ran.params.get("owner")


def run(server: Uvicorn, sent: Sequence[bytes], principals: Iterable[str] = PRINCIPALS) -> Outcome:
    jobs = [(t, p) for t in sent for p in principals]

    def one(job: Tuple[bytes, str]) -> Tuple[bytes, str, Response]:
        t, p = job
        key = PRINCIPALS[p]
        return t, p, raw_get(server.host, server.port, t, [("X-API-Key", key)] if key else [])

    out = Outcome()
    with ThreadPoolExecutor(max_workers=6) as pool:
        for t, p, resp in pool.map(one, jobs):
            out.sent += 1
            out.statuses[resp.status] = out.statuses.get(resp.status, 0) + 1
            ran = what_ran(resp)
            if ran is None:
                continue
            out.handled += 1
            out.handlers.add(ran.handler)
            if mismatch(ran):
                out.mismatches.append(Mismatch(t, p, ran))
    return out


def assert_clean(out: Outcome) -> None:
    shown = "\n".join(str(m) for m in out.mismatches[:40])
    assert not out.mismatches, f"{len(out.mismatches)} of {out.sent} requests ran a handler under another rule:\n{shown}"


# -- the differential test ------------------------------------------------------------

MAIN = targets(BASES, KNOWN)

#: FastAPI(root_path="/jobs"): the prefixed paths, the same paths without the prefix
#: (a proxy that strips it: Starlette then routes the whole path), and near misses.
ROOT_BASES = [
    "/jobs/health",
    "/jobs/api/v1/admin/users",
    "/jobs/api/v1/admin/files/report.txt",
    "/jobs/api/v1/jobs/bob/7",
    "/jobs/api/items/42",
    "/jobs/static/private/secret.txt",
    "/jobs/sub/admin/users",
    "/api/v1/admin/users",
    "/api/v1/jobs/bob/7",
]
ROOT_KNOWN = ["/jobs", "/jobs/", "/jobsx/api/v1/admin/users", "/jobs%2Fapi/v1/admin/users", "/jobs/jobs/api/admin/users"]
ROOT = targets(ROOT_BASES, ROOT_KNOWN)

#: uvicorn --root-path /svc: clients send the path without the prefix (the proxy strips
#: it; uvicorn puts it back into scope["path"]); a few send it anyway.
SVC_BASES = [
    "/health",
    "/api/admin/users",
    "/api/v1/admin/files/report.txt",
    "/api/v1/jobs/bob/7",
    "/static/private/secret.txt",
    "/sub/admin/users",
    "/svc/api/admin/users",
]
SVC = targets(SVC_BASES, ["/api/admin%2Fusers", "/api/v1/admin/files/../../../../health"])

VARIANTS = {
    "main": ("app", (), MAIN),
    "fastapi-root-path": ("root_app", (), ROOT),
    "outer-guard-root-path": ("outer_root_app", (), ROOT),
    "uvicorn-root-path": ("app", ("--root-path", "/svc"), SVC),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_admit_decides_the_route_starlette_runs(backend: str, variant: str) -> None:
    app, args, sent = VARIANTS[variant]
    with Uvicorn(app, backend, *args) as server:
        out = run(server, sent)
    assert_clean(out)
    # Handlers ran (a test whose every request is refused proves nothing), and the core
    # refused what routers read differently.
    assert out.handled > out.sent // 5 and out.statuses.get(400, 0) > 0, out.statuses
    if variant == "main":
        assert out.handlers == set(EXPECTED), set(EXPECTED) - out.handlers  # every handler was reached


def test_the_issues_reproductions_are_refused_or_decided_right() -> None:
    """The targets of the issue, one by one, over h11 (which keeps `#` in the path)."""
    with Uvicorn("app", "h11") as server:
        def get(target: str, who: str = "uma") -> Response:
            key = PRINCIPALS[who]
            return raw_get(server.host, server.port, target.encode(), [("X-API-Key", key)] if key else [])

        # Decoded %2F: the admin handler runs, so admit decides the admin rule.
        r = get("/api/admin%2Fusers")
        assert r.status == 403, r
        r = get("/api/admin%2Fusers", "alice")
        assert r.status == 200 and json.loads(r.body)["rule"] == "admin"
        # Through StaticFiles.
        assert get("/static/public/..%2Fprivate/secret.txt").status == 400
        assert get("/static/private%2Fsecret.txt").status == 403
        # `#` in the target (h11 keeps it in the path): the router sees `/api/admin#...`.
        r = get("/api/admin#/../items/1")
        assert r.status == 400 and b"`.` or `..`" in r.body, r
        # Dot segments: Starlette does not resolve them, so admit refuses them.
        assert get("/api/v1/jobs/alice/..", "bob").status == 400
        assert get("/api/v1/admin/files/../../../../health", "none").status == 400
        # Owner scope holds.
        r = get("/api/v1/jobs/bob/7", "bob")
        assert r.status == 200 and json.loads(r.body)["constraints"] == {"owner": "bob"}
        assert get("/api/v1/jobs/alice/3", "bob").status == 403
        # The query string plays no part.
        r = get("/api/admin/users?x=/../../health", "uma")
        assert r.status == 403


def test_fastapi_root_path_and_sub_app_guards() -> None:
    with Uvicorn("root_app", "h11") as server:
        def get(target: str, who: str) -> Response:
            key = PRINCIPALS[who]
            return raw_get(server.host, server.port, target.encode(), [("X-API-Key", key)] if key else [])

        assert get("/jobs/api/v1/admin/users", "uma").status == 403
        r = get("/jobs/api/v1/admin/users", "alice")
        assert r.status == 200 and json.loads(r.body)["rule"] == "v1-admin"
        assert get("/jobs/health", "none").status == 200
        # The root_path itself: Starlette's route path is "", decided as "/" (the
        # public catch-all); Starlette redirects it to /jobs/.
        assert get("/jobs", "none").status == 307
        assert get("/jobs/sub/admin/users", "uma").status == 403
        r = get("/jobs/sub/admin/users", "alice")
        assert r.status == 200 and json.loads(r.body)["rule"] == "sub-admin"
        # /docs is open (open_paths) at its route path.
        assert get("/jobs/docs", "none").status == 200


# -- self-checks: the test catches what it is for ---------------------------------------


def test_self_check_the_old_middleware_is_caught() -> None:
    """The middleware's old path (raw_path, as the server gives it, with the query) with
    today's core: the root path and the mounted sub-app's own guard decide prefixed
    paths no specific rule expects, and land on the catch-alls."""
    legacy = {"ROUTING_APP_LEGACY": "1"}
    with Uvicorn("root_app", "h11", env=legacy) as server:
        out = run(server, ROOT)
    assert out.mismatches, "the differential test did not catch the old middleware under FastAPI(root_path=...)"
    assert out.has("/jobs/api/v1/admin/users", "none", "v1_admin_users")  # admin handler, public rule
    with Uvicorn("app", "httptools", env=legacy) as server:
        out = run(server, targets(["/sub/admin/users", "/sub/jobs/bob"]))
    assert out.has("/sub/admin/users", "none", "sub_admin_users")
    with Uvicorn("app", "h11", "--root-path", "/svc", env=legacy) as server:
        out = run(server, targets(["/api/admin/users"]))
    assert out.has("/api/admin/users", "uma", "admin_users")


def test_self_check_the_old_middleware_with_the_old_path_reading_is_caught() -> None:
    """raw_path with the old core's reading of paths (every [paths] relaxation): the
    issue's reproductions are bypasses, and the test finds them."""
    env = {"ROUTING_APP_LEGACY": "1", "ROUTING_APP_PATHS": "lenient"}
    with Uvicorn("app", "h11", env=env) as server:
        out = run(server, MAIN)
    assert out.has("/api/admin%2Fusers", "uma", "admin_users")
    assert out.has("/static/public%2F..%2Fprivate%2Fsecret.txt", "none", "static:private")
    assert out.has("/api/v1/admin/files/../../../../health", "none", "v1_admin_files")
    assert out.has("/api/v1/jobs/alice/..", "bob", "read_job")  # owner=alice, job=".."
    # h11 keeps `#` in the path: Starlette reads owner "alice#", admit cut the target.
    assert out.has("/api/v1/jobs/alice#/3", "uma", "read_job")


#: the rules of tests/routing/policy.toml and sub_policy.toml each principal passes.
PASSES: Dict[str, Set[str]] = {"none": {"health", "static", "public", "sub-health", "sub-public"}}
PASSES["uma"] = PASSES["none"] | {"api"}
PASSES["bob"] = PASSES["uma"] | {"list-jobs", "read-job", "sub-job"}  # his own jobs only
PASSES["alice"] = set(EXPECTED.values())


def bypass(m: Mismatch) -> bool:
    """A mismatch that ran a handler its principal may not reach (not only a different
    rule: one the principal would not have passed)."""
    if EXPECTED[m.ran.handler] not in PASSES[m.principal]:
        return True
    return m.ran.handler in OWNER_PARAM and m.principal == "bob" and m.ran.params.get("owner") != "bob"


def test_self_check_relaxing_dot_segments_breaks_starlette_apps() -> None:
    """The right path with every `[paths]` relaxation: Starlette routes `..` segments as
    text (`{name:path}` and catch-alls take them), so `dot_segments = "resolve"` lets a
    weaker rule decide for an admin handler. In this app every bypass is a dot segment;
    the other relaxations make admit decide under another rule too, never a weaker one
    (bindings-python/README.md: keep the defaults with FastAPI)."""
    with Uvicorn("app", "httptools", env={"ROUTING_APP_PATHS": "lenient"}) as server:
        out = run(server, MAIN)
    assert out.has("/api/v1/admin/files/../../../../health", "none", "v1_admin_files")
    assert out.has("/api/v1/jobs/alice/..", "bob", "read_job")
    bypasses = [m for m in out.mismatches if bypass(m)]
    assert bypasses and len(bypasses) < len(out.mismatches)
    for m in bypasses:
        assert ".." in unquote(m.target.decode()).split("/"), str(m)
