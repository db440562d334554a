"""Faults through the gateways: each gets a refusal, never the upstream.

- admit down (stopped): nginx answers 500 (the auth subrequest failed), Caddy 502;
- a header too large for the gateway: the gateway's own 4xx, admit never asked;
- admit answering slowly is the server's own tests' subject (timeouts there)."""

import pytest

from conftest import GATEWAY_NAMES, Stack
from harness import POLICIES

FETCHML = POLICIES / "fetchml.toml"


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_admit_down_fails_closed(upstream, gateway):
    stack = Stack(gateway, FETCHML, {}, upstream)
    try:
        assert stack.request("GET", "/api/v1/jobs", [("X-API-Key", "demo-researcher-key")]).status == 200
        stack.admit.close()
        resp = stack.request("GET", "/api/v1/jobs", [("X-API-Key", "demo-researcher-key")])
        assert resp.status == {"nginx": 500, "caddy": 502}[gateway], resp
        assert resp.upstream is None
    finally:
        stack.close()


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_oversized_header_is_refused_by_the_gateway(stacks, gateway):
    s = stacks(gateway, FETCHML)
    resp = s.request("GET", "/api/v1/jobs", [("X-API-Key", "demo-researcher-key"), ("X-Big", "a" * 2_000_000)])
    assert 400 <= resp.status < 500 or resp.status == 0, resp
    assert resp.upstream is None
