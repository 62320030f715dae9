"""Create the "Marketing ops" group: edits mappings, lists and rules, reads the
audit trail, starts syncs; never sees or changes credentials."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketing ops"

PERMISSIONS = [
    *(
        f"{action}_{model}"
        for model in ("fieldmapping", "listassignment", "followuprule")
        for action in ("add", "change", "delete", "view")
    ),
    *(
        f"view_{model}"
        for model in (
            "zoomconnection",
            "zoommeeting",
            "attendance",
            "webhookdelivery",
            "syncrun",
            "syncrunitem",
            "connectionevent",
            "followupdispatch",
        )
    ),
    "run_sync",
    "resync_meeting",
]


def create_group(apps, schema_editor):
    # Permissions are normally created after migrations; make sure they exist.
    app_config = apps.get_app_config("connector")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="connector", codename__in=PERMISSIONS
        )
    )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connector", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
