"""What the sync commands share: pick the connection, run with a progress bar."""

from __future__ import annotations

from django.core.management.base import CommandError

from ..models import SyncRun, ZoomConnection
from .pipeline import run_sync, summary
from .progress import TextProgress

# Exit codes: a failed run is 1; a run put off until Zoom's daily limit resets
# is EX_TEMPFAIL (75), so a script can tell "try later" from "broken".
EXIT_FAILED = 1
EXIT_RESCHEDULED = 75


def pick_connection(slug: str | None) -> ZoomConnection:
    """The connection named by ``slug``, or the only enabled one."""
    if slug:
        try:
            return ZoomConnection.objects.get(slug=slug)
        except ZoomConnection.DoesNotExist:
            raise CommandError(f"No Zoom connection with slug {slug!r}.") from None
    enabled = list(ZoomConnection.objects.filter(enabled=True)[:2])
    if len(enabled) == 1:
        return enabled[0]
    if not enabled:
        raise CommandError("No enabled Zoom connection: create one first.")
    slugs = ", ".join(ZoomConnection.objects.values_list("slug", flat=True))
    raise CommandError(f"Several connections exist; pass --connection ({slugs}).")


def run_in_foreground(
    connection: ZoomConnection,
    kind: str,
    zoom_ref: str,
    stdout,
    stderr,
    label: str = "",
) -> SyncRun:
    run = SyncRun.objects.create(
        connection=connection,
        kind=kind,
        zoom_ref=zoom_ref,
        trigger=SyncRun.Trigger.COMMAND,
    )
    bar = TextProgress(stderr, label)
    try:
        run = run_sync(run.pk, progress=bar)
    finally:
        bar.close()
    run.refresh_from_db()
    stdout.write(summary(run))
    return run


def exit_code(run: SyncRun) -> int:
    if run.status == SyncRun.Status.FAILED:
        return EXIT_FAILED
    if run.status == SyncRun.Status.RESCHEDULED:
        return EXIT_RESCHEDULED
    return 0
