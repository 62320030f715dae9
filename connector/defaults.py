"""What a new connection starts with: the product brief's mapping and lists."""

from __future__ import annotations

from .models import Audience, FieldMapping, ListAssignment, ZoomConnection, ZoomField

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
