"""Log records as stable event keys followed by ids.

A call reads ``logger.info("zoom.token.refreshed", extra={"connection_id": 3})`` and
prints ``2026-12-03T16:00:00Z INFO connector.zoom.oauth zoom.token.refreshed
connection_id=3``. Only ids and counts go in ``extra``; never a secret.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else came in through ``extra``.
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

# Keys that must never be printed even if a caller passes them by mistake.
_SECRET_WORDS = ("secret", "token", "password", "api_key", "apikey", "authorization")


# Extras Django's own loggers attach that add nothing to a line.
_NOISE = {"request", "server_time"}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if key in _STANDARD or key.startswith("has_"):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS):
                setattr(record, key, "[redacted]")
        return True


class EventFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        parts = [when, record.levelname, record.name, record.getMessage()]
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or key in _NOISE:
                continue
            if isinstance(value, (str, int, float, bool)) or value is None:
                parts.append(f"{key}={value}")
        line = " ".join(str(p) for p in parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
