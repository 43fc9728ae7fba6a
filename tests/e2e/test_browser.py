"""Headless Chromium against a real server, with every request to another host blocked.

Needs Debian's browser: `apt-get install -y chromium` (no `playwright install`).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.server import Server, StartServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
]
STRONG_PASSWORD = "Correct-Horse-Battery-9"
TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed: apt-get install -y chromium"),
]

playwright_api = pytest.importorskip("playwright.async_api")

ORIGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>other origin</title></head>
<body><script>
async function crossOrigin(api, email, password) {
  const out = {};
  const live = await fetch(api + "/health/live");
  out.live_status = live.status;
  out.live_request_id = live.headers.get("X-Request-ID");
  const reg = await fetch(api + "/auth/register", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-Request-ID": "from-the-other-origin"},
    body: JSON.stringify({email: email, password: password}),
  });
  out.register_status = reg.status;
  out.register_request_id = reg.headers.get("X-Request-ID");
  const tokens = await reg.json();
  const me = await fetch(api + "/auth/me", {headers: {"Authorization": "Bearer " + tokens.access_token}});
  out.me_status = me.status;
  out.me_request_id = me.headers.get("X-Request-ID");
  out.me_kind = (await me.json()).kind;
  const anon = await fetch(api + "/auth/me");
  out.anonymous_status = anon.status;
  out.www_authenticate = anon.headers.get("WWW-Authenticate");
  return out;
}
async function blocked(api) {
  try { await fetch(api + "/health/live"); return "read"; } catch (e) { return "blocked: " + e.name; }
}
</script></body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


@contextlib.contextmanager
def static_site(port: int, directory: Path) -> Iterator[str]:
    """Python's http.server on a loopback port, in a thread."""
    handler = partial(_QuietHandler, directory=str(directory))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        site.shutdown()
        site.server_close()


class OfflineBrowser:
    """A page on which every request to a host outside `allowed` is aborted and recorded."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.blocked: list[str] = []
        self.seen: list[str] = []

    async def guard(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        self.seen.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc in self.allowed:
            await route.continue_()  # type: ignore[attr-defined]
        else:
            self.blocked.append(url)
            await route.abort()  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def browser_page(allowed: set[str]):  # type: ignore[no-untyped-def]
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(service_workers="block")
            offline = OfflineBrowser(allowed)
            await context.route("**/*", offline.guard)
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page, offline
        finally:
            await browser.close()


def register_over_http(server: Server) -> dict[str, object]:
    email = f"browser-{uuid.uuid4().hex[:10]}@example.com"
    response = httpx.post(f"{server.url}/auth/register", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_swagger_ui_renders_offline_and_try_it_out_calls_me(server: Server) -> None:
    tokens = register_over_http(server)
    async with browser_page({f"127.0.0.1:{server.port}"}) as (page, offline):
        # The page's Content-Security-Policy must let Swagger UI do all of this: every violation
        # (a blocked script, style, image or call) is recorded, and there must be none.
        await page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        response = await page.goto(f"{server.url}/schema")
        assert response is not None
        assert response.status == 200
        assert "script-src 'self' 'unsafe-inline'" in (await response.all_headers())["content-security-policy"]
        await page.wait_for_selector(".swagger-ui .opblock")
        paths = await page.locator(".opblock-summary-path").all_inner_texts()
        assert any(p.replace("\u200b", "").strip() == "/auth/login" for p in paths), paths

        # Authorise with the bearer token from /auth/register.
        await page.locator("button.authorize").first.click()
        dialog = page.locator(".modal-ux")
        await dialog.wait_for()
        bearer_box = dialog.locator(".auth-container").filter(has_text="BearerAuth")
        await bearer_box.locator("input").fill(str(tokens["access_token"]))
        await bearer_box.locator("button.authorize").click()
        await bearer_box.locator("button", has_text="Logout").wait_for()  # shown once authorised
        assert await dialog.locator(".auth-container").filter(has_text="ApiKeyAuth").count() == 1
        await dialog.locator("button.btn-done").first.click()

        # Try it out: GET /auth/me.
        operation = page.locator(".opblock-get").filter(has=page.locator('.opblock-summary-path[data-path="/auth/me"]'))
        await operation.locator(".opblock-summary").first.click()
        await operation.locator("button.try-out__btn").click()
        async with page.expect_response(lambda r: urlsplit(r.url).path == "/auth/me") as answer:
            await operation.locator("button.execute").click()
        me = await answer.value
        assert me.status == 200
        assert me.request.headers.get("authorization") == f"Bearer {tokens['access_token']}"
        body = await me.json()
        assert body["kind"] == "user"
        assert body["user"]["id"] == tokens["user"]["id"]  # type: ignore[index]
        status_cell = operation.locator(".live-responses-table tbody .response-col_status").first
        await status_cell.wait_for()
        assert (await status_cell.inner_text()).strip() == "200"
        assert await page.evaluate("window.__csp") == [], "the page's CSP blocked what Swagger UI needs"

    assert offline.blocked == [], f"the docs page wanted other hosts: {offline.blocked}"
    assert any("/schema/assets/swagger-ui-bundle.js" in url for url in offline.seen)


async def test_a_page_on_a_listed_origin_calls_the_api_and_reads_request_ids(
    start_server: StartServer, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "index.html").write_text(ORIGIN_PAGE)
    listed_port, unlisted_port = free_port(), free_port()
    listed_origin = f"http://127.0.0.1:{listed_port}"
    unlisted_origin = f"http://127.0.0.1:{unlisted_port}"
    server = start_server(MUSICEZ_CORS_ORIGINS=f"{listed_origin},https://app.example.com")
    allowed = {f"127.0.0.1:{server.port}", f"127.0.0.1:{listed_port}", f"127.0.0.1:{unlisted_port}"}

    with static_site(listed_port, site_dir), static_site(unlisted_port, site_dir):
        async with browser_page(allowed) as (page, offline):
            await page.goto(f"{listed_origin}/index.html")
            email = f"origin-{uuid.uuid4().hex[:10]}@example.com"
            out = await page.evaluate(
                "([api, email, password]) => crossOrigin(api, email, password)",
                [server.url, email, STRONG_PASSWORD],
            )
            assert out["live_status"] == 200
            assert out["live_request_id"], out  # exposed to scripts of a listed origin
            assert out["register_status"] == 201, out
            assert out["register_request_id"] == "from-the-other-origin"
            assert out["me_status"] == 200, out
            assert out["me_kind"] == "user"
            assert out["me_request_id"]
            assert out["anonymous_status"] == 401
            assert out["www_authenticate"]
            assert out["www_authenticate"].startswith("Bearer")

            await page.goto(f"{unlisted_origin}/index.html")
            assert (await page.evaluate("(api) => blocked(api)", server.url)).startswith("blocked")
        assert offline.blocked == []

    # The server's own answer to a non-listed origin: no Access-Control-Allow-Origin at all.
    simple = httpx.get(f"{server.url}/health/live", headers={"Origin": unlisted_origin})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    preflight = httpx.options(
        f"{server.url}/auth/me",
        headers={
            "Origin": unlisted_origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    listed = httpx.get(f"{server.url}/health/live", headers={"Origin": listed_origin})
    assert listed.headers.get("access-control-allow-origin") == listed_origin
    assert "x-request-id" in listed.headers.get("access-control-expose-headers", "").lower()
    assert listed.headers.get("access-control-allow-credentials") == "true"  # browser mode (API.md v1.1)
    json.dumps(out)  # the page's answer is plain data
