"""The differential path test through each gateway: what admit decided on must be what
the upstream was asked to route.

Raw targets (the shared path vectors, tests/vectors/paths-*.json and skillmeat-paths,
and the mutation family of tests/fixtures/make_path_vectors.py and
examples/c/differential.py applied to the routing fixture's paths) are sent byte for
byte through nginx and Caddy. For every request:

  - when the upstream was reached, admit was asked exactly once, allowed, and the path
    it decided on (the decision log's canonical `path`) is the canonical form of the
    target the upstream received (reference_canonical below, an independent reading of
    the same RFC 3986 rules: a router that decodes unreserved escapes and nothing else);
  - when admit refused, the upstream was not reached;
  - a gateway may refuse a target itself (400) without asking admit: that is safe.

paths-lenient.json is not a family here: its relaxed [paths] rules make admit decide
on the normalised path while nginx and Caddy send the raw one upstream (docs/deploy.md,
"Keep the default [paths] rules behind these gateways").
"""

import importlib.util
import json
import re

import pytest

from conftest import GATEWAY_NAMES
from harness import ROOT

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
PCHAR_PLAIN = UNRESERVED | set(b"!$&'()*+,;=:@")


def reference_canonical(target):
    """The path a strict router matches for a raw target (bytes), or None when routers
    could read it differently (the cases the core refuses under default [paths] rules):
    query dropped; unreserved escapes decoded, other escapes upper-cased; bytes outside
    pchar escaped; no `.`/`..`/empty segment, no trailing `/`, no `#`, no encoded `/`
    or `\\`, no control characters, escapes spelling UTF-8."""
    if b"#" in target:
        return None
    path = target.split(b"?", 1)[0]
    if not path.startswith(b"/"):
        return None
    if path == b"/":
        return "/"
    out = []
    for seg in path[1:].split(b"/"):
        if seg in (b"", b".", b".."):
            return None
        canon, decoded, i = "", b"", 0
        while i < len(seg):
            b = seg[i]
            if b == ord("%"):
                hexpair = seg[i + 1:i + 3]
                if not re.fullmatch(rb"[0-9A-Fa-f]{2}", hexpair):
                    return None
                v = int(hexpair, 16)
                if v < 0x20 or v == 0x7F or v in (ord("/"), ord("\\")):
                    return None
                canon += chr(v) if v in UNRESERVED else "%%%02X" % v
                decoded += bytes([v])
                i += 3
                continue
            if b < 0x20 or b == 0x7F or b == ord("\\"):
                return None
            canon += chr(b) if b in PCHAR_PLAIN else "%%%02X" % b
            decoded += bytes([b])
            i += 1
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if canon in (".", ".."):
            return None
        out.append(canon)
    return "/" + "/".join(out)


def test_reference_canonical_reads_the_documented_examples():
    assert reference_canonical(b"/api/v1/jobs?x=1") == "/api/v1/jobs"
    assert reference_canonical(b"/api/%61dmin/users") == "/api/admin/users"
    assert reference_canonical(b"/api/admin%252fusers") == "/api/admin%252fusers"
    assert reference_canonical(b"/a/%c3%a9") == "/a/%C3%A9"
    assert reference_canonical("/a/é".encode()) == "/a/%C3%A9"
    for bad in (b"/a%2Fb", b"/a/../b", b"/a//b", b"/a/", b"/a#b", b"/a/%2e%2e/b", b"/a/%00", b"/a/%C0%AF", b"*"):
        assert reference_canonical(bad) is None, bad


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vector_requests(name):
    data = json.loads((ROOT / "tests" / "vectors" / f"{name}.json").read_text())
    requests = []
    for case in data["cases"]:
        r = case["request"]
        requests.append((r.get("method", "GET"), r["path"].encode(), [tuple(h) for h in r.get("headers", [])]))
    return ROOT / data["policy"], data.get("env", {}), requests


ROUTING = ROOT / "tests" / "fixtures" / "policies" / "routing.toml"
# nobody and bob (a user under an owner rule); the shared vectors add alice (admin)
KEYS = [None, ("X-API-Key", "demo-researcher-key")]


def generated_requests():
    """The mutation families of the hardening work, on the routing fixture's paths."""
    make = load_module(ROOT / "tests" / "fixtures" / "make_path_vectors.py", "make_path_vectors")
    c_diff = load_module(ROOT / "examples" / "c" / "differential.py", "c_differential")
    targets = []
    for base in make.BASES + ["/api/v1/jobs/bob/7", "/api/admin/users/2"]:
        targets += [t.encode() for t in make.mutations(base)]
    # the C example's generator: its insertion, suffix and crossing families
    targets += c_diff.targets()
    requests = []
    for target in dict.fromkeys(targets):
        for key in KEYS:
            requests.append(("GET", target, [key] if key else []))
    return requests


FAMILIES = {
    "paths-refused": lambda: vector_requests("paths-refused"),
    "paths-kept": lambda: vector_requests("paths-kept"),
    "skillmeat-paths": lambda: vector_requests("skillmeat-paths"),
    "generated": lambda: (ROUTING, {}, generated_requests()),
}


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_what_admit_decided_is_what_the_upstream_routes(stacks, gateway, family):
    policy, env, requests = FAMILIES[family]()
    s = stacks(gateway, policy, env)
    s.log.decisions_since_last()  # start from a clean slate
    mismatches = []
    reached = refused_by_admit = refused_by_gateway = 0
    for method, target, headers in requests:
        resp = s.request(method, target, headers)
        decisions = s.log.decisions_since_last()
        where = f"{method} {target!r} {headers[:1]} -> {resp.status}"
        if resp.upstream is not None:
            reached += 1
            got = resp.upstream["target"].encode("latin-1")
            if len(decisions) != 1 or not decisions[0]["allow"]:
                mismatches.append(f"{where}: reached the upstream as {got!r}; decisions {decisions}")
                continue
            routed = reference_canonical(got)
            if routed != decisions[0]["path"]:
                mismatches.append(f"{where}: admit decided on {decisions[0]['path']!r}, the upstream "
                                  f"was asked {got!r} (routes as {routed!r})")
            if resp.upstream["method"] != method:
                mismatches.append(f"{where}: the upstream was asked {resp.upstream['method']}")
        elif any(not d["allow"] for d in decisions):
            refused_by_admit += 1
        elif not decisions:
            refused_by_gateway += 1
            if resp.status < 400:
                mismatches.append(f"{where}: answered without admit and without the upstream")
    print(f"{gateway} {family}: {len(requests)} requests, {reached} reached the upstream, "
          f"{refused_by_admit} refused by admit, {refused_by_gateway} refused by the gateway")
    assert not mismatches, "\n".join(mismatches[:40]) + f"\n({len(mismatches)} mismatches)"
    # The family exercised both sides (a harness that reached nothing would pass);
    # paths-refused is refused whole under the default rules, so through nginx, which
    # sends admit the raw target, nothing of it reaches the upstream.
    assert refused_by_admit > 0
    assert reached > 0 or family == "paths-refused"
