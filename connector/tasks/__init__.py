"""Celery tasks. Each takes ids, re-fetches, and is safe to run twice."""

from . import (
    followups,  # noqa: F401
    maintenance,  # noqa: F401
    sync,  # noqa: F401
    webhooks,  # noqa: F401
)
