"""Brevo API v3: contacts, attributes, lists, imports, events and email.

Everything Brevo-specific about talking to the API lives here: the ``api-key``
header, Brevo's rate-limit buckets (contacts 10/s and 36,000/h; events 10/s;
everything else such as ``/processes`` and ``/emailCampaigns`` 100/h), the
``x-sib-ratelimit-reset`` wait on a 429, the 8 MB ceiling of an import body and
the 150 and 200 item caps of list and event batches. Session, timeouts, retries
with backoff and the limiter itself come from ``connector.http``.

No method here ever removes a contact from a list: there is no
``unlinkListIds`` anywhere, and an import with ``listIds`` only adds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from ..http import ApiClient, ApiClientError, ApiError, ApiNotFound
from ..models import BrevoAccount
from ..ratelimit import Budget

logger = logging.getLogger(__name__)

CONTACTS = "contacts"
EVENTS = "events"
SMTP_SEND = "smtp_send"
SMTP_OTHER = "smtp_other"
OTHER = "other"

# Brevo's "General" tier (every plan), per https://developers.brevo.com/docs/api-limits:
# (requests per second, requests per hour); None where Brevo sets no such limit.
BUCKET_LIMITS: dict[str, tuple[float | None, int | None]] = {
    CONTACTS: (10, 36_000),
    EVENTS: (10, 36_000),
    SMTP_SEND: (1_000, 3_600_000),
    SMTP_OTHER: (None, 300),
    OTHER: (None, 100),
}

ADD_TO_LIST_MAX = 150  # addContactToList: "a maximum of 150" per request
EVENTS_BATCH_MAX = 200  # /events/batch: at most 200 events per request
UPDATE_BATCH_MAX = 100  # not documented by Brevo; kept small on purpose

ATTRIBUTE_TYPES = ("text", "date", "float", "boolean")


class BrevoBatchError(ApiClientError):
    """Part of a batch was refused. ``failed`` holds the refused items."""

    def __init__(self, message: str, *, failed: list[dict], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.failed = failed


def bucket_for(path: str) -> str:
    """The Brevo rate-limit bucket a request path falls in."""
    path = "/" + path.lstrip("/").split("?", 1)[0]
    if path.startswith("/contacts"):
        return CONTACTS
    if path.startswith("/events"):
        # Not confirmed which bucket /events/batch is in: counted as /events.
        return EVENTS
    if path == "/smtp/email":
        return SMTP_SEND
    if path.startswith("/smtp/"):
        return SMTP_OTHER
    return OTHER


def json_size(value: Any) -> int:
    """Bytes ``value`` takes in a JSON request body (UTF-8, as requests sends it)."""
    return len(json.dumps(value, ensure_ascii=False).encode())


def sized_chunks(
    contacts: Iterable[dict], max_bytes: int | None = None
) -> Iterator[tuple[list[dict], int]]:
    """Split import rows so each ``jsonBody`` stays under ``max_bytes``.

    Yields each chunk with its size in bytes. Brevo allows 10 MB per import and
    recommends about 8 MB; ``BREVO_IMPORT_MAX_BYTES`` (7.5 MB by default)
    leaves room for the rest of the request body, which is sent as UTF-8.
    """
    limit = max_bytes or settings.BREVO_IMPORT_MAX_BYTES
    chunk: list[dict] = []
    size = 2  # the brackets
    for contact in contacts:
        item = json_size(contact) + 2  # comma and space between items
        if chunk and size + item > limit:
            yield chunk, size
            chunk, size = [], 2
        chunk.append(contact)
        size += item
    if chunk:
        yield chunk, size


def encoded_chunks(
    contacts: list[dict], max_bytes: int | None = None
) -> Iterator[tuple[list[dict], bytes]]:
    """``sized_chunks`` with each chunk's ``jsonBody`` encoded, ready to send.

    Most imports fit whole: one encoding of the list says so, and is sent.
    """
    limit = max_bytes or settings.BREVO_IMPORT_MAX_BYTES
    whole = json.dumps(contacts, ensure_ascii=False).encode()
    if len(whole) <= limit:
        yield contacts, whole
        return
    for chunk, _ in sized_chunks(contacts, limit):
        yield chunk, json.dumps(chunk, ensure_ascii=False).encode()


class BrevoClient(ApiClient):
    """A Brevo API client for one account (its key and its rate budgets)."""

    name = "brevo"

    def __init__(self, account: BrevoAccount, **kwargs: Any) -> None:
        # The base URL is read from settings on every request (see base_url).
        super().__init__("", **kwargs)
        self.account = account

    @property
    def base_url(self) -> str:
        return self._base_url or settings.BREVO_API_BASE_URL.rstrip("/")

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value

    def __repr__(self) -> str:
        return f"<BrevoClient account={self.account.pk}>"

    # Hooks of ApiClient ------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.account.api_key, "Accept": "application/json"}

    def budget_for(self, method: str, path: str, bucket: str | None) -> Iterable:
        """Both of the bucket's budgets: Brevo says to respect RPS and RPH at once.

        Brevo counts per account, so the key is the Brevo account.
        """
        name = bucket or bucket_for(path)
        per_second, per_hour = BUCKET_LIMITS[name]
        key = f"brevo:{self.account.pk}:{name}"
        budgets = []
        if per_second:
            budgets.append(Budget(f"{key}:s", rate=per_second, burst=int(per_second)))
        if per_hour:
            budgets.append(Budget(f"{key}:h", rate=per_hour / 3600, burst=per_hour))
        return budgets

    def retry_delay_for_429(self, response: requests.Response) -> float:
        """Brevo's ``x-sib-ratelimit-reset`` is the seconds left in the window.

        It is relative, not an epoch. Without it, ``Retry-After`` (seconds) and
        then our own backoff.
        """
        for header in ("x-sib-ratelimit-reset", "Retry-After"):
            value = response.headers.get(header, "").strip()
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
        return self.backoff(1)

    # Attributes --------------------------------------------------------------

    def list_attributes(self) -> dict[str, str]:
        data = self.get_json("contacts/attributes")
        return {
            a["name"].upper(): a.get("type") or a.get("category") or "text"
            for a in data.get("attributes") or []
            if a.get("name")
        }

    def ensure_attributes(self, wanted: dict[str, str], *, save: bool = True) -> bool:
        """Make sure each wanted attribute exists; create the missing ones.

        Reads the account's attributes once, creates what is missing as a
        ``normal`` attribute of the wanted type, and caches the result in
        ``BrevoAccount.known_attributes``: later runs spend no call at all.
        Brevo ignores import values of attributes the account lacks, so this
        runs before every import. Returns whether the cache changed; with
        ``save=False`` the caller stores it (a thread without a database).
        """
        wanted = {name.upper(): kind for name, kind in wanted.items()}
        wanted.pop("EMAIL", None)  # the identifier, not an attribute
        known = {k.upper(): v for k, v in (self.account.known_attributes or {}).items()}
        if all(name in known for name in wanted):
            return False
        known.update(self.list_attributes())
        for name, kind in wanted.items():
            if name in known:
                continue
            kind = kind if kind in ATTRIBUTE_TYPES else "text"
            try:
                self.request(
                    "POST",
                    f"contacts/attributes/normal/{quote(name, safe='')}",
                    json={"type": kind},
                )
            except ApiClientError:
                # Another worker may have created it between our read and our
                # write; Brevo's wording for that refusal is not documented, so
                # ask again instead of reading the message.
                if name not in self.list_attributes():
                    raise
            known[name] = kind
            logger.info(
                "brevo.attribute.created",
                extra={"account_id": self.account.pk, "attribute": name, "type": kind},
            )
        self.account.known_attributes = known
        if save:
            self.save_known_attributes()
        return True

    def save_known_attributes(self) -> None:
        self.account.save(update_fields=["known_attributes", "updated_at"])

    # Contacts ----------------------------------------------------------------

    def upsert_contact(self, email: str, attributes: dict, list_ids: list[int]) -> None:
        """Create the contact or update it (``updateEnabled``); add it to lists.

        201 means created, 204 updated. ``listIds`` only adds memberships.
        """
        body: dict[str, Any] = {"email": email, "updateEnabled": True}
        if attributes:
            body["attributes"] = attributes
        if list_ids:
            body["listIds"] = sorted(set(list_ids))
        self.request("POST", "contacts", json=body)

    def get_contact(self, email: str) -> dict | None:
        """The contact, or None when Brevo has none with that email (404)."""
        try:
            return self.get_json(f"contacts/{quote(email, safe='@')}")
        except ApiNotFound:
            return None

    def import_contacts(
        self,
        contacts: list[dict],
        list_ids: list[int],
        notify_url: str | None = None,
    ) -> list[int]:
        """Import ``[{"email", "attributes"}]`` onto ``list_ids``; return process ids.

        One import per body under ``BREVO_IMPORT_MAX_BYTES``. Existing contacts
        are updated (``updateExistingContacts``); empty values never erase
        stored ones (``emptyContactsAttributes`` false). Brevo answers 202 with
        a process id and works on it in the background: follow it with
        ``notify_url`` (called when the import ends) or ``get_process``.
        """
        if not list_ids:
            raise ValueError("An import needs at least one list id.")
        return [
            self.import_chunk(chunk, list_ids, notify_url, encoded=encoded)
            for chunk, encoded in encoded_chunks(contacts)
        ]

    def import_chunk(
        self,
        contacts: list[dict],
        list_ids: list[int],
        notify_url: str | None = None,
        *,
        encoded: bytes | None = None,
    ) -> int:
        """One import of rows already cut below the size ceiling; its process id.

        The body goes out as UTF-8 JSON, so its size is what ``sized_chunks``
        measured (``\\u`` escapes would make 李雷 twice as long). ``encoded``
        is ``contacts`` already encoded (``encoded_chunks``): it is sent as is.
        """
        if not list_ids:
            raise ValueError("An import needs at least one list id.")
        body: dict[str, Any] = {
            "listIds": sorted(set(list_ids)),
            "updateExistingContacts": True,
            "emptyContactsAttributes": False,
            "disableNotification": True,
        }
        if notify_url:
            body["notifyUrl"] = notify_url
        if encoded is None:
            encoded = json.dumps(contacts, ensure_ascii=False).encode()
        rest = json.dumps(body, ensure_ascii=False).encode()
        response = self.request(
            "POST",
            "contacts/import",
            data=b'{"jsonBody": ' + encoded + b", " + rest[1:],
            headers={"Content-Type": "application/json"},
        )
        process_id = int(response.json()["processId"])
        logger.info(
            "brevo.import.started",
            extra={
                "account_id": self.account.pk,
                "process_id": process_id,
                "contacts": len(contacts),
            },
        )
        return process_id

    def get_process(self, process_id: int) -> dict:
        """A background process: ``status`` queued, in_process, completed, failed…"""
        return self.get_json(f"processes/{int(process_id)}")

    def add_to_list(self, list_id: int, emails: list[str]) -> None:
        """Add existing contacts to a list, 150 a call (Brevo's cap)."""
        for start in range(0, len(emails), ADD_TO_LIST_MAX):
            chunk = emails[start : start + ADD_TO_LIST_MAX]
            self.request(
                "POST",
                f"contacts/lists/{int(list_id)}/contacts/add",
                json={"emails": chunk},
            )

    def update_batch(self, contacts: list[dict]) -> None:
        """Update many existing contacts (``POST /contacts/batch``).

        Each item is identified by ``email``. ``unlinkListIds`` is dropped: the
        portal never takes a contact off a list.
        """
        cleaned = [
            {k: v for k, v in c.items() if k != "unlinkListIds"} for c in contacts
        ]
        for start in range(0, len(cleaned), UPDATE_BATCH_MAX):
            chunk = cleaned[start : start + UPDATE_BATCH_MAX]
            self.request("POST", "contacts/batch", json={"contacts": chunk})

    # Events ------------------------------------------------------------------

    def send_event(self, event: dict) -> None:
        """One custom event (``POST /events``, 204), e.g. to start an automation."""
        self.request("POST", "events", json=event)

    def send_events(self, events: list[dict]) -> None:
        """Events through ``/events/batch``, 200 a call.

        Brevo answers 207 when only some were accepted; the refused ones are
        collected over every chunk and raised together as ``BrevoBatchError``.
        """
        failed: list[dict] = []
        for start in range(0, len(events), EVENTS_BATCH_MAX):
            chunk = events[start : start + EVENTS_BATCH_MAX]
            response = self.request("POST", "events/batch", json={"events": chunk})
            if response.status_code == 207:
                failed.extend(_refused_events(response, chunk, start))
        if failed:
            raise BrevoBatchError(
                f"Brevo refused {len(failed)} of {len(events)} events",
                failed=failed,
                status=207,
            )

    # Email -------------------------------------------------------------------

    def send_template_email(
        self, template_id: int, to: list[dict], params: dict, idempotency_key: str
    ) -> dict:
        """Send a transactional template; the key makes a repeat a no-op.

        Brevo reads the key from the JSON ``headers`` object and refuses a
        reuse within its 30-minute window with 400 ``duplicate_parameter``;
        that answer means the mail already went, so it is returned as
        ``{"duplicate": True}`` instead of raised.
        """
        body = {
            "templateId": int(template_id),
            "to": to,
            "params": params,
            "headers": {"idempotencyKey": idempotency_key},
        }
        if self.account.sender_email:
            body["sender"] = {"email": self.account.sender_email}
            if self.account.sender_name:
                body["sender"]["name"] = self.account.sender_name
        try:
            return self.request("POST", "smtp/email", json=body).json()
        except ApiClientError as err:
            if err.code == "duplicate_parameter":
                logger.info(
                    "brevo.email.duplicate",
                    extra={"account_id": self.account.pk, "template_id": template_id},
                )
                return {"duplicate": True}
            raise

    def create_and_send_campaign(
        self,
        *,
        name: str,
        template_id: int | None,
        subject: str,
        list_ids: list[int],
        params: dict | None = None,
        html_content: str | None = None,
    ) -> int:
        """Create an email campaign to ``list_ids`` and send it now; return its id."""
        if not self.account.sender_email:
            raise ValueError("The Brevo account has no sender email for campaigns.")
        if template_id is None and not html_content:
            raise ValueError("A campaign needs a template id or HTML content.")
        sender = {"email": self.account.sender_email}
        if self.account.sender_name:
            sender["name"] = self.account.sender_name
        body: dict[str, Any] = {
            "name": name,
            "sender": sender,
            "subject": subject,
            "recipients": {"listIds": sorted(set(list_ids))},
        }
        if template_id is not None:
            body["templateId"] = int(template_id)
        else:
            body["htmlContent"] = html_content
        if params:
            body["params"] = params
        campaign_id = int(
            self.request("POST", "emailCampaigns", json=body).json()["id"]
        )
        self.request("POST", f"emailCampaigns/{campaign_id}/sendNow")
        logger.info(
            "brevo.campaign.sent",
            extra={"account_id": self.account.pk, "campaign_id": campaign_id},
        )
        return campaign_id


def _refused_events(
    response: requests.Response, chunk: list[dict], offset: int
) -> list[dict]:
    """The events a 207 answer refused, with Brevo's message and their index.

    Brevo's documented partial answer lists ``errors: [{eventIndex: [i], message}]``
    (the exact wire shape is not confirmed); without it, the whole chunk is
    counted as refused rather than silently dropped.
    """
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    refused = []
    for error in errors:
        indexes = error.get("eventIndex")
        indexes = indexes if isinstance(indexes, list) else [indexes]
        for index in indexes:
            if isinstance(index, int) and 0 <= index < len(chunk):
                refused.append(
                    {
                        "index": offset + index,
                        "event": chunk[index],
                        "message": str(error.get("message", "")),
                    }
                )
    if not refused:
        refused = [
            {"index": offset + i, "event": e, "message": "refused"}
            for i, e in enumerate(chunk)
        ]
    return refused


__all__ = [
    "ApiError",
    "BrevoBatchError",
    "BrevoClient",
    "bucket_for",
    "encoded_chunks",
    "sized_chunks",
]
