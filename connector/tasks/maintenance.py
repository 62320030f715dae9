from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from ..models import WebhookDelivery

logger = logging.getLogger(__name__)


@shared_task(name="connector.purge_old_deliveries", queue="portal")
def purge_old_deliveries(days: int | None = None) -> int:
    """Delete webhook deliveries older than the retention period."""
    days = days if days is not None else settings.WEBHOOK_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    logger.info("webhooks.purged", extra={"deleted": deleted, "days": days})
    return deleted
