"""Give every existing connection without follow-up rules the default ones.

The same rules ``connector.defaults.DEFAULT_FOLLOW_UP_RULES`` gives a new
connection, frozen here as they were when this migration was written. Brevo
events are enabled (they email nobody; automations can start from them); the
recording email is disabled until a template id is set.
"""

from django.db import migrations

RULES = [
    (
        "Attended: Brevo event zoom_attended",
        "attended",
        "",
        "brevo_event",
        "zoom_attended",
        False,
        True,
    ),
    (
        "No-show: Brevo event zoom_no_show",
        "no_show",
        "",
        "brevo_event",
        "zoom_no_show",
        False,
        True,
    ),
    (
        "Registered: Brevo event zoom_registered",
        "registered",
        "webinar",
        "brevo_event",
        "zoom_registered",
        False,
        True,
    ),
    (
        "Recording ready: Brevo event zoom_recording_ready",
        "recording_ready",
        "",
        "brevo_event",
        "zoom_recording_ready",
        True,
        True,
    ),
    (
        "Recording ready: email the link (set the template id, then enable)",
        "recording_ready",
        "",
        "transactional_template",
        "",
        True,
        False,
    ),
]


def seed(apps, schema_editor):
    ZoomConnection = apps.get_model("connector", "ZoomConnection")
    FollowUpRule = apps.get_model("connector", "FollowUpRule")
    for connection in ZoomConnection.objects.filter(follow_up_rules__isnull=True):
        FollowUpRule.objects.bulk_create(
            FollowUpRule(
                connection=connection,
                name=name,
                trigger=trigger,
                kind=kind,
                action=action,
                event_name=event_name,
                include_no_shows=include_no_shows,
                enabled=enabled,
            )
            for name, trigger, kind, action, event_name, include_no_shows, enabled in RULES
        )


def unseed(apps, schema_editor):
    FollowUpRule = apps.get_model("connector", "FollowUpRule")
    names = [rule[0] for rule in RULES]
    # Only untouched defaults that never fired are removed.
    FollowUpRule.objects.filter(name__in=names, dispatches__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("connector", "0004_follow_up_dispatch_attempts")]

    operations = [migrations.RunPython(seed, unseed)]
