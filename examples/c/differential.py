#!/usr/bin/env python3
"""The router and admit agree: a differential test of the C FetchML service.

Starts the real libmicrohttpd server (FETCHML_DEBUG_HEADERS=1, so each response names the
handler that ran with its parameters, beside admit's rule and owner constraint), sends a
family of request targets generated from the service's paths byte for byte over TCP (no
HTTP client library: nothing normalises them), each with the keys of several principals,
and fails on any request that

  - admit allowed while the router ran a handler other than the one for admit's rule
    (the not-found handler included: admit allowed what no route serves),
  - admit allowed with an owner constraint other than the owner parameter the handler
    ran with, or, for a job handler, a principal without `jobs:all` got no owner
    constraint at all,
  - ran a handler although admit denied it.

Usage: differential.py PATH/TO/fetchml_server [POLICY]
Prints the mismatches, then "differential: ..." and exits 1 on any mismatch.

       differential.py --expect-owner-mismatch PATH/TO/broken_server [POLICY]
The other way round, for a server known to be wrong (test.sh builds the example with
the decoded path passed as a raw one, decoded twice): exits 0 only when the family finds
an owner mismatch, so the test is shown to catch one.
"""

import itertools
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# handler (X-Handler) -> the rule of examples/policies/fetchml.toml that must have allowed it
EXPECTED_RULE = {
    "status": "status",
    "list-jobs": "list-jobs",
    "queue-job": "queue-job",
    "read-job": "read-job",
    "cancel-job": "cancel-job",
    "not-found": None,  # no rule may allow what no route serves
}
OWNED = {"read-job", "cancel-job"}  # handlers with an {owner} parameter

# the principals: (name, X-API-Key or None, holds jobs:all)
PRINCIPALS = [
    ("alice (admin)", "demo-admin-key", True),
    ("bob (researcher, owns bob/7 and bob/8)", "demo-researcher-key", False),
    ("carol (analyst, owns carol/9)", "demo-analyst-key", False),
    ("no key", None, False),
]
METHODS = ["GET", "DELETE", "POST", "HEAD"]

BASES = [
    b"/api/v1/status",
    b"/api/v1/jobs",
    b"/api/v1/jobs/bob/7",
    b"/api/v1/jobs/bob/8",
    b"/api/v1/jobs/alice/1",
    b"/api/v1/jobs/carol/9",
]

SLASH_FORMS = [b"%2F", b"%2f", b"%252F", b"%5C", b"%5c", b"\\"]
INSERTS = [
    b"/./", b"/../", b"/%2e%2e/", b"/.%2E/", b"/%2E/", b"//", b";x/", b";/", b"#/", b"#/../x/",
    b"%00/", b"%23/", b"?/", b"%3F/", b"%3f/", b"%25/", b"%20/", b"%C0%AF", b"%C0%AE/",
    b"/%C0%AE%C0%AE/", b"%FF/", b"%C3%A9/", "é/".encode(), b"\xff/", b"%01/", b"%7F/", b"%0A/",
]
SUFFIXES = [
    b"/", b"/.", b"/..", b"/%2e", b"/%2e%2e", b"//", b"?", b"?x=1", b"?/../alice/1", b"#", b"#x",
    b"%00", b"%23", b"%3F", b"%3Fx", b"%25", b"%2525", b";", b";x", b"%20", b"%09", b"%C3%A9",
    "é".encode(), b"%C0%AF", b"/x", b"x", b"0", b"%30", b"/../../alice/1", b"/../../bob/7",
    b"/..%2F..%2Falice%2F1", b"%2F..%2F..%2Fbob%2F7", b"/%2e%2e/%2e%2e/bob/7",
]
# whole targets that mix one principal's resource into another's
CROSSINGS = []
for a, b in itertools.permutations([b"bob/7", b"alice/1", b"carol/9"], 2):
    for dots in [b"/../../", b"/%2e%2e/%2e%2e/", b"/.%2E/.%2E/", b"%2F..%2F..%2F", b"%252F..%252F..%252F",
                 b"%5C..%5C..%5C", b"\\..\\..\\", b"//../../", b"/;/../../", b"/./../../"]:
        CROSSINGS.append(b"/api/v1/jobs/" + a + dots + b)
        CROSSINGS.append(b"/api/v1/jobs/" + a + dots.replace(b"..", b"%2e%2e") + b)
    CROSSINGS.append(b"/api/v1/jobs/" + a.split(b"/")[0] + b"%2F" + b.split(b"/")[1])
    CROSSINGS.append(b"/api/v1/jobs/" + a + b"#/../../" + b)
    CROSSINGS.append(b"/api/v1/jobs/" + a + b"?/../../" + b)
    CROSSINGS.append(b"/api/v1/jobs/" + a + b"%3F/../../" + b)
    CROSSINGS.append(b"/api/v1/jobs/" + a + b"%00/../../" + b)


def case_variants(seg):
    out = {seg.upper(), seg.capitalize(), seg.swapcase()}
    out.discard(seg)
    return out


def percent_all(seg):
    return b"".join(b"%%%02X" % c for c in seg)


def percent_lower(seg):
    return b"".join(b"%%%02x" % c for c in seg)


def targets():
    seen = set()

    def add(t):
        if t not in seen:
            seen.add(t)
            out.append(t)

    out = []
    for base in BASES:
        add(base)
        slashes = [i for i, c in enumerate(base) if c == ord("/")]
        for i in slashes:
            for form in SLASH_FORMS:
                add(base[:i] + form + base[i + 1:])
            for ins in INSERTS:
                add(base[:i] + ins + base[i + 1:])
                add(base[:i + 1] + ins.lstrip(b"/") + base[i + 1:])
        for suf in SUFFIXES:
            add(base + suf)
        segs = base.split(b"/")
        for k in range(1, len(segs)):
            for v in case_variants(segs[k]) | {percent_all(segs[k]), percent_lower(segs[k]),
                                                segs[k][:1] + percent_all(segs[k][1:]),
                                                percent_all(segs[k][:1]) + segs[k][1:],
                                                segs[k].replace(b"o", b"%6F"), segs[k].replace(b"o", b"%256F"),
                                                segs[k] + b"%00", segs[k] + b"%2500", segs[k] + b";x"}:
                add(b"/".join(segs[:k] + [v] + segs[k + 1:]))
    for t in CROSSINGS:
        add(t)
    for t in [b"/", b"*", b"", b"api/v1/status", b"http://127.0.0.1/api/v1/status", b"//api/v1/status",
              b"/api/v1/./status", b"/api/v1/jobs/%2e%2e/jobs", b"/api/v1/jobs/bob/07", b"/api/v1/jobs/bob/+7",
              b"/api/v1/jobs/bob/ 7", b"/api/v1/jobs/bob/7%20", b"/api/v1/jobs/bob/-7", b"/api/v1/jobs/bob/7.0"]:
        add(t)
    return out


def start(server, policy):
    env = dict(os.environ, FETCHML_DEBUG_HEADERS="1")
    p = subprocess.Popen([server, policy, "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    line = p.stdout.readline().decode(errors="replace")
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        sys.exit(f"the server did not start: {line!r}")
    # keep reading its log so it never blocks on a full pipe
    import threading
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, int(m.group(1))


def send(port, method, target, key):
    head = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if key:
        head += b"X-API-Key: " + key.encode() + b"\r\n"
    head += b"Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0] if lines else b"")
    status = int(m.group(1)) if m else 0
    headers = {}
    for ln in lines[1:]:
        name, _, value = ln.partition(b":")
        headers[name.strip().lower().decode(errors="replace")] = value.strip().decode(errors="replace")
    return status, headers, body


def unescape(v):
    return None if v is None else urllib.parse.unquote_to_bytes(v)


def check(method, target, who, key, jobs_all, status, h):
    """The mismatches of one response (a list of strings, empty when it is consistent)."""
    if "x-admit-allow" not in h:
        return []  # libmicrohttpd answered itself (a request it cannot parse): nothing ran
    handler = h.get("x-handler")
    allow = h["x-admit-allow"] == "true"
    rule = h.get("x-admit-rule")
    rule = None if rule == "-" else rule
    owner = unescape(h.get("x-admit-owner"))
    param = unescape(h.get("x-handler-owner"))
    problems = []
    if not allow:
        if handler != "none":
            problems.append(f"admit denied it, yet handler {handler} ran")
        return problems
    if handler not in EXPECTED_RULE:
        return [f"allowed, unknown handler {handler!r}"]
    want = EXPECTED_RULE[handler]
    if rule != want:
        problems.append(f"admit allowed it under rule {rule!r}, but the router ran {handler} (rule {want!r})")
    if handler in OWNED:
        if owner is not None and owner != param:
            problems.append(f"admit's owner constraint is {owner!r}, the handler's owner is {param!r}")
        if owner is None and not jobs_all:
            problems.append(f"{who} (no jobs:all) reached {handler} for owner {param!r} with no owner constraint")
    return problems


def main():
    args = sys.argv[1:]
    expect_mismatch = bool(args) and args[0] == "--expect-owner-mismatch"
    if expect_mismatch:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    server = args[0]
    policy = args[1] if len(args) > 1 else os.path.join(ROOT, "examples/policies/fetchml.toml")
    proc, port = start(server, policy)
    try:
        family = targets()
        mismatches, sent, allowed, ran, denied, by_mhd = [], 0, 0, {}, {}, 0
        for target in family:
            for method in METHODS:
                for who, key, jobs_all in PRINCIPALS:
                    status, h, _ = send(port, method, target, key)
                    sent += 1
                    if h.get("x-admit-allow") == "true":
                        allowed += 1
                        ran[h.get("x-handler")] = ran.get(h.get("x-handler"), 0) + 1
                    elif "x-admit-allow" in h:
                        denied[status] = denied.get(status, 0) + 1
                    else:
                        by_mhd += 1
                    for p in check(method, target, who, key, jobs_all, status, h):
                        mismatches.append(f"{method} {target!r} as {who}: {status}: {p}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if expect_mismatch:
        owner = [m for m in mismatches if "owner constraint is" in m]
        for m in owner[:3]:
            print("found, as expected:", m)
        print(f"differential (a server known to be wrong): {len(mismatches)} mismatches, {len(owner)} of the owner")
        sys.exit(0 if owner else 1)
    for m in mismatches:
        print("MISMATCH", m)
    # the family must reach every handler allowed, and be refused often: else it tests nothing
    handlers = sorted(k for k in ran if k)
    thin = [k for k in EXPECTED_RULE if k != "not-found" and not ran.get(k)]
    if not denied.get(400):
        thin.append("a 400 refusal")
    summary = (f"differential: {len(family)} targets x {len(METHODS)} methods x {len(PRINCIPALS)} principals = "
               f"{sent} requests; {allowed} allowed (handlers run: "
               + ", ".join(f"{k} {ran[k]}" for k in handlers) + "); denied by admit: "
               + ", ".join(f"{n} {k}" for k, n in sorted(denied.items()))
               + f"; answered by libmicrohttpd itself: {by_mhd}; {len(mismatches)} mismatches")
    print(summary)
    if thin:
        print(f"the family never reached {thin}: it proves nothing there")
    sys.exit(1 if mismatches or thin else 0)


if __name__ == "__main__":
    main()
