"""The sandbox's Brevo over real HTTP, checked against the Brevo reference, and
the official brevo-python SDK pointed at it (wire compatibility)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
import requests

from sandbox import models as sb

pytestmark = pytest.mark.e2e


@pytest.fixture
def brevo(sandbox_env):
    session = requests.Session()
    session.headers["api-key"] = sandbox_env.brevo_account.api_key
    base = sandbox_env.brevo_api

    def call(method: str, path: str, **kwargs):
        return session.request(method, f"{base}{path}", timeout=20, **kwargs)

    call.env = sandbox_env
    return call


def config(env, **changes) -> None:
    response = requests.post(f"{env.url}/sandbox/api/config", json=changes, timeout=10)
    assert response.status_code == 200, response.text


def make_attributes(brevo, **wanted: str) -> None:
    for name, type_ in wanted.items():
        response = brevo(
            "POST", f"/contacts/attributes/normal/{name}", json={"type": type_}
        )
        assert response.status_code == 201, response.text
        assert response.content == b""


def test_api_key_required(sandbox_env):
    url = f"{sandbox_env.brevo_api}/contacts/attributes"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {
        "code": "unauthorized",
        "message": "authentication not found in headers",
    }
    wrong = requests.get(url, headers={"api-key": "xkeysib-nope"}, timeout=10)
    assert wrong.json() == {"code": "unauthorized", "message": "Key not found"}


def test_create_upsert_and_duplicate(brevo):
    make_attributes(brevo, MEETING_DURATION="float", MEETING_JOIN_DATE="date")
    body = {
        "email": "Jane@Example.com",
        "attributes": {
            "FIRSTNAME": "Jane",
            "MEETING_DURATION": 47,
            "MEETING_JOIN_DATE": "2026-03-02",
        },
        "listIds": [15],
    }
    created = brevo("POST", "/contacts", json=body)
    assert created.status_code == 201
    assert set(created.json()) == {"id"}
    duplicate = brevo("POST", "/contacts", json=body)
    assert duplicate.status_code == 400
    assert duplicate.json() == {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, email is already associated with "
        "another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }
    upsert = brevo(
        "POST",
        "/contacts",
        json={
            "email": "jane@example.com",
            "attributes": {"MEETING_DURATION": 50},
            "listIds": [16],
            "updateEnabled": True,
        },
    )
    assert upsert.status_code == 204 and upsert.content == b""
    got = brevo("GET", "/contacts/jane@example.com")
    assert got.status_code == 200
    contact = got.json()
    assert {
        "email",
        "id",
        "emailBlacklisted",
        "smsBlacklisted",
        "createdAt",
        "modifiedAt",
        "attributes",
        "listIds",
        "statistics",
    } <= set(contact)
    assert contact["email"] == "jane@example.com"
    assert contact["attributes"] == {
        "FIRSTNAME": "Jane",
        "MEETING_DURATION": 50,
        "MEETING_JOIN_DATE": "2026-03-02",
    }
    assert contact["listIds"] == [15, 16]
    by_id = brevo("GET", f"/contacts/{contact['id']}")
    assert by_id.json()["email"] == "jane@example.com"


def test_contact_errors(brevo):
    missing = brevo("GET", "/contacts/nobody@example.com")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "document_not_found",
        "message": "Contact does not exist",
    }
    no_id = brevo("POST", "/contacts", json={"attributes": {"FIRSTNAME": "X"}})
    assert no_id.status_code == 400 and no_id.json()["code"] == "missing_parameter"
    bad_list = brevo(
        "POST", "/contacts", json={"email": "a@example.com", "listIds": [999]}
    )
    assert bad_list.status_code == 400
    not_json = brevo(
        "POST", "/contacts", data=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    wrong_method = brevo("PATCH", "/contacts")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


def test_unknown_attributes_and_bad_dates_switches(brevo):
    make_attributes(brevo, MEETING_JOIN_DATE="date")
    ignored = brevo(
        "POST",
        "/contacts",
        json={
            "email": "b@example.com",
            "attributes": {"NOPE": "x", "MEETING_JOIN_DATE": "02/03/2026"},
        },
    )
    assert ignored.status_code == 201
    assert brevo("GET", "/contacts/b@example.com").json()["attributes"] == {}
    config(brevo.env, brevo_unknown_attributes="reject", brevo_bad_dates="reject")
    unknown = brevo(
        "POST", "/contacts", json={"email": "c@example.com", "attributes": {"NOPE": 1}}
    )
    assert unknown.status_code == 400 and "NOPE" in unknown.json()["message"]
    bad_date = brevo(
        "POST",
        "/contacts",
        json={
            "email": "c@example.com",
            "attributes": {"MEETING_JOIN_DATE": "2026-3-2"},
        },
    )
    assert bad_date.status_code == 400 and "date" in bad_date.json()["message"]
    assert not sb.Contact.objects.filter(email="c@example.com").exists()


def test_update_contact_and_change_email(brevo):
    brevo("POST", "/contacts", json={"email": "d@example.com", "listIds": [15]})
    brevo("POST", "/contacts", json={"email": "e@example.com"})
    updated = brevo(
        "PUT",
        "/contacts/d@example.com",
        json={
            "attributes": {"FIRSTNAME": "Dee"},
            "listIds": [17],
            "unlinkListIds": [15],
        },
    )
    assert updated.status_code == 204
    contact = brevo("GET", "/contacts/d@example.com").json()
    assert contact["listIds"] == [17] and contact["attributes"]["FIRSTNAME"] == "Dee"
    clash = brevo(
        "PUT",
        "/contacts/d@example.com",
        json={"attributes": {"EMAIL": "e@example.com"}},
    )
    assert clash.status_code == 400 and clash.json()["code"] == "duplicate_parameter"
    missing = brevo("PUT", "/contacts/zzz@example.com", json={"attributes": {}})
    assert missing.status_code == 404


def test_import_is_asynchronous(brevo):
    config(brevo.env, brevo_import_seconds=0.6)
    make_attributes(brevo, WEBINAR_NAME="text")
    rows = [
        {
            "email": f"user{n}@example.com",
            "attributes": {"WEBINAR_NAME": "Q1 Roadmap", "UNKNOWN_ONE": "ignored"},
        }
        for n in range(300)
    ] + [{"email": "not-an-email", "attributes": {}}]
    started = brevo(
        "POST", "/contacts/import", json={"jsonBody": rows, "listIds": [16]}
    )
    assert started.status_code == 202
    process_id = started.json()["processId"]
    first = brevo("GET", f"/processes/{process_id}").json()
    # Brevo takes its time: the end is not reported at once (contacts may
    # already appear while the process is in_process).
    assert first["status"] in ("queued", "in_process")
    assert first["info"] is None and first["completed_at"] is None
    assert first["name"] == "IMPORTUSER"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = brevo("GET", f"/processes/{process_id}").json()
        if state["status"] == "completed":
            break
        time.sleep(0.1)
    assert state["status"] == "completed"
    assert state["info"]["import"]["invalid_emails"] == 1
    # The end is reported no sooner than the configured processing time.
    created = datetime.fromisoformat(state["created_at"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(state["completed_at"].replace("Z", "+00:00"))
    assert (ended - created).total_seconds() >= 0.6
    contact = brevo("GET", "/contacts/user1@example.com").json()
    assert contact["attributes"] == {"WEBINAR_NAME": "Q1 Roadmap"}
    assert contact["listIds"] == [16]
    in_list = brevo("GET", "/contacts/lists/16/contacts", params={"limit": 500}).json()
    assert in_list["count"] == 300
    unknown = brevo("GET", "/processes/999999")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "code": "invalid_parameter",
        "message": "processId is invalid",
    }


def test_an_import_that_breaks_ends_failed_not_in_process(brevo, monkeypatch):
    from sandbox import brevo_api

    def broken(process):
        raise RuntimeError("disk full")

    monkeypatch.setattr(brevo_api, "apply_import", broken)
    config(brevo.env, brevo_import_seconds=0.2)
    started = brevo(
        "POST",
        "/contacts/import",
        json={"jsonBody": [{"email": "x@example.com"}], "listIds": [16]},
    )
    process_id = started.json()["processId"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = brevo("GET", f"/processes/{process_id}").json()
        if state["status"] not in ("queued", "in_process"):
            break
        time.sleep(0.05)
    assert state["status"] == "failed"
    assert state["error"] == "RuntimeError: disk full"
    assert state["info"] is None


def test_import_notify_url(brevo, live_server):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config(brevo.env, brevo_import_seconds=0.2)
        started = brevo(
            "POST",
            "/contacts/import",
            json={
                "jsonBody": [{"email": "n@example.com"}],
                "listIds": [15],
                "notifyUrl": f"http://127.0.0.1:{server.server_port}/done",
            },
        )
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == [
            {"processId": started.json()["processId"], "status": "completed"}
        ]
    finally:
        server.shutdown()


def test_import_body_limit(brevo):
    huge = "x" * (10 * 1024 * 1024 + 10)
    response = brevo(
        "POST", "/contacts/import", json={"fileBody": huge, "listIds": [15]}
    )
    assert response.status_code == 400


def test_batch_update(brevo):
    brevo("POST", "/contacts", json={"email": "f@example.com"})
    contact_id = brevo("POST", "/contacts", json={"email": "g@example.com"}).json()[
        "id"
    ]
    response = brevo(
        "POST",
        "/contacts/batch",
        json={
            "contacts": [
                {
                    "email": "f@example.com",
                    "attributes": {"FIRSTNAME": "Eff"},
                    "listIds": [17],
                },
                {"id": contact_id, "attributes": {"FIRSTNAME": "Gee"}},
            ]
        },
    )
    assert response.status_code == 204
    assert brevo("GET", "/contacts/f@example.com").json()["listIds"] == [17]
    assert (
        brevo("GET", f"/contacts/{contact_id}").json()["attributes"]["FIRSTNAME"]
        == "Gee"
    )
    ambiguous = brevo(
        "POST",
        "/contacts/batch",
        json={"contacts": [{"email": "f@example.com", "id": contact_id}]},
    )
    assert ambiguous.status_code == 400
    assert brevo("PUT", "/contacts/batch", json={}).status_code == 405


def test_add_to_list(brevo):
    brevo("POST", "/contacts", json={"email": "h@example.com"})
    brevo("POST", "/contacts", json={"email": "i@example.com", "listIds": [18]})
    response = brevo(
        "POST",
        "/contacts/lists/18/contacts/add",
        json={"emails": ["h@example.com", "i@example.com", "nobody@example.com"]},
    )
    assert response.status_code == 201
    assert response.json() == {
        "contacts": {
            "success": ["h@example.com"],
            "failure": ["i@example.com", "nobody@example.com"],
        }
    }
    too_many = brevo(
        "POST",
        "/contacts/lists/18/contacts/add",
        json={"emails": [f"x{n}@example.com" for n in range(151)]},
    )
    assert too_many.status_code == 400
    unknown = brevo(
        "POST", "/contacts/lists/999/contacts/add", json={"emails": ["h@example.com"]}
    )
    assert unknown.status_code == 404


def test_lists_folders_and_attributes(brevo):
    lists = brevo("GET", "/contacts/lists").json()
    assert [x["id"] for x in lists["lists"]] == [15, 16, 17, 18]
    folder = brevo("POST", "/contacts/folders", json={"name": "Webinars"})
    assert folder.status_code == 201
    created = brevo(
        "POST", "/contacts/lists", json={"name": "VIP", "folderId": folder.json()["id"]}
    )
    assert created.status_code == 201 and created.json() == {"id": 19}
    missing_folder = brevo("POST", "/contacts/lists", json={"name": "X"})
    assert missing_folder.status_code == 400
    make_attributes(brevo, ATTENDANCE_STATUS="text")
    again = brevo(
        "POST", "/contacts/attributes/normal/ATTENDANCE_STATUS", json={"type": "text"}
    )
    assert again.status_code == 400
    wrong = brevo("POST", "/contacts/attributes/normal/FLAG", json={"type": "category"})
    assert wrong.status_code == 400
    attributes = brevo("GET", "/contacts/attributes").json()["attributes"]
    assert {
        "name": "ATTENDANCE_STATUS",
        "category": "normal",
        "type": "text",
    } in attributes


def test_events(brevo):
    brevo("POST", "/contacts", json={"email": "j@example.com"})
    event = {
        "event_name": "webinar_attended",
        "event_date": "2026-03-02T17:39:57+01:00",
        "identifiers": {"email_id": "j@example.com"},
        "contact_properties": {"FIRSTNAME": "Jay"},
        "event_properties": {"webinar_name": "Q1 Roadmap", "utm_source": "zoom"},
    }
    single = brevo("POST", "/events", json=event)
    assert single.status_code == 204 and single.content == b""
    assert (
        brevo("GET", "/contacts/j@example.com").json()["attributes"]["FIRSTNAME"]
        == "Jay"
    )
    bad_name = brevo("POST", "/events", json={**event, "event_name": "has space"})
    assert bad_name.status_code == 400
    no_identifier = brevo("POST", "/events", json={**event, "identifiers": {}})
    assert no_identifier.status_code == 400
    batch = brevo("POST", "/events/batch", json={"events": [event] * 3})
    assert batch.status_code == 202
    assert batch.json() == {
        "message": "Batch accepted. Valid events have been added to the "
        "processing queue.",
        "count": 3,
    }
    partial = brevo(
        "POST", "/events/batch", json={"events": [event, {"event_name": "x"}]}
    )
    assert partial.status_code == 207
    assert partial.json()["errors"][0]["eventIndex"] == [1]
    too_many = brevo("POST", "/events/batch", json={"events": [event] * 201})
    assert too_many.status_code == 400
    assert sb.Event.objects.count() == 5


def test_transactional_email_idempotency(brevo):
    body = {
        "templateId": 7,
        "to": [{"email": "jane@example.com", "name": "Jane"}],
        "params": {
            "WEBINAR_NAME": "Q1 Roadmap",
            "RECORDING_URL": "https://zoom.us/rec/x",
        },
        "tags": ["zoom-recording"],
        "headers": {"idempotencyKey": "6f1c-0001"},
    }
    sent = brevo("POST", "/smtp/email", json=body)
    assert sent.status_code == 201
    assert sent.json()["messageId"].startswith("<")
    again = brevo("POST", "/smtp/email", json=body)
    assert again.status_code == 400
    assert again.json()["code"] == "duplicate_parameter"
    assert sb.SentEmail.objects.count() == 1
    no_content = brevo("POST", "/smtp/email", json={"to": [{"email": "a@example.com"}]})
    assert no_content.status_code == 400
    versions = brevo(
        "POST",
        "/smtp/email",
        json={
            "templateId": 7,
            "messageVersions": [
                {"to": [{"email": "a@example.com"}]},
                {"to": [{"email": "b@example.com"}]},
            ],
        },
    )
    assert versions.status_code == 201 and len(versions.json()["messageIds"]) == 2


def test_campaign_create_and_send_now(brevo):
    for n in range(3):
        brevo("POST", "/contacts", json={"email": f"k{n}@example.com", "listIds": [16]})
    created = brevo(
        "POST",
        "/emailCampaigns",
        json={
            "name": "Recording",
            "sender": {"email": "events@example.com"},
            "subject": "The recording",
            "templateId": 3,
            "recipients": {"listIds": [16]},
        },
    )
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    sent = brevo("POST", f"/emailCampaigns/{campaign_id}/sendNow")
    assert sent.status_code == 204
    assert sb.SentEmail.objects.filter(campaign_id=campaign_id).count() == 3
    assert brevo("GET", f"/emailCampaigns/{campaign_id}").json()["status"] == "sent"
    assert brevo("POST", f"/emailCampaigns/{campaign_id}/sendNow").status_code == 400
    assert brevo("POST", "/emailCampaigns/999/sendNow").status_code == 404
    no_sender = brevo("POST", "/emailCampaigns", json={"name": "x", "subject": "y"})
    assert no_sender.status_code == 400


def test_rate_limit_buckets_and_headers(brevo):
    config(
        brevo.env, rate_limits=True, brevo_contacts_per_second=3, brevo_other_per_hour=2
    )
    time.sleep(1 - (time.time() % 1) + 0.02)
    answers = [brevo("GET", "/contacts/lists") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-sib-ratelimit-limit"] == "3"
    assert answers[0].headers["x-sib-ratelimit-remaining"] == "2"
    assert 1 <= int(answers[0].headers["x-sib-ratelimit-reset"]) <= 1
    assert answers[3].headers["x-sib-ratelimit-remaining"] == "0"
    assert "Retry-After" not in answers[3].headers
    # /processes falls in "all other endpoints": 2 an hour here.
    statuses = [brevo("GET", "/processes").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = brevo("GET", "/processes")
    assert int(limited.headers["x-sib-ratelimit-reset"]) > 1
    stats = requests.get(f"{brevo.env.url}/sandbox/api/stats", timeout=10).json()
    assert stats["rate_limited"]["brevo"] == 3
    assert stats["calls_by_category"]["brevo:contacts"] == 4


def test_brevo_fault_injection(brevo):
    config(brevo.env, brevo_fail_next=1)
    assert brevo("GET", "/contacts/lists").status_code == 500
    assert brevo("GET", "/contacts/lists").status_code == 200


def test_official_sdk_creates_contact_and_sends_event(brevo):
    from brevo import Brevo

    client = Brevo(
        api_key=brevo.env.brevo_account.api_key,
        base_url=brevo.env.brevo_api,
        max_retries=0,
    )
    created = client.contacts.create_contact(
        email="sdk@example.com", attributes={"FIRSTNAME": "Sdk"}, list_ids=[15]
    )
    assert created.id == sb.Contact.objects.get(email="sdk@example.com").pk
    client.event.create_event(
        event_name="webinar_attended",
        identifiers={"email_id": "sdk@example.com"},
        event_properties={"webinar_name": "Q1 Roadmap"},
    )
    event = sb.Event.objects.get()
    assert event.event_name == "webinar_attended"
    assert event.contact.email == "sdk@example.com"
    info = client.contacts.get_contact_info(identifier="sdk@example.com")
    assert info.email == "sdk@example.com" and info.list_ids == [15]
