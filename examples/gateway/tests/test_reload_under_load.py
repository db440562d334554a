"""Reload under load, through nginx: a bounded load runs while the policy file is
edited. No request fails (no 5xx, no connection error); the new rule applies within a
second of the edit; a broken policy keeps the old rule (and /readyz stays ready)."""

import json
import os
import pathlib
import shutil
import tempfile
import threading
import time

from conftest import Stack
from harness import ROOT, raw_request

ROUTING = ROOT / "tests" / "fixtures" / "policies" / "routing.toml"
BOB = [("X-API-Key", "demo-researcher-key")]


def replace_file(path, text):
    """Write then rename, as deploy tools and most editors do (a reader never sees half
    a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Load:
    """A few client threads sending requests through the gateway until stopped; every
    answer's status is kept, connection errors as 0."""

    def __init__(self, port, threads=4):
        self.port = port
        self.stopped = threading.Event()
        self.statuses = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                status = raw_request(self.port, "GET", "/api/v1/jobs/bob/7", BOB, timeout=10).status
            except OSError:
                status = 0
            with self.lock:
                self.statuses.append(status)

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join()
        return self.statuses


def test_policy_edits_under_load_through_nginx(upstream):
    work = pathlib.Path(tempfile.mkdtemp(prefix="gateway-reload-"))
    policy = work / "policy.toml"
    original = ROUTING.read_text()
    policy.write_text(original)
    stack = Stack("nginx", policy, {}, upstream)
    try:
        assert stack.request("GET", "/api/v1/jobs/bob/7", BOB).status == 200
        load = Load(stack.gateway.port)
        time.sleep(0.5)  # the load is running before the edit

        # The edit: bob's jobs route now needs admin:all, so bob gets 403.
        edited = original.replace('require = ["api:use"]\nowner', 'require = ["admin:all"]\nowner', 1)
        assert edited != original
        replace_file(policy, edited)
        edited_at = time.monotonic()
        applied_after = None
        while time.monotonic() - edited_at < 10:
            if stack.request("GET", "/api/v1/jobs/bob/7", BOB).status == 403:
                applied_after = time.monotonic() - edited_at
                break
            time.sleep(0.02)
        assert applied_after is not None, "the new rule never applied"
        print(f"the new rule applied {applied_after * 1000:.0f} ms after the edit")
        assert applied_after <= 1.0, f"the new rule applied after {applied_after:.2f} s"

        # A broken policy: the edited rule stays; the server stays ready.
        policy.write_text(edited + "\n[[routes]\nthis is not TOML\n")
        time.sleep(1.5)  # longer than the reload takes (above); nothing may change
        for _ in range(20):
            assert stack.request("GET", "/api/v1/jobs/bob/7", BOB).status == 403
        ready = stack.direct("GET", "/readyz")
        assert ready.status == 200, ready

        # Fixed again: the original rule comes back.
        replace_file(policy, original)
        deadline = time.monotonic() + 10
        while stack.request("GET", "/api/v1/jobs/bob/7", BOB).status != 200:
            assert time.monotonic() < deadline, "the fixed policy never applied"
            time.sleep(0.02)
        statuses = load.stop()
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)

    counts = {s: statuses.count(s) for s in set(statuses)}
    print(f"load: {len(statuses)} requests, statuses {json.dumps(counts)}")
    assert len(statuses) > 100
    # Only the two answers the two rules give: no 5xx, no connection error.
    assert set(counts) <= {200, 403}, counts
    assert counts.get(200) and counts.get(403)
