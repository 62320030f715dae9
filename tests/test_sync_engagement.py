"""Merging join sessions, joining registrants, and mapping people to contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from connector.models import FieldMapping, ZoomField, ZoomMeeting
from connector.sync.engagement import (
    NO_SHOW,
    Engagement,
    Occurrence,
    merged_seconds,
    normalize_email,
)
from connector.sync.mapping import (
    Mapper,
    MappingError,
    apply_transform,
    attribute_type,
    person_fields,
    split_name,
)
from tests.conftest import load_fixture

T = FieldMapping.Transform
START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
END = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def played() -> dict:
    engagement = Engagement()
    for page in ("registrants_page1", "registrants_page2"):
        for row in load_fixture(f"sync/{page}.json")["registrants"]:
            engagement.add_registrant(row)
    for page in ("participants_page1", "participants_page2"):
        for row in load_fixture(f"sync/{page}.json")["participants"]:
            engagement.add_session(row)
    people = engagement.finish(Occurrence(start=START, end=END))
    return {p.key: p for p in people}


def test_one_person_joining_three_times_in_different_case_is_one_person():
    people = played()
    jane = people["jane.doe@example.com"]
    assert jane.sessions == 3
    # 17:00-17:20, 17:25-17:40 and 17:38-18:00: the overlap counts once.
    assert jane.total_seconds == 55 * 60
    assert jane.attendance_percent == 91.7
    assert jane.first_join == START
    assert jane.last_leave == END
    assert jane.minutes_late == 0
    assert jane.registrant_id == "reg-jane"
    assert jane.status == "attended"
    assert [k for k in people if "jane" in k] == ["jane.doe@example.com"]


def test_registrant_id_gives_an_email_to_someone_who_joined_without_one():
    li = played()["li.lei@example.cn"]
    assert li.name == "李雷"
    assert li.registrant_id == "reg-li"
    assert li.total_seconds == 45 * 60
    assert li.attendance_percent == 75.0
    assert li.minutes_late == 5.0
    # (70 * 0.75 attendance + 30 * (1 - 5 min / 60 min) punctuality) / 100.
    assert li.score == 80.0


def test_registrant_is_matched_by_email_when_the_row_has_no_registrant_id():
    zoe = played()["zoe@example.com"]
    assert zoe.registered
    assert zoe.registrant_id == "reg-zoe"
    assert zoe.registrant["last_name"] == "Ångström"


def test_registered_but_never_joined_is_a_no_show():
    people = played()
    sam = people["sam.noshow@example.com"]
    assert sam.status == NO_SHOW
    assert sam.sessions == 0
    assert sam.total_seconds == 0
    assert sam.name == "Sam Noshow"
    assert [p.key for p in people.values() if p.status == NO_SHOW] == [sam.key]


def test_guest_without_email_and_invalid_email_are_kept_apart():
    people = played()
    guest = people["guest:iPhone de Marie"]
    assert guest.is_guest
    assert guest.sessions == 2
    assert guest.total_seconds == 480 + 1080
    typo = people["invalid:typo.person@"]
    assert typo.email == ""
    assert typo.invalid_email == "typo.person@"
    assert not typo.is_guest


def test_unregistered_attendee_is_an_attendee_only():
    john = played()["doe.john@example.com"]
    assert not john.registered
    assert john.minutes_late == 0.5


def test_merge_helpers():
    assert normalize_email("  MiXeD@Example.COM ") == "mixed@example.com"
    assert merged_seconds([(0, 10), (5, 20), (30, 40)]) == 30
    assert merged_seconds([]) == 0


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Jane Doe", "Jane", "Doe"),
        ("Zoë Ångström", "Zoë", "Ångström"),
        ("李雷", "李雷", ""),
        ("Doe, John", "John", "Doe"),
        ("Jane Doe, PhD", "Jane", "Doe"),
        ("Curie, Marie (Dr.)", "Marie", "Curie"),
        ("Smith, J.", "J.", "Smith"),
        ("Mary Ann de la Cruz", "Mary", "Ann de la Cruz"),
        ("  Cher  ", "Cher", ""),
        ("", "", ""),
    ],
)
def test_split_name(name, first, last):
    assert split_name(name) == (first, last)


def test_transforms():
    paris = ZoneInfo("Europe/Paris")
    late_evening = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert apply_transform(late_evening, T.DATE) == "2026-03-02"
    assert apply_transform(late_evening, T.DATE, paris) == "2026-03-03"
    assert apply_transform("2026-03-02T17:00:00Z", T.DATE) == "2026-03-02"
    assert apply_transform(3300, T.MINUTES) == 55
    assert apply_transform(3330, T.MINUTES) == 55.5
    assert apply_transform(3300, T.SECONDS) == 3300
    assert apply_transform("Zoë Ångström", T.FIRST_NAME) == "Zoë"
    assert apply_transform("Zoë Ångström", T.LAST_NAME) == "Ångström"
    assert apply_transform("李雷", T.LAST_NAME) is None
    assert apply_transform("zoë", T.UPPER) == "ZOË"
    assert apply_transform("ZOË", T.LOWER) == "zoë"
    assert apply_transform(None, T.DATE) is None
    with pytest.raises(MappingError):
        apply_transform("not a date", T.DATE)
    with pytest.raises(MappingError):
        apply_transform("many", T.MINUTES)


def test_attribute_types_fit_the_values():
    assert attribute_type(ZoomField.JOIN_TIME, T.DATE) == "date"
    assert attribute_type(ZoomField.DURATION, T.MINUTES) == "float"
    assert attribute_type(ZoomField.ATTENDANCE_PERCENT, T.NONE) == "float"
    assert attribute_type(ZoomField.NAME, T.FIRST_NAME) == "text"
    assert attribute_type(ZoomField.WEBINAR_TITLE, T.NONE) == "text"


def rules(*triples) -> list[FieldMapping]:
    return [
        FieldMapping(zoom_field=f, brevo_attribute=a, transform=t)
        for f, a, t in triples
    ]


def test_mapper_builds_import_rows_and_leaves_out_empty_and_refused_values():
    people = played()
    meeting = ZoomMeeting(
        kind="webinar", zoom_id="94212345678", topic="Q1 Roadmap", start_time=START
    )
    mapper = Mapper(
        rules(
            (ZoomField.EMAIL, "email", T.NONE),
            (ZoomField.NAME, "FIRSTNAME", T.FIRST_NAME),
            (ZoomField.NAME, "LASTNAME", T.LAST_NAME),
            (ZoomField.JOIN_TIME, "MEETING_JOIN_DATE", T.DATE),
            (ZoomField.DURATION, "MEETING_DURATION", T.MINUTES),
            (ZoomField.WEBINAR_TITLE, "WEBINAR_NAME", T.NONE),
            (ZoomField.ATTENDANCE_STATUS, "ATTENDANCE_STATUS", T.NONE),
            (ZoomField.REGISTRATION_SOURCE, "UTM_SOURCE", T.NONE),
            (ZoomField.WEBINAR_TITLE, "BROKEN", T.DATE),
        )
    )
    assert mapper.wanted_attributes() == {
        "FIRSTNAME": "text",
        "LASTNAME": "text",
        "MEETING_JOIN_DATE": "date",
        "MEETING_DURATION": "float",
        "WEBINAR_NAME": "text",
        "ATTENDANCE_STATUS": "text",
        "UTM_SOURCE": "text",
        "BROKEN": "date",
    }
    errors: list[str] = []
    li = mapper.contact(
        person_fields(people["li.lei@example.cn"], meeting, registration_source="ads"),
        errors,
    )
    assert li == {
        "email": "li.lei@example.cn",
        "attributes": {
            "FIRSTNAME": "李雷",
            "MEETING_JOIN_DATE": "2026-03-02",
            "MEETING_DURATION": 45,
            "WEBINAR_NAME": "Q1 Roadmap",
            "ATTENDANCE_STATUS": "attended",
            "UTM_SOURCE": "ads",
        },
    }
    assert errors == ["BROKEN: not a date: 'Q1 Roadmap'"]

    john = mapper.contact(person_fields(people["doe.john@example.com"], meeting))
    assert john["attributes"]["FIRSTNAME"] == "John"
    assert john["attributes"]["LASTNAME"] == "Doe"

    sam = mapper.contact(person_fields(people["sam.noshow@example.com"], meeting))
    assert sam["attributes"]["ATTENDANCE_STATUS"] == "no_show"
    assert "MEETING_DURATION" not in sam["attributes"]
    assert "MEETING_JOIN_DATE" not in sam["attributes"]


def test_meeting_topic_is_not_a_webinar_name():
    people = played()
    meeting = ZoomMeeting(kind="meeting", zoom_id="1", topic="Weekly sync")
    fields = person_fields(people["zoe@example.com"], meeting)
    assert fields[ZoomField.WEBINAR_TITLE] == ""
    assert fields[ZoomField.MEETING_TOPIC] == "Weekly sync"


def test_participants_before_registrants_give_the_same_people():
    """Registrants and participants are fetched side by side: order must not matter."""
    engagement = Engagement()
    for page in ("participants_page1", "participants_page2"):
        for row in load_fixture(f"sync/{page}.json")["participants"]:
            engagement.add_session(row)
    for page in ("registrants_page1", "registrants_page2"):
        for row in load_fixture(f"sync/{page}.json")["registrants"]:
            engagement.add_registrant(row)
    late = {p.key: p for p in engagement.finish(Occurrence(start=START, end=END))}
    early = played()
    assert set(late) == set(early)
    for key, person in early.items():
        other = late[key]
        assert (other.email, other.sessions, other.total_seconds, other.status) == (
            person.email,
            person.sessions,
            person.total_seconds,
            person.status,
        )
        assert other.registrant_id == person.registrant_id


def test_link_joiner_and_signed_in_sessions_of_one_registrant_merge():
    engagement = Engagement()
    engagement.add_session(
        {
            "registrant_id": "r1",
            "user_email": "",
            "name": "Ana",
            "join_time": "2026-03-02T17:00:00Z",
            "leave_time": "2026-03-02T17:10:00Z",
        }
    )
    engagement.add_session(
        {
            "registrant_id": "",
            "user_email": "ANA@example.com",
            "name": "Ana P",
            "join_time": "2026-03-02T17:20:00Z",
            "leave_time": "2026-03-02T17:30:00Z",
        }
    )
    engagement.add_registrant({"id": "r1", "email": "ana@example.com"})
    (ana,) = engagement.finish(Occurrence(start=START, end=END))
    assert ana.key == "ana@example.com"
    assert ana.sessions == 2
    assert ana.total_seconds == 1200
    assert ana.first_join == START
    assert ana.registrant_id == "r1"
