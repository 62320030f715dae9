"""Which Zoom scopes a connection needs, and a live check of a connection.

Zoom has two scope vocabularies. Apps created since about March 2024 only offer
granular scopes (``meeting:read:list_past_participants``); older apps have
classic ones (``meeting:read``). Account-level and Server-to-Server apps use the
``:admin`` variants, user-managed OAuth apps the plain ones. A need is met by
its granular name or by any classic scope that covers it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..http import ApiError
from ..models import ZoomConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopeNeed:
    granular: str  # without ":admin"
    classic: tuple[str, ...]  # without ":admin"
    why: str
    admin_only: bool = False  # report endpoints exist for account-level apps only

    def names(self, admin: bool) -> tuple[str, ...]:
        """Scope names that satisfy this need, granular name first."""
        suffix = ":admin" if admin else ""
        granular = self.granular + (":admin" if admin or self.admin_only else "")
        # A user-level app may hold the account-wide classic scope too.
        classic = tuple(c + suffix for c in self.classic)
        classic += tuple(c + ":admin" for c in self.classic if not admin)
        return (granular, *classic)


ALWAYS = [
    ScopeNeed("user:read:list_users", ("user:read",), "list the account's users"),
]
USER_ALWAYS = [
    ScopeNeed("user:read:user", ("user:read",), "read the connected user"),
]
PARTICIPANTS = [
    ScopeNeed("meeting:read:list_meetings", ("meeting:read",), "find past meetings"),
    ScopeNeed("meeting:read:meeting", ("meeting:read",), "read meeting details"),
    ScopeNeed("meeting:read:past_meeting", ("meeting:read",), "read past meetings"),
    ScopeNeed(
        "meeting:read:list_past_instances", ("meeting:read",), "list occurrences"
    ),
    ScopeNeed(
        "meeting:read:list_past_participants",
        ("meeting:read",),
        "read meeting participants",
    ),
]
WEBINARS = [
    ScopeNeed("webinar:read:list_webinars", ("webinar:read",), "find webinars"),
    ScopeNeed("webinar:read:webinar", ("webinar:read",), "read webinar details"),
    ScopeNeed("webinar:read:past_webinar", ("webinar:read",), "read past webinars"),
    ScopeNeed(
        "webinar:read:list_past_instances", ("webinar:read",), "list occurrences"
    ),
    ScopeNeed(
        "webinar:read:list_past_participants",
        ("webinar:read",),
        "read webinar attendees",
    ),
    ScopeNeed(
        "webinar:read:list_registrants", ("webinar:read",), "read webinar registrants"
    ),
]
# The webinar participant report adds registrant ids when the past-participants
# answer lacks them; report scopes exist for account-level apps only.
WEBINAR_REPORTS = [
    ScopeNeed(
        "report:read:list_webinar_participants",
        ("report:read",),
        "read the webinar participant report",
        admin_only=True,
    ),
]
RECORDINGS = [
    ScopeNeed(
        "cloud_recording:read:list_recording_files",
        ("recording:read",),
        "read recording links",
    ),
]


def needed_scopes(connection: ZoomConnection) -> list[ScopeNeed]:
    """The scope needs of the sync options enabled on ``connection``."""
    admin = not connection.is_user_oauth
    needs = list(ALWAYS if admin else USER_ALWAYS)
    if connection.sync_participants:
        needs += PARTICIPANTS
    if connection.sync_webinars:
        needs += WEBINARS
        if admin:
            needs += WEBINAR_REPORTS
    if connection.sync_recordings:
        needs += RECORDINGS
    return needs


def missing_scopes(connection: ZoomConnection, granted: set[str]) -> list[str]:
    """Granular names (what to add to the app) of needs no granted scope meets."""
    admin = not connection.is_user_oauth
    missing = []
    for need in needed_scopes(connection):
        names = need.names(admin)
        if not granted.intersection(names) and names[0] not in missing:
            missing.append(names[0])
    return missing


@dataclass
class ConnectionCheck:
    ok: bool
    user: str = ""
    granted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str = ""


def check_connection(connection: ZoomConnection) -> ConnectionCheck:
    """Fetch one user with the connection's token and compare its scopes.

    Server-to-Server: the first user of ``/users``; user OAuth: ``/users/me``.
    """
    from .client import MEDIUM, ZoomClient

    client = ZoomClient(connection, max_retries=1)
    try:
        if connection.is_user_oauth:
            user = client.get_user("me")
        else:
            page = client.get_json(
                "users", params={"page_size": 1, "status": "active"}, bucket=MEDIUM
            )
            user = (page.get("users") or [{}])[0]
    except ApiError as err:
        logger.info(
            "zoom.connection_check.failed",
            extra={"connection_id": connection.pk, "error_type": type(err).__name__},
        )
        return ConnectionCheck(ok=False, error=str(err))
    granted = sorted(set(connection.granted_scopes.split()))
    missing = missing_scopes(connection, set(granted))
    return ConnectionCheck(
        ok=not missing,
        user=str(user.get("email") or user.get("id") or ""),
        granted=granted,
        missing=missing,
    )
