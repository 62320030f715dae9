"""One sync run, end to end: Zoom participants → merged people → Brevo contacts.

``start_sync`` records a queued ``SyncRun`` and enqueues the Celery task once
the transaction commits; ``run_sync`` does the work in the calling process (the
task and the management commands both use it).

A run, for one meeting or webinar occurrence:

1. reads the occurrence's details (uuid, topic, start and end);
2. pages through the participants (one row per join session) and, for a
   webinar, the approved registrants on a second thread, folding each row into
   its person as it arrives, so memory grows with people, not rows; meanwhile
   a third thread makes sure the mapped Brevo attributes exist;
3. joins attendees to registrants, lists the no-shows, computes the metrics;
4. maps each person to a Brevo contact and sends them with one
   ``/contacts/import`` per distinct set of lists (and per 7.5 MB), all
   uploaded side by side;
5. while Brevo works on them, stores ``Attendance`` rows in bulk and a
   ``SyncRunItem`` for every person skipped (no email, invalid email);
6. follows the imports to completion (``connector.sync.imports``): Brevo calls
   ``notifyUrl`` back when the portal is reachable, otherwise
   ``/processes/{id}`` is asked sparingly; refused contacts become items.

Zoom's rate limit sets the pace: everything but steps 3 and 4 overlaps with
waiting on Zoom or on Brevo (``benchmarks/sync.py`` measures how close a run
comes to that floor).

Running it again gives the same Brevo state: imports upsert by email, list ids
only add, and no event is sent by a run.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connections as db_connections
from django.db import transaction
from django.utils import timezone

from ..brevo.client import BrevoClient
from ..http import (
    TRANSIENT,
    ApiAuthError,
    ApiDailyLimit,
    ApiError,
    ApiForbidden,
)
from ..models import (
    Attendance,
    Audience,
    ListAssignment,
    SyncRun,
    SyncRunItem,
    ZoomConnection,
    ZoomMeeting,
)
from ..zoom.client import ZoomClient
from ..zoom.errors import ZoomNotFound, ZoomScopeError
from .attendance import upsert_attendance
from .engagement import NO_SHOW, Engagement, Occurrence, Person, parse_time
from .imports import Imports
from .mapping import Mapper, person_fields

logger = logging.getLogger(__name__)

Status = SyncRun.Status
FINISHED = frozenset({Status.SUCCEEDED, Status.PARTIAL, Status.FAILED})
PAGE = 300  # Zoom's page size: progress is reported once per page

Progress = Callable[[str, int, int | None], None]


class TransientSyncError(Exception):
    """Zoom or Brevo is busy or down: the run can be tried again later."""


# Starting runs -----------------------------------------------------------------


def start_sync(
    connection: ZoomConnection,
    kind: str,
    zoom_ref: str | int,
    trigger: str,
    *,
    meeting: ZoomMeeting | None = None,
    requested_by: Any = None,
    countdown: int = 0,
) -> SyncRun:
    """Record a queued run and enqueue it once the current transaction commits."""
    from ..tasks.sync import run_sync_task

    run = SyncRun.objects.create(
        connection=connection,
        meeting=meeting,
        kind=kind,
        zoom_ref=str(zoom_ref),
        trigger=trigger,
        requested_by=requested_by,
        not_before=timezone.now() + timedelta(seconds=countdown) if countdown else None,
    )
    transaction.on_commit(
        partial(run_sync_task.apply_async, args=(run.pk,), countdown=countdown or None)
    )
    logger.info(
        "sync.run.queued",
        extra={"run_id": run.pk, "connection_id": connection.pk, "kind": kind},
    )
    return run


def run_sync(
    run_id: int,
    *,
    progress: Progress | None = None,
    final_attempt: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncRun:
    """Do run ``run_id`` here and now; return it finished (or rescheduled).

    A run that already finished is returned untouched: running a task twice
    does nothing the second time. A transient failure on a non-final attempt
    puts the run back in the queue and raises ``TransientSyncError`` for the
    caller to retry.
    """
    claimed = SyncRun.objects.filter(
        pk=run_id,
        status__in=[Status.QUEUED, Status.RESCHEDULED, Status.RUNNING],
    ).update(status=Status.RUNNING, started_at=timezone.now(), finished_at=None)
    run = SyncRun.objects.select_related(
        "connection", "connection__brevo_account", "meeting"
    ).get(pk=run_id)
    if not claimed:
        # Finished already (a redelivered task, or a second click): nothing to do.
        logger.info("sync.run.already_finished", extra={"run_id": run_id})
        return run

    # An earlier attempt (requeued, or killed with its worker before it
    # finished) may have stored items: this attempt records them afresh.
    SyncRunItem.objects.filter(run=run).delete()
    logger.info("sync.run.started", extra={"run_id": run.pk, "kind": run.kind})
    engine = SyncEngine(run, progress=progress, sleep=sleep)
    try:
        engine.execute()
    except ApiDailyLimit as err:
        engine.reschedule(err)
    except TRANSIENT as err:
        if not final_attempt:
            engine.requeue(err)
            raise TransientSyncError(str(err)) from err
        engine.fail(f"Gave up after retries: {engine.describe(err)}")
    except ApiError as err:
        engine.fail(engine.describe(err))
    except Exception as err:
        logger.exception("sync.run.crashed", extra={"run_id": run.pk})
        engine.fail(f"Unexpected error: {type(err).__name__}: {err}")
        raise
    return run


# The run ---------------------------------------------------------------------------


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while.

    Merging and mapping create a dict or two per person; each few hundred of
    them would set the collector walking every object the run holds (the
    people, their sessions, the registrants) for cycles they do not have.
    Reference counting still frees everything as usual meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Audiences:
    """The Brevo lists of each audience that apply to this occurrence's topic."""

    lists: dict[str, list[int]]
    _found: dict[tuple, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def for_meeting(cls, connection: ZoomConnection, topic: str) -> Audiences:
        lists: dict[str, list[int]] = defaultdict(list)
        for item in ListAssignment.objects.filter(connection=connection, enabled=True):
            if item.applies_to(topic):
                lists[item.audience].append(item.list_id)
        return cls(dict(lists))

    def for_person(self, person: Person, kind: str) -> tuple[int, ...]:
        key = (kind, person.status, bool(person.registered))
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self._for(person, kind)
        return found

    def _for(self, person: Person, kind: str) -> tuple[int, ...]:
        names: list[str]
        if kind == ZoomMeeting.Kind.MEETING:
            names = [Audience.MEETING_PARTICIPANTS]
        elif person.status == NO_SHOW:
            names = [Audience.WEBINAR_REGISTRANTS, Audience.WEBINAR_NO_SHOWS]
        else:
            names = [Audience.WEBINAR_ATTENDEES]
            if person.registered:
                names.append(Audience.WEBINAR_REGISTRANTS)
        found = {list_id for name in names for list_id in self.lists.get(name, [])}
        return tuple(sorted(found))


class SyncEngine:
    def __init__(
        self,
        run: SyncRun,
        *,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.run = run
        self.connection = run.connection
        self.progress = progress or (lambda stage, done, total: None)
        self.sleep = sleep
        self.zoom = ZoomClient(self.connection)
        self.zoom_clients = [self.zoom]
        self.clock = time.monotonic()
        self.timings: dict[str, float] = {}
        self.brevo: BrevoClient | None = None
        self.items: list[SyncRunItem] = []
        self.failures = 0
        self.notes: list[str] = []  # why the run is partial
        self.info: list[str] = []  # worth a line on the record, nothing lost
        # Contacts bound for Brevo, once the people are known (see ``fail``).
        self.planned = 0
        self.attributes_ready = False  # the mapped attributes exist at Brevo

    # Outcomes ------------------------------------------------------------------

    def describe(self, err: Exception) -> str:
        """A plain sentence for the run's record (never a secret)."""
        ref = self.run.zoom_ref
        if isinstance(err, ZoomNotFound):
            return (
                f"Zoom has no {self.run.kind} {ref} (deleted, expired or never "
                f"held): {err.message}"
            )
        if isinstance(err, ZoomScopeError):
            return f"Zoom refused for a missing scope. {err}"
        source = "Brevo" if err.url.startswith(settings.BREVO_API_BASE_URL) else "Zoom"
        if isinstance(err, ApiAuthError):
            if source == "Brevo":
                return f"Brevo refused the API key of account {self.brevo_name}: {err}"
            return f"Zoom refused the connection's credentials: {err}"
        if isinstance(err, ApiForbidden):
            return f"{source} refused access: {err}"
        return f"{source} error: {err}"

    @property
    def brevo_name(self) -> str:
        account = self.connection.brevo_account
        return account.name if account else "-"

    def _save(self, *fields: str) -> None:
        self.run.zoom_calls = sum(c.calls for c in self.zoom_clients)
        self.run.brevo_calls = self.brevo.calls if self.brevo else 0
        self.run.retries = sum(c.retries for c in self.zoom_clients) + (
            self.brevo.retries if self.brevo else 0
        )
        self.run.save(update_fields=[*fields, "zoom_calls", "brevo_calls", "retries"])

    def fail(self, message: str) -> None:
        self.run.status = Status.FAILED
        self.run.error = message
        self.run.finished_at = timezone.now()
        fields = ["status", "error", "finished_at"]
        if self.planned:
            # The people were known: those Brevo never confirmed count as
            # failed, so a failed run still accounts for everyone (guests and
            # invalid addresses are in the items).
            self.run.failed = max(self.planned - self.run.upserted, self.run.failed)
            fields += ["failed", "skipped_no_email"]
        self._save(*fields)
        logger.error(
            "sync.run.failed",
            extra={"run_id": self.run.pk, "connection_id": self.connection.pk},
        )

    def reschedule(self, err: ApiDailyLimit) -> None:
        """Zoom's daily limit: nothing can happen before it resets."""
        from ..tasks.sync import run_sync_task

        self.run.status = Status.RESCHEDULED
        self.run.not_before = err.reset_at
        self.run.attempt += 1
        self.run.error = (
            f"Zoom's daily rate limit is reached; rescheduled for "
            f"{err.reset_at:%Y-%m-%d %H:%M} UTC when it resets."
        )
        self.run.finished_at = None
        self._save("status", "not_before", "attempt", "error", "finished_at")
        transaction.on_commit(
            partial(run_sync_task.apply_async, args=(self.run.pk,), eta=err.reset_at)
        )
        logger.warning(
            "sync.run.rescheduled",
            extra={"run_id": self.run.pk, "reset_at": err.reset_at.isoformat()},
        )

    def requeue(self, err: Exception) -> None:
        self.run.status = Status.QUEUED
        self.run.attempt += 1
        self.run.error = f"Will retry: {self.describe(err)}"
        self._save("status", "attempt", "error")
        logger.warning("sync.run.retrying", extra={"run_id": self.run.pk})

    # The work ------------------------------------------------------------------

    def execute(self) -> None:
        run = self.run
        account = self.connection.brevo_account
        if account is None:
            self.fail(f"Connection {self.connection.slug} has no Brevo account.")
            return
        self.brevo = BrevoClient(account)
        is_webinar = run.kind == ZoomMeeting.Kind.WEBINAR
        ref = run.zoom_ref or (run.meeting.uuid if run.meeting else "")

        details = (
            self.zoom.get_past_webinar(ref)
            if is_webinar
            else self.zoom.get_past_meeting(ref)
        )
        meeting = self.store_meeting(details)
        occurrence = self.occurrence(meeting, details)

        mapper = Mapper.for_connection(self.connection, meeting)
        engagement = Engagement()
        self.fetch(meeting, engagement, details.get("participants_count"), mapper)
        run.fetched = engagement.rows + engagement.registrant_rows
        self.timings["fetch"] = time.monotonic() - self.clock

        with collector_paused():
            audiences = Audiences.for_meeting(self.connection, meeting.topic)
            sources = dict(
                Attendance.objects.filter(meeting=meeting)
                .exclude(registration_source="")
                .values_list("person_key", "registration_source")
            )
            people = list(engagement.finish(occurrence))
            run.merged = sum(1 for p in people if p.sessions)
            run.no_shows = sum(1 for p in people if p.status == NO_SHOW)
            self._save("fetched", "merged", "no_shows")
            self.timings["merged"] = time.monotonic() - self.clock
            history = self.history(meeting, people) if mapper.needs_history else None

            groups: dict[tuple[int, ...], list[dict]] = defaultdict(list)
            loose: list[tuple[str, dict]] = []  # contacts with no list to import onto
            mapping_errors: dict[str, int] = defaultdict(int)
            for person in people:
                if not person.email:
                    self.skip(person)
                    continue
                errors: list[str] = []
                fields = person_fields(
                    person,
                    meeting,
                    registration_source=sources.get(person.key, ""),
                    history=history,
                )
                contact = mapper.contact(fields, errors)
                for error in errors:
                    mapping_errors[error.split(":", 1)[0]] += 1
                lists = audiences.for_person(person, run.kind)
                if lists:
                    groups[lists].append(contact)
                else:
                    loose.append((person.email, contact["attributes"]))
            for attribute, count in mapping_errors.items():
                self.items.append(
                    SyncRunItem(
                        run=run,
                        reason=SyncRunItem.Reason.MAPPING_ERROR,
                        detail=f"{attribute} left out for {count} contacts: "
                        "the transform does not fit the value",
                    )
                )
            if mapping_errors:
                self.notes.append("Some attributes were left out (see items).")
            self.planned = sum(len(c) for c in groups.values()) + len(loose)
            self.timings["mapped"] = time.monotonic() - self.clock

            try:
                if not self.attributes_ready and (groups or loose):
                    self.brevo.ensure_attributes(mapper.wanted_attributes())
                imports = Imports(run, self.brevo, sleep=self.sleep)
                for contacts in groups.values():
                    # The same occurrence gives the same import bodies, whatever
                    # order Zoom's pages and the database returned people in.
                    contacts.sort(key=lambda contact: contact["email"])
                imports.send(groups)
                del groups
                self.timings["imports_sent"] = time.monotonic() - self.clock
            finally:
                # While Brevo works on the imports, or when it could not take
                # them, who came and who was skipped goes on record.
                upsert_attendance(meeting, people, sources)
                SyncRunItem.objects.bulk_create(self.items, batch_size=500)
                self.items = []
        del people
        self.timings["stored"] = time.monotonic() - self.clock
        upserted = self.upsert_loose(loose)
        taken, lost = imports.follow()
        imports.save()
        for contacts, detail in imports.refused:
            self.refused(contacts, detail)
        SyncRunItem.objects.bulk_create(self.items, batch_size=500)
        self.items = []
        self.failures += lost
        self.notes.extend(imports.notes)
        self.info.extend(imports.info)
        upserted += taken
        self.timings["confirmed"] = time.monotonic() - self.clock
        self.finish(meeting, upserted)

    def fetch(
        self, meeting: ZoomMeeting, engagement: Engagement, total: Any, mapper: Mapper
    ) -> None:
        """Page through registrants (webinars) and participants at the same time.

        Both lists are in Zoom's Medium category and share its budget; fetching
        them side by side keeps that budget busy instead of waiting on each
        answer in turn. Registrants go through their own client on a second
        thread; ``Engagement`` matches rows whatever order they arrive in.

        Meanwhile a third thread makes sure the mapped Brevo attributes exist:
        a refused Brevo key stops the run before Zoom's pages are all spent,
        and the imports can go as soon as the people are known.
        """
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sync")
        brevo = pool.submit(self._ensure_attributes, mapper, stop)
        registrants = None
        if meeting.kind == ZoomMeeting.Kind.WEBINAR:
            client = ZoomClient(self.connection)
            self.zoom_clients.append(client)
            registrants = pool.submit(
                self._fetch_registrants, client, meeting.zoom_id, engagement, stop
            )
        try:
            rows = self.participant_rows(meeting)
            for row in self.paced("participants", rows, total):
                if stop.is_set():
                    break  # the other thread failed: its error is raised below
                engagement.add_session(row)
        except BaseException:
            stop.set()  # no use finishing the registrants
            raise
        finally:
            pool.shutdown(wait=True)
        if registrants is not None:
            registrants.result()  # re-raises a Zoom error met on the registrants
        ensured = brevo.result()  # re-raises Brevo's refusal
        self.attributes_ready = ensured is not None
        if ensured:
            self.brevo.save_known_attributes()
        if registrants is not None:
            self.progress(
                "registrants", engagement.registrant_rows, engagement.registrant_rows
            )

    def _ensure_attributes(self, mapper: Mapper, stop: threading.Event) -> bool | None:
        """Brevo calls only: the account's cache is saved on the run's thread.

        A refusal (key, permission, bad attribute) ends the run at once. Brevo
        being down or busy does not: the run reads Zoom to the end and asks
        again before the imports (``execute``), so a failed run still names
        everyone it could not write. None means "not done yet".
        """
        try:
            return self.brevo.ensure_attributes(mapper.wanted_attributes(), save=False)
        except TRANSIENT as err:
            logger.warning(
                "sync.brevo.attributes_later",
                extra={"run_id": self.run.pk, "error": type(err).__name__},
            )
            return None
        except BaseException:
            stop.set()
            raise

    @staticmethod
    def _fetch_registrants(
        client: ZoomClient,
        webinar_id: str,
        engagement: Engagement,
        stop: threading.Event,
    ) -> None:
        try:
            for row in client.webinar_registrants(webinar_id, status="approved"):
                if stop.is_set():
                    return  # the participants failed: the run is over
                engagement.add_registrant(row)
        except BaseException:
            stop.set()
            raise
        finally:
            db_connections.close_all()  # this thread's own connections only

    def paced(
        self, stage: str, rows: Iterable[dict], total: int | None
    ) -> Iterator[dict]:
        """Pass rows through, telling the progress callback once per page."""
        done = 0
        for row in rows:
            yield row
            done += 1
            if done % PAGE == 0:
                self.progress(stage, done, total)
        self.progress(stage, done, total if total else done)

    def participant_rows(self, meeting: ZoomMeeting) -> Iterator[dict]:
        """Participants of the occurrence, with registrant ids for webinars.

        Past participants carry ``registrant_id``; if an account's answers lack
        it, webinars switch to the report endpoint, which adds it on request.
        """
        if meeting.kind != ZoomMeeting.Kind.WEBINAR:
            yield from self.zoom.past_meeting_participants(meeting.uuid)
            return
        rows = iter(self.zoom.past_webinar_participants(meeting.uuid))
        first = next(rows, None)
        if first is None:
            return
        if "registrant_id" not in first:
            logger.info("sync.participants.use_report", extra={"run_id": self.run.pk})
            yield from self.zoom.report_webinar_participants(meeting.uuid)
            return
        yield first
        yield from rows

    def store_meeting(self, details: dict) -> ZoomMeeting:
        uuid = str(details.get("uuid") or self.run.zoom_ref)
        values = {
            "kind": self.run.kind,
            "zoom_id": str(details.get("id") or self.run.zoom_ref)[:20],
            "topic": (details.get("topic") or "")[:300],
            "host_id": details.get("host_id") or "",
            "host_email": details.get("user_email") or details.get("host_email") or "",
        }
        start = parse_time(details.get("start_time"))
        end = parse_time(details.get("end_time"))
        if start:
            values["start_time"] = start
        if end:
            values["end_time"] = end
        if details.get("duration") and not end:
            values["scheduled_minutes"] = int(details["duration"])
        meeting, _ = ZoomMeeting.objects.update_or_create(
            connection=self.connection, uuid=uuid, defaults=values
        )
        if self.run.meeting_id != meeting.pk:
            self.run.meeting = meeting
            self.run.save(update_fields=["meeting"])
        return meeting

    def occurrence(self, meeting: ZoomMeeting, details: dict) -> Occurrence:
        """Timing: actual start and end, and the scheduled start for lateness.

        The scheduled start comes from the meeting's own details for one-off
        meetings and webinars; a recurring series' details describe the next
        occurrence, so there the actual start stands in.
        """
        scheduled = None
        try:
            info = (
                self.zoom.get_webinar(meeting.zoom_id)
                if meeting.kind == ZoomMeeting.Kind.WEBINAR
                else self.zoom.get_meeting(meeting.zoom_id)
            )
        except (ZoomNotFound, ApiForbidden):
            info = {}  # an ended one-off meeting may be gone; lateness uses the start
        if info.get("type") in (2, 5) and info.get("start_time"):
            scheduled = parse_time(info["start_time"])
            if info.get("timezone") and not meeting.timezone:
                meeting.timezone = info["timezone"]
                meeting.save(update_fields=["timezone"])
        start = meeting.start_time
        end = meeting.end_time
        if start and not end and meeting.scheduled_minutes:
            end = start + timedelta(minutes=meeting.scheduled_minutes)
        return Occurrence(
            start=start,
            end=end,
            scheduled_start=scheduled,
            attendance_weight=self.connection.engagement_attendance_weight,
            punctuality_weight=self.connection.engagement_punctuality_weight,
        )

    def skip(self, person: Person) -> None:
        if person.invalid_email:
            self.items.append(
                SyncRunItem(
                    run=self.run,
                    email=person.invalid_email[:320],
                    name=person.name[:300],
                    reason=SyncRunItem.Reason.INVALID_EMAIL,
                    detail="Zoom gave an address that is not a valid email.",
                )
            )
            return
        self.run.skipped_no_email += 1
        self.items.append(
            SyncRunItem(
                run=self.run,
                name=person.name[:300],
                reason=SyncRunItem.Reason.NO_EMAIL,
                # Zoom gives guests no id: sessions under one display name are
                # one guest here, whoever was behind them.
                detail=(
                    "Joined without an email (guest); no Brevo contact. "
                    + (
                        f"{person.sessions} join sessions under this name."
                        if person.sessions > 1
                        else "One join session."
                    )
                ),
            )
        )

    def history(self, meeting: ZoomMeeting, people: list[Person]) -> dict[str, dict]:
        """Per email, across this connection's occurrences: events, time, last date.

        The same figures the admin preview shows (``contact_history``): the
        other occurrences from their stored rows, this one from the people in
        hand, whose rows are written only after the imports went out.
        """
        from ..engagement_score import add_attendance, contact_history

        history = contact_history(
            self.connection,
            [p.email for p in people if p.email],
            exclude_meeting=meeting,
        )
        for person in people:
            if person.email and person.status != NO_SHOW:
                add_attendance(
                    history, person.email, person.total_seconds, person.first_join
                )
        return history

    # Brevo ----------------------------------------------------------------------

    def refused(self, contacts: list[dict], detail: str) -> None:
        self.failures += len(contacts)
        for contact in contacts:
            self.items.append(
                SyncRunItem(
                    run=self.run,
                    email=contact["email"][:320],
                    reason=SyncRunItem.Reason.BREVO_REJECTED,
                    detail=detail[:1000],
                )
            )

    def upsert_loose(self, loose: list[tuple[str, dict]]) -> int:
        """Contacts whose audience has no list: an import needs one, so upsert each.

        Only happens when an operator removed the audience's list assignment.
        """
        done = 0
        for email, attributes in loose:
            try:
                self.brevo.upsert_contact(email, attributes, [])
            except ApiError as err:
                if isinstance(err, TRANSIENT):
                    raise
                self.refused([{"email": email}], f"Brevo refused the contact: {err}")
                continue
            done += 1
        return done

    def finish(self, meeting: ZoomMeeting, upserted: int) -> None:
        run = self.run
        run.upserted = upserted
        run.failed = self.failures
        run.status = Status.PARTIAL if self.failures or self.notes else Status.SUCCEEDED
        if self.failures and not upserted:
            run.status = Status.FAILED
        run.error = " ".join(self.notes + self.info)[:5000]
        run.finished_at = timezone.now()
        self._save(
            "upserted",
            "failed",
            "skipped_no_email",
            "status",
            "error",
            "finished_at",
        )
        if run.status != Status.FAILED:
            meeting.status = ZoomMeeting.Status.SYNCED
            meeting.last_synced_at = run.finished_at
            meeting.save(update_fields=["status", "last_synced_at", "updated_at"])
            # Follow-up rules (attended, no-show, ended, recording) run on commit.
            from ..tasks.followups import enqueue_after_sync

            enqueue_after_sync(meeting.pk)
        logger.info(
            "sync.run.finished",
            extra={
                "run_id": run.pk,
                "status": run.status,
                "upserted": run.upserted,
                "failed": run.failed,
                "zoom_calls": run.zoom_calls,
                "brevo_calls": run.brevo_calls,
                **{f"{k}_seconds": round(v, 3) for k, v in self.timings.items()},
            },
        )


def summary(run: SyncRun) -> str:
    """The run in a few lines, for commands and admin messages."""
    invalid = run.items.filter(reason=SyncRunItem.Reason.INVALID_EMAIL).count()
    took = f"{run.duration.total_seconds():.1f} s" if run.duration else "-"
    lines = [
        f"Sync run #{run.pk} {run.status} ({run.kind} {run.zoom_ref}, {took})",
        f"  fetched {run.fetched} rows, merged {run.merged} people, "
        f"no-shows {run.no_shows}",
        f"  upserted {run.upserted} contacts, skipped {run.skipped_no_email} without "
        f"email, {invalid} invalid emails, failed {run.failed}",
        f"  calls: Zoom {run.zoom_calls}, Brevo {run.brevo_calls}, "
        f"retries {run.retries}",
    ]
    if run.error:
        lines.append(f"  {run.error}")
    if run.not_before and run.status == Status.RESCHEDULED:
        lines.append(f"  next attempt at {run.not_before:%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines)


__all__ = [
    "TransientSyncError",
    "run_sync",
    "start_sync",
    "summary",
]
