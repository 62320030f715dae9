"""Settings for benchmarks/webhooks.py: the portal's own, plus a bare view to
compare against. Never used outside the benchmark."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.webhook_urls"
