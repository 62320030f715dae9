"""Sync one webinar occurrence (attendees, registrants, no-shows) to Brevo."""

from __future__ import annotations

from connector.models import ZoomMeeting

from .sync_meeting import Command as SyncMeetingCommand


class Command(SyncMeetingCommand):
    help = (
        "Sync a webinar's attendees, registrants and no-shows to Brevo now. "
        "ID_OR_UUID is a webinar id (its latest occurrence) or an occurrence uuid."
    )
    kind = ZoomMeeting.Kind.WEBINAR
