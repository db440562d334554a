#!/usr/bin/env python3
"""Seeds the fuzz corpora from the shared vectors, the example policies and the token
fixtures, in the input layout each target splits (NUL-separated fields)."""
import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
TOKENS = json.loads((ROOT / "tests/fixtures/tokens.json").read_text())


def expand(s):
    def one(m):
        kind, arg = m.group(1), m.group(2)
        if kind == "token":
            return TOKENS[arg]
        if kind == "file":
            return (ROOT / arg).read_text()
        n, text = arg.split(":", 1)
        return text * min(int(n), 4096)  # keep seeds small
    return re.sub(r"\$\{(token|file|repeat):([^}]*)\}", one, s)


def walk(v):
    if isinstance(v, str):
        return expand(v)
    if isinstance(v, list):
        return [walk(x) for x in v]
    if isinstance(v, dict):
        return {k: walk(x) for k, x in v.items()}
    return v


def put(target, data: bytes):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    for path in sorted((ROOT / "tests/vectors").glob("*.json")):
        doc = walk(json.loads(path.read_text()))
        for case in doc.get("cases", []):
            r = case["request"]
            headers = r.get("headers") or []
            if isinstance(headers, dict):
                headers = list(headers.items())
            fields = [r["method"], r["path"]] + [x for pair in headers for x in pair]
            put("decide", "\0".join(fields).encode())
            h = {k.lower(): v for k, v in headers}
            if "origin" in h:
                put("cors", "\0".join([h["origin"], h.get("access-control-request-method", ""),
                                       h.get("access-control-request-headers", "")]).encode())
    for token in TOKENS.values():
        put("jwt", token.encode())
    for policy in sorted((ROOT / "examples/policies").glob("*.toml")):
        put("policy", policy.read_bytes())
    # Key sets: the fixtures, and every key set a vector's environment holds.
    for path in sorted((ROOT / "tests/fixtures").glob("jwks*.json")):
        put("jwks", path.read_bytes())
    for path in sorted((ROOT / "tests/vectors").glob("*.json")):
        for value in walk(json.loads(path.read_text())).get("env", {}).values():
            if isinstance(value, str) and '"keys"' in value:
                put("jwks", value.encode())
    # The structured target reads choices from its input: a few byte patterns, each
    # followed by a token (the rest of the input is the Bearer value).
    for i, token in enumerate(sorted(TOKENS.values())[:8]):
        for pattern in (b"\0" * 16, b"\xff" * 16, bytes(range(i, i + 32))):
            put("keys", pattern + token.encode())
    # Host input: keys files (the fixtures), each followed by a NUL and a check's verdict.
    keys_files = [p.read_bytes() for p in [ROOT / "examples/policies/fetchml-keys.toml",
                                            ROOT / "tests/fixtures/fetchml-keys-rotated.toml"]]
    verdicts = [b'{"id": "alice", "roles": ["researcher"]}', b'{"refuse": "expired"}',
                b'{"id": "bob", "roles": ["analyst"], "scopes": ["jobs:read"]}', b'{"id": ""}']
    for path in sorted((ROOT / "tests/vectors").glob("*.json")):
        doc = json.loads(path.read_text())
        for table in doc.get("checks", {}).values():
            verdicts += [json.dumps(v).encode() for v in table.values()]
    for k in keys_files:
        for v in verdicts:
            put("host_input", k + b"\0" + v)
    print("seeded", {t.name: len(list(t.iterdir())) for t in sorted(CORPUS.iterdir())})


if __name__ == "__main__":
    main()
