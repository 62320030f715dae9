"""JSON for tests and benchmarks: ``/sandbox/api/config`` (GET/POST),
``/sandbox/api/stats`` and ``/sandbox/api/reset``."""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from . import models as sb
from .runtime import json_response, limiter, read_json

CHOICES = {
    "brevo_unknown_attributes": ("ignore", "reject"),
    "brevo_bad_dates": ("ignore", "reject"),
    "brevo_events_batch_bucket": ("events", "other"),
}
RATES = {"zoom_error_rate", "brevo_error_rate"}


def config_json(config: sb.SandboxConfig) -> dict:
    return {
        f.name: getattr(config, f.name)
        for f in config._meta.fields
        if f.name not in ("id", "updated_at")
    }


def apply_config(config: sb.SandboxConfig, changes: dict) -> list[str]:
    """Set fields from ``changes``; return the error messages (nothing saved then)."""
    fields = {
        f.name: f for f in config._meta.fields if f.name not in ("id", "updated_at")
    }
    errors = []
    for name, value in changes.items():
        field = fields.get(name)
        if field is None:
            errors.append(f"unknown setting: {name}")
            continue
        if isinstance(field, models.BooleanField):
            if not isinstance(value, bool):
                errors.append(f"{name}: expected true or false")
                continue
        elif isinstance(field, models.PositiveIntegerField):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors.append(f"{name}: expected a whole number ≥ 0")
                continue
        elif isinstance(field, models.FloatField):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
            ):
                errors.append(f"{name}: expected a number ≥ 0")
                continue
            if name in RATES and value > 1:
                errors.append(f"{name}: expected a share between 0 and 1")
                continue
        elif name in CHOICES and value not in CHOICES[name]:
            errors.append(f"{name}: expected one of {', '.join(CHOICES[name])}")
            continue
        setattr(config, name, value)
    return errors


@csrf_exempt
@require_http_methods(["GET", "POST"])
def config_view(request: HttpRequest) -> HttpResponse:
    config = sb.SandboxConfig.load()
    if request.method == "POST":
        try:
            changes = read_json(request)
        except ValueError as err:
            return json_response({"error": str(err)}, 400)
        if not isinstance(changes, dict):
            return json_response({"error": "expected a JSON object"}, 400)
        errors = apply_config(config, changes)
        if errors:
            return json_response({"errors": errors}, 400)
        config.save()
        if "rate_limits" in changes:
            limiter.reset()
    return json_response(config_json(config))


def stats() -> dict:
    calls = sb.CallLog.objects
    by_endpoint = {}
    for row in calls.values("api", "endpoint", "category").annotate(n=Count("id")):
        by_endpoint[f"{row['api']}:{row['endpoint']}"] = {
            "calls": row["n"],
            "category": row["category"],
        }
    by_status = {
        f"{row['api']}:{row['status']}": row["n"]
        for row in calls.values("api", "status").annotate(n=Count("id"))
    }
    by_category = {
        f"{row['api']}:{row['category']}": row["n"]
        for row in calls.exclude(category="")
        .values("api", "category")
        .annotate(n=Count("id"))
    }
    by_api = {
        row["api"]: row["n"] for row in calls.values("api").annotate(n=Count("id"))
    }

    def outcome(api: str, kind: str) -> int:
        return calls.filter(api=api, outcome=kind).count()

    sends = sb.WebhookSend.objects
    return {
        "calls": by_api,
        "calls_by_endpoint": by_endpoint,
        "calls_by_category": by_category,
        "calls_by_status": by_status,
        "rate_limited": {
            "zoom": outcome("zoom", "rate_limited"),
            "brevo": outcome("brevo", "rate_limited"),
        },
        "injected_errors": {
            "zoom": outcome("zoom", "injected"),
            "brevo": outcome("brevo", "injected"),
        },
        "zoom": {
            "meetings": sb.Meeting.objects.filter(kind="meeting").count(),
            "webinars": sb.Meeting.objects.filter(kind="webinar").count(),
            "participants": sb.Participant.objects.count(),
            "registrants": sb.Registrant.objects.count(),
            "tokens_issued": sb.IssuedToken.objects.filter(kind="access").count(),
        },
        "brevo": {
            "contacts": sb.Contact.objects.count(),
            "lists": sb.ContactList.objects.count(),
            "events": sb.Event.objects.count(),
            "emails": sb.SentEmail.objects.count(),
            "campaigns": sb.Campaign.objects.count(),
            "imports": sb.ImportProcess.objects.count(),
        },
        "webhooks": {
            "sent": sends.count(),
            "delivered": sends.filter(delivered=True).count(),
            "gave_up": sends.filter(gave_up=True).count(),
            "attempts": sum(sends.values_list("attempts", flat=True)),
        },
    }


@require_GET
def stats_view(request: HttpRequest) -> HttpResponse:
    return json_response(stats())


@csrf_exempt
@require_http_methods(["POST"])
@transaction.atomic
def reset_view(request: HttpRequest) -> HttpResponse:
    """Clear counters and rate-limit windows; ``{"config": true}`` restores the
    default switches, ``{"data": true}`` also empties meetings, contacts, events
    and emails (accounts, apps, lists and attributes stay)."""
    try:
        options = read_json(request) if request.body else {}
    except ValueError as err:
        return json_response({"error": str(err)}, 400)
    if not isinstance(options, dict):
        return json_response({"error": "expected a JSON object"}, 400)
    sb.CallLog.objects.all().delete()
    limiter.reset()
    if options.get("config", True):
        sb.SandboxConfig.objects.all().delete()
        sb.SandboxConfig.load()
    if options.get("data", False):
        for model in (
            sb.WebhookSend,
            sb.Meeting,
            sb.Contact,
            sb.Event,
            sb.SentEmail,
            sb.Campaign,
            sb.ImportProcess,
            sb.AuthCode,
            sb.IssuedToken,
        ):
            model.objects.all().delete()
    return json_response({"reset": True, **stats()})


@csrf_exempt
def unknown_zoom_path(request: HttpRequest) -> HttpResponse:
    # Not yet: the rest of Zoom's API; add endpoints here as the portal uses them.
    return json_response(
        {"code": 404, "message": f"The sandbox does not serve {request.path}."}, 404
    )


@csrf_exempt
def unknown_brevo_path(request: HttpRequest) -> HttpResponse:
    return json_response(
        {
            "code": "document_not_found",
            "message": f"The sandbox does not serve {request.path}.",
        },
        404,
    )
