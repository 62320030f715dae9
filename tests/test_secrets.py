"""Secrets are encrypted at rest, rotate with the keys, and never show."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings

from connector import crypto
from connector.logging import ContextFilter, EventFormatter
from connector.models import BrevoAccount, ZoomConnection

SECRETS = {
    "client_secret": "s2s-client-secret-AAAA1111",
    "webhook_secret_token": "webhook-secret-BBBB2222",
    "verification_token": "verification-token-CCCC3333",
    "refresh_token": "refresh-token-DDDD4444",
    "access_token": "access-token-EEEE5555",
}


def raw_row(table: str, pk: int) -> tuple:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


@pytest.mark.django_db
def test_database_columns_hold_no_plaintext(make_connection, brevo_account):
    conn = make_connection(**SECRETS)
    stored = " ".join(str(v) for v in raw_row("connector_zoomconnection", conn.pk))
    for value in SECRETS.values():
        assert value not in stored
    assert stored.count(crypto.PREFIX) >= len(SECRETS)

    account_row = " ".join(
        str(v) for v in raw_row("connector_brevoaccount", brevo_account.pk)
    )
    assert brevo_account.api_key not in account_row

    fresh = ZoomConnection.objects.get(pk=conn.pk)
    for field, value in SECRETS.items():
        assert getattr(fresh, field) == value


@pytest.mark.django_db
def test_rotate_keys_reencrypts_with_the_newest_key(db):
    with override_settings(FIELD_ENCRYPTION_KEYS=["old-key-passphrase"]):
        brevo_account = BrevoAccount.objects.create(
            name="b", api_key="xkeysib-0123456789"
        )
        conn = ZoomConnection.objects.create(name="z", slug="z", **SECRETS)
        before = raw_row("connector_zoomconnection", conn.pk)
    with override_settings(
        FIELD_ENCRYPTION_KEYS=["new-key-passphrase", "old-key-passphrase"]
    ):
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
        after = raw_row("connector_zoomconnection", conn.pk)
        assert before != after
    # The old key can now be dropped.
    with override_settings(FIELD_ENCRYPTION_KEYS=["new-key-passphrase"]):
        fresh = ZoomConnection.objects.get(pk=conn.pk)
        assert fresh.client_secret == SECRETS["client_secret"]
        assert BrevoAccount.objects.get().api_key == brevo_account.api_key
    # And a database encrypted with a key we no longer have fails loudly.
    with (
        override_settings(FIELD_ENCRYPTION_KEYS=["unrelated-key"]),
        pytest.raises(crypto.DecryptionError),
    ):
        ZoomConnection.objects.get(pk=conn.pk)


def test_mask_shows_only_the_last_four_characters():
    assert crypto.mask("") == "not set"
    assert crypto.mask("short") == "set"
    assert crypto.mask("abcdefghijkl4f2a") == "set, ends in …4f2a"


@pytest.mark.django_db
def test_repr_and_str_hold_no_secret(make_connection):
    conn = make_connection(**SECRETS)
    text = repr(conn) + str(conn)
    for value in SECRETS.values():
        assert value not in text


@pytest.mark.django_db
def test_admin_pages_mask_secrets_and_empty_input_keeps_them(
    admin_client, make_connection
):
    conn = make_connection(**SECRETS)
    url = f"/admin/connector/zoomconnection/{conn.pk}/change/"
    page = admin_client.get(url).content.decode()
    for value in SECRETS.values():
        assert value not in page
    assert "set, ends in …1111" in page
    listing = admin_client.get("/admin/connector/zoomconnection/").content.decode()
    for value in SECRETS.values():
        assert value not in listing

    form = {
        "name": conn.name,
        "slug": conn.slug,
        "auth_type": conn.auth_type,
        "enabled": "on",
        "brevo_account": conn.brevo_account_id,
        "account_id": "acct-new",
        "client_id": conn.client_id,
        "client_secret": "",
        "webhook_secret_token": "brand-new-webhook-secret-9999",
        "verification_token__clear": "on",
        "sync_participants": "on",
        "sync_delay_seconds": 300,
        "rate_limit_light": 30,
        "rate_limit_medium": 20,
        "rate_limit_heavy": 10,
        "engagement_attendance_weight": 70,
        "engagement_punctuality_weight": 30,
        "engaged_min_score": 50,
        "log_level": "info",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    conn.refresh_from_db()
    assert conn.account_id == "acct-new"
    assert conn.client_secret == SECRETS["client_secret"]  # empty input kept it
    assert conn.webhook_secret_token == "brand-new-webhook-secret-9999"
    assert conn.verification_token == ""  # cleared on purpose


def test_log_formatter_prints_ids_and_redacts_secret_named_fields():
    record = logging.LogRecord(
        "connector.zoom.oauth",
        logging.INFO,
        __file__,
        1,
        "zoom.token.refreshed",
        None,
        None,
    )
    record.connection_id = 7
    record.access_token = "leaky-token-value"
    record.has_refresh_token = True
    ContextFilter().filter(record)
    line = EventFormatter().format(record)
    assert "zoom.token.refreshed" in line
    assert "connection_id=7" in line
    assert "has_refresh_token=True" in line
    assert "leaky-token-value" not in line
    assert "access_token=[redacted]" in line
