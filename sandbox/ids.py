"""Identifiers in the shapes Zoom and Brevo use."""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import uuid


def zoom_id(length: int = 22) -> str:
    """A user, account or registrant id such as ``x1yCzABCDEfg23HiJKl4mN``."""
    return secrets.token_urlsafe(length)[:length]


def meeting_number(rng: random.Random | None = None) -> int:
    """An 11-digit meeting or webinar number."""
    rng = rng or random.SystemRandom()
    return rng.randint(81_000_000_000, 89_999_999_999)


def occurrence_uuid(style: str = "mixed", rng: random.Random | None = None) -> str:
    """A 24-character base64 uuid, as Zoom mints one per occurrence.

    ``style``: ``mixed`` (has ``+``/``/``/``=``), ``slash`` (begins with ``/``),
    ``double`` (contains ``//``), ``plain`` (letters and digits, ``==`` only).
    """
    rng = rng or random.Random(secrets.randbits(64))
    for _ in range(10_000):
        raw = base64.b64encode(rng.randbytes(16)).decode()  # 22 chars + "=="
        if style == "plain" and raw.rstrip("=").isalnum():
            return raw
        has_special = "/" in raw or "+" in raw
        if style == "mixed" and has_special and "//" not in raw and raw[0] != "/":
            return raw
        if style == "slash":
            return "/" + raw[1:]
        if style == "double":
            return raw[:6] + "//" + raw[8:]
    raise ValueError(f"unknown uuid style: {style}")


def participant_uuid() -> str:
    return str(uuid.uuid4()).upper()


def request_id() -> str:
    """``x-zm-request-id``, e.g. ``414ce170_9bb5_8503_b11f_3ed2050ec360``."""
    return str(uuid.uuid4()).replace("-", "_")


def tracking_id() -> str:
    return f"v=2.0;clid=us02;rid=WEB_{secrets.token_hex(16)}"


def brevo_api_key() -> str:
    return f"xkeysib-{secrets.token_hex(32)}-{zoom_id(16)}"


def token() -> str:
    return "eyJzYW5kYm94IjoidG9rZW4ifQ." + secrets.token_urlsafe(48)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def message_id() -> str:
    local = f"{secrets.randbelow(10**12):012d}.{secrets.randbelow(10**7)}"
    return f"<{local}@smtp-relay.mailin.fr>"
