"""User OAuth ("Connect Zoom"): the pages, the callback, refresh rotation, revoke.

Zoom's token, revoke and REST endpoints are mocked with ``responses``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.contrib.messages import get_messages
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from connector.models import ConnectionEvent, ZoomConnection
from connector.zoom import oauth
from connector.zoom.errors import ZoomReauthRequired
from tests.conftest import load_fixture

API = "https://api.zoom.test/v2"
OAUTH = "https://zoom.test"
TOKEN_URL = f"{OAUTH}/oauth/token"
REVOKE_URL = f"{OAUTH}/oauth/revoke"
PORTAL = "https://portal.example.test"
ERRORS = load_fixture("zoom/errors.json")
CONNECT = "/connect/zoom/"


@pytest.fixture(autouse=True)
def zoom_settings(settings):
    settings.ZOOM_API_BASE_URL = API
    settings.ZOOM_OAUTH_BASE_URL = OAUTH
    settings.ZOOM_OAUTH_CLIENT_ID = "user-app-client-id"
    settings.ZOOM_OAUTH_CLIENT_SECRET = "user-app-client-secret-000000"
    settings.PORTAL_BASE_URL = PORTAL
    settings.HTTP_MAX_RETRIES = 1


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def host(django_user_model):
    return django_user_model.objects.create_user("host", "host@example.test", "pw-1")


@pytest.fixture
def browser(client, host):
    client.force_login(host)
    return client


def user_token(n: int = 1) -> dict:
    body = load_fixture("zoom/user_token.json")
    body["access_token"] = f"user-access-{n}"
    body["refresh_token"] = f"user-refresh-{n}"
    return body


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def start(browser) -> dict:
    """Press "Connect Zoom"; return the authorize URL's query."""
    response = browser.post(reverse("connector:connect_start"))
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{OAUTH}/oauth/authorize"
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def add_exchange(mocked, n: int = 1, profile: dict | None = None):
    mocked.add(responses.POST, TOKEN_URL, json=user_token(n))
    mocked.add(
        responses.GET,
        f"{API}/users/me",
        json=profile or load_fixture("zoom/users_me.json"),
    )


# Starting the flow -------------------------------------------------------------


def test_connect_page_needs_a_signed_in_user(client):
    response = client.get(CONNECT)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/connect/zoom/")


def test_connect_page_shows_the_button(browser):
    response = browser.get(CONNECT)
    assert response.status_code == 200
    assert b"Connect Zoom" in response.content


def test_connect_page_says_when_the_app_is_not_set_up(browser, settings):
    settings.ZOOM_OAUTH_CLIENT_ID = ""
    response = browser.get(CONNECT)
    assert b"not set up" in response.content
    assert b'id="connect-zoom"' not in response.content
    response = browser.post(reverse("connector:connect_start"))
    assert response.status_code == 302
    assert "not set up" in texts(response)[0]


def test_start_sends_state_and_pkce_s256(browser):
    query = start(browser)

    assert query["response_type"] == "code"
    assert query["client_id"] == "user-app-client-id"
    assert query["redirect_uri"] == f"{PORTAL}/connect/zoom/callback/"
    assert query["code_challenge_method"] == "S256"
    (pending,) = browser.session["zoom_oauth_pending"]
    assert pending["state"] == query["state"]
    assert len(query["state"]) >= 32
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip(
        "="
    )


def test_start_needs_post(browser):
    assert browser.get(reverse("connector:connect_start")).status_code == 405


def test_each_start_gets_a_new_state(browser):
    first, second = start(browser), start(browser)
    assert first["state"] != second["state"]
    assert len(browser.session["zoom_oauth_pending"]) == 2


# The callback ----------------------------------------------------------------


def test_callback_creates_the_connection(browser, host, mocked, brevo_account):
    query = start(browser)
    add_exchange(mocked)

    response = browser.get(
        "/connect/zoom/callback/", {"code": "auth-code-1", "state": query["state"]}
    )

    assert response.status_code == 302
    assert response["Location"] == CONNECT
    assert texts(response) == ["Zoom connected: ada@example.test"]
    conn = ZoomConnection.objects.get(owner=host)
    assert conn.auth_type == ZoomConnection.AuthType.USER_OAUTH
    assert conn.zoom_user_id == "KDcuGIm1QgePTO8WbOqwIQ"
    assert conn.slug == "zoom-user-kdcugim1qgepto8wboqwiq"
    assert conn.account_id == "AcctSynthetic0001XXXXXX"
    assert conn.access_token == "user-access-1"
    assert conn.refresh_token == "user-refresh-1"
    assert conn.granted_scopes.startswith("user:read:user")
    assert conn.status == ZoomConnection.Status.ACTIVE
    assert conn.brevo_account == brevo_account
    assert conn.events.filter(kind=ConnectionEvent.Kind.CONNECTED, actor=host).exists()
    exchange = parse_qs(mocked.calls[0].request.body)
    assert exchange["grant_type"] == ["authorization_code"]
    assert exchange["code"] == ["auth-code-1"]
    assert exchange["redirect_uri"] == [f"{PORTAL}/connect/zoom/callback/"]
    pending_verifier = exchange["code_verifier"][0]
    assert len(pending_verifier) >= 43
    assert mocked.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer user-access-1"
    assert browser.session["zoom_oauth_pending"] == []  # single use

    page = browser.get(CONNECT)
    assert b"ada@example.test" in page.content and b"Connected" in page.content
    assert b"Disconnect" in page.content


def test_connecting_again_updates_the_same_connection(browser, host, mocked):
    add_exchange(mocked, 1)
    query = start(browser)
    browser.get("/connect/zoom/callback/", {"code": "c1", "state": query["state"]})
    mocked.replace(responses.POST, TOKEN_URL, json=user_token(2))

    query = start(browser)
    response = browser.get(
        "/connect/zoom/callback/", {"code": "c2", "state": query["state"]}
    )

    assert texts(response)[-1] == "Zoom reconnected: ada@example.test"
    conn = ZoomConnection.objects.get(owner=host)
    assert conn.access_token == "user-access-2"
    assert list(conn.events.values_list("kind", flat=True).order_by("id")) == [
        "created",
        "connected",
        "reconnected",
    ]


def test_state_is_single_use(browser, host, mocked):
    add_exchange(mocked)
    query = start(browser)
    params = {"code": "c1", "state": query["state"]}
    browser.get("/connect/zoom/callback/", params)

    response = browser.get("/connect/zoom/callback/", params)

    assert "sign-in expired" in texts(response)[-1]
    assert len([c for c in mocked.calls if c.request.url == TOKEN_URL]) == 1


@pytest.mark.parametrize("state", ["", "forged-state-value-0000000000000000000"])
def test_wrong_or_missing_state_is_refused(browser, host, mocked, state, caplog):
    start(browser)

    with caplog.at_level(logging.WARNING):
        response = browser.get(
            "/connect/zoom/callback/", {"code": "c1", "state": state}
        )

    assert "sign-in expired" in texts(response)[0]
    assert not mocked.calls
    assert not ZoomConnection.objects.filter(owner=host).exists()
    assert "zoom.oauth.invalid_state" in caplog.messages


def test_state_from_another_session_is_refused(client, host, django_user_model, mocked):
    other = django_user_model.objects.create_user("other", "o@example.test", "pw-2")
    client.force_login(other)
    query = start(client)
    client.logout()
    client.force_login(host)

    response = client.get(
        "/connect/zoom/callback/", {"code": "c", "state": query["state"]}
    )

    assert "sign-in expired" in texts(response)[0]
    assert not mocked.calls


def test_expired_state_is_refused(browser, host, mocked, monkeypatch):
    query = start(browser)
    later = time.time() + 601
    monkeypatch.setattr("connector.zoom.views.time.time", lambda: later)

    response = browser.get(
        "/connect/zoom/callback/", {"code": "c", "state": query["state"]}
    )

    assert "sign-in expired" in texts(response)[0]
    assert not mocked.calls


def test_cancel_shows_a_plain_message(browser, host, mocked, caplog):
    query = start(browser)

    with caplog.at_level(logging.INFO):
        response = browser.get(
            "/connect/zoom/callback/",
            {"error": "access_denied", "state": query["state"]},
        )

    assert texts(response) == [
        "Zoom was not connected: the authorization was cancelled."
    ]
    assert "zoom.oauth.cancelled" in caplog.messages
    assert not ZoomConnection.objects.filter(owner=host).exists()


def test_other_authorize_errors_are_failures(browser, host, caplog):
    query = start(browser)

    with caplog.at_level(logging.INFO):
        response = browser.get(
            "/connect/zoom/callback/",
            {"error": "server_error", "state": query["state"]},
        )

    assert texts(response) == [
        "Zoom could not be connected. Please try again, or ask an administrator."
    ]
    (record,) = [r for r in caplog.records if r.message == "zoom.oauth.denied"]
    assert record.error == "server_error"


def test_refused_code_is_a_failure_with_details_in_the_log(
    browser, host, mocked, caplog
):
    mocked.add(responses.POST, TOKEN_URL, status=400, json=ERRORS["invalid_grant"])
    query = start(browser)

    with caplog.at_level(logging.INFO):
        response = browser.get(
            "/connect/zoom/callback/", {"code": "stale", "state": query["state"]}
        )

    (message,) = texts(response)
    assert message.startswith("Zoom could not be connected.")
    assert "Invalid Token" not in message and "invalid_grant" not in message
    (record,) = [r for r in caplog.records if r.message == "zoom.oauth.failed"]
    assert record.error_type == "ZoomReauthRequired"
    assert record.code == "invalid_grant"
    assert not ZoomConnection.objects.filter(owner=host).exists()


def test_profile_failure_is_a_failure(browser, host, mocked):
    mocked.add(responses.POST, TOKEN_URL, json=user_token())
    mocked.add(responses.GET, f"{API}/users/me", status=500, body="oops")
    query = start(browser)

    response = browser.get(
        "/connect/zoom/callback/", {"code": "c", "state": query["state"]}
    )

    assert texts(response)[0].startswith("Zoom could not be connected.")
    assert not ZoomConnection.objects.filter(owner=host).exists()


def test_two_users_may_connect_the_same_zoom_user(client, django_user_model, mocked):
    add_exchange(mocked)
    for name in ("first", "second"):
        user = django_user_model.objects.create_user(name, f"{name}@x.test", "pw-3")
        client.force_login(user)
        query = start(client)
        client.get("/connect/zoom/callback/", {"code": "c", "state": query["state"]})

    slugs = sorted(ZoomConnection.objects.values_list("slug", flat=True))
    assert len(slugs) == 2 and slugs[0] != slugs[1]


# Refresh with rotation ---------------------------------------------------------


@pytest.fixture
def user_connection(make_connection, host):
    return make_connection(
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        owner=host,
        zoom_user_id="KDcuGIm1QgePTO8WbOqwIQ",
        account_id="AcctSynthetic0001XXXXXX",
        client_id="",
        client_secret="",
        access_token="user-access-0",
        access_token_expires_at=timezone.now() - timedelta(minutes=1),
        refresh_token="user-refresh-0",
    )


class RotatingZoom:
    """Zoom's refresh endpoint: each refresh token works once, then is dead."""

    def __init__(self, current: str, delay: float = 0.0) -> None:
        self.current = current
        self.n = 0
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, request):
        time.sleep(self.delay)
        sent = parse_qs(request.body)["refresh_token"][0]
        with self.lock:
            if sent != self.current:
                return 400, {}, json.dumps(ERRORS["invalid_grant"])
            self.n += 1
            self.current = f"user-refresh-{self.n}"
            return 200, {}, json.dumps(user_token(self.n))


def test_refresh_rotates_and_saves_the_new_pair_first(user_connection, mocked):
    zoom = RotatingZoom("user-refresh-0")
    mocked.add_callback(responses.POST, TOKEN_URL, callback=zoom)

    token = oauth.get_access_token(user_connection)

    assert token == "user-access-1"
    stored = ZoomConnection.objects.get(pk=user_connection.pk)
    assert stored.refresh_token == "user-refresh-1"
    assert stored.access_token == "user-access-1"
    body = parse_qs(mocked.calls[0].request.body)
    assert body["grant_type"] == ["refresh_token"]
    assert mocked.calls[0].request.headers["Authorization"].startswith("Basic ")


@pytest.mark.django_db(transaction=True)
def test_two_workers_refresh_once(make_connection, django_user_model, mocked):
    """The rotation race: without the row lock the second refresh would use the
    already rotated token, get invalid_grant and lose the connection."""
    owner = django_user_model.objects.create_user("racer", "r@example.test", "pw-4")
    conn = make_connection(
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        owner=owner,
        zoom_user_id="RaceUser",
        access_token="user-access-0",
        access_token_expires_at=timezone.now() - timedelta(minutes=1),
        refresh_token="user-refresh-0",
    )
    zoom = RotatingZoom("user-refresh-0", delay=0.3)
    mocked.add_callback(responses.POST, TOKEN_URL, callback=zoom)
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            own = ZoomConnection.objects.get(pk=conn.pk)  # each worker loads its copy
            go.wait()
            results[n] = oauth.get_access_token(own)
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert zoom.n == 1 and len(mocked.calls) == 1
    assert results == {0: "user-access-1", 1: "user-access-1"}
    conn.refresh_from_db()
    assert conn.status == ZoomConnection.Status.ACTIVE
    assert conn.refresh_token == "user-refresh-1"


def test_invalid_grant_asks_for_a_reconnect(user_connection, mocked, browser):
    mocked.add(responses.POST, TOKEN_URL, status=400, json=ERRORS["invalid_grant"])

    with pytest.raises(ZoomReauthRequired):
        oauth.get_access_token(user_connection)
    # Later calls do not ask Zoom again with a dead token.
    with pytest.raises(ZoomReauthRequired):
        oauth.get_access_token(ZoomConnection.objects.get(pk=user_connection.pk))

    assert len(mocked.calls) == 1
    user_connection.refresh_from_db()
    assert user_connection.status == ZoomConnection.Status.NEEDS_REAUTH
    assert user_connection.refresh_token == ""
    assert user_connection.events.filter(kind=ConnectionEvent.Kind.NEEDS_REAUTH).count()
    page = browser.get(CONNECT)
    assert b"Reconnect" in page.content
    assert b"Needs reconnecting" in page.content
    assert b"needs your attention" in page.content


def test_reconnecting_restores_a_connection(user_connection, browser, host, mocked):
    user_connection.status = ZoomConnection.Status.NEEDS_REAUTH
    user_connection.save()
    add_exchange(mocked, 5)
    query = start(browser)

    browser.get("/connect/zoom/callback/", {"code": "c", "state": query["state"]})

    user_connection.refresh_from_db()
    assert user_connection.status == ZoomConnection.Status.ACTIVE
    assert user_connection.refresh_token == "user-refresh-5"
    assert ZoomConnection.objects.filter(owner=host).count() == 1


# Disconnect ------------------------------------------------------------------


def test_disconnect_revokes_and_wipes(user_connection, browser, host, mocked):
    user_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    user_connection.save()
    mocked.add(responses.POST, REVOKE_URL, json={"status": "success"})
    url = reverse("connector:connect_disconnect", args=[user_connection.pk])

    assert browser.get(url).status_code == 405
    response = browser.post(url)

    assert response.status_code == 302
    assert parse_qs(mocked.calls[0].request.body)["token"] == ["user-access-0"]
    assert mocked.calls[0].request.headers["Authorization"].startswith("Basic ")
    user_connection.refresh_from_db()
    assert user_connection.status == ZoomConnection.Status.REVOKED
    assert user_connection.access_token == ""
    assert user_connection.refresh_token == ""
    event = user_connection.events.get(kind=ConnectionEvent.Kind.REVOKED)
    assert event.actor == host
    assert event.detail == "Zoom confirmed the revocation"
    page = browser.get(CONNECT)
    assert b"Reconnect" in page.content
    assert b"needs your attention" not in page.content


def test_disconnect_wipes_even_when_zoom_fails(user_connection, browser, mocked):
    mocked.add(responses.POST, REVOKE_URL, status=500, body="down")

    browser.post(reverse("connector:connect_disconnect", args=[user_connection.pk]))

    user_connection.refresh_from_db()
    assert user_connection.status == ZoomConnection.Status.REVOKED
    assert user_connection.refresh_token == ""
    event = user_connection.events.get(kind=ConnectionEvent.Kind.REVOKED)
    assert "did not confirm" in event.detail


def test_nobody_disconnects_another_users_connection(
    user_connection, client, django_user_model, mocked
):
    other = django_user_model.objects.create_user("intruder", "i@example.test", "pw-5")
    client.force_login(other)

    url = reverse("connector:connect_disconnect", args=[user_connection.pk])
    assert client.post(url).status_code == 404

    user_connection.refresh_from_db()
    assert user_connection.status == ZoomConnection.Status.ACTIVE
    assert not mocked.calls
