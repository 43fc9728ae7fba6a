"""Browser mode in a real headless Chromium: the example page (`examples/browser/`) against a real
server process, and pages on other origins that try to use its refresh cookie.

The origins, and why:

- the API, a real `musicez serve` on 127.0.0.1, is addressed as `http://localhost:P2`;
- the example page is served from `http://localhost:P1`, listed in `MUSICEZ_CORS_ORIGINS`.
  Cookies ignore ports, so P1 and P2 are the same *site* and the `SameSite=Strict` cookie goes
  with the page's requests, while they are different *origins*, so the page needs CORS with
  credentials. `localhost` is a potentially trustworthy origin, so Chromium keeps a `Secure`
  (`__Secure-`) cookie that plain http set there. The page is served under `/auth/`, inside
  the cookie's `Path`, so `document.cookie` would show the cookie if it were not `HttpOnly`;
- `http://localhost:P4` is an unlisted origin of the same site: the browser does send the cookie
  from there, so only the server's checks (the CORS preflight, the JSON content type, Origin)
  stand between it and a rotation;
- `http://127.0.0.1:P3` is another site altogether: `SameSite=Strict` keeps the cookie home.

The server runs with no reuse grace: had any attack rotated the refresh token, the page's own
refresh with the cookie it holds would afterwards be theft and fail.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, STRONG_PASSWORD, TIMEOUT_MS, static_site
from tests.support.processes import free_port
from tests.support.server import StartServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed: apt-get install -y chromium"),
]

playwright_api = pytest.importorskip("playwright.async_api")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "browser"
COOKIE = "__Secure-musicez_refresh"
ATTACK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>another origin</title></head>
<body>
<iframe name="sink"></iframe>
<form id="form" method="post" enctype="text/plain" target="sink">
  <input name='{"padding": "' value='"}'>
</form>
<script>
async function attempt(label, api, init) {
  try {
    const response = await fetch(api + "/auth/refresh", {method: "POST", credentials: "include", ...init});
    return response.type === "opaque" ? "opaque" : String(response.status);
  } catch (error) {
    return "blocked: " + error.name;
  }
}
async function attack(api) {
  const out = {};
  out.json = await attempt("json", api, {headers: {"Content-Type": "application/json"}, body: "{}"});
  out.text = await attempt("text", api, {body: "{}"});
  out.no_cors = await attempt("no-cors", api, {mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"});
  const form = document.getElementById("form");
  form.action = api + "/auth/refresh";
  const sink = document.querySelector("iframe");
  const loaded = new Promise((resolve) => sink.addEventListener("load", resolve, {once: true}));
  form.submit();
  await loaded;
  out.form = "submitted";
  return out;
}
</script></body></html>
"""


class Network:
    """Every API response the browser saw, read at the network level (Set-Cookie included)."""

    def __init__(self, api_host: str) -> None:
        self.api_host = api_host
        self.responses: list[dict[str, Any]] = []
        self.refresh_requests: list[dict[str, Any]] = []
        self.pending = 0

    async def settle(self) -> None:
        """Wait until every response seen so far has been recorded."""
        for _ in range(200):
            if not self.pending:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("responses still being read after 10 s")

    async def on_response(self, response: Any) -> None:
        parts = urlsplit(response.url)
        if parts.netloc != self.api_host:
            return
        self.pending += 1
        try:
            await self._record(response, parts.path)
        finally:
            self.pending -= 1

    async def _record(self, response: Any, path: str) -> None:
        headers = await response.headers_array()
        request_headers = await response.request.all_headers()
        try:
            body = await response.text()
        except Exception:  # a response without a body (204, a redirect)
            body = ""
        record = {
            "method": response.request.method,
            "kind": response.request.resource_type,
            "path": path,
            "status": response.status,
            "origin": request_headers.get("origin"),
            "sent_cookie": request_headers.get("cookie", ""),
            "set_cookie": [h["value"] for h in headers if h["name"].lower() == "set-cookie"],
            "body": body,
        }
        self.responses.append(record)
        if path == "/auth/refresh" and record["method"] == "POST":
            self.refresh_requests.append(record)

    def refresh_tokens(self) -> set[str]:
        tokens = set()
        for record in self.responses:
            for value in record["set_cookie"]:
                name, _, rest = value.partition("=")
                token = rest.split(";", 1)[0]
                if name == COOKIE and token:
                    tokens.add(token)
        return tokens


async def refresh_cookie(context: Any) -> dict[str, Any] | None:
    found = [c for c in await context.cookies() if c["name"] == COOKIE]
    assert len(found) <= 1, found
    return found[0] if found else None


async def assert_nothing_readable(page: Any, network: Network) -> None:
    """No refresh token in anything the page's scripts can read."""
    tokens = network.refresh_tokens()
    assert tokens, "no refresh cookie was ever set"
    readable = await page.evaluate(
        """() => JSON.stringify({
            cookie: document.cookie,
            local: Object.entries(localStorage),
            session: Object.entries(sessionStorage),
            client: window.musicezAuth,
            html: document.documentElement.outerHTML,
        })"""
    )
    for token in tokens:
        assert token not in readable
        for record in network.responses:
            assert token not in record["body"], record["path"]


async def wait_for_state(page: Any, state: str) -> None:
    await page.wait_for_selector(f'#status[data-state="{state}"]')


async def test_the_example_page_logs_in_refreshes_silently_and_other_origins_cannot_use_its_cookie(
    start_server: StartServer, tmp_path: Path
) -> None:
    page_port, cross_site_port, same_site_port = free_port(), free_port(), free_port()
    app_origin = f"http://localhost:{page_port}"
    server = start_server(
        MUSICEZ_CORS_ORIGINS=app_origin,
        MUSICEZ_REFRESH_REUSE_GRACE="0",
        MUSICEZ_ACCESS_TOKEN_TTL="3",  # the page renews it after 2.4 s
    )
    api = f"http://localhost:{server.port}"
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, site / "auth")
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    (attacker / "index.html").write_text(ATTACK_PAGE)
    network = Network(f"localhost:{server.port}")
    email = f"browser-mode-{uuid.uuid4().hex[:10]}@example.com"

    with static_site(page_port, site), static_site(cross_site_port, attacker), static_site(same_site_port, attacker):
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                context = await browser.new_context(service_workers="block")
                context.set_default_timeout(TIMEOUT_MS)
                context.on("response", network.on_response)
                page = await context.new_page()
                await page.goto(f"{app_origin}/auth/index.html?api={api}")
                await wait_for_state(page, "out")  # nothing to resume yet

                # Register: cookie mode, the access token in memory.
                await page.fill("#email", email)
                await page.fill("#password", STRONG_PASSWORD)
                await page.click("#register")
                await wait_for_state(page, "in")
                cookie = await refresh_cookie(context)
                assert cookie is not None
                assert (cookie["domain"], cookie["path"]) == ("localhost", "/auth")
                assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
                await page.click("#me")
                await page.wait_for_selector('#me[data-result="user"]')
                await assert_nothing_readable(page, network)

                # Silent refresh before the access token expires; /auth/me works with the new one.
                await page.wait_for_selector('#status[data-refreshes="1"]')
                await network.settle()
                rotated = await refresh_cookie(context)
                assert rotated is not None
                assert rotated["value"] != cookie["value"]
                assert network.refresh_requests[-1]["status"] == 200
                assert network.refresh_requests[-1]["origin"] == app_origin
                await page.evaluate("() => document.getElementById('me').removeAttribute('data-result')")
                await page.click("#me")
                await page.wait_for_selector('#me[data-result="user"]')

                # A reload forgets the access token; the cookie logs the page back in.
                await page.reload()
                await wait_for_state(page, "in")
                await assert_nothing_readable(page, network)

                # Pages on other origins try to refresh with the cookie (the example page is
                # closed meanwhile, so its own timer rotates nothing).
                await page.goto("about:blank")
                held = await refresh_cookie(context)
                assert held is not None
                before = len(network.refresh_requests)
                rotations_before = server.logs().count('"refresh_rotated"')
                assert rotations_before >= 2
                outcomes = {}
                for name, origin in (
                    ("cross-site", f"http://127.0.0.1:{cross_site_port}"),
                    ("same-site", f"http://localhost:{same_site_port}"),
                ):
                    evil = await context.new_page()
                    await evil.goto(f"{origin}/index.html")
                    outcomes[name] = await evil.evaluate("(api) => attack(api)", api)
                await network.settle()
                for name, out in outcomes.items():
                    assert out["json"].startswith("blocked"), (name, out)  # the preflight fails: never sent
                    assert out["text"].startswith("blocked"), (name, out)  # sent, but unreadable
                    assert out["no_cors"] == "opaque", (name, out)
                attempts = network.refresh_requests[before:]
                for record in attempts:
                    assert record["origin"] != app_origin
                    assert record["status"] in (403, 415), record
                    assert record["set_cookie"] == [], record
                # The form posts (navigations: their request headers are reliably reported) show
                # who stops what: SameSite keeps the cookie from the other site, while the
                # same-site page does send it and only the server refuses.
                forms = {r["origin"]: COOKIE in r["sent_cookie"] for r in attempts if r["kind"] == "document"}
                assert forms == {
                    f"http://127.0.0.1:{cross_site_port}": False,
                    f"http://localhost:{same_site_port}": True,
                }
                assert server.logs().count('"refresh_rotated"') == rotations_before

                # Nothing rotated: the cookie is the one the page held, and (no grace) it still refreshes.
                assert await refresh_cookie(context) == held
                await network.settle()
                await page.goto(f"{app_origin}/auth/index.html?api={api}")
                await wait_for_state(page, "in")
                await network.settle()
                resumed = network.refresh_requests[-1]
                assert resumed["status"] == 200
                assert f"{COOKIE}={held['value']}" in resumed["sent_cookie"]
                await page.click("#refresh")
                await page.wait_for_selector('#status[data-refreshes="2"]')
                await network.settle()
                assert network.refresh_requests[-1]["status"] == 200

                # Log out: the server clears the cookie; a reload finds no session.
                await page.click("#logout")
                await wait_for_state(page, "out")
                assert await refresh_cookie(context) is None
                await page.reload()
                await wait_for_state(page, "out")

                # Log in again, in cookie mode.
                await page.fill("#email", email)
                await page.fill("#password", STRONG_PASSWORD)
                await page.click("#login")
                await wait_for_state(page, "in")
                assert await refresh_cookie(context) is not None
                await assert_nothing_readable(page, network)
            finally:
                await browser.close()

    assert all(r["status"] < 500 for r in network.responses), network.responses
    for record in network.responses:  # no token response ever had the field
        if record["body"].startswith("{"):
            assert "refresh_token" not in json.loads(record["body"]), record
