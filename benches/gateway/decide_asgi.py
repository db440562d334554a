"""POST /v1/decide in Python: the same decision as admit serve's endpoint, through the
Python binding behind uvicorn (the comparison of benches/gateway/bench.sh).
Run: ADMIT_POLICY=examples/policies/fetchml.toml uvicorn decide_asgi:app"""

import json
import os

import admit

engine = admit.Engine.from_file(os.environ["ADMIT_POLICY"])


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    try:
        r = json.loads(body)
        decision = engine.decide(r["method"], r["path"], r.get("headers"), r.get("peer"), r["now"])
        status, out = 200, decision.to_json().encode()
    except (ValueError, KeyError, TypeError) as e:
        status, out = 400, json.dumps({"error": str(e)}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
