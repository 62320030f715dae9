"""Settings for the test suite: the same as production code paths, with its own
var/ folder (keys, embedded broker) and a file-backed SQLite test database so
that a real worker process can share it."""

import os
from pathlib import Path

_root = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAR_DIR", str(_root / "var" / "test"))

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# Unit tests run tasks inline; tests with a real worker switch this off.
CELERY_TASK_ALWAYS_EAGER = True
# Tests switch the sandbox's rate limits on where they test them.
SANDBOX_RATE_LIMITS = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
