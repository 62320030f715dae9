"""How engaged each person was, and what each contact has attended over time.

The engagement score (0-100) of a person at one occurrence::

    attendance  = attendance_percent / 100                 share of the occurrence
    punctuality = 1 - min(seconds_late / length, 1)        share not missed at start
    score       = 100 * (wA * attendance + wP * punctuality) / (wA + wP)

``wA`` and ``wP`` are the connection's ``engagement_attendance_weight`` and
``engagement_punctuality_weight`` (70 and 30 out of the box). Someone who never
joined scores 0; with both weights at 0 everyone scores 0. Lateness counts from
the occurrence's start; a meeting without a known length gives full punctuality.
Rejoins do not lower the score: a dropped connection is not disengagement. They
are reported as their own metric (``Attendance.rejoins``).

An attendee counts as *engaged* when their score reaches the connection's
``engaged_min_score`` (50 out of the box).

Across events, a contact's history is the number of occurrences they attended,
their minutes over all of them and the date they last attended: the
``events_attended``, ``total_minutes`` and ``last_attended`` fields a
``FieldMapping`` can send to Brevo (e.g. as ``ZOOM_EVENTS_ATTENDED``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Sum

from .models import Attendance, ZoomConnection, ZoomMeeting
from .sync.engagement import Occurrence, Person

logger = logging.getLogger(__name__)

# SQLite allows 999 parameters per query in older builds; stay well under.
_EMAILS_PER_QUERY = 500


@dataclass(frozen=True)
class Weights:
    attendance: int = 70
    punctuality: int = 30

    @classmethod
    def for_connection(cls, connection: ZoomConnection) -> Weights:
        return cls(
            attendance=connection.engagement_attendance_weight,
            punctuality=connection.engagement_punctuality_weight,
        )


def engagement_score(
    *,
    attendance_percent: float,
    seconds_late: float,
    length_seconds: float | None,
    weights: Weights,
    joined: bool = True,
) -> float:
    """The score of the module docstring, rounded to one decimal."""
    total = weights.attendance + weights.punctuality
    if not joined or total <= 0:
        return 0.0
    attendance = min(max(attendance_percent, 0.0), 100.0) / 100
    if length_seconds:
        punctuality = 1.0 - min(max(seconds_late, 0.0) / length_seconds, 1.0)
    else:
        punctuality = 1.0
    score = (weights.attendance * attendance + weights.punctuality * punctuality) / (
        total
    )
    return round(score * 100, 1)


def occurrence_for(meeting: ZoomMeeting) -> Occurrence:
    """The timing facts and the connection's weights, as the sync engine takes them."""
    weights = Weights.for_connection(meeting.connection)
    return Occurrence(
        start=meeting.start_time,
        end=meeting.end_time,
        scheduled_start=meeting.start_time,
        attendance_weight=weights.attendance,
        punctuality_weight=weights.punctuality,
    )


def score_person(person: Person, occurrence: Occurrence) -> float:
    """Score one merged person (metrics already computed) and store it on them."""
    seconds_late = 0.0
    scheduled = occurrence.scheduled_start or occurrence.start
    if scheduled and person.first_join:
        seconds_late = max((person.first_join - scheduled).total_seconds(), 0.0)
    person.score = engagement_score(
        attendance_percent=person.attendance_percent,
        seconds_late=seconds_late,
        length_seconds=occurrence.length_seconds,
        weights=Weights(occurrence.attendance_weight, occurrence.punctuality_weight),
        joined=person.sessions > 0,
    )
    return person.score


def score_attendance(attendance: Attendance, meeting: ZoomMeeting) -> float:
    """The score of a stored attendance row, with its connection's current weights."""
    return engagement_score(
        attendance_percent=attendance.attendance_percent,
        seconds_late=attendance.minutes_late * 60,
        length_seconds=meeting.length_seconds,
        weights=Weights.for_connection(meeting.connection),
        joined=attendance.status == Attendance.Status.ATTENDED
        and attendance.sessions > 0,
    )


def rescore_meeting(meeting: ZoomMeeting) -> int:
    """Recompute every stored score of an occurrence (after the weights changed)."""
    changed = []
    for attendance in meeting.attendances.all():
        score = score_attendance(attendance, meeting)
        if score != attendance.score:
            attendance.score = score
            changed.append(attendance)
    Attendance.objects.bulk_update(changed, ["score"])
    logger.info(
        "engagement.rescored",
        extra={"meeting_id": meeting.pk, "changed": len(changed)},
    )
    return len(changed)


def is_engaged(attendance: Attendance, connection: ZoomConnection) -> bool:
    return (
        attendance.status == Attendance.Status.ATTENDED
        and attendance.score >= connection.engaged_min_score
    )


def contact_history(
    connection: ZoomConnection,
    emails: Iterable[str],
    *,
    exclude_meeting: ZoomMeeting | None = None,
) -> dict[str, dict[str, int | datetime | None]]:
    """Per email: ``{"events", "seconds", "last"}`` over every attended occurrence.

    The shape ``connector.sync.mapping.person_fields(history=...)`` reads.
    ``exclude_meeting`` leaves one occurrence out, for a caller that adds it
    from figures in hand (``add_attendance``).
    """
    wanted = sorted({e for e in emails if e})
    history: dict[str, dict[str, int | datetime | None]] = {}
    stored = Attendance.objects.filter(
        meeting__connection=connection, status=Attendance.Status.ATTENDED
    )
    if exclude_meeting is not None:
        stored = stored.exclude(meeting=exclude_meeting)
    for start in range(0, len(wanted), _EMAILS_PER_QUERY):
        chunk = wanted[start : start + _EMAILS_PER_QUERY]
        rows = (
            stored.filter(email__in=chunk)
            .values("email")
            .annotate(
                events=Count("meeting", distinct=True),
                seconds=Sum("total_seconds"),
                last=Max("first_join"),
            )
        )
        for row in rows:
            history[row["email"]] = {
                "events": row["events"],
                "seconds": row["seconds"] or 0,
                "last": row["last"],
            }
    return history


def add_attendance(
    history: dict[str, dict[str, int | datetime | None]],
    email: str,
    seconds: int,
    first_join: datetime | None,
) -> None:
    """Count one more attended occurrence into ``contact_history``'s figures."""
    past = history.setdefault(email, {"events": 0, "seconds": 0, "last": None})
    past["events"] = int(past["events"] or 0) + 1
    past["seconds"] = int(past["seconds"] or 0) + seconds
    last = past["last"]
    if first_join and (last is None or first_join > last):
        past["last"] = first_join
