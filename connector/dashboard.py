"""The marketing dashboard: each recent event's funnel, the last runs, failures.

Staff only. The charts are SVG drawn by the template from the figures computed
here: no script, no chart library, nothing fetched from elsewhere.

Funnel of an occurrence:

- registered: registrants (webinars; meetings without registration show none);
- attended: people who joined, guests included;
- engaged: attendees whose score reaches the connection's ``engaged_min_score``;
- followed up: distinct people a follow-up was sent to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, F, Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from .followups import GATE_DOMAIN
from .models import (
    Attendance,
    FieldMapping,
    FollowUpDispatch,
    FollowUpRule,
    SyncRun,
    WebhookDelivery,
    ZoomMeeting,
)
from .preview import build_preview

RECENT_MEETINGS = 12
RECENT_RUNS = 10
RECENT_FAILURES = 10
CHART_WIDTH = 560  # SVG user units; the chart scales with the page
LABEL_WIDTH = 110
BAR_HEIGHT = 26
BAR_GAP = 8

STAGES = (
    ("registered", "Registered", "#7c8db5"),
    ("attended", "Attended", "#3f6fd8"),
    ("engaged", "Engaged", "#1f9d74"),
    ("followed_up", "Followed up", "#e08a1e"),
)
# A campaign's one-per-occurrence row is not a person.
GATE_SUFFIX = GATE_DOMAIN


@dataclass
class Bar:
    key: str
    label: str
    value: int
    color: str
    y: int
    width: float
    share: str  # of the first stage, e.g. "62%"

    @property
    def text_x(self) -> float:
        """Where the figure goes: inside a long bar, just after a short one."""
        return LABEL_WIDTH + self.width + 6 if self.width < 48 else LABEL_WIDTH + 8

    @property
    def text_inside(self) -> bool:
        return self.width >= 48


@dataclass
class Funnel:
    meeting: ZoomMeeting
    registered: int = 0
    attended: int = 0
    engaged: int = 0
    followed_up: int = 0
    last_run: SyncRun | None = None
    bars: list[Bar] = field(default_factory=list)

    @property
    def height(self) -> int:
        return len(self.bars) * (BAR_HEIGHT + BAR_GAP)

    @property
    def headline(self) -> str:
        """One sentence a marketer reads instead of the chart."""
        if not self.attended and not self.registered:
            return "No attendance recorded yet."
        parts = []
        if self.registered:
            rate = round(100 * self.attended / self.registered)
            parts.append(f"{rate}% of registrants attended")
        else:
            parts.append(f"{self.attended} attended")
        if self.attended:
            rate = round(100 * self.engaged / self.attended)
            parts.append(f"{rate}% of attendees engaged")
        parts.append(f"{self.followed_up} followed up")
        return ", ".join(parts) + "."

    def draw(self) -> None:
        stages = STAGES
        if self.meeting.kind == ZoomMeeting.Kind.MEETING and not self.registered:
            stages = STAGES[1:]  # a meeting without registration starts at attended
        top = max([getattr(self, key) for key, _, _ in stages] + [1])
        first = getattr(self, stages[0][0])
        span = CHART_WIDTH - LABEL_WIDTH - 60
        self.bars = []
        for index, (key, label, color) in enumerate(stages):
            value = getattr(self, key)
            # Each later stage as a share of the first: "of those registered".
            share = f"{round(100 * value / first)}%" if index and first else ""
            self.bars.append(
                Bar(
                    key=key,
                    label=label,
                    value=value,
                    color=color,
                    y=index * (BAR_HEIGHT + BAR_GAP),
                    width=round(span * value / top, 1) if value else 0,
                    share=share,
                )
            )


def funnels(meetings: list[ZoomMeeting]) -> list[Funnel]:
    """The funnel of each occurrence, in four queries whatever their number."""
    ids = [m.pk for m in meetings]
    attended = Q(status=Attendance.Status.ATTENDED)
    counts = {
        row["meeting"]: row
        for row in Attendance.objects.filter(meeting__in=ids)
        .values("meeting")
        .annotate(
            registered=Count(
                "pk",
                filter=Q(registrant_id__gt="")
                | Q(
                    status__in=[
                        Attendance.Status.REGISTERED,
                        Attendance.Status.NO_SHOW,
                    ]
                ),
            ),
            attended=Count("pk", filter=attended),
            engaged=Count(
                "pk",
                filter=attended
                & Q(score__gte=F("meeting__connection__engaged_min_score")),
            ),
        )
    }
    followed = dict(
        FollowUpDispatch.objects.filter(
            meeting__in=ids, status=FollowUpDispatch.Status.SENT
        )
        .exclude(email__endswith=GATE_SUFFIX)
        .values("meeting")
        .annotate(people=Count("email", distinct=True))
        .values_list("meeting", "people")
    )
    latest = (
        SyncRun.objects.filter(meeting__in=ids)
        .values("meeting")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    last_runs = {r.meeting_id: r for r in SyncRun.objects.filter(pk__in=list(latest))}
    found = []
    for meeting in meetings:
        row = counts.get(meeting.pk, {})
        funnel = Funnel(
            meeting=meeting,
            registered=row.get("registered", 0),
            attended=row.get("attended", 0),
            engaged=row.get("engaged", 0),
            followed_up=followed.get(meeting.pk, 0),
            last_run=last_runs.get(meeting.pk),
        )
        funnel.draw()
        found.append(funnel)
    return found


def past(meetings: QuerySet[ZoomMeeting]) -> QuerySet[ZoomMeeting]:
    """Occurrences that have started (upcoming ones have no outcome yet)."""
    begun = [
        ZoomMeeting.Status.STARTED,
        ZoomMeeting.Status.ENDED,
        ZoomMeeting.Status.SYNCED,
    ]
    return meetings.filter(
        Q(start_time__lte=timezone.now()) | Q(start_time__isnull=True, status__in=begun)
    )


def recent_meetings(limit: int = RECENT_MEETINGS) -> list[ZoomMeeting]:
    """The latest occurrences that started, newest first."""
    return list(
        past(ZoomMeeting.objects.select_related("connection")).order_by(
            F("start_time").desc(nulls_last=True), "-id"
        )[:limit]
    )


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "title": "Event outcomes",
        "funnels": funnels(recent_meetings()),
        "runs": SyncRun.objects.select_related("meeting", "connection")[:RECENT_RUNS],
        "failed_deliveries": WebhookDelivery.objects.filter(
            status__in=[
                WebhookDelivery.Status.FAILED,
                WebhookDelivery.Status.REJECTED,
            ]
        ).select_related("connection")[:RECENT_FAILURES],
        "failed_dispatches": FollowUpDispatch.objects.filter(
            status=FollowUpDispatch.Status.FAILED
        )
        .exclude(email__endswith=GATE_SUFFIX)
        .select_related("rule", "meeting")[:RECENT_FAILURES],
        "chart_width": CHART_WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }
    return render(request, "connector/dashboard.html", context)


def _ids(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip().isdigit()]


@staff_member_required
def preview(request: HttpRequest) -> HttpResponse:
    """What a sync of the chosen past occurrence would write; nothing is written.

    ``?meeting=<id>`` picks the occurrence; ``mappings=1,2`` and ``rules=3``
    add mappings and rules that are not enabled yet.
    """
    mappings = list(
        FieldMapping.objects.filter(pk__in=_ids(request.GET.get("mappings", "")))
    )
    rules = list(FollowUpRule.objects.filter(pk__in=_ids(request.GET.get("rules", ""))))
    connections = {m.connection_id for m in mappings} | {r.connection_id for r in rules}
    choices = past(ZoomMeeting.objects.select_related("connection"))
    if connections:
        choices = choices.filter(connection_id__in=connections)
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "title": "Preview what a sync would write",
        "choices": choices.order_by(F("start_time").desc(nulls_last=True))[:50],
        "mapping_ids": ",".join(str(m.pk) for m in mappings),
        "rule_ids": ",".join(str(r.pk) for r in rules),
        "preview": None,
    }
    meeting_id = request.GET.get("meeting", "")
    if meeting_id.isdigit():
        meeting = get_object_or_404(
            ZoomMeeting.objects.select_related("connection"), pk=int(meeting_id)
        )
        context["preview"] = build_preview(meeting, mappings=mappings, rules=rules)
        context["chosen"] = meeting.pk
    return render(request, "connector/dashboard_preview.html", context)
