"""A client cannot forge admit's identity headers: whatever it sends under those names,
in any spelling, the upstream sees only what admit decided (or nothing).

Every identity header name is sent in several spellings (as documented, lower case,
upper case, mixed, with `_` for `-`, each twice), on requests admit allows with a
principal, with a principal but no owner constraint, and with no principal at all (an
open route), and on a refused request (which must not reach the upstream at all)."""

import pytest

from conftest import GATEWAY_NAMES
from harness import IDENTITY_HEADERS, POLICIES

FORGED_VALUE = "forged-by-the-client"


def spellings(name):
    out = [name, name.lower(), name.upper(), name.swapcase(), name.replace("-", "_"), name.lower().replace("-", "_")]
    return list(dict.fromkeys(out))


def forged_headers(names=IDENTITY_HEADERS + ["X-Admit-Status"]):
    headers = []
    for name in names:
        for spelled in spellings(name):
            headers.append((spelled, FORGED_VALUE))
            headers.append((spelled, FORGED_VALUE + "-again"))
    return headers


def identity_seen(received):
    """Identity-looking headers the upstream received: any name that reads as X-Admit-*
    once `_` is taken for `-` (what CGI/WSGI-style frameworks do)."""
    return [(n, v) for n, v in received["headers"] if n.lower().replace("_", "-").startswith("x-admit-")]


# (policy, env, method, target, headers, the identity the upstream must see)
CASES = {
    "principal with an owner constraint": (
        "fetchml.toml", {}, "GET", "/api/v1/jobs", [("X-API-Key", "demo-researcher-key")],
        {"x-admit-subject": "bob", "x-admit-authenticator": "fetchml-keys", "x-admit-constraint-owner": "bob"}),
    "principal without a constraint": (
        "fetchml.toml", {}, "GET", "/api/v1/jobs", [("X-API-Key", "demo-admin-key")],
        {"x-admit-subject": "alice", "x-admit-authenticator": "fetchml-keys"}),
    "open route, no principal": (
        "rag-modulo.toml", {"JWT_SECRET_KEY": "test-only-rag-modulo-secret-0123456789abcdef"},
        "POST", "/api/auth/login", [], {}),
}


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
@pytest.mark.parametrize("case", list(CASES))
def test_forged_identity_headers_never_reach_the_upstream(stacks, gateway, case):
    policy, env, method, target, headers, identity = CASES[case]
    s = stacks(gateway, POLICIES / policy, env)
    resp = s.request(method, target, headers + forged_headers(), b"{}" if method == "POST" else b"")
    assert resp.status == 200, resp
    seen = identity_seen(resp.upstream)
    assert all(FORGED_VALUE not in v for _, v in seen), f"forged identity reached the upstream: {seen}"
    # What admit set is there, once, under the documented name.
    for name, value in identity.items():
        assert [v for n, v in seen if n.lower() == name] == [value], seen
    # Nothing else identity-looking carries a value (Caddy's copy_headers may set an
    # absent one to the empty string).
    others = [(n, v) for n, v in seen if n.lower() not in identity and n.lower() not in ("x-admit-roles", "x-admit-scopes")]
    assert all(v == "" for _, v in others), others


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_forged_identity_headers_do_not_let_a_refused_request_through(stacks, gateway):
    s = stacks(gateway, POLICIES / "fetchml.toml")
    resp = s.request("GET", "/api/v1/jobs/alice/7", forged_headers())
    assert resp.status == 401, resp
    assert resp.upstream is None


@pytest.mark.parametrize("gateway", [
    pytest.param("nginx", marks=pytest.mark.xfail(strict=True, reason=(
        "nginx cannot remove headers by prefix: the config clears the constraint names it "
        "lists (owner); a constraint name the policy does not produce passes through "
        "(docs/deploy.md: add one line per constraint name your policy uses)"))),
    "caddy",
])
def test_a_constraint_name_the_policy_never_sets_is_cleared_too(stacks, gateway):
    s = stacks(gateway, POLICIES / "fetchml.toml")
    resp = s.request("GET", "/api/v1/jobs", [("X-API-Key", "demo-admin-key")] + forged_headers(["X-Admit-Constraint-Tenant"]))
    assert resp.status == 200, resp
    assert all(FORGED_VALUE not in v for _, v in identity_seen(resp.upstream)), identity_seen(resp.upstream)
