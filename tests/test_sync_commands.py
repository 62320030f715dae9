"""The sync commands (foreground, progress, exit codes) and the admin actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import responses
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from connector.models import SyncRun, ZoomMeeting
from tests.conftest import load_fixture
from tests.test_sync_pipeline import BREVO, WEBINAR_ID, ZOOM, brevo_ok, zoom_webinar


@pytest.fixture
def conn(connection, settings):
    settings.ZOOM_API_BASE_URL = ZOOM
    settings.BREVO_API_BASE_URL = BREVO
    settings.BREVO_IMPORT_NOTIFY = "off"
    connection.access_token = "zoom-access-token-test"
    connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    return connection


@pytest.fixture
def no_waiting(monkeypatch):
    monkeypatch.setattr("connector.sync.imports.POLL_FIRST", 0.0)


def run_command(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@responses.activate
def test_sync_webinar_runs_in_the_foreground_with_progress_and_summary(
    conn, no_waiting
):
    zoom_webinar()
    brevo_ok()
    out, err = run_command("sync_webinar", WEBINAR_ID)
    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.COMMAND
    assert run.status == SyncRun.Status.SUCCEEDED
    assert f"Sync run #{run.pk} succeeded" in out
    assert "upserted 5 contacts, skipped 1 without email, 1 invalid emails" in out
    assert "registrants" in err
    assert re.search(r"participants\s+\[#+\.*\]\s+100% 9/9", err)


@responses.activate
def test_sync_meeting_exits_non_zero_when_the_run_failed(conn):
    responses.get(
        re.compile(rf"{ZOOM}/past_meetings/[^/]+$"),
        status=404,
        json={"code": 3001, "message": "Meeting does not exist: 81234567890."},
    )
    with pytest.raises(CommandError) as caught:
        run_command("sync_meeting", "81234567890", "--connection", conn.slug)
    assert caught.value.returncode == 1
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED


@responses.activate
def test_sync_command_says_when_the_run_was_rescheduled(conn):
    responses.get(
        re.compile(rf"{ZOOM}/past_meetings/[^/]+$"),
        status=429,
        json={"code": 429, "message": "maximum daily rate limit"},
        headers={
            "X-RateLimit-Type": "Daily-limit",
            "Retry-After": "2026-12-04T00:00:00Z",
        },
    )
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("sync_meeting", "81234567890", stdout=out, stderr=StringIO())
    assert caught.value.returncode == 75
    assert "next attempt at 2026-12-04 00:00 UTC" in out.getvalue()


def test_sync_command_needs_a_known_connection(conn, make_connection):
    with pytest.raises(CommandError, match="No Zoom connection with slug"):
        run_command("sync_meeting", "1", "--connection", "nope")
    make_connection()
    with pytest.raises(CommandError, match="pass --connection"):
        run_command("sync_meeting", "1")


@responses.activate
def test_backfill_finds_past_meetings_in_range_and_syncs_each(conn, no_waiting):
    responses.get(
        f"{ZOOM}/users",
        json={
            "users": [{"id": "host1", "email": "host@example.com"}],
            "next_page_token": "",
        },
    )
    responses.get(
        f"{ZOOM}/users/host1/meetings",
        json={
            "meetings": [
                {
                    "uuid": "aBc//dEf+gH/iJ==",
                    "id": 81234567890,
                    "topic": "Weekly sync",
                    "start_time": "2026-03-03T09:00:00Z",
                },
                {
                    "uuid": "old+uuid==",
                    "id": 81234567890,
                    "topic": "Weekly sync",
                    "start_time": "2026-01-03T09:00:00Z",
                },
            ],
            "next_page_token": "",
        },
    )
    responses.get(
        f"{ZOOM}/users/host1/webinars",
        status=400,
        json={"code": 3161, "message": "Your user account is not allowed webinars."},
    )
    responses.get(
        re.compile(rf"{ZOOM}/past_meetings/[^/]+$"),
        json=load_fixture("sync/past_meeting.json"),
    )
    responses.get(f"{ZOOM}/meetings/81234567890", json={"type": 8})
    responses.get(
        re.compile(rf"{ZOOM}/past_meetings/[^/]+/participants"),
        json=load_fixture("sync/meeting_participants.json"),
    )
    brevo_ok()
    out, _ = run_command("backfill", "--since", "2026-03-01", "--until", "2026-03-31")
    run = SyncRun.objects.get()
    assert run.zoom_ref == "aBc//dEf+gH/iJ=="
    assert run.status == SyncRun.Status.SUCCEEDED
    assert "1 occurrences" in out
    assert "Backfill done: 1 succeeded" in out


def test_backfill_refuses_bad_dates(conn):
    with pytest.raises(CommandError, match="Not a date"):
        run_command("backfill", "--since", "March")
    with pytest.raises(CommandError, match="before"):
        run_command("backfill", "--since", "2026-03-02", "--until", "2026-03-01")


def grant(user, codename: str) -> None:
    user.user_permissions.add(Permission.objects.get(codename=codename))


def test_resync_action_queues_one_run_per_occurrence(
    client, staff_user, conn, django_capture_on_commit_callbacks
):
    grant(staff_user, "view_zoommeeting")
    grant(staff_user, "resync_meeting")
    meetings = [
        ZoomMeeting.objects.create(
            connection=conn,
            kind="webinar",
            zoom_id=WEBINAR_ID,
            uuid=f"u{n}==",
            start_time=datetime(2026, 3, n, tzinfo=UTC),
        )
        for n in (1, 2)
    ]
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/admin/connector/zoommeeting/",
            {
                "action": "resync_participants",
                "_selected_action": [m.pk for m in meetings],
            },
            follow=True,
        )
    runs = list(SyncRun.objects.order_by("zoom_ref"))
    assert [(r.zoom_ref, r.trigger, r.status) for r in runs] == [
        ("u1==", "admin", "queued"),
        ("u2==", "admin", "queued"),
    ]
    assert all(r.requested_by == staff_user for r in runs)
    assert len(callbacks) == 2
    assert "Queued participant syncs for 2 occurrences" in response.content.decode()


def test_resync_needs_the_permission(client, staff_user, conn):
    grant(staff_user, "view_zoommeeting")
    meeting = ZoomMeeting.objects.create(
        connection=conn, kind="meeting", zoom_id="1", uuid="u=="
    )
    client.force_login(staff_user)
    client.post(
        "/admin/connector/zoommeeting/",
        {"action": "resync_participants", "_selected_action": [meeting.pk]},
    )
    assert not SyncRun.objects.exists()


def test_backfill_action_enqueues_a_backfill_per_connection(
    client, staff_user, conn, django_capture_on_commit_callbacks, monkeypatch
):
    grant(staff_user, "view_zoomconnection")
    grant(staff_user, "run_sync")
    sent = []
    monkeypatch.setattr(
        "connector.tasks.sync.backfill_task.delay",
        lambda *args: sent.append(args),
    )
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/connector/zoomconnection/",
            {"action": "backfill_last_30_days", "_selected_action": [conn.pk]},
            follow=True,
        )
    today = timezone.now().date()
    assert sent == [
        (
            conn.pk,
            (today - timedelta(days=30)).isoformat(),
            today.isoformat(),
            staff_user.pk,
        )
    ]
    assert "Queued a backfill of" in response.content.decode()


def test_run_page_shows_its_imports_and_items(client, staff_user, conn):
    from connector.models import BrevoImport, SyncRunItem

    grant(staff_user, "view_syncrun")
    grant(staff_user, "view_syncrunitem")
    run = SyncRun.objects.create(
        connection=conn, kind="webinar", zoom_ref=WEBINAR_ID, trigger="admin"
    )
    BrevoImport.objects.create(
        run=run, account=conn.brevo_account, process_id=4242, list_ids=[16, 17]
    )
    SyncRunItem.objects.create(run=run, name="iPhone", reason="no_email")
    client.force_login(staff_user)
    page = client.get(f"/admin/connector/syncrun/{run.pk}/change/").content.decode()
    assert "4242" in page
    assert "iPhone" in page
    assert conn.brevo_account.api_key not in page
