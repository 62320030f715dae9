"""BrevoClient against Brevo's documented answers, mocked at the transport."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from connector.brevo.client import (
    CONTACTS,
    EVENTS,
    OTHER,
    SMTP_SEND,
    BrevoBatchError,
    BrevoClient,
    bucket_for,
    encoded_chunks,
)
from connector.http import (
    ApiAuthError,
    ApiClientError,
    ApiRateLimited,
    ApiServerError,
)
from tests.conftest import load_fixture

BASE = "https://brevo.test/v3"


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def brevo(settings, brevo_account, waits) -> BrevoClient:
    settings.BREVO_API_BASE_URL = BASE
    return BrevoClient(brevo_account, sleep=waits.append)


def body(call) -> dict:
    return json.loads(call.request.body)


@responses.activate
def test_sends_the_api_key_and_reads_the_base_url_at_call_time(brevo, settings):
    responses.post(f"{BASE}/contacts", status=201, json={"id": 1})
    responses.post("https://other.test/v3/contacts", status=204)

    brevo.upsert_contact("a@example.com", {}, [])
    settings.BREVO_API_BASE_URL = "https://other.test/v3"
    brevo.upsert_contact("a@example.com", {}, [])

    first, second = responses.calls
    assert first.request.headers["api-key"] == brevo.account.api_key
    assert first.request.headers["Content-Type"] == "application/json"
    assert second.request.url == "https://other.test/v3/contacts"
    assert brevo.calls == 2
    assert brevo.account.api_key not in repr(brevo)


@responses.activate
def test_ensure_attributes_reads_once_creates_missing_with_types_and_caches(brevo):
    responses.get(
        f"{BASE}/contacts/attributes", json=load_fixture("brevo/attributes.json")
    )
    for name in ("MEETING_DURATION", "MEETING_JOIN_DATE", "WEBINAR_NAME"):
        responses.post(f"{BASE}/contacts/attributes/normal/{name}", status=201)

    wanted = {
        "email": "text",
        "FIRSTNAME": "text",
        "MEETING_DURATION": "float",
        "MEETING_JOIN_DATE": "date",
        "WEBINAR_NAME": "text",
    }
    brevo.ensure_attributes(wanted)

    created = {
        c.request.url.rsplit("/", 1)[1]: body(c)["type"]
        for c in responses.calls
        if c.request.method == "POST"
    }
    assert created == {
        "MEETING_DURATION": "float",
        "MEETING_JOIN_DATE": "date",
        "WEBINAR_NAME": "text",
    }
    brevo.account.refresh_from_db()
    assert brevo.account.known_attributes["MEETING_DURATION"] == "float"
    assert "DOB" in brevo.account.known_attributes

    calls_before = len(responses.calls)
    BrevoClient(brevo.account).ensure_attributes(wanted)
    assert len(responses.calls) == calls_before  # cached: no call at all


@responses.activate
def test_ensure_attributes_accepts_an_attribute_created_meanwhile(brevo):
    # First read: missing. Our create is refused because another worker created
    # it in between; the second read shows it, so this is not an error.
    responses.get(f"{BASE}/contacts/attributes", json={"attributes": []})
    responses.get(
        f"{BASE}/contacts/attributes",
        json={"attributes": [{"name": "UTM_SOURCE", "category": "normal",
                              "type": "text"}]},
    )  # fmt: skip
    responses.post(
        f"{BASE}/contacts/attributes/normal/UTM_SOURCE",
        status=400,
        json={"code": "invalid_parameter", "message": "Attribute name must be unique"},
    )
    brevo.ensure_attributes({"UTM_SOURCE": "text"})
    assert brevo.account.known_attributes == {"UTM_SOURCE": "text"}


@responses.activate
def test_ensure_attributes_raises_when_a_create_is_really_refused(brevo):
    responses.get(f"{BASE}/contacts/attributes", json={"attributes": []})
    responses.post(
        f"{BASE}/contacts/attributes/normal/UTM_SOURCE",
        status=400,
        json={"code": "invalid_parameter", "message": "Invalid attribute type"},
    )
    with pytest.raises(ApiClientError):
        brevo.ensure_attributes({"UTM_SOURCE": "text"})
    assert "UTM_SOURCE" not in (brevo.account.known_attributes or {})


@responses.activate
def test_upsert_contact_enables_update_and_only_adds_lists(brevo):
    responses.post(f"{BASE}/contacts", status=204)
    brevo.upsert_contact("zoe@example.com", {"FIRSTNAME": "Zoë"}, [17, 16, 17])
    sent = body(responses.calls[0])
    assert sent == {
        "email": "zoe@example.com",
        "updateEnabled": True,
        "attributes": {"FIRSTNAME": "Zoë"},
        "listIds": [16, 17],
    }
    assert "unlinkListIds" not in sent


@responses.activate
def test_get_contact_found_and_missing(brevo):
    responses.get(
        f"{BASE}/contacts/jane.doe@example.com", json=load_fixture("brevo/contact.json")
    )
    responses.get(
        f"{BASE}/contacts/nobody%2Btag@example.com",
        status=404,
        json=load_fixture("brevo/contact_not_found.json"),
    )
    assert brevo.get_contact("jane.doe@example.com")["listIds"] == [15, 40]
    assert brevo.get_contact("nobody+tag@example.com") is None


@responses.activate
def test_import_sends_json_body_with_lists_and_notify_url(brevo):
    responses.post(
        f"{BASE}/contacts/import",
        status=202,
        json=load_fixture("brevo/import_accepted.json"),
    )
    contacts = [{"email": "li@example.com", "attributes": {"FIRSTNAME": "李雷"}}]
    ids = brevo.import_contacts(contacts, [16, 17], notify_url="https://portal/x/")
    assert ids == [78]
    sent = body(responses.calls[0])
    assert sent["jsonBody"] == contacts
    assert sent["listIds"] == [16, 17]
    assert sent["notifyUrl"] == "https://portal/x/"
    assert "李雷".encode() in responses.calls[0].request.body  # UTF-8, not \\u escapes
    assert sent["updateExistingContacts"] is True
    assert sent["emptyContactsAttributes"] is False
    assert "unlinkListIds" not in sent


@responses.activate
def test_import_is_chunked_below_the_size_ceiling(brevo, settings):
    settings.BREVO_IMPORT_MAX_BYTES = 2_000
    process_ids = iter(range(100, 200))
    responses.add_callback(
        responses.POST,
        f"{BASE}/contacts/import",
        callback=lambda r: (202, {}, json.dumps({"processId": next(process_ids)})),
    )
    contacts = [
        {"email": f"p{i}@example.com", "attributes": {"FIRSTNAME": "x" * 40}}
        for i in range(100)
    ]
    ids = brevo.import_contacts(contacts, [16])
    assert len(ids) == len(responses.calls) > 1
    sent = [body(c)["jsonBody"] for c in responses.calls]
    assert [c for chunk in sent for c in chunk] == contacts  # all, in order, once
    for chunk in sent:
        assert len(json.dumps(chunk, ensure_ascii=False).encode()) <= 2_000


def test_an_import_that_fits_is_one_chunk_measured_as_sent():
    contacts = [
        {"email": "li.lei@example.com", "attributes": {"FIRSTNAME": "李雷"}},
        {"email": "zoe@example.com", "attributes": {"FIRSTNAME": "Zoë Ångström"}},
    ]
    body = json.dumps(contacts, ensure_ascii=False).encode()
    exact = len(body)
    assert list(encoded_chunks(contacts, max_bytes=exact)) == [(contacts, body)]
    # One byte less and it no longer fits whole.
    split = list(encoded_chunks(contacts, max_bytes=exact - 1))
    assert [len(c) for c, _ in split] == [1, 1]
    assert [json.loads(e) for _, e in split] == [[contacts[0]], [contacts[1]]]


def test_an_oversized_contact_is_an_import_of_its_own():
    big = {"email": "a@example.com", "attributes": {"X": "y" * 500}}
    chunks = [chunk for chunk, _ in encoded_chunks([big, big], max_bytes=100)]
    assert chunks == [[big], [big]]


def test_import_needs_a_list(brevo):
    with pytest.raises(ValueError, match="list id"):
        brevo.import_contacts([{"email": "a@example.com"}], [])


@responses.activate
def test_add_to_list_sends_at_most_150_per_call(brevo):
    responses.post(f"{BASE}/contacts/lists/16/contacts/add", status=201, json={})
    emails = [f"p{i}@example.com" for i in range(320)]
    brevo.add_to_list(16, emails)
    sizes = [len(body(c)["emails"]) for c in responses.calls]
    assert sizes == [150, 150, 20]


@responses.activate
def test_update_batch_never_unlinks_lists(brevo):
    responses.post(f"{BASE}/contacts/batch", status=204)
    brevo.update_batch(
        [{"email": "a@example.com", "attributes": {"X": 1}, "unlinkListIds": [15]}]
    )
    assert body(responses.calls[0]) == {
        "contacts": [{"email": "a@example.com", "attributes": {"X": 1}}]
    }


@responses.activate
def test_send_event_and_events_in_batches_of_200(brevo):
    responses.post(f"{BASE}/events", status=204)
    responses.post(
        f"{BASE}/events/batch", json={"message": "Batch accepted", "count": 1}
    )
    brevo.send_event({"event_name": "webinar_attended"})
    events = [
        {"event_name": "webinar_attended", "identifiers": {"email_id": f"{i}@x.io"}}
        for i in range(450)
    ]
    brevo.send_events(events)
    sizes = [len(body(c)["events"]) for c in responses.calls[1:]]
    assert sizes == [200, 200, 50]


@responses.activate
def test_events_batch_partial_answer_raises_with_the_refused_events(brevo):
    responses.post(
        f"{BASE}/events/batch",
        status=207,
        json=load_fixture("brevo/events_partial.json"),
    )
    events = [
        {"event_name": "e", "identifiers": {"email_id": f"{i}@x.io"}} for i in range(3)
    ]
    with pytest.raises(BrevoBatchError) as caught:
        brevo.send_events(events)
    assert [f["index"] for f in caught.value.failed] == [1]
    assert caught.value.failed[0]["message"] == "identifiers is required"


@responses.activate
def test_template_email_carries_the_idempotency_key_and_a_repeat_is_not_an_error(
    brevo,
):
    responses.post(
        f"{BASE}/smtp/email",
        status=201,
        json={"messageId": "<1@relay>"},
        match=[
            matchers.json_params_matcher(
                {"headers": {"idempotencyKey": "k-1"}}, strict_match=False
            )
        ],
    )
    responses.post(
        f"{BASE}/smtp/email",
        status=400,
        json=load_fixture("brevo/duplicate_request.json"),
    )
    to = [{"email": "jane@example.com", "name": "Jane"}]
    first = brevo.send_template_email(7, to, {"RECORDING_URL": "https://z/rec"}, "k-1")
    again = brevo.send_template_email(7, to, {"RECORDING_URL": "https://z/rec"}, "k-1")
    assert first == {"messageId": "<1@relay>"}
    assert again == {"duplicate": True}
    sent = body(responses.calls[0])
    assert sent["templateId"] == 7
    assert sent["sender"] == {"email": "events@example.test", "name": "Events team"}


@responses.activate
def test_campaign_is_created_then_sent_now(brevo):
    responses.post(f"{BASE}/emailCampaigns", status=201, json={"id": 122})
    responses.post(f"{BASE}/emailCampaigns/122/sendNow", status=204)
    campaign = brevo.create_and_send_campaign(
        name="Recording", template_id=9, subject="Watch it", list_ids=[16]
    )
    assert campaign == 122
    created = body(responses.calls[0])
    assert created["recipients"] == {"listIds": [16]}
    assert created["templateId"] == 9
    assert created["sender"]["email"] == "events@example.test"
    assert responses.calls[1].request.url.endswith("/emailCampaigns/122/sendNow")


@responses.activate
def test_429_waits_for_x_sib_ratelimit_reset_then_retries(brevo, waits):
    responses.post(
        f"{BASE}/contacts",
        status=429,
        json=load_fixture("brevo/rate_limited.json"),
        headers={"x-sib-ratelimit-reset": "7", "x-sib-ratelimit-remaining": "0"},
    )
    responses.post(f"{BASE}/contacts", status=204)
    brevo.upsert_contact("a@example.com", {}, [15])
    assert 7.0 in waits
    assert brevo.retries == 1
    assert brevo.calls == 2


@responses.activate
def test_429_with_a_long_reset_raises_rate_limited(brevo, waits):
    responses.get(
        f"{BASE}/processes/78",
        status=429,
        json=load_fixture("brevo/rate_limited.json"),
        headers={"x-sib-ratelimit-reset": "1800"},
    )
    with pytest.raises(ApiRateLimited) as caught:
        brevo.get_process(78)
    assert caught.value.retry_after == 1800
    assert 1800 not in waits


@responses.activate
def test_refused_key_is_a_typed_error_without_the_key(brevo):
    responses.get(
        f"{BASE}/contacts/attributes",
        status=401,
        json=load_fixture("brevo/unauthorized.json"),
    )
    with pytest.raises(ApiAuthError) as caught:
        brevo.ensure_attributes({"X": "text"})
    assert caught.value.code == "unauthorized"
    assert brevo.account.api_key not in str(caught.value)
    assert brevo.calls == 1  # 4xx is not retried


@responses.activate
def test_server_errors_retry_with_backoff_then_raise(brevo, waits, settings):
    responses.get(f"{BASE}/processes/78", status=502)
    responses.get(
        f"{BASE}/processes/78", json=load_fixture("brevo/process_completed.json")
    )
    assert brevo.get_process(78)["status"] == "completed"
    assert brevo.retries == 1

    responses.reset()
    responses.get(f"{BASE}/processes/79", status=503)
    with pytest.raises(ApiServerError):
        brevo.get_process(79)
    assert brevo.calls == 2 + settings.HTTP_MAX_RETRIES + 1


def test_buckets_follow_brevos_documented_limits(brevo):
    assert bucket_for("contacts/import") == CONTACTS
    assert bucket_for("/contacts/lists/16/contacts/add") == CONTACTS
    assert bucket_for("events/batch") == EVENTS
    assert bucket_for("smtp/email") == SMTP_SEND
    assert bucket_for("processes/78") == OTHER
    assert bucket_for("emailCampaigns/1/sendNow") == OTHER

    contacts = {b.key: b for b in brevo.budget_for("POST", "contacts/import", None)}
    account = brevo.account.pk
    assert contacts[f"brevo:{account}:contacts:s"].rate == 10
    assert contacts[f"brevo:{account}:contacts:h"].rate * 3600 == pytest.approx(36_000)
    (other,) = brevo.budget_for("GET", "processes/1", None)
    assert other.rate * 3600 == pytest.approx(100)
    assert other.key == f"brevo:{account}:other:h"
