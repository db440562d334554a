"""Fixtures: one echo upstream per session; for each test module, a stack (admit serve
+ a gateway) per policy, environment and gateway, started on first use and stopped at
the module's end."""

import itertools
import pytest

from harness import GATEWAYS, Admit, DecisionLog, EchoUpstream, raw_request

GATEWAY_NAMES = list(GATEWAYS)


@pytest.fixture(scope="session")
def upstream():
    u = EchoUpstream()
    yield u
    u.close()


def header_values(received, name):
    """Every value the upstream received under this header name (case-insensitive)."""
    return [v for n, v in received["headers"] if n.lower() == name.lower()]


_REQUEST_IDS = itertools.count(1)


class Stack:
    """admit serve behind one gateway, in front of the echo upstream."""

    def __init__(self, gateway, policy, env, upstream, extra_args=()):
        self.gateway_name = gateway
        self.admit = Admit(policy, env, extra_args)
        try:
            self.gateway = GATEWAYS[gateway](self.admit.addr, f"127.0.0.1:{upstream.port}")
        except Exception:
            self.admit.close()
            raise
        self.upstream = upstream
        self.log = DecisionLog(self.admit)

    def request(self, method, target, headers=(), body=b"", host=None):
        """A request through the gateway; `.upstream` on the answer is what the upstream
        received for it (None when it was not reached), found by a test id header."""
        # Unique over the whole run: the upstream outlives stacks, and id() of a closed
        # stack is reused by the next one, which matched an earlier test's request.
        test_id = f"t{next(_REQUEST_IDS)}"
        resp = raw_request(self.gateway.port, method, target, list(headers) + [("X-Test-Id", test_id)], body, host)
        resp.upstream = None
        for received in reversed(self.upstream.received):
            if header_values(received, "X-Test-Id") == [test_id]:
                resp.upstream = received
                break
        return resp

    def direct(self, method, target, headers=()):
        return raw_request(self.admit.port, method, target, headers)

    def close(self):
        self.gateway.close()
        self.admit.close()


@pytest.fixture(scope="module")
def stacks(upstream):
    """stacks(gateway, policy, env) -> a running Stack, shared within the module."""
    running = {}

    def get(gateway, policy, env=None, extra_args=()):
        key = (gateway, str(policy), tuple(sorted((env or {}).items())), tuple(extra_args))
        if key not in running:
            running[key] = Stack(gateway, policy, env or {}, upstream, extra_args)
        return running[key]

    yield get
    for stack in running.values():
        stack.close()
