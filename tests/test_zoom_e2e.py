"""End to end over real sockets: the Zoom client and both OAuth flows against the
sandbox, which the portal itself serves under ``/sandbox/zoom/``."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urljoin

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone

from connector.models import ConnectionEvent, ZoomConnection
from connector.zoom import oauth
from connector.zoom.client import ZoomClient
from connector.zoom.errors import ZoomCredentialsError, ZoomNotFound

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not django_settings.SANDBOX, reason="the sandbox is off"),
]

PASSWORD = "pw-e2e-host-123456"


@pytest.fixture
def sandbox(live_server, settings, transactional_db):
    settings.ZOOM_OAUTH_BASE_URL = f"{live_server.url}/sandbox/zoom"
    settings.ZOOM_API_BASE_URL = f"{live_server.url}/sandbox/zoom/v2"
    settings.PORTAL_BASE_URL = live_server.url
    from sandbox import seed

    seed.ensure_zoom_account()
    return live_server


@pytest.fixture
def s2s_connection(sandbox, make_connection):
    from sandbox import seed

    app = seed.ensure_s2s_app()
    return make_connection(
        account_id=seed.ACCOUNT_ID,
        client_id=app.client_id,
        client_secret=app.client_secret,
    )


def issued(kind: str = "access") -> int:
    from sandbox.models import IssuedToken

    return IssuedToken.objects.filter(kind=kind).count()


def past_meeting(uuid: str, participants: int):
    """An ended meeting in the sandbox with ``participants`` join sessions."""
    from sandbox import seed
    from sandbox.models import Meeting, Occurrence, Participant, ZoomUser

    account = seed.ensure_zoom_account()
    host = ZoomUser.objects.filter(account=account).order_by("id").first()
    start = timezone.now() - timedelta(hours=3)
    meeting = Meeting.objects.create(
        account=account,
        host=host,
        kind=Meeting.Kind.MEETING,
        meeting_id=84000000000 + Meeting.objects.count(),
        topic="End-to-end check",
        start_time=start,
    )
    occurrence = Occurrence.objects.create(
        meeting=meeting,
        uuid=uuid,
        start_time=start,
        end_time=start + timedelta(hours=1),
    )
    Participant.objects.bulk_create(
        Participant(
            occurrence=occurrence,
            user_id=str(16778240 + n),
            participant_uuid=f"00000000-0000-4000-8000-{n:012d}",
            name=f"Person {n}",
            email=f"person{n}@example.test",
            join_time=start + timedelta(minutes=1),
            leave_time=start + timedelta(minutes=50),
        )
        for n in range(participants)
    )
    return meeting


# The REST client with a Server-to-Server token -------------------------------


def test_client_reads_the_sandbox_with_a_cached_token(s2s_connection):
    client = ZoomClient(s2s_connection)

    users = list(client.list_users())
    me = client.get_user(users[0]["id"])

    assert len(users) >= 3
    assert me["email"] == users[0]["email"]
    assert issued() == 1
    s2s_connection.refresh_from_db()
    assert s2s_connection.access_token_expires_at > timezone.now()
    assert "user:read:list_users:admin" in s2s_connection.granted_scopes.split()
    # Another worker process would load the row and reuse the token.
    list(ZoomClient(ZoomConnection.objects.get(pk=s2s_connection.pk)).list_users())
    assert issued() == 1


def test_client_pages_through_participants_of_a_slash_uuid(s2s_connection):
    uuid = "/e2eSlashUuid+0000001=="
    past_meeting(uuid, participants=301)
    client = ZoomClient(s2s_connection)

    rows = list(client.past_meeting_participants(uuid))

    assert len(rows) == 301
    assert len({r["user_id"] for r in rows}) == 301
    assert client.calls == 2  # 300 + 1, one page at a time
    assert client.get_past_meeting(uuid)["uuid"] == uuid


def test_single_encoding_a_slash_uuid_is_refused(s2s_connection):
    """The sandbox answers Zoom's 404 when the double encoding is missing."""
    uuid = "/e2eSlashUuid+0000002=="
    past_meeting(uuid, participants=1)
    client = ZoomClient(s2s_connection)

    with pytest.raises(ZoomNotFound):
        client.get_json(f"past_meetings/{requests.utils.quote(uuid, safe='')}")
    assert client.get_past_meeting(uuid)["uuid"] == uuid


def test_a_revoked_token_is_renewed_once(s2s_connection):
    from sandbox.models import IssuedToken

    client = ZoomClient(s2s_connection)
    list(client.list_users())
    IssuedToken.objects.update(revoked_at=timezone.now())

    assert list(client.list_users())
    assert issued() == 2
    assert client.calls == 3  # one page, one refused, one retried


def test_wrong_secret_puts_the_connection_in_error(sandbox, make_connection):
    from sandbox import seed

    app = seed.ensure_s2s_app()
    conn = make_connection(
        account_id=seed.ACCOUNT_ID,
        client_id=app.client_id,
        client_secret="not-the-secret-0000000000000",
    )

    with pytest.raises(ZoomCredentialsError):
        list(ZoomClient(conn).list_users())

    conn.refresh_from_db()
    assert conn.status == ZoomConnection.Status.ERROR
    assert conn.status_reason == "Zoom refused the client id or secret (invalid_client)"
    assert conn.events.filter(kind=ConnectionEvent.Kind.ERROR).exists()


# User OAuth over HTTP --------------------------------------------------------

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(\w[\w-]*)\s*=\s*"([^"]*)"')


def form_fields(html: str) -> dict[str, str]:
    """Hidden and text inputs of the (only) form on a page."""
    fields = {}
    for tag in _INPUT.findall(html):
        attrs = {k.lower(): unescape(v) for k, v in _ATTR.findall(tag)}
        if attrs.get("name") and attrs.get("type", "text") not in ("submit", "radio"):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


_OPEN: list[requests.Session] = []


@pytest.fixture(autouse=True)
def _close_sessions():
    """Close keep-alive connections so the live server's threads end with the test."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def sign_in(base: str, user) -> requests.Session:
    session = requests.Session()
    _OPEN.append(session)
    page = session.get(f"{base}/admin/login/", timeout=10)
    token = form_fields(page.text)["csrfmiddlewaretoken"]
    session.post(
        f"{base}/admin/login/",
        data={
            "csrfmiddlewaretoken": token,
            "username": user.username,
            "password": PASSWORD,
            "next": "/connect/zoom/",
        },
        timeout=10,
    )
    return session


def connect_over_http(
    base: str, session: requests.Session, decision: str = "allow"
) -> requests.Response:
    """Press Connect Zoom, then Allow (or Deny) on the sandbox's consent page."""
    page = session.get(f"{base}/connect/zoom/", timeout=10)
    assert "Connect Zoom" in page.text
    csrf = form_fields(page.text)["csrfmiddlewaretoken"]
    started = session.post(
        f"{base}/connect/zoom/start/",
        data={"csrfmiddlewaretoken": csrf},
        allow_redirects=False,
        timeout=10,
    )
    authorize_url = started.headers["Location"]
    assert authorize_url.startswith(f"{base}/sandbox/zoom/oauth/authorize?")
    consent = session.get(authorize_url, timeout=10)
    assert consent.status_code == 200
    fields = form_fields(consent.text)
    fields["decision"] = decision
    action = re.search(r'<form[^>]*action="([^"]*)"', consent.text)
    target = (
        urljoin(authorize_url, unescape(action.group(1))) if action else authorize_url
    )
    return session.post(target, data=fields, timeout=10)


def test_connect_zoom_refresh_and_disconnect_over_http(sandbox, django_user_model):
    from sandbox.models import IssuedToken

    host = django_user_model.objects.create_user(
        "e2e-host", "h@example.test", PASSWORD, is_staff=True
    )
    session = sign_in(sandbox.url, host)

    landed = connect_over_http(sandbox.url, session)

    assert landed.url == f"{sandbox.url}/connect/zoom/"
    assert "Zoom connected:" in landed.text
    conn = ZoomConnection.objects.get(owner=host)
    assert conn.status == ZoomConnection.Status.ACTIVE
    assert conn.refresh_token and conn.zoom_user_email in landed.text
    assert conn.events.filter(kind=ConnectionEvent.Kind.CONNECTED).exists()

    # The access token expires: one refresh, and the old refresh token is dead.
    old_refresh = conn.refresh_token
    conn.access_token_expires_at = timezone.now() - timedelta(seconds=1)
    conn.save()
    me = ZoomClient(conn).get_user("me")
    assert me["id"] == conn.zoom_user_id
    conn.refresh_from_db()
    assert conn.refresh_token != old_refresh
    reuse = requests.post(
        f"{sandbox.url}/sandbox/zoom/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(
            django_settings.ZOOM_OAUTH_CLIENT_ID,
            django_settings.ZOOM_OAUTH_CLIENT_SECRET,
        ),
        timeout=10,
    )
    assert reuse.json()["error"] == "invalid_grant"

    # Connecting again updates the same connection.
    again = connect_over_http(sandbox.url, session)
    assert "Zoom reconnected:" in again.text
    assert ZoomConnection.objects.filter(owner=host).count() == 1

    # Disconnect: revoked at Zoom, wiped here.
    page = session.get(f"{sandbox.url}/connect/zoom/", timeout=10)
    csrf = form_fields(page.text)["csrfmiddlewaretoken"]
    done = session.post(
        f"{sandbox.url}/connect/zoom/disconnect/{conn.pk}/",
        data={"csrfmiddlewaretoken": csrf},
        timeout=10,
    )
    assert "Zoom disconnected" in done.text and "Reconnect" in done.text
    conn.refresh_from_db()
    assert conn.status == ZoomConnection.Status.REVOKED
    assert conn.access_token == "" and conn.refresh_token == ""
    live = IssuedToken.objects.filter(user__user_id=conn.zoom_user_id, revoked_at=None)
    assert not live.exists()


def test_denying_consent_shows_the_cancel_message(sandbox, django_user_model):
    host = django_user_model.objects.create_user(
        "e2e-deny", "d@example.test", PASSWORD, is_staff=True
    )
    session = sign_in(sandbox.url, host)

    landed = connect_over_http(sandbox.url, session, decision="deny")

    assert "the authorization was cancelled" in landed.text
    assert not ZoomConnection.objects.filter(owner=host).exists()


def test_refresh_against_the_sandbox_after_revocation_needs_reauth(
    sandbox, django_user_model
):
    from sandbox.models import IssuedToken

    host = django_user_model.objects.create_user(
        "e2e-re", "r@example.test", PASSWORD, is_staff=True
    )
    connect_over_http(sandbox.url, sign_in(sandbox.url, host))
    conn = ZoomConnection.objects.get(owner=host)
    IssuedToken.objects.update(revoked_at=timezone.now())  # the user removed the app
    conn.access_token_expires_at = timezone.now() - timedelta(seconds=1)
    conn.save()

    with pytest.raises(oauth.ZoomReauthRequired):
        ZoomClient(conn).get_user("me")

    conn.refresh_from_db()
    assert conn.status == ZoomConnection.Status.NEEDS_REAUTH
