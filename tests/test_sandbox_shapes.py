"""What the sandbox sends and answers has the shape of the reference payloads in
tests/fixtures/sandbox/ (each file names its source): every field the reference
shows is there, with the same JSON type."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from sandbox.playback import Options, play

from .conftest import load_fixture

pytestmark = pytest.mark.e2e


def same_shape(reference, ours, path: str = "") -> list[str]:
    """Differences: fields missing from ``ours`` or of another JSON type."""
    if reference is None:
        return []
    if isinstance(reference, dict):
        if not isinstance(ours, dict):
            return [f"{path or '.'}: expected an object"]
        problems = []
        for key, value in reference.items():
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += same_shape(value, ours[key], f"{path}.{key}")
        return problems
    if isinstance(reference, list):
        if not isinstance(ours, list):
            return [f"{path}: expected a list"]
        if reference and ours:
            return same_shape(reference[0], ours[0], f"{path}[0]")
        return []
    kind = (bool, int, float, str)
    expected = next(t for t in kind if isinstance(reference, t))
    if expected is int and isinstance(ours, bool):
        return [f"{path}: expected a number"]
    if not isinstance(ours, expected) or (
        expected is not bool and isinstance(ours, bool)
    ):
        return [f"{path}: expected {expected.__name__}, got {type(ours).__name__}"]
    return []


@pytest.fixture
def captured(sandbox_env):
    events: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            events.append(
                json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_port}/hook"
    play(Options(kind="webinar", attendees=12, target=target))
    play(Options(kind="meeting", attendees=3, target=target))
    by_name: dict[str, list[dict]] = {}
    for event in events:
        by_name.setdefault(event["event"], []).append(event)
    yield by_name
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "name",
    [
        "webinar.participant_joined",
        "webinar.ended",
        "meeting.started",
        "webinar.registration_created",
    ],
)
def test_webhook_shapes(captured, name):
    reference = load_fixture(f"sandbox/{name}.json")
    # registrant_id is optional: only registered attendees carry it, as at Zoom.
    candidates = [
        e
        for e in captured[name]
        if "registrant_id"
        in e["payload"]["object"].get("participant", {"registrant_id": 1})
    ]
    assert candidates
    assert same_shape(reference, candidates[0]) == []


def test_token_shape(sandbox_env):
    app = sandbox_env.zoom_app
    answer = requests.post(
        f"{sandbox_env.zoom_oauth}/oauth/token",
        params={
            "grant_type": "account_credentials",
            "account_id": app.account.account_id,
        },
        auth=(app.client_id, app.client_secret),
        timeout=10,
    ).json()
    assert same_shape(load_fixture("sandbox/s2s_token.json"), answer) == []


def test_brevo_contact_and_process_shapes(sandbox_env):
    headers = {"api-key": sandbox_env.brevo_account.api_key}
    base = sandbox_env.brevo_api
    requests.post(
        f"{sandbox_env.url}/sandbox/api/config",
        json={"brevo_import_seconds": 0.1},
        timeout=10,
    )
    started = requests.post(
        f"{base}/contacts/import",
        json={"jsonBody": [{"email": "peggy@example.com"}], "listIds": [15]},
        headers=headers,
        timeout=10,
    ).json()
    time.sleep(0.3)
    process = requests.get(
        f"{base}/processes/{started['processId']}", headers=headers, timeout=10
    ).json()
    assert same_shape(load_fixture("sandbox/brevo_process.json"), process) == []
    contact = requests.get(
        f"{base}/contacts/peggy@example.com", headers=headers, timeout=10
    ).json()
    reference = load_fixture("sandbox/brevo_contact.json")
    # Attribute names and statistics depend on the account's history.
    reference["attributes"] = {}
    reference["statistics"] = {}
    assert same_shape(reference, contact) == []


def test_same_shape_finds_differences():
    assert same_shape({"a": 1, "b": {"c": "x"}}, {"a": "1", "b": {}}) == [
        ".a: expected int, got str",
        ".b.c: missing",
    ]
