"""Schemathesis over the portal's OpenAPI schema, against the live server.

Every operation of ``/api/schema/`` (the read API and the webhook endpoint)
gets generated requests, valid and invalid ones, over real HTTP as a staff
user with a token. No answer is a 500; every refusal is a 4xx that says why
(a JSON ``detail`` or field errors), and every refused webhook delivery leaves
a ``rejected`` row with its verdict or error.

``SOAK=1`` tries ten times as many examples per operation.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from connector.models import WebhookDelivery

from .test_reliability_faults import record_figures

pytestmark = pytest.mark.e2e

SOAK = os.environ.get("SOAK") == "1"
EXAMPLES = 200 if SOAK else 15


@pytest.fixture
def api(live_server, staff_user, connection):
    staff_user.is_superuser = False
    staff_user.save()
    token = Token.objects.create(user=staff_user)
    headers = {"Authorization": f"Token {token.key}"}
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json", headers=headers, timeout=10
    )
    return schema, headers


def reason_given(answer: requests.Response) -> bool:
    try:
        body = answer.json()
    except ValueError:
        # A path no route matches (an id with "/" or ".") gets Django's 404 page.
        return answer.status_code == 404 and "Not Found" in answer.text
    if isinstance(body, dict):
        return bool(body.get("detail") or any(body.values()))
    return bool(body)


def test_no_operation_answers_500_and_every_refusal_says_why(api, live_server):
    schema, headers = api
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert "POST /webhooks/zoom/{slug}/" in labels
    assert any(label.startswith("GET /api/sync-runs/") for label in labels)
    seen: Counter = Counter()
    session = requests.Session()

    def check_operation(operation, mode) -> None:
        is_webhook = operation.path.startswith("/webhooks/")
        strategy = operation.as_strategy(generation_mode=mode)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case):
            before = WebhookDelivery.objects.count()
            answer = case.call(
                base_url=live_server.url, session=session, headers=headers
            )
            seen[(operation.label, answer.status_code)] += 1
            assert answer.status_code < 500, (
                operation.label,
                case.as_curl_command(),
                answer.text[:500],
            )
            if answer.status_code >= 400:
                assert reason_given(answer), (operation.label, answer.text[:300])
            if is_webhook and answer.status_code >= 400:
                assert answer.status_code in (400, 401, 404, 405, 413)
                row = WebhookDelivery.objects.order_by("-id").first()
                routed = answer.headers.get("Content-Type", "").startswith(
                    "application/json"
                )
                # A slug no route takes (with "/" or "%") never reaches the
                # endpoint: Django's own 404 page, and nothing to record.
                if routed and answer.status_code != 405:
                    assert WebhookDelivery.objects.count() == before + 1
                    assert row.status == WebhookDelivery.Status.REJECTED
                    assert row.error or row.signature_verdict

        check()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            check_operation(operation, mode)

    total = sum(seen.values())
    errors = sum(n for (_, status), n in seen.items() if status >= 500)
    record_figures(
        "schemathesis",
        operations=len(operations),
        inputs=total,
        answers_500=errors,
        answers_4xx=sum(n for (_, s), n in seen.items() if 400 <= s < 500),
        answers_2xx=sum(n for (_, s), n in seen.items() if s < 300),
    )
    assert errors == 0
    assert total >= len(operations) * 2
