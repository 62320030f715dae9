"""Connector configuration as a YAML file, in the product brief's shape.

``load`` turns a file into one server-to-server connection, its Brevo account,
field mappings and list assignments, idempotently; ``dump`` writes the same shape
back with ``${VAR}`` placeholders where secrets and credentials go.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import transaction

from .defaults import DEFAULT_LISTS
from .models import (
    Audience,
    BrevoAccount,
    ConnectionEvent,
    FieldMapping,
    ListAssignment,
    ZoomConnection,
    ZoomField,
)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
T = FieldMapping.Transform

# The schema: a dict is a section, a type is a leaf.
_SCHEMA: dict[str, Any] = {
    "connectors": {
        "zoom": {
            "enabled": bool,
            "name": str,
            "slug": str,
            "account_id": str,
            "client_id": str,
            "client_secret": str,
            "sync": {
                "participants": bool,
                "webinars": bool,
                "recordings": bool,
                "delay_seconds": int,
            },
            "webhook": {
                "secret_token": str,
                "verification_token": str,
                "allow_verification_token": bool,
            },
            "lists": {audience.value: int for audience in Audience},
            "rate_limits": {"light": int, "medium": int, "heavy": int},
            "debug": bool,
            "log_level": str,
            "log_webhooks": bool,
        },
        "brevo": {
            "name": str,
            "api_key": str,
            "sender": {"email": str, "name": str},
        },
    },
    # zoom field → attribute name, or {attribute: NAME, transform: KIND}
    "field_mapping": "mapping",
}

_DATE_FIELDS = {"join_time", "leave_time", "meeting_date", "registration_time"}
_MINUTE_FIELDS = {"duration", "total_minutes"}


class ConfigError(Exception):
    """The file cannot be applied; the message names the key, line or variable."""


@dataclass
class Plan:
    changes: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.changes.append(text)


def _expand(value: str, line: int) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"line {line}: environment variable {name} is not set")
        return os.environ[name]

    return _VAR.sub(sub, value)


def _convert(node: yaml.Node, schema: Any, path: str) -> Any:
    line = node.start_mark.line + 1
    if isinstance(schema, dict):
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(f"line {line}: {path or 'the file'} must be a mapping")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in schema:
                where = f"{path}." if path else ""
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: unknown key {where}{key}"
                )
            out[key] = _convert(value_node, schema[key], f"{path}.{key}".strip("."))
        return out
    if schema == "mapping":
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(f"line {line}: {path} must be a mapping")
        mapping: dict[str, list[dict[str, str]]] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in ZoomField.values:
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: unknown Zoom field "
                    f"{path}.{key} (known: {', '.join(ZoomField.values)})"
                )
            items = (
                value_node.value
                if isinstance(value_node, yaml.SequenceNode)
                else [value_node]
            )
            mapping[key] = [_mapping_spec(item, f"{path}.{key}") for item in items]
        return mapping
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"line {line}: {path} must be a single value")
    raw = _expand(node.value, line)
    if schema is bool:
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ConfigError(f"line {line}: {path} must be true or false")
    if schema is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"line {line}: {path} must be a whole number") from None
    return raw


def _mapping_spec(node: yaml.Node, path: str) -> dict[str, str]:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        return {"attribute": _expand(node.value, line)}
    spec = _convert(node, {"attribute": str, "transform": str}, path)
    if "attribute" not in spec:
        raise ConfigError(f"line {line}: {path} needs an attribute")
    transform = spec.get("transform")
    if transform is not None and transform not in T.values:
        raise ConfigError(f"line {line}: unknown transform {transform!r} for {path}")
    return spec


def parse(text: str) -> dict[str, Any]:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}") from err
    if root is None:
        raise ConfigError("the file is empty")
    data = _convert(root, _SCHEMA, "")
    if "zoom" not in data.get("connectors", {}):
        raise ConfigError("connectors.zoom is missing")
    return data


def default_transform(zoom_field: str, attribute: str) -> str:
    if zoom_field in _DATE_FIELDS:
        return T.DATE
    if zoom_field in _MINUTE_FIELDS:
        return T.MINUTES
    if zoom_field == "name":
        if attribute.upper() in ("FIRSTNAME", "FIRST_NAME", "PRENOM"):
            return T.FIRST_NAME
        if attribute.upper() in ("LASTNAME", "LAST_NAME", "NOM"):
            return T.LAST_NAME
    return T.NONE


def _set(obj, attr: str, value, plan: Plan, label: str, secret: bool = False) -> None:
    if getattr(obj, attr) == value:
        return
    setattr(obj, attr, value)
    plan.add(f"{label}: {attr} {'changed' if secret else f'= {value!r}'}")


def apply(data: dict[str, Any], *, actor=None) -> Plan:
    """Apply parsed configuration; the returned plan lists what changed."""
    plan = Plan()
    zoom = data["connectors"]["zoom"]
    brevo_cfg = data["connectors"].get("brevo")
    slug = zoom.get("slug", "default")

    with transaction.atomic():
        account = None
        if brevo_cfg is not None:
            name = brevo_cfg.get("name", f"Brevo ({slug})")
            account = BrevoAccount.objects.filter(name=name).first()
            if account is None:
                account = BrevoAccount(name=name)
                plan.add(f"brevo account {name}: created")
            label = f"brevo account {name}"
            if "api_key" in brevo_cfg:
                _set(account, "api_key", brevo_cfg["api_key"], plan, label, True)
            sender = brevo_cfg.get("sender", {})
            if "email" in sender:
                _set(account, "sender_email", sender["email"], plan, label)
            if "name" in sender:
                _set(account, "sender_name", sender["name"], plan, label)
            if plan.changes:
                account.save()

        conn = ZoomConnection.objects.filter(slug=slug).first()
        created = conn is None
        if created:
            conn = ZoomConnection(
                slug=slug, auth_type=ZoomConnection.AuthType.SERVER_TO_SERVER
            )
            plan.add(f"connection {slug}: created")
        label = f"connection {slug}"
        before = len(plan.changes)
        _set(conn, "name", zoom.get("name", conn.name or f"Zoom ({slug})"), plan, label)
        for key in ("enabled", "account_id", "client_id", "debug", "log_webhooks"):
            if key in zoom:
                _set(conn, key, zoom[key], plan, label)
        if "client_secret" in zoom:
            _set(conn, "client_secret", zoom["client_secret"], plan, label, True)
        if "log_level" in zoom:
            level = zoom["log_level"].lower()
            if level not in ZoomConnection.LogLevel.values:
                raise ConfigError(f"connectors.zoom.log_level: unknown level {level}")
            _set(conn, "log_level", level, plan, label)
        for key, attr in (
            ("participants", "sync_participants"),
            ("webinars", "sync_webinars"),
            ("recordings", "sync_recordings"),
            ("delay_seconds", "sync_delay_seconds"),
        ):
            if key in zoom.get("sync", {}):
                _set(conn, attr, zoom["sync"][key], plan, label)
        webhook = zoom.get("webhook", {})
        if "secret_token" in webhook:
            _set(
                conn, "webhook_secret_token", webhook["secret_token"], plan, label, True
            )
        if "verification_token" in webhook:
            _set(
                conn,
                "verification_token",
                webhook["verification_token"],
                plan,
                label,
                True,
            )
        if "allow_verification_token" in webhook:
            _set(
                conn,
                "allow_verification_token",
                webhook["allow_verification_token"],
                plan,
                label,
            )
        for key, value in zoom.get("rate_limits", {}).items():
            _set(conn, f"rate_limit_{key}", value, plan, label)
        if account is not None and conn.brevo_account_id != account.pk:
            conn.brevo_account = account
            plan.add(f"{label}: brevo account = {account.name}")
        if len(plan.changes) > before or created:
            conn.save()
        if created:
            # The defaults are replaced by the file's own mapping and lists below.
            conn.field_mappings.all().delete()
            conn.list_assignments.all().delete()

        _apply_mapping(conn, data.get("field_mapping"), plan)
        _apply_lists(conn, zoom.get("lists"), plan, created)

        if plan.changes:
            ConnectionEvent.record(
                conn,
                ConnectionEvent.Kind.CONFIG_LOADED,
                detail="; ".join(c for c in plan.changes)[:2000],
                actor=actor,
            )
    return plan


def _apply_mapping(conn: ZoomConnection, mapping: dict | None, plan: Plan) -> None:
    if mapping is None:
        if not conn.field_mappings.exists():
            from .defaults import apply_defaults

            apply_defaults(conn)
            plan.add(f"connection {conn.slug}: default field mapping")
        return
    wanted = {}
    for zoom_field, specs in mapping.items():
        for spec in specs:
            attribute = spec["attribute"]
            transform = spec.get("transform") or default_transform(
                zoom_field, attribute
            )
            wanted[attribute] = (zoom_field, transform)
    existing = {m.brevo_attribute: m for m in conn.field_mappings.all()}
    for attribute, mapping_row in existing.items():
        if attribute not in wanted:
            mapping_row.delete()
            plan.add(f"mapping {mapping_row.zoom_field} → {attribute}: removed")
    for attribute, (zoom_field, transform) in wanted.items():
        row = existing.get(attribute)
        if row is None:
            FieldMapping.objects.create(
                connection=conn,
                zoom_field=zoom_field,
                brevo_attribute=attribute,
                transform=transform,
            )
            plan.add(f"mapping {zoom_field} → {attribute}: created")
        elif (row.zoom_field, row.transform, row.enabled) != (
            zoom_field,
            transform,
            True,
        ):
            row.zoom_field, row.transform, row.enabled = zoom_field, transform, True
            row.save()
            plan.add(f"mapping {zoom_field} → {attribute}: updated")


def _apply_lists(
    conn: ZoomConnection, lists: dict | None, plan: Plan, created: bool
) -> None:
    if lists is None:
        lists = dict(DEFAULT_LISTS) if created else None
    if lists is None:
        return
    plain = {a.audience: a for a in conn.list_assignments.filter(topic_filter="")}
    for audience, row in plain.items():
        if audience not in lists:
            row.delete()
            plan.add(f"list {audience}: removed")
    for audience, list_id in lists.items():
        row = plain.get(audience)
        if row is None:
            ListAssignment.objects.create(
                connection=conn, audience=audience, list_id=list_id
            )
            plan.add(f"list {audience} = {list_id}: created")
        elif row.list_id != list_id or not row.enabled:
            row.list_id, row.enabled = list_id, True
            row.save()
            plan.add(f"list {audience} = {list_id}: updated")


def load(text: str, *, dry_run: bool = False, actor=None) -> Plan:
    data = parse(text)
    if not dry_run:
        return apply(data, actor=actor)

    class _Rollback(Exception):
        pass

    plan = Plan()
    try:
        with transaction.atomic():
            plan = apply(data, actor=actor)
            raise _Rollback
    except _Rollback:
        pass
    return plan


def _env_name(slug: str, name: str) -> str:
    if slug == "default":
        return name
    return f"{slug.upper().replace('-', '_')}_{name}"


def dump(conn: ZoomConnection) -> str:
    """The connection as YAML; credentials and secrets as ${VAR} placeholders."""

    def var(name: str) -> str:
        return "${" + _env_name(conn.slug, name) + "}"

    lists = {
        a.audience: a.list_id
        for a in conn.list_assignments.filter(topic_filter="", enabled=True)
    }
    zoom: dict[str, Any] = {
        "enabled": conn.enabled,
        "name": conn.name,
        "slug": conn.slug,
        "account_id": var("ZOOM_ACCOUNT_ID"),
        "client_id": var("ZOOM_CLIENT_ID"),
        "client_secret": var("ZOOM_CLIENT_SECRET"),
        "sync": {
            "participants": conn.sync_participants,
            "webinars": conn.sync_webinars,
            "recordings": conn.sync_recordings,
            "delay_seconds": conn.sync_delay_seconds,
        },
        "webhook": {
            "secret_token": var("ZOOM_WEBHOOK_SECRET"),
            "verification_token": var("ZOOM_VERIFICATION_TOKEN"),
            "allow_verification_token": conn.allow_verification_token,
        },
        "lists": lists,
        "rate_limits": {
            "light": conn.rate_limit_light,
            "medium": conn.rate_limit_medium,
            "heavy": conn.rate_limit_heavy,
        },
        "debug": conn.debug,
        "log_level": conn.log_level,
        "log_webhooks": conn.log_webhooks,
    }
    data: dict[str, Any] = {"connectors": {"zoom": zoom}}
    if conn.brevo_account is not None:
        brevo: dict[str, Any] = {
            "name": conn.brevo_account.name,
            "api_key": var("BREVO_API_KEY"),
        }
        if conn.brevo_account.sender_email:
            brevo["sender"] = {
                "email": conn.brevo_account.sender_email,
                "name": conn.brevo_account.sender_name,
            }
        data["connectors"]["brevo"] = brevo
    mapping: dict[str, list[Any]] = {}
    for row in conn.field_mappings.filter(enabled=True).order_by("id"):
        if row.transform == default_transform(row.zoom_field, row.brevo_attribute):
            spec: Any = row.brevo_attribute
        else:
            spec = {"attribute": row.brevo_attribute, "transform": row.transform}
        mapping.setdefault(row.zoom_field, []).append(spec)
    data["field_mapping"] = {
        key: specs[0] if len(specs) == 1 else specs for key, specs in mapping.items()
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
