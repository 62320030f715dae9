"""Settings from the environment: the empty environment runs, production checks
pass, and the sandbox never switches on by accident."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k8Jq3-production-secret-key-that-is-long-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "portal.example.com",
    "FIELD_ENCRYPTION_KEYS": "production-field-key",
}
PROBE = (
    "from django.conf import settings as s; import json; db = s.DATABASES['default'];"
    "print(json.dumps({'engine': db['ENGINE'], 'name': str(db['NAME']),"
    "'broker': s.CELERY_BROKER_URL, 'sandbox': s.SANDBOX, 'debug': s.DEBUG,"
    "'apps': s.INSTALLED_APPS, 'zoom': s.ZOOM_API_BASE_URL,"
    "'brevo': s.BREVO_API_BASE_URL, 'keys': len(s.FIELD_ENCRYPTION_KEYS),"
    "'secret': len(s.SECRET_KEY)}))"
)


def manage(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "PYTHONPATH") or k.startswith("LC_")
    }
    clean["VAR_DIR"] = str(tmp_path / "var")
    clean["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def probe(env: dict[str, str], tmp_path) -> dict:
    result = manage("shell", "-v", "0", "-c", PROBE, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_empty_environment_runs_on_sqlite_and_an_embedded_broker(tmp_path):
    found = probe({}, tmp_path)
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(tmp_path / "var" / "portal.sqlite3")
    assert found["broker"] == "filesystem://"
    assert found["debug"] is True
    assert found["sandbox"] is True
    assert "sandbox" in found["apps"]
    assert "/sandbox/zoom/v2" in found["zoom"]
    assert found["keys"] == 1
    assert found["secret"] > 40
    # The generated development secrets are kept, not regenerated each start.
    assert (tmp_path / "var" / ".secret_key").exists()
    assert probe({}, tmp_path)["secret"] == found["secret"]


def test_postgres_and_redis_from_the_environment(tmp_path):
    found = probe(
        {
            "DATABASE_URL": "postgres://portal@db.internal:5432/portal",
            "CELERY_BROKER_URL": "redis://cache.internal:6379/0",
        },
        tmp_path,
    )
    assert found["engine"] == "django.db.backends.postgresql"
    assert found["name"] == "portal"
    assert found["broker"] == "redis://cache.internal:6379/0"


def test_production_values_pass_check_deploy_without_warnings(tmp_path):
    result = manage("check", "--deploy", env=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    found = probe(PRODUCTION, tmp_path)
    assert found["sandbox"] is False
    assert "sandbox" not in found["apps"]
    assert found["zoom"] == "https://api.zoom.us/v2"
    assert found["brevo"] == "https://api.brevo.com/v3"


def test_production_without_secrets_refuses_to_start(tmp_path):
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    env = {**PRODUCTION}
    del env["FIELD_ENCRYPTION_KEYS"]
    result = manage("check", env=env, tmp_path=tmp_path)
    assert "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off" in result.stderr


def test_sandbox_switched_on_in_production_is_flagged_by_check_deploy(tmp_path):
    result = manage(
        "check", "--deploy", env={**PRODUCTION, "SANDBOX": "true"}, tmp_path=tmp_path
    )
    assert "connector.W001" in result.stderr + result.stdout
