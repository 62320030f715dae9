"""Sync tasks: one run by id, and the discovery behind an admin backfill."""

from __future__ import annotations

import logging
from datetime import date

from celery import shared_task

from ..http import ApiDailyLimit, ApiRateLimited, ApiServerError, ApiUnavailable
from ..models import SyncRun, ZoomConnection
from ..sync.pipeline import TransientSyncError, run_sync, start_sync

logger = logging.getLogger(__name__)

ACTIVE = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING, SyncRun.Status.RESCHEDULED)


@shared_task(
    bind=True,
    name="connector.sync.run",
    queue="portal",
    acks_late=True,
    # Only a busy or unreachable Zoom or Brevo is retried, with growing waits;
    # a missing meeting, a scope or a refused key fails the run at once.
    autoretry_for=(TransientSyncError,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=5,
)
def run_sync_task(self, run_id: int) -> str:
    """Run sync run ``run_id``. A run that already finished is left alone, so a
    redelivered message (``acks_late``) does nothing twice."""
    run = run_sync(run_id, final_attempt=self.request.retries >= self.max_retries)
    return run.status


@shared_task(
    bind=True,
    name="connector.sync.backfill",
    queue="portal",
    acks_late=True,
    autoretry_for=(ApiRateLimited, ApiServerError, ApiUnavailable),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=5,
)
def backfill_task(
    self,
    connection_id: int,
    since: str,
    until: str,
    requested_by_id: int | None = None,
) -> int:
    """Queue a sync run for every occurrence in the range; return how many.

    Safe to run twice: an occurrence that already has a run waiting or running
    is not queued again.
    """
    from ..sync.backfill import discover
    from ..zoom.client import ZoomClient

    connection = ZoomConnection.objects.filter(pk=connection_id, enabled=True).first()
    if connection is None:
        return 0  # deleted or disabled since the click: nothing to backfill
    try:
        found = list(
            discover(
                connection,
                ZoomClient(connection),
                date.fromisoformat(since),
                date.fromisoformat(until),
            )
        )
    except ApiDailyLimit as err:
        # Listing can wait for Zoom's reset; retrying sooner would only bounce.
        raise self.retry(exc=err, eta=err.reset_at, max_retries=None) from err
    queued = 0
    for item in found:
        if SyncRun.objects.filter(
            connection=connection, zoom_ref=item.uuid, status__in=ACTIVE
        ).exists():
            continue
        start_sync(
            connection,
            item.kind,
            item.uuid,
            SyncRun.Trigger.ADMIN,
            requested_by=requested_by_id and _user(requested_by_id),
        )
        queued += 1
    logger.info(
        "sync.backfill.queued",
        extra={"connection_id": connection.pk, "found": len(found), "queued": queued},
    )
    return queued


def _user(pk: int):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=pk).first()
