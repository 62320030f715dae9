"""Rotating a connection's webhook secret token drops no delivery.

Deliveries stream in over real HTTP while an admin pastes the new secret token
into the connection's admin page. Zoom keeps signing with the old token for a
while (and retries earlier deliveries with it), then switches: every delivery
is answered 200 and stored. The old token is refused once its window ends.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connector.models import ConnectionEvent, WebhookDelivery

from .conftest import load_fixture
from .test_webhook_endpoint import SECRET, body_of, zoom_headers

pytestmark = pytest.mark.e2e

NEW_SECRET = "webhook-secret-rotated-1111111111111"
Verdict = WebhookDelivery.Verdict


def admin_form_data(response) -> dict:
    """The admin change form's current values, as the browser would post them."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if field.disabled:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        if isinstance(value, list | tuple):
            for i, part in enumerate(value):
                data[f"{name}_{i}"] = "" if part is None else part
            continue
        data[name] = "" if value is None else value
    return data


def body(n: int) -> bytes:
    data = load_fixture("zoom_webhooks/meeting_participant_joined.json")
    person = data["payload"]["object"]["participant"]
    person["participant_uuid"] = f"00000000-0000-4000-8000-{n:012d}"
    person["email"] = f"rotation.{n}@example.test"
    data["event_ts"] = 1785574870000 + n
    return body_of(data)


def test_rotating_the_webhook_secret_drops_no_delivery(
    live_server, connection, admin_client
):
    url = f"{live_server.url}/webhooks/zoom/{connection.slug}/"
    zoom_signs_with = [SECRET]
    answers: list[tuple[int, int, str]] = []
    sent = threading.Event()
    stop = threading.Event()

    def zoom() -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            secret = zoom_signs_with[0]
            payload = body(n)
            answer = session.post(
                url, data=payload, headers=zoom_headers(secret, payload), timeout=10
            )
            answers.append((n, answer.status_code, secret))
            n += 1
            sent.set()
            time.sleep(0.01)
        session.close()

    sender = threading.Thread(target=zoom, daemon=True)
    sender.start()
    while len(answers) < 15:
        time.sleep(0.02)

    change = f"/admin/connector/zoomconnection/{connection.pk}/change/"
    data = admin_form_data(admin_client.get(change))
    data["webhook_secret_token"] = NEW_SECRET
    saved = admin_client.post(change, data)
    assert saved.status_code == 302, saved.content[:2000]
    rotated_at = len(answers)
    while len(answers) < rotated_at + 15:  # Zoom still signs with the old one
        time.sleep(0.02)
    zoom_signs_with[0] = NEW_SECRET
    switched_at = len(answers)
    while len(answers) < switched_at + 15:
        time.sleep(0.02)
    # Zoom retries an earlier delivery, signed with the old token.
    late = body(10_000)
    retry = requests.post(
        url, data=late, headers=zoom_headers(SECRET, late), timeout=10
    )
    stop.set()
    sender.join(timeout=10)

    assert retry.status_code == 200
    statuses = [status for _, status, _ in answers]
    assert statuses == [200] * len(answers), answers
    stored = WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.REJECTED)
    assert stored.count() == len(answers) + 1
    verdicts = set(stored.values_list("signature_verdict", flat=True))
    assert verdicts == {Verdict.VALID, Verdict.VALID_PREVIOUS}
    connection.refresh_from_db()
    assert connection.webhook_secret_token == NEW_SECRET
    assert connection.client_secret == "client-secret-test-0000000000000000"
    assert connection.previous_webhook_secret_token == SECRET
    assert connection.previous_secret_valid_until > timezone.now() + timedelta(hours=23)
    event = connection.events.get(kind=ConnectionEvent.Kind.SECRET_ROTATED)
    assert SECRET not in event.detail and NEW_SECRET not in event.detail

    # The window ends: the old token verifies nothing any more.
    connection.previous_secret_valid_until = timezone.now() - timedelta(seconds=1)
    connection.save()
    stale = body(20_000)
    refused = requests.post(
        url, data=stale, headers=zoom_headers(SECRET, stale), timeout=10
    )
    assert refused.status_code == 401
    assert json.loads(refused.content)["verdict"] == Verdict.INVALID
