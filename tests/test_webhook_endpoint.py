"""The webhook endpoint: every answer it gives, and the row it records for each."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import WebhookDelivery, ZoomConnection
from connector.zoom import webhooks as zw

from .conftest import load_fixture

Status = WebhookDelivery.Status
Verdict = WebhookDelivery.Verdict
SECRET = "webhook-secret-test-00000000000000"


def body_of(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def zoom_headers(secret: str, body: bytes, ts: int | None = None, **extra) -> dict:
    """Headers as Zoom sends them, signed independently of the code under test."""
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(
        secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256
    ).hexdigest()
    return {
        "x-zm-signature": f"v0={digest}",
        "x-zm-request-timestamp": stamp,
        "x-zm-request-id": "414ce170_9bb5_8503_b11f_3ed2050ec360",
        "x-zm-trackingid": "v=2.0;clid=us02;rid=WEB_0123456789abcdef",
        "user-agent": "Zoom Marketplace/1.0a",
        "clientid": "client-id-test",
        **extra,
    }


def post(client, body: bytes, headers: dict, url: str = "/webhooks/zoom/default/"):
    return client.post(
        url,
        data=body,
        content_type="application/json; charset=utf-8",
        headers=headers,
    )


def signed_post(client, data: dict, secret: str = SECRET, **kwargs):
    body = body_of(data)
    return post(client, body, zoom_headers(secret, body), **kwargs)


@pytest.fixture
def on_commit(db):
    """The callbacks waiting for the test's transaction to commit (never run)."""
    from django.db import connection as db_connection

    return lambda: [func for _, func, _ in db_connection.run_on_commit]


# Accepted --------------------------------------------------------------------


def test_valid_delivery_is_stored_and_enqueued(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/meeting_started.json")
    body = body_of(data)

    response = post(client, body, zoom_headers(SECRET, body))

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert response.json() == {"status": "accepted", "id": delivery.pk}
    assert delivery.status == Status.ACCEPTED
    assert delivery.connection == connection
    assert delivery.connection_slug == "default"
    assert delivery.signature_verdict == Verdict.VALID
    assert delivery.event == "meeting.started"
    assert delivery.event_ts == data["event_ts"]
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    assert delivery.dedupe_key == delivery.body_sha256
    assert delivery.request_id == "414ce170_9bb5_8503_b11f_3ed2050ec360"
    assert delivery.payload == data
    # Processing waits for the commit; the view itself ran no handler.
    assert len(on_commit()) == 1
    assert delivery.processed_at is None


def test_safe_headers_only(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/meeting_started.json")
    body = body_of(data)
    headers = zoom_headers(SECRET, body, authorization="legacy-token-value")

    post(client, body, headers)

    kept = WebhookDelivery.objects.get().headers
    assert kept["x-zm-request-id"] == headers["x-zm-request-id"]
    assert kept["x-zm-trackingid"] == headers["x-zm-trackingid"]
    assert kept["x-zm-request-timestamp"] == headers["x-zm-request-timestamp"]
    assert kept["user-agent"] == "Zoom Marketplace/1.0a"
    assert kept["content-type"].startswith("application/json")
    assert "x-zm-signature" not in kept
    assert "authorization" not in kept
    assert headers["x-zm-signature"] not in json.dumps(kept)


def test_signature_over_raw_bytes_not_reserialised_json(client, connection, on_commit):
    # Odd spacing and key order: only the raw bytes verify.
    body = b'{ "payload": {"account_id": "A", "object": {"uuid": "u1==", "id": "1"}},'
    body += b'   "event":"meeting.started", "event_ts": 1785574804302 }'

    response = post(client, body, zoom_headers(SECRET, body))

    assert response.status_code == 200
    assert WebhookDelivery.objects.get().body_sha256 == hashlib.sha256(body).hexdigest()


def test_secret_values_in_payload_are_sealed(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/recording_completed.json")

    signed_post(client, data)

    stored = WebhookDelivery.objects.get().payload
    text = json.dumps(stored)
    assert "rec-pass-42" not in text
    assert "synthetic-download-token-not-real" not in text
    assert "SyntheticPlayPasscode000" not in text
    assert zw.unseal(stored["payload"]["object"]["password"]) == "rec-pass-42"
    assert stored["payload"]["object"]["share_url"].startswith("https://")


# Rejected: verification -------------------------------------------------------


def test_bad_signature_is_401_and_rejected(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/meeting_started.json")
    body = body_of(data)

    response = post(client, body, zoom_headers("some-other-secret", body))

    assert response.status_code == 401
    assert response.json()["verdict"] == Verdict.INVALID
    assert response.headers["WWW-Authenticate"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.REJECTED
    assert delivery.signature_verdict == Verdict.INVALID
    assert delivery.connection == connection
    assert delivery.dedupe_key is None
    assert delivery.payload is None  # an unverified body is not kept
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    assert on_commit() == []


def test_tampered_body_is_401(client, connection, on_commit):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    headers = zoom_headers(SECRET, body)

    response = post(client, body.replace(b"Quarterly", b"Quarterlx"), headers)

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().signature_verdict == Verdict.INVALID


@pytest.mark.parametrize("missing", ["x-zm-signature", "x-zm-request-timestamp"])
def test_missing_header_is_401(client, connection, on_commit, missing):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    headers = zoom_headers(SECRET, body)
    del headers[missing]

    response = post(client, body, headers)

    assert response.status_code == 401
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.signature_verdict) == (
        Status.REJECTED,
        Verdict.MISSING,
    )


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86400])
def test_stale_or_future_timestamp_is_401(client, connection, on_commit, skew):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    headers = zoom_headers(SECRET, body, ts=int(time.time()) + skew)

    response = post(client, body, headers)

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().signature_verdict == Verdict.STALE


@pytest.mark.parametrize("skew", [-290, 290])
def test_timestamp_within_tolerance_is_accepted(client, connection, on_commit, skew):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))

    response = post(
        client, body, zoom_headers(SECRET, body, ts=int(time.time()) + skew)
    )

    assert response.status_code == 200


def test_timestamp_not_a_number_is_401(client, connection, on_commit):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    headers = zoom_headers(SECRET, body)
    headers["x-zm-request-timestamp"] = "soon"

    assert post(client, body, headers).status_code == 401
    assert WebhookDelivery.objects.get().signature_verdict == Verdict.INVALID


def test_missing_secret_refuses_everything(client, make_connection, on_commit):
    make_connection(webhook_secret_token="")
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    # Even a delivery "signed" with an empty key is refused.
    response = post(client, body, zoom_headers("", body))

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().signature_verdict == Verdict.NO_SECRET


def test_previous_secret_works_during_rotation_window(client, connection, on_commit):
    connection.rotate_webhook_secret("new-secret-0000000000000000", timedelta(hours=1))
    connection.save()
    data = load_fixture("zoom_webhooks/meeting_started.json")

    old = signed_post(client, data, secret=SECRET)
    data["event_ts"] += 1
    new = signed_post(client, data, secret="new-secret-0000000000000000")

    assert (old.status_code, new.status_code) == (200, 200)
    verdicts = set(WebhookDelivery.objects.values_list("signature_verdict", flat=True))
    assert verdicts == {Verdict.VALID_PREVIOUS, Verdict.VALID}


def test_previous_secret_refused_after_rotation_window(client, connection, on_commit):
    connection.rotate_webhook_secret("new-secret-0000000000000000", timedelta(hours=1))
    connection.previous_secret_valid_until = timezone.now() - timedelta(seconds=1)
    connection.save()

    response = signed_post(
        client, load_fixture("zoom_webhooks/meeting_started.json"), secret=SECRET
    )

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().signature_verdict == Verdict.INVALID


def test_legacy_token_only_when_allowed(client, make_connection, on_commit):
    make_connection(verification_token="legacy-verification-token-0001")
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    legacy = {"authorization": "legacy-verification-token-0001"}

    refused = post(client, body, legacy)
    ZoomConnection.objects.update(allow_verification_token=True)
    accepted = post(client, body, legacy)
    wrong = post(client, body + b" ", {"authorization": "not-the-token"})

    assert refused.status_code == 401
    assert accepted.status_code == 200
    assert wrong.status_code == 401
    rows = WebhookDelivery.objects.order_by("id")
    assert [r.signature_verdict for r in rows] == [
        Verdict.MISSING,
        Verdict.LEGACY_TOKEN,
        Verdict.MISSING,
    ]
    assert "authorization" not in rows[1].headers


def test_legacy_token_does_not_rescue_a_bad_signature(client, make_connection):
    make_connection(
        verification_token="legacy-verification-token-0001",
        allow_verification_token=True,
    )
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    headers = zoom_headers(
        "wrong-secret", body, authorization="legacy-verification-token-0001"
    )

    assert post(client, body, headers).status_code == 401


def test_unknown_slug_is_404_and_recorded(client, connection, on_commit):
    response = signed_post(
        client,
        load_fixture("zoom_webhooks/meeting_started.json"),
        url="/webhooks/zoom/no-such-connection/",
    )

    assert response.status_code == 404
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.REJECTED
    assert delivery.signature_verdict == Verdict.UNKNOWN_CONNECTION
    assert delivery.connection is None
    assert delivery.connection_slug == "no-such-connection"


def test_rejections_are_logged_without_secrets(client, connection, caplog):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    headers = zoom_headers("some-other-secret", body)
    with caplog.at_level(logging.INFO):
        post(client, body, headers)
        del headers["x-zm-signature"]
        post(client, body, headers)

    messages = [r.getMessage() for r in caplog.records]
    assert "zoom.webhook.signature_invalid" in messages
    assert "zoom.webhook.signature_missing" in messages
    assert SECRET not in caplog.text
    assert "some-other-secret" not in caplog.text


# Duplicates ------------------------------------------------------------------------


def test_duplicate_is_recorded_and_not_processed_again(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/meeting_participant_joined.json")
    body = body_of(data)

    first = post(client, body, zoom_headers(SECRET, body))
    # Zoom's retry: same body and request id, fresh timestamp and signature.
    second = post(client, body, zoom_headers(SECRET, body, ts=int(time.time()) + 1))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "duplicate"
    original, repeat = WebhookDelivery.objects.order_by("id")
    assert original.status == Status.ACCEPTED
    assert repeat.status == Status.DUPLICATE
    assert repeat.duplicate_of == original
    assert repeat.dedupe_key is None
    assert repeat.body_sha256 == original.body_sha256
    assert len(on_commit()) == 1  # only the first is enqueued


def test_rejected_body_does_not_block_the_genuine_one(client, connection, on_commit):
    body = body_of(load_fixture("zoom_webhooks/meeting_started.json"))
    post(client, body, zoom_headers("forged", body))

    response = post(client, body, zoom_headers(SECRET, body))

    assert response.json()["status"] == "accepted"


# Malformed, oversized, methods -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json at all", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"meeting.started"', "not a JSON object"),
        (b'{"payload": {}}', "no event"),
        (b'{"event": "meeting.started", "payload": [1]}', "payload is not"),
        (b'{"event": "meeting.started", "event_ts": NaN}', "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_malformed_body_is_400_and_rejected(
    client, connection, on_commit, body, reason
):
    response = post(client, body, zoom_headers(SECRET, body))

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.REJECTED
    assert reason in delivery.error
    assert delivery.signature_verdict == Verdict.VALID
    assert on_commit() == []


def test_deeply_nested_body_is_400(client, connection, on_commit):
    body = b'{"event": "x", "payload": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"

    assert post(client, body, zoom_headers(SECRET, body)).status_code == 400


def test_oversized_body_is_413_without_reading_it(client, connection, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    data = load_fixture("zoom_webhooks/meeting_started.json")
    data["padding"] = "x" * 2000
    body = body_of(data)

    response = post(client, body, zoom_headers(SECRET, body))

    assert response.status_code == 413
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.REJECTED
    assert "over 1024 bytes" in delivery.error
    assert delivery.payload is None


def test_one_megabyte_limit_by_default(client, connection):
    body = b'{"event": "meeting.started", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert post(client, body, zoom_headers(SECRET, body)).status_code == 413


def test_body_longer_than_declared_length_is_413(rf, connection, settings):
    from connector.api.webhooks import ZoomWebhookView

    settings.WEBHOOK_MAX_BODY_BYTES = 100
    body = b'{"event": "meeting.started", "pad": "' + b"x" * 200 + b'"}'
    request = rf.post(
        "/webhooks/zoom/default/", data=body, content_type="application/json"
    )
    request.META["CONTENT_LENGTH"] = "50"  # a lying sender
    request._body = body  # what the server handed over regardless

    response = ZoomWebhookView.as_view()(request, slug="default")

    assert response.status_code == 413


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_405(client, connection, method):
    response = getattr(client, method)("/webhooks/zoom/default/")

    assert response.status_code == 405
    assert not WebhookDelivery.objects.exists()


def test_huge_event_ts_and_long_fields_never_500(client, connection, on_commit):
    data = {
        "event": "meeting.sharing_started" + "x" * 300,
        "event_ts": 10**30,
        "payload": {"object": {"topic": "\u0000nul"}},
    }
    body = body_of(data)
    headers = zoom_headers(SECRET, body, **{"x-zm-request-id": "r" * 500})

    response = post(client, body, headers)

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_ts is None
    assert len(delivery.event) == 100
    assert len(delivery.request_id) == 100
    assert delivery.payload["payload"]["object"]["topic"] == "nul"


# url_validation --------------------------------------------------------------------


def test_url_validation_is_answered_after_verification(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/url_validation.json")

    response = signed_post(client, data)

    assert response.status_code == 200
    plain = data["payload"]["plainToken"]
    expected = hmac.new(SECRET.encode(), plain.encode(), hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": plain, "encryptedToken": expected}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PROCESSED
    assert delivery.event == "endpoint.url_validation"
    assert on_commit() == []


def test_url_validation_worked_example_from_the_reference():
    # zoom-api.md §1.2 gives this pair.
    assert (
        zw.encrypt_plain_token(
            "fixture-secret-token-not-a-real-secret", "qgg8vlvZRS6UYooatFL8Aw"
        )
        == "501d03bbef2249b81044802aa44ca9da0790e696d7751b5256a1caf211ce9e82"
    )


def test_url_validation_repeated_is_answered_again(client, connection, on_commit):
    data = load_fixture("zoom_webhooks/url_validation.json")

    first = signed_post(client, data)
    second = signed_post(client, data)

    assert first.json() == second.json()
    assert [d.status for d in WebhookDelivery.objects.order_by("id")] == [
        Status.PROCESSED,
        Status.DUPLICATE,
    ]


def test_url_validation_with_bad_signature_is_not_answered(client, connection):
    response = signed_post(
        client, load_fixture("zoom_webhooks/url_validation.json"), secret="forged"
    )

    assert response.status_code == 401
    assert "encryptedToken" not in response.json()


def test_url_validation_without_plain_token_is_400(client, connection):
    response = signed_post(client, {"event": "endpoint.url_validation", "payload": {}})

    assert response.status_code == 400
    assert WebhookDelivery.objects.get().status == Status.REJECTED


def test_url_validation_with_rotated_secret_uses_the_one_that_verified(
    client, connection
):
    connection.rotate_webhook_secret("new-secret-0000000000000000", timedelta(hours=1))
    connection.save()

    response = signed_post(
        client, load_fixture("zoom_webhooks/url_validation.json"), secret=SECRET
    )

    assert response.json()["encryptedToken"] == zw.encrypt_plain_token(
        SECRET, "qgg8vlvZRS6UYooatFL8Aw"
    )


# Routing -----------------------------------------------------------------------------


def test_root_endpoint_with_exactly_one_connection(client, connection, on_commit):
    response = signed_post(
        client,
        load_fixture("zoom_webhooks/meeting_started.json"),
        url="/webhooks/zoom/",
    )

    assert response.status_code == 200
    assert WebhookDelivery.objects.get().connection == connection


def test_root_endpoint_with_several_connections_and_no_app_secret_is_404(
    client, make_connection, settings
):
    settings.ZOOM_OAUTH_WEBHOOK_SECRET = ""
    make_connection()
    make_connection()

    response = signed_post(
        client,
        load_fixture("zoom_webhooks/meeting_started.json"),
        url="/webhooks/zoom/",
    )

    assert response.status_code == 404
    assert WebhookDelivery.objects.get().signature_verdict == Verdict.UNKNOWN_CONNECTION


@pytest.fixture
def oauth_app(settings, make_connection, django_user_model):
    settings.ZOOM_OAUTH_WEBHOOK_SECRET = "oauth-app-webhook-secret-000000"
    make_connection()  # a Server-to-Server connection with its own slug
    owner = django_user_model.objects.create_user("host", "host@example.test", "pw")
    user_conn = make_connection(
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        account_id="",
        client_id="",
        client_secret="",
        webhook_secret_token="",
        owner=owner,
        zoom_user_id="UserSynthetic0001XXXXXXX",
        zoom_user_email="host@example.test",
    )
    return user_conn


def test_oauth_app_delivery_is_routed_by_host(client, oauth_app, on_commit):
    data = load_fixture("zoom_webhooks/meeting_started.json")

    response = signed_post(
        client, data, secret="oauth-app-webhook-secret-000000", url="/webhooks/zoom/"
    )

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.connection == oauth_app
    assert delivery.status == Status.ACCEPTED
    assert len(on_commit()) == 1


def test_oauth_app_delivery_routed_by_account_when_connection_knows_it(
    client, oauth_app, on_commit
):
    oauth_app.account_id = "SomeOtherAccount"
    oauth_app.save()

    signed_post(
        client,
        load_fixture("zoom_webhooks/meeting_started.json"),
        secret="oauth-app-webhook-secret-000000",
        url="/webhooks/zoom/",
    )

    delivery = WebhookDelivery.objects.get()
    assert delivery.connection is None
    assert delivery.status == Status.IGNORED
    assert on_commit() == []


def test_oauth_app_delivery_for_unknown_user_is_kept_and_ignored(
    client, oauth_app, on_commit
):
    data = load_fixture("zoom_webhooks/meeting_started.json")
    data["payload"]["object"]["host_id"] = "SomebodyElse"

    response = signed_post(
        client, data, secret="oauth-app-webhook-secret-000000", url="/webhooks/zoom/"
    )

    # Authentic, so Zoom gets a 200 and no retries; nothing to process.
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.connection) == (Status.IGNORED, None)
    assert "No connected Zoom user" in delivery.error


def test_oauth_app_url_validation_uses_app_secret(client, oauth_app):
    response = signed_post(
        client,
        load_fixture("zoom_webhooks/url_validation.json"),
        secret="oauth-app-webhook-secret-000000",
        url="/webhooks/zoom/",
    )

    assert response.json()["encryptedToken"] == zw.encrypt_plain_token(
        "oauth-app-webhook-secret-000000", "qgg8vlvZRS6UYooatFL8Aw"
    )


def test_user_oauth_connection_slug_verifies_with_app_secret(client, oauth_app):
    response = signed_post(
        client,
        load_fixture("zoom_webhooks/meeting_started.json"),
        secret="oauth-app-webhook-secret-000000",
        url=f"/webhooks/zoom/{oauth_app.slug}/",
    )

    assert response.status_code == 200


# Logging -----------------------------------------------------------------------------


def test_full_body_logged_only_when_switched_on(client, connection, caplog, on_commit):
    data = load_fixture("zoom_webhooks/recording_completed.json")
    with caplog.at_level(logging.INFO):
        signed_post(client, data)
    assert "zoom.webhook.body" not in caplog.text
    assert "Quarterly pipeline review" not in caplog.text

    connection.log_webhooks = True
    connection.save()
    data["event_ts"] += 1
    caplog.clear()
    with caplog.at_level(logging.INFO):
        signed_post(client, data)
    assert "zoom.webhook.body" in [r.getMessage() for r in caplog.records]
    body_record = next(
        r for r in caplog.records if r.getMessage() == "zoom.webhook.body"
    )
    assert "Quarterly pipeline review" in body_record.body
    assert "rec-pass-42" not in caplog.text
    assert "synthetic-download-token-not-real" not in caplog.text


# Pure functions ----------------------------------------------------------------------


def test_sign_matches_zoom_formula():
    body = b'{"event":"x"}'
    expected = hmac.new(b"k", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
    assert zw.sign("k", "1700000000", body) == f"v0={expected}"


def test_check_signature_tolerance_both_directions():
    body = b"{}"
    sig = zw.sign("s", "1000", body)
    assert zw.check_signature(["s"], sig, "1000", body, now=1300, tolerance=300)[0] == (
        Verdict.VALID
    )
    assert zw.check_signature(["s"], sig, "1000", body, now=700, tolerance=300)[0] == (
        Verdict.VALID
    )
    assert zw.check_signature(["s"], sig, "1000", body, now=1301, tolerance=300)[0] == (
        Verdict.STALE
    )
    assert zw.check_signature(["s"], sig, "1000", body, now=699, tolerance=300)[0] == (
        Verdict.STALE
    )


def test_verified_delivery_repr_hides_secret(connection):
    verified = zw.VerifiedDelivery(connection, Verdict.VALID, SECRET)
    assert SECRET not in repr(verified)


# The per-process connection cache ----------------------------------------------------


def test_secret_changed_by_another_process_is_picked_up(client, connection, on_commit):
    signed_post(client, load_fixture("zoom_webhooks/meeting_started.json"))
    # Another process rotates the secret: no signal reaches this one.
    ZoomConnection.objects.filter(pk=connection.pk).update(
        webhook_secret_token="rotated-elsewhere-000000000"
    )
    data = load_fixture("zoom_webhooks/meeting_ended.json")

    response = signed_post(client, data, secret="rotated-elsewhere-000000000")

    assert response.status_code == 200
    assert WebhookDelivery.objects.filter(status=Status.ACCEPTED).count() == 2


def test_secret_cleared_elsewhere_refuses_once_the_cache_expires(
    client, connection, on_commit
):
    signed_post(client, load_fixture("zoom_webhooks/meeting_started.json"))
    ZoomConnection.objects.filter(pk=connection.pk).update(webhook_secret_token="")
    data = load_fixture("zoom_webhooks/meeting_ended.json")
    data["padding"] = "x"

    # Signed with the old secret, the cached connection still accepts it for
    # up to CONNECTION_CACHE_SECONDS; then the database decides.
    zw.forget_connections()
    response = signed_post(client, data)

    assert response.status_code == 401
    assert WebhookDelivery.objects.order_by("id").last().signature_verdict == (
        Verdict.NO_SECRET
    )


@pytest.mark.django_db(transaction=True)
def test_connection_deleted_while_cached_is_404_not_500(client, connection):
    signed_post(client, load_fixture("zoom_webhooks/meeting_started.json"))
    stale = zw._cache["default"]
    ZoomConnection.objects.filter(pk=connection.pk).delete()
    # As another web process still holds it:
    zw._cache["default"] = stale

    response = signed_post(client, load_fixture("zoom_webhooks/meeting_ended.json"))

    assert response.status_code == 404
    row = WebhookDelivery.objects.order_by("id").last()
    assert (row.status, row.signature_verdict, row.connection) == (
        Status.REJECTED,
        Verdict.UNKNOWN_CONNECTION,
        None,
    )
