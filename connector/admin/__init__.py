"""Admin as an operator console. One module per area."""

from django.contrib import admin as _admin

from . import config, connections, deliveries, meetings, runs  # noqa: F401

_admin.site.site_header = "Zoom → Brevo portal"
_admin.site.site_title = "Zoom → Brevo portal"
_admin.site.index_title = "Operator console"
