"""Builds the occurrences the follow-up, engagement and dashboard tests share."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from connector.engagement_score import rescore_meeting
from connector.models import Attendance, FollowUpRule, ZoomConnection, ZoomMeeting

from .conftest import load_fixture

BREVO = "https://brevo.test/v3"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def make_occurrence(
    connection: ZoomConnection,
    fixture: str = "followups/webinar_occurrence.json",
    **meeting,
) -> ZoomMeeting:
    """The fixture's occurrence and attendance, scored with the connection's weights."""
    data = load_fixture(fixture)
    values = {**data["meeting"], **meeting}
    for key in ("start_time", "end_time"):
        if isinstance(values.get(key), str):
            values[key] = _when(values[key])
    occurrence = ZoomMeeting.objects.create(connection=connection, **values)
    for row in data["attendances"]:
        row = dict(row)
        row.setdefault("person_key", row["email"])
        row["first_join"] = _when(row.get("first_join"))
        row["last_leave"] = _when(row.get("last_leave"))
        Attendance.objects.create(meeting=occurrence, **row)
    rescore_meeting(occurrence)
    if occurrence.status == ZoomMeeting.Status.SYNCED:
        occurrence.last_synced_at = timezone.now()
        occurrence.save(update_fields=["last_synced_at"])
    return occurrence


def only_rule(connection: ZoomConnection, **values) -> FollowUpRule:
    """Disable the seeded defaults and add one rule."""
    connection.follow_up_rules.update(enabled=False)
    values.setdefault("name", f"{values['trigger']} → {values['action']}")
    return FollowUpRule.objects.create(connection=connection, **values)
