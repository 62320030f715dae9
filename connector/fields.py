"""Model fields whose values are encrypted in the database."""

from __future__ import annotations

from typing import Any

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """A text field stored as a Fernet token; Python code sees the plaintext.

    The column never holds the plaintext. Lookups other than ``exact=""`` make no
    sense on it, since every encryption of the same value differs.
    """

    description = "Text encrypted at rest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return crypto.encrypt(str(value))

    def formfield(self, **kwargs):
        from .forms import SecretFormField

        return SecretFormField(required=not self.blank, label=self.verbose_name)

    def save_form_data(self, instance, data):
        from .forms import CLEAR

        if data is CLEAR:
            setattr(instance, self.name, "")
        elif data:
            setattr(instance, self.name, data)
        # Empty input keeps the stored secret.
