from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_admin_login_locks_after_repeated_failures(client, django_user_model, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    django_user_model.objects.create_superuser(
        "boss", "b@example.test", "right-pass-123"
    )
    for _ in range(3):
        response = client.post(
            "/admin/login/", {"username": "boss", "password": "wrong"}
        )
        assert response.status_code == 200  # the form again, with an error
    locked = client.post(
        "/admin/login/", {"username": "boss", "password": "right-pass-123"}
    )
    assert locked.status_code == 429
    assert b"Too many sign-in attempts" in locked.content
    assert locked["Retry-After"] == str(settings.LOGIN_LOCKOUT_SECONDS)


@pytest.mark.django_db
def test_lockout_by_username_holds_across_addresses(
    client, django_user_model, settings
):
    settings.LOGIN_FAILURE_LIMIT = 2
    django_user_model.objects.create_superuser(
        "boss", "b@example.test", "right-pass-123"
    )
    for n in range(2):
        client.post(
            "/admin/login/",
            {"username": "boss", "password": "wrong"},
            REMOTE_ADDR=f"10.0.0.{n + 1}",
        )
    response = client.post(
        "/admin/login/",
        {"username": "boss", "password": "right-pass-123"},
        REMOTE_ADDR="10.0.0.99",
    )
    assert response.status_code == 429


@pytest.mark.django_db
def test_success_below_the_limit_signs_in_and_resets(
    client, django_user_model, settings
):
    settings.LOGIN_FAILURE_LIMIT = 3
    django_user_model.objects.create_superuser(
        "boss", "b@example.test", "right-pass-123"
    )
    client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    response = client.post(
        "/admin/login/", {"username": "boss", "password": "right-pass-123"}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_hosts_sign_in_on_the_portal_page_and_land_on_connect_zoom(
    client, django_user_model
):
    django_user_model.objects.create_user("host", "h@example.test", "host-pass-123")
    page = client.get("/connect/zoom/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    response = client.post(
        "/accounts/login/", {"username": "host", "password": "host-pass-123"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/connect/zoom/"
    assert client.get("/connect/zoom/").status_code == 200


@pytest.mark.django_db
def test_the_portal_sign_in_page_is_throttled_too(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/accounts/login/", {"username": "x", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 429
