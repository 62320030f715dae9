"""Crashes on PostgreSQL and Redis: a worker killed mid-run, a web process
restarted while deliveries arrive.

- A worker is SIGKILLed in the middle of a sync run. With late
  acknowledgement the message stays unacknowledged in Redis; once the
  visibility timeout (5 s here) has passed, the next worker gets it again,
  re-claims the run and finishes it, with no contact, list membership, item or
  event twice.
- The web process is stopped (SIGTERM) and later killed (SIGKILL) while
  senders post signed deliveries and retry every non-2xx answer, as Zoom does.
  Every delivery answered 2xx has its row, each body is stored once (a retry of
  a delivery whose answer was lost is recorded as a duplicate), and the worker
  processes every one of them.

These need real services: they are skipped on SQLite or the embedded broker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings

from connector.models import Attendance, SyncRun, SyncRunItem, WebhookDelivery
from connector.sync.pipeline import start_sync
from connector.tasks.webhooks import requeue_stale_deliveries

from .conftest import ROOT, load_fixture, wait_for, worker_command, worker_env
from .test_reliability_faults import (
    assert_exactly_once,
    configure,
    record_figures,
    stats,
)
from .test_sync_e2e import expected_people
from .test_webhook_endpoint import SECRET, body_of, zoom_headers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

SOAK = os.environ.get("SOAK") == "1"
VISIBILITY_TIMEOUT = 5


@pytest.fixture(autouse=True)
def _needs_services():
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine or not django_settings.CELERY_BROKER_URL.startswith(
        "redis"
    ):
        pytest.skip("needs DATABASE_URL on PostgreSQL and CELERY_BROKER_URL on Redis")


@pytest.fixture
def real_queue(settings):
    """Tasks go to the broker (not inline), and the queue starts empty."""
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        app.amqp.queues["portal"](conn.default_channel).purge()
    yield app
    app.conf.task_always_eager = True


class Process:
    """A child process in its own process group, logging to VAR_DIR/<name>.log."""

    def __init__(self, name: str, args: list[str], env: dict, ready: str) -> None:
        self.name = name
        self.log_path = Path(django_settings.VAR_DIR) / f"{name}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            if ready in self.log_path.read_text():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{name} did not start:\n{self.log_path.read_text()[-3000:]}")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.log.close()

    def text(self) -> str:
        return self.log_path.read_text()


def start_worker(name: str, **env: str) -> Process:
    return Process(
        name,
        worker_command(name),
        worker_env(CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT), **env),
        ready="ready.",
    )


def settled(predicate, timeout: float) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web(name: str, port: int) -> Process:
    return Process(
        name,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
        ],
        worker_env(),
        ready="Booting worker",
    )


# A worker killed in the middle of a run -------------------------------------


def test_worker_killed_mid_run_is_redelivered_and_finishes_once(
    sandbox_env, real_queue
):
    from sandbox.playback import Options, play

    played = play(
        Options(kind="webinar", attendees=120 if SOAK else 50, webhooks=False, seed=31)
    )
    people, guests = expected_people(played.uuid)
    # Slow Zoom answers keep the run busy long enough to kill it mid-way.
    configure(sandbox_env.url, zoom_delay_ms=700, brevo_import_seconds=0.2)
    env = {
        "PORTAL_BASE_URL": sandbox_env.url,
        "ZOOM_API_BASE_URL": sandbox_env.zoom_api,
        "ZOOM_OAUTH_BASE_URL": sandbox_env.zoom_oauth,
        "BREVO_API_BASE_URL": sandbox_env.brevo_api,
    }
    first = start_worker("reliability-worker-a", **env)
    second = None
    try:
        run = start_sync(sandbox_env.connection, "webinar", played.uuid, "admin")

        def busy() -> bool:
            run.refresh_from_db()
            return run.status == SyncRun.Status.RUNNING and (
                stats(sandbox_env.url)["calls"].get("zoom", 0) >= 2
            )

        wait_for(busy, timeout=30)
        first.signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        killed_at = time.monotonic()
        run.refresh_from_db()
        assert run.status == SyncRun.Status.RUNNING  # killed before it finished
        configure(sandbox_env.url, zoom_delay_ms=0)

        # Redis hands the unacknowledged message out again once the visibility
        # timeout has passed; a worker starting after that picks it up.
        time.sleep(max(VISIBILITY_TIMEOUT + 1 - (time.monotonic() - killed_at), 0))
        second = start_worker("reliability-worker-b", **env)

        def finished() -> bool:
            run.refresh_from_db()
            return run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)

        wait_for(finished, timeout=60, interval=0.3)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # The very message the killed worker took was delivered again.
    taken = re.search(
        r"Task connector\.sync\.run\[([0-9a-f-]+)\] received", first.text()
    )
    assert taken, first.text()[-2000:]
    assert f"connector.sync.run[{taken.group(1)}] received" in second.text()
    assert f"connector.sync.run[{taken.group(1)}] succeeded" in second.text()
    assert run.upserted == len(people)
    assert run.items.filter(reason=SyncRunItem.Reason.NO_EMAIL).count() == len(guests)
    assert Attendance.objects.filter(meeting=run.meeting).count() == len(people) + len(
        {g.lower() for g in guests}
    )
    figures = assert_exactly_once(played.uuid)
    record_figures("worker_sigkill", runs=1, **figures)


# The web process restarted while deliveries arrive --------------------------


def delivery_bodies(count: int) -> list[bytes]:
    """``count`` distinct participant_joined deliveries of one meeting."""
    base = load_fixture("zoom_webhooks/meeting_participant_joined.json")
    bodies = []
    for n in range(count):
        data = json.loads(json.dumps(base))
        person = data["payload"]["object"]["participant"]
        person["user_id"] = str(16778240 + n)
        person["participant_uuid"] = f"00000000-0000-4000-8000-{n:012d}"
        person["user_name"] = f"Participant {n}"
        person["email"] = f"participant.{n}@example.test"
        data["event_ts"] = 1785574870000 + n
        bodies.append(body_of(data))
    return bodies


class Sender:
    """Posts each body until it is answered 2xx, as Zoom retries (compressed)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.attempts = 0
        self.refused = 0
        self.lock = threading.Lock()

    def send(self, body: bytes) -> dict:
        session = requests.Session()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with self.lock:
                self.attempts += 1
            try:
                answer = session.post(
                    self.url, data=body, headers=zoom_headers(SECRET, body), timeout=5
                )
            except requests.RequestException:
                answer = None
            if answer is not None and 200 <= answer.status_code < 300:
                return answer.json()
            with self.lock:
                self.refused += 1
            session.close()
            session = requests.Session()
            time.sleep(0.2)
        raise AssertionError("a delivery was never accepted")


def test_web_restarts_lose_no_accepted_delivery(
    transactional_db, connection, real_queue, monkeypatch
):
    count = 600 if SOAK else 90
    bodies = delivery_bodies(count)
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/zoom/{connection.slug}/"
    worker = start_worker("reliability-worker-web")
    web = start_web("reliability-web-1", port)
    sender = Sender(url)
    answers: list[dict] = []
    restarts = []

    def restart_twice() -> None:
        nonlocal web
        for sig, at in ((signal.SIGTERM, count // 3), (signal.SIGKILL, 2 * count // 3)):
            while len(answers) < at:
                time.sleep(0.01)
            web.signal(sig)
            web.proc.wait(timeout=20)
            web.log.close()
            web = start_web(f"reliability-web-{len(restarts) + 2}", port)
            restarts.append(sig)

    restarter = threading.Thread(target=restart_twice, daemon=True)
    restarter.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for answer in pool.map(sender.send, bodies):
                answers.append(answer)
        restarter.join(timeout=60)
        assert len(restarts) == 2

        accepted_ids = {a["id"] for a in answers}
        rows = WebhookDelivery.objects.filter(pk__in=accepted_ids)
        assert rows.count() == len(accepted_ids)  # every 2xx has its row
        stored = WebhookDelivery.objects.exclude(
            status__in=[
                WebhookDelivery.Status.DUPLICATE,
                WebhookDelivery.Status.REJECTED,
            ]
        )
        assert stored.count() == count  # each body once
        assert stored.values("body_sha256").distinct().count() == count

        def all_processed() -> bool:
            return (
                WebhookDelivery.objects.filter(
                    status=WebhookDelivery.Status.PROCESSED
                ).count()
                == count
            )

        requeued = 0
        if not settled(all_processed, timeout=30):
            # A process killed between committing a row and handing its message
            # to Redis leaves the row `accepted`: the periodic sweep re-queues it.
            monkeypatch.setattr(
                "connector.tasks.webhooks.STALE_AFTER", timedelta(seconds=0)
            )
            requeued = requeue_stale_deliveries()
        wait_for(all_processed, timeout=60, interval=0.5)
    finally:
        restarter.join(timeout=30)
        web.stop()
        worker.stop()

    attendance = Attendance.objects.filter(meeting__uuid="de+IDqR9f3hhT9D8/NA/J1==")
    assert attendance.count() == count  # each join recorded once
    assert set(attendance.values_list("sessions", flat=True)) == {1}
    record_figures(
        "web_restart",
        deliveries_sent=count,
        send_attempts=sender.attempts,
        refused_or_dropped=sender.refused,
        stored=stored.count(),
        duplicates=WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.DUPLICATE
        ).count(),
        processed=count,
        restarts=len(restarts),
        requeued_by_sweep=requeued,
    )
