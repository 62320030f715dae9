"""The "Test connection" admin action and the scope check behind it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from connector.models import ZoomConnection
from connector.zoom.scopes import missing_scopes
from tests.conftest import load_fixture

API = "https://api.zoom.test/v2"
OAUTH = "https://zoom.test"
CHANGELIST = "admin:connector_zoomconnection_changelist"
ALL_S2S_SCOPES = " ".join(
    f"{name}:admin"
    for name in [
        "user:read:list_users",
        "meeting:read:list_meetings",
        "meeting:read:meeting",
        "meeting:read:past_meeting",
        "meeting:read:list_past_instances",
        "meeting:read:list_past_participants",
        "webinar:read:list_webinars",
        "webinar:read:webinar",
        "webinar:read:past_webinar",
        "webinar:read:list_past_instances",
        "webinar:read:list_past_participants",
        "webinar:read:list_registrants",
        "report:read:list_webinar_participants",
        "cloud_recording:read:list_recording_files",
    ]
)


@pytest.fixture(autouse=True)
def zoom_urls(settings):
    settings.ZOOM_API_BASE_URL = API
    settings.ZOOM_OAUTH_BASE_URL = OAUTH
    settings.HTTP_MAX_RETRIES = 0


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def operator(client, staff_user):
    staff_user.user_permissions.add(
        Permission.objects.get(codename="view_zoomconnection")
    )
    client.force_login(staff_user)
    return client


def run_action(operator, *connections) -> list[tuple[int, str]]:
    response = operator.post(
        reverse(CHANGELIST),
        {"action": "test_connection", "_selected_action": [c.pk for c in connections]},
    )
    assert response.status_code == 302
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def s2s_token(scope: str) -> dict:
    body = load_fixture("zoom/s2s_token.json")
    body["scope"] = scope
    return body


def test_s2s_test_fetches_one_user_and_lists_missing_scopes(
    operator, connection, mocked
):
    mocked.add(
        responses.POST,
        f"{OAUTH}/oauth/token",
        json=s2s_token("user:read:list_users:admin meeting:read:admin"),
    )
    mocked.add(responses.GET, f"{API}/users", json=load_fixture("zoom/users_page.json"))

    ((level, text),) = run_action(operator, connection)

    query = parse_qs(urlsplit(mocked.calls[1].request.url).query)
    assert query["page_size"] == ["1"]
    assert level == 30  # warning
    assert "Zoom answered (user ada@example.test)" in text
    assert "Granted scopes: meeting:read:admin, user:read:list_users:admin" in text
    # meeting:read:admin (classic) covers the meeting needs; the rest are missing.
    assert "add the scopes webinar:read:list_webinars:admin" in text
    assert "report:read:list_webinar_participants:admin" in text
    assert "webinar:read:list_registrants:admin" in text
    assert "cloud_recording:read:list_recording_files:admin" in text
    assert "meeting:read:list_past_participants:admin" not in text
    assert "client-secret" not in text and "s2s-synthetic" not in text


def test_s2s_test_with_every_scope_succeeds(operator, connection, mocked):
    mocked.add(responses.POST, f"{OAUTH}/oauth/token", json=s2s_token(ALL_S2S_SCOPES))
    mocked.add(responses.GET, f"{API}/users", json=load_fixture("zoom/users_page.json"))

    ((level, text),) = run_action(operator, connection)

    assert level == 25  # success
    assert "All scopes the enabled sync options need are present." in text


def test_user_oauth_test_reads_users_me_and_wants_user_scopes(
    operator, make_connection, staff_user, mocked
):
    conn = make_connection(
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        owner=staff_user,
        zoom_user_id="KDcuGIm1QgePTO8WbOqwIQ",
        refresh_token="user-refresh-0",
        sync_webinars=False,
        sync_recordings=False,
    )
    token = load_fixture("zoom/user_token.json")
    mocked.add(responses.POST, f"{OAUTH}/oauth/token", json=token)
    mocked.add(
        responses.GET, f"{API}/users/me", json=load_fixture("zoom/users_me.json")
    )

    ((level, text),) = run_action(operator, conn)

    assert level == 30
    # Non-admin names for a user-level app; reports are not asked of it.
    assert "add the scopes meeting:read:meeting, meeting:read:past_meeting, " in text
    assert "meeting:read:list_past_instances to the Zoom app" in text
    assert "report:" not in text


def test_failed_test_says_why(operator, connection, mocked):
    mocked.add(
        responses.POST,
        f"{OAUTH}/oauth/token",
        status=401,
        json={
            "reason": "Invalid client_id or client_secret",
            "error": "invalid_client",
        },
    )

    ((level, text),) = run_action(operator, connection)

    assert level == 40
    assert "Zoom refused the client id or secret (invalid_client)" in text
    connection.refresh_from_db()
    assert connection.status == ZoomConnection.Status.ERROR


def test_missing_scope_error_names_the_scope(operator, connection, mocked):
    mocked.add(responses.POST, f"{OAUTH}/oauth/token", json=s2s_token(""))
    mocked.add(
        responses.GET,
        f"{API}/users",
        status=400,
        json=load_fixture("zoom/errors.json")["missing_scope"],
    )

    ((level, text),) = run_action(operator, connection)

    assert level == 40
    assert "Add the scope report:read:list_meeting_participants:admin" in text


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ({"recording:read"}, []),  # classic user-level name
        ({"recording:read:admin"}, []),  # account-wide classic also covers it
        (set(), ["cloud_recording:read:list_recording_files"]),
    ],
)
def test_user_app_accepts_classic_scopes(make_connection, granted, missing):
    conn = make_connection(
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        sync_participants=False,
        sync_webinars=False,
    )
    assert missing_scopes(conn, granted | {"user:read:user"}) == missing
