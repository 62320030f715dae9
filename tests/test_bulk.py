"""Bulk writes: the same rows and the same outcome on SQLite and PostgreSQL.

CI runs this file on both databases: PostgreSQL goes through ``COPY`` and a
staging table, SQLite through ``executemany``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError

from connector.bulk import insert_rows, update_rows
from connector.models import Attendance, ZoomMeeting
from connector.sync.attendance import upsert_attendance
from connector.sync.engagement import NO_SHOW, Person

# Characters COPY's text format must escape, and names from the tricky list.
AWKWARD = "Ångström, Zoë\t\\ back\nslash"


@pytest.fixture
def meeting(connection) -> ZoomMeeting:
    return ZoomMeeting.objects.create(
        connection=connection, kind="webinar", zoom_id="94212345678", uuid="abc=="
    )


def person(key: str, **kwargs) -> Person:
    return Person(key=key, email=key if "@" in key else "", **kwargs)


def test_upsert_writes_every_person_and_keeps_awkward_text_intact(meeting):
    joined = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    people = [
        person("li.lei@example.cn", name="李雷", sessions=2, total_seconds=1800,
               first_join=joined, attendance_percent=50.0),
        person("zoe@example.com", name=AWKWARD, sessions=1, total_seconds=60),
        person("sam@example.com", name="Sam", status=NO_SHOW),
        person("guest:iPhone de Marie", name="iPhone de Marie", sessions=3),
    ]  # fmt: skip
    written = upsert_attendance(meeting, people, {"sam@example.com": "newsletter"})

    assert written == 4
    rows = {a.person_key: a for a in meeting.attendances.all()}
    assert set(rows) == {p.key for p in people}
    assert rows["li.lei@example.cn"].name == "李雷"
    assert rows["li.lei@example.cn"].first_join == joined
    assert rows["li.lei@example.cn"].attendance_percent == 50.0
    assert rows["zoe@example.com"].name == AWKWARD
    assert rows["sam@example.com"].status == Attendance.Status.NO_SHOW
    assert rows["sam@example.com"].registration_source == "newsletter"
    assert rows["guest:iPhone de Marie"].email == ""
    assert rows["guest:iPhone de Marie"].first_join is None
    assert rows["guest:iPhone de Marie"].live_sessions == {}


def test_upsert_again_updates_in_place_and_leaves_live_sessions_alone(meeting):
    upsert_attendance(meeting, [person("zoe@example.com", sessions=1)], {})
    live = {"16778240": {"join": "2026-03-02T09:00:00+00:00", "leave": None}}
    meeting.attendances.update(live_sessions=live)
    first = meeting.attendances.get()

    upsert_attendance(
        meeting,
        [
            person("zoe@example.com", name="Zoë", sessions=2, total_seconds=90),
            person("new@example.com", sessions=1),
        ],
        {},
    )

    assert meeting.attendances.count() == 2
    again = meeting.attendances.get(person_key="zoe@example.com")
    assert again.pk == first.pk
    assert (again.name, again.sessions, again.total_seconds) == ("Zoë", 2, 90)
    assert again.live_sessions == live
    assert meeting.attendances.get(person_key="new@example.com").live_sessions == {}


def test_a_failed_upsert_writes_nothing(meeting):
    """One transaction for the lot: a row the database refuses stops them all."""
    people = [person(f"p{n}@example.com", sessions=1) for n in range(5)]
    people[3].sessions = -1  # breaks the column's check (sessions >= 0)
    with pytest.raises(IntegrityError):
        upsert_attendance(meeting, people, {})
    assert not meeting.attendances.exists()


def test_conflict_without_update_columns_keeps_what_was_there(meeting):
    upsert_attendance(meeting, [person("zoe@example.com", name="Zoë")], {})
    before = meeting.attendances.get()
    # The stored row again, with another name in it.
    columns = [f.column for f in Attendance._meta.concrete_fields if not f.primary_key]
    row = dict(
        zip(columns, meeting.attendances.values_list(*columns).get(), strict=True)
    )
    row["name"] = "Someone else"
    row["live_sessions"] = "{}"
    insert_rows(
        Attendance._meta.db_table,
        columns,
        [tuple(row.values())],
        conflict=["meeting_id", "person_key"],
    )
    after = meeting.attendances.get()
    assert (after.pk, after.name) == (before.pk, "Zoë")


def test_update_rows_sets_the_named_columns_of_the_matching_rows(meeting):
    upsert_attendance(
        meeting,
        [person(f"p{n}@example.com", name=f"P{n}", sessions=1) for n in range(3)],
        {},
    )
    ids = dict(meeting.attendances.values_list("person_key", "pk"))
    update_rows(
        Attendance._meta.db_table,
        "id",
        ["name", "sessions"],
        [(AWKWARD, 7, ids["p0@example.com"]), ("李雷", 9, ids["p2@example.com"])],
    )
    got = {a.person_key: (a.name, a.sessions) for a in meeting.attendances.all()}
    assert got == {
        "p0@example.com": (AWKWARD, 7),
        "p1@example.com": ("P1", 1),
        "p2@example.com": ("李雷", 9),
    }


def test_nothing_to_write_is_not_an_error(meeting):
    insert_rows(Attendance._meta.db_table, ["meeting_id", "person_key"], [])
    update_rows(Attendance._meta.db_table, "id", ["name"], [])
    assert upsert_attendance(meeting, [], {}) == 0
