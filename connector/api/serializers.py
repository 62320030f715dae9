"""Read-only shapes of deliveries and sync runs. No secret ever appears here:
payload credentials are redacted, headers are the safe ones kept at intake."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import SyncRun, SyncRunItem, WebhookDelivery
from ..zoom.webhooks import redacted


class WebhookDeliverySerializer(serializers.ModelSerializer):
    connection_name = serializers.CharField(
        source="connection.name", read_only=True, default=""
    )
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "received_at",
            "connection",
            "connection_name",
            "connection_slug",
            "event",
            "event_ts",
            "request_id",
            "body_sha256",
            "signature_verdict",
            "status",
            "error",
            "attempts",
            "duplicate_of",
            "processed_at",
            "headers",
            "payload",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, obj: WebhookDelivery) -> Any:
        return redacted(obj.payload)


class SyncRunItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRunItem
        fields = ["id", "email", "name", "reason", "detail", "created_at"]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    meeting_topic = serializers.CharField(
        source="meeting.topic", read_only=True, default=""
    )

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "connection",
            "connection_name",
            "meeting",
            "meeting_topic",
            "kind",
            "zoom_ref",
            "trigger",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "not_before",
            "fetched",
            "merged",
            "upserted",
            "skipped_no_email",
            "failed",
            "no_shows",
            "zoom_calls",
            "brevo_calls",
            "retries",
            "attempt",
            "error",
        ]
        read_only_fields = fields


class SyncRunDetailSerializer(SyncRunSerializer):
    items = SyncRunItemSerializer(many=True, read_only=True)

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "items"]
        read_only_fields = fields
