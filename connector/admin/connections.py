from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from .. import crypto
from ..models import BrevoAccount, ConnectionEvent, ZoomConnection

SECRET_FIELDS = (
    "client_secret",
    "webhook_secret_token",
    "previous_webhook_secret_token",
    "verification_token",
    "refresh_token",
    "access_token",
)
CREDENTIAL_FIELDS = (
    "account_id",
    "client_id",
    "client_secret",
    "webhook_secret_token",
    "previous_webhook_secret_token",
    "previous_secret_valid_until",
    "verification_token",
    "allow_verification_token",
)


def can_manage_credentials(request) -> bool:
    return request.user.has_perm("connector.manage_credentials")


@admin.register(ZoomConnection)
class ZoomConnectionAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "auth_type",
        "status",
        "enabled",
        "owner",
        "brevo_account",
        "token_state",
    )
    list_filter = ("auth_type", "status", "enabled", "brevo_account")
    search_fields = ("name", "slug", "zoom_user_email", "zoom_user_id", "account_id")
    actions = ["test_connection", "backfill_last_30_days"]
    prepopulated_fields = {"slug": ("name",)}
    raw_id_fields = ("owner",)
    readonly_fields = (
        "status",
        "status_reason",
        "token_state",
        "access_token_expires_at",
        "granted_scopes",
        "zoom_user_id",
        "zoom_user_email",
        "created_at",
        "updated_at",
    )

    def get_fieldsets(self, request, obj=None):
        general = (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "auth_type",
                    "enabled",
                    "brevo_account",
                    "status",
                    "status_reason",
                )
            },
        )
        credentials = (
            "Credentials",
            {"fields": CREDENTIAL_FIELDS},
        )
        user = (
            "Connected Zoom user",
            {"fields": ("owner", "zoom_user_id", "zoom_user_email")},
        )
        tokens = (
            "Token",
            {"fields": ("token_state", "access_token_expires_at", "granted_scopes")},
        )
        sync = (
            "Sync",
            {
                "fields": (
                    "sync_participants",
                    "sync_webinars",
                    "sync_recordings",
                    "sync_delay_seconds",
                    ("rate_limit_light", "rate_limit_medium", "rate_limit_heavy"),
                )
            },
        )
        engagement = (
            "Engagement score",
            {
                "fields": (
                    "engagement_attendance_weight",
                    "engagement_punctuality_weight",
                    "engaged_min_score",
                )
            },
        )
        debug = ("Debugging", {"fields": ("debug", "log_level", "log_webhooks")})
        sets = [general]
        if can_manage_credentials(request):
            sets.append(credentials)
        sets += [user, tokens, sync, engagement, debug]
        return sets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not can_manage_credentials(request):
            fields.append("owner")
        return fields

    @admin.display(description="Token")
    def token_state(self, obj: ZoomConnection) -> str:
        if obj.is_user_oauth:
            return f"refresh token {crypto.mask(obj.refresh_token)}"
        return f"access token {crypto.mask(obj.access_token)}"

    def has_change_permission(self, request, obj=None) -> bool:
        return can_manage_credentials(request) and super().has_change_permission(
            request, obj
        )

    def has_add_permission(self, request) -> bool:
        return can_manage_credentials(request) and super().has_add_permission(request)

    def save_model(self, request, obj, form, change) -> None:
        """A new webhook secret token is a rotation: the one it replaces keeps
        verifying deliveries for ``WEBHOOK_SECRET_ROTATION_HOURS``, so those
        Zoom signed (or retries) with it while the app changes are not refused.
        An admin who sets the previous secret by hand keeps that choice."""
        rotated = (
            change
            and "webhook_secret_token" in form.changed_data
            and "previous_webhook_secret_token" not in form.changed_data
        )
        if rotated:
            old = ZoomConnection.objects.get(pk=obj.pk).webhook_secret_token
            if old and old != obj.webhook_secret_token:
                window = timedelta(hours=settings.WEBHOOK_SECRET_ROTATION_HOURS)
                obj.previous_webhook_secret_token = old
                obj.previous_secret_valid_until = timezone.now() + window
            else:
                rotated = False
        super().save_model(request, obj, form, change)
        if rotated:
            ConnectionEvent.record(
                obj,
                ConnectionEvent.Kind.SECRET_ROTATED,
                f"Webhook secret token replaced; the previous one is accepted until "
                f"{obj.previous_secret_valid_until:%Y-%m-%d %H:%M} UTC.",
                actor=request.user,
            )

    # One small Zoom call per selected connection, answered on the page: an
    # operator waits for this result, so it is not queued.
    @admin.action(description="Test connection", permissions=["view"])
    def test_connection(self, request, queryset) -> None:
        from ..zoom.scopes import check_connection

        for connection in queryset:
            result = check_connection(connection)
            if result.error:
                self.message_user(
                    request,
                    f"{connection}: the test failed: {result.error}",
                    messages.ERROR,
                )
                continue
            granted = ", ".join(result.granted) or "none reported"
            text = f"{connection}: Zoom answered (user {result.user or '?'}). "
            text += f"Granted scopes: {granted}. "
            if result.missing:
                text += "Missing for the enabled sync options: add the scope"
                text += "s " if len(result.missing) > 1 else " "
                text += ", ".join(result.missing) + " to the Zoom app."
                self.message_user(request, text, messages.WARNING)
            else:
                text += "All scopes the enabled sync options need are present."
                self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Backfill last 30 days", permissions=["run_sync"])
    def backfill_last_30_days(self, request, queryset) -> None:
        """Queue a backfill per connection; the worker lists and syncs each run."""
        from ..tasks.sync import backfill_task

        until = timezone.now().date()
        since = until - timedelta(days=30)
        names = []
        for connection in queryset.filter(enabled=True):
            backfill_task.delay_on_commit(
                connection.pk, since.isoformat(), until.isoformat(), request.user.pk
            )
            names.append(connection.name)
        if not names:
            self.message_user(
                request, "No enabled connection selected.", messages.WARNING
            )
            return
        self.message_user(
            request,
            ngettext(
                "Queued a backfill of %(since)s to %(until)s for %(names)s: its "
                "meetings and webinars appear as sync runs as they are found.",
                "Queued backfills of %(since)s to %(until)s for %(names)s: their "
                "meetings and webinars appear as sync runs as they are found.",
                len(names),
            )
            % {"since": since, "until": until, "names": ", ".join(names)},
            messages.SUCCESS,
        )

    def has_run_sync_permission(self, request) -> bool:
        return request.user.has_perm("connector.run_sync")


@admin.register(BrevoAccount)
class BrevoAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "sender_email", "key_state", "updated_at")
    list_filter = ("updated_at",)
    search_fields = ("name", "sender_email")
    readonly_fields = ("known_attributes", "created_at", "updated_at")
    fields = (
        "name",
        "api_key",
        "sender_email",
        "sender_name",
        "known_attributes",
        "created_at",
        "updated_at",
    )

    @admin.display(description="API key")
    def key_state(self, obj: BrevoAccount) -> str:
        return crypto.mask(obj.api_key)

    def has_module_permission(self, request) -> bool:
        return can_manage_credentials(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_manage_credentials(request) and super().has_view_permission(
            request, obj
        )


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "connection_name", "kind", "actor", "short_detail")
    list_filter = ("kind", "connection")
    search_fields = ("connection_name", "detail")
    readonly_fields = [f.name for f in ConnectionEvent._meta.fields]
    date_hierarchy = "created_at"

    @admin.display(description="Detail")
    def short_detail(self, obj: ConnectionEvent) -> str:
        return format_html("{}", obj.detail[:120])

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
