"""Find the past meetings and webinars of a connection's hosts in a date range.

Server-to-Server connections list every active user of the account; a user
OAuth connection only sees its own user (``me``). Meetings come from
``type=previous_meetings``; webinars from each webinar's past instances (Zoom
has no "previous webinars" list), so a webinar series yields each occurrence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from ..models import ZoomConnection, ZoomMeeting
from ..zoom.client import ZoomClient
from ..zoom.errors import ZoomForbidden, ZoomNotFound, ZoomNotLicensed
from .engagement import parse_time

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Found:
    kind: str
    uuid: str
    zoom_id: str
    topic: str
    start: datetime | None


def hosts(connection: ZoomConnection, zoom: ZoomClient) -> Iterator[str]:
    if connection.is_user_oauth:
        yield "me"
        return
    for user in zoom.list_users():
        if user.get("id"):
            yield user["id"]


def _in_range(start: datetime | None, since: date, until: date) -> bool:
    return start is not None and since <= start.date() <= until


def discover(
    connection: ZoomConnection, zoom: ZoomClient, since: date, until: date
) -> Iterator[Found]:
    """Every occurrence that started between ``since`` and ``until`` (inclusive)."""
    seen: set[str] = set()
    for user_id in hosts(connection, zoom):
        for item in zoom.list_meetings(user_id, "previous_meetings", since, until):
            start = parse_time(item.get("start_time"))
            uuid = item.get("uuid")
            if uuid and uuid not in seen and _in_range(start, since, until):
                seen.add(uuid)
                yield Found(
                    ZoomMeeting.Kind.MEETING,
                    uuid,
                    str(item.get("id") or ""),
                    item.get("topic") or "",
                    start,
                )
        if not connection.sync_webinars:
            continue
        try:
            webinars = list(zoom.list_webinars(user_id))
        except (ZoomNotLicensed, ZoomForbidden):
            # A host without the webinar add-on has no webinars to find.
            logger.info(
                "sync.backfill.no_webinars", extra={"connection_id": connection.pk}
            )
            continue
        for webinar in webinars:
            try:
                instances = zoom.past_webinar_instances(webinar["id"])
            except ZoomNotFound:
                continue  # never held yet
            for instance in instances:
                start = parse_time(instance.get("start_time"))
                uuid = instance.get("uuid")
                if uuid and uuid not in seen and _in_range(start, since, until):
                    seen.add(uuid)
                    yield Found(
                        ZoomMeeting.Kind.WEBINAR,
                        uuid,
                        str(webinar["id"]),
                        webinar.get("topic") or "",
                        start,
                    )
