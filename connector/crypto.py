"""Encryption of secrets at rest.

``FIELD_ENCRYPTION_KEYS`` is a list: the first key encrypts, every key decrypts, so
a key is rotated by putting the new one first and running
``manage.py rotate_encryption_keys``. A key is a Fernet key (44 url-safe base64
characters) or any passphrase, which is stretched to one with SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "enc1:"


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _as_fernet(key: str) -> Fernet:
    raw = key.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return Fernet(raw)
    except (binascii.Error, ValueError):
        pass
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))


@cache
def _multi(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    return MultiFernet([_as_fernet(k) for k in keys])


def _fernet() -> MultiFernet:
    return _multi(tuple(k for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def encrypt(plaintext: str) -> str:
    if plaintext == "":
        return ""
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise DecryptionError("value is not an encrypted token")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as err:
        raise DecryptionError("no configured key decrypts this value") from err


def rotate(stored: str) -> str:
    """Re-encrypt a stored value with the newest key."""
    if not stored:
        return ""
    token = stored[len(PREFIX) :].encode()
    return PREFIX + _fernet().rotate(token).decode()


def mask(value: str) -> str:
    """What an operator sees instead of a secret."""
    if not value:
        return "not set"
    if len(value) < 12:
        return "set"
    return f"set, ends in …{value[-4:]}"
