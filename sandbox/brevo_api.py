"""Brevo API v3 as the portal uses it: contacts (create/upsert, update, get,
import, batch update, lists), attributes, events, transactional email and
campaigns.

Every endpoint goes through ``brevo_endpoint``: the ``api-key`` header (401
``unauthorized``), the General-tier bucket of its path (429 and the
``x-sib-ratelimit-*`` headers), injected faults and a ``CallLog`` row.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import requests
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import ids
from .db import fast_insert, fast_update
from .models import (
    Attribute,
    BrevoAccount,
    Campaign,
    Contact,
    ContactList,
    Event,
    Folder,
    ImportProcess,
    SandboxConfig,
    SentEmail,
)
from .runtime import inject_fault, json_response, limiter, log_call

logger = logging.getLogger(__name__)

IMPORT_MAX_BYTES = 10 * 1024 * 1024
EVENTS_BATCH_MAX_BYTES = 512 * 1024
EVENT_PROPERTIES_MAX_BYTES = 50 * 1024
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ATTRIBUTE_CATEGORIES = {"normal", "transactional", "category", "calculated", "global"}
ATTRIBUTE_TYPES = {
    "text",
    "date",
    "float",
    "boolean",
    "id",
    "category",
    "multiple-choice",
    "user",
}
IDEMPOTENCY_KEYS = ("idempotencyKey", "IdempotencyKey", "Idempotency-Key")


class BrevoError(Exception):
    def __init__(
        self, status: int, code: str, message: str, metadata: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.metadata = metadata

    def body(self) -> dict:
        data: dict = {"code": self.code, "message": self.message}
        if self.metadata:
            data["metadata"] = self.metadata
        return data


def bad(message: str, code: str = "invalid_parameter") -> BrevoError:
    return BrevoError(400, code, message)


@dataclass
class Ctx:
    account: BrevoAccount
    config: SandboxConfig


def body_bytes(request: HttpRequest, limit: int = IMPORT_MAX_BYTES) -> bytes:
    """The raw body, read past Django's upload cap (imports reach 10 MB)."""
    if hasattr(request, "_body"):
        return request._body
    data = request.read(limit + 1)
    request._body = data
    return data


def payload(request: HttpRequest, limit: int = IMPORT_MAX_BYTES) -> dict:
    raw = body_bytes(request, limit)
    if len(raw) > limit:
        raise bad(f"Request body exceeds {limit // 1024} KB")
    if not raw:
        raise bad("No inputs in the body", "missing_parameter")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad("Input must be a valid JSON object", "bad_request") from err
    if not isinstance(data, dict):
        raise bad("Input must be a valid JSON object", "bad_request")
    return data


def bucket_for(path: str, config: SandboxConfig) -> str:
    """Brevo's General-tier bucket for a /v3 path."""
    if path.startswith("contacts"):
        return "contacts"
    if path == "events/batch":
        return config.brevo_events_batch_bucket
    if path.startswith("events"):
        return "events"
    if path == "smtp/email":
        return "smtp"
    if path.startswith("smtp/"):
        return "smtp_other"
    return "other"


def _limits(config: SandboxConfig, bucket: str) -> list[tuple[int, int]]:
    """(limit, period seconds) pairs; every one must hold."""
    if bucket == "contacts":
        return [
            (config.brevo_contacts_per_second, 1),
            (config.brevo_contacts_per_hour, 3600),
        ]
    if bucket == "events":
        return [
            (config.brevo_events_per_second, 1),
            (config.brevo_events_per_hour, 3600),
        ]
    if bucket == "smtp":
        return [(config.brevo_smtp_per_second, 1), (3_600_000, 3600)]
    if bucket == "smtp_other":
        return [(300, 3600)]
    return [(config.brevo_other_per_hour, 3600)]


def _rate_limit(ctx: Ctx, bucket: str) -> tuple[HttpResponse | None, dict]:
    shown = None
    for limit, period in _limits(ctx.config, bucket):
        verdict = limiter.hit(
            f"brevo:{ctx.account.pk}:{bucket}:{period}", limit, period
        )
        headers = {
            "x-sib-ratelimit-limit": str(verdict.limit),
            "x-sib-ratelimit-remaining": str(verdict.remaining),
            "x-sib-ratelimit-reset": str(max(math.ceil(verdict.reset), 1)),
        }
        if not verdict.allowed:
            if ctx.config.brevo_send_retry_after:
                headers["Retry-After"] = headers["x-sib-ratelimit-reset"]
            body = {
                "code": "too_many_requests",
                "message": "The expected rate limit is exceeded.",
            }
            return json_response(body, 429, headers), {}
        if shown is None:
            shown = headers
    return None, shown or {}


def _authenticate(request: HttpRequest) -> BrevoAccount:
    key = request.headers.get("api-key", "")
    if not key:
        raise BrevoError(401, "unauthorized", "authentication not found in headers")
    account = BrevoAccount.objects.filter(api_key=key).first()
    if account is None:
        raise BrevoError(401, "unauthorized", "Key not found")
    return account


def brevo_endpoint(name: str) -> Callable:
    """Wrap ``fn(request, ctx, **kwargs) -> (status, body) | HttpResponse``."""

    def decorate(fn: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(fn)
        def view(request: HttpRequest, **kwargs) -> HttpResponse:
            started = time.monotonic()
            config = SandboxConfig.load()
            path = request.path.split("/brevo/v3/", 1)[-1]
            bucket = bucket_for(path, config)
            outcome = ""
            account_name = ""
            headers: dict[str, str] = {}
            try:
                account = _authenticate(request)
                account_name = str(account.pk)
                ctx = Ctx(account=account, config=config)
                complete_due_imports(account)
                limited = None
                if config.rate_limits:
                    limited, headers = _rate_limit(ctx, bucket)
                if limited is not None:
                    response = limited
                    outcome = "rate_limited"
                elif (status := inject_fault(config, "brevo")) is not None:
                    response = json_response(
                        {"code": "internal_error", "message": "Internal server error"},
                        status,
                    )
                    outcome = "injected"
                else:
                    result = fn(request, ctx, **kwargs)
                    if isinstance(result, HttpResponse):
                        response = result
                    else:
                        status, body = result
                        response = json_response(body, status)
            except BrevoError as err:
                response = json_response(err.body(), err.status)
                outcome = "auth" if err.status == 401 else ""
            for key, value in headers.items():
                response[key] = value
            log_call(
                request,
                api="brevo",
                endpoint=name,
                category=bucket,
                account=account_name,
                status=response.status_code,
                started=started,
                outcome=outcome,
            )
            return response

        return view

    return decorate


def methods(**handlers: Callable) -> Callable:
    """One URL, a view per HTTP method; 405 in Brevo's shape otherwise."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        handler = handlers.get((request.method or "").lower())
        if handler is None:
            return json_response(
                {
                    "code": "method_not_allowed",
                    "message": f"{request.method} Method is not allowed on this path",
                },
                405,
            )
        return handler(request, **kwargs)

    return view


# -------------------------------------------------------------- attributes


def iso_ms(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def _coerce(attribute: Attribute, value):
    """The value to store, or raise ValueError when it does not fit the type."""
    if value is None:
        return None
    kind = attribute.type
    if kind == "text":  # the common case first
        if isinstance(value, str):
            return value
        if isinstance(value, dict | list):
            raise ValueError("not text")
        return str(value)
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("boolean in a float attribute")
        if isinstance(value, int | float):
            return value
        return float(str(value))
    if kind == "date":
        # Brevo keeps dates as YYYY-MM-DD.
        if not isinstance(value, str) or not DATE_RE.match(value):
            raise ValueError("date must be YYYY-MM-DD")
        date.fromisoformat(value)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ValueError("not a boolean")
    if kind == "category":
        allowed = {item.get("value") for item in attribute.enumeration}
        if allowed and value not in allowed:
            raise ValueError("not a category value")
        return value
    return value


def clean_attributes(
    ctx: Ctx,
    raw: dict | None,
    *,
    importing: bool = False,
    known: dict[str, Attribute] | None = None,
) -> dict:
    """Attributes as Brevo keeps them: known names, values of the right type.

    Unknown names: ignored at import (documented); on create/update per the
    ``brevo_unknown_attributes`` switch. Wrong types are ignored (documented),
    bad dates per ``brevo_bad_dates``.
    """
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise bad("attributes should be an object")
    if known is None:
        known = known_attributes(ctx)
    clean: dict = {}
    for name, value in raw.items():
        key = str(name).upper()
        if key in ("EMAIL", "SMS", "EXT_ID") and key not in known:
            clean[key] = value
            continue
        attribute = known.get(key)
        if attribute is None:
            if not importing and ctx.config.brevo_unknown_attributes == "reject":
                raise bad(f"Attribute not found: {key}")
            continue
        try:
            clean[key] = _coerce(attribute, value)
        except ValueError as err:
            if (
                attribute.type == "date"
                and not importing
                and ctx.config.brevo_bad_dates == "reject"
            ):
                raise bad(f"Invalid date format for attribute {key}") from err
    return clean


def known_attributes(ctx: Ctx) -> dict[str, Attribute]:
    return {a.name: a for a in Attribute.objects.filter(account=ctx.account)}


# ---------------------------------------------------------------- contacts


def contact_json(contact: Contact) -> dict:
    return {
        "email": contact.email,
        "id": contact.pk,
        "emailBlacklisted": contact.email_blacklisted,
        "smsBlacklisted": contact.sms_blacklisted,
        "createdAt": iso_ms(contact.created_at),
        "modifiedAt": iso_ms(contact.modified_at),
        "attributes": contact.attributes,
        "listIds": sorted(lst.list_id for lst in contact.lists.all()),
        "statistics": {},
    }


def _lists(ctx: Ctx, list_ids: Iterable) -> list[ContactList]:
    wanted = []
    for value in list_ids or []:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("listIds should be an array of integers")
        wanted.append(value)
    found = list(ContactList.objects.filter(account=ctx.account, list_id__in=wanted))
    missing = set(wanted) - {lst.list_id for lst in found}
    if missing:
        raise bad(f"Invalid list id: {sorted(missing)[0]}")
    return found


def _email(value) -> str:
    if not isinstance(value, str) or not EMAIL_RE.match(value.strip()):
        raise bad("Invalid email address")
    return value.strip().lower()


def _find(ctx: Ctx, identifier: str, identifier_type: str = "") -> Contact:
    contacts = Contact.objects.filter(account=ctx.account)
    if identifier_type == "email_id" or (not identifier_type and "@" in identifier):
        found = contacts.filter(email=identifier.lower()).first()
    elif identifier_type == "contact_id" or (
        not identifier_type and identifier.isdigit()
    ):
        found = (
            contacts.filter(pk=int(identifier)).first()
            if identifier.isdigit()
            else None
        )
    elif identifier_type == "ext_id":
        found = contacts.filter(ext_id=identifier).first()
    elif identifier_type in ("phone_id", "whatsapp_id", "landline_number_id"):
        found = next(
            (c for c in contacts if str(c.attributes.get("SMS", "")) == identifier),
            None,
        )
    else:
        raise bad("identifierType is invalid")
    if found is None:
        raise BrevoError(404, "document_not_found", "Contact does not exist")
    return found


@brevo_endpoint("create_contact")
@transaction.atomic
def create_contact(request: HttpRequest, ctx: Ctx):
    data = payload(request)
    email_raw = data.get("email")
    ext_id = str(data.get("ext_id") or "")
    attributes = clean_attributes(ctx, data.get("attributes"))
    if not email_raw and not ext_id and not attributes.get("SMS"):
        raise bad(
            "Please provide Email or SMS attribute value to create user",
            "missing_parameter",
        )
    email = _email(email_raw) if email_raw else ""
    lists = _lists(ctx, data.get("listIds"))
    existing = _existing(ctx, email, ext_id)
    if existing is None:
        contact = Contact(
            account=ctx.account, email=email, ext_id=ext_id, attributes=attributes
        )
        _blacklists(contact, data)
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError:
            # Created by a concurrent request since we looked: treat as existing.
            existing = _existing(ctx, email, ext_id)
        else:
            contact.lists.add(*lists)
            return 201, {"id": contact.pk}
    if not data.get("updateEnabled"):
        raise BrevoError(
            400,
            "duplicate_parameter",
            "Unable to create contact, email is already associated with "
            "another Contact",
            {"duplicate_identifiers": ["email" if email else "ext_id"]},
        )
    existing.attributes = {**existing.attributes, **attributes}
    if ext_id:
        existing.ext_id = ext_id
    _blacklists(existing, data)
    existing.modified_at = timezone.now()
    existing.save()
    existing.lists.add(*lists)
    return 204, None


def _existing(ctx: Ctx, email: str, ext_id: str) -> Contact | None:
    contacts = Contact.objects.select_for_update().filter(account=ctx.account)
    found = contacts.filter(email=email).first() if email else None
    if found is None and ext_id:
        found = contacts.filter(ext_id=ext_id).first()
    return found


def _blacklists(contact: Contact, data: dict) -> None:
    if "emailBlacklisted" in data:
        contact.email_blacklisted = bool(data["emailBlacklisted"])
    if "smsBlacklisted" in data:
        contact.sms_blacklisted = bool(data["smsBlacklisted"])


def _update(ctx: Ctx, contact: Contact, data: dict) -> None:
    attributes = clean_attributes(ctx, data.get("attributes"))
    new_email = attributes.pop("EMAIL", None)
    if new_email:
        new_email = _email(new_email)
        clash = (
            Contact.objects.filter(account=ctx.account, email=new_email)
            .exclude(pk=contact.pk)
            .exists()
        )
        if clash:
            raise BrevoError(
                400,
                "duplicate_parameter",
                "Unable to update contact, email is already associated with "
                "another Contact",
                {"duplicate_identifiers": ["email"]},
            )
        contact.email = new_email
        if contact.email_blacklisted:
            contact.email_blacklisted = False
    contact.attributes = {**contact.attributes, **attributes}
    if data.get("ext_id"):
        contact.ext_id = str(data["ext_id"])
    _blacklists(contact, data)
    contact.modified_at = timezone.now()
    contact.save()
    contact.lists.add(*_lists(ctx, data.get("listIds")))
    unlink = _lists(ctx, data.get("unlinkListIds"))
    if unlink:
        contact.lists.remove(*unlink)


@brevo_endpoint("get_contact")
def get_contact(request: HttpRequest, ctx: Ctx, identifier: str):
    contact = _find(ctx, identifier, request.GET.get("identifierType", ""))
    return 200, contact_json(contact)


@brevo_endpoint("update_contact")
@transaction.atomic
def update_contact(request: HttpRequest, ctx: Ctx, identifier: str):
    contact = _find(ctx, identifier, request.GET.get("identifierType", ""))
    _update(ctx, contact, payload(request))
    return 204, None


@brevo_endpoint("delete_contact")
def delete_contact(request: HttpRequest, ctx: Ctx, identifier: str):
    _find(ctx, identifier, request.GET.get("identifierType", "")).delete()
    return 204, None


def _limit_offset(request: HttpRequest, default: int, maximum: int) -> tuple[int, int]:
    try:
        limit = int(request.GET.get("limit", default))
        offset = int(request.GET.get("offset", 0))
    except ValueError as err:
        raise bad("limit and offset must be integers") from err
    if not 0 <= limit <= maximum or offset < 0:
        raise bad(f"limit must be between 0 and {maximum}", "out_of_range")
    return limit, offset


@brevo_endpoint("list_contacts")
def list_contacts(request: HttpRequest, ctx: Ctx):
    limit, offset = _limit_offset(request, 50, 1000)
    qs = Contact.objects.filter(account=ctx.account).prefetch_related("lists")
    if request.GET.get("listIds"):
        ids_ = [int(x) for x in request.GET["listIds"].split(",") if x.isdigit()]
        qs = qs.filter(lists__list_id__in=ids_).distinct()
    order = "id" if request.GET.get("sort") == "asc" else "-id"
    rows = qs.order_by(order)[offset : offset + limit]
    return 200, {"contacts": [contact_json(c) for c in rows], "count": qs.count()}


@brevo_endpoint("update_batch_contacts")
@transaction.atomic
def update_batch(request: HttpRequest, ctx: Ctx):
    data = payload(request)
    items = data.get("contacts")
    if not isinstance(items, list) or not items:
        raise bad("contacts is required", "missing_parameter")
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"contacts[{n}] should be an object")
        given = [k for k in ("email", "id", "sms") if item.get(k)]
        if len(given) != 1:
            raise bad(f"contacts[{n}]: give exactly one of email, id or sms")
        key = given[0]
        if key == "email":
            contact = _find(ctx, str(item["email"]), "email_id")
        elif key == "id":
            contact = _find(ctx, str(item["id"]), "contact_id")
        else:
            contact = _find(ctx, str(item["sms"]), "phone_id")
        _update(ctx, contact, item)
    return 204, None


def _members(data: dict) -> tuple[str, list]:
    given = [k for k in ("emails", "ids", "extIds") if k in data]
    if len(given) != 1:
        raise bad("Give one of emails, ids or extIds")
    values = data[given[0]]
    if not isinstance(values, list) or not values:
        raise bad(f"{given[0]} should be a non-empty array")
    if len(values) > 150:
        raise bad(f"{given[0]} accepts at most 150 items", "out_of_range")
    return given[0], values


def _list(ctx: Ctx, list_id: int) -> ContactList:
    found = ContactList.objects.filter(account=ctx.account, list_id=list_id).first()
    if found is None:
        raise BrevoError(404, "document_not_found", "List ID not found")
    return found


def _contacts_for(ctx: Ctx, kind: str, values: list) -> dict:
    qs = Contact.objects.filter(account=ctx.account)
    if kind == "emails":
        keyed = {
            c.email: c for c in qs.filter(email__in=[str(v).lower() for v in values])
        }
        return {v: keyed.get(str(v).lower()) for v in values}
    if kind == "ids":
        keyed = {
            c.pk: c for c in qs.filter(pk__in=[v for v in values if isinstance(v, int)])
        }
        return {v: keyed.get(v) for v in values}
    keyed = {c.ext_id: c for c in qs.filter(ext_id__in=[str(v) for v in values])}
    return {v: keyed.get(str(v)) for v in values}


@brevo_endpoint("add_contact_to_list")
@transaction.atomic
def add_to_list(request: HttpRequest, ctx: Ctx, list_id: int):
    target = _list(ctx, list_id)
    kind, values = _members(payload(request))
    members = set(target.contacts.values_list("pk", flat=True))
    success, failure = [], []
    for value, contact in _contacts_for(ctx, kind, values).items():
        if contact is None or contact.pk in members:
            failure.append(value)
        else:
            target.contacts.add(contact)
            members.add(contact.pk)
            success.append(value)
    return 201, {"contacts": {"success": success, "failure": failure}}


@brevo_endpoint("remove_contact_from_list")
@transaction.atomic
def remove_from_list(request: HttpRequest, ctx: Ctx, list_id: int):
    target = _list(ctx, list_id)
    kind, values = _members(payload(request))
    members = set(target.contacts.values_list("pk", flat=True))
    success, failure = [], []
    for value, contact in _contacts_for(ctx, kind, values).items():
        if contact is None or contact.pk not in members:
            failure.append(value)
        else:
            target.contacts.remove(contact)
            success.append(value)
    return 201, {"contacts": {"success": success, "failure": failure}}


def list_json(lst: ContactList) -> dict:
    return {
        "id": lst.list_id,
        "name": lst.name,
        "folderId": lst.folder_id,
        "uniqueSubscribers": lst.contacts.count(),
        "totalBlacklisted": 0,
        "totalSubscribers": 0,
        "createdAt": iso_ms(lst.created_at),
    }


@brevo_endpoint("get_lists")
def get_lists(request: HttpRequest, ctx: Ctx):
    limit, offset = _limit_offset(request, 10, 50)
    qs = ContactList.objects.filter(account=ctx.account)
    rows = qs[offset : offset + limit]
    return 200, {"lists": [list_json(x) for x in rows], "count": qs.count()}


@brevo_endpoint("create_list")
@transaction.atomic
def create_list(request: HttpRequest, ctx: Ctx):
    data = payload(request)
    name, folder = data.get("name"), data.get("folderId")
    if not name or not isinstance(name, str):
        raise bad("name is required", "missing_parameter")
    if not isinstance(folder, int) or isinstance(folder, bool):
        raise bad("folderId is required", "missing_parameter")
    if not Folder.objects.filter(account=ctx.account, pk=folder).exists():
        raise bad("Folder ID does not exist")
    last = (
        ContactList.objects.filter(account=ctx.account)
        .order_by("-list_id")
        .values_list("list_id", flat=True)
        .first()
    )
    lst = ContactList.objects.create(
        account=ctx.account, list_id=(last or 0) + 1, name=name, folder_id=folder
    )
    return 201, {"id": lst.list_id}


@brevo_endpoint("get_list")
def get_list(request: HttpRequest, ctx: Ctx, list_id: int):
    return 200, list_json(_list(ctx, list_id))


@brevo_endpoint("get_contacts_from_list")
def list_contacts_in_list(request: HttpRequest, ctx: Ctx, list_id: int):
    lst = _list(ctx, list_id)
    limit, offset = _limit_offset(request, 50, 500)
    qs = lst.contacts.prefetch_related("lists").order_by("-id")
    rows = qs[offset : offset + limit]
    return 200, {"contacts": [contact_json(c) for c in rows], "count": qs.count()}


@brevo_endpoint("get_folders")
def get_folders(request: HttpRequest, ctx: Ctx):
    limit, offset = _limit_offset(request, 10, 50)
    qs = Folder.objects.filter(account=ctx.account).order_by("id")
    rows = [
        {
            "id": f.pk,
            "name": f.name,
            "uniqueSubscribers": 0,
            "totalSubscribers": 0,
            "totalBlacklisted": 0,
        }
        for f in qs[offset : offset + limit]
    ]
    return 200, {"folders": rows, "count": qs.count()}


@brevo_endpoint("create_folder")
def create_folder(request: HttpRequest, ctx: Ctx):
    name = payload(request).get("name")
    if not name or not isinstance(name, str):
        raise bad("name is required", "missing_parameter")
    return 201, {"id": Folder.objects.create(account=ctx.account, name=name).pk}


@brevo_endpoint("get_attributes")
def get_attributes(request: HttpRequest, ctx: Ctx):
    items = []
    for attribute in Attribute.objects.filter(account=ctx.account):
        item = {
            "name": attribute.name,
            "category": attribute.category,
            "type": attribute.type,
        }
        if attribute.enumeration:
            item["enumeration"] = attribute.enumeration
        items.append(item)
    return 200, {"attributes": items}


@brevo_endpoint("create_attribute")
def create_attribute(request: HttpRequest, ctx: Ctx, category: str, name: str):
    if category not in ATTRIBUTE_CATEGORIES:
        raise bad("attributeCategory is invalid")
    data = payload(request)
    kind = data.get("type", "text")
    if kind not in ATTRIBUTE_TYPES:
        raise bad("type is invalid")
    if kind in ("boolean", "multiple-choice", "user") and category != "normal":
        raise bad(f"type {kind} is only allowed with category normal")
    if (kind == "category") != (category == "category"):
        raise bad("type category goes with category category")
    if kind == "id" and category != "transactional":
        raise bad("type id is only allowed with category transactional")
    key = name.upper()
    try:
        with transaction.atomic():
            Attribute.objects.create(
                account=ctx.account,
                name=key,
                category=category,
                type=kind,
                enumeration=data.get("enumeration") or [],
            )
    except IntegrityError as err:
        raise bad("Attribute name must be unique") from err
    return 201, None


# ------------------------------------------------------------------ import


def _parse_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    rows = []
    for line in reader:
        values = {str(k).strip().upper(): v for k, v in line.items() if k}
        email = values.pop("EMAIL", "") or ""
        rows.append(
            {"email": email, "attributes": {k: v for k, v in values.items() if v}}
        )
    return rows


@brevo_endpoint("import_contacts")
def import_contacts(request: HttpRequest, ctx: Ctx):
    # The body is read and checked before the transaction: on SQLite a write
    # transaction holds the database, and parsing megabytes inside one would
    # keep the imports already accepted from being written meanwhile.
    data = payload(request)
    if data.get("fileUrl"):
        # Not yet: fetching fileUrl; add when the portal imports from a file URL.
        raise bad("fileUrl is not supported by the sandbox; send jsonBody or fileBody")
    if isinstance(data.get("jsonBody"), list):
        rows = data["jsonBody"]
    elif isinstance(data.get("fileBody"), str):
        rows = _parse_csv(data["fileBody"])
    else:
        raise bad(
            "One of fileUrl, fileBody or jsonBody is required", "missing_parameter"
        )
    list_ids = data.get("listIds") or []
    new_list = data.get("newList")
    if not list_ids and not new_list:
        raise bad("listIds or newList is required", "missing_parameter")
    if new_list and (not isinstance(new_list, dict) or not new_list.get("listName")):
        raise bad("newList.listName is required", "missing_parameter")
    with transaction.atomic():
        return _accept_import(ctx, data, rows, list_ids, new_list)


def _accept_import(
    ctx: Ctx, data: dict, rows: list, list_ids: list, new_list: dict | None
) -> tuple[int, dict]:
    lists = _lists(ctx, list_ids)
    if new_list:
        last = max(
            [x.list_id for x in ContactList.objects.filter(account=ctx.account)] or [0]
        )
        lists.append(
            ContactList.objects.create(
                account=ctx.account,
                list_id=last + 1,
                name=new_list["listName"],
                folder_id=new_list.get("folderId") or 1,
            )
        )
    now = timezone.now()
    process = ImportProcess.objects.create(
        account=ctx.account,
        created_at=now,  # the processing time is counted from the same instant
        payload={
            "rows": rows,
            "listIds": [x.list_id for x in lists],
            "updateExistingContacts": data.get("updateExistingContacts", True),
            "emptyContactsAttributes": data.get("emptyContactsAttributes", False),
        },
        notify_url=str(data.get("notifyUrl") or ""),
        due_at=now + timedelta(seconds=max(ctx.config.brevo_import_seconds, 0.0)),
    )
    transaction.on_commit(lambda: _process_in_background(process))
    return 202, {"processId": process.pk}


def _process_in_background(process: ImportProcess) -> None:
    """Work on an accepted import at once, as Brevo does, on a thread of its own.

    The thread is handed the rows as they were accepted: reading megabytes
    back from the database would only delay the work.
    """

    def run() -> None:
        try:
            finish_import(process)
        finally:
            # A thread's connection would otherwise stay open.
            connection.close()

    name = f"brevo-import-{process.pk}"
    threading.Thread(target=run, name=name, daemon=True).start()


def complete_due_imports(account: BrevoAccount) -> None:
    """Finish imports whose thread never ran (the server restarted meanwhile)."""
    for process in ImportProcess.objects.filter(
        account=account, completed_at=None, due_at__lte=timezone.now()
    ):
        finish_import(process)


# One import applied at a time in this process: each reads who exists, then
# writes; two at once could both find an address new.
_applying = threading.Lock()


def finish_import(process: ImportProcess) -> None:
    """Apply an import once (whoever gets here first), then report it done.

    ``brevo_import_seconds`` is how long Brevo takes over an import: the rows
    are written during that time (contacts appear while the process is
    ``in_process``, as they do at Brevo) and the end is reported when it is
    over, or when the writing is, if that takes longer. Then notifyUrl is
    called.
    """
    claimed = ImportProcess.objects.filter(pk=process.pk, completed_at=None).update(
        status="in_process", completed_at=process.due_at
    )
    if not claimed:
        return
    process.refresh_from_db(fields=["status", "completed_at"])
    rows = len(process.payload["rows"])
    try:
        with _applying:
            # Rows go in by the few thousand, each batch its own transaction,
            # so the API's other writes (the next import's POST) do not wait
            # for the whole import. Contacts appear while it is in_process.
            info = apply_import(process)
    except Exception as err:
        # Some rows may be in: the process ends "failed", as Brevo reports it,
        # instead of staying in_process for ever.
        logger.exception(
            "sandbox.brevo.import_failed", extra={"process_id": process.pk}
        )
        ImportProcess.objects.filter(pk=process.pk).update(
            status="failed",
            completed_at=timezone.now(),
            info={"error": f"{type(err).__name__}: {err}"[:500]},
            payload={**process.payload, "rows": rows},
        )
        return
    process.status = "completed"
    process.info = {"import": info}
    process.payload = {**process.payload, "rows": rows}
    process.completed_at = max(process.due_at, timezone.now())
    process.save(update_fields=["status", "info", "payload", "completed_at"])
    wait = (process.completed_at - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)
    if process.notify_url:
        # The sandbox does not retry notifications; the process stays readable.
        with contextlib.suppress(requests.RequestException):
            requests.post(
                process.notify_url,
                json={"processId": process.pk, "status": "completed"},
                timeout=5,
            )


def apply_import(process: ImportProcess) -> dict:
    ctx = Ctx(account=process.account, config=SandboxConfig.load())
    data = process.payload
    update_existing = data.get("updateExistingContacts", True)
    empty_attributes = data.get("emptyContactsAttributes", False)
    invalid = duplicates = 0
    wanted: dict[str, dict] = {}
    known = known_attributes(ctx)  # once per import, not once per row
    match = EMAIL_RE.match
    for row in data["rows"]:
        if not isinstance(row, dict):
            row = {}
        email = str(row.get("email") or "").strip().lower()
        if not match(email):
            invalid += 1
            continue
        if email in wanted:
            duplicates += 1
        attributes = clean_attributes(
            ctx, row.get("attributes"), importing=True, known=known
        )
        if not empty_attributes:
            attributes = {k: v for k, v in attributes.items() if v not in ("", None)}
        wanted[email] = attributes
    now = timezone.now()
    # One read of the account's addresses finds who exists already; only
    # those are loaded whole.
    ids = dict(
        Contact.objects.filter(account=process.account).values_list("email", "pk")
    )
    found = [ids[email] for email in wanted if email in ids]
    existing: dict[str, Contact] = {}
    for start in range(0, len(found), 500):
        for contact in Contact.objects.filter(pk__in=found[start : start + 500]):
            existing[contact.email] = contact
    changed = []
    if update_existing:
        for email, contact in existing.items():
            contact.attributes = {**contact.attributes, **wanted[email]}
            contact.modified_at = now
            changed.append(contact)
        fast_update(Contact, ["attributes", "modified_at"], changed)
    # New contacts and list memberships go in with one executemany each:
    # bulk_create spends seconds preparing a 10,000-contact import row by row.
    # The JSON column's value as the field prepares it, without the field's
    # per-row checks for expressions and None.
    encoder = Contact._meta.get_field("attributes").encoder
    adapt_json = connection.ops.adapt_json_value
    new = [email for email in wanted if email not in existing]
    fast_insert(
        Contact,
        ["account", "email", "ext_id", "attributes", "email_blacklisted",
         "sms_blacklisted", "created_at", "modified_at"],
        [
            (process.account_id, email, "", adapt_json(wanted[email], encoder),
             False, False, now, now)
            for email in new
        ],
    )  # fmt: skip
    member_ids: list[int] = []
    if new:
        ids = dict(
            Contact.objects.filter(
                account=process.account, pk__gt=max(ids.values(), default=0)
            ).values_list("email", "pk")
        )
        member_ids += [ids[email] for email in new]
    member_ids += [c.pk for c in (changed if update_existing else existing.values())]
    lists = list(
        ContactList.objects.filter(account=process.account, list_id__in=data["listIds"])
    )
    Through = Contact.lists.through
    already = set()
    old_ids = [c.pk for c in existing.values()]
    for start in range(0, len(old_ids), 500):
        already.update(
            Through.objects.filter(
                contact_id__in=old_ids[start : start + 500]
            ).values_list("contact_id", "contactlist_id")
        )
    fast_insert(
        Through,
        ["contact", "contactlist"],
        [
            (contact_id, lst.pk)
            for contact_id in member_ids
            for lst in lists
            if (contact_id, lst.pk) not in already
        ],
    )
    return {
        "invalid_emails": invalid,
        "duplicate_contact_id": 0,
        "duplicate_ext_id": 0,
        "duplicate_email_id": duplicates,
        "duplicate_phone_id": 0,
    }


def process_json(process: ImportProcess) -> dict:
    status = process.status
    ended = status == "failed" or (
        status == "completed" and process.completed_at <= timezone.now()
    )
    if not ended:
        remaining = (process.due_at - timezone.now()).total_seconds()
        total = max((process.due_at - process.created_at).total_seconds(), 0.001)
        status = "queued" if remaining > total / 2 else "in_process"
    return {
        "id": process.pk,
        "name": process.name,
        "status": status,
        "info": process.info if status == "completed" else None,
        "export_url": None,
        "error": (process.info or {}).get("error") if status == "failed" else None,
        "created_at": iso_ms(process.created_at),
        "completed_at": iso_ms(process.completed_at) if ended else None,
    }


@brevo_endpoint("get_process")
def get_process(request: HttpRequest, ctx: Ctx, process_id: int):
    process = ImportProcess.objects.filter(account=ctx.account, pk=process_id).first()
    if process is None:
        raise BrevoError(404, "invalid_parameter", "processId is invalid")
    return 200, process_json(process)


@brevo_endpoint("get_processes")
def get_processes(request: HttpRequest, ctx: Ctx):
    limit, offset = _limit_offset(request, 10, 50)
    qs = ImportProcess.objects.filter(account=ctx.account)
    rows = qs[offset : offset + limit]
    return 200, {"processes": [process_json(p) for p in rows], "count": qs.count()}


# ------------------------------------------------------------------ events


def _event(ctx: Ctx, item) -> Event:
    """Validate one event and build (not save) its row; raise BrevoError."""
    if not isinstance(item, dict):
        raise bad("event should be an object")
    name = item.get("event_name")
    if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
        raise bad("event_name is invalid: letters, digits, - and _ only, ≤255")
    identifiers = item.get("identifiers")
    known = (
        "email_id",
        "ext_id",
        "phone_id",
        "whatsapp_id",
        "landline_number_id",
        "contact_id",
    )
    if not isinstance(identifiers, dict) or not any(identifiers.get(k) for k in known):
        raise bad(
            "identifiers must contain at least one identifier", "missing_parameter"
        )
    properties = item.get("event_properties") or {}
    if not isinstance(properties, dict):
        raise bad("event_properties should be an object")
    if len(json.dumps(properties).encode()) > EVENT_PROPERTIES_MAX_BYTES:
        raise bad("event_properties exceeds 50 KB")
    for key in properties:
        if not EVENT_NAME_RE.match(str(key)):
            raise bad(f"event_properties key is invalid: {key}")
    contact_properties = item.get("contact_properties") or {}
    if not isinstance(contact_properties, dict):
        raise bad("contact_properties should be an object")
    event_date = item.get("event_date") or ""
    if event_date:
        try:
            datetime.fromisoformat(str(event_date).replace("Z", "+00:00"))
        except ValueError as err:
            raise bad("event_date should be ISO 8601") from err
    contacts = Contact.objects.filter(account=ctx.account)
    contact = None
    if identifiers.get("contact_id"):
        contact = contacts.filter(pk=identifiers["contact_id"]).first()
    elif identifiers.get("email_id"):
        contact = contacts.filter(email=str(identifiers["email_id"]).lower()).first()
    elif identifiers.get("ext_id"):
        contact = contacts.filter(ext_id=str(identifiers["ext_id"])).first()
    return Event(
        account=ctx.account,
        contact=contact,
        event_name=name,
        event_date=str(event_date) or iso_ms(timezone.now()),
        identifiers=identifiers,
        contact_properties=contact_properties,
        event_properties=properties,
    )


def _save_event(ctx: Ctx, event: Event) -> None:
    email = str(event.identifiers.get("email_id") or "").lower()
    if event.contact is None and email and ctx.config.brevo_events_create_contacts:
        event.contact = Contact.objects.create(account=ctx.account, email=_email(email))
    if event.contact is not None and event.contact_properties:
        clean = clean_attributes(ctx, event.contact_properties, importing=True)
        event.contact.attributes = {**event.contact.attributes, **clean}
        event.contact.modified_at = timezone.now()
        event.contact.save(update_fields=["attributes", "modified_at"])
    event.save()


@brevo_endpoint("create_event")
@transaction.atomic
def create_event(request: HttpRequest, ctx: Ctx):
    _save_event(ctx, _event(ctx, payload(request)))
    return 204, None


@brevo_endpoint("create_batch_events")
@transaction.atomic
def create_batch_events(request: HttpRequest, ctx: Ctx):
    data = payload(request, EVENTS_BATCH_MAX_BYTES)
    items = data.get("events")
    if not isinstance(items, list) or not items:
        raise bad("events is required", "missing_parameter")
    if len(items) > 200:
        raise bad("A batch accepts at most 200 events", "out_of_range")
    errors = []
    accepted = 0
    for n, item in enumerate(items):
        try:
            event = _event(ctx, item)
        except BrevoError as err:
            errors.append({"eventIndex": [n], "message": err.message})
            continue
        _save_event(ctx, event)
        accepted += 1
    if errors and not accepted:
        raise bad(errors[0]["message"])
    if errors:
        return 207, {
            "status": "partial_success",
            "total_events": len(items),
            "successful_events": accepted,
            "failed_events": len(errors),
            "errors": errors,
        }
    return 202, {
        "message": "Batch accepted. Valid events have been added to the processing "
        "queue.",
        "count": accepted,
    }


@brevo_endpoint("get_events")
def get_events(request: HttpRequest, ctx: Ctx):
    limit, offset = _limit_offset(request, 100, 10000)
    qs = Event.objects.filter(account=ctx.account)
    if request.GET.get("event_name"):
        qs = qs.filter(event_name=request.GET["event_name"])
    rows = [
        {
            "event_name": e.event_name,
            "event_date": e.event_date,
            "identifiers": e.identifiers,
            "contact_id": e.contact_id,
            "event_properties": e.event_properties,
        }
        for e in qs[offset : offset + limit]
    ]
    return 200, {"events": rows, "count": qs.count()}


# ------------------------------------------------------------------- email


def _recipients(value, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise bad(f"{field} is required", "missing_parameter")
    clean = []
    for item in value:
        if not isinstance(item, dict) or not item.get("email"):
            raise bad(f"{field}: each recipient needs an email")
        clean.append(
            {
                "email": _email(item["email"]),
                **({"name": item["name"]} if item.get("name") else {}),
            }
        )
    return clean


@brevo_endpoint("send_transac_email")
@transaction.atomic
def send_email(request: HttpRequest, ctx: Ctx):
    data = payload(request)
    template_id = data.get("templateId")
    if template_id is not None and (
        not isinstance(template_id, int) or isinstance(template_id, bool)
    ):
        raise bad("templateId should be an integer")
    if template_id is None:
        sender = data.get("sender")
        if not isinstance(sender, dict) or not (
            sender.get("email") or sender.get("id")
        ):
            raise bad("sender is required", "missing_parameter")
        if not data.get("subject"):
            raise bad("subject is required", "missing_parameter")
        if not (data.get("htmlContent") or data.get("textContent")):
            raise bad("htmlContent or textContent is required", "missing_parameter")
    headers = data.get("headers") or {}
    key = next((str(headers[k]) for k in IDEMPOTENCY_KEYS if headers.get(k)), "")
    if key:
        since = timezone.now() - timedelta(
            seconds=ctx.config.brevo_idempotency_ttl_seconds
        )
        if SentEmail.objects.filter(
            account=ctx.account, idempotency_key=key, created_at__gte=since
        ).exists():
            raise bad(
                "Request with the same idempotency key was already processed",
                "duplicate_parameter",
            )
    versions = data.get("messageVersions")
    if versions:
        if not isinstance(versions, list):
            raise bad("messageVersions should be an array")
        batches = [
            (
                _recipients(v.get("to"), "messageVersions.to"),
                {**(data.get("params") or {}), **(v.get("params") or {})},
                v.get("subject") or data.get("subject") or "",
            )
            for v in versions
        ]
    else:
        batches = [
            (
                _recipients(data.get("to"), "to"),
                data.get("params") or {},
                data.get("subject") or "",
            )
        ]
    message_ids = []
    for to, params, subject in batches:
        message_id = ids.message_id()
        message_ids.append(message_id)
        SentEmail.objects.create(
            account=ctx.account,
            message_id=message_id,
            to=to,
            subject=subject,
            template_id=template_id,
            params=params,
            tags=data.get("tags") or [],
            idempotency_key=key,
        )
    if versions:
        return 201, {"messageIds": message_ids}
    return 201, {"messageId": message_ids[0]}


@brevo_endpoint("create_email_campaign")
def create_campaign(request: HttpRequest, ctx: Ctx):
    data = payload(request)
    if not data.get("name"):
        raise bad("name is required", "missing_parameter")
    sender = data.get("sender")
    if not isinstance(sender, dict) or not (sender.get("email") or sender.get("id")):
        raise bad("sender is required", "missing_parameter")
    if sender.get("email") and sender.get("id"):
        raise bad("sender: give email or id, not both")
    if not data.get("subject") and not data.get("abTesting"):
        raise bad("subject is required", "missing_parameter")
    if not any(data.get(k) for k in ("htmlContent", "htmlUrl", "templateId")):
        raise bad(
            "One of htmlContent, htmlUrl or templateId is required", "missing_parameter"
        )
    recipients = data.get("recipients") or {}
    list_ids = recipients.get("listIds") or []
    _lists(ctx, list_ids)
    campaign = Campaign.objects.create(
        account=ctx.account,
        name=data["name"],
        subject=data.get("subject") or "",
        sender=sender,
        template_id=data.get("templateId"),
        html_content=data.get("htmlContent") or "",
        list_ids=list_ids,
        params=data.get("params") or {},
    )
    return 201, {"id": campaign.pk}


@brevo_endpoint("get_email_campaign")
def get_campaign(request: HttpRequest, ctx: Ctx, campaign_id: int):
    campaign = Campaign.objects.filter(account=ctx.account, pk=campaign_id).first()
    if campaign is None:
        raise BrevoError(404, "document_not_found", "Campaign ID not found")
    return 200, {
        "id": campaign.pk,
        "name": campaign.name,
        "subject": campaign.subject,
        "type": "classic",
        "status": campaign.status,
        "sender": campaign.sender,
        "recipients": {"lists": campaign.list_ids, "exclusionLists": []},
        "sentDate": iso_ms(campaign.sent_at),
        "createdAt": iso_ms(campaign.created_at),
    }


@brevo_endpoint("send_email_campaign_now")
@transaction.atomic
def send_campaign_now(request: HttpRequest, ctx: Ctx, campaign_id: int):
    campaign = (
        Campaign.objects.select_for_update()
        .filter(account=ctx.account, pk=campaign_id)
        .first()
    )
    if campaign is None:
        raise BrevoError(404, "document_not_found", "Campaign ID not found")
    if campaign.status == "sent":
        raise bad("Campaign could not be sent", "campaign_sent")
    if not campaign.list_ids:
        raise bad("Campaign could not be sent: no recipients", "invalid_parameter")
    contacts = (
        Contact.objects.filter(
            account=ctx.account,
            lists__list_id__in=campaign.list_ids,
            email_blacklisted=False,
        )
        .exclude(email="")
        .distinct()
    )
    emails = [
        SentEmail(
            account=ctx.account,
            campaign=campaign,
            message_id=ids.message_id(),
            to=[{"email": c.email}],
            subject=campaign.subject,
            template_id=campaign.template_id,
            params=campaign.params,
        )
        for c in contacts
    ]
    SentEmail.objects.bulk_create(emails, batch_size=500)
    campaign.status = "sent"
    campaign.sent_at = timezone.now()
    campaign.recipients = len(emails)
    campaign.save(update_fields=["status", "sent_at", "recipients"])
    return 204, None


@brevo_endpoint("get_account")
def get_account(request: HttpRequest, ctx: Ctx):
    return 200, {
        "email": ctx.account.email,
        "firstName": "Sandbox",
        "lastName": "Marketer",
        "companyName": ctx.account.company,
        "address": {"street": "", "city": "", "zipCode": "", "country": "France"},
        "plan": [{"type": "free", "credits": 300, "creditsType": "sendLimit"}],
        "relay": {
            "enabled": True,
            "data": {
                "userName": ctx.account.email,
                "relay": "smtp-relay.sandbox.example",
                "port": 587,
            },
        },
    }
