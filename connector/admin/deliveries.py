from __future__ import annotations

from django.contrib import admin

from ..models import WebhookDelivery
from .base import ReadOnlyAdmin


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "event",
        "connection",
        "status",
        "signature_verdict",
        "short_error",
    )
    list_filter = ("status", "signature_verdict", "event", "connection")
    search_fields = ("event", "request_id", "body_sha256", "error")
    date_hierarchy = "received_at"
    raw_id_fields = ("connection", "duplicate_of")

    @admin.display(description="Error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return obj.error[:100]
