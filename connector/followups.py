"""Follow-up rules: who gets what after an occurrence, sent at most once.

A ``FollowUpRule`` pairs a trigger with an action. ``run(meeting, trigger)``
picks the connection's enabled rules for the trigger and the occurrence's kind,
works out each rule's audience from the stored attendance, and for each person:

1. claims the (rule, occurrence, email) row in ``FollowUpDispatch`` (its unique
   constraint lets exactly one worker win, even when ``recording.completed``
   arrives twice or two workers run the same rules at once),
2. sends (a Brevo event through ``/events/batch``, a list membership, a
   transactional template with an idempotency key derived from the claim, or
   one campaign to a list),
3. marks the row sent or failed, with what happened.

A failure Brevo may not have acted on (5xx, timeout, 429) is marked to be tried
again, and the next run takes the row over; any other failure stays failed for
an operator to read. ``plan(meeting, trigger)`` answers the same question
without writing or sending anything: the admin preview uses it.

Triggers and their audience (people with an email only):

- ``attended``: attendees, optionally with a minimum of minutes or percent;
- ``no_show``: registrants who never joined;
- ``registered``: registrants;
- ``recording_ready``: attendees (same minimums), and no-shows when the rule
  says so, once the share link is known;
- ``meeting_ended``: everyone recorded for the occurrence.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .http import ApiError, ApiRateLimited, ApiServerError, ApiUnavailable
from .models import (
    Attendance,
    FollowUpDispatch,
    FollowUpRule,
    ZoomMeeting,
)

logger = logging.getLogger(__name__)

Trigger = FollowUpRule.Trigger
Action = FollowUpRule.Action
Dispatch = FollowUpDispatch.Status

# Triggers a finished sync run evaluates (registered runs on each registration).
AFTER_SYNC = (
    Trigger.ATTENDED,
    Trigger.NO_SHOW,
    Trigger.MEETING_ENDED,
    Trigger.RECORDING_READY,
)
# A claim older than this whose sender never reported back (a worker that died)
# may be taken over. Shorter than Brevo's 30-minute idempotency window, so a
# template taken over is still deduplicated by Brevo.
CLAIM_TIMEOUT = timedelta(minutes=15)
MAX_ATTEMPTS = 5
TRANSIENT_ERRORS = (ApiServerError, ApiUnavailable, ApiRateLimited)
EVENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# Namespace of the idempotency keys sent with template email (a fixed UUID).
KEY_NAMESPACE = uuid.UUID("6b0c3f52-7f0e-4a8b-9d1e-1c0a7e5f2b90")

# The address of a campaign's one-per-occurrence dispatch row (not a person).
GATE_DOMAIN = "@campaign.invalid"

DEFAULT_EVENT_NAMES = {
    Trigger.ATTENDED: "zoom_attended",
    Trigger.NO_SHOW: "zoom_no_show",
    Trigger.REGISTERED: "zoom_registered",
    Trigger.RECORDING_READY: "zoom_recording_ready",
    Trigger.MEETING_ENDED: "zoom_meeting_ended",
}


class RuleConfigError(ValueError):
    """A rule lacks what its action needs (template, list, event name)."""


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    attendance: Attendance
    why: str


@dataclass
class RulePlan:
    """What one rule would do for one occurrence."""

    rule: FollowUpRule
    recipients: list[Recipient] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # emails it already went to
    problem: str = ""


@dataclass
class Summary:
    meeting_id: int
    trigger: str
    sent: int = 0
    failed: int = 0
    retry: int = 0
    skipped: int = 0  # already dispatched, or claimed by another worker
    problems: list[str] = field(default_factory=list)


# Configuration checks ---------------------------------------------------------


def check_rule(rule: FollowUpRule) -> None:
    """Raise RuleConfigError when the rule cannot act as configured."""
    if rule.action == Action.BREVO_EVENT:
        name = rule.event_name or DEFAULT_EVENT_NAMES.get(rule.trigger, "")
        if not EVENT_NAME.match(name):
            raise RuleConfigError(
                "Brevo event names use only letters, digits, '-' and '_' "
                "(at most 255 characters)."
            )
    elif rule.action == Action.ADD_TO_LIST:
        if not rule.list_id:
            raise RuleConfigError("Adding to a list needs the Brevo list id.")
    elif rule.action == Action.TRANSACTIONAL_TEMPLATE:
        if not rule.template_id:
            raise RuleConfigError("A template email needs the Brevo template id.")
    elif rule.action == Action.CAMPAIGN:
        if not rule.template_id or not rule.list_id:
            raise RuleConfigError(
                "A campaign needs the Brevo template id and the list it goes to."
            )
    else:
        raise RuleConfigError(f"Unknown action {rule.action!r}.")
    if rule.min_percent is not None and rule.min_percent > 100:
        raise RuleConfigError("The minimum attendance percent is at most 100.")


def event_name_for(rule: FollowUpRule) -> str:
    return rule.event_name or DEFAULT_EVENT_NAMES[rule.trigger]


def idempotency_key(rule_id: int, meeting_id: int, email: str) -> str:
    """The same (rule, occurrence, email) always gives the same key."""
    return str(uuid.uuid5(KEY_NAMESPACE, f"followup:{rule_id}:{meeting_id}:{email}"))


# Audiences --------------------------------------------------------------------


def _minutes(attendance: Attendance) -> float:
    return round(attendance.total_seconds / 60, 1)


def _meets_minimums(rule: FollowUpRule, attendance: Attendance) -> bool:
    if rule.min_minutes is not None and _minutes(attendance) < rule.min_minutes:
        return False
    return not (
        rule.min_percent is not None
        and attendance.attendance_percent < rule.min_percent
    )


def _attended_why(attendance: Attendance) -> str:
    return (
        f"attended {_minutes(attendance):g} min "
        f"({attendance.attendance_percent:g}%), score {attendance.score:g}"
    )


def _attended(rule: FollowUpRule, meeting: ZoomMeeting) -> Iterable[Recipient]:
    for row in _people(meeting).filter(status=Attendance.Status.ATTENDED):
        if _meets_minimums(rule, row):
            yield Recipient(row.email, row.name, row, _attended_why(row))


def _no_show(rule: FollowUpRule, meeting: ZoomMeeting) -> Iterable[Recipient]:
    for row in _people(meeting).filter(status=Attendance.Status.NO_SHOW):
        yield Recipient(row.email, row.name, row, "registered, did not join")


def _registered(rule: FollowUpRule, meeting: ZoomMeeting) -> Iterable[Recipient]:
    rows = _people(meeting).filter(
        Q(registrant_id__gt="")
        | Q(status__in=[Attendance.Status.REGISTERED, Attendance.Status.NO_SHOW])
    )
    for row in rows:
        source = f" via {row.registration_source}" if row.registration_source else ""
        yield Recipient(row.email, row.name, row, f"registered{source}")


def _recording_ready(rule: FollowUpRule, meeting: ZoomMeeting) -> Iterable[Recipient]:
    if not meeting.recording_share_url:
        return
    yield from _attended(rule, meeting)
    if rule.include_no_shows:
        missed = _people(meeting).exclude(status=Attendance.Status.ATTENDED)
        for row in missed:
            yield Recipient(row.email, row.name, row, "missed it; recording sent")


def _meeting_ended(rule: FollowUpRule, meeting: ZoomMeeting) -> Iterable[Recipient]:
    for row in _people(meeting):
        yield Recipient(row.email, row.name, row, f"occurrence ended ({row.status})")


AUDIENCES: dict[str, Callable[[FollowUpRule, ZoomMeeting], Iterable[Recipient]]] = {
    Trigger.ATTENDED: _attended,
    Trigger.NO_SHOW: _no_show,
    Trigger.REGISTERED: _registered,
    Trigger.RECORDING_READY: _recording_ready,
    Trigger.MEETING_ENDED: _meeting_ended,
}


def _people(meeting: ZoomMeeting) -> QuerySet[Attendance]:
    return meeting.attendances.exclude(email="").order_by("email")


def audience(rule: FollowUpRule, meeting: ZoomMeeting) -> list[Recipient]:
    """Everyone the rule applies to at this occurrence, one entry per email."""
    seen: set[str] = set()
    found = []
    for recipient in AUDIENCES[rule.trigger](rule, meeting):
        if recipient.email not in seen:
            seen.add(recipient.email)
            found.append(recipient)
    return found


def rules_for(meeting: ZoomMeeting, trigger: str) -> QuerySet[FollowUpRule]:
    return FollowUpRule.objects.filter(
        connection_id=meeting.connection_id, trigger=trigger, enabled=True
    ).filter(Q(kind="") | Q(kind=meeting.kind))


# What gets sent ---------------------------------------------------------------


def _date(meeting: ZoomMeeting) -> str:
    return meeting.start_time.isoformat() if meeting.start_time else ""


def event_properties(meeting: ZoomMeeting, recipient: Recipient, trigger: str) -> dict:
    """The ``event_properties`` of a follow-up event: what an automation needs."""
    row = recipient.attendance
    props: dict[str, Any] = {
        "trigger": trigger,
        "meeting_topic": meeting.topic,
        "meeting_id": meeting.zoom_id,
        "meeting_kind": meeting.kind,
        "meeting_date": _date(meeting),
        "attendance_status": row.status,
        "join_url": meeting.join_url,
        "recording_url": meeting.recording_share_url,
    }
    if row.status == Attendance.Status.ATTENDED:
        props.update(
            minutes_attended=_minutes(row),
            attendance_percent=row.attendance_percent,
            minutes_late=row.minutes_late,
            rejoins=row.rejoins,
            engagement_score=row.score,
        )
    if trigger == Trigger.RECORDING_READY and meeting.recording_passcode:
        props["recording_passcode"] = meeting.recording_passcode
    return {k: v for k, v in props.items() if v not in ("", None)}


def _event_date(meeting: ZoomMeeting, recipient: Recipient, trigger: str) -> str:
    if trigger == Trigger.RECORDING_READY and meeting.recording_ready_at:
        moment = meeting.recording_ready_at
    elif trigger == Trigger.ATTENDED and recipient.attendance.first_join:
        moment = recipient.attendance.first_join
    elif trigger == Trigger.REGISTERED:
        moment = timezone.now()
    else:
        moment = meeting.end_time or meeting.start_time or timezone.now()
    return moment.isoformat()


def brevo_event(
    rule: FollowUpRule, meeting: ZoomMeeting, recipient: Recipient
) -> dict[str, Any]:
    """One item of ``POST /events/batch``."""
    return {
        "event_name": event_name_for(rule),
        "event_date": _event_date(meeting, recipient, rule.trigger),
        "identifiers": {"email_id": recipient.email},
        "event_properties": event_properties(meeting, recipient, rule.trigger),
    }


def template_params(meeting: ZoomMeeting, recipient: Recipient | None) -> dict:
    """``params`` of a template email or campaign (``{{ params.RECORDING_URL }}``)."""
    params: dict[str, Any] = {
        "MEETING_TOPIC": meeting.topic,
        "MEETING_DATE": meeting.start_time.date().isoformat()
        if meeting.start_time
        else "",
        "JOIN_URL": meeting.join_url,
        "RECORDING_URL": meeting.recording_share_url,
        "RECORDING_PASSCODE": meeting.recording_passcode,
    }
    if meeting.kind == ZoomMeeting.Kind.WEBINAR:
        params["WEBINAR_NAME"] = meeting.topic
    if recipient is not None:
        row = recipient.attendance
        params["FIRSTNAME"] = (recipient.name or "").split(" ")[0]
        params["ATTENDANCE_STATUS"] = row.status
        if row.status == Attendance.Status.ATTENDED:
            params["MINUTES_ATTENDED"] = _minutes(row)
    return {k: v for k, v in params.items() if v not in ("", None)}


# Planning (no writes) ---------------------------------------------------------


def plan(
    meeting: ZoomMeeting, trigger: str, *, also: Iterable[FollowUpRule] = ()
) -> list[RulePlan]:
    """What ``run`` would send now, rule by rule, without writing anything.

    ``also`` adds rules that are not enabled yet (the admin preview shows what
    they would do once enabled); they must match the trigger and the kind.
    """
    rules = {rule.pk: rule for rule in rules_for(meeting, trigger)}
    for rule in also:
        fits = rule.trigger == trigger and rule.kind in ("", meeting.kind)
        if fits and rule.connection_id == meeting.connection_id:
            rules.setdefault(rule.pk, rule)
    plans = []
    for rule in sorted(rules.values(), key=lambda r: r.pk):
        rule_plan = RulePlan(rule=rule)
        try:
            check_rule(rule)
        except RuleConfigError as err:
            rule_plan.problem = str(err)
        done = set(
            FollowUpDispatch.objects.filter(rule=rule, meeting=meeting)
            .exclude(status=Dispatch.FAILED, will_retry=True)
            .values_list("email", flat=True)
        )
        for recipient in audience(rule, meeting):
            if recipient.email in done:
                rule_plan.already.append(recipient.email)
            else:
                rule_plan.recipients.append(recipient)
        plans.append(rule_plan)
    return plans


# Claims -----------------------------------------------------------------------


def claim(
    rule: FollowUpRule,
    meeting: ZoomMeeting,
    email: str,
    why: str,
    *,
    take_stale: bool = True,
) -> FollowUpDispatch | None:
    """Take the (rule, occurrence, email) slot, or None when someone else has it.

    The insert either creates the row or hits the unique constraint: one
    winner, whatever the number of workers. A row left to retry, or (with
    ``take_stale``) a claim whose worker never reported back, is taken over by
    one conditional update, which again only one worker can win.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            return FollowUpDispatch.objects.create(
                rule=rule,
                meeting=meeting,
                email=email,
                status=Dispatch.PENDING,
                detail=why,
                attempts=1,
                claimed_at=now,
            )
    except IntegrityError:
        pass
    takeover = Q(status=Dispatch.FAILED, will_retry=True, attempts__lt=MAX_ATTEMPTS)
    if take_stale:
        takeover |= Q(status=Dispatch.PENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    taken = (
        FollowUpDispatch.objects.filter(rule=rule, meeting=meeting, email=email)
        .filter(takeover)
        .update(
            status=Dispatch.PENDING,
            will_retry=False,
            claimed_at=now,
            attempts=F("attempts") + 1,
            detail=why,
        )
    )
    if not taken:
        return None
    return FollowUpDispatch.objects.get(rule=rule, meeting=meeting, email=email)


def _mark_sent(dispatch: FollowUpDispatch, detail: str) -> None:
    dispatch.status = Dispatch.SENT
    dispatch.sent_at = timezone.now()
    dispatch.will_retry = False
    dispatch.detail = detail[:2000]
    dispatch.save(update_fields=["status", "sent_at", "will_retry", "detail"])


def _mark_failed(dispatch: FollowUpDispatch, detail: str, *, retry: bool) -> None:
    dispatch.status = Dispatch.FAILED
    dispatch.will_retry = retry and dispatch.attempts < MAX_ATTEMPTS
    dispatch.detail = detail[:2000]
    dispatch.save(update_fields=["status", "will_retry", "detail"])


Claimed = list[tuple[FollowUpDispatch, Recipient]]


def _fail_all(claimed: Claimed, err: ApiError, summary: Summary, *, retry: bool):
    retry = retry and isinstance(err, TRANSIENT_ERRORS)
    for dispatch, recipient in claimed:
        _mark_failed(dispatch, f"{recipient.why}; Brevo error: {err}", retry=retry)
        if dispatch.will_retry:
            summary.retry += 1
        else:
            summary.failed += 1


# Actions ----------------------------------------------------------------------


def _send_events(client, rule, meeting, claimed: Claimed, summary: Summary) -> None:
    from .brevo.client import BrevoBatchError

    events = [brevo_event(rule, meeting, recipient) for _, recipient in claimed]
    try:
        client.send_events(events)
    except BrevoBatchError as err:
        refused = {item["index"]: item["message"] for item in err.failed}
        for index, (dispatch, recipient) in enumerate(claimed):
            if index in refused:
                _mark_failed(
                    dispatch,
                    f"{recipient.why}; Brevo refused the event: {refused[index]}",
                    retry=False,
                )
                summary.failed += 1
            else:
                _mark_sent(dispatch, f"{recipient.why}; event {event_name_for(rule)}")
                summary.sent += 1
        return
    except ApiError as err:
        _fail_all(claimed, err, summary, retry=True)
        return
    for dispatch, recipient in claimed:
        _mark_sent(dispatch, f"{recipient.why}; event {event_name_for(rule)}")
        summary.sent += 1


def _add_to_list(client, rule, meeting, claimed: Claimed, summary: Summary) -> None:
    # An import creates contacts Brevo does not have yet (the sync's own import
    # may still be in progress) and only ever adds list memberships.
    contacts = [
        {"email": recipient.email, "attributes": {}} for _, recipient in claimed
    ]
    try:
        process_ids = client.import_contacts(contacts, [rule.list_id])
    except ApiError as err:
        _fail_all(claimed, err, summary, retry=True)
        return
    processes = ", ".join(str(p) for p in process_ids)
    for dispatch, recipient in claimed:
        _mark_sent(
            dispatch,
            f"{recipient.why}; added to list {rule.list_id} (import {processes})",
        )
        summary.sent += 1


def _send_templates(client, rule, meeting, claimed: Claimed, summary: Summary) -> None:
    for dispatch, recipient in claimed:
        to = {"email": recipient.email}
        if recipient.name:
            to["name"] = recipient.name[:70]
        try:
            answer = client.send_template_email(
                rule.template_id,
                [to],
                template_params(meeting, recipient),
                idempotency_key(rule.pk, meeting.pk, recipient.email),
            )
        except ApiError as err:
            # The key makes a repeat within Brevo's window a no-op: safe to retry.
            _fail_all([(dispatch, recipient)], err, summary, retry=True)
            continue
        if answer.get("duplicate"):
            note = "already sent (Brevo saw this key)"
        else:
            note = f"message {answer.get('messageId') or answer.get('messageIds')}"
        _mark_sent(dispatch, f"{recipient.why}; template {rule.template_id}, {note}")
        summary.sent += 1


def _send_campaign(client, rule, meeting, claimed: Claimed, summary: Summary) -> None:
    emails = [recipient.email for _, recipient in claimed]
    try:
        # The campaign goes to the whole list: put this occurrence's audience
        # on it first. Their contacts exist by now: the sync imported them.
        client.add_to_list(rule.list_id, emails)
        campaign_id = client.create_and_send_campaign(
            name=f"{meeting.topic or meeting.zoom_id} · {_date(meeting)[:10]} "
            f"· rule {rule.pk}",
            template_id=rule.template_id,
            subject=f"Recording: {meeting.topic}"
            if rule.trigger == Trigger.RECORDING_READY
            else meeting.topic or "Your Zoom event",
            list_ids=[rule.list_id],
            params=template_params(meeting, None),
        )
    except (ApiError, ValueError) as err:
        # Not retried by itself: the campaign may exist already at Brevo.
        for dispatch, recipient in claimed:
            _mark_failed(
                dispatch, f"{recipient.why}; campaign failed: {err}", retry=False
            )
            summary.failed += 1
        return
    for dispatch, recipient in claimed:
        _mark_sent(
            dispatch, f"{recipient.why}; campaign {campaign_id} to list {rule.list_id}"
        )
        summary.sent += 1


ACTIONS = {
    Action.BREVO_EVENT: _send_events,
    Action.ADD_TO_LIST: _add_to_list,
    Action.TRANSACTIONAL_TEMPLATE: _send_templates,
    Action.CAMPAIGN: _send_campaign,
}


def campaign_gate(rule: FollowUpRule) -> str:
    """The dispatch row that stands for one campaign per occurrence."""
    return f"list-{rule.list_id}{GATE_DOMAIN}"


# Running ----------------------------------------------------------------------


def _open_to_claim(
    rule: FollowUpRule, meeting: ZoomMeeting, recipients: list[Recipient], take_stale
) -> tuple[list[Recipient], int]:
    """Drop, in one query, the people whose follow-up is settled already.

    Saves a refused insert per person on every run (each registration runs the
    registered rules again). ``claim`` still decides for those left.
    """
    stale = timezone.now() - CLAIM_TIMEOUT
    settled = set()
    rows = FollowUpDispatch.objects.filter(rule=rule, meeting=meeting).values_list(
        "email", "status", "will_retry", "attempts", "claimed_at"
    )
    for email, status, will_retry, attempts, claimed_at in rows:
        retry = status == Dispatch.FAILED and will_retry and attempts < MAX_ATTEMPTS
        timed_out = (
            take_stale
            and status == Dispatch.PENDING
            and (claimed_at is None or claimed_at < stale)
        )
        if not (retry or timed_out):
            settled.add(email)
    open_ = [r for r in recipients if r.email not in settled]
    return open_, len(recipients) - len(open_)


def _claim_all(
    rule: FollowUpRule, meeting: ZoomMeeting, recipients: list[Recipient], summary
) -> Claimed:
    # A campaign may have gone out before its worker died: never take it over.
    take_stale = rule.action != Action.CAMPAIGN
    recipients, settled = _open_to_claim(rule, meeting, recipients, take_stale)
    summary.skipped += settled
    claimed = []
    for recipient in recipients:
        dispatch = claim(
            rule, meeting, recipient.email, recipient.why, take_stale=take_stale
        )
        if dispatch is None:
            summary.skipped += 1
        else:
            claimed.append((dispatch, recipient))
    return claimed


def _send(sender, client, rule, meeting, claimed: Claimed, summary: Summary) -> None:
    try:
        sender(client, rule, meeting, claimed, summary)
    except Exception:
        # A bug, not a Brevo answer: record it on each open claim, then surface it.
        for dispatch, _ in claimed:
            dispatch.refresh_from_db(fields=["status"])
            if dispatch.status == Dispatch.PENDING:
                _mark_failed(
                    dispatch, "internal error; see the worker log", retry=False
                )
        raise


def _run_campaign(rule, meeting, recipients, client, summary: Summary) -> None:
    # One campaign per (rule, occurrence): whoever claims the gate row sends it.
    gate = claim(
        rule,
        meeting,
        campaign_gate(rule),
        "one campaign per occurrence",
        take_stale=False,
    )
    if gate is None:
        summary.skipped += len(recipients)
        return
    claimed = _claim_all(rule, meeting, recipients, summary)
    if not claimed:
        gate.delete()  # nobody new to send to: leave the campaign for a later run
        return
    _send(_send_campaign, client, rule, meeting, claimed, summary)
    sent = [dispatch for dispatch, _ in claimed if dispatch.status == Dispatch.SENT]
    if sent:
        _mark_sent(gate, sent[0].detail.rsplit("; ", 1)[-1])
    else:
        _mark_failed(gate, "campaign not sent", retry=False)


def run_rule(
    rule: FollowUpRule,
    meeting: ZoomMeeting,
    client,
    summary: Summary,
    emails: Iterable[str] | None = None,
) -> None:
    """Claim, send and record one rule's follow-ups for one occurrence."""
    recipients = audience(rule, meeting)
    if emails is not None:
        wanted = {e.strip().lower() for e in emails}
        recipients = [r for r in recipients if r.email in wanted]
    if not recipients:
        return
    if rule.action == Action.CAMPAIGN:
        _run_campaign(rule, meeting, recipients, client, summary)
        return
    claimed = _claim_all(rule, meeting, recipients, summary)
    if claimed:
        _send(ACTIONS[rule.action], client, rule, meeting, claimed, summary)
    logger.info(
        "followups.rule.ran",
        extra={
            "rule_id": rule.pk,
            "meeting_id": meeting.pk,
            "trigger": rule.trigger,
            "claimed": len(claimed),
        },
    )


def run(
    meeting: ZoomMeeting,
    trigger: str,
    *,
    client=None,
    emails: Iterable[str] | None = None,
) -> Summary:
    """Run the occurrence's enabled rules for ``trigger``; each person at most once.

    ``emails`` narrows the audience (a new registrant, say) without changing it.
    """
    summary = Summary(meeting_id=meeting.pk, trigger=trigger)
    if trigger not in AUDIENCES:
        raise ValueError(f"Unknown follow-up trigger {trigger!r}.")
    connection = meeting.connection
    rules = list(rules_for(meeting, trigger))
    if not rules:
        return summary
    if not connection.enabled or connection.brevo_account_id is None:
        summary.problems.append("The connection is disabled or has no Brevo account.")
        logger.info(
            "followups.skipped.no_brevo",
            extra={"meeting_id": meeting.pk, "connection_id": connection.pk},
        )
        return summary
    if client is None:
        from .brevo.client import BrevoClient

        client = BrevoClient(connection.brevo_account)
    for rule in rules:
        try:
            check_rule(rule)
        except RuleConfigError as err:
            summary.problems.append(f"{rule.name}: {err}")
            logger.warning(
                "followups.rule.misconfigured",
                extra={"rule_id": rule.pk, "meeting_id": meeting.pk},
            )
            continue
        run_rule(rule, meeting, client, summary, emails)
    logger.info(
        "followups.ran",
        extra={
            "meeting_id": meeting.pk,
            "trigger": trigger,
            "sent": summary.sent,
            "failed": summary.failed,
            "retry": summary.retry,
            "skipped": summary.skipped,
        },
    )
    return summary


def retry_failed(dispatches: QuerySet[FollowUpDispatch]) -> list[tuple[int, str]]:
    """Let failed dispatches be sent again by the next run; (meeting, trigger) to run.

    A failed campaign's one-per-occurrence row is removed so the campaign can
    be claimed again.
    """
    failed = dispatches.filter(status=Dispatch.FAILED)
    todo = sorted(set(failed.values_list("meeting_id", "rule__trigger")))
    failed.filter(email__endswith=GATE_DOMAIN).delete()
    failed.filter(attempts__gte=MAX_ATTEMPTS).update(attempts=MAX_ATTEMPTS - 1)
    failed.update(will_retry=True)
    return todo


def triggers_after_sync(meeting: ZoomMeeting) -> list[str]:
    """The triggers a finished sync run evaluates for its occurrence."""
    found = [t for t in AFTER_SYNC if t != Trigger.RECORDING_READY]
    if meeting.recording_share_url:
        found.append(Trigger.RECORDING_READY)
    return found
