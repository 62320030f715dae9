"""The dashboard's figures and access, and the preview that writes nothing."""

from __future__ import annotations

import re

import pytest
import responses
from django.urls import reverse

from connector.dashboard import funnels
from connector.models import (
    FieldMapping,
    FollowUpDispatch,
    FollowUpRule,
    SyncRun,
    WebhookDelivery,
    ZoomField,
)

from .followups_factory import make_occurrence, only_rule

T = FollowUpRule.Trigger
A = FollowUpRule.Action


@pytest.fixture
def meeting(connection):
    occurrence = make_occurrence(connection)
    rule = only_rule(connection, trigger=T.ATTENDED, action=A.BREVO_EVENT)
    for email in ("ana@example.test", "ben@example.test"):
        FollowUpDispatch.objects.create(
            rule=rule, meeting=occurrence, email=email, status="sent"
        )
    FollowUpDispatch.objects.create(
        rule=rule,
        meeting=occurrence,
        email="cleo@example.test",
        status="failed",
        detail="attended 5 min; Brevo error: templateId is not valid",
    )
    return occurrence


@pytest.fixture
def staff_client(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    return client


def bar_values(html: str, meeting_id: int) -> dict[str, int]:
    card = html.split(f'data-meeting="{meeting_id}"', 1)[1].split("</section>", 1)[0]
    return {
        stage: int(value)
        for stage, value in re.findall(r'data-stage="(\w+)" data-value="(\d+)"', card)
    }


@pytest.mark.django_db
def test_funnel_counts(meeting):
    [funnel] = funnels([meeting])
    # 5 registrants; 4 attended (3 registrants and a guest); Ana (100) and the
    # guest (68.3) reach 50; two people got a follow-up.
    assert (funnel.registered, funnel.attended, funnel.engaged, funnel.followed_up) == (
        5,
        4,
        2,
        2,
    )
    assert [b.key for b in funnel.bars] == [
        "registered",
        "attended",
        "engaged",
        "followed_up",
    ]
    assert funnel.bars[1].share == "80%"
    assert funnel.headline == (
        "80% of registrants attended, 50% of attendees engaged, 2 followed up."
    )


@pytest.mark.django_db
def test_engaged_threshold_is_the_connections(connection, meeting):
    connection.engaged_min_score = 40
    connection.save()
    [funnel] = funnels([meeting])
    assert funnel.engaged == 3  # Ben's 49.2 now counts


@pytest.mark.django_db
def test_meeting_without_registration_starts_at_attended(connection):
    occurrence = make_occurrence(connection, kind="meeting", uuid="mtg==")
    occurrence.attendances.update(registrant_id="")
    occurrence.attendances.filter(status="no_show").delete()
    [funnel] = funnels([occurrence])
    assert [b.key for b in funnel.bars] == ["attended", "engaged", "followed_up"]


@pytest.mark.django_db
def test_dashboard_page_shows_funnels_runs_and_failures(staff_client, meeting):
    SyncRun.objects.create(
        connection=meeting.connection,
        meeting=meeting,
        kind="webinar",
        trigger="webhook",
        status="partial",
        upserted=5,
        failed=1,
        error="Some attributes were left out (see items).",
    )
    WebhookDelivery.objects.create(
        connection=meeting.connection,
        event="recording.completed",
        body_sha256="0" * 64,
        status="failed",
        error="Zoom did not answer: ReadTimeout",
    )
    html = staff_client.get(reverse("connector:dashboard")).content.decode()
    assert bar_values(html, meeting.pk) == {
        "registered": 5,
        "attended": 4,
        "engaged": 2,
        "followed_up": 2,
    }
    assert "<svg" in html and "<script" not in html.split("</header>", 1)[-1]
    assert "80% of registrants attended" in html
    assert "Some attributes were left out" in html
    assert "cleo@example.test" in html and "templateId is not valid" in html
    assert "Zoom did not answer: ReadTimeout" in html


@pytest.mark.django_db
def test_dashboard_is_for_staff_only(client, django_user_model):
    url = reverse("connector:dashboard")
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = django_user_model.objects.create_user("host", "h@example.test", "pw-1234567")
    client.force_login(user)
    assert client.get(url).status_code == 302
    assert client.get(reverse("connector:preview")).status_code == 302


@pytest.mark.django_db
def test_admin_index_links_to_the_dashboard(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert reverse("connector:dashboard") in html
    assert "Event outcomes dashboard" in html


@pytest.mark.django_db
def test_preview_shows_contacts_lists_and_follow_ups_without_writing(
    staff_client, connection, meeting
):
    meeting.recording_share_url = "https://us06web.zoom.us/rec/share/x"
    meeting.recording_passcode = "Rec0rd!ng"
    meeting.save()
    score = FieldMapping.objects.create(
        connection=connection,
        zoom_field=ZoomField.ENGAGEMENT_SCORE,
        brevo_attribute="ZOOM_ENGAGEMENT_SCORE",
        enabled=False,
    )
    events = FieldMapping.objects.create(
        connection=connection,
        zoom_field=ZoomField.EVENTS_ATTENDED,
        brevo_attribute="ZOOM_EVENTS_ATTENDED",
    )
    email = FollowUpRule.objects.create(
        connection=connection,
        name="Recording email",
        trigger=T.RECORDING_READY,
        action=A.TRANSACTIONAL_TEMPLATE,
        template_id=7,
        enabled=False,
    )
    dispatches = FollowUpDispatch.objects.count()
    url = reverse("connector:preview")
    with responses.RequestsMock():  # any HTTP call would raise here
        html = staff_client.get(
            f"{url}?meeting={meeting.pk}&mappings={score.pk}&rules={email.pk}"
        ).content.decode()
    assert FollowUpDispatch.objects.count() == dispatches
    assert '<span id="contact-count">5</span>' in html
    # Lists from the connection's assignments: attendees 16 (+ registrants 17).
    assert "onto lists 16, 17" in html
    assert "ZOOM_ENGAGEMENT_SCORE = 100" in html  # the not-yet-enabled mapping
    assert "ZOOM_EVENTS_ATTENDED = 1" in html
    assert "FIRSTNAME = Ana" in html
    assert "not enabled" in html and "Recording email" in html
    assert "RECORDING_URL = https://us06web.zoom.us/rec/share/x" in html
    assert "Rec0rd!ng" not in html  # the passcode is said to go, never shown
    # Ana and Ben got the attended event, Cleo's failed for good: none again.
    assert "0 would be sent; 3 skipped: already sent" in html
    assert "3 would be sent" in html  # the recording email to attendees
    assert events.enabled


@pytest.mark.django_db
def test_admin_actions_open_the_preview(staff_client, connection, meeting):
    rule = connection.follow_up_rules.first()
    response = staff_client.post(
        reverse("admin:connector_followuprule_changelist"),
        {"action": "preview_rules", "_selected_action": [rule.pk]},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("connector:preview"))
    assert f"rules={rule.pk}" in response["Location"]
    mapping = connection.field_mappings.first()
    response = staff_client.post(
        reverse("admin:connector_fieldmapping_changelist"),
        {"action": "preview_sync", "_selected_action": [mapping.pk]},
    )
    assert f"mappings={mapping.pk}" in response["Location"]


@pytest.mark.django_db
def test_rule_form_refuses_an_enabled_template_rule_without_template(
    staff_client, connection
):
    response = staff_client.post(
        reverse("admin:connector_followuprule_add"),
        {
            "connection": connection.pk,
            "name": "Thanks",
            "trigger": T.ATTENDED,
            "kind": "",
            "action": A.TRANSACTIONAL_TEMPLATE,
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert "needs the Brevo template id" in response.content.decode()
    assert not FollowUpRule.objects.filter(name="Thanks").exists()


@pytest.mark.django_db
def test_dispatch_admin_is_read_only_with_a_retry_action(staff_client, meeting):
    failed = FollowUpDispatch.objects.get(status="failed")
    changelist = reverse("admin:connector_followupdispatch_changelist")
    html = staff_client.get(changelist).content.decode()
    assert "cleo@example.test" in html
    assert (
        staff_client.get(reverse("admin:connector_followupdispatch_add")).status_code
        == 403
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        response = staff_client.post(
            changelist,
            {"action": "retry_failed", "_selected_action": [failed.pk]},
            follow=True,
        )
    assert "1 failed follow-up will be sent again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.will_retry


@pytest.mark.django_db
def test_upcoming_occurrences_have_no_funnel_yet(staff_client, connection, meeting):
    from datetime import timedelta

    from django.utils import timezone

    from connector.dashboard import recent_meetings

    upcoming = make_occurrence(
        connection,
        uuid="next-week==",
        topic="Q2 Roadmap",
        status="scheduled",
        start_time=timezone.now() + timedelta(days=7),
        end_time=None,
    )
    assert recent_meetings() == [meeting]
    html = staff_client.get(reverse("connector:dashboard")).content.decode()
    assert f'data-meeting="{upcoming.pk}"' not in html


@pytest.mark.django_db
def test_enabling_from_the_rule_list_is_checked_too(staff_client, connection):
    email = connection.follow_up_rules.get(action=A.TRANSACTIONAL_TEMPLATE)
    rules = list(connection.follow_up_rules.order_by("connection", "trigger", "id"))
    data = {
        "form-TOTAL_FORMS": len(rules),
        "form-INITIAL_FORMS": len(rules),
        "_save": "Save",
    }
    for n, rule in enumerate(rules):
        data[f"form-{n}-id"] = rule.pk
        if rule.enabled or rule.pk == email.pk:
            data[f"form-{n}-enabled"] = "on"
    response = staff_client.post(
        reverse("admin:connector_followuprule_changelist"), data
    )
    assert "needs the Brevo template id" in response.content.decode()
    email.refresh_from_db()
    assert not email.enabled
