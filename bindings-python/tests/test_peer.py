"""The peer admit sees is ``scope["client"]``, the address uvicorn gives the app; behind
``--forwarded-allow-ips`` that address comes from ``X-Forwarded-For``. These tests hold
the README's warning for the ``local`` authenticator to evidence, over a real uvicorn
(tests/routing_app.py ``peer_app``, tests/routing/peer_policy.toml)."""

from __future__ import annotations

import json
import socket
from typing import Optional

import pytest

from rawhttp import Response, Uvicorn, raw_get

XFF = "X-Forwarded-For"


def get(server: Uvicorn, target: str, xff: Optional[str] = None, source: Optional[str] = None) -> Response:
    headers = [(XFF, xff)] if xff else []
    return raw_get(server.host, server.port, target.encode(), headers, source=source)


def peer_of(resp: Response) -> str:
    assert resp.status == 200, resp
    return str(json.loads(resp.body)["peer"])


@pytest.mark.parametrize("backend", ["h11", "httptools"])
def test_forwarded_for_from_an_untrusted_client_is_ignored_by_default(backend: str) -> None:
    # uvicorn trusts X-Forwarded-For only from 127.0.0.1 and ::1 by default; 127.0.0.2
    # is another loopback address, so another client as far as uvicorn is concerned.
    with Uvicorn("peer_app", backend) as server:
        assert peer_of(get(server, "/whoami", source="127.0.0.2")) == "127.0.0.2"
        assert peer_of(get(server, "/whoami", "203.0.113.7", source="127.0.0.2")) == "127.0.0.2"
        assert peer_of(get(server, "/whoami", "127.0.0.1", source="127.0.0.2")) == "127.0.0.2"
        assert get(server, "/local", "203.0.113.7", source="127.0.0.2").status == 200
        # From 127.0.0.1, the default's trusted proxy, the header is believed: a proxy on
        # the same host must set it (the README says so).
        assert peer_of(get(server, "/whoami", "203.0.113.7", source="127.0.0.1")) == "203.0.113.7"
        assert get(server, "/local", "203.0.113.7", source="127.0.0.1").status == 403


@pytest.mark.parametrize("backend", ["h11", "httptools"])
def test_forwarded_allow_ips_star_lets_any_client_choose_its_peer(backend: str) -> None:
    with Uvicorn("peer_app", backend, "--forwarded-allow-ips", "*") as server:
        assert peer_of(get(server, "/whoami", "203.0.113.7", source="127.0.0.2")) == "203.0.113.7"
        r = get(server, "/local", "203.0.113.7", source="127.0.0.2")
        assert r.status == 403 and b"loopback" in r.body, r


def _non_loopback_address() -> Optional[str]:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            addr = str(s.getsockname()[0])
    except OSError:
        return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def test_forwarded_allow_ips_star_turns_a_remote_client_into_a_local_one() -> None:
    """The attack itself: a client that is not on the loopback interface claims
    127.0.0.1 in X-Forwarded-For, and the `local` authenticator lets it in only when
    uvicorn runs with --forwarded-allow-ips '*'."""
    addr = _non_loopback_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with Uvicorn("peer_app", "h11", host=addr) as server:
        assert peer_of(get(server, "/whoami", "127.0.0.1", source=addr)) == addr
        assert get(server, "/local", "127.0.0.1", source=addr).status == 403
    with Uvicorn("peer_app", "h11", "--forwarded-allow-ips", "*", host=addr) as server:
        assert peer_of(get(server, "/whoami", "127.0.0.1", source=addr)) == "127.0.0.1"
        r = get(server, "/local", "127.0.0.1", source=addr)
        assert r.status == 200 and json.loads(r.body)["principal"] == "local-user", r
