"""What `make run` does: bootstrap (admin user, sandbox seed) and runportal
(web + worker + beat, all stopped by Ctrl-C)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from connector.models import BrevoAccount, ZoomConnection

from .conftest import ROOT


@pytest.mark.django_db
def test_bootstrap_creates_the_admin_from_the_environment(monkeypatch):
    monkeypatch.setenv("ADMIN_EMAIL", "owner@example.test")
    monkeypatch.setenv("ADMIN_PASSWORD", "chosen-password-123")
    out = StringIO()
    call_command("bootstrap", stdout=out)
    user = get_user_model().objects.get(username="owner")
    assert user.is_superuser
    assert user.check_password("chosen-password-123")
    assert "chosen-password-123" not in out.getvalue()


@pytest.mark.django_db
def test_bootstrap_prints_a_generated_password_once(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("ADMIN_EMAIL", raising=False)
    out = StringIO()
    call_command("bootstrap", stdout=out)
    line = next(x for x in out.getvalue().splitlines() if "password:" in x)
    password = line.split("password:")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert "password" not in again.getvalue()
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_bootstrap_seeds_the_sandbox_connection_when_none_exists(settings):
    if not settings.SANDBOX:
        pytest.skip("the sandbox app is not installed (SANDBOX=false)")
    call_command("bootstrap", stdout=StringIO())
    conn = ZoomConnection.objects.get(slug="sandbox")
    assert conn.brevo_account is not None
    assert BrevoAccount.objects.count() == 1
    call_command("bootstrap", stdout=StringIO())
    assert ZoomConnection.objects.count() == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_runportal_starts_web_worker_and_beat_and_ctrl_c_stops_all(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="portal.settings")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = _free_port()
    proc = subprocess.Popen(
        [*manage, "runportal", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                    body = r.read()
                    break
            except OSError:
                time.sleep(0.3)
        assert b'"status": "ok"' in body
        children = subprocess.run(
            ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        # runportal itself, the web server, the worker (and its pool) and beat.
        assert len(children) >= 4
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    assert "Stopped web, worker and beat." in output
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True)
    assert left.stdout.strip() == b""
