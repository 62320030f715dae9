"""A real Celery worker process runs a task that was enqueued on commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from connector.models import WebhookDelivery
from connector.tasks.maintenance import purge_old_deliveries

from .conftest import wait_for

pytestmark = pytest.mark.e2e


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_task_enqueued_on_commit_runs_in_a_real_worker(celery_worker_process):
    from portal.celery import app

    app.conf.task_always_eager = False
    try:
        old = WebhookDelivery.objects.create(
            body_sha256="a" * 64,
            status=WebhookDelivery.Status.PROCESSED,
            received_at=timezone.now() - timedelta(days=200),
        )
        fresh = WebhookDelivery.objects.create(
            body_sha256="b" * 64, status=WebhookDelivery.Status.PROCESSED
        )
        with transaction.atomic():
            purge_old_deliveries.delay_on_commit(days=90)
            # Nothing is sent before the transaction commits.
            assert WebhookDelivery.objects.filter(pk=old.pk).exists()

        wait_for(lambda: not WebhookDelivery.objects.filter(pk=old.pk).exists())
        assert WebhookDelivery.objects.filter(pk=fresh.pk).exists()
    finally:
        app.conf.task_always_eager = True
