"""Sandbox pages over HTTP, the seed command, and the sandbox being absent when
SANDBOX is off."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import requests
from django.core.management import call_command

from connector.models import BrevoAccount, ZoomConnection
from sandbox import models as sb
from sandbox.playback import Options, play

from .conftest import ROOT, worker_env

pytestmark = pytest.mark.e2e


def test_seed_is_idempotent_and_matches_the_sandbox(sandbox_env):
    connection = sandbox_env.connection
    app = sandbox_env.zoom_app
    assert connection.auth_type == ZoomConnection.AuthType.SERVER_TO_SERVER
    assert connection.account_id == app.account.account_id
    assert connection.client_secret == app.client_secret
    assert connection.webhook_secret_token == app.webhook_secret_token
    assert connection.brevo_account.api_key == sb.BrevoAccount.objects.get().api_key
    out = io.StringIO()
    call_command("sandbox_seed", stdout=out)
    assert "Created" not in out.getvalue()
    assert ZoomConnection.objects.filter(slug="sandbox").count() == 1
    assert BrevoAccount.objects.count() == 1
    assert sb.ZoomApp.objects.count() == 2 and sb.ZoomUser.objects.count() == 3
    assert sorted(sb.ContactList.objects.values_list("list_id", flat=True)) == [
        15,
        16,
        17,
        18,
    ]
    # The secrets did not change on the second run.
    connection.refresh_from_db()
    assert connection.client_secret == app.client_secret


def test_pages_show_both_sides(sandbox_env):
    result = play(Options(kind="webinar", attendees=25, seed=11, webhooks=False))
    headers = {"api-key": sandbox_env.brevo_account.api_key}
    requests.post(
        f"{sandbox_env.brevo_api}/contacts",
        json={
            "email": "zoe@example.com",
            "attributes": {"FIRSTNAME": "Zoë"},
            "listIds": [16],
        },
        headers=headers,
        timeout=10,
    )
    requests.post(
        f"{sandbox_env.brevo_api}/events",
        json={
            "event_name": "webinar_attended",
            "identifiers": {"email_id": "zoe@example.com"},
        },
        headers=headers,
        timeout=10,
    )
    base = f"{sandbox_env.url}/sandbox"
    home = requests.get(f"{base}/", timeout=10)
    assert home.status_code == 200 and 'id="play"' in home.text
    brevo = requests.get(f"{base}/brevo/", timeout=10).text
    assert "zoe@example.com" in brevo and "Zoë" in brevo and "webinar_attended" in brevo
    zoom = requests.get(f"{base}/zoom/", timeout=10).text
    assert str(result.meeting_id) in zoom
    meeting = sb.Meeting.objects.get(meeting_id=result.meeting_id)
    detail = requests.get(f"{base}/zoom/meetings/{meeting.pk}/", timeout=10).text
    assert "李雷" in detail and "(guest)" in detail and result.uuid in detail
    calls = requests.get(f"{base}/zoom/calls/?api=brevo", timeout=10).text
    assert "create_event" in calls
    contact = sb.Contact.objects.get(email="zoe@example.com")
    page = requests.get(f"{base}/brevo/contacts/{contact.pk}/", timeout=10).text
    assert "webinar_attended" in page
    # Secrets never appear on a page.
    for text in (home.text, brevo, zoom):
        assert sandbox_env.zoom_app.client_secret not in text
        assert sandbox_env.brevo_account.api_key not in text


def test_stats_json(sandbox_env):
    stats = requests.get(f"{sandbox_env.url}/sandbox/api/stats", timeout=10).json()
    assert {
        "calls",
        "calls_by_endpoint",
        "calls_by_category",
        "rate_limited",
        "injected_errors",
        "zoom",
        "brevo",
        "webhooks",
    } <= set(stats)
    assert stats["brevo"]["lists"] == 4


def test_sandbox_absent_when_off():
    script = (
        "import django; django.setup();"
        "from django.urls import resolve, Resolver404;"
        "from django.conf import settings;"
        "assert 'sandbox' not in settings.INSTALLED_APPS;"
        "\ntry:\n resolve('/sandbox/zoom/oauth/token')"
        "\nexcept Resolver404:\n print('absent')"
    )
    env = worker_env(SANDBOX="false")
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "absent", done.stderr


def test_unknown_api_paths_answer_json(sandbox_env):
    zoom = requests.get(f"{sandbox_env.zoom_api}/metrics/meetings", timeout=10)
    assert zoom.status_code == 404 and zoom.json()["code"] == 404
    brevo = requests.get(f"{sandbox_env.brevo_api}/loyalty/programs", timeout=10)
    assert brevo.status_code == 404 and brevo.json()["code"] == "document_not_found"


def test_admin_links_to_the_play_page(sandbox_env, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.test", "pw-12345")
    session = requests.Session()
    login = session.get(f"{sandbox_env.url}/admin/login/", timeout=10)
    answer = session.post(
        login.url,
        data={
            "username": "root",
            "password": "pw-12345",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login.url},
        timeout=10,
    )
    assert answer.url.endswith("/admin/")
    page = session.get(f"{sandbox_env.url}/admin/sandbox/meeting/", timeout=10)
    assert page.status_code == 200 and "/sandbox/play/" in page.text
    app = sandbox_env.zoom_app
    detail = session.get(
        f"{sandbox_env.url}/admin/sandbox/zoomapp/{app.pk}/change/", timeout=10
    )
    assert detail.status_code == 200 and app.client_id in detail.text
    assert app.client_secret not in detail.text
    assert app.webhook_secret_token not in detail.text
