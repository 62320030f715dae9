"""Form pieces that keep secrets out of pages."""

from __future__ import annotations

from django import forms
from django.utils.html import format_html

from . import crypto

CLEAR = object()


class SecretInput(forms.PasswordInput):
    """A password box that never renders the stored value.

    It shows the mask ("set, ends in …4f2a") as a placeholder, keeps the stored
    value when left empty, and offers a "clear" box to remove it.
    """

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})})

    def get_context(self, name, value, attrs):
        attrs = {**(attrs or {}), "placeholder": crypto.mask(value or "")}
        return super().get_context(name, None, attrs)

    def render(self, name, value, attrs=None, renderer=None):
        box = super().render(name, value, attrs, renderer)
        if not value:
            return box
        return format_html(
            '{} <label style="display:inline"><input type="checkbox" name="{}__clear">'
            " clear</label>",
            box,
            name,
        )

    def value_from_datadict(self, data, files, name):
        if data.get(f"{name}__clear"):
            return CLEAR
        return super().value_from_datadict(data, files, name)


class SecretFormField(forms.CharField):
    widget = SecretInput

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Leave empty to keep the stored value.")
        kwargs["required"] = False
        kwargs.pop("max_length", None)
        super().__init__(strip=True, **kwargs)

    def to_python(self, value):
        if value is CLEAR:
            return CLEAR
        return super().to_python(value)

    def validate(self, value):
        if value is CLEAR:
            return
        super().validate(value)

    def run_validators(self, value):
        if value is CLEAR:
            return
        super().run_validators(value)

    def has_changed(self, initial, data):
        return data is CLEAR or bool(data)
