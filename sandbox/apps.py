from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Sandbox (local Zoom and Brevo)"
    default_auto_field = "django.db.models.BigAutoField"
