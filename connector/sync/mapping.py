"""Zoom facts about a person → the Brevo contact the connection's mapping asks for.

``person_fields`` gathers every mappable Zoom field (``ZoomField``) for one
person at one occurrence; ``Mapper`` applies the connection's enabled
``FieldMapping`` rows with their transforms and gives the contact as Brevo's
import takes it: ``{"email": ..., "attributes": {...}}``. Empty values are left
out so an import never blanks a value Brevo already holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..models import FieldMapping, ZoomConnection, ZoomField, ZoomMeeting
from .engagement import Person, parse_time

T = FieldMapping.Transform

# Brevo attribute type per Zoom field when no transform decides it.
NUMBER_FIELDS = frozenset(
    {
        ZoomField.DURATION,
        ZoomField.ATTENDANCE_PERCENT,
        ZoomField.SESSIONS,
        ZoomField.MINUTES_LATE,
        ZoomField.ENGAGEMENT_SCORE,
        ZoomField.EVENTS_ATTENDED,
        ZoomField.TOTAL_MINUTES,
    }
)
DATE_FIELDS = frozenset(
    {
        ZoomField.JOIN_TIME,
        ZoomField.LEAVE_TIME,
        ZoomField.MEETING_DATE,
        ZoomField.REGISTRATION_TIME,
        ZoomField.LAST_ATTENDED,
    }
)
# Fields that need a look across every occurrence (one query per run).
HISTORY_FIELDS = frozenset(
    {ZoomField.EVENTS_ATTENDED, ZoomField.TOTAL_MINUTES, ZoomField.LAST_ATTENDED}
)

# "Doe, Jane" is last-name-first; "Jane Doe, PhD" carries a suffix.
NAME_SUFFIXES = frozenset(
    {"jr", "sr", "ii", "iii", "iv", "phd", "md", "mba", "esq", "dds", "cpa", "msc"}
)


_PARENTHESES = re.compile(r"\([^)]*\)")


class MappingError(ValueError):
    """A transform cannot apply to the value it was given."""


def attribute_type(zoom_field: str, transform: str) -> str:
    """The Brevo attribute type that fits a mapped value: date, float or text."""
    if transform == T.DATE:
        return "date"
    if transform in (T.MINUTES, T.SECONDS):
        return "float"
    if transform in (T.FIRST_NAME, T.LAST_NAME, T.UPPER, T.LOWER):
        return "text"
    if zoom_field in NUMBER_FIELDS:
        return "float"
    if zoom_field in DATE_FIELDS:
        return "date"
    return "text"


def split_name(name: str) -> tuple[str, str]:
    """A display name as (first, last).

    "Jane Doe" → ("Jane", "Doe"); "Mary Ann de la Cruz" → ("Mary", "Ann de la
    Cruz"); "Doe, Jane" → ("Jane", "Doe"); "Jane Doe, PhD" → ("Jane", "Doe");
    "Curie, Marie (Dr.)" → ("Marie", "Curie"): remarks in parentheses go.
    A name without spaces (李雷, a nickname) stays whole as the first name: its
    family part cannot be told apart reliably, and nothing is lost.
    """
    name = " ".join(_PARENTHESES.sub(" ", name or "").split())
    if "," in name:
        head, _, tail = name.partition(",")
        tail = tail.strip()
        if tail and tail.replace(".", "").lower() not in NAME_SUFFIXES:
            return tail, head.strip()
        name = head.strip()
    if " " not in name:
        return name, ""
    first, _, last = name.partition(" ")
    return first, last


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        return parse_time(value)
    return None


def _as_is(value: Any, tz: ZoneInfo | None) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _to_date(value: Any, tz: ZoneInfo | None) -> str:
    moment = _as_datetime(value)
    if moment is None:
        raise MappingError(f"not a date: {value!r}")
    if isinstance(moment, datetime):
        moment = moment.astimezone(tz).date() if tz else moment.date()
    return moment.isoformat()


def _as_seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError) as err:
        raise MappingError(f"not a number of seconds: {value!r}") from err
    if not math.isfinite(seconds):
        # "inf" and "nan" parse as floats; Brevo takes neither.
        raise MappingError(f"not a number of seconds: {value!r}")
    return seconds


def _to_seconds(value: Any, tz: ZoneInfo | None) -> int | float:
    seconds = _as_seconds(value)
    return int(seconds) if seconds.is_integer() else seconds


def _to_minutes(value: Any, tz: ZoneInfo | None) -> int | float:
    minutes = round(_as_seconds(value) / 60, 1)
    return int(minutes) if minutes.is_integer() else minutes


def _first_name(value: Any, tz: ZoneInfo | None) -> str | None:
    return split_name(str(value))[0] or None


def _last_name(value: Any, tz: ZoneInfo | None) -> str | None:
    return split_name(str(value))[1] or None


TRANSFORMS: dict[str, Callable[[Any, ZoneInfo | None], Any]] = {
    T.NONE: _as_is,
    T.DATE: _to_date,
    T.SECONDS: _to_seconds,
    T.MINUTES: _to_minutes,
    T.FIRST_NAME: _first_name,
    T.LAST_NAME: _last_name,
    T.UPPER: lambda value, tz: str(value).upper(),
    T.LOWER: lambda value, tz: str(value).lower(),
}


def apply_transform(value: Any, transform: str, tz: ZoneInfo | None = None) -> Any:
    """One mapping transform; raises MappingError when it does not fit the value."""
    if value is None or value == "":
        return None
    function = TRANSFORMS.get(transform)
    if function is None:
        raise MappingError(f"unknown transform {transform!r}")
    return function(value, tz)


def meeting_zone(meeting: ZoomMeeting | None) -> ZoneInfo | None:
    """The occurrence's own time zone, so a date is the day the host meant."""
    if meeting and meeting.timezone:
        try:
            return ZoneInfo(meeting.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


def person_fields(
    person: Person,
    meeting: ZoomMeeting,
    *,
    registration_source: str = "",
    history: dict | None = None,
) -> dict[str, Any]:
    """Every mappable Zoom field for one person at one occurrence."""
    registrant = person.registrant or {}
    first = registrant.get("first_name")
    last = registrant.get("last_name")
    if not (first and last):
        # The registration form's own fields win; the display name fills in.
        split_first, split_last = split_name(person.name)
        first, last = first or split_first, last or split_last
    is_webinar = meeting.kind == ZoomMeeting.Kind.WEBINAR
    fields: dict[str, Any] = {
        ZoomField.EMAIL: person.email,
        ZoomField.NAME: person.name,
        ZoomField.FIRST_NAME: first,
        ZoomField.LAST_NAME: last,
        ZoomField.JOIN_TIME: person.first_join,
        ZoomField.LEAVE_TIME: person.last_leave,
        ZoomField.DURATION: person.total_seconds if person.sessions else None,
        ZoomField.ATTENDANCE_PERCENT: (
            person.attendance_percent if person.sessions else None
        ),
        ZoomField.SESSIONS: person.sessions,
        ZoomField.MINUTES_LATE: person.minutes_late if person.sessions else None,
        ZoomField.WEBINAR_TITLE: meeting.topic if is_webinar else "",
        ZoomField.MEETING_TOPIC: meeting.topic,
        ZoomField.MEETING_ID: meeting.zoom_id,
        ZoomField.MEETING_DATE: meeting.start_time,
        ZoomField.ATTENDANCE_STATUS: person.status,
        ZoomField.REGISTRATION_SOURCE: registration_source or registrant.get("source"),
        ZoomField.REGISTRATION_TIME: registrant.get("create_time"),
        ZoomField.ORGANIZATION: registrant.get("org"),
        ZoomField.JOB_TITLE: registrant.get("job_title"),
        ZoomField.COUNTRY: registrant.get("country"),
        ZoomField.PHONE: registrant.get("phone"),
        ZoomField.ENGAGEMENT_SCORE: person.score if person.sessions else None,
        ZoomField.RECORDING_URL: meeting.recording_share_url,
    }
    if history is not None:
        past = history.get(person.email) or {}
        fields[ZoomField.EVENTS_ATTENDED] = past.get("events")
        minutes = past.get("seconds")
        fields[ZoomField.TOTAL_MINUTES] = round(minutes / 60, 1) if minutes else None
        fields[ZoomField.LAST_ATTENDED] = past.get("last")
    return fields


@dataclass(frozen=True)
class Rule:
    zoom_field: str
    attribute: str
    transform: str


class Mapper:
    """The connection's enabled field mapping, ready to apply to many people."""

    def __init__(self, mappings: Iterable[FieldMapping], tz: ZoneInfo | None = None):
        self.tz = tz
        self.rules = [
            Rule(m.zoom_field, m.brevo_attribute.strip().upper(), m.transform)
            for m in mappings
            if m.enabled and m.brevo_attribute.strip()
        ]
        # The "email" mapping names the contact's identifier, not an attribute.
        self.rules = [r for r in self.rules if r.attribute != "EMAIL"]

    @classmethod
    def for_connection(
        cls, connection: ZoomConnection, meeting: ZoomMeeting | None = None
    ) -> Mapper:
        return cls(
            connection.field_mappings.filter(enabled=True).order_by("id"),
            meeting_zone(meeting),
        )

    @property
    def needs_history(self) -> bool:
        return any(r.zoom_field in HISTORY_FIELDS for r in self.rules)

    def wanted_attributes(self) -> dict[str, str]:
        """Attribute name → Brevo type, for ``BrevoClient.ensure_attributes``."""
        return {
            r.attribute: attribute_type(r.zoom_field, r.transform) for r in self.rules
        }

    def attributes(
        self, fields: dict[str, Any], errors: list[str] | None = None
    ) -> dict[str, Any]:
        """The mapped attributes; a value a transform refuses is left out."""
        out: dict[str, Any] = {}
        for rule in self.rules:
            try:
                value = apply_transform(
                    fields.get(rule.zoom_field), rule.transform, self.tz
                )
            except MappingError as err:
                if errors is not None:
                    errors.append(f"{rule.attribute}: {err}")
                continue
            if value is not None and value != "":
                out[rule.attribute] = value
        return out

    def contact(
        self, fields: dict[str, Any], errors: list[str] | None = None
    ) -> dict[str, Any]:
        """One row of an import's ``jsonBody``."""
        return {
            "email": fields[ZoomField.EMAIL],
            "attributes": self.attributes(fields, errors),
        }
