"""What each Zoom webhook event does: one handler per event, in one table.

``dispatch`` runs the handler for a stored delivery and says what became of it:
``processed``, or ``ignored`` with the reason (an event we do not handle, a
disabled connection, a feature switched off). Every handler is idempotent: Zoom
sends repeats and sends joins and leaves out of order, and an operator can
re-process a failed delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .http import ApiError
from .models import (
    Attendance,
    ConnectionEvent,
    SyncRun,
    SyncRunItem,
    WebhookDelivery,
    ZoomConnection,
    ZoomMeeting,
)
from .zoom.webhooks import is_webinar_type, unseal

logger = logging.getLogger(__name__)

Kind = ZoomMeeting.Kind


class Ignored(Exception):
    """The delivery is valid but there is nothing for us to do with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventDataError(ValueError):
    """The payload lacks something the handler needs (recorded as failed)."""


@dataclass(frozen=True)
class Outcome:
    status: str
    note: str = ""


# Payload helpers ----------------------------------------------------------------


def _object(data: dict) -> dict:
    obj = (data.get("payload") or {}).get("object")
    if not isinstance(obj, dict):
        raise EventDataError("payload.object is missing")
    return obj


def _text(value: Any, limit: int) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()[:limit]


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def _minutes(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**31 else None


def _kind(event: str, obj: dict) -> str:
    if event.startswith("webinar."):
        return Kind.WEBINAR
    if event.startswith("meeting."):
        return Kind.MEETING
    return Kind.WEBINAR if is_webinar_type(obj.get("type")) else Kind.MEETING


def occurrence(connection: ZoomConnection, obj: dict, kind: str) -> ZoomMeeting:
    """The ``ZoomMeeting`` for this occurrence (by uuid), created or brought up to
    date with what the payload says. Status is left to the caller."""
    uuid = _text(obj.get("uuid"), 64)
    if not uuid:
        raise EventDataError("payload.object.uuid is missing")
    values = {
        "kind": kind,
        "zoom_id": _text(obj.get("id"), 20),
        "topic": _text(obj.get("topic"), 300),
        "host_id": _text(obj.get("host_id"), 100),
        "host_email": _text(obj.get("host_email"), 254),
        "timezone": _text(obj.get("timezone"), 64),
        "scheduled_minutes": _minutes(obj.get("duration")),
        "start_time": _when(obj.get("start_time")),
    }
    meeting, created = ZoomMeeting.objects.get_or_create(
        connection=connection, uuid=uuid, defaults=values
    )
    if not created:
        changed = [
            name
            for name, value in values.items()
            if value not in ("", None) and getattr(meeting, name) != value
        ]
        for name in changed:
            setattr(meeting, name, values[name])
        if changed:
            meeting.save(update_fields=[*changed, "updated_at"])
    return meeting


# Handlers -----------------------------------------------------------------------


def started(delivery: WebhookDelivery, data: dict) -> None:
    obj = _object(data)
    with transaction.atomic():
        meeting = occurrence(delivery.connection, obj, _kind(delivery.event, obj))
        # A late `started` after `ended` must not move the occurrence back.
        if meeting.status == ZoomMeeting.Status.SCHEDULED:
            meeting.status = ZoomMeeting.Status.STARTED
            meeting.save(update_fields=["status", "updated_at"])


def ended(delivery: WebhookDelivery, data: dict) -> None:
    """Mark the occurrence ended and schedule its sync run after the delay.

    Zoom's participant report is not complete right after the end; the run
    waits ``sync_delay_seconds`` and the sync engine retries with backoff while
    the data is still incomplete.
    """
    from .sync.pipeline import start_sync

    connection = delivery.connection
    obj = _object(data)
    kind = _kind(delivery.event, obj)
    with transaction.atomic():
        meeting = occurrence(connection, obj, kind)
        meeting = ZoomMeeting.objects.select_for_update().get(pk=meeting.pk)
        meeting.end_time = _when(obj.get("end_time")) or meeting.end_time
        if meeting.end_time is None and delivery.event_ts:
            meeting.end_time = datetime.fromtimestamp(delivery.event_ts / 1000, tz=UTC)
        if meeting.status != ZoomMeeting.Status.SYNCED:
            meeting.status = ZoomMeeting.Status.ENDED
        meeting.save(update_fields=["end_time", "status", "updated_at"])

    wanted = (
        connection.sync_webinars
        if kind == Kind.WEBINAR
        else connection.sync_participants
    )
    if not wanted:
        raise Ignored(f"Syncing {kind}s is switched off for this connection.")
    with transaction.atomic():
        # The lock makes a second `ended` for this occurrence wait and then
        # find the run the first one scheduled.
        meeting = ZoomMeeting.objects.select_for_update().get(pk=meeting.pk)
        if meeting.sync_runs.filter(trigger=SyncRun.Trigger.WEBHOOK).exists():
            logger.info(
                "zoom.webhook.sync_already_scheduled",
                extra={"meeting_id": meeting.pk, "delivery_id": delivery.pk},
            )
            return
        run = start_sync(
            connection,
            kind,
            meeting.uuid,
            SyncRun.Trigger.WEBHOOK,
            meeting=meeting,
            countdown=connection.sync_delay_seconds,
        )
    logger.info(
        "zoom.webhook.sync_scheduled",
        extra={
            "meeting_id": meeting.pk,
            "sync_run_id": run.pk,
            "delivery_id": delivery.pk,
            "countdown": connection.sync_delay_seconds,
        },
    )


def participant_joined(delivery: WebhookDelivery, data: dict) -> None:
    _participant(delivery, data, "join")


def participant_left(delivery: WebhookDelivery, data: dict) -> None:
    _participant(delivery, data, "leave")


def _participant(delivery: WebhookDelivery, data: dict, side: str) -> None:
    """Record one join or leave as a live session of the person's attendance.

    Sessions are keyed by Zoom's per-join ``user_id`` (or ``participant_uuid``),
    so a repeat changes nothing and a leave that arrives before its join waits
    in its session until the join comes. Totals are recomputed from the
    sessions each time.
    """
    obj = _object(data)
    person = obj.get("participant")
    if not isinstance(person, dict):
        raise EventDataError("payload.object.participant is missing")
    when = _when(person.get(f"{side}_time"))
    if when is None:
        raise EventDataError(f"participant.{side}_time is missing or not a time")
    session_key = _text(person.get("user_id"), 100) or _text(
        person.get("participant_uuid"), 100
    )
    if not session_key:
        raise EventDataError("participant has neither user_id nor participant_uuid")
    email = _text(person.get("email"), 254).lower()
    name = _text(person.get("user_name"), 300)
    registrant_id = _text(person.get("registrant_id"), 100)
    guest_ref = (
        _text(person.get("participant_user_id"), 100)
        or _text(person.get("id"), 100)
        or name
        or session_key
    )
    person_key = email or f"guest:{guest_ref}"[:320]

    with transaction.atomic():
        meeting = occurrence(delivery.connection, obj, _kind(delivery.event, obj))
        if meeting.status == ZoomMeeting.Status.SCHEDULED:
            meeting.status = ZoomMeeting.Status.STARTED
            meeting.save(update_fields=["status", "updated_at"])
        attendance = None
        if not email and registrant_id:
            attendance = (
                Attendance.objects.select_for_update()
                .filter(meeting=meeting, registrant_id=registrant_id)
                .first()
            )
        if attendance is None:
            attendance, _ = Attendance.objects.select_for_update().get_or_create(
                meeting=meeting,
                person_key=person_key,
                defaults={"email": email, "name": name},
            )
        sessions = dict(attendance.live_sessions or {})
        session = dict(sessions.get(session_key) or {"join": None, "leave": None})
        current = _when(session.get(side))
        # A repeated event carries the same time; if two differ, a join keeps
        # the earliest and a leave the latest.
        if current is None or (when < current if side == "join" else when > current):
            session[side] = when.isoformat()
        sessions[session_key] = session
        apply_sessions(attendance, sessions)
        attendance.name = attendance.name or name
        attendance.email = attendance.email or email
        attendance.registrant_id = attendance.registrant_id or registrant_id
        attendance.save(
            update_fields=[
                "live_sessions",
                "total_seconds",
                "sessions",
                "first_join",
                "last_leave",
                "status",
                "name",
                "email",
                "registrant_id",
                "updated_at",
            ]
        )


def apply_sessions(attendance: Attendance, sessions: dict[str, dict]) -> None:
    """Recompute first join, last leave, session count and attended seconds.

    Overlapping sessions (two devices at once) count once: the seconds are the
    length of the union of the closed join-leave intervals.
    """
    attendance.live_sessions = sessions
    joins = [t for s in sessions.values() if (t := _when(s.get("join")))]
    leaves = [t for s in sessions.values() if (t := _when(s.get("leave")))]
    intervals = sorted(
        (join, leave)
        for s in sessions.values()
        if (join := _when(s.get("join")))
        and (leave := _when(s.get("leave")))
        and leave > join
    )
    total = 0.0
    open_start = open_end = None
    for start, end in intervals:
        if open_end is None or start > open_end:
            if open_end is not None:
                total += (open_end - open_start).total_seconds()
            open_start, open_end = start, end
        else:
            open_end = max(open_end, end)
    if open_end is not None:
        total += (open_end - open_start).total_seconds()
    attendance.total_seconds = int(total)
    attendance.sessions = len(joins)
    attendance.first_join = min(joins) if joins else None
    attendance.last_leave = max(leaves) if leaves else None
    if joins:
        attendance.status = Attendance.Status.ATTENDED


def registration_created(delivery: WebhookDelivery, data: dict) -> None:
    """The registrant becomes a Brevo contact on the registrants list at once."""
    from .sync.registrants import add_registrant

    connection = delivery.connection
    obj = _object(data)
    registrant = obj.get("registrant")
    if not isinstance(registrant, dict) or not registrant.get("email"):
        raise EventDataError("payload.object.registrant has no email")
    if not connection.sync_webinars:
        raise Ignored("Syncing webinars is switched off for this connection.")
    meeting = occurrence(connection, obj, Kind.WEBINAR)
    add_registrant(connection, meeting, registrant)
    from .tasks.followups import run_follow_ups

    run_follow_ups.delay_on_commit(
        meeting.pk, "registered", [str(registrant["email"]).strip().lower()]
    )


def recording_completed(delivery: WebhookDelivery, data: dict) -> None:
    """Keep the share link and passcode; the recording follow-up sends them."""
    obj = _object(data)
    share_url = _text(obj.get("share_url"), 2000)
    if not share_url:
        raise EventDataError("payload.object.share_url is missing")
    if len(share_url) > ZoomMeeting._meta.get_field("recording_share_url").max_length:
        raise EventDataError("share_url is longer than the stored link can hold")
    passcode = unseal(obj.get("password")) or unseal(obj.get("recording_play_passcode"))
    with transaction.atomic():
        meeting = occurrence(delivery.connection, obj, _kind(delivery.event, obj))
        meeting.recording_share_url = share_url
        meeting.recording_passcode = passcode
        meeting.recording_ready_at = meeting.recording_ready_at or timezone.now()
        meeting.save(
            update_fields=[
                "recording_share_url",
                "recording_passcode",
                "recording_ready_at",
                "updated_at",
            ]
        )
    # Sent once per person however often Zoom delivers this event.
    from .tasks.followups import notify_recording

    notify_recording.delay_on_commit(meeting.pk)


def app_deauthorized(delivery: WebhookDelivery, data: dict) -> None:
    """Revoke, delete the user's tokens and personal data, keep an anonymous trail.

    Zoom's Marketplace terms ask for the user's data to be deleted once the app
    is removed. For a user OAuth connection that is everything it collected:
    meetings, attendances, follow-ups, the emails in sync run items and stored
    webhook payloads. A Server-to-Server connection is the account's own app:
    its tokens are dropped and it is switched off, but the account's meeting
    records stay (they are the account's, not one user's).
    """
    payload = data.get("payload") or {}
    user_id = _text(payload.get("user_id"), 100)
    account_id = _text(payload.get("account_id"), 100)
    targets: list[ZoomConnection] = []
    if delivery.connection is not None:
        targets.append(delivery.connection)
    if user_id:
        for other in ZoomConnection.objects.filter(
            auth_type=ZoomConnection.AuthType.USER_OAUTH, zoom_user_id=user_id
        ):
            if other.pk not in {t.pk for t in targets} and (
                not other.account_id or other.account_id == account_id
            ):
                targets.append(other)
    for connection in targets:
        _deauthorize(connection, delivery)
    # The delivery keeps what happened, not who it happened to.
    delivery.payload = {
        "event": delivery.event,
        "event_ts": delivery.event_ts,
        "payload": {
            "deauthorization_time": payload.get("deauthorization_time"),
            "user_data_retention": payload.get("user_data_retention"),
        },
    }
    delivery.headers = {}
    delivery.save(update_fields=["payload", "headers"])


def _deauthorize(connection: ZoomConnection, delivery: WebhookDelivery) -> None:
    from .zoom import oauth

    try:
        oauth.revoke(connection)
    except ApiError as err:
        # Zoom has usually invalidated the tokens already; removing them here
        # is what matters.
        logger.info(
            "zoom.deauthorize.revoke_failed",
            extra={"connection_id": connection.pk, "error_type": type(err).__name__},
        )
    connection.refresh_from_db()
    anonymous = f"Deauthorized connection #{connection.pk}"
    purged = {"meetings": 0, "items": 0, "deliveries": 0}
    with transaction.atomic():
        connection.access_token = ""
        connection.access_token_expires_at = None
        connection.refresh_token = ""
        connection.status = ZoomConnection.Status.REVOKED
        connection.status_reason = "The app was removed in Zoom."
        connection.enabled = False
        fields = [
            "access_token",
            "access_token_expires_at",
            "refresh_token",
            "status",
            "status_reason",
            "enabled",
            "updated_at",
        ]
        if connection.is_user_oauth:
            purged["meetings"] = connection.meetings.count()
            connection.meetings.all().delete()
            purged["items"], _ = SyncRunItem.objects.filter(
                run__connection=connection
            ).delete()
            purged["deliveries"] = (
                connection.deliveries.exclude(pk=delivery.pk)
                .exclude(payload=None)
                .update(payload=None, headers={})
            )
            ConnectionEvent.objects.filter(connection=connection).update(
                connection_name=anonymous, detail=""
            )
            connection.name = anonymous[:100]
            connection.slug = f"deauthorized-{connection.pk}"
            connection.zoom_user_id = ""
            connection.zoom_user_email = ""
            connection.granted_scopes = ""
            connection.owner = None
            fields += ["name", "slug", "zoom_user_id", "zoom_user_email"]
            fields += ["granted_scopes", "owner"]
        connection.save(update_fields=fields)
        ConnectionEvent.objects.create(
            connection=connection,
            connection_name=anonymous if connection.is_user_oauth else connection.name,
            kind=ConnectionEvent.Kind.DEAUTHORIZED,
            detail=(
                "Removed in Zoom; tokens deleted; purged {meetings} meetings, "
                "{items} sync run items, {deliveries} webhook payloads.".format(
                    **purged
                )
            ),
        )
    logger.warning(
        "zoom.connection.deauthorized",
        extra={"connection_id": connection.pk, "delivery_id": delivery.pk, **purged},
    )


# The table ----------------------------------------------------------------------

Handler = Callable[[WebhookDelivery, dict], None]

HANDLERS: dict[str, Handler] = {
    "meeting.started": started,
    "webinar.started": started,
    "meeting.ended": ended,
    "webinar.ended": ended,
    "meeting.participant_joined": participant_joined,
    "meeting.participant_left": participant_left,
    "webinar.participant_joined": participant_joined,
    "webinar.participant_left": participant_left,
    "webinar.registration_created": registration_created,
    "recording.completed": recording_completed,
    "app_deauthorized": app_deauthorized,
}

# Handled even when the connection is switched off or revoked.
ALWAYS_HANDLED = frozenset({"app_deauthorized"})


def dispatch(delivery: WebhookDelivery) -> Outcome:
    """Run the handler for a delivery; raise what it raises (recorded as failed)."""
    handler = HANDLERS.get(delivery.event)
    if handler is None:
        return Outcome(WebhookDelivery.Status.IGNORED, "Event not handled.")
    connection = delivery.connection
    if connection is None:
        return Outcome(WebhookDelivery.Status.IGNORED, "No connection.")
    if delivery.event not in ALWAYS_HANDLED and (
        not connection.enabled or connection.status == ZoomConnection.Status.REVOKED
    ):
        return Outcome(WebhookDelivery.Status.IGNORED, "Connection is switched off.")
    try:
        handler(delivery, delivery.payload or {})
    except Ignored as outcome:
        return Outcome(WebhookDelivery.Status.IGNORED, outcome.reason)
    return Outcome(WebhookDelivery.Status.PROCESSED)
