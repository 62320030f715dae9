"""What a sync of a past occurrence would write to Brevo, without writing it.

Built from the attendance the portal recorded for the occurrence, through the
sync engine's own pieces (``Mapper``, ``person_fields``, ``Audiences``) and the
follow-up engine's ``plan``: the preview and a real run cannot disagree about
attributes, lists or follow-ups. Mappings and rules not enabled yet can be
included, to see what they would do once enabled.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import followups
from .engagement_score import contact_history
from .models import Attendance, FieldMapping, FollowUpRule, ZoomMeeting
from .sync.engagement import ATTENDED, NO_SHOW, Person
from .sync.mapping import Mapper, meeting_zone, person_fields
from .sync.pipeline import Audiences

Trigger = FollowUpRule.Trigger
PREVIEW_TRIGGERS = (
    Trigger.REGISTERED,
    Trigger.ATTENDED,
    Trigger.NO_SHOW,
    Trigger.MEETING_ENDED,
    Trigger.RECORDING_READY,
)


@dataclass
class ContactPreview:
    email: str
    name: str
    status: str
    attributes: dict[str, Any]
    lists: tuple[int, ...]
    errors: list[str]

    @property
    def status_label(self) -> str:
        return "Attended" if self.status == ATTENDED else "No-show"


@dataclass
class FollowUpPreview:
    trigger: str
    plan: followups.RulePlan
    items: list[dict] = field(default_factory=list)  # event or email, per person


@dataclass
class Preview:
    meeting: ZoomMeeting
    synced_at: datetime | None
    contacts: list[ContactPreview]
    skipped: list[str]  # guests without an email: no contact
    wanted_attributes: dict[str, str]
    follow_ups: list[FollowUpPreview]
    extra_mappings: list[FieldMapping]
    extra_rules: list[FollowUpRule]

    @property
    def list_ids(self) -> list[int]:
        return sorted({i for c in self.contacts for i in c.lists})


def person_from_attendance(row: Attendance) -> Person:
    """The sync engine's ``Person`` for a stored attendance row.

    A registrant still marked registered after the occurrence is what the sync
    run calls a no-show.
    """
    registered = bool(row.registrant_id) or row.status != Attendance.Status.ATTENDED
    registrant = {"source": row.registration_source} if registered else None
    return Person(
        key=row.person_key,
        email=row.email,
        name=row.name,
        registrant_id=row.registrant_id,
        registrant=registrant,
        sessions=row.sessions,
        first_join=row.first_join,
        last_leave=row.last_leave,
        status=ATTENDED if row.status == Attendance.Status.ATTENDED else NO_SHOW,
        total_seconds=row.total_seconds,
        attendance_percent=row.attendance_percent,
        minutes_late=row.minutes_late,
        score=row.score,
    )


def _mapper(meeting: ZoomMeeting, extra: Iterable[FieldMapping]) -> Mapper:
    rows = list(meeting.connection.field_mappings.filter(enabled=True).order_by("id"))
    have = {m.pk for m in rows}
    for mapping in extra:
        if mapping.connection_id == meeting.connection_id and mapping.pk not in have:
            enabled = copy.copy(mapping)
            enabled.enabled = True
            rows.append(enabled)
    return Mapper(rows, meeting_zone(meeting))


def _follow_up_item(
    rule_plan: followups.RulePlan, meeting: ZoomMeeting, recipient
) -> dict[str, Any]:
    rule = rule_plan.rule
    action = rule.action
    item: dict[str, Any] = {"email": recipient.email, "why": recipient.why}
    if action == FollowUpRule.Action.BREVO_EVENT:
        item["event"] = followups.brevo_event(rule, meeting, recipient)
    elif action == FollowUpRule.Action.TRANSACTIONAL_TEMPLATE:
        item["template_id"] = rule.template_id
        item["params"] = followups.template_params(meeting, recipient)
    elif action in (FollowUpRule.Action.ADD_TO_LIST, FollowUpRule.Action.CAMPAIGN):
        item["list_id"] = rule.list_id
    return _masked(item)


def _masked(value: Any) -> Any:
    """The preview shows that a recording passcode goes out, never the passcode."""
    if isinstance(value, dict):
        return {
            k: "•••• (sent)" if k.lower() == "recording_passcode" else _masked(v)
            for k, v in value.items()
        }
    return value


def build_preview(
    meeting: ZoomMeeting,
    *,
    mappings: Iterable[FieldMapping] = (),
    rules: Iterable[FollowUpRule] = (),
) -> Preview:
    """Contacts, attributes, lists and follow-ups a sync of ``meeting`` would send."""
    extra_mappings = [m for m in mappings if not m.enabled]
    extra_rules = [r for r in rules if not r.enabled]
    mapper = _mapper(meeting, extra_mappings)
    audiences = Audiences.for_meeting(meeting.connection, meeting.topic)
    rows = list(meeting.attendances.order_by("status", "email", "name"))
    history = (
        contact_history(meeting.connection, [r.email for r in rows])
        if mapper.needs_history
        else None
    )
    contacts, skipped = [], []
    for row in rows:
        person = person_from_attendance(row)
        if not person.email:
            skipped.append(row.name or row.person_key)
            continue
        errors: list[str] = []
        fields = person_fields(
            person,
            meeting,
            registration_source=row.registration_source,
            history=history,
        )
        contact = mapper.contact(fields, errors)
        contacts.append(
            ContactPreview(
                email=person.email,
                name=person.name,
                status=person.status,
                attributes=contact["attributes"],
                lists=audiences.for_person(person, meeting.kind),
                errors=errors,
            )
        )

    follow_ups = []
    for trigger in PREVIEW_TRIGGERS:
        for rule_plan in followups.plan(meeting, trigger, also=extra_rules):
            follow_ups.append(
                FollowUpPreview(
                    trigger=trigger,
                    plan=rule_plan,
                    items=[
                        _follow_up_item(rule_plan, meeting, r)
                        for r in rule_plan.recipients
                    ],
                )
            )
    synced = [r.synced_at for r in rows if r.synced_at]
    return Preview(
        meeting=meeting,
        synced_at=max(synced) if synced else meeting.last_synced_at,
        contacts=contacts,
        skipped=skipped,
        wanted_attributes=mapper.wanted_attributes(),
        follow_ups=follow_ups,
        extra_mappings=extra_mappings,
        extra_rules=extra_rules,
    )
