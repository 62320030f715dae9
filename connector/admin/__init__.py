"""Admin as an operator console. One module per area."""

from . import config, connections, deliveries, meetings, runs  # noqa: F401
