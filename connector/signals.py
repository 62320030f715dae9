from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from .models import ConnectionEvent, ZoomConnection


@receiver(post_save, sender=ZoomConnection, dispatch_uid="connection_defaults")
def connection_created(sender, instance: ZoomConnection, created: bool, raw=False, **_):
    if not created or raw:
        return
    from .defaults import apply_defaults

    apply_defaults(instance)
    ConnectionEvent.record(instance, ConnectionEvent.Kind.CREATED)


SCORE_FIELDS = (
    "engagement_attendance_weight",
    "engagement_punctuality_weight",
)


@receiver(pre_save, sender=ZoomConnection, dispatch_uid="connection_rescore")
def weights_changed(
    sender, instance: ZoomConnection, raw=False, update_fields=None, **_
):
    """Note new engagement weights: the stored attendance is re-scored after."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(SCORE_FIELDS) & set(update_fields):
        return  # a token refresh and the like: the weights did not move
    before = ZoomConnection.objects.filter(pk=instance.pk).values(*SCORE_FIELDS).first()
    if before and any(before[f] != getattr(instance, f) for f in SCORE_FIELDS):
        instance._weights_changed = True


@receiver(post_save, sender=ZoomConnection, dispatch_uid="connection_rescore_saved")
def rescore_after_save(sender, instance: ZoomConnection, raw=False, **_):
    if raw or not getattr(instance, "_weights_changed", False):
        return
    instance._weights_changed = False
    from .tasks.followups import rescore_connection

    rescore_connection.delay_on_commit(instance.pk)
