from __future__ import annotations

from django.contrib import admin

from ..models import SyncRun, SyncRunItem
from .base import ReadOnlyAdmin


class SyncRunItemInline(admin.TabularInline):
    model = SyncRunItem
    extra = 0
    can_delete = False
    fields = ("email", "name", "reason", "detail")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "connection",
        "kind",
        "zoom_ref",
        "trigger",
        "status",
        "fetched",
        "upserted",
        "skipped_no_email",
        "failed",
    )
    list_filter = ("status", "kind", "trigger", "connection")
    search_fields = ("zoom_ref", "error", "meeting__topic")
    date_hierarchy = "created_at"
    raw_id_fields = ("meeting", "requested_by")
    inlines = [SyncRunItemInline]


@admin.register(SyncRunItem)
class SyncRunItemAdmin(ReadOnlyAdmin):
    list_display = ("run", "email", "name", "reason", "detail")
    list_filter = ("reason", "run__connection")
    search_fields = ("email", "name", "detail")
    raw_id_fields = ("run",)
