"""Brevo calls the portal back here when a contact import ends (``notifyUrl``).

The URL carries a token signed with the portal's secret key that names one
``BrevoImport``: it cannot be guessed, and it says which import ended without
relying on the callback's body, whose shape Brevo does not document. The body
is kept (size-capped) for the record. A repeated call changes nothing.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..models import BrevoImport
from ..sync.imports import import_for_token

logger = logging.getLogger(__name__)

KEEP_BODY_BYTES = 4096


def _body(request: HttpRequest) -> object:
    raw = request.body[:KEEP_BODY_BYTES]
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def import_notify(request: HttpRequest, token: str) -> JsonResponse:
    record = import_for_token(token)
    if record is None:
        logger.warning("brevo.import.notify_refused")
        return JsonResponse({"detail": "unknown import"}, status=404)
    if record.status != BrevoImport.Status.COMPLETED:
        now = timezone.now()
        BrevoImport.objects.filter(pk=record.pk).update(
            status=BrevoImport.Status.COMPLETED,
            notified_at=now,
            completed_at=now,
            detail={**record.detail, "notify_body": _body(request)},
        )
        logger.info(
            "brevo.import.notified",
            extra={"import_id": record.pk, "process_id": record.process_id},
        )
    return JsonResponse({"ok": True})
