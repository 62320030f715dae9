"""A Marketing-ops user reads runs and deliveries, never a credential.

The admin side is covered in ``test_admin_permissions.py``. Here: the read API
(the only API there is) shows no connection, account or secret, even when the
records it serves came from payloads and errors that once held credentials;
and the one export, ``export_connector_config``, writes placeholders only.
"""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from connector.models import SyncRun, SyncRunItem, WebhookDelivery
from connector.zoom.webhooks import seal_secrets

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(django_user_model):
    user = django_user_model.objects.create_user(
        "marketer", "m@example.test", "pw-marketer-123", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Marketing ops"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return api


def secrets_of(connection) -> list[str]:
    connection.refresh_from_db()
    values = [
        connection.client_secret,
        connection.webhook_secret_token,
        connection.previous_webhook_secret_token,
        connection.verification_token,
        connection.access_token,
        connection.refresh_token,
        connection.brevo_account.api_key,
    ]
    return [v for v in values if v]


@pytest.fixture
def records(connection):
    connection.verification_token = "legacy-verification-token-000000"
    connection.access_token = "access-token-held-by-the-portal-0000"
    connection.refresh_token = "refresh-token-held-by-the-portal-000"
    connection.save()
    WebhookDelivery.objects.create(
        connection=connection,
        event="recording.completed",
        body_sha256="c" * 64,
        payload=seal_secrets(
            {
                "event": "recording.completed",
                "download_token": "recording-download-token-0000000",
                "payload": {"object": {"password": "recording-passcode-0000"}},
            }
        ),
        headers={"x-zm-request-id": "r-1"},
        status=WebhookDelivery.Status.PROCESSED,
    )
    run = SyncRun.objects.create(
        connection=connection,
        kind="webinar",
        zoom_ref="uuid-1",
        trigger="admin",
        status=SyncRun.Status.FAILED,
        error="Brevo refused the API key of account Main Brevo: HTTP 401",
    )
    SyncRunItem.objects.create(
        run=run, email="a@example.test", reason="brevo_rejected", detail="HTTP 400"
    )
    return connection


def test_marketing_ops_reads_the_api_and_finds_no_credential(marketer, records):
    pages = [
        marketer.get("/api/webhook-deliveries/"),
        marketer.get("/api/sync-runs/"),
        marketer.get(f"/api/sync-runs/{SyncRun.objects.get().pk}/"),
        marketer.get(f"/api/webhook-deliveries/{WebhookDelivery.objects.get().pk}/"),
        marketer.get("/api/schema/?format=json"),
    ]
    assert [p.status_code for p in pages] == [200] * len(pages)
    text = "\n".join(p.content.decode() for p in pages)
    hidden = [
        *secrets_of(records),
        "recording-download-token-0000000",
        "recording-passcode-0000",
    ]
    for secret in hidden:
        assert secret not in text
    assert "[redacted]" in text
    # There is no endpoint for connections or Brevo accounts at all.
    schema = json.loads(pages[-1].content)
    assert all(
        path.startswith(("/api/webhook-deliveries/", "/api/sync-runs/", "/webhooks/"))
        for path in schema["paths"]
    )
    for path in ("/api/connections/", "/api/zoom-connections/", "/api/brevo-accounts/"):
        assert marketer.get(path).status_code == 404


def test_the_api_refuses_anyone_not_staff(records, django_user_model):
    user = django_user_model.objects.create_user("someone", "s@example.test", "pw")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    for path in ("/api/webhook-deliveries/", "/api/sync-runs/", "/api/schema/"):
        assert api.get(path).status_code == 403
    assert APIClient().get("/api/sync-runs/").status_code in (401, 403)


def test_the_export_writes_placeholders_never_secrets(records, settings):
    settings.ZOOM_OAUTH_CLIENT_SECRET = "user-app-client-secret-00000000"
    out = io.StringIO()
    call_command("export_connector_config", stdout=out)
    text = out.getvalue()
    assert "connectors" in text
    for secret in [*secrets_of(records), settings.ZOOM_OAUTH_CLIENT_SECRET]:
        assert secret not in text
    assert "${" in text  # environment references stand in for secrets
