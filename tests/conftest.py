"""Shared fixtures: connections, accounts, users, and real worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from connector import ratelimit
from connector.models import BrevoAccount, ZoomConnection

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_fixture(name: str) -> dict:
    """A captured-shape payload from tests/fixtures/ (see each file's _source)."""
    data = json.loads((FIXTURES / name).read_text())
    data.pop("_source", None)
    return data


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    ratelimit.get_limiter.cache_clear()
    ratelimit.get_limiter().reset()
    yield
    ratelimit.get_limiter.cache_clear()


@pytest.fixture
def brevo_account(db) -> BrevoAccount:
    return BrevoAccount.objects.create(
        name="Main Brevo",
        api_key="xkeysib-test-key-000000000000000000000000000000-abcd",
        sender_email="events@example.test",
        sender_name="Events team",
    )


@pytest.fixture
def make_connection(db, brevo_account):
    def make(**kwargs) -> ZoomConnection:
        n = ZoomConnection.objects.count() + 1
        values = {
            "name": f"Zoom account {n}",
            "slug": f"zoom-{n}" if n > 1 else "default",
            "auth_type": ZoomConnection.AuthType.SERVER_TO_SERVER,
            "account_id": "AcctTest0001",
            "client_id": "client-id-test",
            "client_secret": "client-secret-test-0000000000000000",
            "webhook_secret_token": "webhook-secret-test-00000000000000",
            "brevo_account": brevo_account,
        }
        values.update(kwargs)
        return ZoomConnection.objects.create(**values)

    return make


@pytest.fixture
def connection(make_connection) -> ZoomConnection:
    return make_connection()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        "ops", "ops@example.test", "pw-ops-123456", is_staff=True
    )


def worker_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that shares this test run's database."""
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db.get("USER") or "postgres"
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env.update(extra)
    return env


def worker_command(name: str = "") -> list[str]:
    """`celery worker` on the portal's queue, one process, quick to start."""
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo",
        "--without-mingle", "--without-gossip", "--loglevel=INFO", "-Q", "portal",
    ]  # fmt: skip
    if name:
        command += ["-n", f"{name}@%h"]
    return command


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the configured broker and test database."""
    from portal.celery import app

    # Drop messages left by an earlier, interrupted run.
    with app.connection_for_write() as conn:
        app.amqp.queues["portal"](conn.default_channel).purge()

    log = open(settings.VAR_DIR / "worker-test.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        worker_command(),
        cwd=ROOT,
        env=worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        text = (settings.VAR_DIR / "worker-test.log").read_text()
        if "ready." in text:
            ready = True
            break
        time.sleep(0.2)
    if not ready:
        proc.kill()
        pytest.fail(
            "worker did not start:\n"
            + (settings.VAR_DIR / "worker-test.log").read_text()[-3000:]
        )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll until predicate() is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


@pytest.fixture
def sandbox_env(live_server, settings):
    """The sandbox seeded and served by the live server, with the portal's base
    URLs pointing at it; ``.connection`` is the seeded ZoomConnection "sandbox"."""
    import io
    from types import SimpleNamespace

    from django.core.management import call_command

    from sandbox import models as sb
    from sandbox.runtime import limiter

    settings.PORTAL_BASE_URL = live_server.url
    settings.ZOOM_OAUTH_BASE_URL = f"{live_server.url}/sandbox/zoom"
    settings.ZOOM_API_BASE_URL = f"{live_server.url}/sandbox/zoom/v2"
    settings.BREVO_API_BASE_URL = f"{live_server.url}/sandbox/brevo/v3"
    call_command("sandbox_seed", stdout=io.StringIO())
    limiter.reset()
    connection = ZoomConnection.objects.get(slug="sandbox")
    return SimpleNamespace(
        url=live_server.url,
        zoom_oauth=settings.ZOOM_OAUTH_BASE_URL,
        zoom_api=settings.ZOOM_API_BASE_URL,
        brevo_api=settings.BREVO_API_BASE_URL,
        connection=connection,
        brevo_account=connection.brevo_account,
        zoom_app=sb.ZoomApp.objects.get(client_id=connection.client_id),
    )
