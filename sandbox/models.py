"""The sandbox's own state: a local Zoom and a local Brevo, kept in the database.

Nothing here is real: credentials are development values and every person is
generated. The portal reaches these records only over HTTP, through the
``*_BASE_URL`` settings, exactly as it reaches Zoom and Brevo.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.timezone import now


def _env_default(name: str, default):
    return getattr(settings, name, default)


class SandboxConfig(models.Model):
    """Run-time switches (one row). Changed by admin or POST /sandbox/api/config.

    Every behaviour the reference documents mark as unconfirmed is a field here.
    """

    # Rate limits (Zoom Pro plan, Brevo General tier).
    rate_limits = models.BooleanField(default=True)
    zoom_light_per_second = models.PositiveIntegerField(default=30)
    zoom_medium_per_second = models.PositiveIntegerField(default=20)
    zoom_heavy_per_second = models.PositiveIntegerField(default=10)
    # Pro: 30,000 a day shared by Heavy and Resource-intensive.
    zoom_heavy_per_day = models.PositiveIntegerField(default=30000)
    # Unconfirmed in Zoom's docs: an epoch X-RateLimit-Reset on per-second 429s.
    zoom_send_ratelimit_reset = models.BooleanField(default=False)
    brevo_contacts_per_second = models.PositiveIntegerField(default=10)
    brevo_contacts_per_hour = models.PositiveIntegerField(default=36000)
    brevo_events_per_second = models.PositiveIntegerField(default=10)
    brevo_events_per_hour = models.PositiveIntegerField(default=36000)
    brevo_smtp_per_second = models.PositiveIntegerField(default=1000)
    brevo_other_per_hour = models.PositiveIntegerField(default=100)
    # Unconfirmed: which bucket /events/batch falls in ("events" or "other").
    brevo_events_batch_bucket = models.CharField(max_length=10, default="events")
    # Unconfirmed ("there is no Retry-After"): send one on Brevo 429s anyway.
    brevo_send_retry_after = models.BooleanField(default=False)

    # Fault injection, per API: a share of 500s, a delay, or the next N calls fail.
    zoom_error_rate = models.FloatField(default=0.0)
    zoom_delay_ms = models.PositiveIntegerField(default=0)
    zoom_fail_next = models.PositiveIntegerField(default=0)
    brevo_error_rate = models.FloatField(default=0.0)
    brevo_delay_ms = models.PositiveIntegerField(default=0)
    brevo_fail_next = models.PositiveIntegerField(default=0)
    error_status = models.PositiveIntegerField(default=500)

    # Zoom behaviour.
    token_ttl_seconds = models.PositiveIntegerField(default=3599)
    auth_code_ttl_seconds = models.PositiveIntegerField(default=300)
    page_token_ttl_seconds = models.PositiveIntegerField(default=900)
    # Unconfirmed: whether Zoom accepts double-encoded UUIDs that need no encoding.
    accept_double_encoded_plain_uuid = models.BooleanField(default=True)
    check_scopes = models.BooleanField(default=True)
    # Zoom's sample still shows the legacy verification token header.
    send_verification_token = models.BooleanField(default=True)
    webhook_timeout_seconds = models.FloatField(default=3.0)

    # Brevo behaviour (both unconfirmed in Brevo's docs): "ignore" or "reject".
    brevo_unknown_attributes = models.CharField(max_length=10, default="ignore")
    brevo_bad_dates = models.CharField(max_length=10, default="ignore")
    brevo_import_seconds = models.FloatField(default=1.0)
    brevo_idempotency_ttl_seconds = models.PositiveIntegerField(default=1800)
    # Unconfirmed: whether POST /events creates a contact that does not exist.
    brevo_events_create_contacts = models.BooleanField(default=False)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sandbox configuration"
        verbose_name_plural = "sandbox configuration"

    def __str__(self) -> str:
        return "Sandbox configuration"

    @classmethod
    def load(cls) -> SandboxConfig:
        config = cls.objects.filter(pk=1).first()
        if config is None:
            config, _ = cls.objects.get_or_create(
                pk=1,
                defaults={
                    "rate_limits": _env_default("SANDBOX_RATE_LIMITS", True),
                },
            )
        return config


class CallLog(models.Model):
    """One request the sandbox answered (Zoom or Brevo)."""

    api = models.CharField(max_length=10, db_index=True)  # zoom | zoom_oauth | brevo
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    endpoint = models.CharField(max_length=100, db_index=True)
    category = models.CharField(max_length=30, blank=True)
    account = models.CharField(max_length=100, blank=True)
    status = models.PositiveIntegerField(db_index=True)
    outcome = models.CharField(max_length=20, blank=True)  # rate_limited, injected…
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


# --------------------------------------------------------------------- Zoom


class ZoomAccount(models.Model):
    account_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    plan = models.CharField(max_length=20, default="pro")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class ZoomApp(models.Model):
    class Kind(models.TextChoices):
        SERVER_TO_SERVER = "s2s", "Server-to-Server OAuth"
        USER_OAUTH = "user", "User-managed OAuth"

    account = models.ForeignKey(
        ZoomAccount, on_delete=models.CASCADE, related_name="apps"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    client_id = models.CharField(max_length=100, unique=True)
    # Development values only; never shown on a page.
    client_secret = models.CharField(max_length=200)
    webhook_secret_token = models.CharField(max_length=200)
    verification_token = models.CharField(max_length=200, blank=True)
    # One allowed prefix per line, e.g. http://127.0.0.1:
    redirect_uris = models.TextField(blank=True)
    scopes = models.TextField(blank=True, help_text="Space-separated.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def allows_redirect(self, uri: str) -> bool:
        return any(
            uri.startswith(prefix.strip())
            for prefix in self.redirect_uris.splitlines()
            if prefix.strip()
        )


class ZoomUser(models.Model):
    account = models.ForeignKey(
        ZoomAccount, on_delete=models.CASCADE, related_name="users"
    )
    user_id = models.CharField(max_length=40, unique=True)
    email = models.EmailField()
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    type = models.PositiveSmallIntegerField(default=2)
    pmi = models.BigIntegerField()
    timezone = models.CharField(max_length=64, default="Europe/Paris")
    status = models.CharField(max_length=10, default="active")
    role_id = models.CharField(max_length=10, default="0")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email


class Meeting(models.Model):
    """A Zoom meeting or webinar (the number); occurrences hold the uuids."""

    class Kind(models.TextChoices):
        MEETING = "meeting", "Meeting"
        WEBINAR = "webinar", "Webinar"

    account = models.ForeignKey(
        ZoomAccount, on_delete=models.CASCADE, related_name="meetings"
    )
    host = models.ForeignKey(ZoomUser, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    meeting_id = models.BigIntegerField(unique=True)
    type = models.PositiveSmallIntegerField(default=2)
    topic = models.CharField(max_length=300)
    agenda = models.TextField(blank=True)
    start_time = models.DateTimeField()
    duration = models.PositiveIntegerField(default=60, help_text="Scheduled minutes.")
    timezone = models.CharField(max_length=64, default="Europe/Paris")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-start_time", "-id"]

    def __str__(self) -> str:
        return f"{self.topic} ({self.meeting_id})"


class Occurrence(models.Model):
    """One instance of a meeting or webinar, with its own uuid."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="occurrences"
    )
    uuid = models.CharField(max_length=64, unique=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-start_time", "-id"]

    def __str__(self) -> str:
        return self.uuid


class Registrant(models.Model):
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="registrants"
    )
    registrant_id = models.CharField(max_length=40, unique=True)
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, default="approved", db_index=True)
    org = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    source_name = models.CharField(max_length=100, blank=True)
    create_time = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["meeting", "status", "id"])]

    def __str__(self) -> str:
        return self.email


class Participant(models.Model):
    """One join session (a person who rejoins has several rows)."""

    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.CASCADE, related_name="participants"
    )
    user_id = models.CharField(max_length=20)  # in-meeting id, new per join
    participant_user_id = models.CharField(max_length=40, blank=True)
    participant_uuid = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254, blank=True)
    registrant_id = models.CharField(max_length=40, blank=True)
    join_time = models.DateTimeField()
    leave_time = models.DateTimeField()
    internal_user = models.BooleanField(default=False)
    status = models.CharField(max_length=20, default="in_meeting")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["occurrence", "id"])]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self) -> int:
        return int((self.leave_time - self.join_time).total_seconds())


class Recording(models.Model):
    occurrence = models.OneToOneField(
        Occurrence, on_delete=models.CASCADE, related_name="recording"
    )
    share_url = models.URLField(max_length=500)
    password = models.CharField(max_length=40)
    files = models.JSONField(default=list)
    total_size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.share_url


class AuthCode(models.Model):
    code = models.CharField(max_length=80, unique=True)
    app = models.ForeignKey(ZoomApp, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(ZoomUser, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.CharField(max_length=500)
    code_challenge = models.CharField(max_length=200, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)


class IssuedToken(models.Model):
    """An access or refresh token; only its SHA-256 is stored."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Access"
        REFRESH = "refresh", "Refresh"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    token_sha256 = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="First characters, for display.")
    app = models.ForeignKey(ZoomApp, on_delete=models.CASCADE, related_name="tokens")
    account = models.ForeignKey(ZoomAccount, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        ZoomUser, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    scope = models.TextField(blank=True)
    # All tokens from one authorization share a grant id (revoke ends them all).
    grant = models.CharField(max_length=40, db_index=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.hint}…"


class WebhookSend(models.Model):
    """One webhook the playback sent (with its retries) to the portal."""

    playback = models.CharField(max_length=40, db_index=True)
    seq = models.PositiveIntegerField(default=0)
    event = models.CharField(max_length=60)
    target = models.CharField(max_length=500)
    request_id = models.CharField(max_length=60)
    body = models.TextField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered = models.BooleanField(default=False)
    gave_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["playback", "seq"]

    def __str__(self) -> str:
        return f"{self.event} #{self.seq}"


# -------------------------------------------------------------------- Brevo


class BrevoAccount(models.Model):
    """A sandbox Brevo account (not the portal's record of the same name)."""

    name = models.CharField(max_length=100)
    email = models.EmailField()
    company = models.CharField(max_length=100, blank=True)
    # Development values only; never shown on a page.
    api_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Brevo account (sandbox)"

    def __str__(self) -> str:
        return self.name


class Folder(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="folders"
    )
    name = models.CharField(max_length=100)


class ContactList(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="lists"
    )
    list_id = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    folder_id = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["list_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "list_id"], name="sandbox_list_id_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.list_id}: {self.name}"


class Attribute(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="attributes"
    )
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=20, default="normal")
    type = models.CharField(max_length=20, default="text")
    enumeration = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"], name="sandbox_attribute_per_account"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="contacts"
    )
    email = models.CharField(max_length=254, blank=True)  # stored lower-case
    ext_id = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    lists = models.ManyToManyField(ContactList, blank=True, related_name="contacts")
    email_blacklisted = models.BooleanField(default=False)
    sms_blacklisted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)
    modified_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-modified_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=~models.Q(email=""),
                name="sandbox_contact_email_per_account",
            )
        ]

    def __str__(self) -> str:
        return self.email or f"contact {self.pk}"


class ImportProcess(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="processes"
    )
    name = models.CharField(max_length=30, default="IMPORTUSER")
    status = models.CharField(max_length=20, default="queued")
    payload = models.JSONField(default=dict)
    notify_url = models.CharField(max_length=500, blank=True)
    info = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"process {self.pk} ({self.status})"


class Event(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="events"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    event_name = models.CharField(max_length=255, db_index=True)
    event_date = models.CharField(max_length=40, blank=True)
    identifiers = models.JSONField(default=dict)
    contact_properties = models.JSONField(default=dict, blank=True)
    event_properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.event_name


class Campaign(models.Model):
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="campaigns"
    )
    name = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, blank=True)
    sender = models.JSONField(default=dict)
    template_id = models.PositiveIntegerField(null=True, blank=True)
    html_content = models.TextField(blank=True)
    list_ids = models.JSONField(default=list)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, default="draft")
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class SentEmail(models.Model):
    """An email the sandbox "sent" (transactional, or one campaign recipient)."""

    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="emails"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message_id = models.CharField(max_length=120)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=255, blank=True)
    template_id = models.PositiveIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.message_id
