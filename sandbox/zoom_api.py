"""Zoom REST API v2 as the portal uses it: users, meetings, webinars, past
instances and participants, reports, registrants and recordings.

Every endpoint goes through ``zoom_endpoint``: bearer token (401 code 124 when
expired or unknown), scope check (code 4711), rate limit of its category (429
with ``X-RateLimit-*``), injected faults, and a ``CallLog`` row.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import unquote

from django.core import signing
from django.db.models import Count, Max, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import ids
from .models import (
    IssuedToken,
    Meeting,
    Occurrence,
    Participant,
    Recording,
    Registrant,
    SandboxConfig,
    ZoomAccount,
    ZoomUser,
)
from .runtime import inject_fault, json_response, limiter, log_call, next_midnight_utc

PAGE_SALT = "sandbox.zoom.page"


class ZoomError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(ref: str, kind: str = "Meeting") -> ZoomError:
    return ZoomError(404, 3001, f"{kind} does not exist: {ref}.")


@dataclass
class Ctx:
    token: IssuedToken
    account: ZoomAccount
    config: SandboxConfig


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rate_limit(ctx: Ctx, category: str) -> tuple[HttpResponse | None, dict]:
    config = ctx.config
    label = category.capitalize()
    per_second = getattr(config, f"zoom_{category}_per_second")
    key = f"zoom:{ctx.account.account_id}:{category}"
    if category == "heavy":
        daily = limiter.hit(f"{key}:day", config.zoom_heavy_per_day, 86400)
        if not daily.allowed:
            headers = {
                "X-RateLimit-Category": label,
                "X-RateLimit-Type": "Daily-limit",
                "X-RateLimit-Limit": str(daily.limit),
                "X-RateLimit-Remaining": "0",
                "Retry-After": next_midnight_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            body = {
                "code": 429,
                "message": "You have reached the maximum daily rate limit for this "
                "API. Refer to the response header for details on when you can "
                "make another request.",
            }
            return json_response(body, 429, headers), {}
    verdict = limiter.hit(key, per_second, 1)
    if not verdict.allowed:
        headers = {
            "X-RateLimit-Category": label,
            "X-RateLimit-Type": "QPS",
            "X-RateLimit-Limit": str(per_second),
            "X-RateLimit-Remaining": "0",
        }
        if config.zoom_send_ratelimit_reset:
            headers["X-RateLimit-Reset"] = str(math.ceil(time.time()))
        body = {
            "code": 429,
            "message": "You have reached the maximum per-second rate limit for this "
            "API. Try again later.",
        }
        return json_response(body, 429, headers), {}
    return None, {
        "X-RateLimit-Category": label,
        "X-RateLimit-Limit": str(per_second),
        "X-RateLimit-Remaining": str(verdict.remaining),
    }


def _authenticate(request: HttpRequest) -> IssuedToken:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ZoomError(401, 124, "Invalid access token.")
    token = (
        IssuedToken.objects.select_related("account", "user", "app")
        .filter(token_sha256=ids.sha256(value.strip()), kind=IssuedToken.Kind.ACCESS)
        .first()
    )
    if token is None or token.revoked_at is not None or not token.app.enabled:
        raise ZoomError(401, 124, "Invalid access token.")
    if token.expires_at <= timezone.now():
        raise ZoomError(401, 124, "Access token is expired.")
    return token


def _check_scope(token: IssuedToken, scope: str) -> None:
    granted = set(token.scope.split())
    wanted = f"{scope}:admin" if token.user_id is None else scope
    if scope in granted or f"{scope}:admin" in granted:
        return
    raise ZoomError(
        400, 4711, f"Invalid access token, does not contain scopes:[{wanted}]."
    )


def zoom_endpoint(name: str, category: str, scope: str) -> Callable:
    """Wrap a view ``fn(request, ctx, **kwargs) -> dict | HttpResponse``."""

    def decorate(fn: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(fn)
        def view(request: HttpRequest, **kwargs) -> HttpResponse:
            started = time.monotonic()
            config = SandboxConfig.load()
            account_id = ""
            outcome = ""
            headers: dict[str, str] = {"x-zm-trackingid": ids.tracking_id()}
            try:
                token = _authenticate(request)
                account_id = token.account.account_id
                ctx = Ctx(token=token, account=token.account, config=config)
                if config.check_scopes:
                    _check_scope(token, scope)
                limited = None
                headers["X-RateLimit-Category"] = category.capitalize()
                if config.rate_limits:
                    limited, limit_headers = _rate_limit(ctx, category)
                    headers.update(limit_headers)
                if limited is not None:
                    response = limited
                    outcome = "rate_limited"
                elif (status := inject_fault(config, "zoom")) is not None:
                    response = json_response(
                        {"code": status, "message": "Internal Error."}, status
                    )
                    outcome = "injected"
                else:
                    result = fn(request, ctx, **kwargs)
                    response = (
                        result
                        if isinstance(result, HttpResponse)
                        else json_response(result)
                    )
            except ZoomError as err:
                response = json_response(
                    {"code": err.code, "message": err.message}, err.status
                )
                outcome = "auth" if err.status == 401 else ""
            for key, value in headers.items():
                response[key] = value
            log_call(
                request,
                api="zoom",
                endpoint=name,
                category=category.capitalize(),
                account=account_id,
                status=response.status_code,
                started=started,
                outcome=outcome,
            )
            return response

        return view

    return decorate


# ------------------------------------------------------------------ helpers


def decode_ref(raw: str, config: SandboxConfig) -> str:
    """The meeting id or uuid a path segment names, by Zoom's encoding rule.

    Django hands us the path decoded once. A double-encoded uuid therefore still
    shows ``%2F``/``%2B``/``%3D`` and is decoded here. A uuid that begins with
    ``/`` or contains ``//`` arrives bare only when it was encoded once: Zoom
    answers that with 404 code 3001.
    """
    if "%" in raw:
        decoded = unquote(raw)
        needs_double = decoded.startswith("/") or "//" in decoded
        if not needs_double and not config.accept_double_encoded_plain_uuid:
            raise not_found(raw)
        return decoded
    if raw.startswith("/") or "//" in raw:
        raise not_found(raw)
    return raw


def _occurrence(ctx: Ctx, raw: str, kind: str, *, ended: bool = True) -> Occurrence:
    ref = decode_ref(raw, ctx.config)
    label = "Webinar" if kind == Meeting.Kind.WEBINAR else "Meeting"
    qs = Occurrence.objects.select_related("meeting", "meeting__host").filter(
        meeting__account=ctx.account, meeting__kind=kind
    )
    if ended:
        qs = qs.exclude(end_time=None)
    if ref.isdigit():
        found = qs.filter(meeting__meeting_id=int(ref)).order_by("-start_time").first()
    else:
        found = qs.filter(uuid=ref).first()
    if found is None:
        raise not_found(ref, label)
    return found


def _meeting(ctx: Ctx, raw: str, kind: str) -> Meeting:
    label = "Webinar" if kind == Meeting.Kind.WEBINAR else "Meeting"
    if not raw.isdigit():
        raise ZoomError(400, 300, f"Invalid {label.lower()}Id.")
    found = (
        Meeting.objects.select_related("host")
        .filter(account=ctx.account, kind=kind, meeting_id=int(raw))
        .first()
    )
    if found is None:
        raise not_found(raw, label)
    return found


def _user(ctx: Ctx, user_id: str) -> ZoomUser:
    users = ZoomUser.objects.filter(account=ctx.account)
    if user_id == "me":
        found = ctx.token.user if ctx.token.user_id else users.order_by("id").first()
    elif "@" in user_id:
        found = users.filter(email__iexact=user_id).first()
    else:
        found = users.filter(user_id=user_id).first()
    if found is None:
        raise ZoomError(404, 1001, f"User does not exist: {user_id}.")
    return found


def paginate(
    request: HttpRequest,
    ctx: Ctx,
    qs: QuerySet,
    key: str,
    items_name: str,
    render: Callable,
) -> dict:
    """Zoom's token pagination: page_size ≤ 300 (default 30), next_page_token."""
    try:
        page_size = int(request.GET.get("page_size") or 30)
    except ValueError as err:
        raise ZoomError(400, 300, "Invalid field: page_size.") from err
    page_size = max(1, min(page_size, 300))
    after = 0
    token = request.GET.get("next_page_token", "")
    if token:
        try:
            data = signing.loads(
                token, salt=PAGE_SALT, max_age=ctx.config.page_token_ttl_seconds
            )
        except signing.BadSignature as err:
            raise ZoomError(
                400, 300, "The next page token is invalid or expired."
            ) from err
        if data.get("k") != key:
            raise ZoomError(400, 300, "The next page token is invalid or expired.")
        after = int(data["a"])
    total = qs.count()
    rows = list(qs.filter(id__gt=after).order_by("id")[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_token = (
        signing.dumps({"k": key, "a": rows[-1].id}, salt=PAGE_SALT, compress=True)
        if more
        else ""
    )
    return {
        "page_count": math.ceil(total / page_size) if total else 0,
        "page_size": page_size,
        "total_records": total,
        "next_page_token": next_token,
        items_name: [render(row) for row in rows],
    }


def _user_json(user: ZoomUser) -> dict:
    return {
        "id": user.user_id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": f"{user.first_name} {user.last_name}",
        "type": user.type,
        "pmi": user.pmi,
        "timezone": user.timezone,
        "verified": 1,
        "dept": "",
        "created_at": iso(user.created_at),
        "user_created_at": iso(user.created_at),
        "last_login_time": iso(user.created_at),
        "last_client_version": "6.3.0.52884(mac)",
        "status": user.status,
        "role_id": user.role_id,
        "group_ids": [],
        "im_group_ids": [],
        "employee_unique_id": "",
        "plan_united_type": "",
        "account_id": user.account.account_id,
        "language": "en-US",
        "phone_number": "",
    }


def _join_url(meeting: Meeting) -> str:
    prefix = "w" if meeting.kind == Meeting.Kind.WEBINAR else "j"
    return f"https://sandbox-zoom.example/{prefix}/{meeting.meeting_id}"


def _meeting_json(meeting: Meeting, uuid: str = "") -> dict:
    data = {
        "uuid": uuid,
        "id": meeting.meeting_id,
        "host_id": meeting.host.user_id,
        "topic": meeting.topic,
        "type": meeting.type,
        "start_time": iso(meeting.start_time),
        "duration": meeting.duration,
        "timezone": meeting.timezone,
        "agenda": meeting.agenda,
        "created_at": iso(meeting.created_at),
        "join_url": _join_url(meeting),
    }
    if meeting.kind == Meeting.Kind.WEBINAR:
        data["is_simulive"] = False
    else:
        data["pmi"] = str(meeting.host.pmi)
    return data


def _latest_uuid(meeting: Meeting) -> str:
    occurrence = meeting.occurrences.order_by("-start_time").first()
    return occurrence.uuid if occurrence else ""


# ---------------------------------------------------------------- endpoints


@zoom_endpoint("get_user", "light", "user:read:user")
def get_user(request: HttpRequest, ctx: Ctx, user_id: str) -> dict:
    return _user_json(_user(ctx, user_id))


@zoom_endpoint("list_users", "medium", "user:read:list_users")
def list_users(request: HttpRequest, ctx: Ctx) -> dict:
    status = request.GET.get("status", "active")
    if status not in ("active", "inactive", "pending"):
        raise ZoomError(400, 300, "Validation Failed.")
    qs = ZoomUser.objects.select_related("account").filter(
        account=ctx.account, status=status
    )
    return paginate(request, ctx, qs, f"users:{status}", "users", _user_json)


def _list_meetings(request: HttpRequest, ctx: Ctx, user_id: str, kind: str) -> dict:
    user = _user(ctx, user_id)
    kind_type = request.GET.get("type", "scheduled")
    qs = Meeting.objects.select_related("host").filter(host=user, kind=kind)
    now = timezone.now()
    if kind_type == "previous_meetings":
        qs = qs.filter(occurrences__end_time__isnull=False).distinct()
    elif kind_type in ("scheduled", "upcoming", "upcoming_meetings"):
        qs = qs.filter(start_time__gte=now)
    elif kind_type == "live":
        qs = qs.filter(
            occurrences__end_time__isnull=True, occurrences__start_time__lte=now
        ).distinct()
    else:
        raise ZoomError(400, 300, "Validation Failed.")
    for param, lookup in (
        ("from", "start_time__date__gte"),
        ("to", "start_time__date__lte"),
    ):
        if request.GET.get(param):
            try:
                day = date.fromisoformat(request.GET[param])
            except ValueError as err:
                raise ZoomError(400, 300, f"Invalid field: {param}.") from err
            qs = qs.filter(**{lookup: day})
    items = "webinars" if kind == Meeting.Kind.WEBINAR else "meetings"
    return paginate(
        request,
        ctx,
        qs,
        f"{items}:{user.user_id}:{kind_type}",
        items,
        lambda m: _meeting_json(m, _latest_uuid(m)),
    )


@zoom_endpoint("list_meetings", "medium", "meeting:read:list_meetings")
def list_meetings(request: HttpRequest, ctx: Ctx, user_id: str) -> dict:
    return _list_meetings(request, ctx, user_id, Meeting.Kind.MEETING)


@zoom_endpoint("list_webinars", "medium", "webinar:read:list_webinars")
def list_webinars(request: HttpRequest, ctx: Ctx, user_id: str) -> dict:
    return _list_meetings(request, ctx, user_id, Meeting.Kind.WEBINAR)


def _detail(meeting: Meeting) -> dict:
    data = _meeting_json(meeting, _latest_uuid(meeting))
    data.update(
        {
            "host_email": meeting.host.email,
            "status": "waiting",
            "settings": {
                "approval_type": 0 if meeting.kind == Meeting.Kind.WEBINAR else 2,
                "registrants_confirmation_email": True,
                "auto_recording": "cloud",
            },
        }
    )
    return data


@zoom_endpoint("get_meeting", "light", "meeting:read:meeting")
def get_meeting(request: HttpRequest, ctx: Ctx, meeting_id: str) -> dict:
    return _detail(_meeting(ctx, meeting_id, Meeting.Kind.MEETING))


@zoom_endpoint("get_webinar", "light", "webinar:read:webinar")
def get_webinar(request: HttpRequest, ctx: Ctx, webinar_id: str) -> dict:
    return _detail(_meeting(ctx, webinar_id, Meeting.Kind.WEBINAR))


def _past(occurrence: Occurrence) -> dict:
    meeting = occurrence.meeting
    stats = occurrence.participants.aggregate(
        n=Count("id"), first=Min("join_time"), last=Max("leave_time")
    )
    minutes = 0
    if occurrence.end_time:
        minutes = int(
            (occurrence.end_time - occurrence.start_time).total_seconds() // 60
        )
    total_minutes = sum(
        int((leave - join).total_seconds() // 60)
        for join, leave in occurrence.participants.values_list(
            "join_time", "leave_time"
        )
    )
    return {
        "id": meeting.meeting_id,
        "uuid": occurrence.uuid,
        "host_id": meeting.host.user_id,
        "type": meeting.type,
        "topic": meeting.topic,
        "user_name": f"{meeting.host.first_name} {meeting.host.last_name}",
        "user_email": meeting.host.email,
        "start_time": iso(occurrence.start_time),
        "end_time": iso(occurrence.end_time),
        "duration": minutes,
        "total_minutes": total_minutes,
        "participants_count": stats["n"],
        "dept": "",
        "source": "Zoom",
    }


@zoom_endpoint("get_past_meeting", "light", "meeting:read:past_meeting")
def past_meeting(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return _past(_occurrence(ctx, ref, Meeting.Kind.MEETING))


@zoom_endpoint("get_past_webinar", "light", "webinar:read:past_webinar")
def past_webinar(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return _past(_occurrence(ctx, ref, Meeting.Kind.WEBINAR))


def _instances(ctx: Ctx, raw: str, kind: str) -> list[dict]:
    meeting = _meeting(ctx, raw, kind)
    return [
        {"uuid": o.uuid, "start_time": iso(o.start_time)}
        for o in meeting.occurrences.exclude(end_time=None).order_by("start_time")
    ]


@zoom_endpoint("past_meeting_instances", "medium", "meeting:read:list_past_instances")
def past_meeting_instances(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return {"meetings": _instances(ctx, ref, Meeting.Kind.MEETING)}


@zoom_endpoint("past_webinar_instances", "medium", "webinar:read:list_past_instances")
def past_webinar_instances(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return {"webinars": _instances(ctx, ref, Meeting.Kind.WEBINAR)}


def _past_participant(row: Participant) -> dict:
    return {
        "id": row.participant_user_id,
        "name": row.name,
        "user_id": row.user_id,
        "registrant_id": row.registrant_id,
        "user_email": row.email,
        "join_time": iso(row.join_time),
        "leave_time": iso(row.leave_time),
        "duration": row.duration,
        "failover": False,
        "status": row.status,
        "internal_user": row.internal_user,
    }


def _report_participant(with_registrant: bool) -> Callable[[Participant], dict]:
    def render(row: Participant) -> dict:
        data = {
            "customer_key": "",
            "duration": row.duration,
            "failover": False,
            # Zoom hides guests' ids in reports.
            "id": row.participant_user_id,
            "join_time": iso(row.join_time),
            "leave_time": iso(row.leave_time),
            "name": row.name,
            "status": row.status,
            "user_email": row.email,
            "user_id": row.user_id,
            "bo_mtg_id": "",
            "participant_user_id": row.participant_user_id,
        }
        if with_registrant:
            data["registrant_id"] = row.registrant_id
        return data

    return render


def _participants(
    request: HttpRequest, ctx: Ctx, ref: str, kind: str, report: bool
) -> dict:
    occurrence = _occurrence(ctx, ref, kind)
    qs = Participant.objects.filter(occurrence=occurrence)
    key = f"{'report' if report else 'past'}:{occurrence.pk}"
    if report:
        fields = request.GET.get("include_fields", "").split(",")
        render = _report_participant("registrant_id" in fields)
    else:
        render = _past_participant
    return paginate(request, ctx, qs, key, "participants", render)


@zoom_endpoint(
    "past_meeting_participants", "medium", "meeting:read:list_past_participants"
)
def past_meeting_participants(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return _participants(request, ctx, ref, Meeting.Kind.MEETING, report=False)


@zoom_endpoint(
    "past_webinar_participants", "medium", "webinar:read:list_past_participants"
)
def past_webinar_participants(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return _participants(request, ctx, ref, Meeting.Kind.WEBINAR, report=False)


@zoom_endpoint(
    "report_meeting_participants", "heavy", "report:read:list_meeting_participants"
)
def report_meeting_participants(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return _participants(request, ctx, ref, Meeting.Kind.MEETING, report=True)


@zoom_endpoint(
    "report_webinar_participants", "heavy", "report:read:list_webinar_participants"
)
def report_webinar_participants(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    return _participants(request, ctx, ref, Meeting.Kind.WEBINAR, report=True)


def registrant_json(row: Registrant) -> dict:
    meeting_id = row.meeting.meeting_id if hasattr(row, "meeting") else ""
    return {
        "id": row.registrant_id,
        "email": row.email,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "address": "",
        "city": "",
        "country": row.country,
        "zip": "",
        "state": "",
        "phone": "",
        "industry": "",
        "org": row.org,
        "job_title": row.job_title,
        "purchasing_time_frame": "",
        "role_in_purchase_process": "",
        "no_of_employees": "",
        "comments": "",
        "custom_questions": [],
        "status": row.status,
        "create_time": iso(row.create_time),
        "join_url": f"https://sandbox-zoom.example/w/{meeting_id}"
        f"?tk={row.registrant_id}",
    }


@zoom_endpoint("webinar_registrants", "medium", "webinar:read:list_registrants")
def webinar_registrants(request: HttpRequest, ctx: Ctx, webinar_id: str) -> dict:
    webinar = _meeting(ctx, webinar_id, Meeting.Kind.WEBINAR)
    status = request.GET.get("status", "approved")
    if status not in ("pending", "approved", "denied"):
        raise ZoomError(400, 300, "Validation Failed.")
    qs = Registrant.objects.select_related("meeting").filter(
        meeting=webinar, status=status
    )
    return paginate(
        request,
        ctx,
        qs,
        f"registrants:{webinar.pk}:{status}",
        "registrants",
        registrant_json,
    )


@zoom_endpoint(
    "meeting_recordings", "light", "cloud_recording:read:list_recording_files"
)
def meeting_recordings(request: HttpRequest, ctx: Ctx, ref: str) -> dict:
    ref_value = decode_ref(ref, ctx.config)
    qs = Recording.objects.select_related(
        "occurrence", "occurrence__meeting", "occurrence__meeting__host"
    ).filter(occurrence__meeting__account=ctx.account)
    if ref_value.isdigit():
        recording = (
            qs.filter(occurrence__meeting__meeting_id=int(ref_value))
            .order_by("-occurrence__start_time")
            .first()
        )
    else:
        recording = qs.filter(occurrence__uuid=ref_value).first()
    if recording is None:
        if Occurrence.objects.filter(
            meeting__account=ctx.account, uuid=ref_value
        ).exists() or (
            ref_value.isdigit()
            and Meeting.objects.filter(
                account=ctx.account, meeting_id=int(ref_value)
            ).exists()
        ):
            raise ZoomError(404, 3301, "There is no recording for this meeting")
        raise not_found(ref_value)
    return recording_json(recording)


def recording_json(recording: Recording) -> dict:
    occurrence = recording.occurrence
    meeting = occurrence.meeting
    minutes = 0
    if occurrence.end_time:
        minutes = int(
            (occurrence.end_time - occurrence.start_time).total_seconds() // 60
        )
    return {
        "uuid": occurrence.uuid,
        "id": meeting.meeting_id,
        "account_id": meeting.account.account_id,
        "host_id": meeting.host.user_id,
        "host_email": meeting.host.email,
        "topic": meeting.topic,
        "type": str(meeting.type),
        "start_time": iso(occurrence.start_time),
        "duration": minutes,
        "timezone": meeting.timezone,
        "total_size": recording.total_size,
        "recording_count": len(recording.files),
        "share_url": recording.share_url,
        "recording_files": recording.files,
        "password": recording.password,
        "recording_play_passcode": recording.password,
    }
