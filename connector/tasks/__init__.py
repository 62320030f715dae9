"""Celery tasks. Each takes ids, re-fetches, and is safe to run twice."""

from . import maintenance  # noqa: F401
