"""A played sandbox webinar synced over real HTTP, checked contact by contact.

The portal's live server serves the sandbox's Zoom and Brevo; the sync run
talks to them through its real clients, Brevo calls the portal's notify URL
back, and the test reads every expected contact from the sandbox's Brevo API.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.core.management import call_command

from connector.brevo.client import BrevoClient
from connector.models import (
    Attendance,
    BrevoImport,
    SyncRun,
    SyncRunItem,
    ZoomConnection,
)
from connector.sync.pipeline import run_sync

pytestmark = pytest.mark.e2e


@pytest.fixture
def portal(live_server, settings):
    base = live_server.url
    settings.PORTAL_BASE_URL = base
    settings.ZOOM_API_BASE_URL = f"{base}/sandbox/zoom/v2"
    settings.ZOOM_OAUTH_BASE_URL = f"{base}/sandbox/zoom"
    settings.BREVO_API_BASE_URL = f"{base}/sandbox/brevo/v3"
    settings.BREVO_IMPORT_NOTIFY = "auto"
    call_command("sandbox_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return ZoomConnection.objects.get(slug="sandbox")


def expected_people(uuid: str) -> tuple[dict[str, dict], set[str]]:
    """What the sandbox's Zoom holds for the occurrence, read from its records."""
    from sandbox.models import Occurrence, Participant, Registrant

    occurrence = Occurrence.objects.get(uuid=uuid)
    people: dict[str, dict] = defaultdict(
        lambda: {"attended": False, "registered": False, "seconds": 0}
    )
    registrants = Registrant.objects.filter(meeting=occurrence.meeting)
    by_id = {}
    for r in registrants.filter(status="approved"):
        people[r.email.lower()]["registered"] = True
        by_id[r.registrant_id] = r.email.lower()
    guests = set()
    for p in Participant.objects.filter(occurrence=occurrence):
        email = (p.email or by_id.get(p.registrant_id, "")).strip().lower()
        if not email:
            guests.add(p.name)
            continue
        people[email]["attended"] = True
        people[email]["seconds"] += int((p.leave_time - p.join_time).total_seconds())
    return dict(people), guests


def test_played_webinar_becomes_brevo_contacts_on_the_right_lists(portal):
    from sandbox.playback import Options, play

    played = play(Options(kind="webinar", attendees=24, webhooks=False, seed=11))
    people, guests = expected_people(played.uuid)
    assert any(p["registered"] and not p["attended"] for p in people.values())

    run = SyncRun.objects.create(
        connection=portal, kind="webinar", zoom_ref=played.uuid, trigger="command"
    )
    run = run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.upserted == len(people)
    assert run.no_shows == sum(1 for p in people.values() if not p["attended"])
    assert run.skipped_no_email == len(guests)
    assert run.items.filter(reason=SyncRunItem.Reason.NO_EMAIL).count() == len(guests)
    # Completion came through the notify URL: /processes was never asked.
    assert all(i.notified_at for i in run.imports.all())
    assert sum(i.process_polls for i in run.imports.all()) == 0
    assert run.imports.filter(status=BrevoImport.Status.COMPLETED).count() >= 2

    brevo = BrevoClient(portal.brevo_account)
    for email, person in people.items():
        contact = brevo.get_contact(email)
        assert contact is not None, email
        lists = set(contact["listIds"])
        attrs = contact["attributes"]
        if person["attended"]:
            assert 16 in lists, email
            assert attrs["ATTENDANCE_STATUS"] == "attended"
            minutes = round(person["seconds"] / 60, 1)
            assert attrs["MEETING_DURATION"] == pytest.approx(minutes, abs=0.1), email
            assert attrs["MEETING_JOIN_DATE"] == played_date(played.uuid)
        else:
            assert 16 not in lists, email
            assert attrs["ATTENDANCE_STATUS"] == "no_show"
        assert (17 in lists) == person["registered"], email
        attendance = Attendance.objects.get(meeting=run.meeting, person_key=email)
        assert attendance.status == ("attended" if person["attended"] else "no_show")

    # Running again changes nothing in Brevo: same contacts, same lists.
    before = brevo_state()
    again = SyncRun.objects.create(
        connection=portal, kind="webinar", zoom_ref=played.uuid, trigger="admin"
    )
    again = run_sync(again.pk)
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    assert again.brevo_calls == len(again.imports.all())  # attributes were cached
    assert brevo_state() == before
    assert Attendance.objects.filter(meeting=run.meeting).count() == (
        len(people) + len(guests)
    )


def played_date(uuid: str) -> str:
    from sandbox.models import Occurrence

    return Occurrence.objects.get(uuid=uuid).start_time.date().isoformat()


def brevo_state() -> dict[str, tuple]:
    """Every contact in the sandbox's Brevo with its attributes and lists."""
    from sandbox.models import Contact

    return {
        c.email: (c.attributes, sorted(c.lists.values_list("list_id", flat=True)))
        for c in Contact.objects.prefetch_related("lists")
    }


@pytest.fixture
def worker_points_at_sandbox(portal, live_server, monkeypatch):
    """The worker process reads its settings from the environment."""
    base = live_server.url
    monkeypatch.setenv("PORTAL_BASE_URL", base)
    monkeypatch.setenv("ZOOM_API_BASE_URL", f"{base}/sandbox/zoom/v2")
    monkeypatch.setenv("ZOOM_OAUTH_BASE_URL", f"{base}/sandbox/zoom")
    monkeypatch.setenv("BREVO_API_BASE_URL", f"{base}/sandbox/brevo/v3")
    return portal


def test_queued_run_is_done_by_a_real_worker(
    worker_points_at_sandbox, celery_worker_process
):
    from connector.sync.pipeline import start_sync
    from sandbox.playback import Options, play
    from tests.conftest import wait_for

    portal = worker_points_at_sandbox
    played = play(Options(kind="meeting", attendees=12, webhooks=False, seed=5))
    run = start_sync(portal, "meeting", played.uuid, SyncRun.Trigger.ADMIN)

    def finished():
        run.refresh_from_db()
        return run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)

    wait_for(finished, timeout=60, interval=0.3)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    people, _ = expected_people(played.uuid)
    assert run.upserted == len(people)
    state = brevo_state()
    for email in people:
        assert 15 in state[email][1], email
