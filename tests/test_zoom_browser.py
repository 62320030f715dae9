""" "Connect Zoom" in a real browser: Playwright driving Debian's Chromium.

The portal serves itself and the sandbox's consent page (``live_server``). The
database is touched only outside the Playwright block: its sync API runs an
event loop that Django's async-safety check would object to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from connector.models import ConnectionEvent, ZoomConnection

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "pw-browser-host-123456"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing"),
    pytest.mark.skipif(not django_settings.SANDBOX, reason="the sandbox is off"),
]


@pytest.fixture
def portal(live_server, settings, transactional_db):
    settings.ZOOM_OAUTH_BASE_URL = f"{live_server.url}/sandbox/zoom"
    settings.ZOOM_API_BASE_URL = f"{live_server.url}/sandbox/zoom/v2"
    settings.PORTAL_BASE_URL = live_server.url
    from sandbox import seed

    seed.ensure_zoom_account()
    seed.ensure_user_oauth_app()
    return live_server


def test_connect_zoom_in_a_browser(portal, django_user_model):
    from playwright.sync_api import sync_playwright

    host = django_user_model.objects.create_user(
        "browser-host", "host@example.test", PASSWORD
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "connect-zoom-connected.png"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            # A host (not staff) signs in on the portal's own page.
            page.goto(f"{portal.url}/connect/zoom/")
            page.wait_for_url("**/accounts/login/**")
            page.fill("#id_username", host.username)
            page.fill("#id_password", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(f"{portal.url}/connect/zoom/")

            page.click("button:has-text('Connect Zoom')")
            page.wait_for_url("**/sandbox/zoom/oauth/authorize**")
            consent = page.inner_text("body")
            page.click("button:has-text('Allow')")
            page.wait_for_url(f"{portal.url}/connect/zoom/")

            page.screenshot(path=str(shot), full_page=True)
            text = page.inner_text("body")
        finally:
            browser.close()

    assert "Allow" in consent
    assert "Zoom connected:" in text
    assert "Connected" in text and "Disconnect" in text
    assert shot.stat().st_size > 0
    conn = ZoomConnection.objects.get(owner=host)
    assert conn.status == ZoomConnection.Status.ACTIVE
    assert conn.zoom_user_email in text
    assert conn.events.filter(kind=ConnectionEvent.Kind.CONNECTED).exists()
