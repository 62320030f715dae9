from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import ngettext

from ..models import Attendance, SyncRun, ZoomMeeting
from .base import ReadOnlyAdmin


class AttendanceInline(admin.TabularInline):
    model = Attendance
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "email",
        "name",
        "status",
        "total_seconds",
        "sessions",
        "attendance_percent",
        "score",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ZoomMeeting)
class ZoomMeetingAdmin(ReadOnlyAdmin):
    list_display = ("topic", "kind", "zoom_id", "start_time", "status", "connection")
    list_filter = ("kind", "status", "connection")
    search_fields = ("topic", "zoom_id", "uuid", "host_email")
    date_hierarchy = "start_time"
    exclude = ("recording_passcode",)
    inlines = [AttendanceInline]
    actions = ["resync_participants"]

    @admin.action(description="Resync participants", permissions=["resync"])
    def resync_participants(self, request, queryset) -> None:
        """Queue a sync run per selected occurrence; the worker does the calls."""
        from ..sync.pipeline import start_sync

        runs = [
            start_sync(
                meeting.connection,
                meeting.kind,
                meeting.uuid or meeting.zoom_id,
                SyncRun.Trigger.ADMIN,
                meeting=meeting,
                requested_by=request.user,
            )
            for meeting in queryset.select_related("connection")
        ]
        ids = ", ".join(f"#{run.pk}" for run in runs)
        self.message_user(
            request,
            ngettext(
                "Queued a participant sync for %(count)d occurrence (run %(ids)s).",
                "Queued participant syncs for %(count)d occurrences (runs %(ids)s).",
                len(runs),
            )
            % {"count": len(runs), "ids": ids},
            messages.SUCCESS,
        )

    def has_resync_permission(self, request) -> bool:
        return request.user.has_perm("connector.resync_meeting")


@admin.register(Attendance)
class AttendanceAdmin(ReadOnlyAdmin):
    list_display = (
        "email",
        "name",
        "meeting",
        "status",
        "total_seconds",
        "attendance_percent",
        "score",
    )
    list_filter = ("status", "meeting__kind", "meeting__connection")
    search_fields = ("email", "name", "registrant_id")
    raw_id_fields = ("meeting",)
