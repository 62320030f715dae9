"""The sandbox's user-level Zoom OAuth: authorize page (Allow/Deny), PKCE,
single-use codes, refresh-token rotation and revoke, over real HTTP; and the
page clicked in a real browser."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.conf import settings

from sandbox import models as sb

pytestmark = pytest.mark.e2e


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def redirect_uri(env) -> str:
    return f"{env.url}/zoom/oauth/callback"


def authorize(
    env, decision: str = "allow", challenge: str = "", user: str = ""
) -> dict:
    """Open the page, submit it like a browser; return the redirect's query."""
    session = requests.Session()
    params = {
        "response_type": "code",
        "client_id": settings.ZOOM_OAUTH_CLIENT_ID,
        "redirect_uri": redirect_uri(env),
        "state": "st-123",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = session.get(f"{env.zoom_oauth}/oauth/authorize", params=params, timeout=10)
    assert page.status_code == 200, page.text
    assert 'id="allow"' in page.text and 'id="deny"' in page.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    fields["decision"] = decision
    if user:
        fields["user"] = user
    answer = session.post(
        f"{env.zoom_oauth}/oauth/authorize",
        data=fields,
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(redirect_uri(env) + "?")
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def token_call(env, **data) -> requests.Response:
    return requests.post(
        f"{env.zoom_oauth}/oauth/token",
        data=data,
        auth=(settings.ZOOM_OAUTH_CLIENT_ID, settings.ZOOM_OAUTH_CLIENT_SECRET),
        timeout=10,
    )


def test_settings_name_the_development_app():
    assert settings.ZOOM_OAUTH_CLIENT_ID == "SbxUserOAuthClient0001"
    assert settings.ZOOM_OAUTH_CLIENT_SECRET


def test_authorize_refuses_unknown_client_and_redirect(sandbox_env):
    url = f"{sandbox_env.zoom_oauth}/oauth/authorize"
    unknown = requests.get(
        url,
        params={"client_id": "nope", "redirect_uri": redirect_uri(sandbox_env)},
        timeout=10,
    )
    assert unknown.status_code == 400 and "Invalid client_id" in unknown.text
    elsewhere = requests.get(
        url,
        params={
            "client_id": settings.ZOOM_OAUTH_CLIENT_ID,
            "redirect_uri": "https://evil.example/cb",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert elsewhere.status_code == 400 and "redirect" in elsewhere.text


def test_code_flow_with_pkce(sandbox_env):
    verifier, challenge = pkce_pair()
    mei = sb.ZoomUser.objects.get(email="mei.chen@sandbox-zoom.example")
    query = authorize(sandbox_env, challenge=challenge, user=mei.user_id)
    assert query["state"] == "st-123"
    code = query["code"]
    wrong = token_call(
        sandbox_env,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri(sandbox_env),
        code_verifier="not-the-verifier",
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The failed exchange used the code up.
    retry = token_call(
        sandbox_env,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri(sandbox_env),
        code_verifier=verifier,
    )
    assert retry.status_code == 400

    code = authorize(sandbox_env, challenge=challenge, user=mei.user_id)["code"]
    good = token_call(
        sandbox_env,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri(sandbox_env),
        code_verifier=verifier,
    )
    assert good.status_code == 200, good.text
    body = good.json()
    assert {
        "access_token",
        "token_type",
        "refresh_token",
        "expires_in",
        "scope",
        "api_url",
    } == set(body)
    assert ":admin" not in body["scope"]
    me = requests.get(
        f"{sandbox_env.zoom_api}/users/me",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 200 and me.json()["email"] == mei.email
    reused = token_call(
        sandbox_env,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri(sandbox_env),
        code_verifier=verifier,
    )
    assert reused.json() == {
        "reason": "Invalid authorization code",
        "error": "invalid_grant",
    }


def test_deny_redirects_with_access_denied(sandbox_env):
    query = authorize(sandbox_env, decision="deny")
    assert query == {"error": "access_denied", "state": "st-123"}


def test_code_expires(sandbox_env):
    requests.post(
        f"{sandbox_env.url}/sandbox/api/config",
        json={"auth_code_ttl_seconds": 1},
        timeout=10,
    )
    code = authorize(sandbox_env)["code"]
    time.sleep(1.2)
    late = token_call(
        sandbox_env,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri(sandbox_env),
    )
    assert late.json() == {
        "reason": "Authorization code is expired",
        "error": "invalid_grant",
    }


def test_refresh_rotation_and_revoke(sandbox_env):
    code = authorize(sandbox_env)["code"]
    first = token_call(
        sandbox_env,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri(sandbox_env),
    ).json()
    second = token_call(
        sandbox_env, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    old = token_call(
        sandbox_env, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert old.status_code == 400
    assert old.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    third = token_call(
        sandbox_env, grant_type="refresh_token", refresh_token=second["refresh_token"]
    )
    assert third.status_code == 200
    access = third.json()["access_token"]
    revoked = requests.post(
        f"{sandbox_env.zoom_oauth}/oauth/revoke",
        data={"token": access},
        auth=(settings.ZOOM_OAUTH_CLIENT_ID, settings.ZOOM_OAUTH_CLIENT_SECRET),
        timeout=10,
    )
    assert revoked.json() == {"status": "success"}
    me = requests.get(
        f"{sandbox_env.zoom_api}/users/me",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert me.status_code == 401 and me.json()["code"] == 124
    after = token_call(
        sandbox_env,
        grant_type="refresh_token",
        refresh_token=third.json()["refresh_token"],
    )
    assert after.json()["error"] == "invalid_grant"


def test_wrong_client_secret_on_token_endpoint(sandbox_env):
    response = requests.post(
        f"{sandbox_env.zoom_oauth}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(settings.ZOOM_OAUTH_CLIENT_ID, "wrong"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium")
def test_authorize_page_in_a_browser(sandbox_env):
    from playwright.sync_api import sync_playwright

    params = (
        f"response_type=code&client_id={settings.ZOOM_OAUTH_CLIENT_ID}"
        f"&redirect_uri={redirect_uri(sandbox_env)}&state=browser-1"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = browser.new_page()
            page.goto(f"{sandbox_env.zoom_oauth}/oauth/authorize?{params}")
            page.click("#allow")
            page.wait_for_url(re.compile(r".*/zoom/oauth/callback\?.*"))
            query = parse_qs(urlparse(page.url).query)
            assert query["state"] == ["browser-1"] and query["code"][0]
            page.goto(f"{sandbox_env.zoom_oauth}/oauth/authorize?{params}")
            page.click("#deny")
            page.wait_for_url(re.compile(r".*error=access_denied.*"))
        finally:
            browser.close()
    assert sb.AuthCode.objects.count() == 1
