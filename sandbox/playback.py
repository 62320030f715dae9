"""Meeting and webinar playback: build an occurrence with realistic people in
the sandbox's Zoom, then send the webhooks Zoom would send, signed as Zoom
signs them, retried on Zoom's schedule (compressible) until the portal answers
2xx within the timeout.

Signature (Zoom reference §1.3): ``v0=hex(HMAC_SHA256(secret,
"v0:{x-zm-request-timestamp}:{raw body}"))``, timestamp in seconds, fresh for
each attempt; the body and ``x-zm-request-id`` stay the same across retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import hmac
import json
import logging
import random
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from . import ids
from .db import fast_insert
from .models import (
    Meeting,
    Occurrence,
    Participant,
    Recording,
    Registrant,
    SandboxConfig,
    WebhookSend,
    ZoomApp,
    ZoomUser,
)
from .people import Person, generate
from .seed import ensure_s2s_app

logger = logging.getLogger(__name__)

# Zoom retries a failed delivery 3 times: +5 min, then +20 min, then +60 min.
RETRY_DELAYS = (300.0, 1200.0, 3600.0)
USER_AGENT = "Zoom Marketplace/1.0a"

TOPICS = {
    "meeting": ["Customer onboarding call", "Quarterly review: EMEA", "Product demo"],
    "webinar": [
        "Brevo onboarding webinar",
        "Q1 Roadmap: what's next",
        "Growth marketing live, épisode 3",
    ],
}


@dataclass
class Options:
    kind: str = "webinar"
    attendees: int = 200
    guest_rate: float = 0.05
    no_show_rate: float = 0.25
    rejoin_rate: float = 0.15
    duration_minutes: int = 60
    uuid_style: str = "mixed"
    seed: int | None = None
    recording: bool = True
    webhooks: bool = True
    target: str = ""
    slug: str = "sandbox"
    app_client_id: str = ""
    retry_scale: float = 0.01
    timeout: float | None = None
    concurrency: int = 4
    # Zoom checks the endpoint (endpoint.url_validation) before sending events.
    validate: bool = False


@dataclass
class Built:
    meeting: Meeting
    occurrence: Occurrence
    people: list[Person]
    registrants: int
    attendees: int
    sessions: int
    guests: int
    no_shows: int


@dataclass
class Result:
    playback: str
    meeting_id: int
    uuid: str
    kind: str
    registrants: int
    attendees: int
    sessions: int
    guests: int
    no_shows: int
    target: str = ""
    validated: bool | None = None
    webhooks: int = 0
    delivered: int = 0
    failed: int = 0
    attempts: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(vars(self))


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


# ------------------------------------------------------------------- build


def _host(app: ZoomApp) -> ZoomUser:
    return ZoomUser.objects.filter(account=app.account).order_by("id").first()


def _free_meeting_number() -> int:
    # Numbers and uuids are never seeded: replaying a seed makes a new meeting.
    while True:
        number = ids.meeting_number()
        if not Meeting.objects.filter(meeting_id=number).exists():
            return number


@transaction.atomic
def build(options: Options, app: ZoomApp) -> Built:
    rng = random.Random(options.seed)
    webinar = options.kind == "webinar"
    host = _host(app)
    duration = timedelta(minutes=options.duration_minutes)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    start = end - duration
    meeting = Meeting.objects.create(
        account=app.account,
        host=host,
        kind=options.kind,
        meeting_id=_free_meeting_number(),
        type=5 if webinar else 2,
        topic=rng.choice(TOPICS[options.kind]),
        agenda="Played back by the sandbox.",
        start_time=start,
        duration=options.duration_minutes,
        timezone=host.timezone,
    )
    occurrence = Occurrence.objects.create(
        meeting=meeting,
        uuid=ids.occurrence_uuid(options.uuid_style),
        start_time=start,
        end_time=end,
    )
    people = generate(
        options.attendees,
        webinar=webinar,
        rng=rng,
        guest_rate=options.guest_rate,
        no_show_rate=options.no_show_rate,
        rejoin_rate=options.rejoin_rate,
    )
    registrants = []
    for person in people:
        person.participant_uuid = ids.participant_uuid()
        if person.email and rng.random() < 0.5:
            person.zoom_user_id = ids.zoom_id()
        if person.registered:
            person.registrant_id = ids.zoom_id()
            registrants.append(
                (
                    meeting.pk,
                    person.registrant_id,
                    person.email,
                    person.first_name or person.name,
                    person.last_name,
                    person.registrant_status,
                    person.org,
                    person.job_title,
                    person.country,
                    person.source,
                    start
                    - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 1439)),
                )
            )
    fast_insert(
        Registrant,
        [
            "meeting",
            "registrant_id",
            "email",
            "first_name",
            "last_name",
            "status",
            "org",
            "job_title",
            "country",
            "source_name",
            "create_time",
        ],
        registrants,
    )

    # The host is in the room from start to end.
    host_person = Person(
        first_name=host.first_name,
        last_name=host.last_name,
        name=f"{host.first_name} {host.last_name}",
        email=host.email,
        zoom_user_id=host.user_id,
        participant_uuid=ids.participant_uuid(),
    )
    rows = [
        (
            occurrence.pk,
            "16778240",
            host.user_id,
            host_person.participant_uuid,
            host_person.name,
            host.email,
            "",
            start,
            end,
            True,
            "in_meeting",
        )
    ]
    seconds = int(duration.total_seconds())
    next_user_id = 16778241
    for person in people:
        if not person.attends:
            continue
        # First join from 5 minutes early to two thirds in; rejoins split the stay.
        join = start + timedelta(seconds=rng.randint(-300, seconds * 2 // 3))
        join = max(join, start)
        leave = min(join + timedelta(seconds=rng.randint(120, seconds)), end)
        cuts = sorted(
            rng.uniform(0, 1) for _ in range(2 * (person.sessions - 1))
        )  # pairs of (leave, rejoin) inside the stay
        bounds = [join] + [join + (leave - join) * c for c in cuts] + [leave]
        for k in range(person.sessions):
            rows.append(
                (
                    occurrence.pk,
                    str(next_user_id),
                    person.zoom_user_id,
                    person.participant_uuid,
                    person.name,
                    person.email,
                    person.registrant_id,
                    bounds[2 * k].replace(microsecond=0),
                    bounds[2 * k + 1].replace(microsecond=0),
                    False,
                    "in_meeting",
                )
            )
            next_user_id += 1
    fast_insert(
        Participant,
        [
            "occurrence",
            "user_id",
            "participant_user_id",
            "participant_uuid",
            "name",
            "email",
            "registrant_id",
            "join_time",
            "leave_time",
            "internal_user",
            "status",
        ],
        rows,
    )
    if options.recording:
        Recording.objects.create(
            occurrence=occurrence,
            share_url=f"https://sandbox-zoom.example/rec/share/{secrets.token_urlsafe(24)}",
            password=secrets.token_urlsafe(6),
            files=_recording_files(occurrence, rng),
            total_size=0,
        )
        recording = occurrence.recording
        recording.total_size = sum(f["file_size"] for f in recording.files)
        recording.save(update_fields=["total_size"])
    attending = [p for p in people if p.attends]
    return Built(
        meeting=meeting,
        occurrence=occurrence,
        people=people,
        registrants=len(registrants),
        attendees=len(attending),
        sessions=len(rows) - 1,
        guests=sum(1 for p in attending if p.guest),
        no_shows=sum(1 for p in people if p.registered and not p.attends),
    )


def _recording_files(occurrence: Occurrence, rng: random.Random) -> list[dict]:
    files = []
    for file_type, ext, recording_type in (
        ("MP4", "MP4", "shared_screen_with_speaker_view"),
        ("M4A", "M4A", "audio_only"),
        ("TRANSCRIPT", "VTT", "audio_transcript"),
    ):
        file_id = secrets.token_hex(18)
        files.append(
            {
                "id": file_id,
                "meeting_id": occurrence.uuid,
                "recording_start": iso(occurrence.start_time),
                "recording_end": iso(occurrence.end_time),
                "file_type": file_type,
                "file_extension": ext,
                "file_size": rng.randint(50_000, 90_000_000),
                "play_url": f"https://sandbox-zoom.example/rec/play/{file_id}",
                "download_url": f"https://sandbox-zoom.example/rec/download/{file_id}",
                "status": "completed",
                "recording_type": recording_type,
            }
        )
    return files


# ---------------------------------------------------------------- webhooks


def _object(meeting: Meeting, occurrence: Occurrence, *, numeric_id: bool) -> dict:
    return {
        "id": meeting.meeting_id if numeric_id else str(meeting.meeting_id),
        "uuid": occurrence.uuid,
        "host_id": meeting.host.user_id,
        "topic": meeting.topic,
        "type": meeting.type,
        "start_time": iso(occurrence.start_time),
        "timezone": meeting.timezone,
        "duration": meeting.duration,
    }


def _envelope(event: str, account_id: str, obj: dict, ts: datetime, **top) -> dict:
    return {
        "event": event,
        "event_ts": int(ts.timestamp() * 1000),
        "payload": {"account_id": account_id, "object": obj},
        **top,
    }


def events_for(built: Built) -> list[list[dict]]:
    """The webhooks of one playback, in phases sent one after the other."""
    meeting, occurrence = built.meeting, built.occurrence
    account_id = meeting.account.account_id
    prefix = "webinar" if meeting.kind == Meeting.Kind.WEBINAR else "meeting"
    phases: list[list[dict]] = []

    if meeting.kind == Meeting.Kind.WEBINAR:
        registrations = []
        for row in Registrant.objects.filter(meeting=meeting).order_by("create_time"):
            obj = _object(meeting, occurrence, numeric_id=True)
            obj["registrant"] = {
                "id": row.registrant_id,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "email": row.email,
                "country": row.country,
                "org": row.org,
                "job_title": row.job_title,
                "status": row.status,
                "join_url": f"https://sandbox-zoom.example/w/{meeting.meeting_id}"
                f"?tk={row.registrant_id}",
                "tracking_source": {
                    "id": str(abs(hash(row.source_name)) % 10**13),
                    "source_name": row.source_name,
                    "tracking_url": f"https://sandbox-zoom.example/webinar/register/"
                    f"{meeting.meeting_id}?src={row.source_name}",
                },
            }
            registrations.append(
                _envelope(
                    "webinar.registration_created", account_id, obj, row.create_time
                )
            )
        phases.append(registrations)

    started = _object(meeting, occurrence, numeric_id=False)
    if prefix == "meeting":
        started["host_email"] = meeting.host.email
    phases.append(
        [_envelope(f"{prefix}.started", account_id, started, occurrence.start_time)]
    )

    moves: list[tuple[datetime, int, dict]] = []
    for n, row in enumerate(
        Participant.objects.filter(occurrence=occurrence).order_by("id")
    ):
        for kind, when in (("joined", row.join_time), ("left", row.leave_time)):
            obj = _object(meeting, occurrence, numeric_id=False)
            person = {
                "user_id": row.user_id,
                "user_name": row.name,
                "id": row.participant_user_id,
                "participant_uuid": row.participant_uuid,
                "email": row.email,
                "participant_user_id": row.participant_user_id,
                "public_ip": f"203.0.113.{n % 250 + 1}",
            }
            if row.registrant_id:
                person["registrant_id"] = row.registrant_id
            if kind == "joined":
                person["join_time"] = iso(when)
            else:
                person["leave_time"] = iso(when)
                person["leave_reason"] = (
                    "left the meeting. Reason : Host ended the meeting."
                    if when >= occurrence.end_time
                    else "left the meeting. Reason : left the meeting"
                )
            obj["participant"] = person
            moves.append(
                (
                    when,
                    0 if kind == "joined" else 1,
                    _envelope(f"{prefix}.participant_{kind}", account_id, obj, when),
                )
            )
    moves.sort(key=lambda m: (m[0], m[1]))
    phases.append([m[2] for m in moves])

    ended = _object(meeting, occurrence, numeric_id=False)
    ended["end_time"] = iso(occurrence.end_time)
    if prefix == "meeting":
        ended["host_email"] = meeting.host.email
    phases.append(
        [_envelope(f"{prefix}.ended", account_id, ended, occurrence.end_time)]
    )

    recording = Recording.objects.filter(occurrence=occurrence).first()
    if recording is not None:
        obj = _object(meeting, occurrence, numeric_id=True)
        obj.update(
            {
                "account_id": account_id,
                "host_email": meeting.host.email,
                "password": recording.password,
                "recording_play_passcode": recording.password,
                "share_url": recording.share_url,
                "total_size": recording.total_size,
                "recording_count": len(recording.files),
                "recording_files": recording.files,
            }
        )
        phases.append(
            [
                _envelope(
                    "recording.completed",
                    account_id,
                    obj,
                    occurrence.end_time + timedelta(minutes=2),
                    download_token=secrets.token_urlsafe(64),
                )
            ]
        )
    return phases


def sign(secret: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    send: WebhookSend = field(compare=False)


class Sender:
    """Sends deliveries with a small thread pool and retries them on schedule."""

    def __init__(self, app: ZoomApp, target: str, options: Options) -> None:
        config = SandboxConfig.load()
        self.app = app
        self.target = target
        self.scale = options.retry_scale
        self.timeout = options.timeout or config.webhook_timeout_seconds
        self.send_token = config.send_verification_token and bool(
            app.verification_token
        )
        self.pool = ThreadPoolExecutor(max_workers=max(options.concurrency, 1))
        self.local = threading.local()
        self.lock = threading.Condition()
        self.outstanding = 0
        self.retries: list[_Due] = []
        self.attempts = 0
        self.delivered = 0
        self.failed = 0
        self.stop = False
        self.scheduler = threading.Thread(target=self._schedule, daemon=True)
        self.scheduler.start()

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def headers(self, send: WebhookSend, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": USER_AGENT,
            "clientid": self.app.client_id,
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": sign(self.app.webhook_secret_token, timestamp, body),
            "x-zm-request-id": send.request_id,
            "x-zm-trackingid": ids.tracking_id(),
            "zm-trace-upstream": "Meeting_Web_marketplace-consumer",
        }
        if self.send_token:
            headers["authorization"] = self.app.verification_token
        return headers

    def _attempt(self, send: WebhookSend) -> None:
        body = send.body.encode()
        started = time.monotonic()
        status = None
        error = ""
        try:
            response = self._session().post(
                self.target,
                data=body,
                headers=self.headers(send, body),
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
            )
            status = response.status_code
        except requests.RequestException as err:
            error = type(err).__name__
        latency = time.monotonic() - started
        ok = status is not None and 200 <= status < 300 and latency <= self.timeout
        if status is not None and not ok and not error:
            error = "slow answer" if 200 <= status < 300 else f"HTTP {status}"
        send.attempts += 1
        gave_up = not ok and send.attempts > len(RETRY_DELAYS)
        try:
            WebhookSend.objects.filter(pk=send.pk).update(
                attempts=send.attempts,
                last_status=status,
                last_latency_ms=int(latency * 1000),
                last_error=error[:300],
                delivered=ok,
                gave_up=gave_up,
            )
        except DatabaseError:
            # The record is for people to read; the delivery itself goes on.
            logger.exception(
                "sandbox.webhook.record_failed", extra={"send_id": send.pk}
            )
            connection.close()
        with self.lock:
            self.attempts += 1
            if ok:
                self.delivered += 1
                self.outstanding -= 1
            elif gave_up:
                self.failed += 1
                self.outstanding -= 1
                logger.warning(
                    "sandbox.webhook.gave_up",
                    extra={"send_id": send.pk, "status": status},
                )
            else:
                delay = RETRY_DELAYS[send.attempts - 1] * self.scale
                heapq.heappush(
                    self.retries, _Due(time.monotonic() + delay, send.pk, send)
                )
            self.lock.notify_all()

    def submit(self, sends: list[WebhookSend]) -> None:
        with self.lock:
            self.outstanding += len(sends)
        list(self.pool.map(self._attempt, sends))

    def _schedule(self) -> None:
        while True:
            with self.lock:
                if self.stop:
                    return
                if not self.retries:
                    self.lock.wait(0.5)
                    continue
                wait = self.retries[0].at - time.monotonic()
                if wait > 0:
                    self.lock.wait(min(wait, 0.5))
                    continue
                due = heapq.heappop(self.retries)
            self.pool.submit(self._attempt, due.send)

    def wait(self) -> None:
        with self.lock:
            while self.outstanding > 0:
                self.lock.wait(0.5)
            self.stop = True
            self.lock.notify_all()
        self._close_connections()
        self.pool.shutdown(wait=True)

    def _close_connections(self) -> None:
        """Close each pool thread's database connection (one task per thread)."""
        workers = self.pool._max_workers
        barrier = threading.Barrier(workers)

        def close() -> None:
            connection.close()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)

        for future in [self.pool.submit(close) for _ in range(workers)]:
            future.result()


def validate_endpoint(app: ZoomApp, target: str, timeout: float = 3.0) -> bool:
    """Zoom's URL validation: a signed ``endpoint.url_validation`` whose answer
    must carry ``plainToken`` and ``encryptedToken = hex(HMAC_SHA256(secret,
    plainToken))`` within 3 seconds (Zoom reference §1.2)."""
    plain = secrets.token_urlsafe(16)
    event = {
        "payload": {"plainToken": plain},
        "event_ts": int(time.time() * 1000),
        "event": "endpoint.url_validation",
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json; charset=utf-8",
        "user-agent": USER_AGENT,
        "clientid": app.client_id,
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": sign(app.webhook_secret_token, timestamp, body),
        "x-zm-request-id": ids.request_id(),
        "x-zm-trackingid": ids.tracking_id(),
    }
    expected = hmac.new(
        app.webhook_secret_token.encode(), plain.encode(), hashlib.sha256
    ).hexdigest()
    try:
        response = requests.post(target, data=body, headers=headers, timeout=timeout)
        answer = response.json()
    except (requests.RequestException, ValueError):
        return False
    return (
        response.status_code == 200
        and isinstance(answer, dict)
        and answer.get("plainToken") == plain
        and hmac.compare_digest(str(answer.get("encryptedToken", "")), expected)
    )


def default_target(slug: str) -> str:
    return f"{settings.PORTAL_BASE_URL}/webhooks/zoom/{slug}/"


def play(options: Options, on_built=None) -> Result:
    """Build the occurrence and (unless ``webhooks`` is off) deliver its webhooks."""
    clock = time.monotonic()
    app = (
        ZoomApp.objects.select_related("account").get(client_id=options.app_client_id)
        if options.app_client_id
        else ensure_s2s_app()
    )
    built = build(options, app)
    result = Result(
        playback=secrets.token_hex(8),
        meeting_id=built.meeting.meeting_id,
        uuid=built.occurrence.uuid,
        kind=options.kind,
        registrants=built.registrants,
        attendees=built.attendees,
        sessions=built.sessions,
        guests=built.guests,
        no_shows=built.no_shows,
    )
    if on_built is not None:
        on_built(result)
    if not options.webhooks:
        result.seconds = round(time.monotonic() - clock, 3)
        return result
    target = options.target or default_target(options.slug)
    result.target = target
    if options.validate:
        result.validated = validate_endpoint(app, target)
        if not result.validated:
            # Zoom sends nothing to an endpoint that fails validation.
            result.seconds = round(time.monotonic() - clock, 3)
            return result
    phases = events_for(built)
    seq = 0
    sender = Sender(app, target, options)
    for phase in phases:
        sends = []
        for event in phase:
            sends.append(
                WebhookSend(
                    playback=result.playback,
                    seq=seq,
                    event=event["event"],
                    target=target,
                    request_id=ids.request_id(),
                    body=json.dumps(event, ensure_ascii=False, separators=(",", ":")),
                )
            )
            seq += 1
        sends = WebhookSend.objects.bulk_create(sends, batch_size=500)
        result.webhooks += len(sends)
        sender.submit(sends)
    sender.wait()
    result.delivered = sender.delivered
    result.failed = sender.failed
    result.attempts = sender.attempts
    result.seconds = round(time.monotonic() - clock, 3)
    logger.info(
        "sandbox.playback.finished",
        extra={
            "playback": result.playback,
            "webhooks": result.webhooks,
            "delivered": result.delivered,
            "failed": result.failed,
        },
    )
    return result


def play_in_background(options: Options) -> str:
    """Start a playback on a thread (for the sandbox page); return its id."""
    ready = threading.Event()
    holder: dict[str, str] = {}

    def run() -> None:
        try:
            play(
                options, on_built=lambda r: (holder.update(id=r.playback), ready.set())
            )
        except Exception:
            logger.exception("sandbox.playback.failed")
        finally:
            ready.set()
            connection.close()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(60)
    return holder.get("id", "")
