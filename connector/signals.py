from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import ConnectionEvent, ZoomConnection


@receiver(post_save, sender=ZoomConnection, dispatch_uid="connection_defaults")
def connection_created(sender, instance: ZoomConnection, created: bool, raw=False, **_):
    if not created or raw:
        return
    from .defaults import apply_defaults

    apply_defaults(instance)
    ConnectionEvent.record(instance, ConnectionEvent.Kind.CREATED)
