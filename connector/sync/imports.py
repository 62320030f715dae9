"""Write a run's contacts with Brevo's bulk import and follow each import to its end.

One ``/contacts/import`` per distinct set of lists (and per 7.5 MB), each with
its own signed notify URL so Brevo's callback says exactly which one ended.
When that callback cannot come (``notify_base_url`` is None) or does not come
in time, ``/processes/{id}`` is asked sparingly: it sits in Brevo's
100-per-hour bucket.

The records are written before the imports are sent and once more after they
ended, never while Brevo works: on SQLite a long write elsewhere in the same
database (the sandbox applying an import) would otherwise make ours wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from ..brevo.client import BrevoClient, encoded_chunks
from ..http import TRANSIENT, ApiAuthError, ApiClient, ApiError
from ..models import BrevoImport, SyncRun

logger = logging.getLogger(__name__)

NOTIFY_SALT = "connector.brevo.import"
# /processes: first look after 2 s, then twice as long each time, at most once
# a minute after that.
POLL_FIRST = 2.0
POLL_MAX = 60.0
NOTIFY_CHECK = 0.05  # how often the database is read for the callback's mark
# Big imports take Brevo longer: the callback is awaited this much longer per
# thousand contacts before /processes is asked.
NOTIFY_PER_THOUSAND = 5.0
# Imports uploaded at the same time. Brevo's contacts bucket allows 10 a
# second; a run has one import per set of lists and per 7.5 MB, so few.
IMPORT_SENDERS = 4


def notify_token(import_id: int) -> str:
    return signing.dumps(import_id, salt=NOTIFY_SALT)


def import_for_token(token: str) -> BrevoImport | None:
    """The import a notify URL names, or None for a forged or unknown token."""
    try:
        import_id = signing.loads(token, salt=NOTIFY_SALT)
    except signing.BadSignature:
        return None
    return BrevoImport.objects.filter(pk=import_id).first()


_probed: dict[str, tuple[float, bool]] = {}
PROBE_TTL = 300.0  # a worker started before the web server finds it later


def _probe(base: str) -> bool:
    """Whether the portal answers at ``base`` (remembered for five minutes)."""
    now = time.monotonic()
    found = _probed.get(base)
    if found and now - found[0] < PROBE_TTL:
        return found[1]
    client = ApiClient(base, timeout=2, max_retries=0)
    try:
        client.request("GET", "healthz")
        answers = True
    except ApiError as err:
        # Any HTTP answer (even 503) proves the portal answers at that address.
        answers = err.status is not None
    _probed[base] = (now, answers)
    return answers


def _is_local(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        address = ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def notify_base_url() -> str | None:
    """Where Brevo can call the portal back, or None to poll /processes instead.

    ``BREVO_IMPORT_NOTIFY``: "on" always, "off" never, "auto" when the portal
    answers at ``PORTAL_BASE_URL`` and Brevo can reach that address: a
    loopback or private portal only counts when Brevo is local too (the
    sandbox).
    """
    mode = settings.BREVO_IMPORT_NOTIFY.lower()
    base = settings.PORTAL_BASE_URL.rstrip("/")
    if mode in ("off", "false", "0", "no") or not base:
        return None
    if mode in ("on", "true", "1", "yes"):
        return base
    portal = urlsplit(base).hostname or ""
    brevo = urlsplit(settings.BREVO_API_BASE_URL).hostname or ""
    if _is_local(portal) and not _is_local(brevo):
        return None
    return base if _probe(base) else None


@dataclass
class Sent:
    """One import as the run sees it; written to its record at the end."""

    record: BrevoImport
    contacts: list[dict]
    status: str = BrevoImport.Status.PENDING
    process_id: int | None = None
    polls: int = 0
    detail: dict = field(default_factory=dict)
    completed_at: datetime | None = None


class Imports:
    """The imports of one run: send them, follow them, record them."""

    def __init__(
        self,
        run: SyncRun,
        brevo: BrevoClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.run = run
        self.brevo = brevo
        self.sleep = sleep
        self.sent: list[Sent] = []
        self.notes: list[str] = []  # contacts were lost: the run is partial
        self.info: list[str] = []  # worth knowing, nothing lost
        self.refused: list[tuple[list[dict], str]] = []

    def send(self, groups: dict[tuple[int, ...], list[dict]]) -> None:
        """Start one import per group (and per size ceiling), side by side.

        The records are written first, then every import goes out at once
        (``IMPORT_SENDERS`` at a time, the biggest first): Brevo works on them
        together, so the run waits about one import's processing time, not
        the sum. An import Brevo refuses costs only its own contacts; if none
        was accepted and the cause may pass (Brevo down, key refused), the
        error is raised for the whole run to be retried or failed.
        """
        notify_base = notify_base_url()
        planned = [
            (list_ids, chunk, encoded)
            for list_ids, contacts in groups.items()
            for chunk, encoded in encoded_chunks(contacts)
        ]
        planned.sort(key=lambda item: (-len(item[2]), item[0]))
        records = BrevoImport.objects.bulk_create(
            BrevoImport(
                run=self.run,
                account=self.brevo.account,
                list_ids=list(list_ids),
                contacts=len(chunk),
                body_bytes=len(encoded),
                detail={"notify": bool(notify_base)},
            )
            for list_ids, chunk, encoded in planned
        )
        self.sent = []
        jobs = []
        for record, (_, chunk, encoded) in zip(records, planned, strict=True):
            item = Sent(record, chunk, detail={"notify": bool(notify_base)})
            self.sent.append(item)
            notify_url = None
            if notify_base:
                token = notify_token(record.pk)
                path = reverse("connector:brevo-import-notify", kwargs={"token": token})
                notify_url = notify_base + path
            jobs.append((item, encoded, notify_url))
        if not jobs:
            return

        def start(job: tuple[Sent, bytes, str | None]) -> ApiError | None:
            item, encoded, notify_url = job
            try:
                item.process_id = self.brevo.import_chunk(
                    item.contacts,
                    item.record.list_ids,
                    notify_url=notify_url,
                    encoded=encoded,
                )
            except ApiError as err:
                return err
            return None

        workers = min(len(jobs), IMPORT_SENDERS)
        with ThreadPoolExecutor(workers, thread_name_prefix="brevo-import") as pool:
            errors = list(pool.map(start, jobs))
        failures = []
        for (item, _, _), err in zip(jobs, errors, strict=True):
            if err is None:
                item.status = BrevoImport.Status.SENT
            else:
                item.status = BrevoImport.Status.FAILED
                item.detail["error"] = str(err)
                failures.append((item, err))
        accepted = len(failures) < len(jobs)
        for item, err in failures:
            if not accepted and isinstance(err, (*TRANSIENT, ApiAuthError)):
                self.save()
                raise err  # nothing was written: retry or fail the whole run
            self.refused.append((item.contacts, f"Import refused by Brevo: {err}"))

    def follow(self) -> tuple[int, int]:
        """Wait for the imports to end; return (contacts taken, contacts lost).

        With a notify URL the callback marks the record (see
        ``connector.brevo.views``) and this only reads. When the callback is
        not configured or does not come within ``BREVO_IMPORT_NOTIFY_WAIT``,
        ``/processes/{id}`` is asked from 2 s apart, doubling, for at most
        ``BREVO_IMPORT_FOLLOW_SECONDS`` in all.
        """
        pending = {s.record.pk: s for s in self.sent if s.process_id}
        taken = lost = 0
        started = time.monotonic()

        def notified() -> None:
            nonlocal taken
            for pk in BrevoImport.objects.filter(
                pk__in=list(pending), status=BrevoImport.Status.COMPLETED
            ).values_list("pk", flat=True):
                item = pending.pop(pk)
                item.status = BrevoImport.Status.COMPLETED
                taken += len(item.contacts)

        if any(s.detail.get("notify") for s in pending.values()):
            size = sum(len(s.contacts) for s in pending.values())
            wait = settings.BREVO_IMPORT_NOTIFY_WAIT + size / 1000 * NOTIFY_PER_THOUSAND
            while pending and time.monotonic() - started < wait:
                notified()
                if pending:
                    self.sleep(NOTIFY_CHECK)
            if pending:
                self.info.append(
                    f"Brevo did not call the notify URL back within {int(wait)} s; "
                    "asked /processes instead."
                )

        delay = POLL_FIRST
        limit = settings.BREVO_IMPORT_FOLLOW_SECONDS
        while pending and time.monotonic() - started < limit:
            self.sleep(delay)
            notified()  # a late callback still counts
            for item in list(pending.values()):
                process = self.brevo.get_process(item.process_id)
                item.polls += 1
                item.detail["process"] = process
                state = str(process.get("status") or "").lower()
                if state == "completed":
                    item.status = BrevoImport.Status.COMPLETED
                    item.completed_at = timezone.now()
                    taken += len(item.contacts)
                    del pending[item.record.pk]
                elif state in ("failed", "cancelled"):
                    item.status = BrevoImport.Status.FAILED
                    lost += len(item.contacts)
                    del pending[item.record.pk]
                    self.notes.append(
                        f"Brevo import {item.process_id} ended {state}: "
                        f"{process.get('error') or 'no detail'}."
                    )
            delay = min(delay * 2, POLL_MAX)

        for item in pending.values():
            item.status = BrevoImport.Status.UNCONFIRMED
            lost += len(item.contacts)
            self.notes.append(
                f"Brevo import {item.process_id} was not confirmed within "
                f"{int(limit)} s; its contacts are counted as failed."
            )
        return taken, lost

    def save(self) -> None:
        """Write what the run learnt to the records, keeping the callback's marks."""
        stored = {
            r.pk: r
            for r in BrevoImport.objects.filter(run=self.run).only(
                "pk", "detail", "completed_at"
            )
        }
        updated = []
        for item in self.sent:
            record = item.record
            current = stored.get(record.pk)
            record.detail = {**(current.detail if current else {}), **item.detail}
            record.process_id = item.process_id
            record.status = item.status
            record.process_polls = item.polls
            # The callback's own completion time wins over ours.
            record.completed_at = (
                current and current.completed_at
            ) or item.completed_at
            updated.append(record)
        BrevoImport.objects.bulk_update(
            updated, ["detail", "process_id", "status", "process_polls", "completed_at"]
        )
