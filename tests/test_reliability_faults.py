"""Sync runs under injected faults, over real HTTP to the sandbox.

The live server serves the sandbox's Zoom and Brevo; ``/sandbox/api/config``
switches on 500s, slow answers past the client timeout, tight rate limits (429
storms) and an access token that expires in the middle of the run. Whatever
happens, the run completes, every expected person is exactly one contact on
exactly the right lists, each follow-up event is sent once, and the run's record
shows the retries. With Brevo down for the whole run, the run says so with every
contact accounted for, and a later attempt completes it.

``SOAK=1`` plays bigger webinars and a higher error rate.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone

from connector.models import Attendance, SyncRun, SyncRunItem
from connector.sync.pipeline import TransientSyncError, run_sync

from .test_sync_e2e import expected_people

pytestmark = pytest.mark.e2e

SOAK = os.environ.get("SOAK") == "1"
ATTENDEES = 150 if SOAK else 40
# A small Zoom page makes the run take many calls, so faults have room to land.
PAGE_SIZE = 10


def record_figures(name: str, **figures) -> None:
    """Append figures to VAR_DIR/reliability-figures.jsonl and print them."""
    line = json.dumps({"test": name, **figures}, sort_keys=True)
    print(line)
    path = Path(django_settings.VAR_DIR) / "reliability-figures.jsonl"
    with path.open("a") as handle:
        handle.write(line + "\n")


def configure(base: str, **changes) -> dict:
    """Change the sandbox's run-time switches over HTTP."""
    answer = requests.post(f"{base}/sandbox/api/config", json=changes, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stats(base: str) -> dict:
    return requests.get(f"{base}/sandbox/api/stats", timeout=10).json()


# The follow-ups a finished run starts send events and email through clients of
# their own; the run's record counts the calls of the run itself.
FOLLOW_UP_ENDPOINTS = ("create_event", "create_batch_events", "send_transac_email")


def faults_met_by_the_run(outcome: str) -> int:
    """Answers of ``outcome`` (injected, rate_limited) the run's calls got."""
    from sandbox.models import CallLog

    return (
        CallLog.objects.filter(outcome=outcome)
        .exclude(endpoint__in=FOLLOW_UP_ENDPOINTS)
        .count()
    )


@pytest.fixture
def chaos(sandbox_env, settings, monkeypatch):
    """The sandbox with webhooks off, short timeouts and generous retries."""
    settings.BREVO_IMPORT_NOTIFY = "auto"
    settings.HTTP_TIMEOUT = 2.0
    settings.HTTP_MAX_RETRIES = 8
    monkeypatch.setattr("connector.zoom.client.PAGE_SIZE", PAGE_SIZE)
    requests.post(f"{sandbox_env.url}/sandbox/api/reset", json={}, timeout=10)
    configure(sandbox_env.url, brevo_import_seconds=0.2)
    return sandbox_env


def play_webinar(seed: int):
    from sandbox.playback import Options, play

    return play(Options(kind="webinar", attendees=ATTENDEES, webhooks=False, seed=seed))


def sync(connection, uuid: str, **kwargs) -> SyncRun:
    run = SyncRun.objects.create(
        connection=connection, kind="webinar", zoom_ref=uuid, trigger="command"
    )
    run_sync(run.pk, **kwargs)
    run.refresh_from_db()
    return run


def assert_exactly_once(uuid: str) -> dict:
    """Every expected person is one Brevo contact, on exactly the right lists,
    and no contact is there that should not be; each follow-up event once."""
    from sandbox.models import Contact, Event

    people, _guests = expected_people(uuid)
    contacts = {
        c.email: sorted(c.lists.values_list("list_id", flat=True))
        for c in Contact.objects.prefetch_related("lists")
    }
    assert set(contacts) == set(people)
    for email, person in people.items():
        lists = contacts[email]
        assert len(lists) == len(set(lists)), email
        assert (16 in lists) == person["attended"], email
        assert (17 in lists) == person["registered"], email
    events = Counter(
        (e.identifiers.get("email_id", ""), e.event_name) for e in Event.objects.all()
    )
    twice = {key: n for key, n in events.items() if n > 1}
    assert not twice, f"events sent more than once: {twice}"
    return {"contacts_expected": len(people), "contacts_found": len(contacts)}


class Flipper(threading.Thread):
    """Changes the sandbox once it has answered ``after`` calls of ``api``."""

    def __init__(self, base: str, api: str, after: int, action) -> None:
        super().__init__(daemon=True)
        self.base, self.api, self.after, self.action = base, api, after, action
        self.done = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stop.is_set():
                if stats(self.base)["calls"].get(self.api, 0) >= self.after:
                    self.action()
                    self.done.set()
                    return
                time.sleep(0.05)
        finally:
            connection.close()


def test_five_percent_errors_on_both_apis(chaos):
    played = play_webinar(seed=21)
    # 5 % of answers fail at random; the first two of each API fail for certain,
    # so retries happen on every run, not only on unlucky ones.
    rate = 0.15 if SOAK else 0.05
    configure(
        chaos.url,
        zoom_error_rate=rate,
        brevo_error_rate=rate,
        zoom_fail_next=2,
        brevo_fail_next=2,
    )

    run = sync(chaos.connection, played.uuid)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    injected = faults_met_by_the_run("injected")
    assert injected >= 4
    assert run.retries >= injected  # every injected 500 was retried
    figures = assert_exactly_once(played.uuid)
    record_figures(
        "five_percent_errors",
        retries=run.retries,
        injected_500s=injected,
        zoom_calls=run.zoom_calls,
        brevo_calls=run.brevo_calls,
        **figures,
    )


def test_slow_answers_past_the_timeout(chaos, settings):
    from sandbox.models import CallLog

    settings.HTTP_TIMEOUT = 0.4
    played = play_webinar(seed=22)
    # Zoom answers after 1 s until it has answered 3 calls, Brevo after its
    # first 2: each of those calls times out at 0.4 s and is asked again.
    configure(chaos.url, zoom_delay_ms=1000)
    zoom_fast = Flipper(
        chaos.url, "zoom", 3, lambda: configure(chaos.url, zoom_delay_ms=0)
    )
    zoom_fast.start()

    def slow_brevo_once() -> None:
        configure(chaos.url, brevo_delay_ms=1000)
        Flipper(
            chaos.url, "brevo", 3, lambda: configure(chaos.url, brevo_delay_ms=0)
        ).run()

    brevo_slow = Flipper(chaos.url, "zoom", 8, slow_brevo_once)
    brevo_slow.start()

    run = sync(chaos.connection, played.uuid)
    zoom_fast.stop.set()
    brevo_slow.join(timeout=10)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    slow = CallLog.objects.filter(duration_ms__gte=900).count()
    assert slow >= 3
    assert run.retries >= 3
    figures = assert_exactly_once(played.uuid)
    record_figures("slow_answers", retries=run.retries, slow_answers=slow, **figures)


def test_429_storm(chaos):
    played = play_webinar(seed=23)
    # The connection's budgets allow 20 Zoom calls a second; Zoom allows 2 and
    # Brevo 1: most calls meet a 429 and wait.
    configure(
        chaos.url,
        rate_limits=True,
        zoom_medium_per_second=4,
        zoom_light_per_second=4,
        brevo_contacts_per_second=1,
    )

    run = sync(chaos.connection, played.uuid)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    limited = faults_met_by_the_run("rate_limited")
    assert limited >= 3
    assert run.retries >= limited
    figures = assert_exactly_once(played.uuid)
    record_figures("429_storm", retries=run.retries, rate_limited=limited, **figures)


def test_token_expires_in_the_middle_of_the_run(chaos):
    from sandbox.models import IssuedToken

    played = play_webinar(seed=24)

    def expire_tokens() -> None:
        IssuedToken.objects.filter(kind="access").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

    # The portal still holds the token as fresh: Zoom's 401 code 124 is what
    # tells it, after a few pages.
    flipper = Flipper(chaos.url, "zoom", 4, expire_tokens)
    flipper.start()
    issued_before = IssuedToken.objects.filter(kind="access").count()

    run = sync(chaos.connection, played.uuid)
    flipper.stop.set()

    assert flipper.done.is_set()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    seen = stats(chaos.url)
    assert seen["calls_by_status"].get("zoom:401", 0) >= 1
    assert IssuedToken.objects.filter(kind="access").count() > issued_before
    figures = assert_exactly_once(played.uuid)
    record_figures(
        "token_expired",
        refused_with_401=seen["calls_by_status"].get("zoom:401", 0),
        **figures,
    )


def test_brevo_down_for_the_whole_run_then_back(chaos, settings):
    from sandbox.models import Contact

    settings.HTTP_MAX_RETRIES = 3

    played = play_webinar(seed=25)
    people, guests = expected_people(played.uuid)
    configure(chaos.url, brevo_error_rate=1.0)

    # An attempt that is not the last puts the run back in the queue.
    run = SyncRun.objects.create(
        connection=chaos.connection,
        kind="webinar",
        zoom_ref=played.uuid,
        trigger="command",
    )
    with pytest.raises(TransientSyncError):
        run_sync(run.pk, final_attempt=False)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED
    assert run.attempt == 2
    assert "Brevo" in run.error and "Will retry" in run.error
    assert run.retries >= django_settings.HTTP_MAX_RETRIES

    # The last attempt gives up: failed, with every person accounted for.
    failed = sync(chaos.connection, played.uuid)
    assert failed.status == SyncRun.Status.FAILED
    assert "Brevo" in failed.error
    assert Contact.objects.count() == 0
    assert failed.upserted == 0
    accounted = failed.failed + failed.skipped_no_email
    invalid = failed.items.filter(reason=SyncRunItem.Reason.INVALID_EMAIL).count()
    assert accounted + invalid == len(people) + len(guests)
    # Brevo being down loses nothing on the portal's side: who came and who
    # was skipped is on record.
    guest_items = failed.items.filter(reason=SyncRunItem.Reason.NO_EMAIL)
    assert guest_items.count() == failed.skipped_no_email == len(guests)
    stored = Attendance.objects.filter(meeting__uuid=played.uuid)
    assert stored.count() == len(people) + len(guests) + invalid

    # Brevo is back: the queued run's next attempt completes it.
    configure(chaos.url, brevo_error_rate=0.0)
    run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.upserted == len(people)
    figures = assert_exactly_once(played.uuid)
    record_figures(
        "brevo_down",
        failed_run_failed_count=failed.failed,
        retries_while_down=failed.retries,
        **figures,
    )
