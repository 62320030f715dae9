"""load_connector_config / export_connector_config."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from connector.models import (
    BrevoAccount,
    ConnectionEvent,
    FieldMapping,
    ListAssignment,
    ZoomConnection,
)

BRIEF = Path(__file__).parent / "fixtures" / "config" / "brief.yaml"
ENV = {
    "ZOOM_ACCOUNT_ID": "acct-123",
    "ZOOM_CLIENT_ID": "client-abc",
    "ZOOM_CLIENT_SECRET": "zoom-client-secret-value-9f3k",
    "ZOOM_WEBHOOK_SECRET": "zoom-webhook-secret-value-77aa",
    "ZOOM_VERIFICATION_TOKEN": "zoom-verification-token-5d5d",
    "BREVO_API_KEY": "xkeysib-brevo-api-key-value-c0ffee",
}


@pytest.fixture
def env(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_brief_file_creates_connection_account_mapping_and_lists(env):
    out = run("load_connector_config", str(BRIEF))
    assert "connection default: created" in out

    conn = ZoomConnection.objects.get(slug="default")
    assert conn.auth_type == ZoomConnection.AuthType.SERVER_TO_SERVER
    assert conn.account_id == "acct-123"
    assert conn.client_id == "client-abc"
    assert conn.client_secret == ENV["ZOOM_CLIENT_SECRET"]
    assert conn.webhook_secret_token == ENV["ZOOM_WEBHOOK_SECRET"]
    assert conn.verification_token == ENV["ZOOM_VERIFICATION_TOKEN"]
    assert conn.brevo_account.api_key == ENV["BREVO_API_KEY"]
    assert conn.log_level == "info"
    mapping = {
        m.zoom_field: (m.brevo_attribute, m.transform)
        for m in conn.field_mappings.all()
    }
    assert mapping == {
        "email": ("email", "none"),
        "name": ("FIRSTNAME", "first_name"),
        "join_time": ("MEETING_JOIN_DATE", "date"),
        "duration": ("MEETING_DURATION", "minutes"),
        "webinar_title": ("WEBINAR_NAME", "none"),
        "attendance_status": ("ATTENDANCE_STATUS", "none"),
        "registration_source": ("UTM_SOURCE", "none"),
    }
    lists = dict(conn.list_assignments.values_list("audience", "list_id"))
    assert lists == {
        "meeting_participants": 15,
        "webinar_attendees": 16,
        "webinar_registrants": 17,
    }
    # Change messages name secrets, never their values.
    for secret in ENV.values():
        if "secret" in secret or "key" in secret or "token" in secret:
            assert secret not in out


@pytest.mark.django_db
def test_loading_twice_changes_nothing(env):
    run("load_connector_config", str(BRIEF))
    counts = (
        ZoomConnection.objects.count(),
        BrevoAccount.objects.count(),
        FieldMapping.objects.count(),
        ListAssignment.objects.count(),
        ConnectionEvent.objects.count(),
    )
    assert run("load_connector_config", str(BRIEF)).strip() == "No changes."
    assert counts == (
        ZoomConnection.objects.count(),
        BrevoAccount.objects.count(),
        FieldMapping.objects.count(),
        ListAssignment.objects.count(),
        ConnectionEvent.objects.count(),
    )


@pytest.mark.django_db
def test_changed_value_is_applied_and_reported(env, monkeypatch, tmp_path):
    run("load_connector_config", str(BRIEF))
    monkeypatch.setenv("ZOOM_CLIENT_SECRET", "rotated-secret-value-0000")
    text = BRIEF.read_text().replace(
        "webinar_registrants: 17", "webinar_registrants: 42"
    )
    changed = tmp_path / "c.yaml"
    changed.write_text(text)
    out = run("load_connector_config", str(changed))
    assert "client_secret changed" in out
    assert "rotated-secret-value-0000" not in out
    assert "webinar_registrants = 42: updated" in out
    conn = ZoomConnection.objects.get(slug="default")
    assert conn.client_secret == "rotated-secret-value-0000"
    assert conn.list_assignments.get(audience="webinar_registrants").list_id == 42


@pytest.mark.django_db
def test_dry_run_prints_and_writes_nothing(env):
    out = run("load_connector_config", str(BRIEF), "--dry-run")
    assert out.startswith("Would change:")
    assert "connection default: created" in out
    assert not ZoomConnection.objects.exists()
    assert not BrevoAccount.objects.exists()


@pytest.mark.django_db
def test_unset_variable_is_an_error_naming_it(env, monkeypatch):
    monkeypatch.delenv("ZOOM_CLIENT_SECRET")
    with pytest.raises(CommandError, match="ZOOM_CLIENT_SECRET is not set"):
        run("load_connector_config", str(BRIEF))
    assert not ZoomConnection.objects.exists()


@pytest.mark.django_db
def test_unknown_key_is_an_error_naming_key_and_line(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BRIEF.read_text().replace("    debug: false", "    debugg: false"))
    with pytest.raises(
        CommandError, match=r"line 11: unknown key connectors.zoom.debugg"
    ):
        run("load_connector_config", str(bad))


@pytest.mark.django_db
def test_unknown_zoom_field_and_bad_types_are_errors(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BRIEF.read_text().replace("  email: email", "  e_mail: email"))
    with pytest.raises(CommandError, match=r"unknown Zoom field field_mapping\.e_mail"):
        run("load_connector_config", str(bad))
    bad.write_text(
        BRIEF.read_text().replace("webinar_attendees: 16", "webinar_attendees: x")
    )
    with pytest.raises(CommandError, match="must be a whole number"):
        run("load_connector_config", str(bad))


@pytest.mark.django_db
def test_export_writes_same_shape_with_placeholders_never_secrets(env, tmp_path):
    run("load_connector_config", str(BRIEF))
    exported = run("export_connector_config")
    for value in ENV.values():
        assert value not in exported
    data = yaml.safe_load(exported)
    zoom = data["connectors"]["zoom"]
    assert zoom["client_secret"] == "${ZOOM_CLIENT_SECRET}"
    assert zoom["webhook"]["secret_token"] == "${ZOOM_WEBHOOK_SECRET}"
    assert data["connectors"]["brevo"]["api_key"] == "${BREVO_API_KEY}"
    assert data["field_mapping"]["duration"] == "MEETING_DURATION"

    # The export loads back onto the same state without changes.
    path = tmp_path / "exported.yaml"
    path.write_text(exported)
    assert run("load_connector_config", str(path)).strip() == "No changes."


@pytest.mark.django_db
def test_mapping_with_explicit_transform_and_several_attributes(env, tmp_path):
    text = (
        BRIEF.read_text()
        .replace(
            "  name: FIRSTNAME",
            "  name: [FIRSTNAME, {attribute: LASTNAME, transform: last_name}]",
        )
        .replace(
            "  duration: MEETING_DURATION",
            "  duration: {attribute: MEETING_SECONDS, transform: seconds}",
        )
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    run("load_connector_config", str(path))
    conn = ZoomConnection.objects.get()
    rows = {m.brevo_attribute: m.transform for m in conn.field_mappings.all()}
    assert rows["FIRSTNAME"] == "first_name"
    assert rows["LASTNAME"] == "last_name"
    assert rows["MEETING_SECONDS"] == "seconds"
    assert "MEETING_DURATION" not in rows
    again = tmp_path / "again.yaml"
    again.write_text(run("export_connector_config"))
    assert run("load_connector_config", str(again)).strip() == "No changes."
