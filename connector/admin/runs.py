from __future__ import annotations

from django.contrib import admin

from ..models import BrevoImport, SyncRun, SyncRunItem
from .base import ReadOnlyAdmin


class SyncRunItemInline(admin.TabularInline):
    model = SyncRunItem
    extra = 0
    can_delete = False
    fields = ("email", "name", "reason", "detail")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class BrevoImportInline(admin.TabularInline):
    """The run's Brevo imports: lists, size, and how completion was learnt."""

    model = BrevoImport
    extra = 0
    can_delete = False
    fields = (
        "process_id",
        "list_ids",
        "contacts",
        "body_bytes",
        "status",
        "notified_at",
        "process_polls",
        "completed_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Part of the run's record: whoever may read runs may read these.
        return request.user.has_perm("connector.view_syncrun")


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
    inlines = [BrevoImportInline, SyncRunItemInline]


@admin.register(SyncRunItem)
class SyncRunItemAdmin(ReadOnlyAdmin):
    list_display = ("run", "email", "name", "reason", "detail")
    list_filter = ("reason", "run__connection")
    search_fields = ("email", "name", "detail")
    raw_id_fields = ("run",)
