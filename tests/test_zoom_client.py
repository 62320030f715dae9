"""The Zoom REST client: tokens, 401 renewal, 429s, pagination, encoding, errors.

HTTP is mocked at the transport with ``responses``; bodies are the captured-shape
fixtures in tests/fixtures/zoom/.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.db import connection as db_connection
from django.utils import timezone

from connector import ratelimit
from connector.http import ApiDailyLimit, ApiRateLimited, ApiServerError, ApiUnavailable
from connector.models import ConnectionEvent, ZoomConnection
from connector.zoom import client as zoom_client
from connector.zoom.client import ZoomClient, encode_uuid
from connector.zoom.errors import (
    ZoomAuthError,
    ZoomCredentialsError,
    ZoomForbidden,
    ZoomNotFound,
    ZoomNotLicensed,
    ZoomPageExpired,
    ZoomScopeError,
)
from tests.conftest import load_fixture

API = "https://api.zoom.test/v2"
OAUTH = "https://zoom.test"
TOKEN_URL = f"{OAUTH}/oauth/token"
ERRORS = load_fixture("zoom/errors.json")


@pytest.fixture(autouse=True)
def zoom_urls(settings):
    settings.ZOOM_API_BASE_URL = API
    settings.ZOOM_OAUTH_BASE_URL = OAUTH
    settings.HTTP_MAX_RETRIES = 2


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


class Sleeps(list):
    """A fake sleep that records how long the client wanted to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def token_body(n: int = 1) -> dict:
    body = load_fixture("zoom/s2s_token.json")
    body["access_token"] = f"s2s-token-{n}"
    return body


def add_token(mocked, n: int = 1):
    return mocked.add(responses.POST, TOKEN_URL, json=token_body(n))


def token_calls(mocked) -> list:
    return [c for c in mocked.calls if c.request.url.startswith(TOKEN_URL)]


def api_calls(mocked) -> list:
    return [c for c in mocked.calls if c.request.url.startswith(API)]


# Server-to-Server token ------------------------------------------------------


def test_token_is_requested_once_and_cached_encrypted(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET, f"{API}/users/me", json=load_fixture("zoom/users_me.json")
    )
    client = ZoomClient(connection)

    client.get_user()
    client.get_user()

    (call,) = token_calls(mocked)
    query = parse_qs(urlsplit(call.request.url).query)
    assert query == {
        "grant_type": ["account_credentials"],
        "account_id": ["AcctTest0001"],
    }
    assert call.request.headers["Authorization"].startswith("Basic ")
    for api_call in api_calls(mocked):
        assert api_call.request.headers["Authorization"] == "Bearer s2s-token-1"
    stored = ZoomConnection.objects.get(pk=connection.pk)
    assert stored.access_token == "s2s-token-1"
    assert stored.granted_scopes.startswith("user:read:list_users:admin")
    expected = timezone.now() + timedelta(seconds=3599)
    assert abs((stored.access_token_expires_at - expected).total_seconds()) < 5
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token FROM connector_zoomconnection WHERE id = %s",
            [connection.pk],
        )
        (raw,) = cursor.fetchone()
    assert "s2s-token-1" not in raw


def test_another_worker_reuses_the_stored_token(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET, f"{API}/users/me", json=load_fixture("zoom/users_me.json")
    )
    ZoomClient(connection).get_user()

    # A second process loads the connection from the database.
    ZoomClient(ZoomConnection.objects.get(pk=connection.pk)).get_user()

    assert len(token_calls(mocked)) == 1


@pytest.mark.parametrize(
    ("expires_in", "renewed"),
    [(timedelta(minutes=4), True), (timedelta(minutes=6), False)],
)
def test_token_is_renewed_ahead_of_expiry(connection, mocked, expires_in, renewed):
    connection.access_token = "old-token"
    connection.access_token_expires_at = timezone.now() + expires_in
    connection.save()
    add_token(mocked, 2)
    mocked.add(
        responses.GET, f"{API}/users/me", json=load_fixture("zoom/users_me.json")
    )

    ZoomClient(connection).get_user()

    assert len(token_calls(mocked)) == (1 if renewed else 0)
    expected = "Bearer s2s-token-2" if renewed else "Bearer old-token"
    assert api_calls(mocked)[0].request.headers["Authorization"] == expected


def test_code_124_renews_the_token_once_and_retries(connection, mocked):
    connection.access_token = "revoked-token"
    connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    add_token(mocked, 2)
    me = f"{API}/users/me"
    mocked.add(responses.GET, me, status=401, json=ERRORS["invalid_token"])
    mocked.add(responses.GET, me, json=load_fixture("zoom/users_me.json"))
    client = ZoomClient(connection)

    user = client.get_user()

    assert user["id"] == "KDcuGIm1QgePTO8WbOqwIQ"
    auths = [c.request.headers["Authorization"] for c in api_calls(mocked)]
    assert auths == ["Bearer revoked-token", "Bearer s2s-token-2"]
    assert len(token_calls(mocked)) == 1
    assert client.retries == 0  # a renewal is not a failure retry


def test_code_124_twice_raises_auth_error(connection, mocked):
    add_token(mocked)
    add_token(mocked, 2)
    mocked.add(
        responses.GET, f"{API}/users/me", status=401, json=ERRORS["invalid_token"]
    )

    with pytest.raises(ZoomAuthError) as caught:
        ZoomClient(connection).get_user()

    assert caught.value.code == 124
    assert len(token_calls(mocked)) == 2
    assert len(api_calls(mocked)) == 2


def test_missing_scope_401_does_not_renew(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET,
        f"{API}/report/meetings/80000000001/participants",
        status=401,
        json=ERRORS["missing_scope"],
    )

    with pytest.raises(ZoomScopeError) as caught:
        list(ZoomClient(connection).report_meeting_participants("80000000001"))

    assert caught.value.scopes == [
        "report:read:list_meeting_participants:admin",
        "report:read:admin",
    ]
    assert "Add the scope report:read:list_meeting_participants:admin" in str(
        caught.value
    )
    assert len(token_calls(mocked)) == 1


def test_refused_credentials_mark_the_connection_in_error(connection, mocked):
    mocked.add(responses.POST, TOKEN_URL, status=401, json=ERRORS["invalid_client"])

    for _ in range(2):
        with pytest.raises(ZoomCredentialsError):
            ZoomClient(connection).get_user()

    connection.refresh_from_db()
    assert connection.status == ZoomConnection.Status.ERROR
    assert connection.status_reason == (
        "Zoom refused the client id or secret (invalid_client)"
    )
    assert "client-secret-test" not in connection.status_reason
    events = ConnectionEvent.objects.filter(
        connection=connection, kind=ConnectionEvent.Kind.ERROR
    )
    assert events.count() == 1  # recorded once, not on every attempt
    assert not api_calls(mocked)


def test_working_credentials_clear_the_error(connection, mocked):
    connection.status = ZoomConnection.Status.ERROR
    connection.status_reason = "Zoom refused the client id or secret (invalid_client)"
    connection.save()
    add_token(mocked)
    mocked.add(
        responses.GET, f"{API}/users/me", json=load_fixture("zoom/users_me.json")
    )

    ZoomClient(connection).get_user()

    connection.refresh_from_db()
    assert connection.status == ZoomConnection.Status.ACTIVE
    assert connection.status_reason == ""


def test_refused_account_id_says_so(connection, mocked):
    mocked.add(responses.POST, TOKEN_URL, status=400, json=ERRORS["invalid_request"])

    with pytest.raises(ZoomCredentialsError):
        ZoomClient(connection).get_user()

    connection.refresh_from_db()
    assert connection.status == ZoomConnection.Status.ERROR
    assert connection.status_reason == "Zoom refused the account id (invalid_request)"


def test_missing_credentials_are_an_error_without_a_call(make_connection, mocked):
    conn = make_connection(client_secret="")

    with pytest.raises(ZoomCredentialsError):
        ZoomClient(conn).get_user()

    conn.refresh_from_db()
    assert conn.status == ZoomConnection.Status.ERROR
    assert not mocked.calls


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_request_one_token(make_connection, mocked):
    """Two workers find the token expired at once; only one asks Zoom."""
    conn = make_connection()

    def slow_token(request):
        time.sleep(0.3)
        return 200, {}, json.dumps(token_body(1))

    mocked.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            own = ZoomConnection.objects.get(pk=conn.pk)  # each its own copy
            results[n] = zoom_client.oauth.get_access_token(own)
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
    assert len(token_calls(mocked)) == 1
    assert results[0] == results[1] == "s2s-token-1"


# 429, 5xx, timeouts --------------------------------------------------------------


def test_per_second_429_waits_retry_after_and_retries(connection, mocked):
    add_token(mocked)
    me = f"{API}/users/me"
    mocked.add(
        responses.GET,
        me,
        status=429,
        json=ERRORS["per_second_limit"],
        headers={"X-RateLimit-Type": "QPS", "Retry-After": "2"},
    )
    mocked.add(responses.GET, me, json=load_fixture("zoom/users_me.json"))
    sleeps = Sleeps()
    client = ZoomClient(connection, sleep=sleeps)

    client.get_user()

    assert 2.0 in sleeps
    assert client.retries == 1
    assert len(api_calls(mocked)) == 2


def test_per_second_429_without_retry_after_backs_off(connection, mocked):
    add_token(mocked)
    me = f"{API}/users/me"
    mocked.add(responses.GET, me, status=429, json=ERRORS["per_second_limit"])
    mocked.add(responses.GET, me, json=load_fixture("zoom/users_me.json"))
    sleeps = Sleeps()

    ZoomClient(connection, sleep=sleeps).get_user()

    assert any(0.2 <= s <= 0.5 for s in sleeps)  # first backoff step, jittered


def test_per_second_429_with_an_epoch_reset_waits_until_then(connection, mocked):
    add_token(mocked)
    me = f"{API}/users/me"
    mocked.add(
        responses.GET,
        me,
        status=429,
        json=ERRORS["per_second_limit"],
        headers={"X-RateLimit-Type": "QPS", "X-RateLimit-Reset": str(time.time() + 1)},
    )
    mocked.add(responses.GET, me, json=load_fixture("zoom/users_me.json"))
    sleeps = Sleeps()

    ZoomClient(connection, sleep=sleeps).get_user()

    assert any(0.5 <= s <= 1.0 for s in sleeps)


def test_per_second_429_that_persists_raises_rate_limited(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET,
        f"{API}/users/me",
        status=429,
        json=ERRORS["per_second_limit"],
        headers={"Retry-After": "1"},
    )

    with pytest.raises(ApiRateLimited) as caught:
        ZoomClient(connection, sleep=Sleeps()).get_user()

    assert not isinstance(caught.value, ApiDailyLimit)
    assert len(api_calls(mocked)) == 3  # first try + HTTP_MAX_RETRIES


def test_daily_429_raises_at_once_with_the_reset_time(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET,
        f"{API}/report/meetings/80000000001/participants",
        status=429,
        json=ERRORS["daily_limit"],
        headers={
            "X-RateLimit-Category": "Heavy",
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": "30000",
            "X-RateLimit-Remaining": "0",
            "Retry-After": "2030-05-31T00:00:00Z",
        },
    )
    sleeps = Sleeps()
    client = ZoomClient(connection, sleep=sleeps)

    with pytest.raises(ApiDailyLimit) as caught:
        list(client.report_meeting_participants("80000000001"))

    assert caught.value.reset_at == datetime(2030, 5, 31, tzinfo=UTC)
    assert len(api_calls(mocked)) == 1
    assert not [s for s in sleeps if s >= 1]
    assert client.retries == 0


def test_daily_429_known_by_its_message_resets_at_midnight_utc(connection, mocked):
    add_token(mocked)
    mocked.add(responses.GET, f"{API}/users/me", status=429, json=ERRORS["daily_limit"])

    with pytest.raises(ApiDailyLimit) as caught:
        ZoomClient(connection, sleep=Sleeps()).get_user()

    reset_at = caught.value.reset_at
    assert reset_at > datetime.now(UTC)
    assert (reset_at.hour, reset_at.minute, reset_at.second) == (0, 0, 0)
    assert reset_at - datetime.now(UTC) <= timedelta(days=1)


def test_server_errors_are_retried_with_backoff(connection, mocked):
    add_token(mocked)
    me = f"{API}/users/me"
    mocked.add(responses.GET, me, status=502, body="<html>bad gateway</html>")
    mocked.add(responses.GET, me, json=load_fixture("zoom/users_me.json"))
    sleeps = Sleeps()
    client = ZoomClient(connection, sleep=sleeps)

    assert client.get_user()["email"] == "ada@example.test"
    assert client.retries == 1
    assert sleeps


def test_server_errors_that_persist_raise(connection, mocked):
    add_token(mocked)
    mocked.add(responses.GET, f"{API}/users/me", status=503, body="unavailable")

    with pytest.raises(ApiServerError):
        ZoomClient(connection, sleep=Sleeps()).get_user()
    assert len(api_calls(mocked)) == 3


def test_timeouts_are_retried_then_raise_unavailable(connection, mocked):
    add_token(mocked)
    mocked.add(responses.GET, f"{API}/users/me", body=requests.ReadTimeout("slow"))

    with pytest.raises(ApiUnavailable) as caught:
        ZoomClient(connection, sleep=Sleeps()).get_user()

    assert isinstance(caught.value.__cause__, requests.ReadTimeout)
    assert len(api_calls(mocked)) == 3


def test_every_request_has_a_timeout(connection, mocked, settings):
    settings.HTTP_TIMEOUT = 7.5
    add_token(mocked)
    mocked.add(
        responses.GET, f"{API}/users/me", json=load_fixture("zoom/users_me.json")
    )

    ZoomClient(connection).get_user()

    for call in mocked.calls:
        assert call.request.req_kwargs["timeout"]
    assert api_calls(mocked)[0].request.req_kwargs["timeout"] == 7.5


# Pagination ------------------------------------------------------------------


def test_lists_page_with_next_page_token_lazily(connection, mocked):
    add_token(mocked)
    url = f"{API}/past_meetings/80000000001/participants"
    mocked.add(
        responses.GET, url, json=load_fixture("zoom/past_participants_page1.json")
    )
    mocked.add(
        responses.GET, url, json=load_fixture("zoom/past_participants_page2.json")
    )

    rows = ZoomClient(connection).past_meeting_participants("80000000001")
    first = next(rows)

    assert first["name"] == "Ada Lovelace"
    assert len(api_calls(mocked)) == 1  # the second page is not read yet
    rest = list(rows)
    assert [r["user_id"] for r in rest] == ["16779264", "16780288"]
    pages = [parse_qs(urlsplit(c.request.url).query) for c in api_calls(mocked)]
    assert pages[0] == {"page_size": ["300"]}
    assert pages[1] == {
        "page_size": ["300"],
        "next_page_token": ["Tva2CuIdTgsv8wAnhyAdU3m06Y2HuLQtlh3"],
    }


def test_expired_page_token_raises_page_expired(connection, mocked):
    add_token(mocked)
    url = f"{API}/users"
    mocked.add(
        responses.GET, url, json={"users": [{"id": "a"}], "next_page_token": "t1"}
    )
    mocked.add(responses.GET, url, status=400, json=ERRORS["page_token_expired"])

    with pytest.raises(ZoomPageExpired):
        list(ZoomClient(connection).list_users())


def test_a_repeated_page_token_stops_the_loop(connection, mocked):
    add_token(mocked)
    url = f"{API}/users"
    page = {"users": [{"id": "a"}], "next_page_token": "same"}
    mocked.add(responses.GET, url, json=page)

    with pytest.raises(ZoomPageExpired):
        list(ZoomClient(connection).list_users())
    assert len(api_calls(mocked)) == 2


def test_endpoint_parameters(connection, mocked):
    add_token(mocked)
    empty = {"next_page_token": "", "meetings": [], "webinars": [], "registrants": []}
    mocked.add(responses.GET, f"{API}/users/me/meetings", json=empty)
    mocked.add(responses.GET, f"{API}/users/u1/webinars", json=empty)
    mocked.add(
        responses.GET,
        f"{API}/webinars/81000000002/registrants",
        json=load_fixture("zoom/webinar_registrants.json"),
    )
    mocked.add(
        responses.GET,
        f"{API}/report/webinars/81000000002/participants",
        json=load_fixture("zoom/report_participants.json"),
    )
    client = ZoomClient(connection)
    from datetime import date

    list(client.list_meetings("me", from_=date(2026, 11, 1), to=date(2026, 11, 30)))
    list(client.list_webinars("u1"))
    registrants = list(client.webinar_registrants(81000000002, occurrence_id="occ1"))
    report = list(client.report_webinar_participants("81000000002"))

    queries = [parse_qs(urlsplit(c.request.url).query) for c in api_calls(mocked)]
    assert queries[0]["type"] == ["previous_meetings"]
    assert queries[0]["from"] == ["2026-11-01"] and queries[0]["to"] == ["2026-11-30"]
    assert queries[1]["type"] == ["scheduled"]
    assert queries[2]["status"] == ["approved"]
    assert queries[2]["occurrence_id"] == ["occ1"]
    assert queries[3]["include_fields"] == ["registrant_id"]
    assert registrants[0]["email"] == "jill@example.test"
    assert report[0]["registrant_id"] == "RgSyntheticRegistrant01"


def test_single_object_endpoints(connection, mocked):
    add_token(mocked)
    mocked.add(responses.GET, f"{API}/meetings/80000000001", json={"id": 80000000001})
    mocked.add(responses.GET, f"{API}/webinars/81000000002", json={"id": 81000000002})
    mocked.add(
        responses.GET,
        f"{API}/past_meetings/80000000001/instances",
        json={"meetings": [{"uuid": "a==", "start_time": "2026-11-30T15:00:00Z"}]},
    )
    mocked.add(
        responses.GET,
        f"{API}/past_webinars/81000000002/instances",
        json={"webinars": [{"uuid": "b==", "start_time": "2026-11-30T15:00:00Z"}]},
    )
    client = ZoomClient(connection)

    assert client.get_meeting(80000000001)["id"] == 80000000001
    assert client.get_webinar("81000000002")["id"] == 81000000002
    assert client.past_meeting_instances(80000000001)[0]["uuid"] == "a=="
    assert client.past_webinar_instances(81000000002)[0]["uuid"] == "b=="


# UUID encoding -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("/ajXp112QmuoKj4854875==", "%252FajXp112QmuoKj4854875%253D%253D"),
        ("ab//cd+e==", "ab%252F%252Fcd%252Be%253D%253D"),
        ("de+IDqR9f3hhT9D8/NA/J1==", "de%2BIDqR9f3hhT9D8%2FNA%2FJ1%3D%3D"),
        (80000000001, "80000000001"),
        ("80000000001", "80000000001"),
    ],
)
def test_encode_uuid(value, segment):
    assert encode_uuid(value) == segment


def test_slash_uuids_go_double_encoded_on_the_wire(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET,
        f"{API}/meetings/%252FajXp112QmuoKj4854875%253D%253D/recordings",
        json=load_fixture("zoom/meeting_recordings.json"),
    )
    mocked.add(
        responses.GET,
        f"{API}/past_webinars/ab%252F%252Fcd%253D%253D/participants",
        json={"participants": [], "next_page_token": ""},
    )

    recording = ZoomClient(connection).meeting_recordings("/ajXp112QmuoKj4854875==")
    list(ZoomClient(connection).past_webinar_participants("ab//cd=="))

    assert recording["recording_files"][0]["file_type"] == "MP4"
    paths = [urlsplit(c.request.url).path for c in api_calls(mocked)]
    assert paths == [
        "/v2/meetings/%252FajXp112QmuoKj4854875%253D%253D/recordings",
        "/v2/past_webinars/ab%252F%252Fcd%253D%253D/participants",
    ]


# Typed errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, ERRORS["meeting_not_found"], ZoomNotFound),
        (400, ERRORS["meeting_not_found"], ZoomNotFound),
        (404, {}, ZoomNotFound),
        (400, ERRORS["not_licensed"], ZoomNotLicensed),
        (400, ERRORS["paid_only"], ZoomNotLicensed),
        (400, ERRORS["missing_scope"], ZoomScopeError),
        (403, {"code": 200, "message": "No permission."}, ZoomForbidden),
    ],
)
def test_typed_errors(connection, mocked, status, body, error):
    add_token(mocked)
    mocked.add(responses.GET, f"{API}/past_meetings/a%3D%3D", status=status, json=body)

    with pytest.raises(error) as caught:
        ZoomClient(connection).get_past_meeting("a==")

    assert caught.value.status == status
    assert "s2s-token" not in str(caught.value)
    assert len(api_calls(mocked)) == 1  # 4xx is never retried


def test_html_error_pages_still_give_a_typed_error(connection, mocked):
    add_token(mocked)
    mocked.add(
        responses.GET, f"{API}/meetings/1", status=404, body="<html>Not Found</html>"
    )

    with pytest.raises(ZoomNotFound):
        ZoomClient(connection).get_meeting(1)


# Rate budgets ----------------------------------------------------------------


def test_each_endpoint_spends_its_category_budget(make_connection, mocked, monkeypatch):
    conn = make_connection(
        rate_limit_light=31, rate_limit_medium=21, rate_limit_heavy=11
    )
    spent: list[ratelimit.Budget] = []
    monkeypatch.setattr(
        ratelimit, "acquire", lambda budget, sleep: spent.append(budget)
    )
    add_token(mocked)
    mocked.add(responses.GET, f"{API}/meetings/1/recordings", json={})
    mocked.add(responses.GET, f"{API}/users", json={"users": []})
    mocked.add(
        responses.GET,
        f"{API}/report/meetings/1/participants",
        json={"participants": []},
    )
    client = ZoomClient(conn)

    client.meeting_recordings("1")
    list(client.list_users())
    list(client.report_meeting_participants("1"))

    assert [(b.key, b.rate) for b in spent] == [
        ("zoom:AcctTest0001:light", 31),
        ("zoom:AcctTest0001:medium", 21),
        ("zoom:AcctTest0001:heavy", 11),
    ]


def test_the_budget_spaces_calls_under_the_limit(make_connection, mocked):
    conn = make_connection(rate_limit_heavy=4)
    add_token(mocked)
    mocked.add(
        responses.GET,
        f"{API}/report/meetings/1/participants",
        json={"participants": []},
    )
    sleeps = Sleeps()
    client = ZoomClient(conn, sleep=sleeps)

    for _ in range(5):
        list(client.report_meeting_participants("1"))

    # Five heavy calls at 4/s: the limiter asks to wait about 1 s in total.
    assert sum(sleeps) >= 0.9
    assert max(sleeps) <= 1.01


def test_two_connections_to_one_account_share_the_budget(make_connection, mocked):
    first = make_connection(rate_limit_heavy=1)
    second = make_connection(rate_limit_heavy=1)
    add_token(mocked)
    mocked.add(
        responses.GET,
        f"{API}/report/meetings/1/participants",
        json={"participants": []},
    )
    sleeps = Sleeps()

    list(ZoomClient(first, sleep=sleeps).report_meeting_participants("1"))
    list(ZoomClient(second, sleep=sleeps).report_meeting_participants("1"))

    # At 1/s the second connection waits for the slot the first one took.
    assert sleeps and sleeps[-1] >= 0.5
