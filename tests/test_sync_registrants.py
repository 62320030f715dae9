"""A webinar registrant becomes a Brevo contact on the registrants list at once."""

from __future__ import annotations

import json

import pytest
import responses

from connector.models import Attendance, ZoomMeeting
from connector.sync.registrants import RegistrantError, add_registrant
from tests.conftest import load_fixture

BREVO = "https://brevo.test/v3"


@pytest.fixture
def webinar(connection, settings):
    settings.BREVO_API_BASE_URL = BREVO
    names = ("FIRSTNAME", "MEETING_JOIN_DATE", "MEETING_DURATION", "WEBINAR_NAME")
    names += ("ATTENDANCE_STATUS", "UTM_SOURCE")
    connection.brevo_account.known_attributes = dict.fromkeys(names, "text")
    connection.brevo_account.save()
    return ZoomMeeting.objects.create(
        connection=connection,
        kind="webinar",
        zoom_id="1234567890",
        uuid="4444AAAiAAAAAiAiAiiAii==",
        topic="My Webinar",
    )


def registrant() -> dict:
    body = load_fixture("zoom_webhooks/webinar_registration_created.json")
    found = body["payload"]["object"]["registrant"]
    found["tracking_source"] = {"id": "7", "source_name": "linkedin"}
    found["email"] = "  JChill@Example.com "
    return found


@responses.activate
def test_registrant_is_upserted_onto_the_registrants_list_with_its_source(webinar):
    responses.post(f"{BREVO}/contacts", status=201, json={"id": 9})
    add_registrant(webinar.connection, webinar, registrant())

    (call,) = responses.calls
    assert json.loads(call.request.body) == {
        "email": "jchill@example.com",
        "updateEnabled": True,
        "listIds": [17],
        "attributes": {
            "FIRSTNAME": "Jill",
            "WEBINAR_NAME": "My Webinar",
            "ATTENDANCE_STATUS": "registered",
            "UTM_SOURCE": "linkedin",
        },
    }
    row = Attendance.objects.get(meeting=webinar)
    assert (row.person_key, row.status, row.registrant_id, row.registration_source) == (
        "jchill@example.com",
        "registered",
        "iFxeBPYun6SAiWUzBcEkX",
        "linkedin",
    )


@responses.activate
def test_adding_twice_keeps_one_row_and_never_downgrades_an_attendee(webinar):
    responses.post(f"{BREVO}/contacts", status=204)
    Attendance.objects.create(
        meeting=webinar,
        person_key="jchill@example.com",
        email="jchill@example.com",
        status=Attendance.Status.ATTENDED,
        total_seconds=600,
    )
    add_registrant(webinar.connection, webinar, registrant())
    add_registrant(webinar.connection, webinar, registrant())
    row = Attendance.objects.get(meeting=webinar)
    assert row.status == Attendance.Status.ATTENDED
    assert row.total_seconds == 600
    assert row.registration_source == "linkedin"
    assert len(responses.calls) == 2  # an upsert: the same Brevo state each time


@responses.activate
def test_registrant_without_a_valid_email_is_refused_before_any_call(webinar):
    bad = {**registrant(), "email": "not-an-email"}
    with pytest.raises(RegistrantError, match="not-an-email"):
        add_registrant(webinar.connection, webinar, bad)
    assert len(responses.calls) == 0
    assert not Attendance.objects.exists()
