"""Marketing ops may re-process a failed webhook delivery: it repeats what the
portal already tried, with no access to credentials."""

from django.db import migrations


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Marketing ops").first()
    permission = Permission.objects.filter(
        content_type__app_label="connector", codename="reprocess_delivery"
    ).first()
    if group and permission:
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="Marketing ops").first()
    if group:
        group.permissions.remove(
            *group.permissions.filter(codename="reprocess_delivery")
        )


class Migration(migrations.Migration):
    dependencies = [("connector", "0005_default_follow_up_rules")]

    operations = [migrations.RunPython(grant, revoke)]
