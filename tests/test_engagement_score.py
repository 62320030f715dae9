"""The engagement score formula, its weights, and each contact's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.engagement_score import (
    Weights,
    contact_history,
    engagement_score,
    is_engaged,
    occurrence_for,
    rescore_meeting,
    score_person,
)
from connector.models import Attendance
from connector.sync.engagement import Occurrence, Person, compute_metrics

from .followups_factory import make_occurrence

START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
HOUR = 3600


def test_full_attendance_on_time_scores_100():
    score = engagement_score(
        attendance_percent=100, seconds_late=0, length_seconds=HOUR, weights=Weights()
    )
    assert score == 100.0


def test_default_weights_are_70_attendance_30_punctuality():
    # Half the meeting, joined 30 minutes late: 0.7 * 0.5 + 0.3 * 0.5.
    score = engagement_score(
        attendance_percent=50, seconds_late=1800, length_seconds=HOUR, weights=Weights()
    )
    assert score == 50.0
    # Stayed 25% but was on time: 0.7 * 0.25 + 0.3 * 1.
    on_time = engagement_score(
        attendance_percent=25, seconds_late=0, length_seconds=HOUR, weights=Weights()
    )
    assert on_time == 47.5


def test_weights_change_the_score():
    only_presence = Weights(attendance=1, punctuality=0)
    only_punctuality = Weights(attendance=0, punctuality=1)
    args = {"attendance_percent": 40, "seconds_late": 900, "length_seconds": HOUR}
    assert engagement_score(**args, weights=only_presence) == 40.0
    assert engagement_score(**args, weights=only_punctuality) == 75.0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"joined": False}, 0.0),
        ({"weights": Weights(0, 0)}, 0.0),
        ({"length_seconds": None}, 70 * 0.5 + 30),  # unknown length: punctual
        ({"seconds_late": 10 * HOUR}, 35.0),  # lateness is capped at the length
    ],
)
def test_edge_cases(kwargs, expected):
    args = {
        "attendance_percent": 50,
        "seconds_late": 0,
        "length_seconds": HOUR,
        "weights": Weights(),
        "joined": True,
    }
    args.update(kwargs)
    assert engagement_score(**args) == expected


@settings(max_examples=150, deadline=None)
@given(
    late=st.integers(min_value=-600, max_value=2 * HOUR),
    stay=st.integers(min_value=0, max_value=2 * HOUR),
    wa=st.integers(min_value=0, max_value=100),
    wp=st.integers(min_value=0, max_value=100),
)
def test_sync_runs_score_people_with_the_documented_formula(late, stay, wa, wp):
    """The score a sync run gives a merged person is the docstring's formula."""
    occurrence = Occurrence(
        start=START,
        end=START + timedelta(hours=1),
        attendance_weight=wa,
        punctuality_weight=wp,
    )
    person = Person(key="a@example.test", email="a@example.test")
    join = START + timedelta(seconds=late)
    leave = min(join + timedelta(seconds=stay), START + timedelta(hours=3))
    person.sessions = 1
    person.first_join = join
    person.intervals = [(join.timestamp(), leave.timestamp())]
    compute_metrics(person, occurrence)

    attended = min(round(person.total_seconds / HOUR * 100, 1), 100.0) / 100
    punctual = 1 - min(max(late, 0) / HOUR, 1)
    expected = (
        0.0 if wa + wp == 0 else 100 * (wa * attended + wp * punctual) / (wa + wp)
    )
    # Attendance percent is kept to one decimal first: a tenth either way.
    assert person.score == pytest.approx(expected, abs=0.11)
    assert 0.0 <= person.score <= 100.0
    assert score_person(person, occurrence) == person.score


@pytest.mark.django_db
def test_stored_scores_follow_the_connection_weights(connection):
    meeting = make_occurrence(connection)
    ana = meeting.attendances.get(email="ana@example.test")
    ben = meeting.attendances.get(email="ben@example.test")
    dan = meeting.attendances.get(email="dan@example.test")
    assert ana.score == 100.0  # all of it, on time
    # 41.7% attended, 20 of 60 minutes late: 70*0.417 + 30*(2/3) = 49.19
    assert ben.score == 49.2
    assert ben.rejoins == 2
    assert dan.score == 0.0  # never joined
    assert is_engaged(ana, connection)
    assert not is_engaged(ben, connection)  # under the default 50

    connection.engagement_attendance_weight = 0
    connection.engagement_punctuality_weight = 100
    connection.save()
    meeting.refresh_from_db()
    assert rescore_meeting(meeting) >= 2
    ben.refresh_from_db()
    assert ben.score == 66.7


@pytest.mark.django_db
def test_occurrence_for_carries_weights_and_timing(make_connection):
    connection = make_connection(
        engagement_attendance_weight=40, engagement_punctuality_weight=60
    )
    meeting = make_occurrence(connection)
    occurrence = occurrence_for(meeting)
    assert (occurrence.attendance_weight, occurrence.punctuality_weight) == (40, 60)
    assert occurrence.length_seconds == HOUR


@pytest.mark.django_db
def test_contact_history_across_occurrences(connection):
    first = make_occurrence(connection)
    second = make_occurrence(
        connection,
        uuid="second-occurrence==",
        start_time=START + timedelta(days=7),
        end_time=START + timedelta(days=7, hours=1),
    )
    # Ana came to the second one too, for 30 minutes; Dan missed both.
    ana2 = second.attendances.get(email="ana@example.test")
    ana2.total_seconds = 1800
    ana2.first_join = START + timedelta(days=7, minutes=1)
    ana2.save()

    history = contact_history(
        connection, ["ana@example.test", "dan@example.test", "ben@example.test"]
    )
    assert history["ana@example.test"]["events"] == 2
    assert history["ana@example.test"]["seconds"] == 3600 + 1800
    assert history["ana@example.test"]["last"] == ana2.first_join
    assert history["ben@example.test"]["events"] == 2
    assert "dan@example.test" not in history  # never attended
    assert first.attendances.filter(status=Attendance.Status.NO_SHOW).count() == 2


@pytest.mark.django_db
def test_contact_history_is_per_connection(make_connection):
    one = make_connection()
    other = make_connection()
    make_occurrence(one)
    make_occurrence(other, uuid="other==")
    assert contact_history(one, ["ana@example.test"])["ana@example.test"]["events"] == 1


@pytest.mark.django_db(transaction=True)
def test_changing_the_weights_rescores_stored_attendance(connection):
    meeting = make_occurrence(connection)
    ben = meeting.attendances.get(email="ben@example.test")
    assert ben.score == 49.2
    connection.engagement_attendance_weight = 0
    connection.engagement_punctuality_weight = 100
    connection.save()  # the re-score runs once this commits (eagerly in tests)
    ben.refresh_from_db()
    assert ben.score == 66.7
    connection.name = "Renamed"
    connection.save(update_fields=["name"])
    ben.refresh_from_db()
    assert ben.score == 66.7


@pytest.mark.django_db
def test_engagement_fields_map_to_brevo_attributes(connection):
    """Score, lateness, history and recording link reach Brevo through the
    connection's field mapping (as the preview and a sync run apply it)."""
    from connector.models import FieldMapping, ZoomField
    from connector.preview import build_preview

    make_occurrence(connection, uuid="earlier==", start_time=START - timedelta(days=7))
    meeting = make_occurrence(connection)
    meeting.recording_share_url = "https://us06web.zoom.us/rec/share/x"
    meeting.save()
    T = FieldMapping.Transform
    for field, attribute, transform in [
        (ZoomField.ENGAGEMENT_SCORE, "ZOOM_ENGAGEMENT_SCORE", T.NONE),
        (ZoomField.EVENTS_ATTENDED, "ZOOM_EVENTS_ATTENDED", T.NONE),
        (ZoomField.TOTAL_MINUTES, "ZOOM_TOTAL_MINUTES", T.NONE),
        (ZoomField.LAST_ATTENDED, "ZOOM_LAST_ATTENDED", T.DATE),
        (ZoomField.MINUTES_LATE, "ZOOM_MINUTES_LATE", T.NONE),
        (ZoomField.SESSIONS, "ZOOM_SESSIONS", T.NONE),
        (ZoomField.RECORDING_URL, "ZOOM_RECORDING_URL", T.NONE),
    ]:
        FieldMapping.objects.create(
            connection=connection,
            zoom_field=field,
            brevo_attribute=attribute,
            transform=transform,
        )
    preview = build_preview(meeting)
    ben = next(c for c in preview.contacts if c.email == "ben@example.test")
    assert ben.attributes["ZOOM_ENGAGEMENT_SCORE"] == 49.2
    assert ben.attributes["ZOOM_EVENTS_ATTENDED"] == 2
    assert ben.attributes["ZOOM_TOTAL_MINUTES"] == 50  # 25 + 25
    assert ben.attributes["ZOOM_LAST_ATTENDED"] == "2026-03-02"
    assert ben.attributes["ZOOM_MINUTES_LATE"] == 20
    assert ben.attributes["ZOOM_SESSIONS"] == 3  # two rejoins
    assert ben.attributes["ZOOM_RECORDING_URL"] == "https://us06web.zoom.us/rec/share/x"
    assert preview.wanted_attributes["ZOOM_ENGAGEMENT_SCORE"] == "float"
    assert preview.wanted_attributes["ZOOM_LAST_ATTENDED"] == "date"
