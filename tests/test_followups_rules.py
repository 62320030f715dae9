"""Follow-up rules: each trigger's audience, each action's request, and what is
recorded. Brevo is mocked at the transport boundary with ``responses``."""

from __future__ import annotations

import json

import pytest
import responses

from connector import followups
from connector.defaults import DEFAULT_FOLLOW_UP_RULES
from connector.models import FollowUpDispatch, FollowUpRule

from .conftest import load_fixture
from .followups_factory import BREVO, make_occurrence, only_rule

T = FollowUpRule.Trigger
A = FollowUpRule.Action
ANSWERS = load_fixture("followups/brevo_answers.json")


@pytest.fixture(autouse=True)
def _brevo(settings):
    settings.BREVO_API_BASE_URL = BREVO
    settings.HTTP_MAX_RETRIES = 0


@pytest.fixture
def meeting(connection):
    return make_occurrence(connection)


@pytest.fixture
def brevo():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def bodies(mock, path: str) -> list[dict]:
    return [
        json.loads(call.request.body)
        for call in mock.calls
        if call.request.url.split("?")[0] == f"{BREVO}/{path}"
    ]


def emails_of(rule, meeting) -> list[str]:
    return [r.email for r in followups.audience(rule, meeting)]


# Triggers ----------------------------------------------------------------------


@pytest.mark.django_db
def test_attended_without_minimum_is_every_attendee_with_an_email(connection, meeting):
    rule = only_rule(connection, trigger=T.ATTENDED, action=A.BREVO_EVENT)
    # The guest without an email never gets a follow-up.
    assert emails_of(rule, meeting) == [
        "ana@example.test",
        "ben@example.test",
        "cleo@example.test",
    ]


@pytest.mark.django_db
def test_attended_with_minimum_minutes_or_percent(connection, meeting):
    minutes = only_rule(
        connection, trigger=T.ATTENDED, action=A.BREVO_EVENT, min_minutes=25
    )
    assert emails_of(minutes, meeting) == ["ana@example.test", "ben@example.test"]
    percent = only_rule(
        connection, trigger=T.ATTENDED, action=A.BREVO_EVENT, min_percent=50
    )
    assert emails_of(percent, meeting) == ["ana@example.test"]


@pytest.mark.django_db
def test_no_show_is_registrants_who_never_joined(connection, meeting):
    rule = only_rule(connection, trigger=T.NO_SHOW, action=A.BREVO_EVENT)
    assert emails_of(rule, meeting) == ["dan@example.test", "eve@example.test"]


@pytest.mark.django_db
def test_registered_is_every_registrant(connection, meeting):
    rule = only_rule(connection, trigger=T.REGISTERED, action=A.BREVO_EVENT)
    assert len(emails_of(rule, meeting)) == 5
    assert followups.audience(rule, meeting)[0].why == "registered via newsletter"


@pytest.mark.django_db
def test_recording_ready_needs_the_link_and_adds_no_shows_on_request(
    connection, meeting
):
    rule = only_rule(connection, trigger=T.RECORDING_READY, action=A.BREVO_EVENT)
    assert emails_of(rule, meeting) == []  # no share link yet
    meeting.recording_share_url = "https://us06web.zoom.us/rec/share/x"
    meeting.save()
    assert len(emails_of(rule, meeting)) == 3
    rule.include_no_shows = True
    rule.min_minutes = 10
    rule.save()
    assert emails_of(rule, meeting) == [
        "ana@example.test",
        "ben@example.test",
        "dan@example.test",
        "eve@example.test",
    ]


@pytest.mark.django_db
def test_meeting_ended_is_everyone_with_an_email(connection, meeting):
    rule = only_rule(connection, trigger=T.MEETING_ENDED, action=A.BREVO_EVENT)
    assert len(emails_of(rule, meeting)) == 5


@pytest.mark.django_db
def test_rules_apply_to_their_kind_only_and_when_enabled(connection, meeting):
    rule = only_rule(connection, trigger=T.ATTENDED, action=A.BREVO_EVENT)
    assert list(followups.rules_for(meeting, T.ATTENDED)) == [rule]
    rule.kind = "meeting"
    rule.save()
    assert list(followups.rules_for(meeting, T.ATTENDED)) == []
    rule.kind = "webinar"
    rule.enabled = False
    rule.save()
    assert list(followups.rules_for(meeting, T.ATTENDED)) == []


# Actions -----------------------------------------------------------------------


@pytest.mark.django_db
def test_brevo_event_goes_through_the_batch_endpoint_with_meeting_properties(
    connection, meeting, brevo
):
    meeting.recording_share_url = "https://us06web.zoom.us/rec/share/x"
    meeting.save()
    only_rule(
        connection,
        trigger=T.ATTENDED,
        action=A.BREVO_EVENT,
        event_name="webinar_attended",
        min_minutes=20,
    )
    brevo.post(f"{BREVO}/events/batch", json=ANSWERS["events_batch_accepted"])

    summary = followups.run(meeting, T.ATTENDED)

    assert (summary.sent, summary.failed) == (2, 0)
    [body] = bodies(brevo, "events/batch")
    assert [e["identifiers"]["email_id"] for e in body["events"]] == [
        "ana@example.test",
        "ben@example.test",
    ]
    ben = body["events"][1]
    assert ben["event_name"] == "webinar_attended"
    assert ben["event_date"] == "2026-03-02T17:20:00+00:00"
    props = ben["event_properties"]
    assert props["meeting_topic"] == "Q1 Roadmap"
    assert props["meeting_date"] == "2026-03-02T17:00:00+00:00"
    assert props["minutes_attended"] == 25.0
    assert props["join_url"] == meeting.join_url
    assert props["recording_url"] == "https://us06web.zoom.us/rec/share/x"
    assert props["rejoins"] == 2
    assert "recording_passcode" not in props  # only recording events carry it
    sent = FollowUpDispatch.objects.get(email="ben@example.test")
    assert sent.status == "sent" and sent.sent_at is not None
    assert "attended 25 min" in sent.detail and "webinar_attended" in sent.detail


@pytest.mark.django_db
def test_partial_batch_marks_only_the_refused_event_failed(connection, meeting, brevo):
    only_rule(connection, trigger=T.ATTENDED, action=A.BREVO_EVENT)
    brevo.post(
        f"{BREVO}/events/batch", status=207, json=ANSWERS["events_batch_partial"]
    )
    summary = followups.run(meeting, T.ATTENDED)
    assert (summary.sent, summary.failed) == (2, 1)
    failed = FollowUpDispatch.objects.get(status="failed")
    assert failed.email == "ben@example.test"
    assert "not a valid email" in failed.detail
    assert not failed.will_retry


@pytest.mark.django_db
def test_add_to_list_imports_the_audience_onto_the_list(connection, meeting, brevo):
    only_rule(connection, trigger=T.NO_SHOW, action=A.ADD_TO_LIST, list_id=42)
    brevo.post(f"{BREVO}/contacts/import", status=202, json=ANSWERS["contacts_import"])
    summary = followups.run(meeting, T.NO_SHOW)
    assert summary.sent == 2
    [body] = bodies(brevo, "contacts/import")
    assert body["listIds"] == [42]
    assert [c["email"] for c in body["jsonBody"]] == [
        "dan@example.test",
        "eve@example.test",
    ]
    assert "list 42 (import 78)" in FollowUpDispatch.objects.first().detail


@pytest.mark.django_db
def test_template_email_has_params_and_a_stable_idempotency_key(
    connection, meeting, brevo
):
    meeting.recording_share_url = "https://us06web.zoom.us/rec/share/x"
    meeting.recording_passcode = "Rec0rd!ng"
    meeting.save()
    rule = only_rule(
        connection,
        trigger=T.RECORDING_READY,
        action=A.TRANSACTIONAL_TEMPLATE,
        template_id=7,
        min_percent=90,
    )
    brevo.post(f"{BREVO}/smtp/email", status=201, json=ANSWERS["smtp_email_created"])
    summary = followups.run(meeting, T.RECORDING_READY)
    assert summary.sent == 1
    [body] = bodies(brevo, "smtp/email")
    assert body["templateId"] == 7
    assert body["to"] == [{"email": "ana@example.test", "name": "Ana Lima"}]
    assert body["params"]["RECORDING_URL"] == "https://us06web.zoom.us/rec/share/x"
    assert body["params"]["RECORDING_PASSCODE"] == "Rec0rd!ng"
    assert body["params"]["WEBINAR_NAME"] == "Q1 Roadmap"
    assert body["params"]["FIRSTNAME"] == "Ana"
    key = body["headers"]["idempotencyKey"]
    assert key == followups.idempotency_key(rule.pk, meeting.pk, "ana@example.test")
    assert key != followups.idempotency_key(rule.pk, meeting.pk, "ben@example.test")
    dispatch = FollowUpDispatch.objects.get()
    assert "12345678901@smtp-relay" in dispatch.detail
    assert "Rec0rd!ng" not in dispatch.detail


@pytest.mark.django_db
def test_campaign_goes_once_to_the_list_with_the_audience_on_it(
    connection, meeting, brevo
):
    meeting.recording_share_url = "https://us06web.zoom.us/rec/share/x"
    meeting.save()
    only_rule(
        connection,
        trigger=T.RECORDING_READY,
        action=A.CAMPAIGN,
        template_id=9,
        list_id=77,
        include_no_shows=True,
    )
    brevo.post(
        f"{BREVO}/contacts/lists/77/contacts/add",
        status=201,
        json={"contacts": {"success": [], "failure": []}},
    )
    brevo.post(f"{BREVO}/emailCampaigns", status=201, json=ANSWERS["campaign_created"])
    brevo.post(f"{BREVO}/emailCampaigns/122/sendNow", status=204)

    summary = followups.run(meeting, T.RECORDING_READY)
    again = followups.run(meeting, T.RECORDING_READY)

    assert summary.sent == 5 and again.sent == 0
    [added] = bodies(brevo, "contacts/lists/77/contacts/add")
    assert len(added["emails"]) == 5
    [campaign] = bodies(brevo, "emailCampaigns")
    assert campaign["recipients"] == {"listIds": [77]}
    assert campaign["templateId"] == 9
    assert campaign["params"]["RECORDING_URL"] == "https://us06web.zoom.us/rec/share/x"
    assert campaign["subject"] == "Recording: Q1 Roadmap"
    sends = [c for c in brevo.calls if c.request.url.endswith("/sendNow")]
    assert len(sends) == 1
    assert FollowUpDispatch.objects.filter(status="sent").count() == 6  # 5 + gate


@pytest.mark.django_db
def test_misconfigured_rule_sends_nothing_and_says_why(connection, meeting, brevo):
    only_rule(connection, trigger=T.ATTENDED, action=A.TRANSACTIONAL_TEMPLATE)
    summary = followups.run(meeting, T.ATTENDED)
    assert "template id" in summary.problems[0]
    assert not brevo.calls
    assert not FollowUpDispatch.objects.exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"action": A.BREVO_EVENT, "event_name": "webinar attended!"}, "letters"),
        ({"action": A.ADD_TO_LIST}, "list id"),
        ({"action": A.CAMPAIGN, "template_id": 3}, "campaign"),
        ({"action": A.BREVO_EVENT, "min_percent": 120}, "at most 100"),
    ],
)
def test_check_rule_refuses_what_cannot_act(values, message):
    rule = FollowUpRule(trigger=T.ATTENDED, **values)
    with pytest.raises(followups.RuleConfigError, match=message):
        followups.check_rule(rule)


# Failures and retries -------------------------------------------------------------


@pytest.mark.django_db
def test_server_error_is_retried_by_the_next_run_and_sent_once(
    connection, meeting, brevo
):
    only_rule(connection, trigger=T.NO_SHOW, action=A.BREVO_EVENT)
    brevo.post(f"{BREVO}/events/batch", status=503, json=ANSWERS["server_error"])
    first = followups.run(meeting, T.NO_SHOW)
    assert (first.sent, first.retry) == (0, 2)
    row = FollowUpDispatch.objects.get(email="dan@example.test")
    assert row.status == "failed" and row.will_retry and row.attempts == 1

    brevo.replace(
        "POST", f"{BREVO}/events/batch", json=ANSWERS["events_batch_accepted"]
    )
    second = followups.run(meeting, T.NO_SHOW)
    third = followups.run(meeting, T.NO_SHOW)
    assert (second.sent, third.sent, third.skipped) == (2, 0, 2)
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2 and not row.will_retry


@pytest.mark.django_db
def test_client_error_fails_for_good(connection, meeting, brevo):
    only_rule(
        connection, trigger=T.NO_SHOW, action=A.TRANSACTIONAL_TEMPLATE, template_id=5
    )
    brevo.post(f"{BREVO}/smtp/email", status=400, json=ANSWERS["bad_request"])
    summary = followups.run(meeting, T.NO_SHOW)
    assert (summary.failed, summary.retry) == (2, 0)
    assert followups.run(meeting, T.NO_SHOW).skipped == 2
    assert len(bodies(brevo, "smtp/email")) == 2


@pytest.mark.django_db
def test_operator_retry_sends_failed_ones_again(connection, meeting, brevo):
    only_rule(
        connection, trigger=T.NO_SHOW, action=A.TRANSACTIONAL_TEMPLATE, template_id=5
    )
    brevo.post(f"{BREVO}/smtp/email", status=400, json=ANSWERS["bad_request"])
    followups.run(meeting, T.NO_SHOW)
    todo = followups.retry_failed(FollowUpDispatch.objects.all())
    assert todo == [(meeting.pk, T.NO_SHOW)]
    brevo.replace(
        "POST", f"{BREVO}/smtp/email", status=201, json=ANSWERS["smtp_email_created"]
    )
    assert followups.run(meeting, T.NO_SHOW).sent == 2


@pytest.mark.django_db
def test_brevo_duplicate_key_answer_counts_as_sent(connection, meeting, brevo):
    only_rule(
        connection, trigger=T.NO_SHOW, action=A.TRANSACTIONAL_TEMPLATE, template_id=5
    )
    brevo.post(f"{BREVO}/smtp/email", status=400, json=ANSWERS["smtp_email_duplicate"])
    assert followups.run(meeting, T.NO_SHOW).sent == 2
    assert "already sent" in FollowUpDispatch.objects.first().detail


@pytest.mark.django_db
def test_connection_without_brevo_account_sends_nothing(connection, meeting, brevo):
    only_rule(connection, trigger=T.NO_SHOW, action=A.BREVO_EVENT)
    connection.brevo_account = None
    connection.save()
    meeting.refresh_from_db()
    summary = followups.run(meeting, T.NO_SHOW)
    assert summary.problems and not brevo.calls


# Defaults ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_new_connection_gets_default_rules(connection):
    rules = {r.name: r for r in connection.follow_up_rules.all()}
    assert len(rules) == len(DEFAULT_FOLLOW_UP_RULES)
    enabled = [r for r in rules.values() if r.enabled]
    # Brevo events are on (they email nobody); the recording email waits for a
    # template id.
    assert {r.action for r in enabled} == {A.BREVO_EVENT}
    for rule in enabled:
        followups.check_rule(rule)
    email = next(r for r in rules.values() if r.action == A.TRANSACTIONAL_TEMPLATE)
    assert not email.enabled and email.include_no_shows


@pytest.mark.django_db
def test_migration_seeds_existing_connections_once(connection):
    from importlib import import_module

    from django.apps import apps

    seed = import_module("connector.migrations.0005_default_follow_up_rules").seed
    connection.follow_up_rules.all().delete()
    seed(apps, None)
    seed(apps, None)  # a connection that has rules is left alone
    assert connection.follow_up_rules.count() == len(DEFAULT_FOLLOW_UP_RULES)
    assert set(connection.follow_up_rules.values_list("name", flat=True)) == {
        r["name"] for r in DEFAULT_FOLLOW_UP_RULES
    }
