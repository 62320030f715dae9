from __future__ import annotations

import pytest
from django.db import IntegrityError

from connector.models import (
    ConnectionEvent,
    SyncRun,
    WebhookDelivery,
    ZoomConnection,
)


@pytest.mark.django_db
def test_a_new_connection_gets_the_brief_defaults(connection):
    mapping = dict(
        connection.field_mappings.values_list("zoom_field", "brevo_attribute")
    )
    assert mapping == {
        "email": "email",
        "name": "FIRSTNAME",
        "join_time": "MEETING_JOIN_DATE",
        "duration": "MEETING_DURATION",
        "webinar_title": "WEBINAR_NAME",
        "attendance_status": "ATTENDANCE_STATUS",
        "registration_source": "UTM_SOURCE",
    }
    lists = dict(connection.list_assignments.values_list("audience", "list_id"))
    assert lists == {
        "meeting_participants": 15,
        "webinar_attendees": 16,
        "webinar_registrants": 17,
    }
    assert (
        ConnectionEvent.objects.filter(connection=connection, kind="created").count()
        == 1
    )
    # Saving again adds nothing.
    connection.name = "Renamed"
    connection.save()
    assert connection.field_mappings.count() == 7
    assert connection.list_assignments.count() == 3


def test_record_vocabularies():
    assert set(WebhookDelivery.Status.values) == {
        "accepted", "rejected", "duplicate", "processed", "ignored", "failed",
    }  # fmt: skip
    for name in ("fetched", "merged", "upserted", "skipped_no_email", "failed",
                 "zoom_calls", "brevo_calls"):  # fmt: skip
        assert SyncRun._meta.get_field(name).get_internal_type() == (
            "PositiveIntegerField"
        )


@pytest.mark.django_db
def test_verified_bodies_are_unique_by_dedupe_key():
    WebhookDelivery.objects.create(
        body_sha256="f" * 64, dedupe_key="f" * 64, status="accepted"
    )
    # Rejected copies of the same body carry no dedupe key and may repeat.
    WebhookDelivery.objects.create(body_sha256="f" * 64, status="rejected")
    WebhookDelivery.objects.create(body_sha256="f" * 64, status="rejected")
    with pytest.raises(IntegrityError):
        WebhookDelivery.objects.create(
            body_sha256="f" * 64, dedupe_key="f" * 64, status="accepted"
        )


@pytest.mark.django_db
def test_webhook_secret_rotation_window(connection):
    from datetime import timedelta

    connection.rotate_webhook_secret("new-secret-0000000000", timedelta(hours=1))
    connection.save()
    fresh = ZoomConnection.objects.get(pk=connection.pk)
    assert fresh.webhook_secrets() == [
        "new-secret-0000000000",
        "webhook-secret-test-00000000000000",
    ]
    fresh.rotate_webhook_secret("newer-secret-111111111", timedelta(seconds=-1))
    assert fresh.webhook_secrets() == ["newer-secret-111111111"]
