"""A new webinar registrant becomes a Brevo contact at once.

Used by the ``webinar.registration_created`` handler: one contact upsert onto
the registrants list(s), attributes through the connection's field mapping
(``registration_source`` is Zoom's ``tracking_source.source_name``), and an
``Attendance`` row with status registered. Doing it twice changes nothing.
"""

from __future__ import annotations

import logging

from ..brevo.client import BrevoClient
from ..models import Attendance, Audience, ListAssignment, ZoomConnection, ZoomMeeting
from .engagement import REGISTERED, Engagement, Person, is_valid_email, normalize_email
from .mapping import Mapper, person_fields

logger = logging.getLogger(__name__)


class RegistrantError(ValueError):
    """The registrant cannot become a contact (no or invalid email, no account)."""


def add_registrant(
    connection: ZoomConnection, meeting: ZoomMeeting, registrant: dict
) -> None:
    email = normalize_email(registrant.get("email"))
    if not email or not is_valid_email(email):
        raise RegistrantError(f"Registrant has no valid email: {email or '(none)'}")
    account = connection.brevo_account
    if account is None:
        raise RegistrantError(f"Connection {connection.slug} has no Brevo account")

    index = Engagement()
    index.add_registrant(registrant)
    reg_id, kept = next(iter(index.registrants.items()))
    name = " ".join(p for p in (kept["first_name"], kept["last_name"]) if p)
    person = Person(
        key=email,
        email=email,
        name=name,
        registrant_id="" if reg_id.startswith("email:") else reg_id,
        registrant=kept,
        status=REGISTERED,
    )

    mapper = Mapper.for_connection(connection, meeting)
    fields = person_fields(person, meeting, registration_source=kept["source"])
    attributes = mapper.attributes(fields)
    list_ids = sorted(
        {
            item.list_id
            for item in ListAssignment.objects.filter(
                connection=connection,
                audience=Audience.WEBINAR_REGISTRANTS,
                enabled=True,
            )
            if item.applies_to(meeting.topic)
        }
    )
    brevo = BrevoClient(account)
    brevo.ensure_attributes(mapper.wanted_attributes())
    brevo.upsert_contact(email, attributes, list_ids)

    attendance, created = Attendance.objects.get_or_create(
        meeting=meeting,
        person_key=email,
        defaults={
            "email": email,
            "name": name[:300],
            "registrant_id": person.registrant_id[:100],
            "registration_source": kept["source"][:200],
            "status": Attendance.Status.REGISTERED,
        },
    )
    if not created:
        changed = []
        if person.registrant_id and not attendance.registrant_id:
            attendance.registrant_id = person.registrant_id[:100]
            changed.append("registrant_id")
        if kept["source"] and not attendance.registration_source:
            attendance.registration_source = kept["source"][:200]
            changed.append("registration_source")
        if changed:
            attendance.save(update_fields=[*changed, "updated_at"])
    logger.info(
        "sync.registrant.added",
        extra={
            "connection_id": connection.pk,
            "meeting_id": meeting.pk,
            "lists": len(list_ids),
            "brevo_calls": brevo.calls,
        },
    )
