"""Playback over real sockets: a local receiver checks what the sandbox sends
(signatures, headers, payload shapes, retries), then a webinar is played
against the portal's own webhook endpoint."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.management import call_command

from connector.models import WebhookDelivery
from sandbox import models as sb
from sandbox.playback import RETRY_DELAYS, Options, play

from .conftest import wait_for

pytestmark = pytest.mark.e2e


def wait_until_portal_idle() -> None:
    """Let the portal finish deliveries still being handled (one that answered
    after 3 s was retried, and the first request may still be running)."""
    wait_for(
        lambda: (
            not WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.ACCEPTED
            ).exists()
        ),
        timeout=60,
    )


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records and verifies every request.

    ``respond(request_number_for_this_request_id, event) -> (status, delay)``.
    """

    def __init__(self, secret: str, respond: Callable | None = None) -> None:
        self.secret = secret
        self.respond = respond or (lambda attempt, event: (200, 0))
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                message = (
                    b"v0:" + headers["x-zm-request-timestamp"].encode() + b":" + body
                )
                expected = (
                    "v0="
                    + hmac.new(
                        receiver.secret.encode(), message, hashlib.sha256
                    ).hexdigest()
                )
                event = json.loads(body)
                with receiver.lock:
                    attempt = 1 + sum(
                        1
                        for r in receiver.requests
                        if r["headers"]["x-zm-request-id"] == headers["x-zm-request-id"]
                    )
                    receiver.requests.append(
                        {
                            "headers": headers,
                            "body": body,
                            "event": event,
                            "valid": hmac.compare_digest(
                                expected, headers["x-zm-signature"]
                            ),
                            "at": time.monotonic(),
                        }
                    )
                status, delay = receiver.respond(attempt, event["event"])
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/zoom/sandbox/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_for(sandbox_env):
    made: list[Receiver] = []

    def make(respond=None) -> Receiver:
        receiver = Receiver(sandbox_env.zoom_app.webhook_secret_token, respond)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def test_webinar_playback_sends_signed_zoom_shaped_webhooks(receiver_for, sandbox_env):
    receiver = receiver_for()
    result = play(Options(kind="webinar", attendees=30, seed=3, target=receiver.url))
    events = [r["event"] for r in receiver.requests]
    assert len(events) == result.webhooks == result.delivered
    assert all(r["valid"] for r in receiver.requests)
    counts = Counter(e["event"] for e in events)
    assert counts["webinar.registration_created"] == result.registrants
    assert counts["webinar.participant_joined"] == result.sessions + 1
    assert counts["webinar.participant_left"] == result.sessions + 1
    assert counts["webinar.started"] == counts["webinar.ended"] == 1
    assert counts["recording.completed"] == 1
    assert result.no_shows > 0 and result.registrants > result.attendees - result.guests

    first = receiver.requests[0]["headers"]
    assert first["user-agent"] == "Zoom Marketplace/1.0a"
    assert first["content-type"] == "application/json; charset=utf-8"
    assert first["clientid"] == sandbox_env.zoom_app.client_id
    assert len(first["x-zm-request-timestamp"]) == 10
    assert first["x-zm-trackingid"] and first["x-zm-request-id"]
    assert len({r["headers"]["x-zm-request-id"] for r in receiver.requests}) == len(
        events
    )

    by_name = {e["event"]: e for e in events}
    registration = by_name["webinar.registration_created"]["payload"]["object"]
    assert isinstance(registration["id"], int)
    assert registration["registrant"]["tracking_source"]["source_name"]
    joined = by_name["webinar.participant_joined"]
    assert len(str(joined["event_ts"])) == 13
    assert isinstance(joined["payload"]["object"]["id"], str)
    assert joined["payload"]["object"]["uuid"] == result.uuid
    assert joined["payload"]["account_id"] == sandbox_env.zoom_app.account.account_id
    recording = by_name["recording.completed"]
    assert recording["download_token"]
    assert isinstance(recording["payload"]["object"]["id"], int)
    assert by_name["webinar.ended"]["payload"]["object"]["end_time"]

    participants = [
        e["payload"]["object"]["participant"]
        for e in events
        if e["event"] == "webinar.participant_joined"
    ]
    assert sum(1 for p in participants if p["email"] == "") >= result.guests
    names = {p["user_name"] for p in participants}
    assert {"李雷", "Zoë Ångström", "Smith, John"} <= names
    # The body is UTF-8, not \u-escaped, as Zoom sends it.
    assert "李雷".encode() in b"".join(r["body"] for r in receiver.requests)
    # Each join session has one join and one leave, the leave not before the join.
    # (Deliveries go out concurrently, so arrival order may differ, as at Zoom.)
    times: dict[str, dict] = {}
    for e in events:
        if e["event"].startswith("webinar.participant_"):
            p = e["payload"]["object"]["participant"]
            times.setdefault(p["user_id"], {}).update(
                {k: p[k] for k in ("join_time", "leave_time") if k in p}
            )
    assert len(times) == result.sessions + 1
    assert all(t["join_time"] <= t["leave_time"] for t in times.values())


def test_meeting_events_and_registrants_are_not_sent_for_meetings(receiver_for):
    receiver = receiver_for()
    result = play(Options(kind="meeting", attendees=8, target=receiver.url))
    counts = Counter(r["event"]["event"] for r in receiver.requests)
    assert set(counts) == {
        "meeting.started",
        "meeting.participant_joined",
        "meeting.participant_left",
        "meeting.ended",
        "recording.completed",
    }
    started = next(
        r["event"]
        for r in receiver.requests
        if r["event"]["event"] == "meeting.started"
    )
    assert started["payload"]["object"]["id"] == str(result.meeting_id)
    assert started["payload"]["object"]["host_email"]


def test_retries_on_error_and_slow_answer_with_fresh_signature(receiver_for):
    def respond(attempt: int, event: str):
        if event == "meeting.started" and attempt == 1:
            return 500, 0
        if event == "meeting.ended" and attempt <= 2:
            return 200, 0.6  # 2xx, but later than the timeout
        return 200, 0

    receiver = receiver_for(respond)
    scale = 0.002  # 5 min → 0.6 s, 20 min → 2.4 s
    result = play(
        Options(
            kind="meeting",
            attendees=3,
            target=receiver.url,
            retry_scale=scale,
            timeout=0.4,
            recording=False,
        )
    )
    assert result.failed == 0 and result.delivered == result.webhooks
    started = [r for r in receiver.requests if r["event"]["event"] == "meeting.started"]
    assert len(started) == 2
    assert started[0]["body"] == started[1]["body"]
    assert (
        started[0]["headers"]["x-zm-request-id"]
        == started[1]["headers"]["x-zm-request-id"]
    )
    assert all(r["valid"] for r in started)
    gap = started[1]["at"] - started[0]["at"]
    assert RETRY_DELAYS[0] * scale * 0.9 <= gap < RETRY_DELAYS[0] * scale + 1.5
    ended = [r for r in receiver.requests if r["event"]["event"] == "meeting.ended"]
    assert len(ended) == 3
    assert ended[2]["at"] - ended[1]["at"] >= RETRY_DELAYS[1] * scale * 0.9
    send = sb.WebhookSend.objects.get(playback=result.playback, event="meeting.started")
    assert send.attempts == 2 and send.delivered
    assert result.attempts == result.webhooks + 3


def test_gives_up_after_three_retries(receiver_for):
    receiver = receiver_for(lambda attempt, event: (503, 0))
    result = play(
        Options(
            kind="meeting",
            attendees=1,
            target=receiver.url,
            retry_scale=0.0001,
            recording=False,
        )
    )
    assert result.delivered == 0 and result.failed == result.webhooks
    per_id = Counter(r["headers"]["x-zm-request-id"] for r in receiver.requests)
    assert set(per_id.values()) == {4}
    assert sb.WebhookSend.objects.filter(
        playback=result.playback, gave_up=True
    ).count() == (result.webhooks)


def test_sandbox_play_command(receiver_for):
    receiver = receiver_for()
    out = io.StringIO()
    call_command(
        "sandbox_play",
        "--meeting",
        "--attendees",
        "4",
        "--target",
        receiver.url,
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    assert result["kind"] == "meeting" and result["delivered"] == result["webhooks"] > 0
    assert sb.Occurrence.objects.filter(uuid=result["uuid"]).exists()

    out = io.StringIO()
    call_command(
        "sandbox_play", "--webinar", "--attendees", "50", "--no-webhooks", stdout=out
    )
    text = out.getvalue()
    assert "webinar id: " in text and "uuid: " in text and "webhooks:" not in text
    assert len(receiver.requests) == result["webhooks"]


def test_play_against_the_portal_endpoint(sandbox_env):
    result = play(Options(kind="webinar", attendees=10, seed=5, retry_scale=0.001))
    assert result.target == f"{sandbox_env.url}/webhooks/zoom/sandbox/"
    assert result.webhooks > 0 and result.delivered == result.webhooks, result
    deliveries = WebhookDelivery.objects.filter(connection=sandbox_env.connection)
    # A delivery answered after 3 s is retried and recorded again as a duplicate.
    assert deliveries.values("request_id").distinct().count() == result.webhooks
    assert deliveries.count() <= result.attempts
    assert set(deliveries.values_list("signature_verdict", flat=True)) == {
        WebhookDelivery.Verdict.VALID
    }
    wait_until_portal_idle()
    events = Counter(
        deliveries.exclude(status=WebhookDelivery.Status.DUPLICATE).values_list(
            "event", flat=True
        )
    )
    assert events["webinar.participant_joined"] == result.sessions + 1
    assert events["webinar.registration_created"] == result.registrants


def test_play_page_starts_a_playback(sandbox_env):
    session = requests.Session()
    page = session.get(f"{sandbox_env.url}/sandbox/play/", timeout=10)
    assert page.status_code == 200 and 'id="play"' in page.text
    token = session.cookies["csrftoken"]
    answer = session.post(
        f"{sandbox_env.url}/sandbox/play/",
        data={
            "kind": "meeting",
            "attendees": 3,
            "slug": "sandbox",
            "retry_scale": 0.001,
            "uuid_style": "mixed",
            "csrfmiddlewaretoken": token,
        },
        headers={"Referer": page.url},
        timeout=30,
    )
    assert answer.status_code == 200
    assert "/sandbox/playbacks/" in answer.url
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = session.get(answer.url, timeout=10)
        if "Finished." in view.text:
            break
        time.sleep(0.3)
    assert "Finished." in view.text
    wait_until_portal_idle()
    assert WebhookDelivery.objects.filter(event="meeting.started").count() == 1
    bad = session.post(
        f"{sandbox_env.url}/sandbox/play/",
        data={
            "kind": "meeting",
            "attendees": 0,
            "slug": "sandbox",
            "retry_scale": 1,
            "uuid_style": "mixed",
            "csrfmiddlewaretoken": token,
        },
        headers={"Referer": page.url},
        timeout=10,
    )
    assert bad.status_code == 400


def test_endpoint_validation(receiver_for, sandbox_env):
    from sandbox.playback import validate_endpoint

    app = sandbox_env.zoom_app
    # The portal's own endpoint answers the challenge with the right HMAC.
    assert validate_endpoint(app, f"{sandbox_env.url}/webhooks/zoom/sandbox/")
    # A receiver that answers 200 without the tokens fails validation, and then
    # nothing else is sent.
    receiver = receiver_for()
    result = play(
        Options(kind="meeting", attendees=2, target=receiver.url, validate=True)
    )
    assert result.validated is False and result.webhooks == 0
    assert [r["event"]["event"] for r in receiver.requests] == [
        "endpoint.url_validation"
    ]
    assert receiver.requests[0]["valid"]
