"""Swagger UI's "Try it out" on a write route, in a real headless Chromium against a
real uvicorn, with `[cors]` in the policy: the browser sends `Origin` (and
`Sec-Fetch-Site: same-origin`) on the same-origin POST, which is not a CORS request
and must not be refused as one."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List

import pytest
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

import admit
from admit.fastapi import Admit, CurrentPrincipal
from conftest import LiveServer

WRITER = "test-only-swagger-writer-key-0123456789"

POLICY = f"""
realm = "swagger"
scopes = ["items:write"]

[roles.writer]
scopes = ["items:write"]

[[authenticators]]
type = "api_key"
id = "keys"
header = "X-API-Key"

[[authenticators.keys]]
id = "walt"
sha256 = "{admit.hash_key(WRITER)}"
roles = ["writer"]

[[routes]]
id = "docs"
paths = ["/docs", "/openapi.json", "/assets/{{name}}"]
methods = ["GET"]
public = true

[[routes]]
id = "items-write"
methods = ["POST", "DELETE"]
paths = ["/items", "/items/{{id}}"]
require = ["items:write"]

[cors]
origins = ["https://app.example.com"]
methods = ["GET", "POST", "DELETE"]
headers = ["x-api-key", "content-type"]
"""


def swagger_assets() -> Path:
    """Swagger UI 5's files, from the pinned `fastapi-swagger` wheel (no CDN here)."""
    return Path(str(resources.files("fastapi_swagger") / "resources"))


def make_app(seen: List[Dict[str, str]]) -> FastAPI:
    assets = swagger_assets()
    app = FastAPI(docs_url=None, title="swagger-same-origin")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        # FastAPI's recipe for self-hosted docs assets
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="docs",
            swagger_js_url="/assets/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui.css",
            swagger_favicon_url="/assets/favicon-32x32.png",
        )

    @app.get("/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        return FileResponse(assets / Path(name).name)

    @app.post("/items")
    async def create_item(request: Request, who: CurrentPrincipal) -> Dict[str, str]:
        seen.append({k: v for k, v in request.headers.items() if k in ("origin", "sec-fetch-site", "host")})
        return {"created_by": who.id}

    Admit(admit.Engine.from_toml(POLICY, env={})).install(app)
    return app


def test_swagger_try_it_out_on_a_write_route_passes_with_cors_in_the_policy() -> None:
    from cdp import Chromium

    seen: List[Dict[str, str]] = []
    with LiveServer(make_app(seen)) as srv, Chromium() as browser:
        browser.goto(f"{srv.url}/docs")
        browser.wait_for("!!document.querySelector('.opblock-post .opblock-summary')")
        # the Authorize dialog's effect, through Swagger UI's own API
        browser.evaluate(f"ui.preauthorizeApiKey('keys', {json.dumps(WRITER)}); true")
        browser.evaluate("document.querySelector('.opblock-post .opblock-summary-control').click(); true")
        browser.wait_for("!!document.querySelector('.opblock-post .try-out__btn')")
        browser.evaluate("document.querySelector('.opblock-post .try-out__btn').click(); true")
        browser.wait_for("!!document.querySelector('.opblock-post .execute')")
        browser.evaluate("document.querySelector('.opblock-post .execute').click(); true")
        status = browser.wait_for(
            "(document.querySelector('.opblock-post .live-responses-table tbody .response-col_status') || {}).innerText"
        )
        body = browser.evaluate(
            "(document.querySelector('.opblock-post .live-responses-table .microlight') || {}).innerText"
        )
    assert status.strip().startswith("200"), (status, body)
    assert json.loads(body) == {"created_by": "walt"}
    # the browser did send Origin on the same-origin POST: the case this test is about
    assert len(seen) == 1 and seen[0]["origin"] == srv.url, seen
    assert seen[0].get("sec-fetch-site") == "same-origin", seen


def test_the_same_write_from_another_site_is_still_refused(client_for: Any) -> None:
    c = client_for(make_app([]))
    r = c.post("/items", headers={"X-API-Key": WRITER, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and r.json() == {"detail": "origin not allowed"}
    # a same-origin request without Sec-Fetch-Site (an older browser): Origin names the Host
    host = c.base_url.netloc.decode() if isinstance(c.base_url.netloc, bytes) else str(c.base_url.netloc)
    r = c.post("/items", headers={"X-API-Key": WRITER, "Origin": f"http://{host}"})
    assert r.status_code == 200 and r.json() == {"created_by": "walt"}
    assert "access-control-allow-origin" not in r.headers
