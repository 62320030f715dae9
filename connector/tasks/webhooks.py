"""Webhook work: process a stored delivery, re-queue stuck ones, reconcile.

``process_delivery`` takes a delivery id, re-reads the row and runs the event's
handler (``connector.events``). Handlers are idempotent, so a redelivered
message or an operator's re-process does no harm; a delivery already processed
or ignored is left alone.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import events
from ..http import (
    ApiDailyLimit,
    ApiError,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)
from ..models import SyncRun, WebhookDelivery, ZoomConnection, ZoomMeeting

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
Kind = ZoomMeeting.Kind

# Worth another try later: the partner is busy or down, or SQLite was locked.
TRANSIENT = (ApiRateLimited, ApiServerError, ApiUnavailable, OperationalError)
MAX_RETRIES = 5
# Deliveries still `accepted` this long after arrival lost their message
# (broker down at intake, worker killed before acking): the sweep re-queues them.
STALE_AFTER = timedelta(minutes=10)


def _retry_delay(err: Exception, retries: int) -> float:
    if isinstance(err, ApiDailyLimit):
        return max((err.reset_at - timezone.now()).total_seconds(), 60)
    if isinstance(err, ApiRateLimited) and err.retry_after:
        return err.retry_after + random.uniform(0, 5)  # noqa: S311 (jitter)
    return min(30 * 2**retries, 3600) + random.uniform(0, 10)  # noqa: S311 (jitter)


def safe_error(err: Exception, connection: ZoomConnection | None) -> str:
    """The exception as text for the delivery row, with no secret in it."""
    text = f"{type(err).__name__}: {err}"
    if connection is not None:
        secrets = [
            connection.client_secret,
            connection.webhook_secret_token,
            connection.previous_webhook_secret_token,
            connection.verification_token,
            connection.refresh_token,
            connection.access_token,
            settings.ZOOM_OAUTH_CLIENT_SECRET,
            settings.ZOOM_OAUTH_WEBHOOK_SECRET,
        ]
        if connection.brevo_account_id:
            secrets.append(connection.brevo_account.api_key)
        for secret in secrets:
            if secret and len(secret) >= 6:
                text = text.replace(secret, "[redacted]")
    return text[:2000]


@shared_task(
    bind=True, name="connector.process_delivery", queue="portal", max_retries=5
)
def process_delivery(self, delivery_id: int) -> str | None:
    """Run the handler of one accepted (or failed) delivery and record the outcome.

    Transient failures (rate limits, 5xx, timeouts, a locked SQLite file) are
    retried with backoff up to MAX_RETRIES times; anything else is recorded as
    failed with its error, for an operator to re-process.
    """
    delivery = (
        WebhookDelivery.objects.select_related("connection")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        # Purged by retention or deleted by an operator: nothing to do.
        logger.info("zoom.webhook.delivery_gone", extra={"delivery_id": delivery_id})
        return None
    if delivery.status not in (Status.ACCEPTED, Status.FAILED):
        # Already processed or ignored (a redelivered message).
        return delivery.status

    log_extra = {
        "delivery_id": delivery.pk,
        "connection_id": delivery.connection_id,
        "event": delivery.event,
    }
    try:
        outcome = events.dispatch(delivery)
    except TRANSIENT as err:
        retry = self.request.retries < MAX_RETRIES
        note = safe_error(err, delivery.connection)
        if retry:
            note += f" (retry {self.request.retries + 1} of {MAX_RETRIES} scheduled)"
        _finish(delivery, Status.FAILED, note)
        if retry:
            logger.warning("zoom.webhook.retry_scheduled", extra=log_extra)
            raise self.retry(
                exc=err, countdown=_retry_delay(err, self.request.retries)
            ) from err
        logger.error("zoom.webhook.failed", extra=log_extra)
        return Status.FAILED
    except Exception as err:  # recorded on the row for an operator to act on
        _finish(delivery, Status.FAILED, safe_error(err, delivery.connection))
        logger.exception("zoom.webhook.failed", extra=log_extra)
        return Status.FAILED
    _finish(delivery, outcome.status, outcome.note)
    logger.info("zoom.webhook.processed", extra={**log_extra, "status": outcome.status})
    return outcome.status


def _finish(delivery: WebhookDelivery, status: str, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        error=error,
        processed_at=timezone.now(),
        attempts=F("attempts") + 1,
    )


@shared_task(name="connector.requeue_stale_deliveries", queue="portal")
def requeue_stale_deliveries() -> int:
    """Enqueue again deliveries left `accepted` (their message was lost)."""
    now = timezone.now()
    stale = WebhookDelivery.objects.filter(
        status=Status.ACCEPTED,
        received_at__lt=now - STALE_AFTER,
        received_at__gte=now - timedelta(days=3),
    ).values_list("pk", flat=True)
    count = 0
    for delivery_id in stale.iterator():
        process_delivery.delay(delivery_id)
        count += 1
    if count:
        logger.warning("zoom.webhook.requeued", extra={"count": count})
    return count


# Reconciliation -------------------------------------------------------------------


@shared_task(name="connector.reconcile_recent_meetings", queue="portal")
def reconcile_recent_meetings(days: int | None = None) -> int:
    """Beat entry: one reconciliation per enabled connection, each its own task."""
    days = days if days is not None else settings.RECONCILE_DAYS
    ids = list(
        ZoomConnection.objects.filter(
            enabled=True, status=ZoomConnection.Status.ACTIVE
        ).values_list("pk", flat=True)
    )
    for connection_id in ids:
        reconcile_connection.delay(connection_id, days)
    return len(ids)


@shared_task(
    name="connector.reconcile_connection",
    queue="portal",
    autoretry_for=(ApiRateLimited, ApiServerError, ApiUnavailable),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def reconcile_connection(connection_id: int, days: int | None = None) -> int:
    """Sync the past meetings and webinars of the last days that no run covered.

    A missed or withheld ``ended`` webhook leaves an occurrence without a sync
    run; this finds them through Zoom's past instances and starts a run with
    trigger ``schedule``. An occurrence with a succeeded or partial run, or one
    still queued or running, is left alone; one whose runs failed is tried again
    up to RECONCILE_MAX_ATTEMPTS times.
    """
    from ..sync.pipeline import start_sync
    from ..zoom.client import ZoomClient

    connection = ZoomConnection.objects.filter(
        pk=connection_id, enabled=True, status=ZoomConnection.Status.ACTIVE
    ).first()
    if connection is None:
        # Switched off or revoked since the beat task listed it.
        return 0
    days = days if days is not None else settings.RECONCILE_DAYS
    since = timezone.now() - timedelta(days=days)
    client = ZoomClient(connection)
    started = 0
    for kind, uuid, zoom_id in _recent_occurrences(client, connection, since):
        if not _needs_sync(connection, uuid):
            continue
        meeting = ZoomMeeting.objects.filter(connection=connection, uuid=uuid).first()
        run = start_sync(
            connection, kind, uuid, SyncRun.Trigger.SCHEDULE, meeting=meeting
        )
        started += 1
        logger.info(
            "zoom.reconcile.sync_started",
            extra={
                "connection_id": connection.pk,
                "sync_run_id": run.pk,
                "zoom_id": zoom_id,
            },
        )
    logger.info(
        "zoom.reconcile.done",
        extra={"connection_id": connection.pk, "started": started, "days": days},
    )
    return started


def _hosts(client, connection: ZoomConnection) -> list[str]:
    if connection.is_user_oauth:
        return ["me"]
    return [user["id"] for user in client.list_users() if user.get("id")]


def _recent_occurrences(client, connection: ZoomConnection, since: datetime):
    """(kind, occurrence uuid, zoom id) of instances that started since `since`.

    Meetings come from each host's previous meetings; webinars from each host's
    scheduled webinars (recurring series stay listed) and from the webinars
    this portal already knows of, through their past instances.
    """
    seen: set[str] = set()
    today = timezone.now().date()
    meeting_ids: set[str] = set()
    webinar_ids: set[str] = set()
    for host in _hosts(client, connection):
        try:
            for meeting in client.list_meetings(
                host, type="previous_meetings", from_=since.date(), to=today
            ):
                meeting_ids.add(str(meeting["id"]))
            if connection.sync_webinars:
                for webinar in client.list_webinars(host, type="scheduled"):
                    webinar_ids.add(str(webinar["id"]))
        except ApiError as err:
            if err.status in (400, 404):
                # A host without a license (3161) or a user gone since listing.
                logger.info(
                    "zoom.reconcile.host_skipped",
                    extra={"connection_id": connection.pk, "status": err.status},
                )
                continue
            raise
    # Not yet: a one-off webinar that expired with no webhook at all is not
    # listed by Zoom's webinar list; add the webinar report API when needed.
    if connection.sync_webinars:
        webinar_ids |= set(
            ZoomMeeting.objects.filter(
                connection=connection, kind=ZoomMeeting.Kind.WEBINAR
            )
            .filter(Q(start_time__gte=since) | Q(start_time=None))
            .values_list("zoom_id", flat=True)
        ) - {""}
    sources = []
    if connection.sync_participants:
        sources.append((Kind.MEETING, meeting_ids, client.past_meeting_instances))
    if connection.sync_webinars:
        sources.append((Kind.WEBINAR, webinar_ids, client.past_webinar_instances))
    for kind, ids, instances in sources:
        for zoom_id in sorted(ids):
            try:
                found = instances(zoom_id)
            except ApiError as err:
                if err.status == 404:
                    continue
                raise
            for instance in found:
                uuid = instance.get("uuid")
                start = _parse_start(instance.get("start_time"))
                if not uuid or uuid in seen or (start and start < since):
                    continue
                seen.add(uuid)
                yield kind, uuid, zoom_id


def _parse_start(value: object) -> datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _needs_sync(connection: ZoomConnection, uuid: str) -> bool:
    runs = SyncRun.objects.filter(connection=connection).filter(
        Q(zoom_ref=uuid) | Q(meeting__uuid=uuid)
    )
    done_or_busy = [
        SyncRun.Status.SUCCEEDED,
        SyncRun.Status.PARTIAL,
        SyncRun.Status.QUEUED,
        SyncRun.Status.RUNNING,
        SyncRun.Status.RESCHEDULED,
    ]
    if runs.filter(status__in=done_or_busy).exists():
        return False
    tried = runs.filter(trigger=SyncRun.Trigger.SCHEDULE).count()
    return tried < settings.RECONCILE_MAX_ATTEMPTS
