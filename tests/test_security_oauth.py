"""PKCE over real HTTP: an authorization code is worthless without its verifier.

State reuse, a state from another session and an expired state are covered in
``test_zoom_oauth.py``; a wrong verifier at the sandbox in
``test_sandbox_oauth.py``. Here: an exchange with no verifier at all is
refused, and a code stolen from one browser's flow and replayed into another
browser's callback (with that browser's own, valid state) is refused, because
the code is bound to the first browser's PKCE challenge.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from connector.models import ZoomConnection

from .test_zoom_e2e import (  # noqa: F401 (fixture)
    PASSWORD,
    _close_sessions,
    form_fields,
    sign_in,
)

pytestmark = pytest.mark.e2e


def authorize_without_callback(base: str, session: requests.Session) -> dict:
    """Press Connect Zoom and Allow, but stop before the callback: return the
    code and state Zoom sends back, and the state this browser holds."""
    page = session.get(f"{base}/connect/zoom/", timeout=10)
    csrf = form_fields(page.text)["csrfmiddlewaretoken"]
    started = session.post(
        f"{base}/connect/zoom/start/",
        data={"csrfmiddlewaretoken": csrf},
        allow_redirects=False,
        timeout=10,
    )
    authorize_url = started.headers["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    consent = session.get(authorize_url, timeout=10)
    fields = form_fields(consent.text)
    fields["decision"] = "allow"
    action = re.search(r'<form[^>]*action="([^"]*)"', consent.text)
    target = urljoin(authorize_url, unescape(action.group(1))) if action else None
    answer = session.post(
        target or authorize_url, data=fields, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text[:500]
    back = {
        k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()
    }
    assert back["state"] == query["state"][0]
    return {"code": back["code"], "state": back["state"]}


def test_code_without_its_verifier_is_refused(sandbox_env, django_user_model):
    host = django_user_model.objects.create_user(
        "pkce-host", "p@example.test", PASSWORD, is_staff=True
    )
    session = sign_in(sandbox_env.url, host)
    flow = authorize_without_callback(sandbox_env.url, session)

    exchange = requests.post(
        f"{sandbox_env.url}/sandbox/zoom/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": flow["code"],
            "redirect_uri": f"{sandbox_env.url}/connect/zoom/callback/",
        },
        auth=(
            django_settings.ZOOM_OAUTH_CLIENT_ID,
            django_settings.ZOOM_OAUTH_CLIENT_SECRET,
        ),
        timeout=10,
    )

    assert exchange.status_code == 400
    assert exchange.json()["error"] == "invalid_grant"
    # The attempt used the code up: the rightful callback fails too, safely.
    landed = session.get(
        f"{sandbox_env.url}/connect/zoom/callback/", params=flow, timeout=10
    )
    assert "could not be connected" in landed.text
    assert not ZoomConnection.objects.filter(owner=host).exists()


def test_code_replayed_into_another_browsers_callback_is_refused(
    sandbox_env, django_user_model
):
    victim = django_user_model.objects.create_user(
        "pkce-victim", "v@example.test", PASSWORD, is_staff=True
    )
    attacker = django_user_model.objects.create_user(
        "pkce-attacker", "a@example.test", PASSWORD, is_staff=True
    )
    victim_browser = sign_in(sandbox_env.url, victim)
    attacker_browser = sign_in(sandbox_env.url, attacker)
    stolen = authorize_without_callback(sandbox_env.url, victim_browser)
    # The attacker starts a flow of their own, so they hold a valid state...
    own = authorize_without_callback(sandbox_env.url, attacker_browser)

    # ...and puts the victim's code in their callback, with their own state.
    landed = attacker_browser.get(
        f"{sandbox_env.url}/connect/zoom/callback/",
        params={"code": stolen["code"], "state": own["state"]},
        timeout=10,
    )

    assert "could not be connected" in landed.text
    assert not ZoomConnection.objects.filter(owner=attacker).exists()
    # The state from the victim's browser is no good in the attacker's either.
    again = attacker_browser.get(
        f"{sandbox_env.url}/connect/zoom/callback/", params=stolen, timeout=10
    )
    assert "sign-in expired" in again.text
    assert not ZoomConnection.objects.filter(owner__in=[victim, attacker]).exists()
