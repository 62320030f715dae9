"""The connector's records: configuration, what Zoom told us, and what we did."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from .fields import EncryptedTextField


class BrevoAccount(models.Model):
    name = models.CharField(max_length=100, unique=True)
    api_key = EncryptedTextField(help_text="Brevo API v3 key (xkeysib-…).")
    sender_email = models.EmailField(
        blank=True, help_text="Sender of notification mail (recording links)."
    )
    sender_name = models.CharField(max_length=70, blank=True)
    # Brevo contact attributes known to exist, cached after the first read:
    # {"MEETING_DURATION": "float", ...}. Cleared to force a re-read.
    known_attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ZoomConnection(models.Model):
    class AuthType(models.TextChoices):
        SERVER_TO_SERVER = "server_to_server", "Server-to-Server OAuth"
        USER_OAUTH = "user_oauth", "User OAuth (Connect Zoom)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        REVOKED = "revoked", "Revoked"
        ERROR = "error", "Error"

    class LogLevel(models.TextChoices):
        DEBUG = "debug", "Debug"
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    auth_type = models.CharField(
        max_length=20, choices=AuthType.choices, default=AuthType.SERVER_TO_SERVER
    )
    enabled = models.BooleanField(default=True)

    # Server-to-Server app credentials. A user OAuth connection uses the
    # portal's OAuth app (settings.ZOOM_OAUTH_*) and leaves these empty.
    account_id = models.CharField(max_length=100, blank=True)
    client_id = models.CharField(max_length=100, blank=True)
    client_secret = EncryptedTextField()
    webhook_secret_token = EncryptedTextField(
        help_text="The app's webhook Secret Token, used to verify x-zm-signature."
    )
    previous_webhook_secret_token = EncryptedTextField(
        help_text="Still accepted until the rotation window below ends."
    )
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    verification_token = EncryptedTextField(
        help_text="Legacy verification token (deprecated by Zoom)."
    )
    allow_verification_token = models.BooleanField(
        default=False,
        help_text="Accept deliveries that carry only the legacy verification token.",
    )

    # User OAuth ("Connect Zoom").
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="zoom_connections",
    )
    zoom_user_id = models.CharField(max_length=100, blank=True, db_index=True)
    zoom_user_email = models.EmailField(blank=True)
    refresh_token = EncryptedTextField()

    # Cached access token, for both kinds.
    access_token = EncryptedTextField()
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    granted_scopes = models.TextField(blank=True, help_text="Space-separated.")

    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    status_reason = models.TextField(blank=True)
    brevo_account = models.ForeignKey(
        BrevoAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connections",
    )

    # What to sync.
    sync_participants = models.BooleanField(default=True)
    sync_webinars = models.BooleanField(default=True)
    sync_recordings = models.BooleanField(default=True)
    sync_delay_seconds = models.PositiveIntegerField(
        default=300,
        help_text="Wait this long after meeting.ended before pulling participants.",
    )

    # Zoom rate limits per second for the account's plan (Pro by default).
    rate_limit_light = models.PositiveIntegerField(default=30)
    rate_limit_medium = models.PositiveIntegerField(default=20)
    rate_limit_heavy = models.PositiveIntegerField(default=10)

    # Engagement score: weights of attendance percent and punctuality (0-100).
    engagement_attendance_weight = models.PositiveIntegerField(default=70)
    engagement_punctuality_weight = models.PositiveIntegerField(default=30)
    engaged_min_score = models.PositiveIntegerField(
        default=50, help_text="Score from which an attendee counts as engaged."
    )

    debug = models.BooleanField(default=False)
    log_level = models.CharField(
        max_length=10, choices=LogLevel.choices, default=LogLevel.INFO
    )
    log_webhooks = models.BooleanField(
        default=False, help_text="Log full webhook bodies (may contain personal data)."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_credentials", "Can see and change connection credentials"),
            ("run_sync", "Can start syncs, resyncs and backfills"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "zoom_user_id"],
                condition=models.Q(auth_type="user_oauth"),
                name="one_connection_per_owner_and_zoom_user",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_user_oauth(self) -> bool:
        return self.auth_type == self.AuthType.USER_OAUTH

    def webhook_secrets(self) -> list[str]:
        """Secrets that verify a delivery now: current, then previous in its window."""
        found = [self.webhook_secret_token] if self.webhook_secret_token else []
        if (
            self.previous_webhook_secret_token
            and self.previous_secret_valid_until
            and self.previous_secret_valid_until > timezone.now()
        ):
            found.append(self.previous_webhook_secret_token)
        return found

    def rotate_webhook_secret(self, new_secret: str, window: timedelta) -> None:
        self.previous_webhook_secret_token = self.webhook_secret_token
        self.previous_secret_valid_until = timezone.now() + window
        self.webhook_secret_token = new_secret


class ZoomField(models.TextChoices):
    EMAIL = "email", "Email"
    NAME = "name", "Name"
    FIRST_NAME = "first_name", "First name"
    LAST_NAME = "last_name", "Last name"
    JOIN_TIME = "join_time", "First join time"
    LEAVE_TIME = "leave_time", "Last leave time"
    DURATION = "duration", "Time attended"
    ATTENDANCE_PERCENT = "attendance_percent", "Attendance percent"
    SESSIONS = "sessions", "Number of join sessions"
    MINUTES_LATE = "minutes_late", "Minutes late"
    WEBINAR_TITLE = "webinar_title", "Webinar title"
    MEETING_TOPIC = "meeting_topic", "Meeting topic"
    MEETING_ID = "meeting_id", "Meeting or webinar id"
    MEETING_DATE = "meeting_date", "Meeting date"
    ATTENDANCE_STATUS = "attendance_status", "Attendance status"
    REGISTRATION_SOURCE = "registration_source", "Registration source"
    REGISTRATION_TIME = "registration_time", "Registration time"
    ORGANIZATION = "org", "Organization"
    JOB_TITLE = "job_title", "Job title"
    COUNTRY = "country", "Country"
    PHONE = "phone", "Phone"
    ENGAGEMENT_SCORE = "engagement_score", "Engagement score"
    EVENTS_ATTENDED = "events_attended", "Events attended (all time)"
    TOTAL_MINUTES = "total_minutes", "Minutes attended (all time)"
    LAST_ATTENDED = "last_attended", "Last attended (all time)"
    RECORDING_URL = "recording_url", "Recording link"


class FieldMapping(models.Model):
    class Transform(models.TextChoices):
        NONE = "none", "As is"
        DATE = "date", "Date (YYYY-MM-DD)"
        MINUTES = "minutes", "Seconds → minutes"
        SECONDS = "seconds", "Seconds"
        FIRST_NAME = "first_name", "Split name: first part"
        LAST_NAME = "last_name", "Split name: last part"
        UPPER = "upper", "Upper case"
        LOWER = "lower", "Lower case"

    connection = models.ForeignKey(
        ZoomConnection, on_delete=models.CASCADE, related_name="field_mappings"
    )
    zoom_field = models.CharField(max_length=40, choices=ZoomField.choices)
    brevo_attribute = models.CharField(
        max_length=100, help_text='Brevo attribute name, e.g. FIRSTNAME, or "email".'
    )
    transform = models.CharField(
        max_length=20, choices=Transform.choices, default=Transform.NONE
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["connection", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "brevo_attribute"],
                name="one_mapping_per_brevo_attribute",
            )
        ]

    def __str__(self) -> str:
        return f"{self.zoom_field} → {self.brevo_attribute}"


class Audience(models.TextChoices):
    MEETING_PARTICIPANTS = "meeting_participants", "Meeting participants"
    WEBINAR_ATTENDEES = "webinar_attendees", "Webinar attendees"
    WEBINAR_REGISTRANTS = "webinar_registrants", "Webinar registrants"
    WEBINAR_NO_SHOWS = "webinar_no_shows", "Webinar no-shows"


class ListAssignment(models.Model):
    connection = models.ForeignKey(
        ZoomConnection, on_delete=models.CASCADE, related_name="list_assignments"
    )
    audience = models.CharField(max_length=30, choices=Audience.choices)
    list_id = models.PositiveIntegerField(help_text="Brevo list id.")
    topic_filter = models.CharField(
        max_length=200,
        blank=True,
        help_text="Only meetings whose topic contains this text (case-insensitive).",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["connection", "audience", "list_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "audience", "list_id", "topic_filter"],
                name="unique_list_assignment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_audience_display()} → list {self.list_id}"

    def applies_to(self, topic: str) -> bool:
        return not self.topic_filter or self.topic_filter.lower() in topic.lower()


class FollowUpRule(models.Model):
    class Trigger(models.TextChoices):
        ATTENDED = "attended", "Attended"
        NO_SHOW = "no_show", "No-show"
        REGISTERED = "registered", "Registered"
        RECORDING_READY = "recording_ready", "Recording ready"
        MEETING_ENDED = "meeting_ended", "Meeting ended"

    class Action(models.TextChoices):
        BREVO_EVENT = "brevo_event", "Send a Brevo event"
        ADD_TO_LIST = "add_to_list", "Add to a Brevo list"
        TRANSACTIONAL_TEMPLATE = "transactional_template", "Send a template email"
        CAMPAIGN = "campaign", "Send a campaign to a list"

    connection = models.ForeignKey(
        ZoomConnection, on_delete=models.CASCADE, related_name="follow_up_rules"
    )
    name = models.CharField(max_length=100)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    kind = models.CharField(
        max_length=10,
        blank=True,
        choices=[("meeting", "Meetings"), ("webinar", "Webinars")],
        help_text="Empty for both.",
    )
    min_minutes = models.PositiveIntegerField(null=True, blank=True)
    min_percent = models.PositiveIntegerField(null=True, blank=True)
    include_no_shows = models.BooleanField(
        default=False,
        help_text="Recording ready: also notify registrants who missed it.",
    )
    action = models.CharField(max_length=30, choices=Action.choices)
    event_name = models.CharField(max_length=255, blank=True)
    list_id = models.PositiveIntegerField(null=True, blank=True)
    template_id = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connection", "trigger", "id"]

    def __str__(self) -> str:
        return self.name


class ZoomMeeting(models.Model):
    """One occurrence of a meeting or webinar (Zoom gives each its own uuid)."""

    class Kind(models.TextChoices):
        MEETING = "meeting", "Meeting"
        WEBINAR = "webinar", "Webinar"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        STARTED = "started", "Started"
        ENDED = "ended", "Ended"
        SYNCED = "synced", "Synced"

    connection = models.ForeignKey(
        ZoomConnection, on_delete=models.CASCADE, related_name="meetings"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    zoom_id = models.CharField(max_length=20, db_index=True)
    uuid = models.CharField(max_length=64)
    topic = models.CharField(max_length=300, blank=True)
    host_id = models.CharField(max_length=100, blank=True)
    host_email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    scheduled_minutes = models.PositiveIntegerField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.SCHEDULED, db_index=True
    )
    join_url = models.URLField(max_length=500, blank=True)
    recording_share_url = models.URLField(max_length=500, blank=True)
    recording_passcode = EncryptedTextField()
    recording_ready_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_time", "-id"]
        permissions = [("resync_meeting", "Can resync participants")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "uuid"], name="unique_occurrence_per_connection"
            )
        ]
        indexes = [models.Index(fields=["connection", "kind", "start_time"])]

    def __str__(self) -> str:
        when = self.start_time.date().isoformat() if self.start_time else "?"
        return f"{self.topic or self.zoom_id} ({when})"

    @property
    def length_seconds(self) -> int | None:
        if self.start_time and self.end_time and self.end_time > self.start_time:
            return int((self.end_time - self.start_time).total_seconds())
        if self.scheduled_minutes:
            return self.scheduled_minutes * 60
        return None


class Attendance(models.Model):
    """One person at one occurrence, all their join sessions merged."""

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        ATTENDED = "attended", "Attended"
        NO_SHOW = "no_show", "No-show"

    meeting = models.ForeignKey(
        ZoomMeeting, on_delete=models.CASCADE, related_name="attendances"
    )
    # The lower-cased email, or "guest:<zoom participant id or name>" for guests.
    person_key = models.CharField(max_length=320)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    name = models.CharField(max_length=300, blank=True)
    registrant_id = models.CharField(max_length=100, blank=True)
    registration_source = models.CharField(max_length=200, blank=True)
    first_join = models.DateTimeField(null=True, blank=True)
    last_leave = models.DateTimeField(null=True, blank=True)
    total_seconds = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    attendance_percent = models.FloatField(default=0)
    minutes_late = models.FloatField(default=0)
    score = models.FloatField(default=0)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.REGISTERED
    )
    # Live sessions from participant_joined/left webhooks, keyed by Zoom's
    # per-join user id: {"16778240": {"join": iso, "leave": iso|None}}.
    live_sessions = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["meeting", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "person_key"], name="one_attendance_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email or self.name} at {self.meeting_id}"

    @property
    def rejoins(self) -> int:
        return max(self.sessions - 1, 0)


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        DUPLICATE = "duplicate", "Duplicate"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    class Verdict(models.TextChoices):
        VALID = "valid", "Valid signature"
        VALID_PREVIOUS = "valid_previous", "Valid (previous secret)"
        LEGACY_TOKEN = "legacy_token", "Legacy verification token"
        MISSING = "missing", "Signature missing"
        INVALID = "invalid", "Signature invalid"
        STALE = "stale", "Timestamp too old or too new"
        NO_SECRET = "no_secret", "No secret configured"
        UNKNOWN_CONNECTION = "unknown_connection", "Unknown connection"
        NOT_CHECKED = "not_checked", "Not checked"

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    connection = models.ForeignKey(
        ZoomConnection,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    connection_slug = models.CharField(max_length=60, blank=True)
    event = models.CharField(max_length=100, blank=True, db_index=True)
    event_ts = models.BigIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=100, blank=True, db_index=True)
    body_sha256 = models.CharField(max_length=64, db_index=True)
    # Set for verified deliveries only: the same body verified twice is a duplicate.
    dedupe_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    payload = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    signature_verdict = models.CharField(
        max_length=20, choices=Verdict.choices, default=Verdict.NOT_CHECKED
    )
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("reprocess_delivery", "Can re-process a failed delivery")]

    def __str__(self) -> str:
        return f"{self.event or 'delivery'} #{self.pk} ({self.status})"


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        ADMIN = "admin", "Admin"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        RESCHEDULED = "rescheduled", "Rescheduled"

    connection = models.ForeignKey(
        ZoomConnection, on_delete=models.CASCADE, related_name="sync_runs"
    )
    meeting = models.ForeignKey(
        ZoomMeeting,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sync_runs",
    )
    kind = models.CharField(max_length=10, choices=ZoomMeeting.Kind.choices)
    # What was asked for: a meeting/webinar id or an occurrence uuid.
    zoom_ref = models.CharField(max_length=64, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Rescheduled to run at this time."
    )
    fetched = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    upserted = models.PositiveIntegerField(default=0)
    skipped_no_email = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    no_shows = models.PositiveIntegerField(default=0)
    zoom_calls = models.PositiveIntegerField(default=0)
    brevo_calls = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Sync run #{self.pk} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class SyncRunItem(models.Model):
    class Reason(models.TextChoices):
        NO_EMAIL = "no_email", "No email (guest)"
        INVALID_EMAIL = "invalid_email", "Invalid email"
        BREVO_REJECTED = "brevo_rejected", "Rejected by Brevo"
        BREVO_ERROR = "brevo_error", "Brevo error"
        MAPPING_ERROR = "mapping_error", "Mapping error"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="items")
    email = models.CharField(max_length=320, blank=True)
    name = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.email or self.name}: {self.reason}"


class BrevoImport(models.Model):
    """One ``/contacts/import`` a sync run sent, and how it ended.

    Brevo works on an import in the background. The portal asks Brevo to call
    ``/hooks/brevo/import/<signed token>/`` when it ends (``notified_at``) and
    asks ``/processes/{id}`` only when that call does not come.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Not sent yet"
        SENT = "sent", "Sent, in progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        UNCONFIRMED = "unconfirmed", "Not confirmed in time"

    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.CASCADE, related_name="imports"
    )
    account = models.ForeignKey(
        BrevoAccount, on_delete=models.CASCADE, related_name="imports"
    )
    process_id = models.PositiveBigIntegerField(null=True, blank=True)
    list_ids = models.JSONField(default=list, blank=True)
    contacts = models.PositiveIntegerField(default=0)
    body_bytes = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    process_polls = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # What Brevo said: the notify call's body and the last /processes answer.
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Brevo import {self.process_id or '-'} ({self.status})"


class ConnectionEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        CONNECTED = "connected", "Connected"
        RECONNECTED = "reconnected", "Reconnected"
        TOKEN_REFRESHED = "token_refreshed", "Token refreshed"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        ERROR = "error", "Error"
        REVOKED = "revoked", "Revoked"
        DEAUTHORIZED = "deauthorized", "Deauthorized by Zoom"
        SECRET_ROTATED = "secret_rotated", "Secret rotated"
        CONFIG_LOADED = "config_loaded", "Configuration loaded"

    # Kept (anonymised) when a deauthorized connection's data is purged.
    connection = models.ForeignKey(
        ZoomConnection,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    connection_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connection_name}: {self.kind}"

    @classmethod
    def record(
        cls, connection: ZoomConnection, kind: str, detail: str = "", actor=None
    ) -> ConnectionEvent:
        return cls.objects.create(
            connection=connection,
            connection_name=connection.name,
            kind=kind,
            detail=detail,
            actor=actor,
        )


class FollowUpDispatch(models.Model):
    """One follow-up rule fired for one person at one occurrence: at most once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(
        FollowUpRule, on_delete=models.CASCADE, related_name="dispatches"
    )
    meeting = models.ForeignKey(
        ZoomMeeting, on_delete=models.CASCADE, related_name="dispatches"
    )
    email = models.EmailField(max_length=254)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    detail = models.TextField(blank=True)
    # A claim is taken before sending; attempts counts sends tried. A failure
    # Brevo may not have acted on (5xx, timeout, 429) is tried again by the
    # next run while will_retry is set.
    attempts = models.PositiveIntegerField(default=0)
    will_retry = models.BooleanField(default=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "meeting", "email"], name="follow_up_at_most_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} → {self.email}"
