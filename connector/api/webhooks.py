"""The Zoom webhook endpoint: verify, record, enqueue, answer.

The view never calls Zoom or Brevo. It reads the raw body, lets
``ZoomSignatureAuthentication`` verify it, stores one ``WebhookDelivery`` row for
every POST (accepted, duplicate, rejected or ignored) and enqueues
``process_delivery`` once the row is committed. Answers:

- 200: accepted, duplicate (stored, not processed again), or nothing to route to;
  ``endpoint.url_validation`` gets ``plainToken`` and ``encryptedToken``
- 400: the body is not a JSON object with an event
- 401: verification failed (bad, missing or stale signature, no secret)
- 404: the slug names no connection
- 405: any method but POST
- 413: the body is over ``WEBHOOK_MAX_BODY_BYTES``

Anything a sender can put in a request ends in one of these; a 500 means a bug
or an outage on our side, and Zoom retrying it later is what we want.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import WebhookDelivery, ZoomConnection
from ..tasks.webhooks import process_delivery
from ..zoom import webhooks as zw

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
Verdict = WebhookDelivery.Verdict


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class IsVerifiedDelivery(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, zw.VerifiedDelivery)


class ZoomSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "connector.zoom.webhooks.ZoomSignatureAuthentication"
    name = "zoomSignature"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "x-zm-signature",
            "description": 'v0=hex(HMAC_SHA256(secret, "v0:{x-zm-request-timestamp}'
            ':{raw body}")), timestamp within 5 minutes.',
        }


def _declared_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _insert(delivery: WebhookDelivery) -> None:
    """Insert the row so that a unique-key clash leaves the connection usable.

    In autocommit (how the view normally runs) the INSERT is its own
    transaction, which saves SQLite a BEGIN IMMEDIATE/COMMIT pair on the hot
    path; inside an outer transaction a savepoint keeps that transaction alive.
    """
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            delivery.save(force_insert=True)
    else:
        delivery.save(force_insert=True)


class JsonOnly(BaseContentNegotiation):
    """Zoom sends JSON and reads JSON: no negotiation to do."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ZoomWebhookView(APIView):
    authentication_classes = [zw.ZoomSignatureAuthentication]
    permission_classes = [IsVerifiedDelivery]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnly
    parser_classes: list = []  # the body is read raw, never through a parser
    throttle_classes: list = []
    http_method_names = ["post"]

    def initial(self, request: Request, *args, **kwargs) -> None:
        # Before authentication: refuse other methods and oversized bodies
        # without reading or hashing them.
        if request.method != "POST":
            raise exceptions.MethodNotAllowed(request.method)
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        if _declared_length(request) > limit:
            raise PayloadTooLarge()
        try:
            body = request.body
        except RequestDataTooBig as err:
            raise PayloadTooLarge() from err
        if len(body) > limit:
            raise PayloadTooLarge()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="zoom_webhook_receive",
        summary="Receive a Zoom webhook delivery for one connection",
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, "Accepted or duplicate"),
            400: OpenApiResponse(description="Body is not a JSON object"),
            401: OpenApiResponse(description="Verification failed"),
            404: OpenApiResponse(description="Unknown connection"),
            413: OpenApiResponse(description="Body too large"),
        },
        tags=["webhooks"],
    )
    def post(self, request: Request, slug: str | None = None) -> Response:
        verified: zw.VerifiedDelivery = request.auth
        body: bytes = request.body
        sha = zw.body_sha256(body)
        try:
            data = zw.parse_body(body)
        except zw.MalformedPayload as err:
            self._record_rejected(
                request, verified.connection, slug, verified.verdict, str(err), sha
            )
            return Response({"detail": str(err)}, status=status.HTTP_400_BAD_REQUEST)

        event = data["event"]
        connection = verified.connection
        if event == zw.URL_VALIDATION_EVENT:
            return self._answer_validation(request, verified, slug, data, sha)

        note = ""
        if connection is None:
            connection = zw.route_app_delivery(data)
            if connection is None:
                note = "No connected Zoom user matches this account and user."
        delivery = self._store(
            request,
            connection,
            slug,
            verified.verdict,
            data,
            sha,
            status=Status.IGNORED if note else Status.ACCEPTED,
            error=note,
        )
        self._log(delivery, connection, data)
        if delivery.status == Status.ACCEPTED:
            self._enqueue(delivery)
        return Response({"status": delivery.status, "id": delivery.pk})

    # Steps ---------------------------------------------------------------------

    def _answer_validation(
        self,
        request: Request,
        verified: zw.VerifiedDelivery,
        slug: str | None,
        data: dict,
        sha: str,
    ) -> Response:
        if not verified.secret:
            # Verified by the legacy token alone: there is no secret token to
            # answer the challenge with.
            raise zw.WebhookRejected(Verdict.NO_SECRET, connection=verified.connection)
        try:
            answer = zw.url_validation_response(verified.secret, data)
        except zw.MalformedPayload as err:
            self._record_rejected(
                request, verified.connection, slug, verified.verdict, str(err), sha
            )
            return Response({"detail": str(err)}, status=status.HTTP_400_BAD_REQUEST)
        delivery = self._store(
            request,
            verified.connection,
            slug,
            verified.verdict,
            data,
            sha,
            status=Status.PROCESSED,
        )
        logger.info(
            "zoom.webhook.url_validated",
            extra={"delivery_id": delivery.pk, "connection_id": delivery.connection_id},
        )
        # A repeated challenge is answered again: Zoom needs the answer each time.
        return Response(answer)

    def _store(
        self,
        request: Request,
        connection: ZoomConnection | None,
        slug: str | None,
        verdict: str,
        data: dict,
        sha: str,
        *,
        status: str,
        error: str = "",
    ) -> WebhookDelivery:
        """One row per verified delivery; the body hash makes a repeat a duplicate.

        The unique ``dedupe_key`` settles two identical deliveries arriving at
        once: the second insert fails and is stored as a duplicate of the first.
        """
        now = timezone.now()
        delivery = WebhookDelivery(
            received_at=now,
            connection=connection,
            connection_slug=(slug or "")[:60],
            event=str(data["event"])[:100],
            event_ts=zw.event_ts(data),
            request_id=request.META.get("HTTP_X_ZM_REQUEST_ID", "")[:100],
            body_sha256=sha,
            dedupe_key=sha,
            payload=zw.seal_secrets(data),
            headers=zw.safe_headers(request.META),
            signature_verdict=verdict,
            status=status,
            error=error,
            processed_at=now if status != Status.ACCEPTED else None,
        )
        try:
            _insert(delivery)
        except IntegrityError:
            original = WebhookDelivery.objects.filter(dedupe_key=sha).only("pk").first()
            if original is None:
                # Not a duplicate: the connection was deleted after it was read.
                zw.forget_connections()
                if (
                    connection is not None
                    and not ZoomConnection.objects.filter(pk=connection.pk).exists()
                ):
                    raise zw.WebhookRejected(
                        Verdict.UNKNOWN_CONNECTION, status_code=404
                    ) from None
                raise
            delivery.pk = None
            delivery.dedupe_key = None
            delivery.payload = None  # the original holds it
            delivery.status = Status.DUPLICATE
            delivery.duplicate_of = original
            delivery.error = ""
            delivery.processed_at = None
            delivery.save()
            logger.info(
                "zoom.webhook.duplicate",
                extra={
                    "delivery_id": delivery.pk,
                    "duplicate_of": original.pk if original else None,
                    "connection_id": delivery.connection_id,
                },
            )
        return delivery

    def _record_rejected(
        self,
        request: Request,
        connection: ZoomConnection | None,
        slug: str | None,
        verdict: str,
        error: str,
        sha: str = "",
    ) -> WebhookDelivery:
        # The body of an unverified request is not kept: only its hash and the
        # safe headers, enough to tell a misconfigured secret from noise.
        return WebhookDelivery.objects.create(
            connection=connection,
            connection_slug=(slug or "")[:60],
            request_id=request.META.get("HTTP_X_ZM_REQUEST_ID", "")[:100],
            body_sha256=sha,
            headers=zw.safe_headers(request.META),
            signature_verdict=verdict,
            status=Status.REJECTED,
            error=error[:1000],
        )

    def _enqueue(self, delivery: WebhookDelivery) -> None:
        try:
            process_delivery.delay_on_commit(delivery.pk)
        except Exception:  # broker down: the row is kept, the sweep re-queues it
            logger.exception(
                "zoom.webhook.enqueue_failed", extra={"delivery_id": delivery.pk}
            )

    def _log(
        self, delivery: WebhookDelivery, connection: ZoomConnection | None, data: dict
    ) -> None:
        extra: dict[str, Any] = {
            "delivery_id": delivery.pk,
            "connection_id": connection.pk if connection else None,
            "event": delivery.event,
            "status": delivery.status,
        }
        logger.info("zoom.webhook.received", extra=extra)
        if connection is not None and connection.log_webhooks:
            extra["body"] = json.dumps(zw.redacted(data), sort_keys=True)
            logger.info("zoom.webhook.body", extra=extra)

    # Failures ------------------------------------------------------------------

    def handle_exception(self, exc: Exception) -> Response:
        slug = self.kwargs.get("slug")
        if isinstance(exc, zw.WebhookRejected):
            self._record_rejected(
                self.request,
                exc.connection,
                slug,
                exc.verdict,
                str(exc.detail),
                self._body_hash(),
            )
            headers = {}
            if exc.status_code == status.HTTP_401_UNAUTHORIZED:
                headers["WWW-Authenticate"] = 'Zoom-Signature realm="webhooks"'
            return Response(
                {"detail": exc.detail, "verdict": exc.verdict},
                status=exc.status_code,
                headers=headers,
            )
        if isinstance(exc, PayloadTooLarge):
            self._record_rejected(
                self.request,
                None,
                slug,
                Verdict.NOT_CHECKED,
                f"Body over {settings.WEBHOOK_MAX_BODY_BYTES} bytes "
                f"(Content-Length {_declared_length(self.request)}).",
            )
            logger.warning("zoom.webhook.too_large", extra={"slug": slug})
            return Response({"detail": exc.detail}, status=exc.status_code)
        return super().handle_exception(exc)

    def _body_hash(self) -> str:
        try:
            return zw.body_sha256(self.request.body)
        except Exception:  # the body could not be read at all
            return ""


@extend_schema_view(
    post=extend_schema(
        operation_id="zoom_webhook_receive_single",
        summary="Receive a Zoom webhook delivery (the only connection, or the user "
        "OAuth app's deliveries routed by account and user)",
    )
)
class ZoomWebhookRootView(ZoomWebhookView):
    """``/webhooks/zoom/``: the same endpoint without a slug."""
