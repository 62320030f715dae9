"""Follow-up tasks: run an occurrence's rules for a trigger, notify recordings.

Both take ids and may run any number of times: every (rule, person,
occurrence) is claimed in ``FollowUpDispatch`` before anything is sent.
"""

from __future__ import annotations

import logging

from celery import shared_task

from .. import followups
from ..models import ZoomMeeting

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
# Pseudo-trigger: every trigger a finished sync run evaluates.
AFTER_SYNC = "after_sync"


def _meeting(meeting_id: int) -> ZoomMeeting | None:
    meeting = (
        ZoomMeeting.objects.select_related("connection", "connection__brevo_account")
        .filter(pk=meeting_id)
        .first()
    )
    if meeting is None:
        # Deleted (a purged connection): there is nobody left to follow up.
        logger.info("followups.meeting_gone", extra={"meeting_id": meeting_id})
    return meeting


def _retry_later(task, summary: followups.Summary) -> None:
    """Some sends failed on a busy or unreachable Brevo: try those again later."""
    if task.request.is_eager:
        # Run inline (tests, CELERY_TASK_ALWAYS_EAGER): nothing can schedule a
        # retry, so the rows wait, marked, for the occurrence's next run.
        return
    if summary.retry and task.request.retries < MAX_RETRIES:
        logger.warning(
            "followups.retry_scheduled",
            extra={
                "meeting_id": summary.meeting_id,
                "trigger": summary.trigger,
                "retry": summary.retry,
            },
        )
        raise task.retry(countdown=min(60 * 2**task.request.retries, 1800))


@shared_task(
    bind=True,
    name="connector.followups.run",
    queue="portal",
    acks_late=True,
    max_retries=MAX_RETRIES,
)
def run_follow_ups(
    self, meeting_id: int, trigger: str, emails: list[str] | None = None
) -> dict | None:
    """Run the occurrence's enabled rules for ``trigger`` (or ``after_sync``),
    for everyone concerned or only ``emails``."""
    meeting = _meeting(meeting_id)
    if meeting is None:
        return None
    triggers = (
        followups.triggers_after_sync(meeting) if trigger == AFTER_SYNC else [trigger]
    )
    total = followups.Summary(meeting_id=meeting_id, trigger=trigger)
    for name in triggers:
        summary = followups.run(meeting, name, emails=emails)
        total.sent += summary.sent
        total.failed += summary.failed
        total.retry += summary.retry
        total.skipped += summary.skipped
        total.problems += summary.problems
    _retry_later(self, total)
    return {
        "sent": total.sent,
        "failed": total.failed,
        "retry": total.retry,
        "skipped": total.skipped,
    }


@shared_task(
    bind=True,
    name="connector.followups.notify_recording",
    queue="portal",
    acks_late=True,
    max_retries=MAX_RETRIES,
)
def notify_recording(self, meeting_id: int) -> dict | None:
    """Send the recording link as the occurrence's ``recording_ready`` rules say.

    Twice the same ``recording.completed`` sends nothing twice: each person's
    notification is claimed before it goes.
    """
    meeting = _meeting(meeting_id)
    if meeting is None:
        return None
    if not meeting.recording_share_url:
        logger.info("followups.recording.no_link", extra={"meeting_id": meeting_id})
        return None
    if meeting.last_synced_at is None:
        # Who attended (and who missed it) is known once the sync run ends; the
        # run evaluates the recording rules then.
        logger.info(
            "followups.recording.waiting_for_sync", extra={"meeting_id": meeting_id}
        )
        return None
    summary = followups.run(meeting, followups.Trigger.RECORDING_READY)
    _retry_later(self, summary)
    return {
        "sent": summary.sent,
        "failed": summary.failed,
        "retry": summary.retry,
        "skipped": summary.skipped,
    }


@shared_task(name="connector.engagement.rescore", queue="portal")
def rescore_connection(connection_id: int) -> int:
    """Re-score every stored attendance of a connection with its current weights."""
    from ..engagement_score import rescore_meeting

    changed = 0
    meetings = ZoomMeeting.objects.select_related("connection").filter(
        connection_id=connection_id
    )
    for meeting in meetings.iterator():
        changed += rescore_meeting(meeting)
    return changed


def enqueue_after_sync(meeting_id: int) -> None:
    """Run the after-sync rules once the current transaction commits."""
    run_follow_ups.delay_on_commit(meeting_id, AFTER_SYNC)
