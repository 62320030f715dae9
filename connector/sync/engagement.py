"""Merge Zoom's join sessions into one record per person, with their metrics.

Zoom lists one participant row per join session: a person who drops and
rejoins three times appears three times, maybe with their email in different
letter case. ``Engagement`` folds the rows into one ``Person`` each as pages
arrive (one small object per person, never the raw rows), joins webinar
attendees to their registration (registrant id first, then email), and at the
end computes total time, attendance percent, lateness and the engagement
score, and lists the registrants who never came.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

ATTENDED = "attended"
NO_SHOW = "no_show"
REGISTERED = "registered"

_validate_email = EmailValidator()

# What the portal keeps of a registrant (Zoom's registrant fields, §3.2 E5).
REGISTRANT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "org",
    "job_title",
    "country",
    "phone",
    "create_time",
)


def normalize_email(value: str | None) -> str:
    """Emails match trimmed and lower-cased: ``" Ana@X.com "`` is ``ana@x.com``."""
    return text(value).strip().lower()


def text(value: object) -> str:
    """A row's value as text: strings as they are, numbers written out, and
    anything else (a list or an object where Zoom documents a string) empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def seconds(value: object) -> int:
    """A ``duration`` in whole seconds; 0 when it is not a finite number ≥ 0."""
    try:
        number = float(text(value) or 0)
    except ValueError:
        return 0
    return int(number) if math.isfinite(number) and 0 <= number < 2**31 else 0


def is_valid_email(email: str) -> bool:
    try:
        _validate_email(email)
    except ValidationError:
        return False
    return True


def parse_time(value: str | datetime | None) -> datetime | None:
    """Zoom's ``2026-03-02T17:00:00Z`` as an aware UTC datetime (None if absent)."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(slots=True)
class Person:
    """One person at one occurrence: attendee, guest or registrant who missed it."""

    key: str
    email: str = ""
    name: str = ""
    invalid_email: str = ""  # the address as Zoom gave it, when it is not one
    registrant_id: str = ""
    registrant: dict | None = None
    sessions: int = 0
    # Join sessions as (join, leave) epoch seconds; overlaps count once.
    intervals: list[tuple[float, float]] = field(default_factory=list)
    untimed_seconds: int = 0  # sessions that came with a duration only
    first_join: datetime | None = None
    last_leave: datetime | None = None
    status: str = ATTENDED
    total_seconds: int = 0
    attendance_percent: float = 0.0
    minutes_late: float = 0.0
    score: float = 0.0

    @property
    def is_guest(self) -> bool:
        return not self.email and not self.invalid_email

    @property
    def registered(self) -> bool:
        return self.registrant is not None


@dataclass(frozen=True)
class Occurrence:
    """The timing facts the metrics are computed against."""

    start: datetime | None
    end: datetime | None
    scheduled_start: datetime | None = None
    attendance_weight: int = 70
    punctuality_weight: int = 30

    @property
    def length_seconds(self) -> float | None:
        if self.start and self.end and self.end > self.start:
            return (self.end - self.start).total_seconds()
        return None


class Engagement:
    """Accumulates registrants and participant rows; yields merged people."""

    def __init__(self) -> None:
        self.people: dict[str, Person] = {}
        self.registrants: dict[str, dict] = {}  # registrant id -> kept fields
        self.registrant_by_email: dict[str, str] = {}  # email -> registrant id
        self.matched: set[str] = set()  # registrant ids that showed up
        self.rows = 0
        self.registrant_rows = 0

    # Input -------------------------------------------------------------------

    def add_registrant(self, row: dict) -> None:
        self.registrant_rows += 1
        email = normalize_email(row.get("email"))
        reg_id = text(row.get("id") or row.get("registrant_id")) or f"email:{email}"
        kept = {name: text(row.get(name)) for name in REGISTRANT_FIELDS}
        kept["email"] = email
        tracking = row.get("tracking_source")
        source = text(tracking.get("source_name")) if isinstance(tracking, dict) else ""
        kept["source"] = source
        self.registrants[reg_id] = kept
        if email:
            self.registrant_by_email.setdefault(email, reg_id)

    def add_session(self, row: dict) -> None:
        """Fold one participant row (one join session) into its person."""
        self.rows += 1
        email = normalize_email(row.get("user_email") or row.get("email"))
        reg_id = text(row.get("registrant_id"))
        registrant = self.registrants.get(reg_id) if reg_id else None
        if not email and registrant:
            # Joined through their registration link without signing in.
            email = registrant["email"]
        if email and (email in self.people or is_valid_email(email)):
            key = email
        elif email:
            key = f"invalid:{email}"
        elif reg_id:
            # Registrants may still be arriving: resolved to an email in finish().
            key = f"rid:{reg_id}"
        else:
            guest = text(row.get("participant_user_id")) or text(row.get("id"))
            # The same key the live join webhooks use (connector.events).
            guest = guest or text(row.get("name")).strip()
            key = f"guest:{guest or text(row.get('user_id')) or 'unknown'}"

        person = self.people.get(key)
        if person is None:
            valid = key == email
            person = Person(
                key=key,
                email=email if valid else "",
                invalid_email=email if email and not valid else "",
            )
            self.people[key] = person
        if registrant and not person.registrant:
            person.registrant = registrant
            person.registrant_id = reg_id
            self.matched.add(reg_id)
        if not person.name:
            person.name = text(row.get("name")).strip()

        person.sessions += 1
        join = parse_time(row.get("join_time"))
        leave = parse_time(row.get("leave_time"))
        if join and (person.first_join is None or join < person.first_join):
            person.first_join = join
        if leave and (person.last_leave is None or leave > person.last_leave):
            person.last_leave = leave
        if join and leave and leave >= join:
            person.intervals.append((join.timestamp(), leave.timestamp()))
        else:
            person.untimed_seconds += seconds(row.get("duration"))

    # Output ------------------------------------------------------------------

    def _resolve_registrant_keys(self) -> None:
        """Give people who joined by registration link (no email) their email.

        Registrants and participants are fetched at the same time, so a row may
        name a registrant not seen yet; such people wait under ``rid:<id>``.
        If the same email also joined signed in, the two are one person.
        """
        for key in [k for k in self.people if k.startswith("rid:")]:
            registrant = self.registrants.get(key[4:])
            email = registrant["email"] if registrant else ""
            if not email or not is_valid_email(email):
                continue
            person = self.people.pop(key)
            person.key = person.email = email
            person.registrant = registrant
            person.registrant_id = key[4:]
            self.matched.add(key[4:])
            other = self.people.get(email)
            if other is None:
                self.people[email] = person
                continue
            other.sessions += person.sessions
            other.intervals.extend(person.intervals)
            other.untimed_seconds += person.untimed_seconds
            other.name = other.name or person.name
            if other.registrant is None:
                other.registrant, other.registrant_id = registrant, key[4:]
            if person.first_join and (
                other.first_join is None or person.first_join < other.first_join
            ):
                other.first_join = person.first_join
            if person.last_leave and (
                other.last_leave is None or person.last_leave > other.last_leave
            ):
                other.last_leave = person.last_leave

    def finish(self, occurrence: Occurrence) -> Iterator[Person]:
        """Every attendee and guest with metrics, then the registrants who missed it."""
        self._resolve_registrant_keys()
        for person in self.people.values():
            if person.registrant is None and person.email:
                reg_id = self.registrant_by_email.get(person.email)
                if reg_id:
                    person.registrant = self.registrants[reg_id]
                    person.registrant_id = "" if reg_id.startswith("email:") else reg_id
                    self.matched.add(reg_id)
            compute_metrics(person, occurrence)
            yield person

        for reg_id, registrant in self.registrants.items():
            if reg_id in self.matched:
                continue
            email = registrant["email"]
            valid = bool(email) and is_valid_email(email)
            key = email if valid else f"invalid:{email}" if email else f"rid:{reg_id}"
            if key in self.people:
                continue  # a second registration of someone already listed
            name = " ".join(
                p for p in (registrant["first_name"], registrant["last_name"]) if p
            )
            person = Person(
                key=key,
                email=email if valid else "",
                invalid_email=email if email and not valid else "",
                name=name,
                registrant_id="" if reg_id.startswith("email:") else reg_id,
                registrant=registrant,
                status=NO_SHOW,
            )
            self.people[key] = person
            yield person


def merged_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: two devices at once count once."""
    total = 0.0
    end = None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def compute_metrics(person: Person, occurrence: Occurrence) -> None:
    """Total time, attendance percent, minutes late and the engagement score.

    Score (0-100) = weighted mean of attendance (percent of the meeting's length)
    and punctuality (1 minus the share of the meeting missed at the start),
    with the connection's two weights (``connector.engagement_score``).
    """
    person.total_seconds = int(
        round(merged_seconds(person.intervals)) + person.untimed_seconds
    )
    length = occurrence.length_seconds
    if length:
        person.attendance_percent = round(
            min(person.total_seconds / length * 100, 100.0), 1
        )
    scheduled = occurrence.scheduled_start or occurrence.start
    late = 0.0
    if scheduled and person.first_join:
        late = max((person.first_join - scheduled).total_seconds(), 0.0)
    person.minutes_late = round(late / 60, 1)
    # One formula for sync runs and re-scoring, documented where it lives.
    from ..engagement_score import Weights, engagement_score

    person.score = engagement_score(
        attendance_percent=person.attendance_percent,
        seconds_late=late,
        length_seconds=length,
        weights=Weights(occurrence.attendance_weight, occurrence.punctuality_weight),
        joined=person.sessions > 0,
    )
