from __future__ import annotations

from django.contrib import admin

from ..models import FieldMapping, FollowUpRule, ListAssignment


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    list_display = (
        "connection",
        "zoom_field",
        "brevo_attribute",
        "transform",
        "enabled",
    )
    list_editable = ("enabled",)
    list_filter = ("connection", "enabled", "transform", "zoom_field")
    search_fields = ("brevo_attribute", "zoom_field")


@admin.register(ListAssignment)
class ListAssignmentAdmin(admin.ModelAdmin):
    list_display = ("connection", "audience", "list_id", "topic_filter", "enabled")
    list_editable = ("enabled",)
    list_filter = ("connection", "audience", "enabled")
    search_fields = ("topic_filter", "list_id")


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "connection", "trigger", "kind", "action", "enabled")
    list_editable = ("enabled",)
    list_filter = ("connection", "trigger", "action", "enabled", "kind")
    search_fields = ("name", "event_name")
