"""A marketer opens the dashboard and the preview in a real browser.

Headless Chromium (Debian's /usr/bin/chromium) through Playwright, against the
portal served by ``live_server``. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.models import FollowUpDispatch, FollowUpRule, SyncRun

from .followups_factory import make_occurrence, only_rule

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def page(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the
    # test makes meanwhile are ordinary blocking ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


@pytest.fixture
def outcomes(transactional_db, connection):
    """Two occurrences with follow-ups sent, a run and one failure."""
    webinar = make_occurrence(connection)
    rule = only_rule(connection, trigger="attended", action="brevo_event")
    for email in ("ana@example.test", "ben@example.test", "cleo@example.test"):
        FollowUpDispatch.objects.create(
            rule=rule, meeting=webinar, email=email, status="sent"
        )
    meeting = make_occurrence(
        connection,
        kind="meeting",
        uuid="weekly-sync==",
        topic="Weekly customer office hours",
        start_time=webinar.start_time + timedelta(days=2),
        end_time=webinar.end_time + timedelta(days=2),
    )
    meeting.attendances.filter(status="no_show").delete()
    meeting.attendances.update(registrant_id="")
    FollowUpDispatch.objects.create(
        rule=rule,
        meeting=meeting,
        email="ben@example.test",
        status="failed",
        detail="attended 25 min (41.7%); Brevo error: Brevo did not answer",
    )
    SyncRun.objects.create(
        connection=connection,
        meeting=webinar,
        kind="webinar",
        trigger="webhook",
        status="succeeded",
        upserted=5,
        skipped_no_email=1,
    )
    webinar.recording_share_url = "https://us06web.zoom.us/rec/share/Q1RoadmapShare"
    webinar.save()
    FollowUpRule.objects.create(
        connection=connection,
        name="Recording email",
        trigger="recording_ready",
        action="transactional_template",
        template_id=7,
        enabled=False,
    )
    return webinar, meeting


def sign_in(page, live_server, staff_user) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", "pw-ops-123456")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def figures(page, meeting_id: int) -> dict[str, str]:
    card = page.locator(f'section.funnel[data-meeting="{meeting_id}"]')
    return {
        stage: " ".join(
            card.locator(f'g[data-stage="{stage}"] text.figure').text_content().split()
        )
        for stage in ("registered", "attended", "engaged", "followed_up")
        if card.locator(f'g[data-stage="{stage}"]').count()
    }


def test_dashboard_shows_each_funnel(page, live_server, staff_user, outcomes):
    webinar, meeting = outcomes
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server, staff_user)

    page.click("text=Event outcomes dashboard")
    page.wait_for_selector("section.funnel")
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    assert figures(page, webinar.pk) == {
        "registered": "5",
        "attended": "4 (80%)",
        "engaged": "2 (40%)",
        "followed_up": "3 (60%)",
    }
    # Office hours had no registration: its funnel starts at attended.
    assert figures(page, meeting.pk) == {
        "attended": "4",
        "engaged": "2 (50%)",
        "followed_up": "0 (0%)",
    }
    text = page.inner_text("#dashboard")
    assert (
        "80% of registrants attended, 50% of attendees engaged, 3 followed up." in text
    )
    assert "succeeded" in text.lower()  # the last run
    assert "Brevo did not answer" in text  # the failed follow-up


def test_preview_lists_what_a_sync_would_write(page, live_server, staff_user, outcomes):
    webinar, _ = outcomes
    ARTIFACTS.mkdir(exist_ok=True)
    email = FollowUpRule.objects.get(name="Recording email")
    sign_in(page, live_server, staff_user)
    # As the rules admin's "Preview" action opens it: with a rule not enabled yet.
    page.goto(f"{live_server.url}/dashboard/preview/?rules={email.pk}")
    page.select_option("#meeting", str(webinar.pk))
    page.click("input[value=Preview]")
    page.wait_for_selector("#contacts")
    page.screenshot(path=str(ARTIFACTS / "preview.png"), full_page=True)

    assert page.inner_text("#contact-count") == "5"
    contacts = page.inner_text("#contacts")
    assert "ana@example.test" in contacts and "WEBINAR_NAME = Q1 Roadmap" in contacts
    assert "iPhone (guest)" not in contacts  # no email, no contact
    assert "1 guest without an email would be skipped" in page.inner_text(
        "#preview-summary"
    )
    follow_ups = page.inner_text("#preview")
    assert (
        "“Recording email” (Recording ready → Send a template email, not enabled)"
        in (follow_ups)
    )
    assert "3 would be sent" in follow_ups
    assert "RECORDING_URL = https://us06web.zoom.us/rec/share/Q1RoadmapShare" in (
        follow_ups
    )
    assert FollowUpDispatch.objects.count() == 4  # nothing was written
