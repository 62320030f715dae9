"""Admin for the sandbox's records. Secrets (client secrets, webhook tokens,
API keys, issued tokens) are never shown."""

from __future__ import annotations

from django.contrib import admin

from . import models as sb

SECRET_FIELDS = (
    "client_secret",
    "webhook_secret_token",
    "verification_token",
    "api_key",
)


class NoSecretsAdmin(admin.ModelAdmin):
    def get_exclude(self, request, obj=None):
        names = {f.name for f in self.model._meta.fields}
        return [n for n in SECRET_FIELDS if n in names]


@admin.register(sb.SandboxConfig)
class SandboxConfigAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "rate_limits",
        "zoom_error_rate",
        "brevo_error_rate",
        "token_ttl_seconds",
        "updated_at",
    )

    def has_add_permission(self, request):
        return not sb.SandboxConfig.objects.exists()


@admin.register(sb.CallLog)
class CallLogAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "api",
        "method",
        "path",
        "endpoint",
        "category",
        "status",
        "outcome",
        "duration_ms",
    )
    list_filter = ("api", "status", "outcome", "category")
    search_fields = ("path", "endpoint")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(sb.ZoomAccount)
class ZoomAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "account_id", "plan", "created_at")


@admin.register(sb.ZoomApp)
class ZoomAppAdmin(NoSecretsAdmin):
    list_display = ("name", "kind", "client_id", "account", "enabled")
    list_filter = ("kind", "enabled")


@admin.register(sb.ZoomUser)
class ZoomUserAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "user_id", "account", "status")


class OccurrenceInline(admin.TabularInline):
    model = sb.Occurrence
    extra = 0


@admin.register(sb.Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("topic", "kind", "meeting_id", "start_time", "host")
    list_filter = ("kind",)
    search_fields = ("topic", "meeting_id")
    raw_id_fields = ("host",)
    inlines = [OccurrenceInline]


@admin.register(sb.Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "email",
        "user_id",
        "registrant_id",
        "join_time",
        "leave_time",
        "occurrence",
    )
    search_fields = ("name", "email")
    raw_id_fields = ("occurrence",)
    list_select_related = ("occurrence",)


@admin.register(sb.Registrant)
class RegistrantAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "first_name",
        "last_name",
        "status",
        "source_name",
        "meeting",
    )
    list_filter = ("status",)
    search_fields = ("email",)
    raw_id_fields = ("meeting",)


@admin.register(sb.IssuedToken)
class IssuedTokenAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "hint",
        "app",
        "user",
        "expires_at",
        "revoked_at",
        "revoked_reason",
    )
    list_filter = ("kind", "revoked_reason")
    exclude = ("token_sha256",)
    readonly_fields = (
        "kind",
        "hint",
        "app",
        "account",
        "user",
        "scope",
        "grant",
        "expires_at",
        "created_at",
    )


@admin.register(sb.WebhookSend)
class WebhookSendAdmin(admin.ModelAdmin):
    list_display = (
        "playback",
        "seq",
        "event",
        "attempts",
        "last_status",
        "delivered",
        "gave_up",
    )
    list_filter = ("event", "delivered", "gave_up")
    search_fields = ("playback", "request_id")


@admin.register(sb.BrevoAccount)
class BrevoAccountAdmin(NoSecretsAdmin):
    list_display = ("name", "email", "company", "created_at")


@admin.register(sb.ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ("list_id", "name", "account")


@admin.register(sb.Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "type", "account")


@admin.register(sb.Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("email", "modified_at", "account")
    search_fields = ("email",)
    filter_horizontal = ("lists",)


@admin.register(sb.Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("event_name", "created_at", "contact")
    list_filter = ("event_name",)
    raw_id_fields = ("contact",)


@admin.register(sb.SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    list_display = ("message_id", "subject", "template_id", "created_at")
    raw_id_fields = ("campaign",)


@admin.register(sb.Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "recipients", "sent_at")


@admin.register(sb.ImportProcess)
class ImportProcessAdmin(admin.ModelAdmin):
    list_display = ("pk", "status", "created_at", "completed_at")
    exclude = ("payload",)
