from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.routers import SimpleRouter

from .views import SyncRunViewSet, WebhookDeliveryViewSet
from .webhooks import ZoomWebhookRootView, ZoomWebhookView

router = SimpleRouter()
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="delivery")
router.register("sync-runs", SyncRunViewSet, basename="syncrun")

urlpatterns = [
    path("webhooks/zoom/", ZoomWebhookRootView.as_view(), name="zoom-webhook"),
    path(
        "webhooks/zoom/<slug:slug>/",
        ZoomWebhookView.as_view(),
        name="zoom-webhook-connection",
    ),
    path("api/", include(router.urls)),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[SessionAuthentication, TokenAuthentication],
            permission_classes=[IsAdminUser],
        ),
        name="api-schema",
    ),
]
