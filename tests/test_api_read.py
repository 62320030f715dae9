"""The read API over deliveries and sync runs, and its OpenAPI schema."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from connector.models import SyncRun, SyncRunItem, WebhookDelivery
from connector.zoom.webhooks import seal_secrets

from .conftest import load_fixture

Status = WebhookDelivery.Status


@pytest.fixture
def api(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def delivery(connection, name: str, status: str, *, age=timedelta(0), n=0):
    data = load_fixture(f"zoom_webhooks/{name}.json")
    data["event_ts"] += n
    sha = hashlib.sha256(json.dumps(data).encode()).hexdigest()
    return WebhookDelivery.objects.create(
        connection=connection,
        connection_slug=connection.slug,
        received_at=timezone.now() - age,
        event=data["event"],
        body_sha256=sha,
        dedupe_key=sha if status != Status.REJECTED else None,
        payload=seal_secrets(data) if status != Status.REJECTED else None,
        signature_verdict=(
            WebhookDelivery.Verdict.INVALID
            if status == Status.REJECTED
            else WebhookDelivery.Verdict.VALID
        ),
        status=status,
    )


@pytest.fixture
def deliveries(make_connection):
    first = make_connection()
    second = make_connection()
    return {
        "old": delivery(first, "meeting_started", Status.PROCESSED, age=timedelta(3)),
        "failed": delivery(first, "meeting_ended", Status.FAILED, age=timedelta(1)),
        "rec": delivery(first, "recording_completed", Status.PROCESSED),
        "other": delivery(second, "meeting_started", Status.REJECTED, n=1),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_lists_deliveries_newest_first(api, deliveries):
    response = api.get("/api/webhook-deliveries/")

    rows = response.json()["results"]
    assert response.json()["count"] == 4
    assert [r["id"] for r in rows][-1] == deliveries["old"].pk
    row = next(r for r in rows if r["id"] == deliveries["failed"].pk)
    assert row["event"] == "meeting.ended"
    assert row["status"] == "failed"
    assert row["connection_slug"] == "default"
    assert row["payload"]["payload"]["object"]["uuid"] == "de+IDqR9f3hhT9D8/NA/J1=="


def test_filters(api, deliveries):
    d = deliveries
    url = "/api/webhook-deliveries/"
    assert ids(api.get(url, {"status": "failed"})) == {d["failed"].pk}
    assert ids(api.get(f"{url}?status=failed&status=rejected")) == {
        d["failed"].pk,
        d["other"].pk,
    }
    assert ids(api.get(url, {"event": "recording.completed"})) == {d["rec"].pk}
    assert ids(api.get(url, {"connection": "zoom-2"})) == {d["other"].pk}
    assert ids(api.get(url, {"connection": d["other"].connection_id})) == {
        d["other"].pk
    }
    assert ids(api.get(url, {"signature_verdict": "invalid"})) == {d["other"].pk}
    since = (timezone.now() - timedelta(days=2)).isoformat()
    assert d["old"].pk not in ids(api.get(url, {"since": since}))
    until = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert ids(api.get(url, {"until": until})) == {d["old"].pk}


def test_bad_date_filter_is_400(api, deliveries):
    response = api.get("/api/webhook-deliveries/", {"since": "last tuesday"})

    assert response.status_code == 400
    assert "since" in response.json()


def test_payload_credentials_are_redacted(api, deliveries):
    response = api.get(f"/api/webhook-deliveries/{deliveries['rec'].pk}/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "rec-pass-42" not in text
    assert "enc1:" not in text
    assert response.json()["payload"]["payload"]["object"]["password"] == "[redacted]"


def test_read_only(api, deliveries):
    url = f"/api/webhook-deliveries/{deliveries['rec'].pk}/"
    assert api.delete(url).status_code == 405
    assert api.post("/api/webhook-deliveries/", {}).status_code == 405


def test_sync_runs_with_filters_and_items(api, connection):
    webhook = SyncRun.objects.create(
        connection=connection,
        kind="webinar",
        zoom_ref="w==",
        trigger=SyncRun.Trigger.WEBHOOK,
        status=SyncRun.Status.SUCCEEDED,
        fetched=12,
    )
    scheduled = SyncRun.objects.create(
        connection=connection,
        kind="meeting",
        zoom_ref="m==",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.FAILED,
        error="ZoomScopeError",
    )
    SyncRunItem.objects.create(run=webhook, name="Phone guest", reason="no_email")

    assert ids(api.get("/api/sync-runs/")) == {webhook.pk, scheduled.pk}
    assert ids(api.get("/api/sync-runs/", {"trigger": "schedule"})) == {scheduled.pk}
    assert ids(api.get("/api/sync-runs/", {"status": "succeeded"})) == {webhook.pk}
    assert ids(api.get("/api/sync-runs/", {"kind": "webinar"})) == {webhook.pk}
    detail = api.get(f"/api/sync-runs/{webhook.pk}/").json()
    assert detail["fetched"] == 12
    assert detail["items"] == [
        {
            "id": detail["items"][0]["id"],
            "email": "",
            "name": "Phone guest",
            "reason": "no_email",
            "detail": "",
            "created_at": detail["items"][0]["created_at"],
        }
    ]


@pytest.mark.parametrize(
    "url", ["/api/webhook-deliveries/", "/api/sync-runs/", "/api/schema/"]
)
def test_staff_only(url, django_user_model, deliveries):
    anonymous = APIClient()
    assert anonymous.get(url).status_code in (401, 403)

    user = django_user_model.objects.create_user("viewer", "v@example.test", "pw")
    signed_in = APIClient()
    signed_in.force_login(user)
    assert signed_in.get(url).status_code == 403


def test_token_auth(staff_user, deliveries):
    token = Token.objects.create(user=staff_user)
    client = APIClient()

    response = client.get(
        "/api/webhook-deliveries/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert response.status_code == 200
    assert response.json()["count"] == 4


def test_session_auth(client, staff_user, deliveries):
    client.force_login(staff_user)

    assert client.get("/api/sync-runs/").status_code == 200


def test_schema_describes_the_api(api):
    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    assert "/api/webhook-deliveries/" in paths
    assert "/api/sync-runs/{id}/" in paths
    assert "/webhooks/zoom/{slug}/" in paths
    names = {p["name"] for p in paths["/api/webhook-deliveries/"]["get"]["parameters"]}
    assert {"status", "event", "connection", "since", "until"} <= names
    assert "zoomSignature" in schema["components"]["securitySchemes"]
