"""The interactive docs work in a real browser with no network but this machine's.

A real ``aftercare serve`` (uvicorn) on 127.0.0.1 against the test database; Debian's chromium,
driven by Playwright, with every request to anywhere but 127.0.0.1 aborted and recorded. The test
loads Swagger UI (``/docs``), authorises with a demo partner's credentials and runs
``GET /v1/organizations/me`` with "Try it out"; runs ``{ me { id } }`` in the GraphQL IDE with a
token from ``/oauth/token``; renders ReDoc (``/redoc``). Nothing may have tried to leave the
machine, and no page may have had a script or style refused by its Content-Security-Policy.

Skipped, saying why, where ``chromium`` is not installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright, expect

from app.domain.keys import generate_key
from tests.factories import Factory, Partner

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
# How long a page may take to render a large document or answer a click: ReDoc lays out the
# whole OpenAPI document in JavaScript, which took over 5 s (Playwright's default) on a slow,
# busy CI machine.
RENDER_MS = 30_000

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    keys_dir = tmp_path / "keys"
    generate_key(keys_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        {
            "AFTERCARE_ENV": "development",
            "AFTERCARE_DATABASE_URL": database_url,
            "AFTERCARE_DATA_DIR": str(tmp_path),
            "AFTERCARE_KEYS_DIR": str(keys_dir),
            "AFTERCARE_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AFTERCARE_LOG_LEVEL": "WARNING",
        }
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--no-worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Offline:
    """Every request to a host other than 127.0.0.1 is aborted and remembered; so is every
    console message about a script, style or connection the pages' Content-Security-Policy
    refused."""

    def __init__(self) -> None:
        self.left: list[str] = []
        self.refused: list[str] = []

    async def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            self.left.append(route.request.url)
            await route.abort()

    def watch(self, page: Page) -> None:
        def console(message: ConsoleMessage) -> None:
            text = message.text
            # ReDoc's sidebar shows Redocly's logo from their CDN: the policy refuses the image
            # (img-src 'self') and ReDoc then leaves it out. Anything else refused is a fault.
            if "Content Security Policy" in text and not text.startswith("Loading the image"):
                self.refused.append(text)

        page.on("console", console)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def _token(base: str, partner: Partner) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        minted = await http.post(
            base + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["access_token"]
    return token


async def _authorise_swagger(page: Page, partner: Partner, token: str) -> None:
    """Swagger UI's "Authorize": a bearer scheme takes the token as it is; the OAuth 2.0 client
    credentials scheme takes the client's id and secret and asks `/oauth/token` itself."""
    await page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    await expect(dialog).to_be_visible()
    bearer = 'input[aria-label="auth-bearer-value"]'
    if await dialog.locator(bearer).count():
        form = dialog.locator(f".auth-container:has({bearer})").first
        await form.locator(bearer).fill(token)
    else:
        form = dialog.locator('.auth-container:has(input[data-name="clientId"])').first
        await form.locator('input[data-name="clientId"]').fill(partner.client.client_id)
        await form.locator('input[data-name="clientSecret"]').fill(partner.secret)
    await form.locator("button.authorize").click()
    await expect(dialog.locator("h6", has_text="Authorized")).to_be_visible()
    await dialog.locator("button.btn-done").first.click()


async def test_swagger_ui_redoc_and_graphiql_work_offline(
    server: str, browser: Browser, factory: Factory
) -> None:
    partner = await factory.partner(name="Browser Test Partner (fictional)")
    token = await _token(server, partner)
    offline = Offline()
    context = await browser.new_context()
    await context.route("**/*", offline.route)
    page = await context.new_page()
    offline.watch(page)

    # Swagger UI: authorise, then "Try it out" on GET /v1/organizations/me.
    await page.goto(server + "/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Aftercare Exchange", timeout=RENDER_MS
    )
    await _authorise_swagger(page, partner, token)
    operation = page.locator(".opblock.opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/v1/organizations/me"]')
    )
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table .response")
    await expect(live.locator(".response-col_status")).to_contain_text("200", timeout=RENDER_MS)
    await expect(live.locator(".response-col_description")).to_contain_text(str(partner.org.id))

    # ReDoc renders the same document.
    await page.goto(server + "/redoc")
    await expect(page.locator(".api-info h1")).to_contain_text(
        "Aftercare Exchange", timeout=RENDER_MS
    )
    await expect(page.get_by_text("/v1/organizations/me").first).to_be_attached()

    # GraphiQL: the token in the Headers pane, `{ me { id } }`, run.
    await page.goto(server + "/graphql")
    await expect(page.locator(".graphiql-execute-button")).to_be_visible(timeout=RENDER_MS)
    await page.get_by_role("button", name="Headers", exact=True).click()
    await expect(page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden)")).to_have_count(
        1
    )
    await page.evaluate(
        """([headers, query]) => {
            const editor = (selector) => document.querySelector(selector).CodeMirror;
            editor(".graphiql-query-editor .CodeMirror").setValue(query);
            // The editor tools' visible one: the Headers tab was just chosen.
            editor(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
                .setValue(headers);
        }""",
        [f'{{"Authorization": "Bearer {token}"}}', "{ me { id } }"],
    )
    await page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response")
    await expect(response).to_contain_text(str(partner.org.id), timeout=RENDER_MS)
    await expect(response).not_to_contain_text('"errors"')

    await context.close()
    assert offline.left == [], "a page tried to reach another host"
    assert offline.refused == [], "the Content-Security-Policy refused something a page needs"
