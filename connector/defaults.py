"""What a new connection starts with: the product brief's mapping and lists."""

from __future__ import annotations

from .models import (
    Audience,
    FieldMapping,
    FollowUpRule,
    ListAssignment,
    ZoomConnection,
    ZoomField,
)

T = FieldMapping.Transform

DEFAULT_FIELD_MAPPING: list[tuple[str, str, str]] = [
    (ZoomField.EMAIL, "email", T.NONE),
    (ZoomField.NAME, "FIRSTNAME", T.FIRST_NAME),
    (ZoomField.JOIN_TIME, "MEETING_JOIN_DATE", T.DATE),
    (ZoomField.DURATION, "MEETING_DURATION", T.MINUTES),
    (ZoomField.WEBINAR_TITLE, "WEBINAR_NAME", T.NONE),
    (ZoomField.ATTENDANCE_STATUS, "ATTENDANCE_STATUS", T.NONE),
    (ZoomField.REGISTRATION_SOURCE, "UTM_SOURCE", T.NONE),
]

DEFAULT_LISTS: dict[str, int] = {
    Audience.MEETING_PARTICIPANTS: 15,
    Audience.WEBINAR_ATTENDEES: 16,
    Audience.WEBINAR_REGISTRANTS: 17,
}


# Follow-ups a new connection starts with (migration 0005 gives existing ones
# the same). Brevo events are on: an event alone changes no contact and emails
# nobody, it only gives Brevo automations something to start from. The recording
# email is off: it needs the account's own template id before it can send.
DEFAULT_FOLLOW_UP_RULES: list[dict] = [
    {
        "name": "Attended: Brevo event zoom_attended",
        "trigger": FollowUpRule.Trigger.ATTENDED,
        "action": FollowUpRule.Action.BREVO_EVENT,
        "event_name": "zoom_attended",
        "enabled": True,
    },
    {
        "name": "No-show: Brevo event zoom_no_show",
        "trigger": FollowUpRule.Trigger.NO_SHOW,
        "action": FollowUpRule.Action.BREVO_EVENT,
        "event_name": "zoom_no_show",
        "enabled": True,
    },
    {
        "name": "Registered: Brevo event zoom_registered",
        "trigger": FollowUpRule.Trigger.REGISTERED,
        "kind": "webinar",
        "action": FollowUpRule.Action.BREVO_EVENT,
        "event_name": "zoom_registered",
        "enabled": True,
    },
    {
        "name": "Recording ready: Brevo event zoom_recording_ready",
        "trigger": FollowUpRule.Trigger.RECORDING_READY,
        "action": FollowUpRule.Action.BREVO_EVENT,
        "event_name": "zoom_recording_ready",
        "include_no_shows": True,
        "enabled": True,
    },
    {
        "name": "Recording ready: email the link (set the template id, then enable)",
        "trigger": FollowUpRule.Trigger.RECORDING_READY,
        "action": FollowUpRule.Action.TRANSACTIONAL_TEMPLATE,
        "include_no_shows": True,
        "enabled": False,
    },
]


def apply_follow_up_defaults(connection: ZoomConnection) -> None:
    """Give a connection without follow-up rules the default ones."""
    if connection.follow_up_rules.exists():
        return
    FollowUpRule.objects.bulk_create(
        FollowUpRule(connection=connection, **values)
        for values in DEFAULT_FOLLOW_UP_RULES
    )


def apply_defaults(connection: ZoomConnection) -> None:
    """Give a connection the default mappings and lists it does not have yet."""
    for zoom_field, attribute, transform in DEFAULT_FIELD_MAPPING:
        FieldMapping.objects.get_or_create(
            connection=connection,
            brevo_attribute=attribute,
            defaults={"zoom_field": zoom_field, "transform": transform},
        )
    if not connection.list_assignments.exists():
        ListAssignment.objects.bulk_create(
            ListAssignment(connection=connection, audience=audience, list_id=list_id)
            for audience, list_id in DEFAULT_LISTS.items()
        )
    apply_follow_up_defaults(connection)
