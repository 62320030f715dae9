from __future__ import annotations

from django.contrib import admin

from ..models import Attendance, ZoomMeeting
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
