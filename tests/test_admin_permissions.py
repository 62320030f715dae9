"""The admin is an operator console with a permission line around credentials."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group

from connector.models import (
    FieldMapping,
    ListAssignment,
    SyncRun,
    WebhookDelivery,
)


@pytest.fixture
def marketing_ops(client, django_user_model):
    user = django_user_model.objects.create_user(
        "marketer", "m@example.test", "pw-marketer-123", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Marketing ops"))
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_every_connector_admin_has_filters_and_search():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "connector":
            continue
        assert model_admin.list_filter, model.__name__
        assert model_admin.search_fields, model.__name__


@pytest.mark.django_db
def test_marketing_ops_edits_mappings_lists_and_rules(marketing_ops, connection):
    mapping = connection.field_mappings.get(brevo_attribute="WEBINAR_NAME")
    url = f"/admin/connector/fieldmapping/{mapping.pk}/change/"
    assert marketing_ops.get(url).status_code == 200
    response = marketing_ops.post(
        url,
        {
            "connection": connection.pk,
            "zoom_field": "meeting_topic",
            "brevo_attribute": "WEBINAR_NAME",
            "transform": "upper",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert (mapping.zoom_field, mapping.transform) == ("meeting_topic", "upper")

    assert marketing_ops.get("/admin/connector/listassignment/add/").status_code == 200
    response = marketing_ops.post(
        "/admin/connector/listassignment/add/",
        {"connection": connection.pk, "audience": "webinar_no_shows", "list_id": 18,
         "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    assert ListAssignment.objects.filter(
        audience="webinar_no_shows", list_id=18
    ).exists()
    assert marketing_ops.get("/admin/connector/followuprule/add/").status_code == 200


@pytest.mark.django_db
def test_marketing_ops_reads_runs_and_deliveries_but_cannot_change_them(
    marketing_ops, connection
):
    run = SyncRun.objects.create(connection=connection, kind="meeting", trigger="admin")
    delivery = WebhookDelivery.objects.create(body_sha256="0" * 64, status="processed")
    assert marketing_ops.get("/admin/connector/syncrun/").status_code == 200
    page = marketing_ops.get(f"/admin/connector/syncrun/{run.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (
        marketing_ops.get(
            f"/admin/connector/webhookdelivery/{delivery.pk}/change/"
        ).status_code
        == 200
    )
    assert marketing_ops.get("/admin/connector/syncrun/add/").status_code == 403
    response = marketing_ops.post(
        f"/admin/connector/syncrun/{run.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert SyncRun.objects.filter(pk=run.pk).exists()


@pytest.mark.django_db
def test_marketing_ops_never_sees_or_changes_credentials(marketing_ops, connection):
    url = f"/admin/connector/zoomconnection/{connection.pk}/change/"
    page = marketing_ops.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    for hidden in ("client_secret", "webhook_secret_token", "account_id", "client_id",
                   "set, ends in"):  # fmt: skip
        assert hidden not in html
    assert connection.client_id not in html
    # View only: a post changes nothing.
    response = marketing_ops.post(url, {"name": "hijacked", "client_secret": "x" * 20})
    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.name != "hijacked"
    # The Brevo account (an API key) is not reachable at all.
    assert marketing_ops.get("/admin/connector/brevoaccount/").status_code == 403
    assert (
        marketing_ops.get(
            f"/admin/connector/brevoaccount/{connection.brevo_account_id}/change/"
        ).status_code
        == 403
    )
    assert marketing_ops.get("/admin/connector/zoomconnection/add/").status_code == 403


@pytest.mark.django_db
def test_superuser_sees_the_credentials_section_masked(admin_client, connection):
    html = admin_client.get(
        f"/admin/connector/zoomconnection/{connection.pk}/change/"
    ).content.decode()
    assert "Credentials" in html
    assert 'name="client_secret"' in html
    assert "set, ends in" in html
    assert connection.client_secret not in html


@pytest.mark.django_db
def test_records_are_read_only_even_for_superusers(admin_client, connection):
    for path in ("syncrun", "syncrunitem", "webhookdelivery", "connectionevent",
                 "zoommeeting", "attendance"):  # fmt: skip
        assert admin_client.get(f"/admin/connector/{path}/add/").status_code == 403


@pytest.mark.django_db
def test_group_exists_with_no_credential_permissions():
    perms = set(
        Group.objects.get(name="Marketing ops").permissions.values_list(
            "codename", flat=True
        )
    )
    assert "change_fieldmapping" in perms
    assert "view_syncrun" in perms
    assert "reprocess_delivery" in perms
    assert "manage_credentials" not in perms
    assert not any(p.endswith("brevoaccount") for p in perms)
    assert "change_zoomconnection" not in perms
    assert FieldMapping._meta.app_label == "connector"
