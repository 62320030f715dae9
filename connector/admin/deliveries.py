from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import ngettext

from ..models import WebhookDelivery
from ..tasks.webhooks import process_delivery
from ..zoom.webhooks import redacted
from .base import ReadOnlyAdmin


def _pretty(value) -> str:
    if value in (None, {}, []):
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "event",
        "connection",
        "status",
        "signature_verdict",
        "attempts",
        "short_error",
    )
    list_filter = ("status", "signature_verdict", "event", "connection")
    search_fields = ("event", "request_id", "body_sha256", "error")
    date_hierarchy = "received_at"
    raw_id_fields = ("connection", "duplicate_of")
    actions = ["reprocess"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "received_at",
                    "connection",
                    "connection_slug",
                    "event",
                    "event_ts",
                    "status",
                    "error",
                    "attempts",
                    "processed_at",
                    "duplicate_of",
                )
            },
        ),
        (
            "Verification",
            {
                "fields": (
                    "signature_verdict",
                    "request_id",
                    "body_sha256",
                    "pretty_headers",
                )
            },
        ),
        ("Payload", {"fields": ("pretty_payload",)}),
    )
    readonly_fields = ("pretty_headers", "pretty_payload")

    @admin.display(description="Error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return obj.error[:100]

    @admin.display(description="Payload (credentials redacted)")
    def pretty_payload(self, obj: WebhookDelivery) -> str:
        return _pretty(redacted(obj.payload))

    @admin.display(description="Headers")
    def pretty_headers(self, obj: WebhookDelivery) -> str:
        return _pretty(obj.headers)

    def has_reprocess_permission(self, request) -> bool:
        return request.user.has_perm("connector.reprocess_delivery")

    @admin.action(
        permissions=["reprocess"], description="Re-process selected failed deliveries"
    )
    def reprocess(self, request, queryset: QuerySet[WebhookDelivery]) -> None:
        failed = list(queryset.filter(status=WebhookDelivery.Status.FAILED))
        for delivery in failed:
            process_delivery.delay_on_commit(delivery.pk)
            self.log_change(request, delivery, "Re-process requested.")
        skipped = queryset.count() - len(failed)
        if failed:
            self.message_user(
                request,
                ngettext(
                    "%(count)d failed delivery queued for processing.",
                    "%(count)d failed deliveries queued for processing.",
                    len(failed),
                )
                % {"count": len(failed)},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery skipped: only failed ones are re-processed.",
                    "%(count)d deliveries skipped: only failed ones are re-processed.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
