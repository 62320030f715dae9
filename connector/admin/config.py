from __future__ import annotations

import copy
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import ngettext

from ..followups import RuleConfigError, check_rule, event_name_for, retry_failed
from ..models import FieldMapping, FollowUpDispatch, FollowUpRule, ListAssignment
from .base import ReadOnlyAdmin


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    list_display = (
        "connection",
        "zoom_field",
        "brevo_attribute",
        "transform",
        "enabled",
    )
    list_editable = ("enabled",)
    list_filter = ("connection", "enabled", "transform", "zoom_field")
    search_fields = ("brevo_attribute", "zoom_field")
    actions = ["preview_sync"]

    @admin.action(description="Preview what a sync would write for a past meeting")
    def preview_sync(self, request, queryset):
        return HttpResponseRedirect(
            _preview_url(mappings=list(queryset.values_list("pk", flat=True)))
        )


@admin.register(ListAssignment)
class ListAssignmentAdmin(admin.ModelAdmin):
    list_display = ("connection", "audience", "list_id", "topic_filter", "enabled")
    list_editable = ("enabled",)
    list_filter = ("connection", "audience", "enabled")
    search_fields = ("topic_filter", "list_id")


def _preview_url(**ids: list[int]) -> str:
    query = urlencode(
        {name: ",".join(str(i) for i in values) for name, values in ids.items()}
    )
    return f"{reverse('connector:preview')}?{query}"


class FollowUpRuleForm(forms.ModelForm):
    class Meta:
        model = FollowUpRule
        fields = "__all__"

    def clean(self):
        """An enabled rule must be able to act (also when enabled from the list)."""
        data = super().clean()
        rule = copy.copy(self.instance)
        for name, value in data.items():
            if name in _RULE_FIELDS:
                setattr(rule, name, value)
        if rule.enabled:
            try:
                check_rule(rule)
            except RuleConfigError as err:
                raise forms.ValidationError(str(err)) from err
        return data


_RULE_FIELDS = {f.name for f in FollowUpRule._meta.fields} - {"id", "created_at"}


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    form = FollowUpRuleForm
    list_display = (
        "name",
        "connection",
        "trigger",
        "condition",
        "kind",
        "action",
        "target",
        "enabled",
        "sent",
        "failed",
    )
    list_editable = ("enabled",)
    list_filter = ("connection", "trigger", "action", "enabled", "kind")
    search_fields = ("name", "event_name")
    actions = ["preview_rules"]
    fieldsets = (
        (None, {"fields": ("connection", "name", "enabled")}),
        (
            "When",
            {
                "fields": (
                    "trigger",
                    "kind",
                    "min_minutes",
                    "min_percent",
                    "include_no_shows",
                ),
                "description": "Attended and recording ready can require a minimum of "
                "minutes or attendance percent. Recording ready goes to attendees, "
                "and to those who missed it when asked.",
            },
        ),
        (
            "Then",
            {
                "fields": ("action", "event_name", "list_id", "template_id"),
                "description": "A Brevo event carries the topic, date, minutes, join "
                "and recording links as properties (for Brevo automations). A "
                "template email gets them as params: {{ params.MEETING_TOPIC }}, "
                "MEETING_DATE, MINUTES_ATTENDED, JOIN_URL, RECORDING_URL, "
                "RECORDING_PASSCODE, FIRSTNAME. A campaign goes once per occurrence "
                "to the list, after this occurrence's audience is added to it: use "
                "a list of its own.",
            },
        ),
    )

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", FollowUpRuleForm)
        return super().get_changelist_form(request, **kwargs)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("connection")
            .annotate(
                sent_count=Count(
                    "dispatches",
                    filter=Q(dispatches__status=FollowUpDispatch.Status.SENT),
                ),
                failed_count=Count(
                    "dispatches",
                    filter=Q(dispatches__status=FollowUpDispatch.Status.FAILED),
                ),
            )
        )

    @admin.display(description="Condition")
    def condition(self, rule: FollowUpRule) -> str:
        bits = []
        if rule.min_minutes is not None:
            bits.append(f"≥ {rule.min_minutes} min")
        if rule.min_percent is not None:
            bits.append(f"≥ {rule.min_percent}%")
        if (
            rule.trigger == FollowUpRule.Trigger.RECORDING_READY
            and rule.include_no_shows
        ):
            bits.append("+ no-shows")
        return ", ".join(bits) or "—"

    @admin.display(description="Target")
    def target(self, rule: FollowUpRule) -> str:
        if rule.action == FollowUpRule.Action.BREVO_EVENT:
            return event_name_for(rule) if rule.trigger else "—"
        if rule.action == FollowUpRule.Action.ADD_TO_LIST:
            return f"list {rule.list_id or '?'}"
        if rule.action == FollowUpRule.Action.CAMPAIGN:
            return f"template {rule.template_id or '?'} to list {rule.list_id or '?'}"
        return f"template {rule.template_id or '?'}"

    @admin.display(description="Sent", ordering="sent_count")
    def sent(self, rule: FollowUpRule) -> int:
        return rule.sent_count

    @admin.display(description="Failed", ordering="failed_count")
    def failed(self, rule: FollowUpRule) -> int:
        return rule.failed_count

    @admin.action(description="Preview what these rules would send for a past meeting")
    def preview_rules(self, request, queryset):
        return HttpResponseRedirect(
            _preview_url(rules=list(queryset.values_list("pk", flat=True)))
        )


@admin.register(FollowUpDispatch)
class FollowUpDispatchAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "email",
        "rule",
        "meeting",
        "status",
        "will_retry",
        "attempts",
        "sent_at",
        "short_detail",
    )
    list_filter = ("status", "will_retry", "rule__trigger", "rule__action", "rule")
    search_fields = ("email", "detail", "meeting__topic", "rule__name")
    date_hierarchy = "created_at"
    raw_id_fields = ("rule", "meeting")
    list_select_related = ("rule", "meeting")
    actions = ["retry_failed"]

    @admin.display(description="What happened")
    def short_detail(self, dispatch: FollowUpDispatch) -> str:
        return dispatch.detail[:120]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("connector.change_followuprule")

    @admin.action(
        permissions=["retry"], description="Send the selected failed follow-ups again"
    )
    def retry_failed(self, request, queryset):
        from ..tasks.followups import run_follow_ups

        failed = queryset.filter(status=FollowUpDispatch.Status.FAILED).count()
        todo = retry_failed(queryset)
        for meeting_id, trigger in todo:
            run_follow_ups.delay_on_commit(meeting_id, trigger)
        self.message_user(
            request,
            ngettext(
                "%(count)d failed follow-up will be sent again.",
                "%(count)d failed follow-ups will be sent again.",
                failed,
            )
            % {"count": failed},
            messages.SUCCESS if failed else messages.WARNING,
        )
