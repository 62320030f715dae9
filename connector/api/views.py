"""The read API over webhook deliveries and sync runs (staff only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser

from ..models import SyncRun, WebhookDelivery, ZoomMeeting
from . import serializers
from .filters import RecordFilter, parameters

DELIVERY_FILTERS = {
    "status": list(WebhookDelivery.Status.values),
    "event": [],
    "signature_verdict": list(WebhookDelivery.Verdict.values),
}
RUN_FILTERS = {
    "status": list(SyncRun.Status.values),
    "trigger": list(SyncRun.Trigger.values),
    "kind": list(ZoomMeeting.Kind.values),
}


class StaffReadOnly(viewsets.ReadOnlyModelViewSet):
    authentication_classes = [SessionAuthentication, TokenAuthentication]
    permission_classes = [IsAdminUser]
    filter_backends = [RecordFilter]


@extend_schema_view(
    list=extend_schema(
        summary="Webhook deliveries, newest first",
        parameters=parameters(DELIVERY_FILTERS, "received_at"),
        tags=["deliveries"],
    ),
    retrieve=extend_schema(summary="One webhook delivery", tags=["deliveries"]),
)
class WebhookDeliveryViewSet(StaffReadOnly):
    serializer_class = serializers.WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.select_related("connection").order_by(
        "-received_at", "-id"
    )
    filter_fields = {
        "status": "status",
        "event": "event",
        "signature_verdict": "signature_verdict",
    }
    filter_time_field = "received_at"


@extend_schema_view(
    list=extend_schema(
        summary="Sync runs, newest first",
        parameters=parameters(RUN_FILTERS, "created_at"),
        tags=["sync runs"],
    ),
    retrieve=extend_schema(
        summary="One sync run with its skipped and failed contacts",
        tags=["sync runs"],
    ),
)
class SyncRunViewSet(StaffReadOnly):
    queryset = SyncRun.objects.select_related("connection", "meeting").order_by(
        "-created_at", "-id"
    )
    filter_fields = {"status": "status", "trigger": "trigger", "kind": "kind"}
    filter_time_field = "created_at"

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.SyncRunDetailSerializer
        return serializers.SyncRunSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("items")
        return queryset
