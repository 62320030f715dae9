from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    verbose_name = "Zoom → Brevo connector"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, security, signals  # noqa: F401  (registers receivers)
