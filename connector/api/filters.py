"""Query-string filters of the read API: status, event, connection, since/until.

Written as a small filter backend (no extra dependency); each parameter is
declared for the OpenAPI schema too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend


def parse_moment(name: str, value: str) -> datetime:
    """An ISO-8601 date or datetime (naive means UTC), or a 400 naming the field."""
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime(day.year, day.month, day.day)  # noqa: DTZ001 (made aware below)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError({name: "Use an ISO-8601 date or date and time."})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_fixed_timezone(0))
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 ("+16:00" parses).
        return moment.astimezone(UTC)
    except OverflowError as err:
        raise ValidationError({name: "That date and time is out of range."}) from err


class RecordFilter(BaseFilterBackend):
    """Filters a view declares as ``filter_fields`` and ``filter_time_field``."""

    def filter_queryset(self, request, queryset: QuerySet, view) -> QuerySet:
        params = request.query_params
        for name, values in params.lists():
            if any("\x00" in value for value in values):
                # PostgreSQL text cannot hold NUL: refuse it here, not with a 500.
                raise ValidationError({name: "Contains a NUL character."})
        for name, lookup in view.filter_fields.items():
            values = [v for v in params.getlist(name) if v != ""]
            if values:
                queryset = queryset.filter(**{f"{lookup}__in": values})
        connection = params.get("connection")
        if connection:
            match = Q(connection__slug=connection)
            # ASCII digits that fit a bigint: "²" is a digit to str.isdigit().
            if connection.isascii() and connection.isdigit() and len(connection) < 19:
                match |= Q(connection_id=int(connection))
            queryset = queryset.filter(match)
        field = view.filter_time_field
        if since := params.get("since"):
            queryset = queryset.filter(
                **{f"{field}__gte": parse_moment("since", since)}
            )
        if until := params.get("until"):
            queryset = queryset.filter(**{f"{field}__lt": parse_moment("until", until)})
        return queryset

    def get_schema_operation_parameters(self, view) -> list:
        return []  # declared with extend_schema on the view (see parameters())


def parameters(choices: dict[str, list[str]], time_field: str) -> list:
    found = [
        OpenApiParameter(
            name,
            OpenApiTypes.STR,
            description=f"One or more of: {', '.join(values)}." if values else "",
            many=True,
            enum=values or None,
        )
        for name, values in choices.items()
    ]
    return [
        *found,
        OpenApiParameter(
            "connection", OpenApiTypes.STR, description="Connection id or slug."
        ),
        OpenApiParameter(
            "since",
            OpenApiTypes.DATETIME,
            description=f"{time_field} at or after this ISO-8601 date/time.",
        ),
        OpenApiParameter(
            "until",
            OpenApiTypes.DATETIME,
            description=f"{time_field} before this ISO-8601 date/time.",
        ),
    ]
